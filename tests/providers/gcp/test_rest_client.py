"""GcpClient against a scripted HTTP server on 127.0.0.1: retries on 429/5xx honouring Retry-After, Cloud SQL and
google.longrunning operations, idempotent create, cleanup after a partial failure, secrets only on the wire,
one-line errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp import cloudrun, cloudsql, memorystore, secret_manager
from pepperpy.cloud.providers.gcp.naming import GcpTarget
from pepperpy.cloud.providers.gcp.rest import GcpClient, SecretRef
from pepperpy.cloud.resources.models import ResourceError
from pepperpy.cloud.spec.stack import Component, Service
from tests.providers.azure.fake_http import FakeGoogleCredentials, FakeServer

TARGET = GcpTarget("acme-prod", "us-central1", "bsc-rag")
OURS = {"managed-by": "pepperpy-cloud", "stack": "bsc-rag"}
SQL = "/v1/projects/acme-prod/instances"
RUN = "/v2/projects/acme-prod/locations/us-central1/services"
SVC = Service(image="us-docker.pkg.dev/acme/app:1.0", replicas={"min": 1, "max": 3})


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.close()


def client(server: FakeServer, **kwargs) -> tuple[GcpClient, list[float]]:
    waits: list[float] = []
    opts = {"max_retries": 3, "retry_backoff": 0.5, "poll_interval": 2.0, "sleep": waits.append} | kwargs
    return GcpClient(FakeGoogleCredentials(), source="credentials file 'sa.json'", region="us-central1",
                     endpoint_url=server.url, **opts), waits


def test_cloud_sql_insert_retries_then_polls_the_operation(server: FakeServer) -> None:
    res = cloudsql.instance(TARGET, "db", Component(kind="postgres", size="small"))
    server.route("POST", SQL, (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "5"}),
                 (503, {}, {}), (200, {"kind": "sql#operation", "name": "op-1", "status": "PENDING"}, {}))
    server.route("GET", "/v1/projects/acme-prod/operations/op-1", (200, {"name": "op-1", "status": "RUNNING"}, {}),
                 (200, {"name": "op-1", "status": "DONE", "targetId": "bsc-rag-db"}, {}))
    gcp, waits = client(server, resolve=lambda ref: "root-pw")
    result = gcp.send(res.create)
    assert result["status"] == "DONE"
    assert waits == [5.0, 1.0, 2.0, 2.0]  # Retry-After, backoff, then two polls
    sent = server.requests("POST", SQL)
    assert len(sent) == 3 and sent[-1].body["rootPassword"] == "root-pw"
    assert sent[-1].headers["Authorization"] == "Bearer test-token"
    assert res.create.payload()["rootPassword"] == "${SECRET:db-admin}"


def test_longrunning_operation_error_is_one_line(server: FakeServer) -> None:
    res = memorystore.instance(TARGET, "cache", Component(kind="redis"))
    base = "/v1/projects/acme-prod/locations/us-central1/instances"
    server.route("POST", base, (200, {"name": "projects/acme-prod/locations/us-central1/operations/o1", "done": False}, {}))
    server.route("GET", "/v1/projects/acme-prod/locations/us-central1/operations/o1",
                 (200, {"name": "x", "done": True, "error": {"code": 8, "message": "quota https://x?token=abc"}}, {}))
    gcp, _ = client(server)
    with pytest.raises(ResourceError) as info:
        gcp.send(res.create)
    line = str(info.value)
    assert line.startswith("GCP create Memorystore instance 'bsc-rag-cache': throttled or over quota (RESOURCE_EXHAUSTED)")
    assert "token=abc" not in line and "fix:" in line
    assert server.requests("POST", base)[0].query["instanceId"] == ["bsc-rag-cache"]


def test_cloud_run_create_returns_the_operation_response(server: FakeServer) -> None:
    res = cloudrun.service(TARGET, "app", SVC)
    server.route("POST", RUN, (200, {"name": "projects/acme-prod/locations/us-central1/operations/r1"}, {}))
    server.route("GET", "/v2/projects/acme-prod/locations/us-central1/operations/r1",
                 (200, {"done": True, "response": {"name": "bsc-rag-app", "uri": "https://bsc-rag-app-x.run.app"}}, {}))
    gcp, _ = client(server)
    assert gcp.ensure(res, "bsc-rag") == {"name": "bsc-rag-app", "uri": "https://bsc-rag-app-x.run.app"}
    assert server.requests("POST", RUN)[0].body["template"]["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 3}


@pytest.mark.parametrize(("status", "error", "start"), [
    (403, {"code": 403, "status": "PERMISSION_DENIED", "details": [{"reason": "SERVICE_DISABLED"}]},
     "project: GCP create Cloud Run service 'bsc-rag-app': the run.googleapis.com API is not enabled"),
    (403, {"code": 403, "status": "PERMISSION_DENIED"},
     "credentials: GCP create Cloud Run service 'bsc-rag-app': the credentials file 'sa.json' is not allowed"),
    (401, {"code": 401, "status": "UNAUTHENTICATED"},
     "credentials: GCP create Cloud Run service 'bsc-rag-app': authentication failed"),
    (400, {"code": 400, "status": "INVALID_ARGUMENT"},
     "spec: GCP create Cloud Run service 'bsc-rag-app': Google Cloud rejected the request"),
])
def test_google_errors_are_one_clear_line(server: FakeServer, status: int, error: dict, start: str) -> None:
    server.route("POST", RUN, (status, {"error": error}, {}))
    gcp, waits = client(server)
    with pytest.raises(InputError) as info:
        gcp.send(cloudrun.service(TARGET, "app", SVC).create)
    assert str(info.value).startswith(start) and "fix:" in str(info.value) and waits == []


def test_ensure_refuses_a_stranger_and_converges_ours(server: FakeServer) -> None:
    res = cloudrun.service(TARGET, "app", SVC)
    server.route("GET", f"{RUN}/bsc-rag-app", (200, {"name": "bsc-rag-app", "labels": {"team": "other"}}, {}))
    gcp, _ = client(server)
    with pytest.raises(InputError, match="exists and is not managed by pepperpy-cloud"):
        gcp.ensure(res, "bsc-rag")
    server.route("GET", f"{RUN}/bsc-rag-app", (200, {"name": "bsc-rag-app", "labels": OURS}, {}))
    server.route("PATCH", f"{RUN}/bsc-rag-app", (200, {"name": "op", "done": True, "response": {"ok": 1}}, {}))
    assert gcp.ensure(res, "bsc-rag") == {"ok": 1}
    assert server.requests("POST") == []


def test_already_exists_race_converges(server: FakeServer) -> None:
    res = secret_manager.secret(TARGET, "db_password")
    path = "/v1/projects/acme-prod/secrets/bsc-rag-db_password"
    server.route("GET", path, (404, {}, {}), (200, {"name": path, "labels": OURS}, {}))
    server.route("POST", "/v1/projects/acme-prod/secrets", (409, {"error": {"code": 409, "status": "ALREADY_EXISTS"}}, {}))
    server.route("PATCH", path, (200, {"labels": OURS}, {}))
    gcp, _ = client(server)
    assert gcp.ensure(res, "bsc-rag") == {"labels": OURS}


def test_partial_failure_unprotects_and_deletes_the_fresh_instance(server: FakeServer) -> None:
    db = cloudsql.instance(TARGET, "db", Component(kind="postgres"))
    svc = cloudrun.service(TARGET, "app", SVC)
    server.route("POST", SQL, (200, {"name": "op-2", "status": "DONE"}, {}))
    server.route("POST", RUN, (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, {}))
    server.route("PATCH", f"{SQL}/bsc-rag-db", (200, {"name": "op-3", "status": "DONE"}, {}))
    server.route("DELETE", f"{SQL}/bsc-rag-db", (200, {"name": "op-4", "status": "DONE"}, {}))
    gcp, _ = client(server, resolve=lambda ref: "pw")
    with pytest.raises(InputError, match="rejected the request"):
        gcp.apply([db, svc], "bsc-rag")
    patch = server.requests("PATCH", f"{SQL}/bsc-rag-db")
    assert patch[0].body == {"settings": {"deletionProtectionEnabled": False}}
    assert len(server.requests("DELETE", f"{SQL}/bsc-rag-db")) == 1
    assert patch[0].at < server.requests("DELETE", f"{SQL}/bsc-rag-db")[0].at


def test_secret_manager_resolver_generates_once_and_reads_back(server: FakeServer) -> None:
    sid = "/v1/projects/acme-prod/secrets/bsc-rag-db-admin"
    server.route("GET", f"{sid}/versions/latest:access", (404, {}, {}))
    server.route("GET", sid, (404, {}, {}))
    server.route("POST", "/v1/projects/acme-prod/secrets", (200, {"name": sid, "labels": OURS}, {}))
    server.route("POST", f"{sid}:addVersion", (200, {"name": f"{sid}/versions/1"}, {}))
    gcp, _ = client(server)
    value = secret_manager.SecretManagerSecrets(gcp, TARGET)(SecretRef("db-admin", generate=True))
    added = server.requests("POST", f"{sid}:addVersion")[0].body
    assert base64.b64decode(added["payload"]["data"]).decode() == value and len(value) >= 32
    data = base64.b64encode(b"stored").decode()
    server.route("GET", f"{sid}/versions/latest:access", (200, {"payload": {"data": data}}, {}))
    assert secret_manager.SecretManagerSecrets(gcp, TARGET)(SecretRef("db-admin", generate=True)) == "stored"


def test_missing_user_secret_says_how_to_add_it(server: FakeServer) -> None:
    gcp, _ = client(server)
    with pytest.raises(InputError, match="fix: gcloud secrets versions add bsc-rag-openai_key --data-file=VALUE_FILE"):
        secret_manager.SecretManagerSecrets(gcp, TARGET)(SecretRef("openai_key"))
