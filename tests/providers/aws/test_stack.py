"""Whole stacks on AWS end to end against the moto server: seed 003's kv-store and seed 000's deployment.

Apply creates every part with its tags and settings, re-applying converges
(no duplicates), scale moves the ECS count within the autoscaling bounds, a
failure mid-apply removes what it made (or records what it could not), and
destroy leaves nothing: neither the tagging API nor any service's own listing
(moto's tagging API does not cover ECR, Amazon MQ, IAM or Application Auto
Scaling) finds a thing of the deployment.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError
from pepperpy.cloud.providers.aws import AWSProvider
from pepperpy.cloud.providers.aws.session import AWSError
from pepperpy.cloud.spec.stack import Stack
from tests.providers.aws.conftest import REGION

ROOT = Path(__file__).resolve().parents[3]
KV_STORE = ROOT / "examples" / "stacks" / "kv-store.yaml"
EAST = "us-east-1"  # seed 003's stack names it
DEPLOYMENT_TAG = "pepperpy-cloud:deployment"

# Seed 000, "Implantação de Aplicações", verbatim (aws_provider comes from "Provedores de Nuvem").
SEED_PROVIDER = '''
aws_provider = AWSProvider(
    region="us-west-2",
    credentials={
        "access_key_id": "YOUR_ACCESS_KEY",
        "secret_access_key": "YOUR_SECRET_KEY"
    }
)
'''
SEED_DEPLOYMENT = '''
from pepperpy.cloud import (
    CloudDeployment,
    DeploymentConfig,
    ScalingConfig
)

# Configurar implantação
deployment = CloudDeployment(
    provider=aws_provider,
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


@pytest.fixture(autouse=True)
def elasticache_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 leaves a deleted replication group 'deleting' forever; AWS removes it. Finish it as AWS does."""
    from moto.elasticache.models import ElastiCacheBackend

    original = ElastiCacheBackend.delete_replication_group

    def delete(self: Any, replication_group_id: str, retain_primary_cluster: bool | None) -> Any:
        group = original(self, replication_group_id, retain_primary_cluster)
        self.replication_groups.pop(replication_group_id, None)
        return group

    monkeypatch.setattr(ElastiCacheBackend, "delete_replication_group", delete)


@pytest.fixture
def east(aws: str) -> Callable[[str], Any]:
    import boto3

    session = boto3.Session(region_name=EAST, aws_access_key_id="testing", aws_secret_access_key="testing")
    return lambda service: session.client(service, endpoint_url=aws)


def provider(region: str = EAST, **options: Any) -> AWSProvider:
    return AWSProvider(region=region, wait_delay=0, **options)


def kv_store() -> Stack:
    return Stack.from_file(KV_STORE)


def tags_of(items: Any) -> dict[str, str]:
    if isinstance(items, dict):
        return items
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in items or []}


def tagged(raw: Callable[[str], Any], name: str) -> list[str]:
    return [r["ResourceARN"] for r in raw("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": DEPLOYMENT_TAG, "Values": [name]}])["ResourceTagMappingList"]]


def leftovers(raw: Callable[[str], Any], name: str) -> dict[str, list[str]]:
    """What each service's own listing still holds of deployment ``name`` (non-empty entries only)."""
    ours = lambda tags: tags_of(tags).get(DEPLOYMENT_TAG) == name  # noqa: E731
    ecs, elbv2 = raw("ecs"), raw("elbv2")
    clusters = ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"] or ["none"],
                                     include=["TAGS"])["clusters"]
    found: dict[str, list[str]] = {
        "ecs clusters": [c["clusterName"] for c in clusters if c["status"] == "ACTIVE"],
        "ecs task definitions": [a for s in ("ACTIVE", "INACTIVE")
                                 for a in ecs.list_task_definitions(status=s)["taskDefinitionArns"]],
        "ecr": [r["repositoryName"] for r in raw("ecr").describe_repositories()["repositories"]],
        "autoscaling": [t["ResourceId"] for t in raw("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="ecs")["ScalableTargets"]],
        "load balancers": [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]],
        "target groups": [g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]],
        "mq": [b["BrokerName"] for b in raw("mq").list_brokers()["BrokerSummaries"]],
        "elasticache": [g["ReplicationGroupId"] for g in raw("elasticache").describe_replication_groups()[
            "ReplicationGroups"]],
        "rds": [d["DBInstanceIdentifier"] for d in raw("rds").describe_db_instances()["DBInstances"]],
        "rds parameter groups": [g["DBParameterGroupName"] for g in raw("rds").describe_db_parameter_groups()[
            "DBParameterGroups"] if not g["DBParameterGroupName"].startswith("default.")],
        "s3": [b["Name"] for b in raw("s3").list_buckets()["Buckets"]],
        "secrets": [s["Name"] for s in raw("secretsmanager").list_secrets()["SecretList"] if ours(s.get("Tags"))],
        "iam roles": [r["RoleName"] for r in raw("iam").list_roles(PathPrefix="/pepperpy-cloud/")["Roles"]],
        "log groups": [g["logGroupName"] for g in raw("logs").describe_log_groups(
            logGroupNamePrefix="/pepperpy/")["logGroups"]],
        "security groups": [g["GroupId"] for g in raw("ec2").describe_security_groups()["SecurityGroups"]
                            if ours(g.get("Tags"))],
    }
    for cluster in clusters:
        services = ecs.describe_services(cluster=cluster["clusterName"], services=ecs.list_services(
            cluster=cluster["clusterName"])["serviceArns"] or ["none"])["services"]
        found[f"ecs services in {cluster['clusterName']}"] = [s["serviceName"] for s in services
                                                              if s["status"] in {"ACTIVE", "DRAINING"}]
    return {k: v for k, v in found.items() if v}


def generated_secrets(raw: Callable[[str], Any], name: str) -> list[str]:
    sm = raw("secretsmanager")
    return [sm.get_secret_value(SecretId=s["Name"])["SecretString"] for s in sm.list_secrets()["SecretList"]
            if tags_of(s.get("Tags")).get(DEPLOYMENT_TAG) == name]


def home_bytes() -> bytes:
    home = Path(os.environ["PEPPERPY_CLOUD_HOME"])
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.fixture
def deployed(aws: str, east: Callable[[str], Any]) -> Iterator[list[Any]]:
    results = provider().deploy_stack(kv_store(), stack_dir=KV_STORE.parent)
    yield results


# --------------------------------------------------------------------------- seed 003, end to end


def test_kv_store_apply_creates_every_part_tagged_and_configured(deployed: list[Any], east: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    [result] = deployed
    elbv2, ecs = east("elbv2"), east("ecs")
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    assert (lb["LoadBalancerName"], lb["Scheme"], lb["Type"]) == ("kv-store-alb", "internet-facing", "application")
    assert result.url == f"http://{lb['DNSName']}" and result.name == "kv-store"
    lb_tags = tags_of(elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"])
    assert lb_tags["managed-by"] == "pepperpy-cloud" and lb_tags[DEPLOYMENT_TAG] == "kv-store"

    [group] = elbv2.describe_target_groups()["TargetGroups"]
    assert (group["HealthCheckPath"], group["TargetType"], group["Port"]) == ("/health", "ip", 8000)
    assert group["Matcher"] == {"HttpCode": "200-399"}
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["Port"] == 80 and listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]

    [service] = ecs.describe_services(cluster="kv-store", services=["api"], include=["TAGS"])["services"]
    assert (service["desiredCount"], service["launchType"]) == (3, "FARGATE")
    assert service["loadBalancers"][0]["targetGroupArn"] == group["TargetGroupArn"]
    assert tags_of(service["tags"])[DEPLOYMENT_TAG] == "kv-store"
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("2048", "8192", "awsvpc")
    [container] = task["containerDefinitions"]
    repo = east("ecr").describe_repositories(repositoryNames=["kv-store/api"])["repositories"][0]
    assert container["image"] == f"{repo['repositoryUri']}:0.1.0" == result.image
    assert not result.image_pushed and result.push_commands[-1] == f"docker push {result.image}"
    assert any(c.startswith(f"docker build -t {result.image} ") for c in result.push_commands)

    # component passwords reach the task only as Secrets Manager ARNs
    arns = {s["Name"]: s["ARN"] for s in east("secretsmanager").list_secrets()["SecretList"]}
    valued = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert valued["REDIS_PASSWORD"] == arns["pepperpy-cloud/kv-store/redis/auth-token"]
    assert valued["BROKER_PASSWORD"] == arns["pepperpy-cloud/kv-store/broker/password"]
    assert all(v.startswith("arn:aws:secretsmanager:") for v in valued.values())
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["DATABASE_HOST"].endswith(".rds.amazonaws.com") and env["REDIS_PORT"] == "6379"
    role = east("iam").get_role_policy(RoleName="kv-store-ecs-exec", PolicyName="pepperpy-cloud-task-execution")
    allowed = next(s["Resource"] for s in role["PolicyDocument"]["Statement"]
                   if s["Action"] == "secretsmanager:GetSecretValue")
    assert set(allowed) >= {arns["pepperpy-cloud/kv-store/redis/auth-token"],
                            arns["pepperpy-cloud/kv-store/broker/password"]}

    scaling = east("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == ("service/kv-store/api", 3, 6)
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert config["PredefinedMetricSpecification"]["ResourceLabel"].startswith("app/kv-store-alb/")
    assert "/targetgroup/kv-store-api/" in config["PredefinedMetricSpecification"]["ResourceLabel"]
    assert (config["TargetValue"], config["ScaleInCooldown"]) == (800 * 60, 120)

    [db] = east("rds").describe_db_instances()["DBInstances"]
    assert (db["DBInstanceIdentifier"], db["DBInstanceClass"], db["AllocatedStorage"]) == (
        "kv-store-database", "db.r5.large", 100)
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("16")
    assert db["MultiAZ"] and db["StorageEncrypted"] and db["DeletionProtection"] and not db["PubliclyAccessible"]
    assert tags_of(db["TagList"])[DEPLOYMENT_TAG] == "kv-store"
    [redis] = east("elasticache").describe_replication_groups()["ReplicationGroups"]
    assert (redis["ReplicationGroupId"], redis["CacheNodeType"]) == ("kv-store-redis", "cache.m5.large")
    assert redis["TransitEncryptionEnabled"] and redis["AtRestEncryptionEnabled"] and redis["AuthTokenEnabled"]
    [summary] = east("mq").list_brokers()["BrokerSummaries"]
    broker = east("mq").describe_broker(BrokerId=summary["BrokerId"])
    assert (broker["EngineType"].upper(), broker["HostInstanceType"], broker["DeploymentMode"]) == (
        "RABBITMQ", "mq.m5.large", "CLUSTER_MULTI_AZ")
    assert broker["Tags"][DEPLOYMENT_TAG] == "kv-store" and not broker["PubliclyAccessible"]
    bucket = "kv-store-backups-123456789012"
    assert east("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert tags_of(east("s3").get_bucket_tagging(Bucket=bucket)["TagSet"])[DEPLOYMENT_TAG] == "kv-store"
    groups = {g["GroupName"] for g in east("ec2").describe_security_groups(Filters=[
        {"Name": f"tag:{DEPLOYMENT_TAG}", "Values": ["kv-store"]}])["SecurityGroups"]}
    assert groups == {"kv-store-alb", "kv-store-app", "kv-store-data"}

    # the state store knows every part; no secret value is in AWS task definitions, state, result or logs
    record = StateStore.open().get_deployment("kv-store")
    assert record is not None and record.provider == "aws" and record.status == "deployed"
    kinds = {part["kind"] for part in record.spec["parts"].values()}
    assert kinds >= {"security-group", "s3-bucket", "db-instance", "cache-replication-group", "mq-broker",
                     "ecs-cluster", "ecr-repository", "load-balancer", "target-group", "listener", "iam-role",
                     "task-definition", "ecs-service", "scalable-target", "secret", "log-group"}
    values = generated_secrets(east, "kv-store")
    assert len(values) == 2
    shown = [json.dumps(task, default=str), repr(result), caplog.text]
    stored = home_bytes()
    for value in values:
        assert all(value not in text for text in shown) and value.encode() not in stored


def test_kv_store_reapply_converges_scale_and_destroy_leave_nothing(deployed: list[Any], east: Any) -> None:
    def counts() -> dict[str, int]:
        return {k: len(v) for k, v in leftovers(east, "kv-store").items()}

    before = counts()
    assert before["load balancers"] == 1 and before["security groups"] == 3
    [again] = provider().deploy_stack(kv_store(), stack_dir=KV_STORE.parent)
    assert counts() == before and again.revision == deployed[0].revision == 1 and again.url == deployed[0].url
    assert len(east("elbv2").describe_listeners(LoadBalancerArn=east("elbv2").describe_load_balancers()[
        "LoadBalancers"][0]["LoadBalancerArn"])["Listeners"]) == 1

    scaled = provider().scale("kv-store", 5)
    assert scaled.replicas == 5
    assert east("ecs").describe_services(cluster="kv-store", services=["api"])["services"][0]["desiredCount"] == 5
    with pytest.raises(InputError, match=r"outside api's autoscaling bounds 3\.\.6"):
        provider().scale("kv-store", 9)

    gone = provider().destroy_stack("kv-store")
    assert any(g.startswith("mq-broker:") for g in gone) and any(g.startswith("ecs-service:") for g in gone)
    assert tagged(east, "kv-store") == []
    assert leftovers(east, "kv-store") == {}
    state = StateStore.open()
    assert state.get_deployment("kv-store") is None
    assert [e.kind for e in state.events("kv-store")][-1] == "aws.destroyed"
    with pytest.raises(NotFoundError):
        provider().destroy_stack("kv-store")


# --------------------------------------------------------------------------- failures


def test_failure_mid_apply_removes_what_that_run_created(aws: str, east: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud.providers.aws import ecs

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AWSError("ecs.CreateService", "injected failure", "nothing to do", code="InvalidParameterException")

    monkeypatch.setattr(ecs, "ensure_service", refuse)
    with pytest.raises(DeployError, match="injected failure .*; what this run created was removed"):
        provider().deploy_stack(kv_store(), stack_dir=KV_STORE.parent)
    assert tagged(east, "kv-store") == [] and leftovers(east, "kv-store") == {}
    record = StateStore.open().get_deployment("kv-store")
    assert record is not None and record.status == "failed" and record.spec["parts"] == {}
    kinds = [e.kind for e in StateStore.open().events("kv-store", limit=200)]
    assert "aws.created" in kinds and "aws.failed" in kinds and kinds.count("aws.rolled-back") == kinds.count(
        "aws.created")


def test_a_part_that_cannot_be_removed_stays_recorded_and_destroy_finds_it(aws: str, east: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud.providers.aws import ecs, mq

    monkeypatch.setattr(ecs, "ensure_log_group", lambda ctx: (_ for _ in ()).throw(
        AWSError("logs.CreateLogGroup", "injected failure", "nothing to do")))
    real_delete = mq.delete_broker
    monkeypatch.setattr(mq, "delete_broker", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("broker stuck")))
    with pytest.raises(DeployError, match=r"could not remove mq-broker:\w+ \(recorded in state\)"):
        provider().deploy_stack(kv_store(), stack_dir=KV_STORE.parent)
    record = StateStore.open().get_deployment("kv-store")
    assert record is not None and record.status == "failed"
    assert [p["kind"] for p in record.spec["parts"].values()] == ["mq-broker"]
    assert "aws.rollback-failed" in [e.kind for e in StateStore.open().events("kv-store", limit=200)]
    assert leftovers(east, "kv-store") == {"mq": ["kv-store-broker"]}

    monkeypatch.setattr(mq, "delete_broker", real_delete)
    broker = east("mq").list_brokers()["BrokerSummaries"][0]["BrokerId"]
    assert provider().destroy_stack("kv-store") == [f"mq-broker:{broker}"]
    assert leftovers(east, "kv-store") == {} and StateStore.open().get_deployment("kv-store") is None


def test_missing_app_secret_is_refused_before_anything_exists(aws: str, raw: Any) -> None:
    stack = Stack.model_validate({"name": "needs-key", "provider": "aws", "services": {"app": {
        "image": "ghcr.io/example/app:1.0", "env": {"OPENAI_API_KEY": "${SECRET:openai-api-key}"}}}})
    with pytest.raises(NotFoundError, match="openai-api-key"):
        provider(REGION).deploy_stack(stack, stack_dir=".")
    assert tagged(raw, "needs-key") == [] and StateStore.open().get_deployment("needs-key") is None


def test_gpu_services_are_refused_by_fargate(aws: str) -> None:
    stack = Stack.model_validate({"name": "gpu", "provider": "aws", "services": {"app": {
        "image": "ghcr.io/example/app:1.0", "gpu": {"model": "A10G"}}}})
    with pytest.raises(InputError, match="Fargate has no GPUs"):
        provider(REGION).deploy_stack(stack, stack_dir=".")


# --------------------------------------------------------------------------- seed 000


def test_seed_000_deployment_snippet_runs_as_written(aws: str, raw: Any, capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pepperpy")
    scope: dict[str, Any] = {"AWSProvider": AWSProvider}
    exec(compile(textwrap.dedent(SEED_PROVIDER), "seed000-provider", "exec"), scope)
    scope["aws_provider"].secret_store().set("openai-api-key", "sk-seed-000-value-1234567890")
    exec(compile(textwrap.dedent(SEED_DEPLOYMENT), "seed000-deployment", "exec"), scope)

    result = scope["deployment_result"]
    [lb] = raw("elbv2").describe_load_balancers()["LoadBalancers"]
    assert result.url == f"http://{lb['DNSName']}"
    assert capsys.readouterr().out.strip().endswith(f"Aplicação implantada: http://{lb['DNSName']}")
    ecs = raw("ecs")
    [service] = ecs.describe_services(cluster="pepperpy-rag-app", services=["app"])["services"]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    [container] = task["containerDefinitions"]
    key_arn = raw("secretsmanager").describe_secret(SecretId="openai-api-key")["ARN"]
    assert container["secrets"] == [{"name": "OPENAI_API_KEY", "valueFrom": key_arn}]
    assert container["environment"] == [{"name": "LOG_LEVEL", "value": "INFO"}]
    assert (task["cpu"], task["memory"]) == ("2048", "4096")
    [policy] = raw("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert (config["TargetValue"], config["ScaleOutCooldown"]) == (70, 300)
    shown = json.dumps(task, default=str) + repr(result) + caplog.text
    assert "sk-seed-000-value" not in shown and b"sk-seed-000-value" not in home_bytes()
    assert "YOUR_SECRET_KEY" not in shown

    scope["aws_provider"].options["wait_delay"] = 0
    scope["aws_provider"].destroy_stack("pepperpy-rag-app")
    assert tagged(raw, "pepperpy-rag-app") == [] and leftovers(raw, "pepperpy-rag-app") == {}
    assert raw("secretsmanager").describe_secret(SecretId="openai-api-key")["Name"] == "openai-api-key"  # the user's


def test_capabilities_now_include_deploy_and_scale() -> None:
    caps = AWSProvider(region=REGION).capabilities()
    assert caps["deploy"].supported and "ECS Fargate" in caps["deploy"].reason
    assert caps["scale"].supported and caps["actual_costs"].supported and caps["monitor"].supported
