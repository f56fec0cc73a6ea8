"""A throw-away PostgreSQL + PostGIS cluster for the store's contract tests.

The first call to :func:`postgis_url` starts one cluster for the whole test
session: ``initdb`` in a fresh temporary folder, ``pg_ctl`` on 127.0.0.1 and a
free port, no Unix socket, and a template database with ``CREATE EXTENSION
postgis``. Every call then hands out a new database cloned from that template,
so each test starts from an empty store, as a fresh GeoPackage file would. The
cluster is stopped and its folder removed when the interpreter exits; a
cluster left by a killed test run (its owner pid gone) is removed by the next.

Where the server binaries or PostGIS are missing, :func:`postgis_url` calls
``pytest.skip`` with the reason (``make postgis`` installs them), so
``make test`` still runs everywhere.

Security: the server listens on 127.0.0.1 only and asks for a password
(SCRAM). The password is random, given to ``initdb`` through a file removed
right after, and to clients through a ``PGPASSFILE`` in the cluster folder;
it is never in a URL, on a command line or in a log. PostgreSQL refuses to run
as root, so under root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "minescan"
#: Cluster folders are ``<tmp>/minescan-postgis-*``; ``owner`` holds the test process's pid.
PREFIX = "minescan-postgis-"
OWNER = "owner"
TEMPLATE = "minescan_template"
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    # A throw-away cluster: durability buys nothing and costs seconds.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass
class _Cluster:
    """A running cluster: its folder, port and the databases handed out so far."""

    folder: Path
    port: int
    run_as: str | None
    counter: itertools.count

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


_state: dict[str, object] = {}


def postgis_url() -> str:
    """A ``postgresql://`` URL to a new, empty PostGIS database on the session's cluster.

    Calls ``pytest.skip`` with the reason where no cluster can be started.
    """
    if "skip" in _state:
        pytest.skip(_state["skip"])
    cluster = _state.get("cluster")
    if cluster is None:
        try:
            cluster = _start()
        except _Unavailable as reason:
            _state["skip"] = f"PostGIS store tests skipped: {reason} (make postgis installs it)"
            pytest.skip(_state["skip"])
        _state["cluster"] = cluster
    database = f"store_{next(cluster.counter)}"
    _sql(cluster, "postgres", f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
    return cluster.url(database)


class _Unavailable(Exception):
    """The cluster cannot be started here; the message says why."""


def server_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``pg_config --bindir`` where it is on the PATH, else Debian's newest
    ``/usr/lib/postgresql/NN/bin``.
    """
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(found.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates += [v / "bin" for v in reversed(versions)]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise _Unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")


def _start() -> _Cluster:
    """initdb, configure, start, create the PostGIS template; stop it at exit."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise _Unavailable("the psycopg driver is not installed") from None
    binaries = server_binaries()
    run_as = _server_user()
    _stop_abandoned(binaries, run_as)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    cluster = _Cluster(folder, _free_port(), run_as, itertools.count(1))
    (folder / OWNER).write_text(str(os.getpid()))
    atexit.register(_stop, cluster, binaries)
    if run_as:
        shutil.chown(folder, user=run_as)
    password = secrets.token_urlsafe(24)
    _initdb(cluster, binaries, password)
    _write_passfile(cluster, password)
    settings = dict(SERVER_SETTINGS, port=str(cluster.port))
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    log = cluster.folder / "server.log"
    started = _as_server(
        cluster, [binaries / "pg_ctl", "start", "-w", "-D", cluster.data, "-l", log]
    )
    if started.returncode != 0:
        raise _Unavailable(f"pg_ctl start failed: {_tail(log)}")
    _sql(cluster, "postgres", f"CREATE DATABASE {TEMPLATE}")
    try:
        _sql(cluster, TEMPLATE, "CREATE EXTENSION postgis")
    except Exception as error:
        raise _Unavailable(f"CREATE EXTENSION postgis failed: {str(error).strip()}") from None
    return cluster


def _server_user() -> str | None:
    """``postgres`` when running as root (the server refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise _Unavailable(
            "running as root and there is no 'postgres' user to run the server"
        ) from None
    return "postgres"


def _initdb(cluster: _Cluster, binaries: Path, password: str) -> None:
    """Create the cluster with a SCRAM password for the superuser, read from a file then removed."""
    pwfile = cluster.folder / "initdb-password"
    pwfile.touch(mode=0o600)
    pwfile.write_text(password + "\n")
    if cluster.run_as:
        shutil.chown(pwfile, user=cluster.run_as)
    command = [binaries / "initdb", "-D", cluster.data, "-U", SUPERUSER, "--pwfile", pwfile]
    command += ["--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"]
    try:
        done = _as_server(cluster, command)
    finally:
        pwfile.unlink()
    if done.returncode != 0:
        raise _Unavailable(f"initdb failed: {done.stderr.strip()[-500:]}")


def _write_passfile(cluster: _Cluster, password: str) -> None:
    """Give clients (this process and its children) the password through ``PGPASSFILE``."""
    passfile = cluster.folder / "pgpass"
    passfile.touch(mode=0o600)
    passfile.write_text(f"127.0.0.1:{cluster.port}:*:{SUPERUSER}:{password}\n")
    os.environ["PGPASSFILE"] = str(passfile)


def _as_server(cluster: _Cluster, command: list) -> subprocess.CompletedProcess:
    """Run a server command as the server's user, capturing its output."""
    return subprocess.run(
        [str(part) for part in command],
        user=cluster.run_as,
        capture_output=True,
        text=True,
        cwd=cluster.folder,
        timeout=120,
    )


def _sql(cluster: _Cluster, database: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE DATABASE needs that)."""
    import psycopg

    with psycopg.connect(cluster.url(database), autocommit=True) as connection:
        connection.execute(statement)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path) -> str:
    """The last lines of the server log, or a note that there is none."""
    if not log.exists():
        return "no server log"
    return " | ".join(log.read_text().strip().splitlines()[-3:])


def _stop(cluster: _Cluster, binaries: Path) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    if (cluster.data / "postmaster.pid").exists():
        _as_server(cluster, [binaries / "pg_ctl", "stop", "-D", cluster.data, "-m", "fast", "-w"])
    shutil.rmtree(cluster.folder, ignore_errors=True)


def _stop_abandoned(binaries: Path, run_as: str | None) -> None:
    """Stop and remove clusters whose test process died without its exit hook (a killed run)."""
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = folder / OWNER
        if owner.is_file() and not _alive(int(owner.read_text() or 0)):
            _stop(_Cluster(folder, 0, run_as, itertools.count()), binaries)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0
