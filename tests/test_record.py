"""The one atomic writer: a file is complete or as it was, synced before it replaces the old one,
with the mode the umask gives; a full disk is one sentence that names the file and keeps the
previous one."""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import IO, Any

import pytest
import torch

from lrlab.errors import DiskFullError
from lrlab.record import append_text, copy_file, write_atomic, write_json, write_text, write_torch


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_a_write_replaces_the_file_with_a_complete_temporary_from_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")
    moves: list[tuple[Path, bytes]] = []
    real = os.replace

    def replace(source: str, destination: str) -> None:
        moves.append((Path(source), Path(source).read_bytes()))
        assert Path(destination) == target
        real(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    assert write_text(target, "new ✓") == target
    ((source, written),) = moves
    assert source.parent == tmp_path and source.name.startswith(".a.txt.")
    assert written == "new ✓".encode() and target.read_text(encoding="utf-8") == "new ✓"
    assert names(tmp_path) == ["a.txt"]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="names the synced file by /proc/self/fd")
def test_the_temporary_is_synced_before_it_replaces_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source: str, destination: str) -> None:
        events.append(("replace", str(source)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_json(tmp_path / "b.json", {"x": 1})
    (synced, moved) = events
    assert (synced[0], moved[0]) == ("fsync", "replace") and synced[1] == moved[1]
    assert Path(moved[1]).name.startswith(".b.json.")


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "c.bin"
    target.write_bytes(b"old")

    def half(file: IO[bytes]) -> None:
        file.write(b"half of it")
        raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError, match="the writer broke"):
        write_atomic(target, half)
    assert target.read_bytes() == b"old" and names(tmp_path) == ["c.bin"]


def test_strict_json_refuses_nan_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON"):
        write_json(tmp_path / "d.json", {"x": float("nan")}, allow_nan=False)
    assert names(tmp_path) == []
    write_json(tmp_path / "d.json", {"x": float("nan")})  # the default keeps nan (a diverged run)
    assert (tmp_path / "d.json").read_text(encoding="utf-8") == '{\n  "x": NaN\n}\n'


def test_files_follow_the_umask(tmp_path: Path, umask_022: None) -> None:
    write_text(tmp_path / "open.txt", "x")
    os.umask(0o077)
    write_text(tmp_path / "private.txt", "x")
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes == {"open.txt": 0o644, "private.txt": 0o600}


def test_missing_folders_are_made(tmp_path: Path) -> None:
    assert write_text(tmp_path / "a" / "b" / "c.txt", "x").read_text(encoding="utf-8") == "x"


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails with ``code`` as a full disk does."""

    def __init__(self, file: Any, room: int, code: int = errno.ENOSPC) -> None:
        self.file, self.room, self.code = file, room, code

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        taken = bytes(data)[: self.room]
        self.file.write(taken)
        self.room -= len(taken)
        if self.room <= 0:
            raise OSError(self.code, os.strerror(self.code))
        return len(taken)

    def fileno(self) -> int:
        return int(self.file.fileno())

    def close(self) -> None:
        self.file.close()
        super().close()


def fill_disk(monkeypatch: pytest.MonkeyPatch, room: int, code: int = errno.ENOSPC) -> None:
    real = os.fdopen

    def fdopen(handle: int, *args: Any, **kwargs: Any) -> Any:
        return FullDisk(real(handle, *args, **kwargs), room, code)

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_says_so_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = tmp_path / "e.txt"
    target.write_text("previous", encoding="utf-8")
    fill_disk(monkeypatch, room=3, code=code)
    with pytest.raises(DiskFullError) as caught:
        write_text(target, "a longer text than the disk holds")
    message = str(caught.value)
    assert message == (
        f"the disk is full: writing {target} failed and the previous one is kept; free some space "
        "and run the same command again."
    )
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert target.read_text(encoding="utf-8") == "previous" and names(tmp_path) == ["e.txt"]


def test_a_full_disk_in_the_middle_of_torch_save_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_disk(monkeypatch, room=200)  # torch reports the failed write as a RuntimeError
    with pytest.raises(DiskFullError, match="there is no earlier one; free some space and resume"):
        write_torch(tmp_path / "f.pt", {"w": torch.zeros(1000)}, retry="resume")
    assert names(tmp_path) == []


def test_other_errors_of_the_disk_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_disk(monkeypatch, room=1, code=errno.EIO)
    with pytest.raises(OSError) as caught:
        write_text(tmp_path / "g.txt", "text")
    assert not isinstance(caught.value, DiskFullError) and caught.value.errno == errno.EIO
    assert names(tmp_path) == []


def test_torch_payloads_and_copies_load_back(tmp_path: Path) -> None:
    write_torch(tmp_path / "h.pt", {"w": torch.arange(3.0)})
    copy_file(tmp_path / "h.pt", tmp_path / "i.pt")
    loaded = torch.load(tmp_path / "i.pt", weights_only=True)
    assert torch.equal(loaded["w"], torch.arange(3.0))


def test_append_text_adds_rows_and_makes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    append_text(path, "a\n")
    append_text(path, "1\n")
    assert path.read_text(encoding="utf-8") == "a\n1\n"
