"""Storage URLs: defaults, password masking, opening Optuna storages, and a cross-process lock.

Supported URLs: ``sqlite:///path.db`` (the default, ``studies/weightsearch.db`` under the current
folder), server databases SQLAlchemy knows (``postgresql://...`` with ``weightsearch[postgres]``,
``mysql+pymysql://...`` with ``weightsearch[mysql]``), and Optuna's journal file as
``journal:///abs/path.log`` or ``journal:relative/path.log``. Only the default folder is created
when missing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from weightsearch.errors import WeightsearchError

DEFAULT_STORAGE = "sqlite:///studies/weightsearch.db"
DEFAULT_FOLDER = "studies"
"""The default storage's folder, under the current folder: the only one created when missing."""
STORAGE_ENV = "WEIGHTSEARCH_STORAGE"
# SQLite's default 5 s lock timeout gives "database is locked" with several writers; 30 s gave none.
_SQLITE_TIMEOUT_S = 30

_SCHEMA_ATTEMPTS = 3

_PASSWORD = re.compile(r"(?P<head>://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@)")


def resolve_url(url: str | None) -> str:
    """The storage URL to use: the given one, else ``$WEIGHTSEARCH_STORAGE``, else the default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def mask_password(text: str) -> str:
    """Replace the password of any URL in ``text`` by ``***``."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", text)


def open_storage(url: str) -> BaseStorage:
    """Open (creating where needed) the Optuna storage behind ``url``.

    Raises:
        WeightsearchError: the URL is malformed, its database can't be reached, or its folder
            can't be created. The message never holds the URL's password.
    """
    shown = mask_password(url)
    journal = _journal_path(url)
    try:
        if journal is not None:
            from optuna.storages.journal import JournalFileBackend

            _ensure_folder(journal, shown)
            return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
        if url.startswith("sqlite:"):
            path = sqlite_path(url)
            if path is None:
                return optuna.storages.RDBStorage(url)
            _ensure_folder(path, shown)
            # Two processes creating the same new database at once collide on its schema.
            with _file_lock(path):
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": {"timeout": _SQLITE_TIMEOUT_S}}
                )
            _use_write_ahead_log(storage)
            return storage
        if "://" not in url:
            raise WeightsearchError(
                f"storage must be a URL such as sqlite:///studies/weightsearch.db, "
                f"postgresql://user@host/db or journal:///path/file.log, but got {shown!r}."
            )
        return _open_server_storage(url)
    except WeightsearchError:
        raise
    except ImportError as exc:
        raise WeightsearchError(_missing_driver_message(url, exc)) from None
    except Exception as exc:
        reason = mask_password(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise WeightsearchError(
            f"can't open storage {shown}: {type(exc).__name__}: {reason}. "
            "Check the URL, that the server is running, and the credentials."
        ) from None


def _open_server_storage(url: str) -> optuna.storages.RDBStorage:
    """Open a server database; commands on several machines may create its tables at once."""
    import sqlalchemy.exc  # here, not at the top: --help and argument errors never need it

    attempt = 1
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except sqlalchemy.exc.IntegrityError:
            if attempt == _SCHEMA_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)  # meanwhile the other command finishes the schema
            attempt += 1


# The package that provides each SQLAlchemy driver, as pip installs it; the drivers the project
# documents come with the extra that installs them.
_DRIVER_INSTALLS = {
    "psycopg": "pip install 'weightsearch[postgres]' (psycopg 3)",
    "psycopg2": "pip install psycopg2-binary",
    "pymysql": "pip install 'weightsearch[mysql]' (PyMySQL)",
    "mysqldb": (
        "pip install mysqlclient (it compiles against MySQL's client library), or use "
        "PyMySQL: pip install 'weightsearch[mysql]' and write the URL as mysql+pymysql://..."
    ),
    "pg8000": "pip install pg8000",
    "asyncpg": "pip install asyncpg",
    "mysqlconnector": "pip install mysql-connector-python",
    "mariadbconnector": "pip install mariadb",
    "oracledb": "pip install oracledb",
    "pyodbc": "pip install pyodbc",
}


def _missing_driver_message(url: str, exc: ImportError) -> str:
    """Name the driver that ``url``'s dialect uses (SQLAlchemy's default when the URL names
    none) and the package that provides it."""
    from sqlalchemy.engine import make_url

    shown = mask_password(url)
    missing = _missing_module(exc)
    try:
        parsed = make_url(url)
        driver = parsed.get_dialect().driver
    except Exception:  # an unknown dialect: all we know is the module that failed to import
        return (
            f"storage {shown} needs a module that is not installed ({missing}). "
            f"Install the package that provides it: pip install {missing}"
        )
    default = (
        "" if "+" in parsed.drivername else f", SQLAlchemy's default for {parsed.drivername}://"
    )
    install = _DRIVER_INSTALLS.get(driver, f"pip install {missing}")
    return (
        f"storage {shown} needs the database driver {driver}{default}, which is not installed. "
        f"Install it: {install}"
    )


def _missing_module(exc: BaseException) -> str:
    """The module whose import failed (Optuna re-raises the driver's ImportError as its own)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError) and seen.name:
            return seen.name
        seen = seen.__cause__ or seen.__context__
    return str(exc)


def _ensure_folder(file: Path, shown: str) -> None:
    """Create the default storage folder when missing; any other missing folder is an error.

    A mistyped path (``sqlite:////nonexistent/dir/x.db``) must not quietly put a study in new
    folders that nobody will look in.
    """
    folder = file.parent
    if folder.exists():  # a folder, or a file in the way that opening the storage reports
        return
    if folder.resolve() == (Path.cwd() / DEFAULT_FOLDER).resolve():
        folder.mkdir(parents=True, exist_ok=True)
        return
    slashes = (
        " (sqlite:////abs/path.db is an absolute path, sqlite:///rel/path.db one relative to "
        "the current folder)"
        if shown.startswith("sqlite:")
        else ""
    )
    raise WeightsearchError(
        f"storage {shown}: the folder {folder} does not exist. Create it "
        f"(mkdir -p {folder}) or check the URL{slashes}."
    )


def _use_write_ahead_log(storage: optuna.storages.RDBStorage) -> None:
    """Switch a SQLite file to write-ahead logging: a commit then costs ~2 ms instead of ~20 ms.

    Readers no longer block the writer either. WAL needs a local disk (not NFS), which a SQLite
    file shared by one machine's processes has; several machines share a server database.
    """
    import sqlalchemy

    @sqlalchemy.event.listens_for(storage.engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Connections opened before the listener (Optuna checks the schema on creation) are dropped.
    storage.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for in-memory SQLite)."""
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def _journal_path(url: str) -> Path | None:
    if not url.startswith("journal:"):
        return None
    rest = url[len("journal:") :]
    if rest.startswith("///"):
        rest = "/" + rest[3:]
    elif rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise WeightsearchError(
            "a journal storage needs a file, e.g. journal:///tmp/study.log. Give its path."
        )
    return Path(rest)


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def study_lock(url: str, study_name: str, storage: BaseStorage) -> Iterator[None]:
    """Hold a lock on one study across threads, processes and (for server storages) machines.

    Claiming the next point of a study happens under it, so that no point is handed out twice:
    a file lock beside a SQLite database or journal file, a PostgreSQL advisory lock on a server.
    """
    key = f"{url}#{study_name}"
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    with thread_lock, _process_lock(url, study_name, storage):
        yield


@contextlib.contextmanager
def _process_lock(url: str, study_name: str, storage: BaseStorage) -> Iterator[None]:
    file = _journal_path(url) or (sqlite_path(url) if url.startswith("sqlite:") else None)
    if file is not None:
        with _file_lock(file):
            yield
        return
    if url.startswith("postgresql") and isinstance(storage, optuna.storages.RDBStorage):
        import sqlalchemy

        lock_id = int.from_bytes(
            hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True
        )
        with storage.engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
                connection.commit()
        return
    yield


@contextlib.contextmanager
def _file_lock(file: Path) -> Iterator[None]:
    """An exclusive lock on a file beside ``file`` (processes of one machine).

    Not ``<file>.lock``: Optuna's journal storage creates and deletes that one as its own lock.
    """
    with open(file.with_name(file.name + ".weightsearch-lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class StorageHandle:
    """An opened storage with the URL it came from: what the commands pass around.

    Attributes:
        url: the storage URL, password included (never print it: use :attr:`shown`).
        storage: the Optuna storage opened from it.
    """

    url: str
    storage: BaseStorage

    @classmethod
    def open(cls, url: str | None) -> StorageHandle:
        """Open the storage at ``url`` (None: ``$WEIGHTSEARCH_STORAGE`` or the default)."""
        resolved = resolve_url(url)
        return cls(resolved, open_storage(resolved))

    @property
    def shown(self) -> str:
        """The URL with its password masked, for messages."""
        return mask_password(self.url)

    def lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        """The cross-process lock on one study of this storage (see :func:`study_lock`)."""
        return study_lock(self.url, study_name, self.storage)
