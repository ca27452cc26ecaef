"""Make the golden source files under tests/importers/data/ with the real tools.

Run once by hand (not by the suite); the files it writes are checked in::

    .venv/bin/python tests/importers/make_golden.py [--torch-python /work/venvs/torch/bin/python]

- tensorboard/tbx/: tensorboardX SummaryWriter: two scalar tags, images, histograms, a text
  summary (unmapped), hparams (a sub-run with an hparams summary, unmapped);
- tensorboard/two_writers/: two tensorboardX writers one after the other in one directory;
- tensorboard/tf2/: TF2-style ``tensor`` summaries (scalars as float_val and as
  tensor_content, doubles, int64; an images tensor; a histograms tensor) built with
  tensorboard's own compat protos and written by its EventFileWriter;
- tensorboard/torch/: torch.utils.tensorboard SummaryWriter (when a Python with torch is
  given: torch must not be installed in the project's venv);
- tensorboard_damaged/: copies of tbx's event file: torn tail, flipped data CRC byte,
  flipped length CRC byte;
- mlruns/: MLflow's file store (``MLFLOW_ALLOW_FILE_STORE=true``: MLflow 3.17 refuses a
  file store without it): a finished run with params, tags, metrics at steps (one of them
  logged twice at a step), artifacts; a failed run; a killed run;
- mlruns_damaged/: a copy of mlruns/ whose first run's metric file ends in a torn line.

Timestamps are whatever the clock says when this runs; tests read them back with the
tools' own readers, never from literals.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def _png(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(3, 6, 5), dtype=np.uint8)  # CHW, 5 wide 6 high


def tbx(out: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(logdir=str(out / "tbx"), flush_secs=1)
    for step in range(40):
        w.add_scalar("train/loss", 1.0 / (step + 1), step)
        if step % 4 == 0:
            w.add_scalar("eval/acc", 0.5 + step / 100, step)
    for step in (0, 20):
        w.add_image("samples", _png(step), step)
    rng = np.random.default_rng(1)
    for step in (0, 10, 30):
        w.add_histogram("weights", rng.normal(size=200), step, bins=8)
    w.add_text("notes", "hello from tensorboardX", 3)
    w.add_hparams({"lr": 0.01, "layers": 3}, {"hparam/final": 0.9})
    w.close()


def two_writers(out: Path) -> None:
    from tensorboardX import SummaryWriter

    for part, steps in ((1, range(0, 10)), (2, range(10, 20))):
        w = SummaryWriter(logdir=str(out / "two_writers"), filename_suffix=f".part{part}")
        for step in steps:
            w.add_scalar("loss", float(step) * 0.5, step)
        w.close()
        time.sleep(1.1)  # the next file's name carries a later start second


def tf2(out: Path) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def scalar_meta() -> summary_pb2.SummaryMetadata:
        meta = summary_pb2.SummaryMetadata()
        meta.plugin_data.plugin_name = "scalars"
        meta.data_class = summary_pb2.DATA_CLASS_SCALAR
        return meta

    def plugin_meta(name: str) -> summary_pb2.SummaryMetadata:
        meta = summary_pb2.SummaryMetadata()
        meta.plugin_data.plugin_name = name
        return meta

    w = EventFileWriter(str(out / "tf2"))
    for step in range(25):
        values = [
            summary_pb2.Summary.Value(tag="loss", metadata=scalar_meta(), tensor=(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT,
                                       float_val=[2.0 / (step + 1)]))),
            summary_pb2.Summary.Value(tag="lr", metadata=scalar_meta(), tensor=(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT,
                                       tensor_content=struct.pack("<f", 0.1 * 0.9 ** step)))),
            summary_pb2.Summary.Value(tag="precise", metadata=scalar_meta(), tensor=(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE,
                                       double_val=[1.0 / 3.0 + step]))),
            summary_pb2.Summary.Value(tag="count", metadata=scalar_meta(), tensor=(
                tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, int64_val=[step * 7]))),
        ]
        if step % 10 == 0:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(_png(step).transpose(1, 2, 0)).save(buf, format="PNG")
            values.append(summary_pb2.Summary.Value(
                tag="picture", metadata=plugin_meta("images"), tensor=tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_STRING, string_val=[b"5", b"6", buf.getvalue()],
                    tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=3)]))))
            buckets = [[-1.0, 0.0, 3.0], [0.0, 1.0, 5.0], [1.0, 2.0, float(step)]]
            values.append(summary_pb2.Summary.Value(
                tag="activations", metadata=plugin_meta("histograms"),
                tensor=tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_DOUBLE, double_val=[x for b in buckets for x in b],
                    tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=3),
                                                       TensorShapeProto.Dim(size=3)]))))
        w.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                    summary=summary_pb2.Summary(value=values)))
    w.close()


TORCH_SCRIPT = r"""
import sys, numpy as np, torch
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter(log_dir=sys.argv[1])
for step in range(30):
    w.add_scalar("loss", 3.0 / (step + 1), step)
    w.add_scalar("grad_norm", float(step % 7), step)
w.add_image("img", np.random.default_rng(2).integers(0, 255, (3, 4, 4), dtype=np.uint8), 5)
w.add_histogram("bias", torch.linspace(-1, 1, 50), 5)
w.close()
"""


def torch_run(out: Path, python: str) -> None:
    subprocess.run([python, "-c", TORCH_SCRIPT, str(out / "torch")], check=True)


def damaged(src_dir: Path, out: Path) -> None:
    (event,) = [p for p in src_dir.iterdir() if "tfevents" in p.name]
    data = event.read_bytes()
    out.mkdir(parents=True)
    for name in ("torn", "bad_data_crc", "bad_length_crc"):
        (out / name).mkdir()
    torn = out / "torn" / event.name
    torn.write_bytes(data[:-7])  # inside the last record
    # The record layout: find the start of the 10th record and damage it.
    offsets = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        offsets.append(pos)
        pos += 12 + length + 4
    bad = bytearray(data)
    bad[offsets[10] + 12] ^= 0xFF  # first data byte of record 10
    (out / "bad_data_crc" / event.name).write_bytes(bytes(bad))
    bad = bytearray(data)
    bad[offsets[30] + 8] ^= 0x01  # the length CRC of record 30
    (out / "bad_length_crc" / event.name).write_bytes(bytes(bad))


def mlruns(out: Path) -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow

    mlflow.set_tracking_uri((out / "mlruns").resolve().as_uri())
    mlflow.set_experiment("golden")
    with mlflow.start_run(run_name="finished-run") as run:
        mlflow.log_params({"lr": 0.01, "optimizer": "adam", "layers": 4})
        mlflow.set_tags({"team": "vision", "stage": "dev"})
        for step in range(20):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            if step % 5 == 0:
                mlflow.log_metric("val_acc", 0.6 + step / 100, step=step)
        mlflow.log_metric("val_acc", 0.99, step=15)  # a second value at step 15
        mlflow.log_metric("no_step", 42.0)
        art = out / "_artifact"
        art.mkdir(exist_ok=True)
        (art / "notes.txt").write_text("artifact content\n")
        (art / "sub").mkdir(exist_ok=True)
        (art / "sub" / "data.csv").write_text("a,b\n1,2\n")
        mlflow.log_artifacts(str(art))
        shutil.rmtree(art)
        first = run.info.run_id
    with mlflow.start_run(run_name="failed-run"):
        mlflow.log_metric("loss", 5.0, step=0)
        mlflow.end_run(status="FAILED")
    with mlflow.start_run(run_name="killed-run"):
        mlflow.log_param("x", 1)
        mlflow.log_metric("loss", 7.0, step=3)
        mlflow.end_run(status="KILLED")
    dst = out / "mlruns_damaged"
    shutil.copytree(out / "mlruns", dst)
    (metric,) = dst.glob(f"*/{first}/metrics/loss")
    lines = metric.read_bytes()
    metric.write_bytes(lines + b"1700000000000 0.5")  # a torn last line: no step, no \n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--torch-python", default="/work/venvs/torch/bin/python")
    args = parser.parse_args()
    # only this script's folders: data/ also holds the W&B importer's golden files
    for mine in ("tensorboard", "tensorboard_damaged", "mlruns", "mlruns_damaged"):
        if (DATA / mine).exists():
            shutil.rmtree(DATA / mine)
    tb = DATA / "tensorboard"
    tb.mkdir(parents=True)
    tbx(tb)
    two_writers(tb)
    tf2(tb)
    if Path(args.torch_python).exists():
        torch_run(tb, args.torch_python)
    else:
        print(f"no {args.torch_python}: tensorboard/torch/ not made", file=sys.stderr)
    damaged(tb / "tbx", DATA / "tensorboard_damaged")
    mlruns(DATA)


if __name__ == "__main__":
    main()
