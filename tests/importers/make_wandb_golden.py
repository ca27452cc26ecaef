"""Make the W&B golden files under tests/importers/data/wandb*/ (run by hand, not by the
suite): real wandb in offline mode, in scratch venvs outside the project's venv.

    python -m venv /work/venvs/wandb031 && /work/venvs/wandb031/bin/pip install wandb==0.31.0 pillow
    python -m venv /work/venvs/wandbold && /work/venvs/wandbold/bin/pip install wandb==0.16.6 pillow
    .venv/bin/python tests/importers/make_wandb_golden.py /work/venvs/wandb031 /work/venvs/wandbold

For each venv and each scenario (``full``: every record kind we map; ``failed``: an
exception, exit code 1; ``crashed``: the process group SIGKILLed mid-run, no exit record)
it keeps the offline run directory without its ``logs/`` (debug logs are large and hold
nothing a run has), and writes ``expected.json`` beside it:

- ``logged``: what the script passed to wandb, step by step (the values to find);
- ``records``: every record of the ``.wandb`` file as W&B's own protobuf classes parse it
  (``MessageToDict``), read by wandb's own ``DataStore`` where the version still ships one
  (0.16) and by a plain framing loop otherwise (0.31 has no Python reader).

Damaged copies (``damaged/``) of the ``full`` run's file of the newest version: the tail
torn mid-record, and one byte flipped in a block that is not the first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).parent / "data"

CHILD = r'''
import json, math, os, sys, time
import wandb
from PIL import Image

scenario, out = sys.argv[1], sys.argv[2]
old = wandb.__version__.startswith("0.16")
if old:
    settings = wandb.Settings(_stats_sample_rate_seconds=1, _stats_samples_to_average=1,
                              disable_git=True, save_code=False, console="wrap")
else:
    settings = wandb.Settings(x_stats_sampling_interval=1.0, disable_git=True,
                              save_code=False, console="wrap")
run = wandb.init(project="golden", name=f"golden-{scenario}", mode="offline",
                 config={"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9},
                         "seed": 7},
                 tags=["golden", scenario], notes=f"notes of {scenario}", settings=settings)
logged = []
def log(row, step=None):
    if step is None:
        run.log(row)
    else:
        run.log(row, step=step)
    plain = {}
    for k, v in row.items():
        if isinstance(v, float) and math.isnan(v):
            plain[k] = "NaN"
        elif isinstance(v, float) and math.isinf(v):
            plain[k] = "Infinity" if v > 0 else "-Infinity"
        elif isinstance(v, (int, float, str, bool)) or v is None:
            plain[k] = v
        else:
            plain[k] = type(v).__name__
    logged.append({"step": step, "row": plain})

if scenario == "full":
    # One record longer than a 32 KiB block (FIRST, MIDDLE, LAST chunks).
    run.config.update({"batch": 32, "blob": "x" * 33000})
    print("hello stdout", flush=True)
    print("hello stderr", file=sys.stderr, flush=True)
    for i in range(6):
        log({"loss": 1.0 / (i + 1), "acc": i * 10, "phase": "warm" if i < 3 else "main",
             "flag": i % 2 == 0})
    log({"loss": float("nan"), "big": 2 ** 40})
    log({"loss": float("inf"), "neg": -3})
    img = Image.new("RGB", (4, 3), (200, 30, 40))
    log({"samples": wandb.Image(img, caption="red")})
    log({"preds": wandb.Table(columns=["id", "label", "score"],
                              data=[[1, "cat", 0.5], [2, "dog", 0.25]])})
    log({"loss": 0.125, "late": 1.5}, step=20)
    for i in range(21, 120):  # with the config above: more than two blocks
        log({"t": i * 0.5}, step=i)
    print("epoch done", flush=True)
    time.sleep(2.5)  # a few system-metric samples at the 1 s interval
    run.summary["best_loss"] = 0.125
    run.summary["acc"] = 99
    del run.summary["flag"]
    with open(out, "w") as f:
        json.dump({"logged": logged, "run_dir": run.dir}, f)
    run.finish()
elif scenario == "failed":
    for i in range(3):
        log({"loss": 2.0 - i})
    print("about to fail", flush=True)
    with open(out, "w") as f:
        json.dump({"logged": logged, "run_dir": run.dir}, f)
    raise RuntimeError("boom")
elif scenario == "crashed":
    # wandb-core (0.31) writes whole 32 KiB blocks: log past one of them, so the crash
    # leaves a complete block and loses the partial one (as a real crash does).
    for i in range(130):
        log({"loss": 3.0 - i / 100, "step_x": i})
    print("crashing soon", flush=True)
    with open(out, "w") as f:
        json.dump({"logged": logged, "run_dir": run.dir}, f)
    print("READY", flush=True)
    time.sleep(3600)
'''

# Reads every record back with wandb's own code: DataStore where it exists, else a plain
# loop over the documented framing; then W&B's protobuf classes.
READBACK = r'''
import json, struct, sys, zlib
from google.protobuf.json_format import MessageToDict
from wandb.proto import wandb_internal_pb2 as pb
path_ = sys.argv[1]
datas = []
reader_error = None
try:
    from wandb.sdk.internal import datastore
except ImportError:
    datastore = None
if datastore is not None:
    ds = datastore.DataStore()
    ds.open_for_scan(path_)
    while True:
        try:
            d = ds.scan_data()
        except AssertionError as exc:  # W&B's reader stops at a torn tail
            reader_error = repr(exc)
            break
        if d is None:
            break
        datas.append(d)
    reader = "wandb.sdk.internal.datastore"
else:
    buf = open(path_, "rb").read()
    assert buf[:4] == b":W&B", buf[:7]
    pos, pending = 7, b""
    while pos + 7 <= len(buf):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        crc, n, t = struct.unpack_from("<IHB", buf, pos)
        chunk = buf[pos + 7:pos + 7 + n]
        assert zlib.crc32(bytes([t]) + chunk) == crc, pos
        pos += 7 + n
        pending += chunk
        if t in (1, 4):
            datas.append(pending)
            pending = b""
    reader = "framing loop + wandb_internal_pb2"
import collections, hashlib
def short(v):
    if isinstance(v, str) and len(v) > 1000:
        return {"len": len(v), "sha256": hashlib.sha256(v.encode()).hexdigest()}
    return v
def item_value(it):
    d = MessageToDict(it, preserving_proto_field_name=True)
    d.pop("key", None); d.pop("nested_key", None)
    return {k: short(v) for k, v in d.items()}
def path(it):
    return "/".join([it.key] if it.key else list(it.nested_key))
def ts(t):
    return t.seconds + t.nanos / 1e9
kinds = collections.Counter()
out = {"history": [], "summary": {}, "config": {}, "stats": [], "output": [], "run": None,
       "exit": None}
for d in datas:
    r = pb.Record()
    r.ParseFromString(d)
    kind = r.WhichOneof("record_type")
    kinds[kind] += 1
    if kind == "history":
        out["history"].append({"step": r.history.step.num,
                               "items": {path(i): item_value(i) for i in r.history.item}})
    elif kind == "summary":
        for i in r.summary.update:
            out["summary"][path(i)] = item_value(i)
        for i in r.summary.remove:
            out["summary"].pop(path(i), None)
    elif kind == "config":
        for i in r.config.update:
            out["config"][path(i)] = item_value(i)
        for i in r.config.remove:
            out["config"].pop(path(i), None)
    elif kind == "stats":
        out["stats"].append({"timestamp": ts(r.stats.timestamp),
                             "items": {i.key: i.value_json for i in r.stats.item}})
    elif kind in ("output", "output_raw"):
        o = getattr(r, kind)
        out["output"].append({"kind": kind, "stream": o.output_type, "line": o.line,
                              "timestamp": ts(o.timestamp)})
    elif kind == "run":
        run = MessageToDict(r.run, preserving_proto_field_name=True)
        run["config"] = {path(i): item_value(i) for i in r.run.config.update}
        run["start_time_s"] = ts(r.run.start_time)
        run.pop("telemetry", None); run.pop("settings", None)
        out["run"] = run
    elif kind == "exit":
        out["exit"] = {"exit_code": r.exit.exit_code, "runtime": r.exit.runtime}
print(json.dumps({"reader": reader, "header": list(open(path_, "rb").read(7)),
                  "kinds": dict(kinds), "reader_error": reader_error, **out}))
'''


def _wandb_file(run_dir: Path) -> Path:
    return next(run_dir.glob("run-*.wandb"))


def make(venv: Path, tag: str, scenario: str, work: Path) -> Path:
    py = str(venv / "bin" / "python")
    child = work / "child.py"
    child.write_text(CHILD)
    out = work / f"{scenario}.json"
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(work / scenario),
               WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    (work / scenario).mkdir()
    proc = subprocess.Popen([py, str(child), scenario, str(out)], env=env, cwd=work,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    if scenario == "crashed":
        assert proc.stdout is not None
        for line in proc.stdout:
            if "READY" in line:
                break
        logged = json.loads(out.read_text())
        wfile = _wandb_file(Path(logged["run_dir"]).parent)
        last, same_since = -1, time.monotonic()
        while time.monotonic() - same_since < 3:  # the service writes asynchronously
            size = wfile.stat().st_size
            if size != last:
                last, same_since = size, time.monotonic()
            time.sleep(0.2)
        # SIGKILL the training process only (an OOM kill, say); W&B's service process
        # notices and stops on its own, with no exit record.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
    else:
        proc.communicate(timeout=300)
    logged = json.loads(out.read_text())
    run_dir = Path(logged["run_dir"]).parent
    dest = DATA / f"wandb{tag}" / scenario
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("logs", "tmp", "*.log.lock"))
    # requirements.txt lists the scratch venv; keep it (a real file W&B attaches), but short.
    rb = work / "readback.py"
    rb.write_text(READBACK)
    back = json.loads(subprocess.run([py, str(rb), str(_wandb_file(dest))], check=True,
                                     capture_output=True, text=True).stdout)
    expected = {"wandb_version": tag, "scenario": scenario, "process_exit": proc.returncode,
                "logged": logged["logged"], **back}
    (dest / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))
    return dest


def damage(full: Path) -> None:
    src = _wandb_file(full).read_bytes()
    out = full.parent / "damaged"
    out.mkdir(exist_ok=True)
    # Torn tail: cut in the middle of the last 200 bytes (inside the final records).
    (out / "torn-tail.wandb").write_bytes(src[:len(src) - 150])
    # Flipped byte in the second block (the file has more than one block: see make()).
    pos = 32768 + 1000
    if len(src) <= pos:
        pos = len(src) // 2
    flipped = bytearray(src)
    flipped[pos] ^= 0xFF
    (out / "flipped-byte.wandb").write_bytes(bytes(flipped))
    (out / "damage.json").write_text(json.dumps({"source": _wandb_file(full).name,
                                                 "flipped_offset": pos,
                                                 "torn_length": len(src) - 150}, indent=1))


def main() -> None:
    for venv_arg in sys.argv[1:]:
        venv = Path(venv_arg)
        version = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import wandb; print(wandb.__version__)"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        tag = "".join(version.split(".")[:2])  # 0.31.0 -> "031", 0.16.6 -> "016"
        with tempfile.TemporaryDirectory() as tmp:
            for scenario in ("full", "failed", "crashed"):
                sub = Path(tmp) / scenario
                sub.mkdir()
                print(f"wandb {version}: {scenario} -> {make(venv, tag, scenario, sub)}")
        damage(DATA / f"wandb{tag}" / "full")


if __name__ == "__main__":
    main()
