"""Shared pieces of the tuning tests: one torch thread, a tiny experiment on digits, updates per
epoch of a training set, and a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lrlab.data.batches import batch_count

ROOT = Path(__file__).resolve().parents[2]
TINY = """
name = "tiny"
[task]
dataset = "digits"
model = "{model}"
val_fraction = 0.2
[train]
epochs = {epochs}
batch_size = 128
device = "cpu"
interval = "epoch"
[early_stopping]
monitor = "val_acc"
[search]
{search}
"""
SEARCH = """lr = "loguniform(1e-3, 1)"
momentum = "1 - loguniform(0.01, 0.5)"
schedule = "choice('constant', 'cosine')"
"""


def tiny_toml(search: str = SEARCH, *, epochs: int = 4, model: str = "mlp(widths=[32])") -> str:
    """An experiment file: a small MLP on digits, a few epochs, val_acc monitored."""
    return TINY.format(search=search, epochs=epochs, model=model)


def batches_of(samples: int) -> Callable[[int], int]:
    """Updates per epoch of ``samples`` training samples at a trial's batch size."""
    return lambda batch_size: batch_count(samples, batch_size)


def cli_env() -> dict[str, str]:
    """The environment of an ``lrlab`` subprocess: one thread, the repository importable (for
    the test plug-ins)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root, and runuser is missing to start PostgreSQL as 'postgres'")
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (a throwaway cluster in a temporary folder),
    as an SQLAlchemy URL; skipped when Debian's PostgreSQL binaries or psycopg2 are absent."""
    pytest.importorskip("psycopg2", reason="psycopg2 is needed to reach PostgreSQL")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins or not all(os.path.exists(f"{bins[-1]}/{tool}") for tool in ("initdb", "pg_ctl")):
        pytest.skip(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt install postgresql)"
        )
    initdb, pg_ctl = f"{bins[-1]}/initdb", f"{bins[-1]}/pg_ctl"
    folder = Path(tempfile.mkdtemp(prefix="lrlab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    init = [initdb, "-D", str(data), "-U", "lrlab", "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_postgres(init), check=True, capture_output=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
    subprocess.run(_as_postgres(start), check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://lrlab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), check=False)
        time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)
