"""Throwaway PostgreSQL servers for the tests and the benchmark suite.

Owns starting and stopping a private, disposable PostgreSQL cluster: a fresh
data directory from ``initdb`` in a temp dir, a server on a free localhost
port with durability switched off (it is thrown away; the benchmark passes
``options=DURABLE_SERVER_OPTIONS`` for production settings), and fresh
uniquely named databases inside it.  Nothing here touches a system-wide cluster.

Usable without pytest::

    with ThrowawayPostgres() as server:
        url = server.create_database()   # postgresql://postgres@127.0.0.1:PORT/db
        server.pause(); server.resume()    # an outage: same data dir and port

When running as root, the server runs as the ``postgres`` system user
(PostgreSQL refuses to run as root) via ``runuser``.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from scripts.processes import free_port

__all__ = [
    "PostgresNotInstalledError",
    "PostgresStartError",
    "ThrowawayPostgres",
    "DURABLE_SERVER_OPTIONS",
    "SERVER_OPTIONS",
    "create_database",
    "find_pg_bin_dir",
]

SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c synchronous_commit=off",
    "-c max_connections=500",  # the suite opens many short-lived applications (each with its pools)
)

# Production durability (every commit flushed to disk), for the benchmark.
DURABLE_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1",
    "-c fsync=on",
    "-c full_page_writes=on",
    "-c synchronous_commit=on",
    "-c max_connections=200",
)


class PostgresNotInstalledError(RuntimeError):
    """initdb/pg_ctl could not be found."""


class PostgresStartError(RuntimeError):
    """The throwaway server could not be initialised or started."""


def find_pg_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl: PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    pg_ctl = shutil.which("pg_ctl")
    if initdb and pg_ctl:
        # Resolve symlinks (Debian's wrappers live in /usr/lib/postgresql/N/bin).
        initdb_dir = Path(initdb).resolve().parent
        if (initdb_dir / "pg_ctl").exists():
            return initdb_dir
        return Path(initdb).parent
    candidates = [
        Path(d)
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()
    ]

    def version_key(path: Path) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in path.parent.name.split("."))
        except ValueError:
            return (0,)

    if candidates:
        return max(candidates, key=version_key)
    return None


class ThrowawayPostgres:
    """A private PostgreSQL server in a temp dir; stop() removes everything."""

    def __init__(self, port: int | None = None, user: str = "postgres",
                 options: tuple[str, ...] = SERVER_OPTIONS) -> None:
        self.requested_port = port
        self.user = user
        self.options = tuple(options)
        self.port: int | None = None
        self.bin_dir: Path | None = None
        self.base_dir: Path | None = None
        self._run_as: str | None = None
        self._started = False

    # Paths ------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    @property
    def url(self) -> str:
        """URL of the always-present ``postgres`` maintenance database."""
        return self.database_url("postgres")

    def database_url(self, dbname: str) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def version(self) -> str:
        return self._run([self._bin("postgres"), "--version"]).stdout.strip()

    # Lifecycle --------------------------------------------------------------

    def start(self) -> ThrowawayPostgres:
        if self._started:
            return self
        self.bin_dir = find_pg_bin_dir()
        if self.bin_dir is None:
            raise PostgresNotInstalledError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or "
                "under /usr/lib/postgresql/*/bin; run scripts/ensure_postgres.sh"
            )
        running_as_root = os.geteuid() == 0
        # As root the server runs as 'postgres', which must be able to reach
        # the directory: /tmp is world-traversable, $TMPDIR may not be.
        parent = "/tmp" if running_as_root and os.path.isdir("/tmp") else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="casetrail-pg-", dir=parent))
        try:
            self.data_dir.mkdir()
            self.socket_dir.mkdir()
            self.log_file.touch()
            if running_as_root:
                self._run_as = "postgres"
                try:
                    pw = pwd.getpwnam(self._run_as)
                except KeyError as e:
                    raise PostgresStartError(
                        "running as root but there is no 'postgres' system user"
                    ) from e
                for path in (self.base_dir, self.data_dir, self.socket_dir, self.log_file):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            self._initdb()
            self._start_server()
        except BaseException:
            self._remove_dir()
            raise
        self._started = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self.base_dir is None:
            return
        try:
            if self._started and self.bin_dir is not None:
                self._run(
                    [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                    check=False,
                )
        finally:
            self._started = False
            self._remove_dir()
            atexit.unregister(self.stop)

    def pause(self, mode: str = "fast") -> None:
        """Stop the server process (``pg_ctl stop -m mode``: ``fast`` rolls back
        open transactions and closes connections), keeping its data directory
        and port: ``resume`` starts it again on the same data. For outage tests."""
        if not self._started:
            raise RuntimeError("server not started")
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-t", "60", "-w", "stop"])

    def resume(self) -> None:
        """Start the server again after ``pause``, on the same data directory and port."""
        if not self._started or self.port is None:
            raise RuntimeError("server not started")
        options = " ".join((f"-p {self.port}", f"-k {self.socket_dir}", *self.options))
        result = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                            "-o", options, "-t", "60", "-w", "start"], check=False)
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl start (resume) failed (exit {result.returncode}) on port "
                                     f"{self.port}\nstdout: {result.stdout}\nstderr: {result.stderr}\n"
                                     f"--- {self.log_file} ---\n{self.read_log()}")

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Databases --------------------------------------------------------------

    def create_database(self, prefix: str = "casetrail") -> str:
        """Create a fresh, uniquely named database; return its URL."""
        import psycopg

        if not self._started:
            raise RuntimeError("server not started")
        dbname = f"{prefix}_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.database_url(dbname)

    def read_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError as e:
            return f"(could not read {self.log_file}: {e})"

    # Internals --------------------------------------------------------------

    def _bin(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    def _cmd(self, args: list[str]) -> list[str]:
        if self._run_as:
            return ["runuser", "-u", self._run_as, "--", *args]
        return args

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._cmd(args),
            capture_output=True,
            text=True,
            check=check,
            cwd=self.base_dir or "/",
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    def _initdb(self) -> None:
        base = [
            self._bin("initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            self.user,
            "--encoding=UTF8",
            "--no-sync",
        ]
        errors = []
        for locale in ("C.UTF-8", "C"):
            result = self._run([*base, f"--locale={locale}"], check=False)
            if result.returncode == 0:
                return
            errors.append(f"--locale={locale}: {result.stdout}\n{result.stderr}")
            # initdb leaves a partial data dir behind on failure: empty it.
            for child in self.data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise PostgresStartError("initdb failed:\n" + "\n".join(errors))

    def _start_server(self) -> None:
        attempts = 1 if self.requested_port else 5
        last_error = ""
        for _ in range(attempts):
            self.port = self.requested_port or free_port()
            options = " ".join((f"-p {self.port}", f"-k {self.socket_dir}", *self.options))
            result = self._run(
                [
                    self._bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-t",
                    "60",
                    "-w",
                    "start",
                ],
                check=False,
            )
            if result.returncode == 0:
                return
            log = self.read_log()
            last_error = (
                f"pg_ctl start failed (exit {result.returncode}) on port {self.port}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
                f"--- {self.log_file} ---\n{log}"
            )
            # Make sure a half-started server does not linger before retrying.
            self._run(
                [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                check=False,
            )
            if "already in use" not in log and "could not bind" not in log:
                break
        raise PostgresStartError(last_error)

    def _remove_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None


def create_database(server: ThrowawayPostgres) -> str:
    """Create a fresh uniquely named database on ``server``; return its URL."""
    return server.create_database()
