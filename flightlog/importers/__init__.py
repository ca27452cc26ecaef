"""Importers: runs of other trackers made into ordinary flightlog run directories.

- :mod:`.tensorboard` — TensorBoard event files (``flightlog import tensorboard``);
- :mod:`.mlflow` — MLflow file stores and tracking servers (``flightlog import mlflow``);
- :mod:`.wandb` — W&B offline runs (``flightlog import wandb``).

Each reads its tool's files with flightlog's own code (:mod:`._protowire` for protobuf,
:mod:`.tfrecord` for TFRecord framing) and hands a neutral :class:`._target.SourceRun` to
:func:`._target.write_run`, which writes the run through the public writer with a run id
derived from the source, so importing again adds only what is new. Nothing here is
imported by ``import flightlog``.
"""
