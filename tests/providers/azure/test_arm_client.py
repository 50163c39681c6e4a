"""ArmClient against a scripted HTTP server on 127.0.0.1: retries on 429/5xx honouring Retry-After, long-running
operations, idempotent create, cleanup after a partial failure, secrets resolved only on the wire, one-line errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.azure import foundation, keyvault, postgres
from pepperpy.cloud.providers.azure.arm import ArmClient, SecretRef
from pepperpy.cloud.providers.azure.naming import AzureTarget
from pepperpy.cloud.resources.models import ResourceError
from pepperpy.cloud.spec.stack import Component
from tests.providers.azure.fake_http import FakeServer, FakeToken

SUB = "00000000-0000-0000-0000-000000000001"
TARGET = AzureTarget(SUB, "eastus", "bsc-rag", tenant_id="tenant-1")
OURS = {"managed-by": "pepperpy-cloud", "stack": "bsc-rag"}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.close()


def client(server: FakeServer, **kwargs) -> tuple[ArmClient, list[float]]:
    waits: list[float] = []
    opts = {"max_retries": 3, "retry_backoff": 0.5, "poll_interval": 2.0, "sleep": waits.append} | kwargs
    return ArmClient(FakeToken(), source="service principal", region="eastus", endpoint_url=server.url, **opts), waits


def test_429_is_retried_after_the_retry_after_seconds(server: FakeServer) -> None:
    req = foundation.resource_group(TARGET)
    server.route("PUT", req.path, (429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"}),
                 (503, {"error": {"code": "ServerBusy"}}, {}), (200, {"name": "bsc-rag-rg", "tags": OURS}, {}))
    arm, waits = client(server)
    assert arm.send(req) == {"name": "bsc-rag-rg", "tags": OURS}
    assert waits == [7.0, 1.0]  # Retry-After honoured, then backoff 0.5 * 2**1
    seen = server.requests("PUT", req.path)
    assert len(seen) == 3 and all(s.query["api-version"] == ["2024-03-01"] for s in seen)
    assert seen[0].headers["Authorization"] == "Bearer test-token"
    assert seen[0].body == {"location": "eastus", "tags": OURS}


def test_retry_after_is_really_waited_with_the_default_sleep(server: FakeServer) -> None:
    req = foundation.resource_group(TARGET)
    server.route("PUT", req.path, (429, {}, {"Retry-After": "1"}), (200, {"tags": OURS}, {}))
    arm = ArmClient(FakeToken(), endpoint_url=server.url, max_retries=2)
    arm.send(req)
    first, second = server.requests("PUT", req.path)
    assert second.at - first.at >= 0.95


def test_throttling_that_never_ends_is_one_line(server: FakeServer) -> None:
    req = foundation.resource_group(TARGET)
    server.route("PUT", req.path, (429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "1"}))
    arm, waits = client(server, max_retries=2)
    with pytest.raises(ResourceError) as info:
        arm.send(req)
    assert len(waits) == 2
    assert str(info.value) == ("Azure create resource group 'bsc-rag-rg': throttled by Azure (TooManyRequests) after "
                               "retrying with backoff; fix: retry later, or raise max_retries on AzureProvider")


def test_async_operation_is_polled_until_it_succeeds_then_the_resource_is_read(server: FakeServer) -> None:
    req = postgres.server(TARGET, "db", Component(kind="postgres"))
    op = "/subscriptions/x/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/op1"
    server.route("PUT", req.path, (201, {"properties": {"provisioningState": "Accepted"}},
                                   {"Azure-AsyncOperation": "https://management.azure.com" + op, "Retry-After": "3"}))
    server.route("GET", op, (200, {"status": "InProgress"}, {}), (200, {"status": "InProgress"}, {"Retry-After": "4"}),
                 (200, {"status": "Succeeded"}, {}))
    server.route("GET", req.path, (200, {"name": "bsc-rag-db", "tags": OURS,
                                         "properties": {"provisioningState": "Succeeded"}}, {}))
    arm, waits = client(server, resolve=lambda ref: "pw-from-vault")
    result = arm.send(req)
    assert result is not None and result["name"] == "bsc-rag-db"
    assert waits == [3.0, 2.0, 4.0]  # Retry-After of the PUT, the poll interval, then the poll's Retry-After
    assert len(server.requests("GET", op)) == 3
    # the password reached the server only on the wire
    assert server.requests("PUT", req.path)[0].body["properties"]["administratorLoginPassword"] == "pw-from-vault"
    assert req.payload()["properties"]["administratorLoginPassword"] == "${SECRET:bsc-rag-db-admin}"


def test_failed_operation_is_one_line_with_the_region_fix(server: FakeServer) -> None:
    req = postgres.server(TARGET, "db", Component(kind="postgres"))
    op = "/ops/2"
    server.route("PUT", req.path, (201, {}, {"Azure-AsyncOperation": "{base}" + op}))
    server.route("GET", op, (200, {"status": "Failed", "error": {"code": "LocationNotAvailableForResourceType"}}, {}))
    arm, _ = client(server, resolve=lambda ref: "pw")
    with pytest.raises(InputError) as info:
        arm.send(req)
    line = str(info.value)
    assert line.startswith("region: Azure create PostgreSQL flexible server 'bsc-rag-db': "
                           "Microsoft.DBforPostgreSQL/flexibleServers is not offered in region 'eastus'")
    assert "fix: pick a region listed by az provider show -n Microsoft.DBforPostgreSQL" in line
    assert "\n" not in line


def test_location_header_is_polled_until_not_202(server: FakeServer) -> None:
    req = foundation.resource_group(TARGET).delete()
    server.route("DELETE", req.path, (202, None, {"Location": "{base}/ops/3"}))
    server.route("GET", "/ops/3", (202, None, {}), (200, None, {}))
    arm, waits = client(server)
    assert arm.send(req) is None
    assert len(server.requests("GET", "/ops/3")) == 2 and waits == [2.0, 2.0]


@pytest.mark.parametrize(("status", "code", "start"), [
    (401, "InvalidAuthenticationToken", "credentials: Azure create resource group 'bsc-rag-rg': authentication failed"),
    (403, "AuthorizationFailed", "credentials: Azure create resource group 'bsc-rag-rg': the service principal is "
                                 "not allowed"),
    (409, "MissingSubscriptionRegistration", "subscription_id: Azure create resource group 'bsc-rag-rg': the "
                                             "subscription is not registered"),
    (400, "InvalidResourceName", "name: Azure create resource group 'bsc-rag-rg': Azure rejects"),
])
def test_arm_errors_are_one_clear_line(server: FakeServer, status: int, code: str, start: str) -> None:
    req = foundation.resource_group(TARGET)
    server.route("PUT", req.path, (status, {"error": {"code": code, "message": "https://secret?sig=abc"}}, {}))
    arm, waits = client(server)
    with pytest.raises(InputError) as info:
        arm.send(req)
    assert str(info.value).startswith(start) and "fix:" in str(info.value)
    assert "sig=abc" not in str(info.value) and waits == []  # client errors are not retried


def test_ensure_refuses_a_resource_that_is_not_ours(server: FakeServer) -> None:
    req = foundation.resource_group(TARGET)
    server.route("GET", req.path, (200, {"name": "bsc-rag-rg", "tags": {"owner": "someone"}}, {}))
    arm, _ = client(server)
    with pytest.raises(InputError, match="exists and is not managed by pepperpy-cloud"):
        arm.ensure(req, "bsc-rag")
    assert server.requests("PUT") == []


def test_ensure_converges_ours_and_apply_is_idempotent(server: FakeServer) -> None:
    group = foundation.resource_group(TARGET)
    account = foundation.storage_account_request(TARGET)
    for req in (group, account):
        server.route("GET", req.path, (200, {"tags": OURS}, {}))
        server.route("PUT", req.path, (200, {"tags": OURS}, {}))
    arm, _ = client(server)
    applied = arm.apply([group, account], "bsc-rag")
    assert applied.created == [] and applied.updated == [group, account]


def test_partial_failure_deletes_what_this_run_created(server: FakeServer) -> None:
    group = foundation.resource_group(TARGET)
    account = foundation.storage_account_request(TARGET)
    server.route("PUT", group.path, (201, {"tags": OURS}, {}))
    server.route("PUT", account.path, (409, {"error": {"code": "StorageAccountAlreadyTaken"}}, {}))
    server.route("DELETE", group.path, (202, None, {"Location": "{base}/ops/del"}))
    server.route("GET", "/ops/del", (200, None, {}))
    arm, _ = client(server)
    with pytest.raises(InputError, match="rejects or has already given away the name"):
        arm.apply([group, account], "bsc-rag")
    assert len(server.requests("DELETE", group.path)) == 1


def test_failed_cleanup_names_what_was_left(server: FakeServer) -> None:
    group = foundation.resource_group(TARGET)
    account = foundation.storage_account_request(TARGET)
    server.route("PUT", group.path, (201, {"tags": OURS}, {}))
    server.route("PUT", account.path, (400, {"error": {"code": "InvalidParameter", "target": "sku"}}, {}))
    server.route("DELETE", group.path, (403, {"error": {"code": "AuthorizationFailed"}}, {}))
    arm, _ = client(server)
    with pytest.raises(ResourceError, match=r"cleanup also failed, left behind: /subscriptions/.*/bsc-rag-rg"):
        arm.apply([group, account], "bsc-rag")


def test_key_vault_resolver_generates_a_password_once_and_reads_it_back(server: FakeServer) -> None:
    ref = SecretRef("bsc-rag-db-admin", generate=True)
    server.route("GET", "/secrets/bsc-rag-db-admin", (404, {"error": {"code": "SecretNotFound"}}, {}))
    server.route("PUT", "/secrets/bsc-rag-db-admin", (200, {"id": "x"}, {}))
    arm, _ = client(server)
    value = keyvault.KeyVaultSecrets(arm, "bsc-rag")(ref)
    put = server.requests("PUT", "/secrets/bsc-rag-db-admin")[0]
    assert put.body["value"] == value and len(value) >= 32 and put.query["api-version"] == ["7.5"]
    assert arm.credential.scopes[-1] == "https://vault.azure.net/.default"
    server.route("GET", "/secrets/bsc-rag-db-admin", (200, {"value": "stored"}, {}))
    assert keyvault.KeyVaultSecrets(arm, "bsc-rag")(ref) == "stored"


def test_missing_user_secret_says_how_to_set_it(server: FakeServer) -> None:
    arm, _ = client(server)
    with pytest.raises(InputError, match=r"fix: az keyvault secret set --vault-name bscragkv370637 --name db-password"):
        keyvault.KeyVaultSecrets(arm, "bsc-rag")(SecretRef("db_password"))


def test_connection_refused_is_retried_then_one_line() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    arm = ArmClient(FakeToken(), endpoint_url=f"http://127.0.0.1:{port}", max_retries=2, retry_backoff=0.1,
                    sleep=waits.append)
    started = time.monotonic()
    with pytest.raises(ResourceError, match="cannot reach management.azure.com"):
        arm.send(foundation.resource_group(TARGET))
    assert waits == [0.1, 0.2] and time.monotonic() - started < 5
