"""Downloads over a loopback HTTP server: checksums, mirrors, atomic writes, offline messages;
and tar extraction that refuses paths outside its folder."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from lrlab.data import download
from lrlab.data.download import Remote, Source, download_file, ensure_files, extract_tar, md5sum
from lrlab.errors import LrlabError
from tests.data.helpers import FileServer, closed_port_url

PAYLOAD = bytes(range(256)) * 40
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_md5sum(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(PAYLOAD)
    assert md5sum(tmp_path / "f") == PAYLOAD_MD5


def test_official_checksums() -> None:
    # Fashion-MNIST and the MNIST test files: /work/shared/datasets/README.md; MNIST train files and
    # CIFAR-10: the values published with the datasets (torchvision, TensorFlow and others agree).
    mnist = {r.filename: r.md5 for r in download.MNIST.files}
    assert mnist["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist["train-labels-idx1-ubyte.gz"] == "d53e105ee54ea40749a09fcbcd1e9432"
    assert mnist["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert mnist["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    fashion = {r.filename: r.md5 for r in download.FASHION_MNIST.files}
    assert fashion["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert fashion["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert download.CIFAR10.files == (Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),)
    for source in (download.MNIST, download.FASHION_MNIST, download.CIFAR10):
        assert all(m.endswith("/") for m in source.mirrors)


class TestDownloadFile:
    def test_good_checksum(self, file_server: FileServer, tmp_path: Path) -> None:
        (file_server.root / "data.bin").write_bytes(PAYLOAD)
        out = tmp_path / "out"
        path = download_file([file_server.url("data.bin")], out / "data.bin", PAYLOAD_MD5)
        assert path.read_bytes() == PAYLOAD
        assert leftovers(out) == []

    def test_bad_checksum_leaves_nothing(self, file_server: FileServer, tmp_path: Path) -> None:
        (file_server.root / "data.bin").write_bytes(PAYLOAD)
        with pytest.raises(LrlabError, match="does not match"):
            download_file([file_server.url("data.bin")], tmp_path / "data.bin", "0" * 32)
        assert list(tmp_path.iterdir()) == [file_server.root]

    def test_failed_download_keeps_the_older_file(self, file_server: FileServer, tmp_path: Path) -> None:
        (file_server.root / "data.bin").write_bytes(b"corrupted")
        (tmp_path / "data.bin").write_bytes(b"older")
        with pytest.raises(LrlabError):
            download_file([file_server.url("data.bin")], tmp_path / "data.bin", PAYLOAD_MD5)
        assert (tmp_path / "data.bin").read_bytes() == b"older"
        assert leftovers(tmp_path) == []

    def test_404_then_a_working_mirror(self, file_server: FileServer, tmp_path: Path) -> None:
        (file_server.root / "data.bin").write_bytes(PAYLOAD)
        urls = [file_server.url("missing/data.bin"), file_server.url("data.bin")]
        assert download_file(urls, tmp_path / "data.bin", PAYLOAD_MD5).read_bytes() == PAYLOAD

    def test_every_mirror_failing_lists_each_reason(self, file_server: FileServer, tmp_path: Path) -> None:
        urls = [file_server.url("missing/data.bin"), closed_port_url() + "data.bin", "file:///etc/passwd"]
        with pytest.raises(LrlabError) as caught:
            download_file(urls, tmp_path / "data.bin", PAYLOAD_MD5)
        message = str(caught.value)
        assert "HTTP 404" in message and "refused" in message.lower() and "unsupported URL scheme" in message
        assert not (tmp_path / "data.bin").exists()


def source_for(server: FileServer, files: dict[str, bytes], mirrors: tuple[str, ...] = ()) -> Source:
    for name, content in files.items():
        (server.root / name).write_bytes(content)
    remotes = tuple(Remote(name, hashlib.md5(content).hexdigest()) for name, content in files.items())
    return Source("toy", mirrors or (server.url(),), remotes, "https://example.org/toy")


class TestEnsureFiles:
    FILES: ClassVar[dict[str, bytes]] = {"a.gz": b"first file", "b.gz": b"second file"}

    def test_downloads_missing_files(self, file_server: FileServer, tmp_path: Path) -> None:
        source = source_for(file_server, self.FILES, mirrors=(file_server.url("nowhere/"), file_server.url()))
        paths = ensure_files(source, tmp_path / "toy")
        assert {name: p.read_bytes() for name, p in paths.items()} == self.FILES

    def test_present_files_need_no_network(self, file_server: FileServer, tmp_path: Path) -> None:
        source = replace(source_for(file_server, self.FILES), mirrors=(closed_port_url(),))
        for name, content in self.FILES.items():
            (tmp_path / name).write_bytes(content)
        assert set(ensure_files(source, tmp_path)) == set(self.FILES)

    def test_damaged_file_is_replaced(self, file_server: FileServer, tmp_path: Path) -> None:
        source = source_for(file_server, self.FILES)
        (tmp_path / "a.gz").write_bytes(b"damaged")
        assert ensure_files(source, tmp_path)["a.gz"].read_bytes() == b"first file"

    def test_damaged_file_without_download(self, file_server: FileServer, tmp_path: Path) -> None:
        source = source_for(file_server, self.FILES)
        (tmp_path / "a.gz").write_bytes(b"damaged")
        with pytest.raises(LrlabError, match=r"has md5 [0-9a-f]{32}, expected"):
            ensure_files(source, tmp_path, download=False)

    def test_missing_without_download_says_where(self, file_server: FileServer, tmp_path: Path) -> None:
        source = source_for(file_server, self.FILES)
        with pytest.raises(LrlabError) as caught:
            ensure_files(source, tmp_path / "toy", download=False)
        message = str(caught.value)
        assert f"Put these files in '{tmp_path / 'toy'}': a.gz, b.gz" in message
        assert "download=True" in message

    def test_offline_message_names_files_and_folder(self, file_server: FileServer, tmp_path: Path) -> None:
        source = replace(source_for(file_server, self.FILES), mirrors=(closed_port_url(),))
        with pytest.raises(LrlabError) as caught:
            ensure_files(source, tmp_path / "toy", timeout=5)
        message = str(caught.value)
        assert "could not download 'a.gz'" in message
        assert (
            f"Put these files in '{tmp_path / 'toy'}': a.gz, b.gz (from https://example.org/toy)" in message
        )
        assert leftovers(tmp_path / "toy") == []


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            info.size = len(content) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return path


def file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


class TestExtractTar:
    def test_extracts_files_and_folders(self, tmp_path: Path) -> None:
        folder = tarfile.TarInfo("set")
        folder.type = tarfile.DIRTYPE
        archive = make_tar(tmp_path / "a.tar.gz", [(folder, b""), (file_info("set/one"), b"1")])
        created = extract_tar(archive, tmp_path / "out")
        assert created == [(tmp_path / "out" / "set").resolve()]
        assert (tmp_path / "out" / "set" / "one").read_bytes() == b"1"
        assert leftovers(tmp_path / "out") == []

    def test_replaces_an_incomplete_earlier_extraction(self, tmp_path: Path) -> None:
        (tmp_path / "out" / "set").mkdir(parents=True)
        (tmp_path / "out" / "set" / "stale").write_bytes(b"old")
        extract_tar(make_tar(tmp_path / "a.tar.gz", [(file_info("set/one"), b"1")]), tmp_path / "out")
        assert sorted(p.name for p in (tmp_path / "out" / "set").iterdir()) == ["one"]

    @pytest.mark.parametrize("name", ["../evil", "set/../../evil", "/tmp/evil-absolute"])
    def test_refuses_paths_outside_the_folder(self, tmp_path: Path, name: str) -> None:
        archive = make_tar(tmp_path / "a.tar.gz", [(file_info("set/ok"), b"ok"), (file_info(name), b"x")])
        with pytest.raises(LrlabError, match="unsafe path"):
            extract_tar(archive, tmp_path / "out")
        assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-absolute").exists()
        assert list((tmp_path / "out").iterdir()) == []

    def test_refuses_links(self, tmp_path: Path) -> None:
        link = tarfile.TarInfo("set/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        with pytest.raises(LrlabError, match="link"):
            extract_tar(make_tar(tmp_path / "a.tar.gz", [(link, b"")]), tmp_path / "out")

    def test_corrupted_archive(self, tmp_path: Path) -> None:
        archive = make_tar(tmp_path / "a.tar.gz", [(file_info("set/one"), b"1" * 5000)])
        archive.write_bytes(archive.read_bytes()[:40])
        with pytest.raises(LrlabError, match="cannot extract"):
            extract_tar(archive, tmp_path / "out")
