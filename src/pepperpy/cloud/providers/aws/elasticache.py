"""Managed Redis components on ElastiCache, shaped like the ``terraform-aws`` render's replication group.

``<stack>-<component>``: Redis (the component's version, else 7.1), the node
type the stack names for AWS or the smallest with its memory (the renderer's
table), one node per replica with automatic failover and Multi-AZ when there
are two or more, encrypted at rest and in transit, an AUTH token required, 7
days of snapshots, in the stack's data security group. The AUTH token is
generated here and kept only in Secrets Manager
(``pepperpy-cloud/<stack>/<component>/auth-token``); services read it by ARN.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.aws.parts import (
    Connection,
    Ctx,
    Part,
    env_prefix,
    generated_secret,
    not_ours,
    owned_by,
    part_name,
    read_secret,
    tag_list,
)
from pepperpy.cloud.providers.aws.session import AWSSession
from pepperpy.cloud.render.terraform_aws import _cache_node
from pepperpy.cloud.render.terraform_common import memory_gb
from pepperpy.cloud.spec.stack import Component

_GONE = {"ReplicationGroupNotFoundFault", "ReplicationGroupNotFound", "CacheSubnetGroupNotFoundFault"}


def node_type(comp: Component) -> str:
    return comp.instance_for("aws") or _cache_node(memory_gb(comp))


def _describe(aws: AWSSession, group_id: str) -> dict[str, Any] | None:
    found = aws.call("elasticache", "describe_replication_groups", ReplicationGroupId=group_id, ignore=_GONE)
    return found["ReplicationGroups"][0] if found and found.get("ReplicationGroups") else None


def _tags(aws: AWSSession, arn: str) -> Any:
    return aws.call("elasticache", "list_tags_for_resource", ResourceName=arn).get("TagList", [])


def _subnet_group(ctx: Ctx, name: str) -> str | None:
    """A subnet group of the stack's subnets; none in the default VPC (ElastiCache uses its default group)."""
    if ctx.net.default_vpc:
        return None
    created = ctx.aws.call("elasticache", "create_cache_subnet_group", ignore={"CacheSubnetGroupAlreadyExists"},
                           CacheSubnetGroupName=name, CacheSubnetGroupDescription=f"pepperpy-cloud {name}",
                           SubnetIds=ctx.net.subnets, Tags=tag_list(ctx.tags(f"cache-subnet-group/{name}")))
    ctx.journal.record(Part("cache-subnet-group", name), created=created is not None,
                       undo=lambda: ctx.aws.call("elasticache", "delete_cache_subnet_group",
                                                 CacheSubnetGroupName=name, ignore=_GONE))
    return name


def ensure(ctx: Ctx, name: str, comp: Component) -> str:
    """Create (or find) the replication group; returns its id. Call :func:`connection` once it is up."""
    group_id = part_name(ctx.name, name, 40)
    secret_id = f"pepperpy-cloud/{ctx.name}/{name}/auth-token"
    generated_secret(ctx, secret_id, f"secret/{name}", f"AUTH token of Redis {group_id}")
    subnet_group = _subnet_group(ctx, group_id)
    node, ha = node_type(comp), comp.replicas > 1
    details = {"node_type": node, "nodes": comp.replicas, "auth_token_secret": secret_id}
    found = _describe(ctx.aws, group_id)
    if found is not None:
        if not owned_by(_tags(ctx.aws, found["ARN"]), ctx.name):
            raise not_ours("elasticache.CreateReplicationGroup", f"replication group {group_id!r}", ctx.name)
        ctx.journal.record(Part("cache-replication-group", group_id, details), created=False)
        return group_id
    params: dict[str, Any] = {
        "ReplicationGroupId": group_id, "ReplicationGroupDescription": f"{name} of the {ctx.name} stack",
        "Engine": "redis", "EngineVersion": comp.version or "7.1", "CacheNodeType": node,
        "NumCacheClusters": comp.replicas, "Port": 6379, "AutomaticFailoverEnabled": ha, "MultiAZEnabled": ha,
        "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True,
        "AuthToken": read_secret(ctx.aws, secret_id), "SecurityGroupIds": [ctx.net.groups["data"]],
        "SnapshotRetentionLimit": 7, "SnapshotWindow": "02:00-03:00",
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00", "AutoMinorVersionUpgrade": True,
        "Tags": tag_list(ctx.tags(f"cache-replication-group/{name}"))}
    if subnet_group:
        params["CacheSubnetGroupName"] = subnet_group
    ctx.aws.call("elasticache", "create_replication_group", **params)
    ctx.journal.record(Part("cache-replication-group", group_id, details), created=True,
                       undo=lambda: delete_group(ctx.aws, group_id, ctx.wait_delay))
    return group_id


def connection(ctx: Ctx, name: str, group_id: str) -> Connection:
    """Wait until the group is available; its primary endpoint, and the token as a ``valueFrom`` reference."""
    ctx.aws.wait("elasticache", "replication_group_available", delay=int(ctx.wait_delay), attempts=120,
                 ReplicationGroupId=group_id)
    group = _describe(ctx.aws, group_id) or {}
    endpoint = next((g.get("PrimaryEndpoint") for g in group.get("NodeGroups", []) if g.get("PrimaryEndpoint")),
                    None) or group.get("ConfigurationEndpoint") or {}
    secret = ctx.aws.call("secretsmanager", "describe_secret",
                          SecretId=f"pepperpy-cloud/{ctx.name}/{name}/auth-token")["ARN"]
    prefix = env_prefix(name)
    return Connection(name, plain={f"{prefix}_HOST": str(endpoint.get("Address", "")),
                                   f"{prefix}_PORT": str(endpoint.get("Port", 6379)), f"{prefix}_TLS": "true"},
                      secrets={f"{prefix}_PASSWORD": str(secret)})


def delete_group(aws: AWSSession, group_id: str, wait_delay: float) -> None:
    found = _describe(aws, group_id)
    if found is None:
        return
    if found.get("Status") != "deleting":
        aws.call("elasticache", "delete_replication_group", ReplicationGroupId=group_id, ignore=_GONE)
    aws.wait("elasticache", "replication_group_deleted", delay=int(wait_delay), attempts=120,
             ReplicationGroupId=group_id)


def destroy(aws: AWSSession, deployment: str, wait_delay: float) -> list[str]:
    """Every replication group and cache subnet group tagged as part of ``deployment``."""
    gone: list[str] = []
    for group in aws.pages("elasticache", "describe_replication_groups", "ReplicationGroups"):
        if owned_by(_tags(aws, group["ARN"]), deployment):
            delete_group(aws, group["ReplicationGroupId"], wait_delay)
            gone.append(f"cache-replication-group:{group['ReplicationGroupId']}")
    for group in aws.pages("elasticache", "describe_cache_subnet_groups", "CacheSubnetGroups"):
        if group.get("ARN") and owned_by(_tags(aws, group["ARN"]), deployment):
            aws.call("elasticache", "delete_cache_subnet_group", CacheSubnetGroupName=group["CacheSubnetGroupName"],
                     ignore=_GONE)
            gone.append(f"cache-subnet-group:{group['CacheSubnetGroupName']}")
    return gone
