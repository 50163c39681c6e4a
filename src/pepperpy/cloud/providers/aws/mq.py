"""Managed RabbitMQ components on Amazon MQ, shaped like the ``terraform-aws`` render's ``aws_mq_broker``.

``<stack>-<component>``: RabbitMQ (the component's version, else 3.13), the
host class the stack names for AWS (a ``-active-standby``/``-cluster`` suffix,
as price lists spell it, selects a three-node ``CLUSTER_MULTI_AZ`` broker),
else ``mq.m5.large`` clustered for two or more replicas and ``mq.t3.micro``
single otherwise. Private, in the stack's data security group, general logs
on. The administrator password is generated here and kept only in Secrets
Manager (``pepperpy-cloud/<stack>/<component>/password``); services read it by ARN.
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
    poll,
    read_secret,
)
from pepperpy.cloud.providers.aws.session import AWSSession
from pepperpy.cloud.spec.stack import Component

MQ_USER = "pepperpy"
_GONE = {"NotFoundException"}


def broker_shape(comp: Component) -> tuple[str, str]:
    """(host instance type, deployment mode), as the Terraform renderer chooses them."""
    explicit = comp.instance_for("aws")
    if explicit:
        cluster = explicit.endswith(("-active-standby", "-cluster"))
        host = explicit.removesuffix("-active-standby").removesuffix("-cluster")
    else:
        cluster = comp.replicas > 1
        host = "mq.m5.large" if cluster else "mq.t3.micro"
    return host, "CLUSTER_MULTI_AZ" if cluster else "SINGLE_INSTANCE"


def _find(aws: AWSSession, broker_name: str) -> dict[str, Any] | None:
    for summary in aws.pages("mq", "list_brokers", "BrokerSummaries"):
        if summary.get("BrokerName") == broker_name:
            found: dict[str, Any] | None = aws.call("mq", "describe_broker", BrokerId=summary["BrokerId"],
                                                    ignore=_GONE)
            return found
    return None


def ensure(ctx: Ctx, name: str, comp: Component) -> str:
    """Create (or find) the broker; returns its id. Call :func:`connection` once it runs."""
    broker_name = part_name(ctx.name, name, 50)
    secret_id = f"pepperpy-cloud/{ctx.name}/{name}/password"
    generated_secret(ctx, secret_id, f"secret/{name}", f"administrator password of Amazon MQ {broker_name}")
    host, mode = broker_shape(comp)
    details = {"host_instance_type": host, "deployment_mode": mode, "password_secret": secret_id}
    found = _find(ctx.aws, broker_name)
    if found is not None:
        if not owned_by(found.get("Tags"), ctx.name):
            raise not_ours("mq.CreateBroker", f"Amazon MQ broker {broker_name!r}", ctx.name)
        ctx.journal.record(Part("mq-broker", str(found["BrokerId"]), {"name": broker_name, **details}),
                           created=False)
        return str(found["BrokerId"])
    subnets = ctx.net.subnets[:3] if mode == "CLUSTER_MULTI_AZ" else ctx.net.subnets[:1]
    created = ctx.aws.call(
        "mq", "create_broker", BrokerName=broker_name, EngineType="RABBITMQ", EngineVersion=comp.version or "3.13",
        HostInstanceType=host, DeploymentMode=mode, PubliclyAccessible=False, AutoMinorVersionUpgrade=True,
        SubnetIds=subnets, SecurityGroups=[ctx.net.groups["data"]], Logs={"General": True},
        MaintenanceWindowStartTime={"DayOfWeek": "SUNDAY", "TimeOfDay": "03:00", "TimeZone": "UTC"},
        Users=[{"Username": MQ_USER, "Password": read_secret(ctx.aws, secret_id)}],
        Tags=ctx.tags(f"mq-broker/{name}"))
    broker_id = str(created["BrokerId"])
    ctx.journal.record(Part("mq-broker", broker_id, {"name": broker_name, "arn": created.get("BrokerArn"),
                                                     **details}),
                       created=True, undo=lambda: delete_broker(ctx.aws, broker_id, ctx.wait_delay))
    return broker_id


def connection(ctx: Ctx, name: str, broker_id: str) -> Connection:
    """Wait until the broker runs; its AMQPS endpoint, and the password as a ``valueFrom`` reference."""
    state: dict[str, Any] = {}

    def running() -> bool:
        state.update(ctx.aws.call("mq", "describe_broker", BrokerId=broker_id))
        if state.get("BrokerState") in {"CREATION_FAILED", "DELETION_IN_PROGRESS"}:
            from pepperpy.cloud.providers.aws.session import AWSError

            raise AWSError("mq.DescribeBroker", f"broker {broker_id} is {state['BrokerState']}",
                           "see the broker in the Amazon MQ console")
        return state.get("BrokerState") == "RUNNING"

    poll(running, what=f"Amazon MQ broker {broker_id} to run", delay=ctx.wait_delay, attempts=120)
    endpoints = [e for i in state.get("BrokerInstances", []) for e in i.get("Endpoints", [])]
    secret = ctx.aws.call("secretsmanager", "describe_secret",
                          SecretId=f"pepperpy-cloud/{ctx.name}/{name}/password")["ARN"]
    prefix = env_prefix(name)
    host = next((e.split("://", 1)[-1].rsplit(":", 1)[0] for e in endpoints if e.startswith("amqps")), "")
    return Connection(name, plain={f"{prefix}_HOST": host, f"{prefix}_PORT": "5671", f"{prefix}_USER": MQ_USER,
                                   f"{prefix}_URLS": ",".join(endpoints)},
                      secrets={f"{prefix}_PASSWORD": str(secret)})


def delete_broker(aws: AWSSession, broker_id: str, wait_delay: float) -> None:
    if aws.call("mq", "describe_broker", BrokerId=broker_id, ignore=_GONE) is None:
        return
    aws.call("mq", "delete_broker", BrokerId=broker_id, ignore=_GONE)
    poll(lambda: aws.call("mq", "describe_broker", BrokerId=broker_id, ignore=_GONE) is None,
         what=f"deleting Amazon MQ broker {broker_id}", delay=wait_delay, attempts=120)


def destroy(aws: AWSSession, deployment: str, wait_delay: float) -> list[str]:
    """Every broker tagged as part of ``deployment`` (Amazon MQ is not in the tagging API: listed here)."""
    gone: list[str] = []
    for summary in list(aws.pages("mq", "list_brokers", "BrokerSummaries")):
        found = aws.call("mq", "describe_broker", BrokerId=summary["BrokerId"], ignore=_GONE)
        if found is not None and owned_by(found.get("Tags"), deployment):
            delete_broker(aws, summary["BrokerId"], wait_delay)
            gone.append(f"mq-broker:{summary['BrokerId']}")
    return gone
