"""The deployment state store: what is deployed, which revision serves, and who may change it.

SQLite (``<home>/state.db`` in WAL mode) is the embedded default so nothing needs setting up;
a ``postgresql://`` URL, given or in ``DATABASE_URL``, switches to PostgreSQL so several
machines can share one state. Both backends run the same portable SQL, so behaviour does
not depend on which one is in use.

Changes are guarded by *leases* rather than plain locks: a lease names its owner and
expires, so a run killed with ``kill -9`` never leaves a lock that needs hand-editing
(Helm's "pending-upgrade" trap). An expired lease is taken over and a live one can be
broken with ``pepperpy-cloud force-unlock NAME``; both are recorded as events.

Secrets: specs and connection details are stored exactly as given. They must hold only
``${SECRET:name}`` references (the spec validator refuses clear-text secrets): values are
resolved from the secret store at deploy time and go into replica environments only,
never through here. Callers recording error text in events redact it first with
:class:`pepperpy.cloud.deploy.secrets.Redactor`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from pepperpy.cloud.catalog.store import closest, home_dir
from pepperpy.cloud.errors import (
    InputError,
    LockedError,
    MissingDependencyError,
    NotFoundError,
    PepperpyCloudError,
)

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
REVISION_STATUSES = ("pending", "ready", "active", "failed", "retired")
BUSY_TIMEOUT_S = 30.0
_PG_SCHEMA_LOCK = 0x5045505045525059  # "PEPPERPY": serialises concurrent schema creation

Row = tuple[Any, ...]


# --- records -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    provider: str
    spec: dict[str, Any]
    active_revision: int | None
    status: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Revision:
    deployment: str
    number: int
    spec: dict[str, Any]
    spec_hash: str
    status: str
    created_at: float
    error: str | None


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """One replica as the caller knows it; the deployment and revision come from the call."""

    index: int
    pid: int | None
    port: int | None
    status: str = "starting"
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class Replica:
    deployment: str
    revision: int
    index: int
    pid: int | None
    port: int | None
    status: str
    started_at: float | None


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    type: str
    provider: str
    spec: dict[str, Any]
    status: str
    connection: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    deployment: str | None
    kind: str
    message: str
    at: float


@dataclass(frozen=True, slots=True)
class Lock:
    name: str
    owner: str
    acquired_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


@dataclass
class Lease:
    """A held lock. Long operations call :meth:`renew` between steps so the lease stays live."""

    store: StateStore = field(repr=False)
    name: str
    owner: str
    ttl: float
    expires_at: float

    def renew(self, ttl: float | None = None) -> None:
        lock = self.store.renew(self.name, self.owner, ttl or self.ttl)
        self.expires_at = lock.expires_at


# --- helpers -------------------------------------------------------------------------------

def spec_hash(spec: Mapping[str, Any]) -> str:
    """A stable hash of a spec, so an unchanged redeploy can be recognised."""
    return hashlib.sha256(_dump(spec).encode()).hexdigest()


def default_owner() -> str:
    """Who holds a lease: readable in error messages, unique per call so two runs never share one."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()} #{uuid.uuid4().hex[:8]}"


def safe_url(url: str) -> str:
    """The URL with any password replaced, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_status(status: str) -> None:
    if status not in REVISION_STATUSES:
        raise InputError("status", f"{status!r} is not a revision status ({', '.join(REVISION_STATUSES)})")


def _check_ttl(ttl: float) -> None:
    if ttl <= 0:
        raise InputError("ttl", f"a lease must last a positive number of seconds, got {ttl}")


def _ddl(id_column: str) -> list[str]:
    """Portable CREATE statements: only the events id column differs between backends."""
    return [
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        """CREATE TABLE IF NOT EXISTS deployments (
            name TEXT PRIMARY KEY, provider TEXT NOT NULL, spec TEXT NOT NULL,
            active_revision INTEGER, status TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS revisions (
            deployment TEXT NOT NULL REFERENCES deployments (name) ON DELETE CASCADE,
            number INTEGER NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'active', 'failed', 'retired')),
            created_at DOUBLE PRECISION NOT NULL, error TEXT,
            PRIMARY KEY (deployment, number))""",
        """CREATE TABLE IF NOT EXISTS replicas (
            deployment TEXT NOT NULL, revision INTEGER NOT NULL, "index" INTEGER NOT NULL,
            pid INTEGER, port INTEGER, status TEXT NOT NULL, started_at DOUBLE PRECISION,
            PRIMARY KEY (deployment, revision, "index"),
            FOREIGN KEY (deployment, revision) REFERENCES revisions (deployment, number) ON DELETE CASCADE)""",
        """CREATE TABLE IF NOT EXISTS resources (
            name TEXT PRIMARY KEY, type TEXT NOT NULL, provider TEXT NOT NULL, spec TEXT NOT NULL,
            status TEXT NOT NULL, connection TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS events (
            id {id_column}, deployment TEXT, kind TEXT NOT NULL, message TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS events_by_deployment ON events (deployment, id)",
        """CREATE TABLE IF NOT EXISTS locks (
            name TEXT PRIMARY KEY, owner TEXT NOT NULL,
            acquired_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)""",
    ]


# --- backends: the few things SQLite and PostgreSQL do differently -------------------------

class _Backend(Protocol):
    kind: str
    location: str
    for_update: str
    id_column: str

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def schema_lock(self) -> None: ...
    def close(self) -> None: ...


class _SQLite:
    """One file, WAL so readers never block the writer, ``BEGIN IMMEDIATE`` so writers queue."""

    kind = "sqlite"
    for_update = ""
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.location = str(path)
        self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        path.chmod(0o600)  # the WAL and shm files inherit this mode

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def schema_lock(self) -> None:
        return  # BEGIN IMMEDIATE already serialises writers

    def close(self) -> None:
        self.conn.close()


class _Postgres:
    """psycopg 3 in autocommit mode; transactions are explicit, row locks use ``FOR UPDATE``."""

    kind = "postgresql"
    for_update = " FOR UPDATE"
    id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str) -> None:
        self.location = safe_url(url)
        self.conn = _pg_connect(url)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))
            return cur.rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def schema_lock(self) -> None:
        self.rows("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))

    def close(self) -> None:
        self.conn.close()


def _pg_connect(url: str) -> psycopg.Connection[Row]:
    """Import psycopg only when PostgreSQL is asked for; say what to do when it is missing or down."""
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("psycopg", "postgres") from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "***")
        raise PepperpyCloudError(
            f"cannot connect to the state store at {safe_url(url)}: {reason}",
            hint="check DATABASE_URL and that the PostgreSQL server is running",
        ) from None


def _sqlite_path(url: str | None) -> Path:
    if not url:
        return home_dir() / "state.db"
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise InputError("state store", f"unsupported URL {safe_url(url)!r}",
                         hint="use postgresql://… or a SQLite file path")
    return Path(url)


# --- the store -----------------------------------------------------------------------------

_DEPLOYMENT_COLS = "name, provider, spec, active_revision, status, created_at, updated_at"
_REVISION_COLS = "deployment, number, spec, spec_hash, status, created_at, error"
_REPLICA_COLS = 'deployment, revision, "index", pid, port, status, started_at'
_RESOURCE_COLS = "name, type, provider, spec, status, connection, created_at"
_EVENT_COLS = "id, deployment, kind, message, at"


class StateStore:
    """Deployments, revisions, replicas, resources, events and leases; every write is one transaction."""

    def __init__(self, backend: _Backend, *, clock: Callable[[], float] = time.time) -> None:
        self._db = backend
        self.clock = clock
        self._mutex = threading.RLock()
        self._depth = 0
        self._create_schema()

    @classmethod
    def open(cls, url: str | None = None, *, clock: Callable[[], float] = time.time) -> StateStore:
        """PostgreSQL for a ``postgresql://`` URL (given or ``DATABASE_URL``), else SQLite under the home dir.

        A ``DATABASE_URL`` naming another kind of database belongs to someone else's app and is ignored.
        """
        target = url or os.environ.get("DATABASE_URL") or ""
        if target.startswith(POSTGRES_SCHEMES):
            return cls(_Postgres(target), clock=clock)
        return cls(_SQLite(_sqlite_path(url)), clock=clock)

    @property
    def backend(self) -> str:
        return self._db.kind

    @property
    def location(self) -> str:
        """The file path or the URL with its password hidden."""
        return self._db.location

    def __repr__(self) -> str:
        return f"StateStore({self.backend} {self.location})"

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction per public write; nested calls join the outer one."""
        with self._mutex:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._db.transaction():
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._mutex:
            return self._db.rows(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._mutex:
            return self._db.run(sql, params)

    def _create_schema(self) -> None:
        with self._tx():
            self._db.schema_lock()
            for statement in _ddl(self._db.id_column):
                self._run(statement)
            row = self._one("SELECT MAX(version) FROM schema_version")
            version = row[0] if row else None
            if version is None:
                self._run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise PepperpyCloudError(
                    f"the state store at {self.location} has schema version {version}, newer than this "
                    f"pepperpy-cloud understands ({SCHEMA_VERSION})", hint="upgrade pepperpy-cloud")

    # -- leases --

    def acquire(self, name: str, owner: str | None = None, ttl: float = 60.0) -> Lease:
        """Take the lease on ``name`` atomically, or raise :class:`LockedError` naming who holds it.

        Re-acquiring with the same owner extends the lease; an expired lease is taken over
        and the takeover recorded, so a crashed run never blocks the next one for long.
        """
        _check_ttl(ttl)
        owner = owner or default_owner()
        for _ in range(3):
            lease = self._try_acquire(name, owner, ttl)
            if lease is not None:
                return lease
        held = self.get_lock(name)
        raise self._locked(held) if held else LockedError(
            f"could not take the lease on {name!r}: it changed hands while we tried", name=name,
            hint="try again")

    def _try_acquire(self, name: str, owner: str, ttl: float) -> Lease | None:
        with self._tx():
            now = self.clock()
            row = self._one(f"SELECT name, owner, acquired_at, expires_at FROM locks WHERE name = ?"
                            f"{self._db.for_update}", (name,))
            if row is None:
                inserted = self._run(
                    "INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING", (name, owner, now, now + ttl))
                return Lease(self, name, owner, ttl, now + ttl) if inserted else None
            held = Lock(*row)
            if held.owner != owner and not held.expired(now):
                raise self._locked(held)
            taken = self._run(
                "UPDATE locks SET owner = ?, acquired_at = ?, expires_at = ? "
                "WHERE name = ? AND owner = ? AND expires_at = ?",
                (owner, now, now + ttl, name, held.owner, held.expires_at))
            if not taken:
                return None
            if held.owner != owner:
                self.record_event("lock-takeover", f"lease {name!r} held by {held.owner} expired at "
                                  f"{_iso(held.expires_at)}; taken over by {owner}", deployment=name)
            return Lease(self, name, owner, ttl, now + ttl)

    def _locked(self, held: Lock) -> LockedError:
        left = max(0, round(held.expires_at - self.clock()))
        return LockedError(
            f"{held.name!r} is locked by {held.owner} since {_iso(held.acquired_at)}; the lease expires "
            f"at {_iso(held.expires_at)} (in {left}s)", name=held.name, owner=held.owner,
            hint=f"wait for it to expire, or if that run is gone: pepperpy-cloud force-unlock {held.name}")

    def renew(self, name: str, owner: str, ttl: float = 60.0) -> Lock:
        """Extend a held lease; raise :class:`LockedError` when this owner no longer holds it."""
        _check_ttl(ttl)
        with self._tx():
            now = self.clock()
            if self._run("UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ?", (now + ttl, name, owner)):
                lock = self.get_lock(name)
                assert lock is not None
                return lock
            held = self.get_lock(name)
        if held is not None:
            raise self._locked(held)
        raise LockedError(f"the lease on {name!r} was released or force-unlocked; {owner} no longer holds it",
                          name=name, hint="start the operation again")

    def release(self, name: str, owner: str) -> bool:
        """Give the lease back; a lease already taken over by someone else is left alone."""
        with self._tx():
            return self._run("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner)) > 0

    @contextmanager
    def lock(self, name: str, owner: str | None = None, ttl: float = 60.0) -> Iterator[Lease]:
        """``with store.lock("app") as lease:`` — released on exit, even on error."""
        lease = self.acquire(name, owner, ttl)
        try:
            yield lease
        finally:
            self.release(name, lease.owner)

    def get_lock(self, name: str) -> Lock | None:
        row = self._one("SELECT name, owner, acquired_at, expires_at FROM locks WHERE name = ?", (name,))
        return Lock(*row) if row else None

    def force_unlock(self, name: str, reason: str) -> Lock | None:
        """Break a lease whatever its state, recording who did it and why; the broken lease, or None."""
        with self._tx():
            held = self.get_lock(name)
            if held is None:
                return None
            self._run("DELETE FROM locks WHERE name = ?", (name,))
            self.record_event("force-unlock", f"lease {name!r} held by {held.owner} (until "
                              f"{_iso(held.expires_at)}) force-unlocked by {default_owner()}: {reason}",
                              deployment=name)
        return held

    # -- deployments --

    def upsert_deployment(self, name: str, provider: str, spec: Mapping[str, Any],
                          status: str = "pending") -> Deployment:
        if not name:
            raise InputError("name", "a deployment needs a name")
        with self._tx():
            now = self.clock()
            self._run(
                f"INSERT INTO deployments ({_DEPLOYMENT_COLS}) VALUES (?, ?, ?, NULL, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, spec = excluded.spec, "
                "status = excluded.status, updated_at = excluded.updated_at",
                (name, provider, _dump(spec), status, now, now))
            return self._require_deployment(name)

    def set_deployment_status(self, name: str, status: str) -> None:
        with self._tx():
            if not self._run("UPDATE deployments SET status = ?, updated_at = ? WHERE name = ?",
                             (status, self.clock(), name)):
                raise self._no_deployment(name)

    def get_deployment(self, name: str) -> Deployment | None:
        row = self._one(f"SELECT {_DEPLOYMENT_COLS} FROM deployments WHERE name = ?", (name,))
        return _deployment(row) if row else None

    def list_deployments(self) -> list[Deployment]:
        return [_deployment(r) for r in self._rows(f"SELECT {_DEPLOYMENT_COLS} FROM deployments ORDER BY name")]

    def delete_deployment(self, name: str) -> bool:
        """Remove a deployment with its revisions and replicas; events stay as the audit trail."""
        with self._tx():
            return self._run("DELETE FROM deployments WHERE name = ?", (name,)) > 0

    def _require_deployment(self, name: str) -> Deployment:
        found = self.get_deployment(name)
        if found is None:
            raise self._no_deployment(name)
        return found

    def _lock_deployment(self, name: str) -> None:
        """Inside a transaction: hold the deployment row so revision numbers cannot race."""
        if self._one(f"SELECT name FROM deployments WHERE name = ?{self._db.for_update}", (name,)) is None:
            raise self._no_deployment(name)

    def _no_deployment(self, name: str) -> NotFoundError:
        names = [r[0] for r in self._rows("SELECT name FROM deployments ORDER BY name")]
        return NotFoundError("deployment", name, "deployment", suggestions=closest(name, names),
                             hint="list them with: pepperpy-cloud ls")

    # -- revisions --

    def add_revision(self, name: str, spec: Mapping[str, Any], status: str = "pending") -> int:
        """Record a new revision of ``name``; returns its number (1, 2, … per deployment)."""
        _check_status(status)
        if status == "active":
            raise InputError("status", "a revision becomes active through set_active_revision")
        with self._tx():
            self._lock_deployment(name)
            row = self._one("SELECT COALESCE(MAX(number), 0) FROM revisions WHERE deployment = ?", (name,))
            number = int(row[0] if row else 0) + 1
            self._run(f"INSERT INTO revisions ({_REVISION_COLS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                      (name, number, _dump(spec), spec_hash(spec), status, self.clock()))
        return number

    def get_revision(self, name: str, number: int) -> Revision | None:
        row = self._one(f"SELECT {_REVISION_COLS} FROM revisions WHERE deployment = ? AND number = ?",
                        (name, number))
        return _revision(row) if row else None

    def revisions(self, name: str) -> list[Revision]:
        rows = self._rows(f"SELECT {_REVISION_COLS} FROM revisions WHERE deployment = ? ORDER BY number", (name,))
        return [_revision(r) for r in rows]

    def set_revision_status(self, name: str, number: int, status: str, error: str | None = None) -> None:
        """Move a revision to ``status``; leaving 'active' also clears the deployment's active revision."""
        _check_status(status)
        if status == "active":
            self.set_active_revision(name, number)
            return
        with self._tx():
            self._require_revision(name, number)
            self._run("UPDATE revisions SET status = ?, error = ? WHERE deployment = ? AND number = ?",
                      (status, error, name, number))
            self._run("UPDATE deployments SET active_revision = NULL, updated_at = ? "
                      "WHERE name = ? AND active_revision = ?", (self.clock(), name, number))

    def set_active_revision(self, name: str, number: int) -> None:
        """Make ``number`` the serving revision; the one serving before is retired in the same transaction."""
        with self._tx():
            self._lock_deployment(name)
            self._require_revision(name, number)
            self._run("UPDATE revisions SET status = 'retired' WHERE deployment = ? AND status = 'active' "
                      "AND number <> ?", (name, number))
            self._run("UPDATE revisions SET status = 'active', error = NULL WHERE deployment = ? AND number = ?",
                      (name, number))
            self._run("UPDATE deployments SET active_revision = ?, updated_at = ? WHERE name = ?",
                      (number, self.clock(), name))

    def _require_revision(self, name: str, number: int) -> None:
        if self.get_revision(name, number) is None:
            known = ", ".join(str(r.number) for r in self.revisions(name)) or "none"
            raise InputError("revision", f"{name!r} has no revision {number} (revisions: {known})")

    # -- replicas --

    def replace_replicas(self, name: str, revision: int, replicas: Iterable[ReplicaInfo]) -> list[Replica]:
        """Set the replicas of one revision to exactly ``replicas`` (an empty list removes them)."""
        with self._tx():
            self._require_revision(name, revision)
            self._run("DELETE FROM replicas WHERE deployment = ? AND revision = ?", (name, revision))
            for r in replicas:
                self._run(f"INSERT INTO replicas ({_REPLICA_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (name, revision, r.index, r.pid, r.port, r.status, r.started_at))
            return self.replicas(name, revision)

    def replicas(self, name: str, revision: int | None = None) -> list[Replica]:
        sql = f"SELECT {_REPLICA_COLS} FROM replicas WHERE deployment = ?"
        params: list[Any] = [name]
        if revision is not None:
            sql += " AND revision = ?"
            params.append(revision)
        return [Replica(*r) for r in self._rows(sql + ' ORDER BY revision, "index"', params)]

    # -- resources --

    def upsert_resource(self, name: str, type: str, provider: str, spec: Mapping[str, Any],
                        status: str = "pending", connection: Mapping[str, Any] | None = None) -> Resource:
        """Create or update a resource; ``connection`` holds addresses and secret references, never values."""
        with self._tx():
            self._run(
                f"INSERT INTO resources ({_RESOURCE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET type = excluded.type, provider = excluded.provider, "
                "spec = excluded.spec, status = excluded.status, connection = excluded.connection",
                (name, type, provider, _dump(spec), status, _dump(dict(connection or {})), self.clock()))
            found = self.get_resource(name)
            assert found is not None
            return found

    def get_resource(self, name: str) -> Resource | None:
        row = self._one(f"SELECT {_RESOURCE_COLS} FROM resources WHERE name = ?", (name,))
        return _resource(row) if row else None

    def list_resources(self) -> list[Resource]:
        return [_resource(r) for r in self._rows(f"SELECT {_RESOURCE_COLS} FROM resources ORDER BY name")]

    def delete_resource(self, name: str) -> bool:
        with self._tx():
            return self._run("DELETE FROM resources WHERE name = ?", (name,)) > 0

    # -- events --

    def record_event(self, kind: str, message: str, deployment: str | None = None) -> Event:
        """Append to the audit trail; ``message`` is stored as given, so redact it first."""
        with self._tx():
            row = self._one("INSERT INTO events (deployment, kind, message, at) VALUES (?, ?, ?, ?) RETURNING id",
                            (deployment, kind, message, self.clock()))
            assert row is not None
            found = self._one(f"SELECT {_EVENT_COLS} FROM events WHERE id = ?", (row[0],))
            assert found is not None
            return Event(*found)

    def events(self, deployment: str | None = None, limit: int = 100) -> list[Event]:
        """The latest ``limit`` events (of one deployment, or all), oldest first like a log."""
        sql = f"SELECT {_EVENT_COLS} FROM events"
        params: list[Any] = []
        if deployment is not None:
            sql += " WHERE deployment = ?"
            params.append(deployment)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [Event(*r) for r in reversed(rows)]


def _deployment(row: Row) -> Deployment:
    name, provider, spec, active, status, created, updated = row
    return Deployment(name, provider, json.loads(spec), active, status, created, updated)


def _revision(row: Row) -> Revision:
    deployment, number, spec, digest, status, created, error = row
    return Revision(deployment, number, json.loads(spec), digest, status, created, error)


def _resource(row: Row) -> Resource:
    name, type_, provider, spec, status, connection, created = row
    return Resource(name, type_, provider, json.loads(spec), status, json.loads(connection), created)
