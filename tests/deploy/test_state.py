"""The state store: one behaviour suite run against SQLite and against the machine's PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pepperpy.cloud.deploy.state import ReplicaInfo, StateStore, spec_hash
from pepperpy.cloud.errors import InputError, LockedError, NotFoundError, PepperpyCloudError

PG_ADMIN_URL = os.environ.get("PEPPERPY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = "replicas, revisions, deployments, resources, events, locks, schema_version"


class Clock:
    """A settable clock so lease expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database on the local server for this run, dropped afterwards."""
    try:
        import psycopg
        from psycopg import sql

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        reason = f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"pepperpy_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None means the default SQLite file under the test's home; else a PostgreSQL URL with empty tables."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if request.param == "sqlite":
        return None
    pg_url: str = request.getfixturevalue("pg_database")
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLES} CASCADE")
    return pg_url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_store(url: str | None, clock: Clock) -> Iterator[Callable[[], StateStore]]:
    """Opens as many stores on the same backend as a test needs (each its own connection)."""
    opened: list[StateStore] = []

    def factory() -> StateStore:
        store = StateStore.open(url, clock=clock)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], StateStore]) -> StateStore:
    return open_store()


# --- where the state lives ---------------------------------------------------------------

def test_sqlite_is_the_default_under_home_in_wal_mode(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://someone-elses-app/db")  # not ours: ignored
    with StateStore.open() as store:
        assert store.backend == "sqlite"
        store.upsert_deployment("app", "local", {})
    db = home / "state.db"
    assert db.is_file() and stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_database_url_switches_to_postgres(pg_database: str, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_database)
    with StateStore.open() as store:
        assert store.backend == "postgresql"
        store.upsert_deployment("pg-app", "local", {})
        assert store.get_deployment("pg-app") is not None
    assert not (home / "state.db").exists()


def test_unreachable_postgres_says_so_without_the_password() -> None:
    with pytest.raises(PepperpyCloudError) as err:
        StateStore.open("postgresql://user:hunter2-pass@127.0.0.1:1/nowhere")
    text = str(err.value)
    assert "cannot connect to the state store" in text and "DATABASE_URL" in text
    assert "hunter2-pass" not in text and "user:***@" in text


def test_reopen_keeps_data_and_refuses_a_newer_schema(open_store: Callable[[], StateStore]) -> None:
    first = open_store()
    first.upsert_deployment("app", "local", {"replicas": 2})
    first.close()
    second = open_store()
    found = second.get_deployment("app")
    assert found is not None and found.spec == {"replicas": 2}
    second._run("UPDATE schema_version SET version = 99")
    with pytest.raises(PepperpyCloudError, match="schema version 99"):
        open_store()


# --- leases ------------------------------------------------------------------------------

def test_live_lease_blocks_another_owner_and_names_it(open_store: Callable[[], StateStore]) -> None:
    alice, bob = open_store(), open_store()
    with alice.lock("app", owner="alice", ttl=60):
        with pytest.raises(LockedError) as err:
            bob.acquire("app", owner="bob")
        assert err.value.owner == "alice" and err.value.exit_code == 3 and err.value.http_status == 409
        message = str(err.value)
        assert "alice" in message and "expires at" in message and "in 60s" in message
        assert "pepperpy-cloud force-unlock app" in message
    # released on exit: bob gets it
    with bob.lock("app", owner="bob") as lease:
        assert bob.get_lock("app") is not None and lease.owner == "bob"
    assert bob.get_lock("app") is None


def test_lock_is_released_when_the_body_fails(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("app", owner="alice"):
        raise RuntimeError("apply failed")
    assert store.get_lock("app") is None


def test_default_owner_is_unique_per_run(store: StateStore) -> None:
    with store.lock("app") as lease:
        assert str(os.getpid()) in lease.owner
        with pytest.raises(LockedError):
            store.acquire("app")


def test_expired_lease_is_taken_over_and_recorded(open_store: Callable[[], StateStore], clock: Clock) -> None:
    crashed, bob = open_store(), open_store()
    crashed.acquire("app", owner="crashed-run", ttl=10)
    clock.advance(11)
    lease = bob.acquire("app", owner="bob", ttl=30)
    held = bob.get_lock("app")
    assert held is not None and held.owner == "bob" and lease.expires_at == clock.now + 30
    takeover = [e for e in bob.events("app") if e.kind == "lock-takeover"]
    assert len(takeover) == 1
    assert "crashed-run" in takeover[0].message and "bob" in takeover[0].message
    # the old owner finds out rather than carrying on: renew fails, release leaves bob's lease alone
    with pytest.raises(LockedError, match="bob"):
        crashed.renew("app", "crashed-run")
    assert crashed.release("app", "crashed-run") is False
    assert bob.get_lock("app") is not None


def test_renew_keeps_a_long_run_alive(open_store: Callable[[], StateStore], clock: Clock) -> None:
    alice, bob = open_store(), open_store()
    lease = alice.acquire("app", owner="alice", ttl=10)
    clock.advance(8)
    lease.renew()
    assert lease.expires_at == clock.now + 10
    clock.advance(8)  # 16 s after acquiring: expired without the renew
    with pytest.raises(LockedError):
        bob.acquire("app", owner="bob")
    clock.advance(3)
    assert bob.acquire("app", owner="bob").owner == "bob"


def test_same_owner_reacquires_without_takeover_event(store: StateStore, clock: Clock) -> None:
    store.acquire("app", owner="alice", ttl=10)
    clock.advance(5)
    lease = store.acquire("app", owner="alice", ttl=10)
    assert lease.expires_at == clock.now + 10
    assert store.events("app") == []


def test_force_unlock_is_recorded(open_store: Callable[[], StateStore]) -> None:
    alice, ops = open_store(), open_store()
    alice.acquire("app", owner="alice", ttl=3600)
    broken = ops.force_unlock("app", "the deploy host died")
    assert broken is not None and broken.owner == "alice"
    assert ops.get_lock("app") is None
    [event] = ops.events("app")
    assert event.kind == "force-unlock" and "alice" in event.message and "the deploy host died" in event.message
    assert ops.acquire("app", owner="ops").owner == "ops"
    with pytest.raises(LockedError, match="released or force-unlocked|ops"):
        alice.renew("app", "alice")
    assert ops.force_unlock("nothing-here", "cleanup") is None
    assert [e.kind for e in ops.events()] == ["force-unlock"]


def _race(stores: list[StateStore], name: str) -> tuple[list[str], list[LockedError]]:
    """Every store tries to take ``name`` at the same instant; winners hold it until all have tried."""
    start, done = threading.Barrier(len(stores), timeout=30), threading.Barrier(len(stores), timeout=30)
    winners: list[str] = []
    losers: list[LockedError] = []
    errors: list[BaseException] = []

    def attempt(i: int, store: StateStore) -> None:
        try:
            start.wait()
            try:
                winners.append(store.acquire(name, owner=f"runner-{i}", ttl=60).owner)
            except LockedError as exc:
                losers.append(exc)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)
        finally:
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()

    threads = [threading.Thread(target=attempt, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return winners, losers


def test_racing_for_a_free_lock_exactly_one_wins(open_store: Callable[[], StateStore]) -> None:
    stores = [open_store() for _ in range(8)]
    for round_ in range(3):
        winners, losers = _race(stores, f"race-{round_}")
        assert len(winners) == 1 and len(losers) == 7
        assert {exc.owner for exc in losers} == set(winners)


def test_racing_to_take_over_an_expired_lease_exactly_one_wins(
        open_store: Callable[[], StateStore], clock: Clock) -> None:
    stores = [open_store() for _ in range(8)]
    stores[0].acquire("app", owner="crashed-run", ttl=5)
    clock.advance(6)
    winners, losers = _race(stores, "app")
    assert len(winners) == 1 and len(losers) == 7
    assert [e.kind for e in stores[0].events("app")] == ["lock-takeover"]


def test_bad_ttl_is_refused(store: StateStore) -> None:
    with pytest.raises(InputError, match="ttl"):
        store.acquire("app", ttl=0)


# --- deployments, revisions, replicas ------------------------------------------------------

def test_deployment_upsert_keeps_created_at(store: StateStore, clock: Clock) -> None:
    first = store.upsert_deployment("app", "local", {"image": "a:1"})
    clock.advance(10)
    second = store.upsert_deployment("app", "local", {"image": "a:2"}, status="running")
    assert second.created_at == first.created_at and second.updated_at == first.updated_at + 10
    assert second.spec == {"image": "a:2"} and second.status == "running" and second.active_revision is None
    store.upsert_deployment("api", "local", {})
    assert [d.name for d in store.list_deployments()] == ["api", "app"]
    store.set_deployment_status("app", "stopped")
    found = store.get_deployment("app")
    assert found is not None and found.status == "stopped"
    assert store.get_deployment("nope") is None
    with pytest.raises(NotFoundError, match="closest: app"):
        store.set_deployment_status("apq", "running")


def test_specs_are_stored_as_given_with_secret_references(store: StateStore) -> None:
    spec = {"env": {"OPENAI_API_KEY": "${SECRET:openai}", "MODE": "prod"}, "port": 8000}
    store.upsert_deployment("app", "local", spec)
    number = store.add_revision("app", spec)
    revision = store.get_revision("app", number)
    assert revision is not None and revision.spec == spec and revision.spec_hash == spec_hash(spec)


def test_revisions_are_numbered_per_deployment(store: StateStore) -> None:
    store.upsert_deployment("app", "local", {})
    store.upsert_deployment("other", "local", {})
    assert [store.add_revision("app", {"v": v}) for v in (1, 2, 1)] == [1, 2, 3]
    assert store.add_revision("other", {"v": 1}) == 1
    revs = store.revisions("app")
    assert [r.number for r in revs] == [1, 2, 3] and all(r.status == "pending" for r in revs)
    assert revs[0].spec_hash == revs[2].spec_hash != revs[1].spec_hash
    with pytest.raises(NotFoundError, match="deployment"):
        store.add_revision("missing", {})
    with pytest.raises(InputError, match="set_active_revision"):
        store.add_revision("app", {}, status="active")


def test_concurrent_add_revision_never_reuses_a_number(open_store: Callable[[], StateStore]) -> None:
    stores = [open_store() for _ in range(6)]
    stores[0].upsert_deployment("app", "local", {})
    start = threading.Barrier(len(stores), timeout=30)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def add(store: StateStore) -> None:
        try:
            start.wait()
            numbers.extend(store.add_revision("app", {"n": i}) for i in range(5))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(numbers) == list(range(1, 31))


def test_activating_a_revision_retires_the_previous_one(store: StateStore) -> None:
    store.upsert_deployment("app", "local", {})
    for v in range(3):
        store.add_revision("app", {"v": v})
    store.set_revision_status("app", 1, "ready")
    store.set_active_revision("app", 1)
    store.set_active_revision("app", 2)
    store.set_revision_status("app", 3, "failed", error="readiness /ready answered 500")
    assert [(r.number, r.status) for r in store.revisions("app")] == [(1, "retired"), (2, "active"), (3, "failed")]
    assert store.revisions("app")[2].error == "readiness /ready answered 500"
    deployment = store.get_deployment("app")
    assert deployment is not None and deployment.active_revision == 2
    # rollback
    store.set_revision_status("app", 1, "active")
    assert [r.status for r in store.revisions("app")] == ["active", "retired", "failed"]
    # a failed write changes nothing
    with pytest.raises(InputError, match="no revision 9"):
        store.set_active_revision("app", 9)
    assert [r.status for r in store.revisions("app")] == ["active", "retired", "failed"]
    # leaving 'active' clears the pointer
    store.set_revision_status("app", 1, "retired")
    deployment = store.get_deployment("app")
    assert deployment is not None and deployment.active_revision is None
    with pytest.raises(InputError, match="not a revision status"):
        store.set_revision_status("app", 1, "running")


def test_replicas_are_replaced_per_revision(store: StateStore) -> None:
    store.upsert_deployment("app", "local", {})
    store.add_revision("app", {})
    store.add_revision("app", {})
    store.replace_replicas("app", 1, [ReplicaInfo(0, 101, 9001, "ready", 5.0), ReplicaInfo(1, 102, 9002)])
    got = store.replace_replicas("app", 2, [ReplicaInfo(0, 201, 9101, "starting")])
    assert [(r.revision, r.index, r.pid, r.port) for r in got] == [(2, 0, 201, 9101)]
    assert [(r.revision, r.index, r.status) for r in store.replicas("app")] == [
        (1, 0, "ready"), (1, 1, "starting"), (2, 0, "starting")]
    store.replace_replicas("app", 1, [])  # old revision drained
    assert [(r.revision, r.pid) for r in store.replicas("app")] == [(2, 201)]
    with pytest.raises(InputError, match="no revision 7"):
        store.replace_replicas("app", 7, [ReplicaInfo(0, 1, 1)])


def test_delete_deployment_cascades_but_keeps_the_audit_trail(store: StateStore) -> None:
    store.upsert_deployment("app", "local", {})
    store.upsert_deployment("keep", "local", {})
    for name in ("app", "keep"):
        store.add_revision(name, {})
        store.add_revision(name, {})
        store.replace_replicas(name, 2, [ReplicaInfo(0, 1, 9000)])
    store.record_event("deployed", "revision 2 serving", deployment="app")
    assert store.delete_deployment("app") is True
    assert store.get_deployment("app") is None
    assert store.revisions("app") == [] and store.replicas("app") == []
    assert len(store.revisions("keep")) == 2 and len(store.replicas("keep")) == 1
    assert [e.kind for e in store.events("app")] == ["deployed"]
    assert store.delete_deployment("app") is False
    store.upsert_deployment("app", "local", {})
    assert store.add_revision("app", {}) == 1


# --- resources and events ----------------------------------------------------------------

def test_resources_crud(store: StateStore, clock: Clock) -> None:
    created = store.upsert_resource("db", "postgres", "local", {"extensions": ["pgvector"]},
                                    connection={"host": "127.0.0.1", "port": 5433, "password": "${SECRET:db}"})
    clock.advance(5)
    updated = store.upsert_resource("db", "postgres", "local", {"extensions": ["pgvector"]}, status="ready",
                                    connection=created.connection)
    assert updated.created_at == created.created_at and updated.status == "ready"
    assert updated.connection["port"] == 5433
    store.upsert_resource("bucket", "object_storage", "local", {})
    assert [(r.name, r.type, r.status) for r in store.list_resources()] == [
        ("bucket", "object_storage", "pending"), ("db", "postgres", "ready")]
    assert store.delete_resource("db") is True and store.get_resource("db") is None
    assert store.delete_resource("db") is False


def test_events_filter_order_and_limit(store: StateStore, clock: Clock) -> None:
    for i in range(5):
        clock.advance(1)
        store.record_event("step", f"step {i}", deployment="app")
    event = store.record_event("note", "global")
    assert event.deployment is None and event.at == clock.now and event.id > 0
    assert [e.message for e in store.events("app")] == [f"step {i}" for i in range(5)]
    assert [e.message for e in store.events("app", limit=2)] == ["step 3", "step 4"]
    assert [e.message for e in store.events(limit=2)] == ["step 4", "global"]
    assert store.events("other") == []
