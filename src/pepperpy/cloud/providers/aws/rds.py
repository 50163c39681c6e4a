"""Managed PostgreSQL/MySQL components on RDS, shaped like the ``terraform-aws`` render's ``aws_db_instance``.

``<stack>-<component>``: the class the stack names for AWS (else by ``size``, else
the smallest class that holds its CPU and memory; the renderer's tables), gp3
storage that may grow to twice the size, encrypted, Multi-AZ, private, in the
stack's data security group, 7 days of backups, deletion protection on. The
master password is kept by RDS itself in Secrets Manager
(``ManageMasterUserPassword``), so it never passes through this tool; services
get it as ``<COMPONENT>_PASSWORD`` from that secret's ARN.

Its parameter group ``<stack>-<component>`` requires TLS and logs DDL and slow
statements. pgvector needs no parameter on RDS (it is not a preload library):
the app runs ``CREATE EXTENSION IF NOT EXISTS vector``; the extensions a
component asks for are recorded as ``extensions_to_create``.

Teardown turns deletion protection off and deletes without a final snapshot
(a snapshot would be a tagged leftover); take one first if the data matters.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.parts import (
    Connection,
    Ctx,
    Part,
    env_prefix,
    not_ours,
    owned_by,
    part_name,
    tag_list,
)
from pepperpy.cloud.providers.aws.session import AWSSession
from pepperpy.cloud.render.terraform_aws import DB_BY_SIZE, DB_CLASSES, DB_ENGINES
from pepperpy.cloud.render.terraform_common import cpu_of, memory_gb, pick_size, storage_gb
from pepperpy.cloud.spec.stack import Component

DB_USER = "pepperpy"
DB_NAME = "app"
_GONE = {"DBInstanceNotFound", "DBInstanceNotFoundFault", "DBParameterGroupNotFound", "DBSubnetGroupNotFoundFault",
         "DBSubnetGroupNotFound"}


def instance_class(comp: Component) -> str:
    """The renderer's choice: explicit AWS class, else by size, else the smallest that fits."""
    return comp.instance_for("aws") or (DB_BY_SIZE[comp.size] if comp.size else pick_size(
        DB_CLASSES, cpu_of(comp), memory_gb(comp)))


def _describe(aws: AWSSession, identifier: str) -> dict[str, Any] | None:
    found = aws.call("rds", "describe_db_instances", DBInstanceIdentifier=identifier, ignore=_GONE)
    return found["DBInstances"][0] if found and found.get("DBInstances") else None


def _parameter_group(ctx: Ctx, name: str, family: str, engine: str) -> None:
    created = ctx.aws.call("rds", "create_db_parameter_group", ignore={"DBParameterGroupAlreadyExists"},
                           DBParameterGroupName=name, DBParameterGroupFamily=family,
                           Description=f"pepperpy-cloud {name}: TLS required, DDL and slow statements logged",
                           Tags=tag_list(ctx.tags(f"db-parameter-group/{name}")))
    ctx.journal.record(Part("db-parameter-group", name), created=created is not None,
                       undo=lambda: ctx.aws.call("rds", "delete_db_parameter_group", DBParameterGroupName=name,
                                                 ignore=_GONE))
    params = [("rds.force_ssl", "1"), ("log_statement", "ddl"), ("log_min_duration_statement", "1000")] \
        if engine == "postgres" else [("require_secure_transport", "1")]
    ctx.aws.call("rds", "modify_db_parameter_group", DBParameterGroupName=name, Parameters=[
        {"ParameterName": k, "ParameterValue": v, "ApplyMethod": "pending-reboot"} for k, v in params])


def _subnet_group(ctx: Ctx, name: str) -> str | None:
    """A subnet group of the stack's subnets; none in the default VPC (RDS uses its default group)."""
    if ctx.net.default_vpc:
        return None
    created = ctx.aws.call("rds", "create_db_subnet_group", ignore={"DBSubnetGroupAlreadyExists"},
                           DBSubnetGroupName=name, DBSubnetGroupDescription=f"pepperpy-cloud {name}",
                           SubnetIds=ctx.net.subnets, Tags=tag_list(ctx.tags(f"db-subnet-group/{name}")))
    ctx.journal.record(Part("db-subnet-group", name), created=created is not None,
                       undo=lambda: ctx.aws.call("rds", "delete_db_subnet_group", DBSubnetGroupName=name,
                                                 ignore=_GONE))
    return name


def ensure(ctx: Ctx, name: str, comp: Component) -> str:
    """Create (or converge) the database; returns its identifier. Call :func:`connection` once it is up."""
    if comp.engine and comp.engine.lower().startswith("aurora"):
        raise InputError(f"components.{name}.engine", "Aurora is not deployed by the AWS provider yet",
                         hint="leave engine unset for RDS PostgreSQL, or render terraform-aws")
    identifier = part_name(ctx.name, name, 63)
    engine, default_version, port, logs = DB_ENGINES[comp.kind]
    version = comp.version or default_version
    major = version.split(".")[0] if engine == "postgres" else ".".join(version.split(".")[:2])
    _parameter_group(ctx, identifier, f"{engine}{major}", engine)
    subnet_group = _subnet_group(ctx, identifier)
    klass, storage = instance_class(comp), storage_gb(comp)
    details = {"engine": engine, "version": version, "class": klass, "storage_gb": storage,
               "extensions_to_create": ["vector" if e == "pgvector" else e for e in comp.extensions]}
    found = _describe(ctx.aws, identifier)
    if found is not None:
        if not owned_by(found.get("TagList"), ctx.name):
            raise not_ours("rds.CreateDBInstance", f"RDS instance {identifier!r}", ctx.name)
        _converge(ctx, found, klass, storage)
        ctx.journal.record(Part("db-instance", identifier, details), created=False)
        return identifier
    params: dict[str, Any] = {
        "DBInstanceIdentifier": identifier, "Engine": engine, "EngineVersion": version, "DBInstanceClass": klass,
        "AllocatedStorage": storage, "MaxAllocatedStorage": storage * 2, "StorageType": "gp3",
        "StorageEncrypted": True, "MasterUsername": DB_USER, "ManageMasterUserPassword": True, "DBName": DB_NAME,
        "Port": port, "DBParameterGroupName": identifier, "VpcSecurityGroupIds": [ctx.net.groups["data"]],
        "PubliclyAccessible": False, "MultiAZ": True, "BackupRetentionPeriod": 7,
        "PreferredBackupWindow": "03:00-04:00", "PreferredMaintenanceWindow": "sun:04:30-sun:05:30",
        "CopyTagsToSnapshot": True, "DeletionProtection": True, "AutoMinorVersionUpgrade": True,
        "EnableIAMDatabaseAuthentication": True, "EnableCloudwatchLogsExports": logs,
        "Tags": tag_list(ctx.tags(f"db-instance/{name}"))}
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    ctx.aws.call("rds", "create_db_instance", **params)
    ctx.journal.record(Part("db-instance", identifier, details), created=True,
                       undo=lambda: delete_instance(ctx.aws, identifier, ctx.wait_delay))
    return identifier


def _converge(ctx: Ctx, found: dict[str, Any], klass: str, storage: int) -> None:
    changes: dict[str, Any] = {}
    if found.get("DBInstanceClass") != klass:
        changes["DBInstanceClass"] = klass
    if storage > int(found.get("AllocatedStorage") or 0):
        changes["AllocatedStorage"] = storage
    if changes:
        ctx.aws.call("rds", "modify_db_instance", DBInstanceIdentifier=found["DBInstanceIdentifier"],
                     ApplyImmediately=True, **changes)


def connection(ctx: Ctx, name: str, comp: Component, identifier: str) -> Connection:
    """Wait until the instance is available; its address, and its password as a ``valueFrom`` reference."""
    ctx.aws.wait("rds", "db_instance_available", delay=int(ctx.wait_delay), attempts=120,
                 DBInstanceIdentifier=identifier)
    found = _describe(ctx.aws, identifier) or {}
    endpoint = found.get("Endpoint") or {}
    prefix = env_prefix(name)
    conn = Connection(name, plain={f"{prefix}_HOST": str(endpoint.get("Address", "")),
                                   f"{prefix}_PORT": str(endpoint.get("Port", DB_ENGINES[comp.kind][2])),
                                   f"{prefix}_USER": DB_USER, f"{prefix}_DB": DB_NAME})
    secret = (found.get("MasterUserSecret") or {}).get("SecretArn")
    if secret:  # RDS keeps {"username": ..., "password": ...} in it
        conn.secrets[f"{prefix}_PASSWORD"] = f"{secret}:password::"
    return conn


def delete_instance(aws: AWSSession, identifier: str, wait_delay: float) -> None:
    found = _describe(aws, identifier)
    if found is None:
        return
    if found.get("DeletionProtection"):
        aws.call("rds", "modify_db_instance", DBInstanceIdentifier=identifier, DeletionProtection=False,
                 ApplyImmediately=True)
    if found.get("DBInstanceStatus") != "deleting":
        aws.call("rds", "delete_db_instance", DBInstanceIdentifier=identifier, SkipFinalSnapshot=True,
                 DeleteAutomatedBackups=True, ignore=_GONE)
    aws.wait("rds", "db_instance_deleted", delay=int(wait_delay), attempts=120, DBInstanceIdentifier=identifier)


def destroy(aws: AWSSession, deployment: str, wait_delay: float) -> list[str]:
    """Every instance, parameter group and subnet group tagged as part of ``deployment``; returns what went."""
    gone: list[str] = []
    for db in aws.pages("rds", "describe_db_instances", "DBInstances"):
        if owned_by(db.get("TagList"), deployment):
            delete_instance(aws, db["DBInstanceIdentifier"], wait_delay)
            gone.append(f"db-instance:{db['DBInstanceIdentifier']}")
    for group in aws.pages("rds", "describe_db_parameter_groups", "DBParameterGroups"):
        tags = aws.call("rds", "list_tags_for_resource", ResourceName=group["DBParameterGroupArn"])["TagList"]
        if owned_by(tags, deployment):
            aws.call("rds", "delete_db_parameter_group", DBParameterGroupName=group["DBParameterGroupName"],
                     ignore=_GONE)
            gone.append(f"db-parameter-group:{group['DBParameterGroupName']}")
    for group in aws.pages("rds", "describe_db_subnet_groups", "DBSubnetGroups"):
        tags = aws.call("rds", "list_tags_for_resource", ResourceName=group["DBSubnetGroupArn"])["TagList"]
        if owned_by(tags, deployment):
            aws.call("rds", "delete_db_subnet_group", DBSubnetGroupName=group["DBSubnetGroupName"], ignore=_GONE)
            gone.append(f"db-subnet-group:{group['DBSubnetGroupName']}")
    return gone
