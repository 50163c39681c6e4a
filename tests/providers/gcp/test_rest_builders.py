"""The exact Google Cloud REST requests the GCP builders make (method, URL, query, body), checked before any call,
with names and sizes against what the Terraform renderer gives the same stack."""

from __future__ import annotations

import re

import pytest

from pepperpy.cloud import CloudDeployment, DeploymentConfig, LocalProvider, ScalingConfig
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp import cloudrun, cloudsql, memorystore, monitoring, naming, secret_manager
from pepperpy.cloud.providers.gcp.naming import GcpTarget
from pepperpy.cloud.providers.gcp.rest import SecretRef
from pepperpy.cloud.render.terraform_gcp import POSTGRES_FLAGS, render
from pepperpy.cloud.resources.models import DatabaseResource
from pepperpy.cloud.spec.stack import Component, Service, Stack

LABELS = {"managed-by": "pepperpy-cloud", "stack": "bsc-rag"}
TARGET = GcpTarget("acme-prod", "us-central1", "bsc-rag")


@pytest.fixture
def stack() -> Stack:
    return Stack(name="bsc-rag", provider="gcp", region="us-central1",
                 services={"app": {"image": "us-docker.pkg.dev/acme/app:1.0", "port": 8501, "health_path": "/healthz",
                                   "readiness_path": "/readyz", "replicas": {"min": 1, "max": 8}, "cpu": "2",
                                   "memory": "4Gi", "scaling": {"metric": "requests_per_second", "target": 40},
                                   "env": {"LOG_LEVEL": "info", "DB_PASSWORD": "${SECRET:db_password}"}}},
                 components={"db": {"kind": "postgres", "extensions": ["pgvector"], "storage": "50Gi",
                                    "size": "medium"},
                             "cache": {"kind": "redis", "memory": "6Gi", "replicas": 2}})


def _tf_default(stack: Stack, variable: str) -> str:
    match = re.search(rf'variable "{variable}" \{{.*?default\s*=\s*"?([^"\n]+)"?', render(stack)["variables.tf"], re.S)
    assert match, variable
    return match.group(1)


def test_cloud_sql_insert_matches_the_terraform(stack: Stack) -> None:
    res = cloudsql.instance(TARGET, "db", stack.components["db"])
    req = res.create
    assert (req.method, req.url) == ("POST", "https://sqladmin.googleapis.com/v1/projects/acme-prod/instances")
    assert req.lro == "sql"
    body = req.payload()
    assert body["name"] == "bsc-rag-db" and '"${var.name}-db"' in render(stack)["main.tf"]
    assert body["region"] == "us-central1" and body["databaseVersion"] == "POSTGRES_16"
    assert body["rootPassword"] == "${SECRET:db-admin}"
    s = body["settings"]
    assert s["tier"] == _tf_default(stack, "db_tier") == "db-custom-2-8192"
    assert s["dataDiskSizeGb"] == _tf_default(stack, "db_disk_gb") == "50"
    assert s["userLabels"] == LABELS and s["deletionProtectionEnabled"] is True
    assert s["backupConfiguration"] == {"enabled": True, "startTime": "03:00", "pointInTimeRecoveryEnabled": True,
                                        "transactionLogRetentionDays": 7,
                                        "backupRetentionSettings": {"retainedBackups": 30, "retentionUnit": "COUNT"}}
    assert s["databaseFlags"] == [{"name": n, "value": v} for n, v in POSTGRES_FLAGS]
    assert s["ipConfiguration"] == {"ipv4Enabled": True, "sslMode": "ENCRYPTED_ONLY"}
    assert res.read.url == "https://sqladmin.googleapis.com/v1/projects/acme-prod/instances/bsc-rag-db"
    assert [r.method for r in res.teardown(None)] == ["PATCH", "DELETE"]  # deletion protection off first
    assert res.update is not None and "rootPassword" not in (res.update.body or {})


def test_cloud_sql_seed_database_and_password_resolution() -> None:
    seed = cloudsql.component_of(DatabaseResource(name="pepperpy-vectors", version="14", size="small",
                                                  storage="50Gi", extensions=["pgvector"]))
    req = cloudsql.instance(TARGET, "vectors", seed).create
    assert req.payload()["databaseVersion"] == "POSTGRES_14"
    assert req.payload()["settings"]["tier"] == "db-custom-2-4096"
    assert req.payload(lambda ref: "pw")["rootPassword"] == "pw"
    private = cloudsql.instance(TARGET, "db", seed, private_network="projects/acme-prod/global/networks/vpc")
    assert private.create.payload()["settings"]["ipConfiguration"]["ipv4Enabled"] is False


def test_memorystore_create(stack: Stack) -> None:
    res = memorystore.instance(TARGET, "cache", stack.components["cache"])
    req = res.create
    assert req.url == ("https://redis.googleapis.com/v1/projects/acme-prod/locations/us-central1/instances"
                       "?instanceId=bsc-rag-cache")
    assert req.lro == "google"
    body = req.payload()
    assert body["tier"] == "STANDARD_HA" and body["memorySizeGb"] == int(_tf_default(stack, "cache_memory_gb"))
    assert body["redisVersion"] == "REDIS_7_2" and body["authEnabled"] is True
    assert body["transitEncryptionMode"] == "SERVER_AUTHENTICATION" and body["labels"] == LABELS
    assert body["replicaCount"] == 1 and body["readReplicasMode"] == "READ_REPLICAS_ENABLED"
    assert res.update is not None and res.update.query == (("updateMask", "memory_size_gb,labels"),)


def test_cloud_run_service_from_seed_scaling_config() -> None:
    dep = CloudDeployment(name="bsc-rag", provider=LocalProvider(), config=DeploymentConfig(
        image="us-docker.pkg.dev/acme/app:1.0", cpu="1", memory="2Gi", min_replicas=2, max_replicas=10,
        port=8000, environment_variables={"OPENAI_API_KEY": "${SECRET:openai_key}", "MODE": "prod"}))
    dep.set_scaling_config(ScalingConfig(metric="requests_per_second", target_value=25, cooldown_seconds=60))
    res = cloudrun.service(TARGET, "app", dep.to_stack().services["app"])
    req = res.create
    assert req.method == "POST" and req.lro == "google"
    assert req.url == ("https://run.googleapis.com/v2/projects/acme-prod/locations/us-central1/services"
                       "?serviceId=bsc-rag-app")
    body = req.payload()
    assert body["labels"] == LABELS and body["ingress"] == "INGRESS_TRAFFIC_ALL"
    tpl = body["template"]
    assert tpl["scaling"] == {"minInstanceCount": 2, "maxInstanceCount": 10}
    assert tpl["maxInstanceRequestConcurrency"] == 25
    c = tpl["containers"][0]
    assert c["ports"] == [{"name": "http1", "containerPort": 8000}]
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "2048Mi"}
    assert c["env"] == [{"name": "MODE", "value": "prod"},
                        {"name": "OPENAI_API_KEY", "valueSource": {"secretKeyRef": {
                            "secret": "bsc-rag-openai_key", "version": "latest"}}}]
    assert c["startupProbe"]["httpGet"] == {"path": "/ready", "port": 8000}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    assert res.update is not None and res.update.method == "PATCH" and res.update.body == req.body


def test_cloud_run_sizes_and_probes(stack: Stack) -> None:
    c = cloudrun.service(TARGET, "app", stack.services["app"]).create.payload()["template"]["containers"][0]
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4096Mi"}
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": 8501}
    assert cloudrun.resources("x", Service(image="x:1", cpu="3", memory="1Gi")) == {"cpu": "4", "memory": "2048Mi"}


def test_secret_manager_secret_and_version() -> None:
    res = secret_manager.secret(TARGET, "db_password")
    assert res.create.url == "https://secretmanager.googleapis.com/v1/projects/acme-prod/secrets?secretId=bsc-rag-db_password"
    assert res.create.payload() == {"replication": {"automatic": {}}, "labels": LABELS}
    version = secret_manager.add_version(TARGET, "db_password")
    assert version.url == ("https://secretmanager.googleapis.com/v1/projects/acme-prod/secrets/"
                           "bsc-rag-db_password:addVersion")
    assert version.payload() == {"payload": {"data": "${SECRET:db_password}"}}
    assert version.payload(lambda ref: "hunter2") == {"payload": {"data": "aHVudGVyMg=="}}


def test_alert_policy_matches_the_terraform(stack: Stack) -> None:
    res = monitoring.cpu_alert(TARGET, "db", monitoring.cloudsql_cpu_filter(TARGET, "db"), ["projects/acme-prod/"
                                                                                             "notificationChannels/1"])
    assert res.create.url == "https://monitoring.googleapis.com/v3/projects/acme-prod/alertPolicies"
    body = res.create.payload()
    assert body["displayName"] == "bsc-rag-db-cpu-high" and body["userLabels"] == LABELS
    cond = body["conditions"][0]["conditionThreshold"]
    assert cond["filter"] == ('metric.type="cloudsql.googleapis.com/database/cpu/utilization" AND '
                              'resource.type="cloudsql_database" AND resource.label."database_id"="acme-prod:bsc-rag-db"')
    assert (cond["thresholdValue"], cond["duration"], cond["comparison"]) == (0.8, "900s", "COMPARISON_GT")
    assert res.read.url.endswith('/alertPolicies?filter=display_name%3D%22bsc-rag-db-cpu-high%22')
    found = {"name": "projects/acme-prod/alertPolicies/123", "displayName": "bsc-rag-db-cpu-high"}
    assert res.pick is not None and res.pick({"alertPolicies": [found]}) == found
    assert res.delete_request(found).path == "/v3/projects/acme-prod/alertPolicies/123"


@pytest.mark.parametrize(("call", "match"), [
    (lambda: naming.sql_instance("bsc-rag", "DB", "acme"), "Cloud SQL instance id 'bsc-rag-DB'"),
    (lambda: naming.sql_instance("a" * 40, "database", "p" * 50), "at most 98 characters"),
    (lambda: naming.redis_instance("a" * 30, "cache-primary"), "1-40 lowercase"),
    (lambda: naming.run_service("a" * 42, "frontend"), "1-49 lowercase"),
])
def test_ids_google_rejects_are_refused_before_any_call(call, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        call()
    assert str(info.value).startswith("name: GCP") and "fix:" in str(info.value)


@pytest.mark.parametrize(("region", "match"), [
    ("us", "'us' is a multi-region; this service is regional"),
    ("us-central1-a", "is a zone; use its region 'us-central1'"),
    ("eastus", r"is not a Google Cloud region \(that is a AZURE region\)"),
    ("us-central2", "closest: us-central1"),
])
def test_regions_are_checked_before_any_call(stack: Stack, region: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        cloudrun.service(GcpTarget("acme", region, "bsc-rag"), "app", stack.services["app"])
    assert str(info.value).startswith("region: GCP Cloud Run:") and "fix: pass GCPProvider(region=...)" in str(info.value)


def test_bad_sizes_and_versions_are_one_line() -> None:
    with pytest.raises(InputError, match="Cloud SQL does not offer PostgreSQL '9'"):
        cloudsql.instance(TARGET, "db", Component(kind="postgres", version="9.6"))
    with pytest.raises(InputError, match="at most 8 vCPU / 32 GiB"):
        cloudrun.resources("app", Service(image="x:1", cpu="16", memory="8Gi"))
    with pytest.raises(InputError, match="runs an image"):
        cloudrun.service(TARGET, "app", Service(source=".", entry_point="app.py"))
    with pytest.raises(InputError, match="at most 1000 instances"):
        cloudrun.service(TARGET, "app", Service(image="x:1", replicas={"min": 1, "max": 5000}))


def test_secret_refs_are_text_until_sent() -> None:
    assert str(SecretRef("db")) == "${SECRET:db}"
