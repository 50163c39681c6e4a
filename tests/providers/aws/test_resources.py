"""Seed 000's providers and resources on AWS, end to end against a moto server (see conftest.py)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws import AWSProvider
from pepperpy.cloud.providers.aws.resources import AWSResources
from pepperpy.cloud.providers.aws.session import AWSInputError
from pepperpy.cloud.resources.manager import ResourceManager, default_store
from pepperpy.cloud.resources.models import ComputeResource, DatabaseResource, StorageResource
from tests.providers.aws.conftest import REGION, tagged_leftovers

# Seed 000, "Provedores de Nuvem", verbatim.
SEED_PROVIDERS = '''
from pepperpy.cloud import (
    CloudProvider,
    AWSProvider,
    AzureProvider,
    GCPProvider
)

# Configurar provedor AWS
aws_provider = AWSProvider(
    region="us-west-2",
    credentials={
        "access_key_id": "YOUR_ACCESS_KEY",
        "secret_access_key": "YOUR_SECRET_KEY"
    }
)

# Configurar provedor Azure
azure_provider = AzureProvider(
    region="eastus",
    credentials={
        "tenant_id": "YOUR_TENANT_ID",
        "client_id": "YOUR_CLIENT_ID",
        "client_secret": "YOUR_CLIENT_SECRET"
    }
)

# Configurar provedor GCP
gcp_provider = GCPProvider(
    region="us-central1",
    credentials_file="path/to/credentials.json"
)
'''

# Seed 000, "Gerenciamento de Recursos", verbatim.
SEED_RESOURCES = '''
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


def provider(**kwargs: Any) -> AWSProvider:
    return AWSProvider(region=REGION, credentials={"access_key_id": "AKIATESTKEY0001",
                                                   "secret_access_key": "s3cr3t-aws-value"}, **kwargs)


def run_seed(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(compile(textwrap.dedent(SEED_PROVIDERS), "seed000-providers", "exec"), scope)
    exec(compile(textwrap.dedent(SEED_RESOURCES), "seed000-resources", "exec"), scope)
    scope["printed"] = capsys.readouterr().out
    return scope


def test_seed_000_snippets_run_as_written_against_moto(aws: str, raw: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scope = run_seed(capsys)
    assert scope["printed"].splitlines() == ["pepperpy-data (object_storage): available",
                                             "pepperpy-inference (serverless): ready",
                                             "pepperpy-vectors (postgres): available"]
    assert scope["storage"].url == "s3://pepperpy-data"

    s3 = raw("s3")
    assert s3.get_public_access_block(Bucket="pepperpy-data")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rule = s3.get_bucket_encryption(Bucket="pepperpy-data")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_location(Bucket="pepperpy-data")["LocationConstraint"] == REGION
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="pepperpy-data")["TagSet"]}
    assert tags["managed-by"] == "pepperpy-cloud" and tags["pepperpy-cloud:name"] == "pepperpy-data"

    db = raw("rds").describe_db_instances(DBInstanceIdentifier="pepperpy-vectors")["DBInstances"][0]
    assert (db["Engine"], db["DBInstanceClass"], db["AllocatedStorage"]) == ("postgres", "db.t3.medium", 50)
    assert db["StorageEncrypted"] and not db["PubliclyAccessible"]
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == "pepperpy-vectors-pg14"
    group = raw("rds").describe_db_parameters(DBParameterGroupName="pepperpy-vectors-pg14")["Parameters"]
    assert {"ParameterName": "rds.force_ssl", "ParameterValue": "1"}.items() <= next(
        p for p in group if p["ParameterName"] == "rds.force_ssl").items()

    # the deleted serverless resource left nothing: function, role, log group
    assert raw("lambda").list_functions()["Functions"] == []
    assert [r["RoleName"] for r in raw("iam").list_roles()["Roles"]] == []
    assert raw("logs").describe_log_groups()["logGroups"] == []


def test_database_password_lives_in_secrets_manager_only(aws: str, raw: Any, capsys: pytest.CaptureFixture[str]) -> None:
    scope = run_seed(capsys)
    database = scope["database"]
    password = raw("secretsmanager").get_secret_value(SecretId="pepperpy-cloud/pepperpy-vectors/master")["SecretString"]
    assert len(password) >= 24
    assert database.connection_string == (
        f"postgresql://pepperpy:{password}@{database.details['host']}:5432/pepperpy_vectors?sslmode=require")
    assert database.details["host"].endswith(".rds.amazonaws.com")
    shown = " ".join([repr(database), str(database), json.dumps(database.to_dict()), repr(scope["aws_provider"]),
                      json.dumps([r.to_dict() for r in default_store().list_resources()])])
    assert password not in shown and "YOUR_SECRET_KEY" not in shown
    # a fresh handle reads it again from Secrets Manager
    again = ResourceManager(provider=scope["aws_provider"]).get("pepperpy-vectors")
    assert again.connection_string == database.connection_string


def test_create_again_converges_and_destroy_leaves_nothing_tagged(aws: str, raw: Any) -> None:
    manager = ResourceManager(provider=provider())
    first = manager.create_resource(StorageResource(name="pepperpy-docs", versioning=True))
    manager.create_resource(DatabaseResource(name="pepperpy-db", version="16", extensions=["pgvector"]))
    manager.create_resource(ComputeResource(name="pepperpy-fn", memory="512Mi", timeout_seconds=60))
    s3 = raw("s3")
    assert s3.get_bucket_versioning(Bucket="pepperpy-docs")["Status"] == "Enabled"
    for body in (b"one", b"two"):
        s3.put_object(Bucket="pepperpy-docs", Key="doc.txt", Body=body)
    s3.delete_object(Bucket="pepperpy-docs", Key="doc.txt")  # a delete marker on top of two versions

    # again, with changes: public reads, bigger database, more memory; nothing is duplicated
    again = manager.create_resource(StorageResource(name="pepperpy-docs", versioning=True, access_policy="public-read"))
    manager.create_resource(DatabaseResource(name="pepperpy-db", version="16", size="medium", storage="40Gi"))
    manager.create_resource(ComputeResource(name="pepperpy-fn", memory="1Gi", timeout_seconds=60))
    assert again.url == first.url
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["pepperpy-docs"]
    policy = json.loads(s3.get_bucket_policy(Bucket="pepperpy-docs")["Policy"])
    assert policy["Statement"][0]["Action"] == "s3:GetObject"
    dbs = raw("rds").describe_db_instances()["DBInstances"]
    assert [(d["DBInstanceIdentifier"], d["DBInstanceClass"], d["AllocatedStorage"]) for d in dbs] == [
        ("pepperpy-db", "db.m5.large", 40)]
    fn = raw("lambda").get_function(FunctionName="pepperpy-fn")["Configuration"]
    assert (fn["MemorySize"], fn["Timeout"]) == (1024, 60)
    assert len(raw("secretsmanager").list_secrets()["SecretList"]) == 1
    assert sorted(r.name for r in manager.list_resources()) == ["pepperpy-db", "pepperpy-docs", "pepperpy-fn"]
    assert tagged_leftovers(raw)

    for name in ("pepperpy-docs", "pepperpy-db", "pepperpy-fn"):
        manager.delete_resource(name)
    assert tagged_leftovers(raw) == []
    assert s3.list_buckets()["Buckets"] == []
    assert raw("rds").describe_db_parameter_groups()["DBParameterGroups"] == [
        g for g in raw("rds").describe_db_parameter_groups()["DBParameterGroups"]
        if g["DBParameterGroupName"].startswith("default.")]
    assert manager.list_resources() == []


def test_a_failed_first_create_removes_what_it_made(aws: str, raw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AWSInputError("rds.CreateDBInstance", "the request was rejected (InvalidParameterCombination)",
                            "change the value the message names")

    monkeypatch.setattr(AWSResources, "_create_db_instance", refuse)
    manager = ResourceManager(provider=provider())
    with pytest.raises(AWSInputError):
        manager.create_resource(DatabaseResource(name="pepperpy-broken"))
    assert tagged_leftovers(raw) == []  # the parameter group and the password secret were removed
    assert not [g for g in raw("rds").describe_db_parameter_groups()["DBParameterGroups"]
                if g["DBParameterGroupName"].startswith("pepperpy-broken")]
    assert manager.list_resources() == []


def test_a_bucket_not_made_by_us_is_neither_adopted_nor_deleted(aws: str, raw: Any) -> None:
    raw("s3").create_bucket(Bucket="team-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(AWSInputError, match=r"^AWS s3.HeadBucket: bucket 'team-bucket' exists in this account and "
                                            r"is not managed by pepperpy-cloud — ") as caught:
        ResourceManager(provider=provider()).create_resource(StorageResource(name="team-bucket"))
    assert caught.value.field == "name"
    assert [b["Name"] for b in raw("s3").list_buckets()["Buckets"]] == ["team-bucket"]


@pytest.mark.parametrize(("spec", "field", "words"), [
    (lambda: StorageResource(name="xn--documents"), "name", "not a valid S3 bucket name: S3 reserves 'xn--'"),
    (lambda: StorageResource(name="sthree-data"), "name", "S3 reserves 'sthree-'"),
    (lambda: DatabaseResource(name="pg--main"), "name", "not a valid RDS identifier"),
    (lambda: ComputeResource(name="long-job", timeout_seconds=1200), "timeout_seconds", "at most"),
])
def test_names_and_values_aws_rejects_are_refused_before_any_call(aws: str, raw: Any, spec: Any, field: str,
                                                                  words: str) -> None:
    with pytest.raises(InputError) as caught:
        ResourceManager(provider=provider()).create_resource(spec())
    assert caught.value.field == field
    assert words in str(caught.value) or "more than AWS Lambda allows" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert tagged_leftovers(raw) == [] and raw("s3").list_buckets()["Buckets"] == []


def test_capabilities_say_what_aws_can_and_cannot_do() -> None:
    caps = AWSProvider(region=REGION).capabilities()
    assert caps["resources"].supported and caps["secrets"].supported and caps["price"].supported
    assert caps["deploy"].supported and "ECS" in caps["deploy"].reason
    assert caps["monitor"].supported and caps["actual_costs"].supported


def test_serverless_code_is_the_source_dir_and_updates_only_when_it_changes(aws: str, raw: Any,
                                                                             tmp_path: Any) -> None:
    import base64
    import hashlib

    app = tmp_path / "app"
    app.mkdir()
    (app / "handler.py").write_text("import sys; print(sys.stdin.read().upper())\n")
    spec = ComputeResource(name="pepperpy-worker", entry_point="handler.py", source_dir=str(app))
    manager = ResourceManager(provider=provider())
    first = manager.create_resource(spec)
    deployed = raw("lambda").get_function(FunctionName="pepperpy-worker")["Configuration"]
    assert deployed["Handler"] == "pepperpy_bootstrap.handler" and deployed["Runtime"] == "python3.12"
    assert deployed["CodeSha256"] == base64.b64encode(bytes.fromhex(first.details["code_sha256"])).decode()
    assert manager.create_resource(spec).details["code_sha256"] == first.details["code_sha256"]  # same bytes
    (app / "handler.py").write_text("print('v2')\n")
    second = manager.create_resource(spec)
    assert second.details["code_sha256"] != first.details["code_sha256"]
    assert raw("lambda").get_function(FunctionName="pepperpy-worker")["Configuration"]["CodeSha256"] == \
        base64.b64encode(bytes.fromhex(second.details["code_sha256"])).decode()
    policy = raw("iam").get_role_policy(RoleName="pepperpy-worker-exec", PolicyName="pepperpy-cloud-logs")
    assert policy["PolicyDocument"]["Statement"][0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert hashlib.sha256(b"").hexdigest() != second.details["code_sha256"]
    with pytest.raises(InputError, match="'missing.py' not found in source_dir"):
        manager.create_resource(ComputeResource(name="pepperpy-other", entry_point="missing.py",
                                                source_dir=str(app)))
    manager.delete_resource("pepperpy-worker")
    assert tagged_leftovers(raw) == []
