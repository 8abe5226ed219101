"""Where a study lives: an SQLite file in the study directory by default, or any SQLAlchemy URL
(``postgresql://user:password@host/db`` spreads one study over many machines).

The storage is Optuna's own ``RDBStorage`` with heartbeats: a worker's running trial records a
heartbeat every ``heartbeat`` seconds; a trial silent for twice that (its process was killed)
is marked failed and queued again, with the same parameters, by
``RetryHeartbeatStaleTrialCallback``.

SQLite under several worker processes: the file is put in write-ahead-log mode (readers never
wait for the writer), every transaction starts with ``BEGIN IMMEDIATE`` (it takes the write
lock first, so two transactions can never deadlock upgrading a read lock, the usual cause of
"database is locked"), and a connection waits up to :data:`BUSY_TIMEOUT_S` for the lock
instead of failing at once. WAL needs a local disk: share a study between machines with
PostgreSQL, not with SQLite on a network file system.
"""

from __future__ import annotations

import importlib.util
import random
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from lrlab.errors import LrlabError

STUDY_DB = "study.db"
BUSY_TIMEOUT_S = 60.0
MAX_RETRY = 3  # times a killed trial is queued again
CREATE_ATTEMPTS = 5
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database
_checked: set[Path] = set()  # SQLite files checked by this process (before it connected)


def default_url(folder: Path) -> str:
    """``sqlite:///<folder>/study.db`` (absolute, so every worker opens the same file)."""
    return f"sqlite:///{(Path(folder) / STUDY_DB).resolve()}"


def shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "<not a URL>"


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL; ``None`` for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    return None if not name or name == ":memory:" else Path(name)


def check_url(url: str) -> Path | None:
    """Refuse what is not an SQLAlchemy URL or is an in-memory database; return the SQLite file
    of an SQLite URL (``None`` for a server)."""
    try:
        path = sqlite_path(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise LrlabError(
            f"--storage must be an SQLAlchemy URL like sqlite:///study.db or "
            f"postgresql://user@host/db, got --storage={url!r}."
        ) from None
    if path is None and make_url(url).get_backend_name() == "sqlite":
        raise LrlabError(
            "--storage must be a file or a database server: an in-memory SQLite database is gone "
            "with its connection, so no worker would see the study."
        )
    if path is not None and path.resolve() not in _checked:
        check_sqlite_file(path)
        _checked.add(path.resolve())
    return path


def check_sqlite_file(path: Path) -> None:
    """Refuse an existing ``path`` that is not an SQLite database (an empty file is an empty
    database): SQLite would overwrite a short file and fail on any other.

    Call it before this process opens an SQLite connection to ``path`` (:func:`check_url` does,
    once per file): closing any descriptor of a database file drops the POSIX locks SQLite holds
    on it in this process, and other processes could then corrupt the database."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise LrlabError(f"the study storage {path} is a folder, not an SQLite file; name a file.") from None
    except OSError as error:
        raise LrlabError(f"cannot read the study storage {path}: {error.strerror or error}.") from None
    if head and head != SQLITE_HEADER:
        size = path.stat().st_size
        raise LrlabError(
            f"the study storage {path} is not an SQLite database (a file of {size} byte"
            f"{'s' * (size != 1)} that lrlab will not overwrite); name a new file, or move it away."
        )


def open_storage(url: str, *, heartbeat: int) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url`` with heartbeats and retries of killed trials.

    Raises:
        LrlabError: a URL that is not one, a missing database driver, or a server that refuses.
    """
    path = check_url(url)
    if path is not None:
        _write_ahead_log(path)
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": BUSY_TIMEOUT_S}} if path is not None else {"pool_pre_ping": True}
    )
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            storage = _rdb_storage(with_installed_driver(url), engine_kwargs, heartbeat)
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # machines that open a new database at once race to create Optuna's tables
            if attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.2, 1.0))
        except (ImportError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            cause = str(error.__cause__ or error).splitlines()[0]
            raise LrlabError(f"cannot open the study storage {shown_url(url)}: {cause}") from None
    if path is not None:
        _immediate_transactions(storage.engine)
    return storage


def _rdb_storage(url: str, engine_kwargs: dict[str, Any], heartbeat: int) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY),
        )


def with_installed_driver(url: str) -> str:
    """``postgresql://…`` with the PostgreSQL driver that is installed: SQLAlchemy 2.1 means
    psycopg (3) by it, 2.0 psycopg2; either works. Other URLs are returned as they are."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url  # SQLAlchemy's own error names the missing module
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def _write_ahead_log(path: Path) -> None:
    """Create the file if needed and switch it to WAL mode (a setting kept in the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        raise LrlabError(f"cannot use the SQLite file {path}: {error}") from None
    finally:
        connection.close()


def _immediate_transactions(engine: Engine) -> None:
    """Make every transaction of ``engine`` begin with ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe
    for pysqlite: the driver's own implicit BEGIN is turned off)."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # with WAL, NORMAL syncs at checkpoints, not at every commit: a killed process loses
        # nothing, a power cut at most the last commits, and the file is never corrupted
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    engine.dispose()  # connections opened while Optuna set up the tables predate the hooks
