"""Pytest fixtures for storage tests: a throw-away PostgreSQL cluster and one URL per storage mode.

Registered from ``tests/conftest.py`` with ``pytest_plugins = ["pg_server"]``.

The PostgreSQL cluster is started once per test session from Debian's server binaries
(``/usr/lib/postgresql/<version>/bin``; install them with ``.ci/install-postgres``), listens only
on 127.0.0.1 on a free port, requires a password (so tests can check that it never leaks), and
is stopped and deleted at the end of the session. Its URLs are plain ``postgresql://`` URLs, as
the README writes them, so they use the driver SQLAlchemy picks for that form (psycopg 3, from
``weightsearch[postgres]``). When the binaries or that driver are missing, PostgreSQL tests are
skipped locally but fail when ``CI=true``: CI must run them.

Fixtures:
    postgres_server: the running cluster (session scope); ``create_database()`` gives a new URL.
    postgres_url: SQLAlchemy URL of a database in that cluster (session scope).
    storage_url: one fresh, empty storage per test, parametrized over ``STORAGE_MODES``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STORAGE_MODES = ("sqlite", "journal", "postgres")
"""Storage kinds that ``storage_url`` runs each test over."""

POSTGRES_USER = "weightsearch"
POSTGRES_PASSWORD = "ws-pg-Secret-4711"
"""The cluster's password: distinctive, so tests can assert it never appears in output."""

_SERVER_ACCOUNT = "postgres"  # initdb and postgres refuse to run as root
_START_ATTEMPTS = 5


class PostgresServer:
    """A running throw-away PostgreSQL cluster on 127.0.0.1.

    Attributes:
        bin_dir: Folder of the PostgreSQL server programs used.
        port: TCP port the server listens on.
        root: Temporary folder holding the data directory, socket and log.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="weightsearch-pg-"))
        self._account = _server_account()
        if self._account is not None:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        self._data = self.root / "data"
        self._log = self.root / "server.log"
        self._running = False

    def start(self) -> None:
        """Create the cluster and start the server on a free port."""
        password_file = self.root / "password"
        password_file.write_text(POSTGRES_PASSWORD + "\n")
        password_file.chmod(0o600)
        self._own(password_file)
        self._run(
            "initdb",
            "--pgdata",
            str(self._data),
            "--username",
            POSTGRES_USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        password_file.unlink()
        # A port found free can be taken before the server binds it; then try another.
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            result = self._run(
                "pg_ctl",
                "--pgdata",
                str(self._data),
                "--log",
                str(self._log),
                "--wait",
                "--timeout=60",
                "-o",
                options,
                "start",
                check=False,
            )
            if result.returncode == 0:
                self._running = True
                return
        log = self._log.read_text(errors="replace") if self._log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start:\n{result.stdout}\n{log[-2000:]}")

    def stop(self) -> None:
        """Stop the server and delete its files; safe to call twice."""
        if self._running:
            self._running = False
            self._run(
                "pg_ctl", "--pgdata", str(self._data), "--wait", "-m", "immediate", "stop",
                check=False,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of `database`, password included."""
        return f"postgresql://{self.credentials}/{database}"

    @property
    def credentials(self) -> str:
        """The ``user:password@host:port`` part of this server's URLs."""
        return f"{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{self.port}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name when None) and return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"Database names here are lower-case identifiers, not {name!r}.")
        self._execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still uses it."""
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        import psycopg

        # CREATE/DROP DATABASE can't run in a transaction.
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=POSTGRES_USER,
            password=POSTGRES_PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(statement)

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self._account is not None:
            extra = {
                "user": self._account.pw_uid,
                "group": self._account.pw_gid,
                "extra_groups": [],
            }
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
            **extra,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stdout}")
        return result


def find_postgres_bin() -> Path | None:
    """Return the folder of ``initdb`` and ``pg_ctl``, newest Debian version first, or None.

    ``WEIGHTSEARCH_PG_BIN`` overrides the search; otherwise Debian's
    ``/usr/lib/postgresql/*/bin`` and then ``PATH`` are tried.
    """
    override = os.environ.get("WEIGHTSEARCH_PG_BIN")
    candidates = [Path(override)] if override else []

    def version(folder: str) -> tuple[int, ...]:
        numbers = re.findall(r"\d+", Path(folder).parent.name)
        return tuple(int(n) for n in numbers)

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(folder) for folder in debian]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None when not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SERVER_ACCOUNT)
    except KeyError:
        raise RuntimeError(
            "PostgreSQL refuses to run as root and there is no 'postgres' account to run it as. "
            "Install Debian's postgresql package (.ci/install-postgres), which creates it."
        ) from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where PostgreSQL tests must run."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true, so PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster for the whole session."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        _unavailable(
            "PostgreSQL server binaries not found (looked for initdb and pg_ctl in "
            "$WEIGHTSEARCH_PG_BIN, /usr/lib/postgresql/*/bin and PATH); "
            "install them with .ci/install-postgres"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg (3) is not installed; pip install 'weightsearch[postgres]'")
    assert bin_dir is not None
    server = PostgresServer(bin_dir)
    atexit.register(server.stop)  # also when the session dies before fixture teardown
    try:
        server.start()
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL, with password, of a database created once for the session."""
    return postgres_server.create_database("weightsearch")


@pytest.fixture(
    params=[
        pytest.param(mode, marks=pytest.mark.postgres) if mode == "postgres" else mode
        for mode in STORAGE_MODES
    ]
)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty storage per test, one test per mode in `STORAGE_MODES`.

    sqlite: ``sqlite:////abs/path/x.db``; journal: ``journal:///abs/path/x.log``;
    postgres: a new database in the session cluster, dropped after the test.
    """
    mode: str = request.param
    if mode == "sqlite":
        yield f"sqlite:///{tmp_path / 'x.db'}"
    elif mode == "journal":
        yield f"journal://{tmp_path / 'x.log'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
        try:
            yield url
        finally:
            # A database left behind is deleted with the cluster; don't mask the test's result.
            with contextlib.suppress(Exception):
                server.drop_database(url.rsplit("/", 1)[1])
