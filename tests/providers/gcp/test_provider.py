"""GCPProvider's Cloud SQL resources and Cloud Run stacks against a stateful fake of the Google REST APIs.

Seed 000's snippets run as written; ``PEPPERPY_GCP_API_ENDPOINT`` sends the REST calls to the fake on
127.0.0.1, so the seed's ``credentials_file`` is never read and no token is fetched. Checked: the exact
requests, idempotent re-runs, passwords only in Secret Manager, teardown leaving nothing of ours, and
failures that undo (or record) what the run made.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud import DatabaseResource, GCPProvider, ResourceManager
from pepperpy.cloud.deploy.secrets import SecretStore
from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError
from tests.providers.gcp.fake_gcp import FakeGcpServer

pytestmark = pytest.mark.usefixtures("no_gcp_env")

P = "/v1/projects/pepperpy-emulator"
SQL = f"{P}/instances/pepperpy-vectors-db"
SECRETS = f"{P}/secrets"
RUN = "/v2/projects/pepperpy-emulator/locations/us-central1/services"
REPO = "/v1/projects/pepperpy-emulator/locations/us-central1/repositories"
SA_EMAIL = "pepperpy-rag-app-app@pepperpy-emulator.iam.gserviceaccount.com"
SA_MEMBER = f"serviceAccount:{SA_EMAIL}"
ACCOUNT = f"{P}/serviceAccounts/{SA_EMAIL}"

# Seed 000, "Provedores de Nuvem": the GCP provider, verbatim.
SEED_PROVIDER = '''
gcp_provider = GCPProvider(
    region="us-central1",
    credentials_file="path/to/credentials.json"
)
'''
SEED_DATABASE = '''
resource_manager = ResourceManager(provider=gcp_provider)
database = resource_manager.create_resource(
    DatabaseResource(
        name="pepperpy-vectors",
        type="postgres",
        version="14",
        size="small",
        storage="50Gi"
    )
)
'''
# Seed 000, "Implantação de Aplicações", verbatim but for the provider (the seed's snippet deploys on AWS).
SEED_DEPLOYMENT = '''
from pepperpy.cloud import (
    CloudDeployment,
    DeploymentConfig,
    ScalingConfig
)

# Configurar implantação
deployment = CloudDeployment(
    provider=gcp_provider,
    name="pepperpy-rag-app",
    config=DeploymentConfig(
        instance_type="t3.medium",
        memory="4Gi",
        cpu="2",
        min_replicas=1,
        max_replicas=5,
        environment_variables={
            "OPENAI_API_KEY": "${SECRET:openai-api-key}",
            "LOG_LEVEL": "INFO"
        }
    )
)

# Configurar escalonamento automático
scaling_config = ScalingConfig(
    metric="cpu_utilization",
    target_value=70,
    cooldown_seconds=300
)
deployment.set_scaling_config(scaling_config)

# Implantar aplicação
deployment_result = deployment.deploy(
    source_dir="./my-pepperpy-app",
    entry_point="app.py",
    requirements_file="requirements.txt"
)

print(f"Aplicação implantada: {deployment_result.url}")
'''


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcpServer]:
    server = FakeGcpServer()
    monkeypatch.setenv("PEPPERPY_GCP_API_ENDPOINT", server.url)
    yield server
    server.close()


def seed_ns() -> dict[str, Any]:
    ns: dict[str, Any] = {"GCPProvider": GCPProvider, "ResourceManager": ResourceManager,
                          "DatabaseResource": DatabaseResource}
    exec(SEED_PROVIDER, ns)
    return ns


def home_bytes() -> bytes:
    import os

    home = Path(os.environ["PEPPERPY_CLOUD_HOME"])
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- Cloud SQL through ResourceManager


def test_seed_database_creates_instance_database_user_and_secrets_in_order(fake: FakeGcpServer) -> None:
    ns = seed_ns()
    exec(SEED_DATABASE, ns)
    db = ns["database"]
    assert fake.api.log() == [
        ("GET", f"{SECRETS}/pepperpy-vectors-db-admin"), ("POST", SECRETS),
        ("GET", f"{SECRETS}/pepperpy-vectors-db-password"), ("POST", SECRETS),
        ("GET", SQL),
        ("GET", f"{SECRETS}/pepperpy-vectors-db-admin/versions/latest:access"),  # none yet: generate
        ("GET", f"{SECRETS}/pepperpy-vectors-db-admin"), ("PATCH", f"{SECRETS}/pepperpy-vectors-db-admin"),
        ("POST", f"{SECRETS}/pepperpy-vectors-db-admin:addVersion"),
        ("POST", f"{P}/instances"), ("GET", f"{P}/operations/op-1"),
        ("GET", f"{SQL}/databases/app"), ("POST", f"{SQL}/databases"), ("GET", f"{P}/operations/op-2"),
        ("GET", f"{SQL}/users/pepperpy"),
        ("GET", f"{SECRETS}/pepperpy-vectors-db-password/versions/latest:access"),
        ("GET", f"{SECRETS}/pepperpy-vectors-db-password"), ("PATCH", f"{SECRETS}/pepperpy-vectors-db-password"),
        ("POST", f"{SECRETS}/pepperpy-vectors-db-password:addVersion"),
        ("POST", f"{SQL}/users"), ("GET", f"{P}/operations/op-3"),
        ("GET", SQL),  # the record
        ("GET", SQL), ("GET", f"{SECRETS}/pepperpy-vectors-db-password/versions/latest:access"),  # the handle
    ]
    calls = fake.api.calls
    insert = next(c for c in calls if c.method == "POST" and c.path == f"{P}/instances").body
    assert insert["databaseVersion"] == "POSTGRES_14" and insert["settings"]["dataDiskSizeGb"] == "50"
    assert insert["settings"]["userLabels"] == {"managed-by": "pepperpy-cloud", "stack": "pepperpy-vectors"}
    admin = fake.api.secret_value(f"{SECRETS}/pepperpy-vectors-db-admin")
    password = fake.api.secret_value(f"{SECRETS}/pepperpy-vectors-db-password")
    assert insert["rootPassword"] == admin and len(password) >= 32
    assert next(c for c in calls if c.path == f"{SQL}/users").body == {"name": "pepperpy", "password": password}
    assert db.status == "available"
    assert db.connection_string == f"postgresql://pepperpy:{password}@203.0.113.7:5432/app?sslmode=require"
    assert password not in repr(db) and password not in str(db.to_dict())
    assert password.encode() not in home_bytes() and admin.encode() not in home_bytes()
    record = ns["resource_manager"]._store.get_resource("pepperpy-vectors")
    assert record.details["connection_name"] == "pepperpy-emulator:us-central1:pepperpy-vectors-db"
    assert record.details["password_secret"] == "pepperpy-vectors-db-password"


def test_create_again_converges_without_creating_and_delete_leaves_nothing(fake: FakeGcpServer) -> None:
    ns = seed_ns()
    exec(SEED_DATABASE, ns)
    before = fake.api.resources()
    password = fake.api.secret_value(f"{SECRETS}/pepperpy-vectors-db-password")
    start = len(fake.api.calls)
    exec(SEED_DATABASE, ns)
    again = fake.api.log()[start:]
    assert not [c for c in again if c[0] in ("POST", "DELETE")]
    assert ("PATCH", SQL) in again and fake.api.resources() == before
    assert fake.api.secret_value(f"{SECRETS}/pepperpy-vectors-db-password") == password
    assert ns["database"].connection_string.endswith(f":{password}@203.0.113.7:5432/app?sslmode=require")

    start = len(fake.api.calls)
    ns["resource_manager"].delete_resource("pepperpy-vectors")
    deletes = [c for c in fake.api.calls[start:] if c.method in ("PATCH", "DELETE")]
    assert [(c.method, c.path) for c in deletes] == [
        ("PATCH", SQL), ("DELETE", SQL), ("DELETE", f"{SECRETS}/pepperpy-vectors-db-admin"),
        ("DELETE", f"{SECRETS}/pepperpy-vectors-db-password")]
    assert deletes[0].body == {"settings": {"deletionProtectionEnabled": False}}
    assert fake.api.resources() == [] and ns["resource_manager"].list_resources() == []


def test_failure_midway_undoes_what_the_run_created(fake: FakeGcpServer) -> None:
    fake.api.fail("POST", f"{SQL}/users", 400, "INVALID_ARGUMENT")
    ns = seed_ns()
    with pytest.raises(InputError, match="GCP create database user 'pepperpy-vectors-db': Google Cloud rejected"):
        exec(SEED_DATABASE, ns)
    assert fake.api.resources() == []  # database, instance (unprotected first) and both secrets removed
    undo = [(c.method, c.path) for c in fake.api.calls if c.method in ("PATCH", "DELETE")][-5:]
    assert undo == [("DELETE", f"{SQL}/databases/app"), ("PATCH", SQL), ("DELETE", SQL),
                    ("DELETE", f"{SECRETS}/pepperpy-vectors-db-password"),
                    ("DELETE", f"{SECRETS}/pepperpy-vectors-db-admin")]
    assert ResourceManager(provider=ns["gcp_provider"]).list_resources() == []


def test_a_strangers_instance_is_neither_adopted_nor_deleted(fake: FakeGcpServer) -> None:
    fake.api.store[SQL] = {"name": "pepperpy-vectors-db", "settings": {"userLabels": {"team": "x"}}}
    ns = seed_ns()
    with pytest.raises(InputError, match="exists and is not managed by pepperpy-cloud"):
        exec(SEED_DATABASE, ns)
    assert fake.api.resources() == [SQL]


# --------------------------------------------------------------------------- Cloud Run through CloudDeployment


def deploy(ns: dict[str, Any]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(SEED_DEPLOYMENT, ns)
    assert any("not pushed yet" in str(w.message) for w in caught)
    return ns["deployment_result"]


def test_seed_deployment_runs_on_cloud_run(fake: FakeGcpServer, capsys: pytest.CaptureFixture[str]) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    ns = seed_ns()
    result = deploy(ns)
    svc = f"{RUN}/pepperpy-rag-app-app"
    secret = f"{SECRETS}/pepperpy-rag-app-openai-api-key"
    tag = f"{REPO}/pepperpy-rag-app/packages/app/tags/0.1.0"
    assert fake.api.log() == [
        ("GET", f"{secret}/versions/latest"),
        ("GET", ACCOUNT), ("POST", f"{P}/serviceAccounts"),
        ("GET", secret), ("POST", SECRETS), ("POST", f"{secret}:addVersion"),
        ("GET", secret), ("GET", f"{secret}:getIamPolicy"), ("POST", f"{secret}:setIamPolicy"),
        ("GET", f"{REPO}/pepperpy-rag-app"), ("POST", REPO),
        ("GET", "/v1/projects/pepperpy-emulator/locations/us-central1/operations/op-5"),
        ("GET", f"{REPO}/pepperpy-rag-app:getIamPolicy"), ("POST", f"{REPO}/pepperpy-rag-app:setIamPolicy"),
        ("GET", tag),
        ("GET", svc), ("POST", RUN), ("GET", "/v2/projects/pepperpy-emulator/locations/us-central1/operations/op-9"),
        ("GET", svc),
    ]
    created = next(c for c in fake.api.calls if c.path == f"{P}/serviceAccounts").body
    assert created == {"accountId": "pepperpy-rag-app-app", "serviceAccount": {
        "displayName": "pepperpy-cloud pepperpy-rag-app",
        "description": "managed-by=pepperpy-cloud stack=pepperpy-rag-app"}}
    assert fake.api.members("roles/secretmanager.secretAccessor") == {secret: [SA_MEMBER]}
    assert fake.api.members("roles/artifactregistry.reader") == {f"{REPO}/pepperpy-rag-app": [SA_MEMBER]}
    assert fake.api.store[svc]["template"]["serviceAccount"] == SA_EMAIL
    assert result.url == "https://pepperpy-rag-app-app-fake-uc.a.run.app"
    assert capsys.readouterr().out.strip() == f"Aplicação implantada: {result.url}"
    image = "us-central1-docker.pkg.dev/pepperpy-emulator/pepperpy-rag-app/app:0.1.0"
    assert (result.image, result.image_pushed, result.running_image) == (image, False, "us-docker.pkg.dev/cloudrun/"
                                                                                       "container/hello")
    assert result.push_commands[0] == "gcloud auth configure-docker us-central1-docker.pkg.dev"
    assert result.push_commands[1].startswith(f"docker build -t {image} ")
    assert result.push_commands[2] == f"docker push {image}"
    body = fake.api.store[svc]
    template = body["template"]
    assert template["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 5}
    [container] = template["containers"]
    assert container["ports"] == [{"name": "http1", "containerPort": 8000}]
    assert container["startupProbe"]["httpGet"] == {"path": "/ready", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4096Mi"}
    assert {"name": "LOG_LEVEL", "value": "INFO"} in container["env"]
    assert {"name": "OPENAI_API_KEY", "valueSource": {"secretKeyRef": {
        "secret": "pepperpy-rag-app-openai-api-key", "version": "latest"}}} in container["env"]
    assert fake.api.secret_value(secret) == "sk-test-123"
    assert b"sk-test-123" not in b"".join(str(c.body).encode() for c in fake.api.calls if c.path == svc)
    record = StateStore.open().get_deployment("pepperpy-rag-app")
    assert record is not None and record.provider == "gcp" and record.status == "deployed"
    assert sorted(record.spec["parts"]) == [
        "artifact-registry:pepperpy-rag-app", "cloud-run:pepperpy-rag-app-app",
        "iam-binding:roles/artifactregistry.reader@pepperpy-rag-app",
        "iam-binding:roles/secretmanager.secretAccessor@pepperpy-rag-app-openai-api-key",
        "secret:pepperpy-rag-app-openai-api-key", "service-account:pepperpy-rag-app-app"]


def test_redeploy_converges_then_switches_to_the_pushed_image_scale_and_destroy(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    ns = seed_ns()
    deploy(ns)
    svc = f"{RUN}/pepperpy-rag-app-app"
    before = fake.api.resources()
    fake.api.push(f"{REPO}/pepperpy-rag-app/packages/app/tags/0.1.0")
    start = len(fake.api.calls)
    exec(SEED_DEPLOYMENT, ns)
    again = fake.api.log()[start:]
    assert not [c for c in again if c[0] in ("POST", "DELETE")] and ("PATCH", svc) in again
    assert fake.api.resources() == before
    result = ns["deployment_result"]
    assert result.image_pushed and result.running_image == result.image and result.push_commands == ()
    assert fake.api.store[svc]["template"]["containers"][0]["image"] == result.image
    assert result.revision == "pepperpy-rag-app-app-00002-abc"

    scaled = ns["gcp_provider"].scale("pepperpy-rag-app", 3)
    assert (scaled.replicas, scaled.max_replicas) == (3, 5)
    assert fake.api.store[svc]["template"]["scaling"] == {"minInstanceCount": 3, "maxInstanceCount": 5}
    assert fake.api.store[svc]["template"]["containers"][0]["image"] == result.image
    ns["gcp_provider"].scale("pepperpy-rag-app", 8)
    assert fake.api.store[svc]["template"]["scaling"] == {"minInstanceCount": 8, "maxInstanceCount": 8}

    gone = ns["gcp_provider"].destroy_stack("pepperpy-rag-app")
    assert gone == ["cloud-run:pepperpy-rag-app-app", "artifact-registry:pepperpy-rag-app",
                    "secret:pepperpy-rag-app-openai-api-key", "service-account:pepperpy-rag-app-app"]
    assert fake.api.resources() == []
    assert StateStore.open().get_deployment("pepperpy-rag-app") is None


def test_missing_secrets_are_refused_in_one_line_before_anything_is_made(fake: FakeGcpServer) -> None:
    ns = seed_ns()
    with pytest.raises(InputError) as refused:
        exec(SEED_DEPLOYMENT, ns)
    line = str(refused.value)
    assert "\n" not in line and "no value for openai-api-key" in line and "pepperpy-rag-app-openai-api-key" in line
    assert "pepperpy-cloud secrets set openai-api-key" in line
    assert [c for c in fake.api.log() if c[0] != "GET"] == [] and fake.api.resources() == []


def test_a_secret_already_in_secret_manager_is_used_as_is_and_kept(fake: FakeGcpServer) -> None:
    secret = f"{SECRETS}/pepperpy-rag-app-openai-api-key"
    fake.api.store[secret] = {"name": secret[4:], "labels": {"owner": "me"}}
    fake.api.versions[secret] = [base64.b64encode(b"theirs").decode()]
    ns = seed_ns()
    deploy(ns)
    writes = [c for c in fake.api.calls if c.path.startswith(secret) and c.method != "GET"]
    assert [(c.method, c.path) for c in writes] == [("POST", f"{secret}:setIamPolicy")]  # only the binding
    assert fake.api.members("roles/secretmanager.secretAccessor") == {secret: [SA_MEMBER]}
    ns["gcp_provider"].destroy_stack("pepperpy-rag-app")
    assert fake.api.resources() == [secret]  # not ours: left alone, and our binding taken out again
    assert fake.api.members("roles/secretmanager.secretAccessor") == {}


def test_cloud_run_failure_removes_what_the_run_created_and_records_it(fake: FakeGcpServer) -> None:
    SecretStore.open().set("openai-api-key", "sk-test-123")
    fake.api.fail("POST", RUN, 400, "INVALID_ARGUMENT")
    ns = seed_ns()
    with pytest.raises(DeployError) as failed:
        exec(SEED_DEPLOYMENT, ns)
    assert "GCP create Cloud Run service 'pepperpy-rag-app-app': Google Cloud rejected" in str(failed.value)
    assert "what this run created was removed" in str(failed.value)
    assert fake.api.resources() == []
    state = StateStore.open()
    record = state.get_deployment("pepperpy-rag-app")
    assert record is not None and record.status == "failed" and record.spec["parts"] == {}
    kinds = [e.kind for e in state.events("pepperpy-rag-app")]
    assert "gcp.failed" in kinds and kinds.count("gcp.rolled-back") == 5  # account, secret, repo, their 2 bindings


@pytest.mark.parametrize(("component", "message"), [
    ({"kind": "mysql"}, r"components.db \(mysql\) is not deployed on GCP; managed postgres → Cloud SQL"),
    ({"kind": "postgres", "managed": False}, "is self-hosted"),
    ({"kind": "postgres", "version": "9"}, "Cloud SQL does not offer PostgreSQL '9'"),
])
def test_unsupported_components_are_refused_before_any_call(fake: FakeGcpServer, component: dict[str, Any],
                                                            message: str) -> None:
    from pepperpy.cloud.errors import PepperpyCloudError
    from pepperpy.cloud.spec.stack import Stack

    stack = Stack.model_validate({"name": "kv", "provider": "gcp", "region": "us-central1",
                                  "services": {"api": {"image": "nginx:1", "port": 80}},
                                  "components": {"db": component}})
    with pytest.raises(PepperpyCloudError, match=message):
        GCPProvider(region="us-central1").deploy_stack(stack, stack_dir=".")
    assert [c for c in fake.api.calls if c.method != "GET"] == []
