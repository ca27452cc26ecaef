"""A training script for the bundle tests (not collected by pytest).

``python writer.py ROOT PROJECT RUN_ID SEGMENT_BYTES``: starts (or resumes) the run, prints
``ready TOTAL``, then obeys stdin lines: ``log K`` logs K more steps (step ``i`` logs
``{"i": i, "x": i / 2}``; every 50th step also attaches a small file of its own content),
flushes and prints ``logged TOTAL``; ``big M`` attaches one file of M MiB of random bytes
(at the current step), flushes and prints ``attached TOTAL``; ``finish`` finishes and prints
``finished``.
"""

from __future__ import annotations

import os
import sys
import tempfile

import flightlog


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def main(root: str, project: str, run_id: str, segment_bytes: str) -> None:
    run = flightlog.init(project=project, id=run_id, dir=root, resume=True,
                         flush_interval=0.02, segment_bytes=int(segment_bytes))
    total = run.step
    scratch = tempfile.mkdtemp()
    say("ready", total)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["log"]:
            for _ in range(int(words[1])):
                run.log({"i": total, "x": total / 2})
                if total % 50 == 0:
                    path = os.path.join(scratch, f"f{total}.txt")
                    with open(path, "w") as f:
                        f.write(f"attached at step {total}\n" * 40)
                    run.upload_file(f"files/f{total}.txt", path)
                total += 1
            run.flush()
            say("logged", total)
        elif words[:1] == ["big"]:
            path = os.path.join(scratch, f"big{total}.bin")
            with open(path, "wb") as f:
                for _ in range(int(words[1])):
                    f.write(os.urandom(1 << 20))
            run.upload_file(f"files/big{total}.bin", path)
            os.unlink(path)
            run.flush()
            say("attached", total)
        elif words == ["finish"]:
            run.finish()
            say("finished")
            return
        else:
            break
    os._exit(3)


if __name__ == "__main__":
    main(*sys.argv[1:])
