"""Across an air gap, for real: a writer process keeps logging while bundles travel to a
real server process and receipts travel back, over several rounds, with a lost bundle, a
bundle imported twice, two imported out of order, a truncated one and one with a flipped
byte; prune in the middle (live run) and at the end."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bundle_helpers import (
    assert_history_is_logged,
    bundle,
    cli,
    empty_dirs,
    held,
    local_records,
    receipt_of,
    served_rows,
)
from flightlog.format.segment import SegmentTail, list_segments
from syncd_helpers import Proc, Server

from flightlog.bundles.verify import open_bundle


def _end(path: Path) -> int:
    """One past the last record a bundle holds."""
    return max(r.last_seq for r in open_bundle(path).manifest.runs) + 1


def _segment_ends(run_dir: Path) -> dict[int, int]:
    """segment index -> one past its last complete record."""
    return {i: max([f.last_seq + 1 for f in SegmentTail(p).poll()] + [0])
            for i, p in list_segments(run_dir)}


def _files(run_dir: Path) -> set[str]:
    return {p.parent.name + p.name for p in (run_dir / "files").rglob("*") if p.is_file()}


def test_sneakernet_rounds(tmp_path: Path, env: dict[str, str],
                           writer: Callable[..., Proc],
                           start_server: Callable[[Path], Server]) -> None:
    root, disk, back, data = (tmp_path / n for n in ("root", "disk", "back", "data"))
    server = start_server(data)
    w = writer(root, "p", "live", 4096)
    run_dir = root / "p" / "live"
    steps = 0
    logged: dict[int, tuple[int, int, dict[str, Any]]] = {}

    def log(k: int) -> None:
        nonlocal steps
        steps += k
        w.send(f"log {k}")
        w.wait_line(f"logged {steps}", timeout=60)

    def imp(*bundles: Path) -> Any:
        return cli(env, "import", *bundles, "--server", server.url, "-o", back)

    # Round 1: a bundle arrives.
    log(300)
    b1 = bundle(env, root, disk)
    result = imp(b1)
    assert result.returncode == 0, result.stdout + result.stderr
    mark1 = held(data, "p", "live")
    assert mark1 == _end(b1) > 0

    # Round 2: that bundle is lost on the way.
    log(300)
    b2 = bundle(env, root, disk)
    assert open_bundle(b2).manifest.runs[0].first_seq == mark1  # incremental
    b2.unlink()

    # Round 3: the next one cannot be committed past the hole: reported, nothing changed.
    log(300)
    b3 = bundle(env, root, disk)
    result = imp(b3)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"missing {mark1}.." in result.stdout
    assert held(data, "p", "live") == mark1
    receipt3 = receipt_of(result)

    # Round 4: the receipt comes back; bundling from it repairs the loss. Imported twice.
    log(300)
    b4 = bundle(env, root, disk, "--since-receipt", receipt3)
    assert open_bundle(b4).manifest.runs[0].first_seq == mark1
    result = imp(b4)
    assert result.returncode == 0, result.stdout + result.stderr
    mark4 = held(data, "p", "live")
    assert mark4 == _end(b4)
    again = imp(b4)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(+0 new" in again.stdout and held(data, "p", "live") == mark4
    receipt4 = receipt_of(again)

    # Prune while the writer lives: only whole segments below the mark, never the last.
    ends = _segment_ends(run_dir)
    expected = []
    for index in sorted(ends)[:-1]:
        if ends[index] > mark4:
            break
        expected.append(index)
    assert expected, ends  # small segments: some are whole below the mark
    logged.update({r[0]: r for r in local_records(run_dir)})
    result = cli(env, "prune", root, "--acked-by", receipt4)
    assert result.returncode == 0, result.stdout + result.stderr
    left = [i for i, _ in list_segments(run_dir)]
    assert left == [i for i in sorted(ends) if i not in expected]
    status = cli(env, "status", root, "--receipts", back)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "p/live" in status.stdout and f" {mark4} " in status.stdout

    # Round 5: two bundles imported in the wrong order: the later first (a gap: it is
    # held), then both, as `import /media/usb/*.flbundle` names them: the earlier goes in,
    # the later after it, and its held copy (the same bundle) is released.
    log(300)
    b5 = bundle(env, root, disk)
    log(300)
    b6 = bundle(env, root, disk)
    result = imp(b6)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "held " in result.stdout, result.stdout
    assert held(data, "p", "live") == mark4
    assert len(list((back / "held").glob("*.flbundle"))) == 1
    result = imp(b5, b6)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "released " in result.stdout, result.stdout
    assert held(data, "p", "live") == _end(b6)
    assert not list((back / "held").glob("*.flbundle"))

    # Round 6: a truncated copy and a copy with one flipped byte are refused, naming the
    # member and the offset; the server's copy is untouched; the intact bundle then goes in.
    log(300)
    b7 = bundle(env, root, disk)
    mark6 = held(data, "p", "live")
    truncated = tmp_path / "truncated.flbundle"
    truncated.write_bytes(b7.read_bytes()[: b7.stat().st_size // 2])
    result = imp(truncated)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REFUSED" in result.stdout and "offset" in result.stdout
    assert "manifest.json" in result.stdout or "truncated" in result.stdout
    opened = open_bundle(b7)
    part = opened.manifest.runs[0].parts[0]
    entry = opened.entry(part.member)
    flipped = tmp_path / "flipped.flbundle"
    raw = bytearray(b7.read_bytes())
    at = entry.data_offset + entry.size // 2
    raw[at] ^= 0x40
    flipped.write_bytes(bytes(raw))
    for result in (imp(flipped), cli(env, "verify", flipped)):
        assert result.returncode == 1, result.stdout + result.stderr
        assert part.member in result.stdout
        offset = int(result.stdout.split("offset ")[1].split(":")[0].split(",")[0])
        assert entry.data_offset <= offset <= at, (offset, result.stdout)
    assert held(data, "p", "live") == mark6
    result = imp(b7)
    assert result.returncode == 0, result.stdout + result.stderr

    # The end: the writer finishes, the last bundle goes over, history is what was logged.
    w.send("finish")
    w.wait_line("finished", timeout=60)
    b8 = bundle(env, root, disk)
    result = imp(b8)
    assert result.returncode == 0, result.stdout + result.stderr
    final = receipt_of(result)
    logged.update({r[0]: r for r in local_records(run_dir)})
    assert_history_is_logged(data, "p", "live", steps, list(logged.values()))
    assert served_rows(server.url, "p/live") == steps

    # Prune with the last receipt: every segment but the last; files only the deleted
    # segments named; what the kept segment names stays.
    kept_index = max(i for i, _ in list_segments(run_dir))
    (kept_path,) = [p for i, p in list_segments(run_dir) if i == kept_index]
    result = cli(env, "prune", root, "--acked-by", final)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [i for i, _ in list_segments(run_dir)] == [kept_index]
    assert kept_path.exists()
    from flightlog.format.reader import decode_frame
    from flightlog.format.records import attached_blobs

    named = {sha for f in SegmentTail(kept_path).poll() for r in decode_frame(f)
             for sha in attached_blobs(r.body)}
    assert _files(run_dir) == named
    # The store's directories emptied by it (files/sha256/xx/, and those the prune while
    # the writer lived left) are gone; those with a kept file stay.
    assert not empty_dirs(run_dir / "files"), empty_dirs(run_dir / "files")
    again = cli(env, "bundle", root, "-o", disk, "--dest", "site")
    assert again.returncode == 0 and "nothing to bundle" in again.stdout


def test_diode_repeat_survives_lost_bundles(tmp_path: Path, env: dict[str, str],
                                            writer: Callable[..., Proc]) -> None:
    """No return path: with --repeat 2 every bundle also holds what the previous two held
    new, so losing any two bundles in a row loses nothing, and each bundle still starts
    where the bundle three back ended (it does not grow with the run); nothing is pruned
    without a receipt."""
    root, disk, back, data = (tmp_path / n for n in ("root", "disk", "back", "data"))
    w = writer(root, "p", "diode", 4096)
    steps = 0
    made: list[Path] = []
    for _ in range(7):
        steps += 200
        w.send("log 200")
        w.wait_line(f"logged {steps}", timeout=60)
        made.append(bundle(env, root, disk, "--repeat", "2"))
    w.send("finish")
    w.wait_line("finished", timeout=60)
    made.append(bundle(env, root, disk, "--repeat", "2"))
    starts = [open_bundle(b).manifest.runs[0].first_seq for b in made]
    assert starts[:3] == [0, 0, 0]
    for n in range(3, len(made)):  # the new records of bundles n-2 and n-1, then its own
        assert starts[n] == _end(made[n - 3]) > 0, (n, starts)
    arrived = [made[0], made[3], made[6], made[7]]  # 1-2 and 4-5 lost: two in a row
    # One at a time, the last first: held, then brought in by the imports after it.
    for b in reversed(arrived):
        result = cli(env, "import", b, "--data", data, "-o", back)
        assert result.returncode in (0, 3), result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list((back / "held").glob("*.flbundle"))
    logged = local_records(root / "p" / "diode")
    assert_history_is_logged(data, "p", "diode", steps, logged)
    result = cli(env, "prune", root)
    assert result.returncode == 2  # --acked-by is required
    assert len(list_segments(root / "p" / "diode")) > 1
    shutil.rmtree(back)
