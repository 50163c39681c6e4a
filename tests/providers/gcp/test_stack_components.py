"""GCP stacks with components: Cloud SQL, Memorystore and GCS buckets wired into Cloud Run through Secret Manager,
the stack's service account and its IAM bindings, against the stateful fake of the Google APIs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud import GCPProvider
from pepperpy.cloud.deploy.secrets import SecretStore
from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError
from pepperpy.cloud.spec.stack import Stack
from tests.providers.gcp.fake_gcp import FakeGcpServer

pytestmark = pytest.mark.usefixtures("no_gcp_env")

PROJECT = "pepperpy-emulator"
P = f"/v1/projects/{PROJECT}"
LOC = f"{P}/locations/us-central1"
SECRETS = f"{P}/secrets"
SQL = f"{P}/instances/shop-db"
REDIS = f"{LOC}/instances/shop-cache"
RUN = f"/v2/projects/{PROJECT}/locations/us-central1/services"
SVC = f"{RUN}/shop-api"
BUCKET = f"/storage/v1/b/{PROJECT}-shop-uploads"
SA_EMAIL = f"shop-app@{PROJECT}.iam.gserviceaccount.com"
SA = f"serviceAccount:{SA_EMAIL}"
ACCOUNT = f"{P}/serviceAccounts/{SA_EMAIL}"
OWNER = {"role": "roles/owner", "members": ["user:owner@example.com"]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcpServer]:
    server = FakeGcpServer()
    monkeypatch.setenv("PEPPERPY_GCP_API_ENDPOINT", server.url)
    yield server
    server.close()


def stack() -> Stack:
    return Stack.model_validate({
        "name": "shop", "provider": "gcp", "region": "us-central1",
        "services": {"api": {"image": "ghcr.io/acme/shop:1", "port": 8080,
                             "env": {"OPENAI_API_KEY": "${SECRET:openai-api-key}", "LOG_LEVEL": "INFO"}}},
        "components": {"db": {"kind": "postgres", "version": "16", "size": "small"},
                       "cache": {"kind": "redis", "memory": "1Gi"}},
        "buckets": {"uploads": {"versioning": True}}})


def provider() -> GCPProvider:
    return GCPProvider(region="us-central1", credentials_file="path/to/credentials.json")


def secret_values(fake: FakeGcpServer) -> dict[str, str]:
    return {path: fake.api.secret_value(path) for path in fake.api.versions}


def home_bytes() -> bytes:
    import os

    home = Path(os.environ["PEPPERPY_CLOUD_HOME"])
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def writes(fake: FakeGcpServer, start: int = 0) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in fake.api.calls[start:] if c.method != "GET"]


def secret(name: str) -> str:
    return f"{SECRETS}/shop-{name}"


def test_components_are_created_wired_through_secret_manager_and_bound_to_the_account(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    [result] = provider().deploy_stack(stack(), stack_dir=".")
    assert writes(fake) == [
        ("POST", f"{P}/serviceAccounts"),
        ("POST", SECRETS), ("POST", f"{secret('openai-api-key')}:addVersion"),
        ("POST", "/storage/v1/b"), ("PUT", f"{BUCKET}/iam"),
        ("POST", SECRETS), ("POST", SECRETS),  # db-admin, db-password
        ("PATCH", secret("db-admin")), ("POST", f"{secret('db-admin')}:addVersion"),  # generated while inserting
        ("POST", f"{P}/instances"), ("POST", f"{SQL}/databases"),
        ("PATCH", secret("db-password")), ("POST", f"{secret('db-password')}:addVersion"), ("POST", f"{SQL}/users"),
        ("POST", SECRETS), ("POST", f"{secret('db-url')}:addVersion"),
        ("POST", f"{LOC}/instances"),
        ("POST", SECRETS), ("POST", f"{secret('cache-auth')}:addVersion"),
        ("POST", SECRETS), ("POST", f"{secret('cache-url')}:addVersion"),
        ("POST", f"{P}:getIamPolicy"), ("POST", f"{P}:setIamPolicy"),
        *[("POST", f"{secret(n)}:setIamPolicy") for n in ("cache-auth", "cache-url", "db-password", "db-url",
                                                           "openai-api-key")],
        ("POST", RUN),
    ]
    calls = fake.api.calls
    assert next(c for c in calls if c.path == "/storage/v1/b").body == {
        "name": f"{PROJECT}-shop-uploads", "location": "US-CENTRAL1", "storageClass": "STANDARD",
        "labels": {"managed-by": "pepperpy-cloud", "stack": "shop"}, "versioning": {"enabled": True},
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}}
    redis = next(c for c in calls if c.path == f"{LOC}/instances" and c.method == "POST")
    assert redis.query == {"instanceId": "shop-cache"} and redis.body["authEnabled"] is True
    assert next(c for c in calls if c.path == f"{P}/instances" and c.method == "POST").body["databaseVersion"] == \
        "POSTGRES_16"
    # the account: in each role on each thing it needs, nobody else's binding lost
    assert fake.api.members("roles/secretmanager.secretAccessor") == {
        secret(n): [SA] for n in ("cache-auth", "cache-url", "db-password", "db-url", "openai-api-key")}
    assert fake.api.members("roles/storage.objectUser") == {BUCKET: [SA]}
    assert fake.api.members("roles/cloudsql.client") == {"project": [SA]}
    assert OWNER in fake.api.project_policy["bindings"]
    project_set = next(c for c in calls if c.path == f"{P}:setIamPolicy").body["policy"]
    assert project_set["etag"] and project_set["bindings"] == [OWNER, {"role": "roles/cloudsql.client",
                                                                       "members": [SA]}]
    # the service: runs as the account, components as plain settings and secret references
    template = fake.api.store[SVC]["template"]
    assert template["serviceAccount"] == SA_EMAIL
    assert template["volumes"] == [{"name": "cloudsql", "cloudSqlInstance": {
        "instances": [f"{PROJECT}:us-central1:shop-db"]}}]
    assert template["vpcAccess"] == {"networkInterfaces": [{"network": "default"}], "egress": "PRIVATE_RANGES_ONLY"}
    [container] = template["containers"]
    assert container["volumeMounts"] == [{"name": "cloudsql", "mountPath": "/cloudsql"}]
    env = {e["name"]: e.get("value", e.get("valueSource")) for e in container["env"]}

    def ref(name: str) -> dict[str, Any]:
        return {"secretKeyRef": {"secret": f"shop-{name}", "version": "latest"}}

    assert env == {
        "DB_HOST": f"/cloudsql/{PROJECT}:us-central1:shop-db", "DB_PORT": "5432", "DB_USER": "pepperpy",
        "DB_DB": "app", "CACHE_HOST": "10.0.0.3", "CACHE_PORT": "6378", "CACHE_TLS": "true",
        "UPLOADS_BUCKET": f"{PROJECT}-shop-uploads", "LOG_LEVEL": "INFO",
        "DB_PASSWORD": ref("db-password"), "DB_URL": ref("db-url"), "CACHE_PASSWORD": ref("cache-auth"),
        "CACHE_URL": ref("cache-url"), "OPENAI_API_KEY": ref("openai-api-key")}
    # values: only in secret version adds
    values = secret_values(fake)
    password = values[secret("db-password")]
    auth = values[secret("cache-auth")]
    assert values[secret("db-url")] == f"postgresql://pepperpy:{password}@/app?host=/cloudsql/{PROJECT}:us-central1:" \
                                        "shop-db"
    assert values[secret("cache-url")] == f"rediss://:{auth}@10.0.0.3:6378/0"
    for value in values.values():
        leaks = [c for c in calls if value in str(c.body) and not c.path.endswith(":addVersion")
                 and not (c.path == f"{SQL}/users" or c.path == f"{P}/instances")]  # Cloud SQL gets its passwords
        assert leaks == [], value
        encoded = base64.b64encode(value.encode()).decode()
        assert [c.path for c in calls if encoded in str(c.body)] == [
            c.path for c in calls if c.path.endswith(":addVersion") and encoded in str(c.body)]
        assert value.encode() not in home_bytes()
    record = StateStore.open().get_deployment("shop")
    assert record is not None and record.status == "deployed"
    assert {k for k in record.spec["parts"] if not k.startswith("iam-binding:")} == {
        "service-account:shop-app", "secret:shop-openai-api-key", "bucket:pepperpy-emulator-shop-uploads",
        "secret:shop-db-admin", "secret:shop-db-password", "cloud-sql:shop-db", "secret:shop-db-url", "cloud-run:shop-api",
        "memorystore:shop-cache", "secret:shop-cache-auth", "secret:shop-cache-url"}
    assert result.url == "https://shop-api-fake-uc.a.run.app"


def test_redeploy_converges_scale_keeps_the_wiring_and_destroy_leaves_nothing(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    gcp = provider()
    gcp.deploy_stack(stack(), stack_dir=".")
    before, values = fake.api.resources(), secret_values(fake)
    start = len(fake.api.calls)
    gcp.deploy_stack(stack(), stack_dir=".")
    again = [w for w in writes(fake, start) if not w[1].endswith(":getIamPolicy")]
    assert {m for m, _ in again} == {"PATCH"}  # nothing created, no value added, no policy written
    assert [p for _, p in again if not p.startswith(SECRETS)] == [BUCKET, SQL, REDIS, SVC]
    assert fake.api.resources() == before and secret_values(fake) == values

    template = fake.api.store[SVC]["template"]
    gcp.scale("shop", 3)
    scaled = fake.api.store[SVC]["template"]
    assert scaled["scaling"] == {"minInstanceCount": 3, "maxInstanceCount": 3}
    assert {k: v for k, v in scaled.items() if k != "scaling"} == {k: v for k, v in template.items() if k != "scaling"}

    fake.api.objects[BUCKET] = [{"name": "a/b.txt", "generation": "7"}]
    gone = gcp.destroy_stack("shop")
    assert gone == ["cloud-run:shop-api", "iam-binding:roles/cloudsql.client@pepperpy-emulator",
                    "memorystore:shop-cache", "cloud-sql:shop-db", f"bucket:{PROJECT}-shop-uploads",
                    *[f"secret:shop-{n}" for n in ("cache-auth", "cache-url", "db-admin", "db-password", "db-url",
                                                   "openai-api-key")], "service-account:shop-app"]
    assert ("DELETE", f"{BUCKET}/o/a%2Fb.txt") in writes(fake)
    assert fake.api.resources() == [] and fake.api.policies == {}
    assert fake.api.project_policy["bindings"] == [OWNER]
    assert StateStore.open().get_deployment("shop") is None


def test_a_concurrent_policy_change_is_kept_by_the_read_modify_write(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    fake.api.race(P)
    provider().deploy_stack(stack(), stack_dir=".")
    sets = [c for c in fake.api.calls if c.path == f"{P}:setIamPolicy"]
    assert len(sets) == 2  # the first carried a stale etag: 409 ABORTED, read again, written again
    roles = [b["role"] for b in fake.api.project_policy["bindings"]]
    assert roles == ["roles/owner", "roles/viewer", "roles/cloudsql.client"]


def test_a_failed_first_apply_removes_everything_including_the_project_binding(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    fake.api.fail("POST", RUN, 400, "INVALID_ARGUMENT")
    with pytest.raises(DeployError, match="what this run created was removed"):
        provider().deploy_stack(stack(), stack_dir=".")
    assert fake.api.resources() == [] and fake.api.policies == {}
    assert fake.api.project_policy["bindings"] == [OWNER]
    record = StateStore.open().get_deployment("shop")
    assert record is not None and record.status == "failed" and record.spec["parts"] == {}
