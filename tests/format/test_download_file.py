"""``open_run(...).download_file``: a file name from the records is data, never a path, and
the target appears only complete and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

import flightlog


def _run_with(tmp_path: Path, files: dict[str, bytes]) -> flightlog.LocalRun:
    run = flightlog.init(project="p", id="files", dir=tmp_path / "runs")
    for name, content in files.items():
        source = tmp_path / "source"
        source.write_bytes(content)
        run.upload_file(name, source)
    run.finish()
    return flightlog.open_run(run.dir)


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.mark.parametrize("name", ["..", ".", "a/..", "dir/", "x\x00y"])
def test_a_name_that_names_no_file_is_refused_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    run = _run_with(tmp_path, {name: b"payload"})
    target = tmp_path / "target" / "inner"
    target.mkdir(parents=True)
    monkeypatch.chdir(target)
    before = _tree(tmp_path)
    with pytest.raises(flightlog.UnsafeFileName, match="pass output_file_path"):
        run.download_file(name, target)  # a directory: the name would pick the file
    with pytest.raises(flightlog.UnsafeFileName):
        run.download_file(name)  # the current directory
    assert _tree(tmp_path) == before
    # Told where it goes, the name is just a key.
    assert run.download_file(name, target / "out.bin").read_bytes() == b"payload"


def test_a_path_like_name_writes_only_its_last_component(tmp_path: Path) -> None:
    run = _run_with(tmp_path, {"../../escape.txt": b"x"})
    target = tmp_path / "target"
    target.mkdir()
    assert run.download_file("../../escape.txt", target) == target / "escape.txt"
    assert _tree(tmp_path / "target") == ["escape.txt"]
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_failed_download_leaves_no_partial_file(tmp_path: Path) -> None:
    run = _run_with(tmp_path, {"model.bin": b"weights" * 1000})
    sha = run.state.files["model.bin"].sha256
    blob = run.dir / "files" / "sha256" / sha[:2] / sha[2:]
    blob.write_bytes(b"x" + blob.read_bytes()[1:])  # damaged, same size
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(flightlog.FormatError, match="SHA-256"):
        run.download_file("model.bin", target)
    blob.write_bytes(blob.read_bytes()[:100])  # truncated
    with pytest.raises(flightlog.FormatError, match="100 bytes arrived, not its 7000"):
        run.download_file("model.bin", target / "model.bin")
    assert _tree(target) == []
