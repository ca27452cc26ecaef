"""Azure ML's object model on flightlog: code written for ``azureml.core`` runs with only
its import line changed::

    from flightlog.azureml import Workspace, Experiment, Run   # was: from azureml.core

    ws = Workspace.from_config()              # flightlog.json, searched up from the cwd
    experiment = Experiment(workspace=ws, name="diabetes-experiment")
    run = experiment.start_logging()          # a flightlog run: written locally, offline
    run.log("rmse", 57.2); run.upload_file(name="model.pkl", path_or_stream="model.pkl")
    run.complete()
    for run in experiment.get_runs():         # newest first: local root, or the server
        run.get_metrics(), run.get_details()["runId"]
    best = Run(experiment=experiment, run_id="...")
    best.download_file(name="model.pkl")      # into the current directory
    print(best.get_portal_url())              # the server's page, or an offline report

The mapping: a workspace is a root of run directories (and optionally the server they
are synced to), an experiment a project, a run a run directory. Nothing here imports
httpx until a workspace's server is asked something.
"""

from __future__ import annotations

from ._details import CANCELED_EXIT_CODE
from .experiment import Experiment
from .run import RUN_DIR_ENV, LoggingRun, Run
from .workspace import CONFIG_NAME, Workspace, find_config

__all__ = ["CANCELED_EXIT_CODE", "CONFIG_NAME", "RUN_DIR_ENV", "Experiment", "LoggingRun",
           "Run", "Workspace", "find_config"]
