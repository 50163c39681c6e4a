"""Seed 000's "Gerenciamento de Recursos" against LocalProvider, with a real PostgreSQL behind it.

The snippet runs once per module (PostgreSQL takes a second to initialise);
the tests then check what it left: a bucket directory, a PostgreSQL server on
127.0.0.1 with a password, a compute record, and nothing of what was deleted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError, SpecError
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.providers.local import LocalProvider
from pepperpy.cloud.resources.manager import ResourceManager
from pepperpy.cloud.resources.models import (
    ComputeResource,
    DatabaseResource,
    ResourceError,
    StorageResource,
)
from tests.resources import postgres_under, server_home

# Seed 000, "Gerenciamento de Recursos", verbatim after the provider line the seed leaves to the reader.
SEED_SNIPPET = '''
from pepperpy.cloud import (
    ResourceManager,
    StorageResource,
    DatabaseResource,
    ComputeResource
)

# Criar gerenciador de recursos
resource_manager = ResourceManager(provider=aws_provider)

# Provisionar armazenamento
storage = resource_manager.create_resource(
    StorageResource(
        name="pepperpy-data",
        type="object_storage",
        size="100Gi",
        access_policy="private"
    )
)

# Provisionar banco de dados
database = resource_manager.create_resource(
    DatabaseResource(
        name="pepperpy-vectors",
        type="postgres",
        version="14",
        size="small",
        storage="50Gi"
    )
)

# Provisionar recurso de computação
compute = resource_manager.create_resource(
    ComputeResource(
        name="pepperpy-inference",
        type="serverless",
        memory="2Gi",
        cpu="1",
        timeout_seconds=300
    )
)

# Listar recursos
resources = resource_manager.list_resources()
for resource in resources:
    print(f"{resource.name} ({resource.type}): {resource.status}")

# Excluir recurso
resource_manager.delete_resource("pepperpy-inference")
'''


@pytest.fixture(scope="module")
def seed() -> Iterator[dict[str, Any]]:
    out = io.StringIO()
    namespace: dict[str, Any] = {"aws_provider": LocalProvider()}
    with server_home() as home, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEPPERPY_CLOUD_HOME", str(home))
        try:
            with contextlib.redirect_stdout(out):
                exec(SEED_SNIPPET, namespace)
            namespace["output"] = out.getvalue()
            namespace["home"] = home
            yield namespace
        finally:
            manager = namespace.get("resource_manager")
            if manager is not None:
                for res in manager.list_resources():
                    with contextlib.suppress(Exception):
                        manager.delete_resource(res.name)


def test_seed_snippet_lists_name_type_and_status(seed: dict[str, Any]) -> None:
    lines = seed["output"].splitlines()
    assert lines == ["pepperpy-data (object_storage): available",
                     "pepperpy-inference (serverless): ready",
                     "pepperpy-vectors (postgres): running"]
    names = [r.name for r in seed["resource_manager"].list_resources()]
    assert names == ["pepperpy-data", "pepperpy-vectors"]  # the compute resource was deleted


def test_storage_is_a_private_directory_bucket(seed: dict[str, Any]) -> None:
    storage = seed["storage"]
    assert storage.url.startswith("file://")
    bucket = Path(storage.url.removeprefix("file://"))
    assert bucket == seed["home"].resolve() / "resources" / "pepperpy-data" / "bucket"
    assert stat.S_IMODE(bucket.stat().st_mode) == 0o700
    (bucket / "doc.txt").write_text("hello")
    assert storage.details["size_gb"] == "100"


def test_database_is_a_real_postgres_with_pgvector(seed: dict[str, Any]) -> None:
    manager, database = seed["resource_manager"], seed["database"]
    assert database.status == "running" and database.details["engine_version"] == "18"
    # Asking again with an extension converges: same server, extension added.
    again = manager.create_resource(DatabaseResource(name="pepperpy-vectors", extensions=["pgvector"]))
    assert again.details["pid"] == database.details["pid"]
    assert again.connection_string == database.connection_string

    with psycopg.connect(again.connection_string, autocommit=True) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone() == ("vector",)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "pepperpy_vectors", "pepperpy_vectors")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        rows = conn.execute("SELECT id FROM items ORDER BY embedding <=> '[1,0,0]' LIMIT 2").fetchall()
        assert rows == [(1,), (3,)]

    # Listening on 127.0.0.1 only, and the password is required.
    listening = {c.laddr.ip for c in psutil.Process(again.details["pid"]).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    wrong = again.connection_string.replace(again.connection_string.split(":")[2].split("@")[0], "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)


def test_password_never_shown_or_stored_in_clear(seed: dict[str, Any]) -> None:
    database, home = seed["database"], seed["home"]
    password = database.connection_string.split(":")[2].split("@")[0]
    assert len(password) >= 24
    for shown in (repr(database), str(database), json.dumps(database.to_dict()), seed["output"]):
        assert password not in shown
    assert "***" in repr(database)
    creds = home / "resources" / "pepperpy-vectors" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    # Only the 0600 credentials file holds it: not the records, the server log or the data files.
    holders = [p for p in home.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert holders == [creds]
    assert (home / "resources" / "pepperpy-vectors" / "postgres.log").stat().st_size > 0
    assert database.to_dict(reveal=True)["connection_string"] == database.connection_string


def test_compute_is_a_record_with_its_timeout(seed: dict[str, Any]) -> None:
    compute = seed["compute"]
    assert (compute.name, compute.type, compute.status, compute.endpoint) == (
        "pepperpy-inference", "serverless", "ready", None)
    assert compute.details["timeout_seconds"] == 300
    assert compute.details["memory_bytes"] == 2 * 2**30
    with pytest.raises(NotFoundError, match="pepperpy-inference"):
        seed["resource_manager"].get("pepperpy-inference")


def test_serverless_worker_runs_on_demand_and_stops_at_timeout(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("import sys; sys.stdout.write(sys.stdin.read().upper())\n")
    (src / "slow.py").write_text("import time; time.sleep(30)\n")
    manager = ResourceManager(provider=LocalProvider())
    manager.create_resource(ComputeResource(name="upper", memory="512Mi", cpu="0.5", entry_point="handler.py",
                                            source_dir=str(src)))
    assert manager.invoke("upper", b"hello") == b"HELLO"
    manager.create_resource(ComputeResource(name="slow", memory="512Mi", cpu="1", timeout_seconds=1,
                                            entry_point="slow.py", source_dir=str(src)))
    with pytest.raises(ResourceError, match="timed out after 1 s"):
        manager.invoke("slow")
    with pytest.raises(InputError, match="not found"):
        manager.create_resource(ComputeResource(name="nope", memory="1Gi", cpu="1", entry_point="missing.py",
                                                source_dir=str(src)))
    assert [r.name for r in manager.list_resources()] == ["slow", "upper"]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # dead but not reaped is gone too
    except psutil.NoSuchProcess:
        return False


CREATE_AND_EXIT = textwrap.dedent('''
    from pepperpy.cloud.providers.local import LocalProvider
    from pepperpy.cloud.resources.manager import ResourceManager
    from pepperpy.cloud.resources.models import DatabaseResource
    import psycopg
    db = ResourceManager(LocalProvider()).create_resource(DatabaseResource(name="outlives", extensions=["vector"]))
    with psycopg.connect(db.connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v vector(2))")
        conn.execute("INSERT INTO kept VALUES ('[1,2]')")
    print(db.details["pid"])
''')


def test_server_outlives_its_creator_restarts_after_a_crash_and_delete_removes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with server_home() as home:
        monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(home))
        done = subprocess.run([sys.executable, "-c", CREATE_AND_EXIT], capture_output=True, text=True,
                              env={**os.environ, "PEPPERPY_CLOUD_HOME": str(home)}, timeout=60, check=True)
        pid = int(done.stdout.strip())
        manager = ResourceManager(provider=LocalProvider())
        db = manager.get("outlives")
        assert db.status == "running" and db.details["pid"] == pid and psutil.pid_exists(pid)
        port = db.details["port"]

        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.wait_procs([psutil.Process(pid)], timeout=5)
        assert manager.get("outlives").status == "stopped"

        again = manager.create_resource(DatabaseResource(name="outlives", extensions=["vector"]))
        assert again.status == "running" and again.details["pid"] != pid
        assert again.details["port"] == port  # its old port was free, so clients keep their URL
        with psycopg.connect(again.connection_string) as conn:
            assert conn.execute("SELECT v::text FROM kept").fetchall() == [("[1,2]",)]

        data_dir = home / "resources" / "outlives"
        assert postgres_under(data_dir)
        manager.delete_resource("outlives")
        assert not _alive(again.details["pid"])
        assert not postgres_under(data_dir)
        assert not data_dir.exists()
        assert manager.list_resources() == []
        with pytest.raises(NotFoundError, match="outlives"):
            manager.delete_resource("outlives")


def test_bad_arguments_are_spec_errors_naming_the_field() -> None:
    cases = [
        (lambda: StorageResource(name="Pepperpy_Data"), "name"),
        (lambda: StorageResource(name="data", access_policy="world"), "access_policy"),
        (lambda: StorageResource(name="data", size="lots"), "size"),
        (lambda: DatabaseResource(name="db1", extensions=["vector; DROP TABLE x"]), "extensions"),
        (lambda: DatabaseResource(name="db1", version="latest"), "version"),
        (lambda: DatabaseResource(name="db1", type="mysql"), "type"),
        (lambda: ComputeResource(name="fn1", timeout_seconds=0), "timeout_seconds"),
        (lambda: ComputeResource(name="fn1", cpu="0"), "cpu"),
        (lambda: ComputeResource(name="fn1", entry_point="../x.py"), "entry_point"),
        (lambda: ComputeResource(name="fn1", gpu="A100"), "gpu"),
    ]
    for build, field in cases:
        with pytest.raises(SpecError) as info:
            build()
        assert info.value.errors[0][0] == field, info.value.errors


def test_unknown_extension_is_refused_before_anything_is_created(home: Path) -> None:
    manager = ResourceManager(provider=LocalProvider())
    with pytest.raises(InputError, match="not_an_extension not available"):
        manager.create_resource(DatabaseResource(name="bad-db", extensions=["not_an_extension"]))
    assert manager.list_resources() == []
    assert not (home / "resources" / "bad-db").exists()


def test_a_name_keeps_its_type_and_unknown_names_suggest(home: Path) -> None:
    manager = ResourceManager(provider=LocalProvider())
    manager.create_resource(StorageResource(name="docs-bucket", access_policy="public-read"))
    bucket = home / "resources" / "docs-bucket" / "bucket"
    assert stat.S_IMODE(bucket.stat().st_mode) == 0o755
    with pytest.raises(InputError, match="already exists as a object_storage"):
        manager.create_resource(ComputeResource(name="docs-bucket"))
    with pytest.raises(NotFoundError, match="closest: docs-bucket"):
        manager.get("docs-buckt")
    manager.delete_resource("docs-bucket")
    assert not bucket.parent.exists()


def test_a_provider_without_resources_says_so() -> None:
    class Elsewhere(CloudProvider):
        name = "elsewhere"
        display_name = "Elsewhere"

    with pytest.raises(NotSupportedError, match="Elsewhere cannot resources"):
        ResourceManager(provider=Elsewhere())


def test_records_go_to_the_state_store_or_a_private_json_file(home: Path) -> None:
    from pepperpy.cloud.deploy.state import StateStore
    from pepperpy.cloud.resources.manager import JsonResourceStore

    ResourceManager(provider=LocalProvider()).create_resource(StorageResource(name="in-state"))
    assert [r.name for r in StateStore.open().list_resources()] == ["in-state"]

    store = JsonResourceStore(home / "resources.json")
    manager = ResourceManager(provider=LocalProvider(), store=store)
    manager.create_resource(StorageResource(name="in-json", versioning=True))
    assert stat.S_IMODE((home / "resources.json").stat().st_mode) == 0o600
    saved = json.loads((home / "resources.json").read_text())["resources"]["in-json"]
    assert saved["spec"]["versioning"] is True and saved["provider"] == "local"
    assert [r.name for r in manager.list_resources()] == ["in-json"]
    manager.delete_resource("in-json")
    assert json.loads((home / "resources.json").read_text())["resources"] == {}


def test_a_failed_first_create_leaves_nothing_and_a_crashed_one_converges(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud.providers.local import resources as local
    from pepperpy.cloud.resources.manager import default_store
    from pepperpy.cloud.resources.models import ResourceRecord

    with server_home() as home:
        monkeypatch.setenv("PEPPERPY_CLOUD_HOME", str(home))
        manager = ResourceManager(provider=LocalProvider())

        def refuse(self: Any, user: Any, preferred_port: int | None) -> int:
            raise ResourceError("PostgreSQL did not start: simulated")

        with monkeypatch.context() as mp:
            mp.setattr(local._Postgres, "start", refuse)
            with pytest.raises(ResourceError, match="simulated"):
                manager.create_resource(DatabaseResource(name="fails-once"))
        assert manager.list_resources() == []
        assert not (home / "resources" / "fails-once").exists()

        # A run killed half-way: its placeholder record and a data dir initdb never finished.
        default_store().upsert_resource(ResourceRecord(name="half-made", type="postgres", provider="local",
                                                       spec={"name": "half-made", "type": "postgres"},
                                                       details={"state": "creating"}))
        (home / "resources" / "half-made" / "pgdata").mkdir(parents=True)
        (home / "resources" / "half-made" / "pgdata" / "PG_VERSION").write_text("18\n")
        db = manager.create_resource(DatabaseResource(name="half-made"))
        assert db.status == "running"
        with psycopg.connect(db.connection_string) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        manager.delete_resource("half-made")
        assert not postgres_under(home)
