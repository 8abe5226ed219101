"""Checksum-verified, atomic downloads of the official dataset files, and safe tar extraction.

A file is written to a temporary name in its final folder and moved into place with
``os.replace`` only after its md5 matches, so an interrupted or corrupted download never leaves
a file that looks complete. Mirrors are tried in order; when all fail (offline machines), the
error says which files to put where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from lrlab.errors import LrlabError

CHUNK = 2**20


@dataclass(frozen=True)
class Remote:
    """One official file and its md5."""

    filename: str
    md5: str


@dataclass(frozen=True)
class Source:
    """A dataset's official files, the mirrors that serve them, and its home page."""

    name: str
    mirrors: tuple[str, ...]
    files: tuple[Remote, ...]
    homepage: str


MNIST = Source(
    "mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    files=(
        Remote("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        Remote("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        Remote("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
)
FASHION_MNIST = Source(
    "fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    files=(
        Remote("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        Remote("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        Remote("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        Remote("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)
CIFAR10 = Source(
    "cifar10",
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    files=(Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)


def md5sum(path: str | Path) -> str:
    """The md5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, destination: Path, md5: str, timeout: float) -> None:
    """Download one URL to ``destination`` atomically; raise OSError on any failure."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OSError(f"unsupported URL scheme in {url!r}")
    handle, temporary = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise OSError(f"md5 {digest.hexdigest()} does not match the expected {md5}")
        os.replace(temporary, destination)
    except HTTPException as error:
        raise OSError(f"{type(error).__name__}: {error}") from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _describe(error: OSError) -> str:
    if isinstance(error, HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, URLError):
        return str(error.reason)
    return str(error)


def download_file(urls: Sequence[str], destination: str | Path, md5: str, *, timeout: float = 30.0) -> Path:
    """Fetch a file from the first URL that serves it with the right md5.

    Raises:
        LrlabError: listing every URL tried and why it failed; nothing is left at ``destination``
            (an older file already there is kept unless a verified one replaces it).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _fetch(url, destination, md5, timeout)
            return destination
        except OSError as error:
            failures.append(f"{url}: {_describe(error)}")
    raise LrlabError(f"could not download '{destination.name}'; tried {'; '.join(failures) or 'no URL'}.")


def _put_files_hint(source: Source, directory: Path) -> str:
    names = ", ".join(remote.filename for remote in source.files)
    return f"Put these files in '{directory}': {names} (from {source.homepage})"


def ensure_files(
    source: Source, directory: str | Path, *, download: bool = True, timeout: float = 30.0
) -> dict[str, Path]:
    """Make sure every file of ``source`` is in ``directory`` with its official md5.

    Returns:
        The path of each file by file name.

    Raises:
        LrlabError: a file is missing or damaged and ``download`` is False, or no mirror served
            it; the message names the files and the folder to put them in.
    """
    directory = Path(directory).expanduser()
    paths = {}
    for remote in source.files:
        path = directory / remote.filename
        paths[remote.filename] = path
        found = md5sum(path) if path.is_file() else None
        if found == remote.md5:
            continue
        problem = f"'{path}' has md5 {found}, expected {remote.md5}" if found else ""
        if not download:
            problem = problem or f"'{remote.filename}' is missing from '{directory}'"
            raise LrlabError(
                f"{source.name}: {problem}. {_put_files_hint(source, directory)}, or pass download=True."
            )
        urls = [mirror + remote.filename for mirror in source.mirrors]
        try:
            download_file(urls, path, remote.md5, timeout=timeout)
        except LrlabError as error:
            raise LrlabError(
                f"{source.name}: {error} {_put_files_hint(source, directory)}, then run again."
            ) from None
    return paths


def _safe_target(root: Path, member: tarfile.TarInfo, archive: Path) -> Path:
    parts = PurePosixPath(member.name).parts
    target = root.joinpath(*parts).resolve()
    escapes = member.name.startswith(("/", "\\")) or ".." in parts or "\\" in member.name
    if escapes or not target.is_relative_to(root):
        raise LrlabError(f"archive '{archive}' holds an unsafe path {member.name!r}; refusing to extract it.")
    if not (member.isfile() or member.isdir()):
        raise LrlabError(f"archive '{archive}' holds a link or special file {member.name!r}; refusing it.")
    return target


def _extract_into(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            target = _safe_target(root, member, archive)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:  # cannot happen for a regular file; keeps mypy and readers sure
                raise LrlabError(f"archive '{archive}': cannot read {member.name!r}.")
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)


def extract_tar(archive: str | Path, directory: str | Path) -> list[Path]:
    """Extract a tar archive's regular files and folders into ``directory``.

    Members with absolute paths, ``..`` components, links or device entries are refused before
    anything is written. Extraction happens in a temporary folder beside the result; each
    top-level entry then replaces its namesake in ``directory``.

    Returns:
        The top-level paths created in ``directory``.
    """
    archive, directory = Path(archive), Path(directory).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".extract-"))
    try:
        try:
            _extract_into(archive, staging)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise LrlabError(
                f"cannot extract '{archive}': {error}. Delete it to download it again."
            ) from None
        created = []
        for entry in sorted(staging.iterdir()):
            final = directory / entry.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(entry, final)
            created.append(final)
        return created
    finally:
        shutil.rmtree(staging, ignore_errors=True)
