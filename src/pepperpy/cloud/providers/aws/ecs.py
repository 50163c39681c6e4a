"""Services on ECS Fargate: ECR repository, cluster, log group, execution role, task definition, service, scaling.

- **ECR** ``<stack>/<service>`` (immutable tags, scan on push, AES256) for a
  service built from source; its image is ``<repo uri>:<stack version>``. Nothing
  here builds or pushes it (that needs Docker): the result carries the commands.
- **Cluster** ``<stack>`` with Container Insights; **log group** ``/pepperpy/<stack>``
  (retention from ``monitoring.log_retention_days``, the renderer's log group).
- **Execution role** ``<stack>-ecs-exec`` (path ``/pepperpy-cloud/``) may pull from
  ECR, write its log group and read exactly the secrets the tasks reference.
- **Task definition** ``<stack>-<service>``: Fargate CPU/memory (the smallest valid
  pair that holds the service's), plain env as ``environment``, every
  ``${SECRET:name}`` and every generated password as ``secrets`` — a Secrets Manager
  ARN in ``valueFrom``, never a value. A new revision is registered only when
  what it would contain changed (a hash kept as a tag).
- **Service** ``<service>``: ``replicas.min`` tasks (autoscaling owns the count
  after that), rolling deploys with the circuit breaker rolling back, behind its
  target group, in the ``app`` security group.
- **Application Auto Scaling**: a scalable target ``replicas.min``..``max`` and a
  target-tracking policy from ``scaling`` (CPU, memory, or ALB requests per
  target; response time falls back to CPU 70 %, as in the renderer).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from decimal import Decimal
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.parts import (
    ROLE_PATH,
    Ctx,
    Part,
    as_dict,
    not_ours,
    owned_by,
    part_name,
    poll,
    tag_list,
)
from pepperpy.cloud.providers.aws.session import AWSSession
from pepperpy.cloud.render.terraform_aws import LOG_RETENTION
from pepperpy.cloud.render.terraform_common import ceil_to, cpu_of, memory_gb
from pepperpy.cloud.spec.stack import Component, Service

HASH_TAG = "pepperpy-cloud:spec-hash"
SECRETS_POLICY = "pepperpy-cloud-task-execution"
# Fargate's valid (vCPU units, memory MiB choices).
FARGATE = [(256, [512, 1024, 2048]), (512, list(range(1024, 4097, 1024))), (1024, list(range(2048, 8193, 1024))),
           (2048, list(range(4096, 16385, 1024))), (4096, list(range(8192, 30721, 1024))),
           (8192, list(range(16384, 61441, 4096))), (16384, list(range(32768, 122881, 8192)))]
_GONE = {"RepositoryNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException",
         "ServiceNotActiveException", "ObjectNotFoundException", "NoSuchEntity", "ResourceNotFoundException"}
_NO_TASK_DEFINITION = _GONE | {"ClientException"}  # ECS answers an unknown family with ClientException


def fargate_size(spec: Service | Component, where: str) -> tuple[int, int]:
    """The smallest Fargate (cpu units, MiB) that holds the spec's CPU and memory."""
    if isinstance(spec, Service) and spec.gpu is not None:
        raise InputError(f"{where}.gpu", "ECS Fargate has no GPUs",
                         hint="render terraform-aws (EC2 GPU instances) or deploy to Kubernetes")
    cpu = math.ceil(cpu_of(spec) * 1024)
    mib = math.ceil(memory_gb(spec) * Decimal(1024))
    for units, memories in FARGATE:
        if units >= cpu:
            fit = next((m for m in memories if m >= mib), None)
            if fit is not None:
                return units, fit
    raise InputError(where, f"{spec.cpu} CPU / {spec.memory} is more than one Fargate task holds (16 vCPU, 120 GiB)",
                     hint="lower cpu/memory, or render terraform-aws for EC2 instances")


# --------------------------------------------------------------------------- shared per stack


def ensure_repository(ctx: Ctx, service: str) -> str:
    """The service's ECR repository (created or found); returns its URI."""
    name = f"{ctx.name}/{service}"
    found = ctx.aws.call("ecr", "describe_repositories", repositoryNames=[name], ignore=_GONE)
    if found and found.get("repositories"):
        repo = found["repositories"][0]
        tags = ctx.aws.call("ecr", "list_tags_for_resource", resourceArn=repo["repositoryArn"]).get("tags")
        if not owned_by(tags, ctx.name):
            raise not_ours("ecr.CreateRepository", f"ECR repository {name!r}", ctx.name)
        created = False
    else:
        repo = ctx.aws.call("ecr", "create_repository", repositoryName=name, imageTagMutability="IMMUTABLE",
                            imageScanningConfiguration={"scanOnPush": True},
                            encryptionConfiguration={"encryptionType": "AES256"},
                            tags=tag_list(ctx.tags(f"ecr-repository/{service}")))["repository"]
        created = True
    ctx.journal.record(Part("ecr-repository", name, {"uri": repo["repositoryUri"]}), created=created,
                       undo=lambda: ctx.aws.call("ecr", "delete_repository", repositoryName=name, force=True,
                                                 ignore=_GONE))
    return str(repo["repositoryUri"])


def ensure_cluster(ctx: Ctx) -> str:
    found = ctx.aws.call("ecs", "describe_clusters", clusters=[ctx.name], include=["TAGS"])
    active = [c for c in found.get("clusters", []) if c.get("status") == "ACTIVE"]
    if active:
        if not owned_by(active[0].get("tags"), ctx.name):
            raise not_ours("ecs.CreateCluster", f"ECS cluster {ctx.name!r}", ctx.name)
        ctx.journal.record(Part("ecs-cluster", ctx.name, {"arn": active[0]["clusterArn"]}), created=False)
        return str(active[0]["clusterArn"])
    cluster = ctx.aws.call("ecs", "create_cluster", clusterName=ctx.name,
                           settings=[{"name": "containerInsights", "value": "enabled"}],
                           tags=tag_list(ctx.tags("ecs-cluster"), "key", "value"))["cluster"]
    ctx.journal.record(Part("ecs-cluster", ctx.name, {"arn": cluster["clusterArn"]}), created=True,
                       undo=lambda: delete_cluster(ctx.aws, ctx.name))
    return str(cluster["clusterArn"])


def delete_cluster(aws: AWSSession, cluster: str) -> None:
    aws.call("ecs", "delete_cluster", cluster=cluster, ignore=_GONE)
    _untag_inactive(aws, f"cluster/{cluster}")


def log_group_name(stack: str) -> str:
    return f"/pepperpy/{stack}"


def ensure_log_group(ctx: Ctx) -> str:
    group = log_group_name(ctx.name)
    created = ctx.aws.call("logs", "create_log_group", ignore={"ResourceAlreadyExistsException"},
                           logGroupName=group, tags=ctx.tags("log-group"))
    ctx.journal.record(Part("log-group", group), created=created is not None,
                       undo=lambda: ctx.aws.call("logs", "delete_log_group", logGroupName=group, ignore=_GONE))
    ctx.aws.call("logs", "put_retention_policy", logGroupName=group, retentionInDays=ceil_to(
        ctx.stack.cloud.monitoring.log_retention_days, LOG_RETENTION))
    return group


def ensure_execution_role(ctx: Ctx, secret_arns: list[str], log_group: str) -> str:
    """The tasks' execution role: pull images, write logs, read exactly ``secret_arns``."""
    role = part_name(ctx.name, "ecs-exec", 64)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    found = ctx.aws.call("iam", "get_role", RoleName=role, ignore={"NoSuchEntity"})
    if found is not None:
        tags = ctx.aws.call("iam", "list_role_tags", RoleName=role)["Tags"]
        if not owned_by(tags, ctx.name):
            raise not_ours("iam.CreateRole", f"IAM role {role!r}", ctx.name)
        arn, created = str(found["Role"]["Arn"]), False
    else:
        arn = str(ctx.aws.call("iam", "create_role", RoleName=role, Path=ROLE_PATH,
                               AssumeRolePolicyDocument=json.dumps(trust),
                               Description=f"pepperpy-cloud: ECS task execution role of {ctx.name}",
                               Tags=tag_list(ctx.tags("iam-role")))["Role"]["Arn"])
        created = True
    ctx.journal.record(Part("iam-role", role, {"arn": arn}), created=created,
                       undo=lambda: delete_role(ctx.aws, role))
    account, region = arn.split(":")[4], ctx.aws.region
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{log_group}"
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                                       "ecr:BatchGetImage"],
         "Resource": f"arn:aws:ecr:{region}:{account}:repository/{ctx.name}/*"},
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [group_arn, f"{group_arn}:*"]}]
    if secret_arns:
        statements.append({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": sorted({":".join(a.split(":")[:7]) for a in secret_arns})})
    ctx.aws.call("iam", "put_role_policy", RoleName=role, PolicyName=SECRETS_POLICY,
                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


def delete_role(aws: AWSSession, role: str) -> None:
    for policy in aws.pages("iam", "list_role_policies", "PolicyNames", RoleName=role):
        aws.call("iam", "delete_role_policy", RoleName=role, PolicyName=policy, ignore={"NoSuchEntity"})
    for attached in aws.pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=role):
        aws.call("iam", "detach_role_policy", RoleName=role, PolicyArn=attached["PolicyArn"], ignore={"NoSuchEntity"})
    aws.call("iam", "delete_role", RoleName=role, ignore={"NoSuchEntity"})


# --------------------------------------------------------------------------- per service


def register_task_definition(ctx: Ctx, service: str, spec: Service | Component, *, image: str, port: int,
                             env: dict[str, str], secrets: dict[str, str], role_arn: str, log_group: str,
                             where: str) -> dict[str, Any]:
    """The service's task definition; the latest revision is reused when nothing in it changed."""
    family = part_name(ctx.name, service, 255)
    cpu, mib = fargate_size(spec, where)
    container: dict[str, Any] = {
        "name": service, "image": image, "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": ctx.aws.region, "awslogs-stream-prefix": service}},
        "stopTimeout": 30,
    }
    body: dict[str, Any] = {
        "family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": str(cpu),
        "memory": str(mib), "executionRoleArn": role_arn, "containerDefinitions": [container],
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    latest = ctx.aws.call("ecs", "describe_task_definition", taskDefinition=family, include=["TAGS"],
                          ignore=_NO_TASK_DEFINITION)
    if latest and latest["taskDefinition"].get("status") == "ACTIVE" and as_dict(latest.get("tags")).get(
            HASH_TAG) == digest:
        task = latest["taskDefinition"]
        ctx.journal.record(Part("task-definition", str(task["taskDefinitionArn"])), created=False)
        return dict(task)
    task = ctx.aws.call("ecs", "register_task_definition", **body, tags=tag_list(
        {**ctx.tags(f"task-definition/{service}"), HASH_TAG: digest}, "key", "value"))["taskDefinition"]
    arn = str(task["taskDefinitionArn"])
    ctx.journal.record(Part("task-definition", arn, {"revision": task["revision"]}), created=True,
                       undo=lambda: delete_task_definition(ctx.aws, arn))
    return dict(task)


def delete_task_definition(aws: AWSSession, arn: str) -> None:
    aws.call("ecs", "deregister_task_definition", taskDefinition=arn, ignore=_NO_TASK_DEFINITION)
    aws.call("ecs", "delete_task_definitions", taskDefinitions=[arn], ignore=_NO_TASK_DEFINITION)


def _describe_service(aws: AWSSession, cluster: str, service: str) -> dict[str, Any] | None:
    found = aws.call("ecs", "describe_services", cluster=cluster, services=[service], include=["TAGS"],
                     ignore=_GONE)
    active = [s for s in (found or {}).get("services", []) if s.get("status") == "ACTIVE"]
    return active[0] if active else None


def ensure_service(ctx: Ctx, service: str, task_arn: str, *, desired: int, bounds: tuple[int, int],
                   target_group: str | None, port: int) -> dict[str, Any]:
    """Create the ECS service, or roll it to ``task_arn`` (its task count stays where autoscaling put it)."""
    network = {"awsvpcConfiguration": {"subnets": ctx.net.subnets, "securityGroups": [ctx.net.groups["app"]],
                                       "assignPublicIp": "ENABLED" if ctx.net.default_vpc else "DISABLED"}}
    rollout = {"maximumPercent": 200, "minimumHealthyPercent": 100,
               "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    found = _describe_service(ctx.aws, ctx.name, service)
    if found is not None:
        if not owned_by(found.get("tags"), ctx.name):
            raise not_ours("ecs.CreateService", f"ECS service {service!r} in cluster {ctx.name!r}", ctx.name)
        count = min(max(int(found.get("desiredCount", desired)), bounds[0]), bounds[1])
        updated = ctx.aws.call("ecs", "update_service", cluster=ctx.name, service=service, taskDefinition=task_arn,
                               desiredCount=count, networkConfiguration=network,
                               deploymentConfiguration=rollout)["service"]
        ctx.journal.record(Part("ecs-service", str(updated["serviceArn"]), {"service": service}), created=False)
        return dict(updated)
    params: dict[str, Any] = {
        "cluster": ctx.name, "serviceName": service, "taskDefinition": task_arn, "desiredCount": desired,
        "launchType": "FARGATE", "networkConfiguration": network, "deploymentConfiguration": rollout,
        "propagateTags": "SERVICE", "enableECSManagedTags": True,
        "tags": tag_list(ctx.tags(f"ecs-service/{service}"), "key", "value")}
    if target_group:
        params["loadBalancers"] = [{"targetGroupArn": target_group, "containerName": service,
                                    "containerPort": port}]
        params["healthCheckGracePeriodSeconds"] = 60
    created = ctx.aws.call("ecs", "create_service", **params)["service"]
    ctx.journal.record(Part("ecs-service", str(created["serviceArn"]), {"service": service}), created=True,
                       undo=lambda: delete_service(ctx.aws, ctx.name, service, ctx.wait_delay))
    return dict(created)


def scaling_resource(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


def ensure_scaling(ctx: Ctx, service: str, svc: Service, *, lb_suffix: str | None,
                   tg_suffix: str | None) -> dict[str, Any]:
    """The scalable target (min..max replicas) and, when max > min, a target-tracking policy."""
    resource = scaling_resource(ctx.name, service)
    dims = {"ServiceNamespace": "ecs", "ResourceId": resource, "ScalableDimension": "ecs:service:DesiredCount"}
    ctx.aws.call("application-autoscaling", "register_scalable_target", MinCapacity=svc.replicas.min,
                 MaxCapacity=svc.replicas.max, **dims)
    ctx.journal.record(Part("scalable-target", resource, {"min": svc.replicas.min, "max": svc.replicas.max}),
                       created=True, undo=lambda: delete_scaling(ctx.aws, ctx.name, service))
    if svc.replicas.max <= svc.replicas.min:
        return {"min": svc.replicas.min, "max": svc.replicas.max, "policy": None}
    scaling = svc.scaling
    cooldown = scaling.cooldown_seconds if scaling else 300
    metric: dict[str, Any]
    if scaling and scaling.metric == "requests_per_second" and lb_suffix and tg_suffix:
        metric = {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": f"{lb_suffix}/{tg_suffix}"}
        target = scaling.target * 60  # the metric counts requests per minute per target
    elif scaling and scaling.metric == "memory_utilization":
        metric, target = {"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"}, scaling.target
    else:
        metric = {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}
        target = scaling.target if scaling and scaling.metric == "cpu_utilization" else 70
    policy = part_name(ctx.name, f"{service}-target-tracking", 256)
    ctx.aws.call("application-autoscaling", "put_scaling_policy", PolicyName=policy,
                 PolicyType="TargetTrackingScaling", **dims, TargetTrackingScalingPolicyConfiguration={
                     "TargetValue": float(target), "PredefinedMetricSpecification": metric,
                     "ScaleInCooldown": cooldown, "ScaleOutCooldown": cooldown, "DisableScaleIn": False})
    return {"min": svc.replicas.min, "max": svc.replicas.max, "policy": policy,
            "metric": metric["PredefinedMetricType"], "target": float(target)}


def delete_scaling(aws: AWSSession, cluster: str, service: str) -> None:
    dims = {"ServiceNamespace": "ecs", "ResourceId": scaling_resource(cluster, service),
            "ScalableDimension": "ecs:service:DesiredCount"}
    for policy in aws.pages("application-autoscaling", "describe_scaling_policies", "ScalingPolicies",
                            ServiceNamespace="ecs", ResourceId=dims["ResourceId"]):
        aws.call("application-autoscaling", "delete_scaling_policy", PolicyName=policy["PolicyName"], **dims,
                 ignore=_GONE)
    aws.call("application-autoscaling", "deregister_scalable_target", **dims, ignore=_GONE)


def delete_service(aws: AWSSession, cluster: str, service: str, wait_delay: float = 5) -> None:
    """Scale to zero and delete (``force`` stops the tasks); the service then drains on its own."""
    if _describe_service(aws, cluster, service) is None:
        return
    aws.call("ecs", "update_service", cluster=cluster, service=service, desiredCount=0, ignore=_GONE)
    aws.call("ecs", "delete_service", cluster=cluster, service=service, force=True, ignore=_GONE)

    def drained() -> bool:
        found = aws.call("ecs", "describe_services", cluster=cluster, services=[service], ignore=_GONE) or {}
        return not [s for s in found.get("services", []) if s.get("status") in {"ACTIVE", "DRAINING"}]

    poll(drained, what=f"ECS service {service} to drain", delay=wait_delay, attempts=120)
    _untag_inactive(aws, f"service/{cluster}/{service}")


def _untag_inactive(aws: AWSSession, resource: str) -> None:
    """ECS keeps deleted services and clusters listed as INACTIVE for a while, still tagged; drop our tags so
    listing by tag finds nothing of a destroyed deployment. Best effort: AWS may refuse it, which changes nothing."""
    account = aws.account_id()
    arn = f"arn:aws:ecs:{aws.region}:{account}:{resource}"
    with contextlib.suppress(Exception):
        tags = aws.call("ecs", "list_tags_for_resource", resourceArn=arn).get("tags", [])
        keys = [t["key"] for t in tags if t["key"] == "managed-by" or t["key"].startswith("pepperpy-cloud:")]
        if keys:
            aws.call("ecs", "untag_resource", resourceArn=arn, tagKeys=keys)


def scale(aws: AWSSession, cluster: str, service: str, replicas: int) -> dict[str, Any]:
    """Set the service's task count, refused outside its scalable target's bounds (autoscaling would undo it)."""
    targets = aws.call("application-autoscaling", "describe_scalable_targets", ServiceNamespace="ecs",
                       ResourceIds=[scaling_resource(cluster, service)],
                       ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
    if targets:
        low, high = int(targets[0]["MinCapacity"]), int(targets[0]["MaxCapacity"])
        if not low <= replicas <= high:
            raise InputError("replicas", f"{replicas} is outside {service}'s autoscaling bounds {low}..{high}",
                             hint="change replicas min/max in the stack and deploy again")
    return dict(aws.call("ecs", "update_service", cluster=cluster, service=service, desiredCount=replicas)["service"])


# --------------------------------------------------------------------------- teardown


def destroy(aws: AWSSession, deployment: str, wait_delay: float = 5) -> list[str]:
    """Scaling, services, task definitions, clusters, then ECR repositories tagged as part of ``deployment``."""
    gone: list[str] = []
    for cluster in _clusters(aws, deployment):
        name = cluster["clusterName"]
        for arn in list(aws.pages("ecs", "list_services", "serviceArns", cluster=name)):
            service = arn.rsplit("/", 1)[-1]
            found = _describe_service(aws, name, service)
            if found is not None and owned_by(found.get("tags"), deployment):
                delete_scaling(aws, name, service)
                delete_service(aws, name, service, wait_delay)
                gone.append(f"ecs-service:{service}")
    for arn in _task_definitions(aws, deployment):
        delete_task_definition(aws, arn)
        gone.append(f"task-definition:{arn}")
    for cluster in _clusters(aws, deployment):
        delete_cluster(aws, cluster["clusterName"])
        gone.append(f"ecs-cluster:{cluster['clusterName']}")
    for repo in aws.pages("ecr", "describe_repositories", "repositories"):
        if not repo["repositoryName"].startswith(f"{deployment}/"):
            continue
        tags = aws.call("ecr", "list_tags_for_resource", resourceArn=repo["repositoryArn"]).get("tags")
        if owned_by(tags, deployment):
            aws.call("ecr", "delete_repository", repositoryName=repo["repositoryName"], force=True, ignore=_GONE)
            gone.append(f"ecr-repository:{repo['repositoryName']}")
    role = part_name(deployment, "ecs-exec", 64)
    tags = aws.call("iam", "list_role_tags", RoleName=role, ignore={"NoSuchEntity"})
    if tags is not None and owned_by(tags.get("Tags"), deployment):
        delete_role(aws, role)
        gone.append(f"iam-role:{role}")
    group = log_group_name(deployment)
    for found in aws.pages("logs", "describe_log_groups", "logGroups", logGroupNamePrefix=group):
        if found["logGroupName"] != group:
            continue
        tags = aws.call("logs", "list_tags_log_group", logGroupName=group).get("tags")
        if owned_by(tags, deployment):
            aws.call("logs", "delete_log_group", logGroupName=group, ignore=_GONE)
            gone.append(f"log-group:{group}")
    return gone


def _clusters(aws: AWSSession, deployment: str) -> list[dict[str, Any]]:
    arns = list(aws.pages("ecs", "list_clusters", "clusterArns"))
    found: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        described = aws.call("ecs", "describe_clusters", clusters=arns[start:start + 100], include=["TAGS"])
        found += [c for c in described.get("clusters", []) if c.get("status") == "ACTIVE"
                  and owned_by(c.get("tags"), deployment)]
    return found


def _task_definitions(aws: AWSSession, deployment: str) -> list[str]:
    """Every revision (active or inactive) of our families: an INACTIVE one is still a tagged leftover.

    ``familyPrefix`` of ListTaskDefinitions matches a whole family name, so all are listed and filtered here.
    """
    arns: list[str] = []
    for status in ("ACTIVE", "INACTIVE"):
        for arn in aws.pages("ecs", "list_task_definitions", "taskDefinitionArns", status=status):
            if not arn.rsplit("/", 1)[-1].startswith(f"{deployment}-"):
                continue
            tags = aws.call("ecs", "list_tags_for_resource", resourceArn=arn, ignore=_NO_TASK_DEFINITION)
            if tags is not None and owned_by(tags.get("tags"), deployment):
                arns.append(arn)
    return list(dict.fromkeys(arns))
