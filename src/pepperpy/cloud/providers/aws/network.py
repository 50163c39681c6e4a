"""Where a stack runs on AWS: a VPC and its subnets, and the three security groups of the stack.

The VPC is the stack's ``cloud.network.vpc_id`` (with ``network.subnets``, or
every subnet of it) when given, otherwise the account's default VPC and its
default subnets. No VPC, subnet, NAT gateway or route is created here: those
are the network team's (or the ``terraform-aws`` render's) to own, and a VPC
made per deployment costs a NAT gateway per stack. In the default VPC the
subnets are public, so Fargate tasks get a public IP to pull images (their
security group still only admits the load balancer).

Three security groups, tagged with the deployment, chain the tiers the way the
Terraform renderer does: ``<stack>-alb`` (HTTP/HTTPS from anywhere, out only to
the services), ``<stack>-app`` (the service ports from the load balancer only)
and ``<stack>-data`` (PostgreSQL, Redis, AMQPS and the broker console from the
services only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.parts import Journal, Part, owned_by, part_name, poll, stack_tags, tag_list
from pepperpy.cloud.providers.aws.session import AWSError, AWSSession
from pepperpy.cloud.spec.stack import Stack

DATA_PORTS = [(5432, "PostgreSQL"), (6379, "Redis"), (5671, "AMQPS"), (443, "broker console")]
_GONE = {"InvalidGroup.NotFound", "InvalidPermission.NotFound"}


@dataclass
class Network:
    """The VPC, the subnets the stack uses, and its security groups by role (``alb``, ``app``, ``data``)."""

    vpc_id: str
    subnets: list[str]
    default_vpc: bool
    groups: dict[str, str] = field(default_factory=dict)


def resolve(aws: AWSSession, stack: Stack) -> Network:
    """The stack's VPC and at least two subnets in different zones (the load balancer needs two)."""
    net = stack.cloud.network
    if net.vpc_id:
        found = aws.call("ec2", "describe_vpcs", VpcIds=[net.vpc_id], ignore={"InvalidVpcID.NotFound"})
        if not found or not found.get("Vpcs"):
            raise InputError("cloud.network.vpc_id", f"VPC {net.vpc_id!r} does not exist in {aws.region}")
        filters = [{"Name": "vpc-id", "Values": [net.vpc_id]}]
        if net.subnets:
            filters.append({"Name": "subnet-id", "Values": list(net.subnets)})
        subnets = list(aws.pages("ec2", "describe_subnets", "Subnets", Filters=filters))
        vpc_id, default = net.vpc_id, bool(found["Vpcs"][0].get("IsDefault"))
    else:
        vpcs = aws.call("ec2", "describe_vpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise InputError("cloud.network.vpc_id", f"the account has no default VPC in {aws.region}",
                             hint="set cloud.network.vpc_id (and subnets) in the stack")
        vpc_id, default = str(vpcs[0]["VpcId"]), True
        subnets = list(aws.pages("ec2", "describe_subnets", "Subnets", Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default-for-az", "Values": ["true"]}]))
    by_zone: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda s: (s["AvailabilityZone"], s["SubnetId"])):
        by_zone.setdefault(str(subnet["AvailabilityZone"]), str(subnet["SubnetId"]))
    if len(by_zone) < 2:
        raise InputError("cloud.network.subnets", f"VPC {vpc_id} has subnets in {len(by_zone)} zone(s); the load "
                         "balancer needs two zones", hint="add a subnet in a second availability zone")
    return Network(vpc_id=vpc_id, subnets=list(by_zone.values())[:3], default_vpc=default)


def _find_group(aws: AWSSession, vpc_id: str, name: str) -> dict[str, Any] | None:
    found = aws.call("ec2", "describe_security_groups", Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return found[0] if found else None


def _group(aws: AWSSession, stack: str, net: Network, role: str, description: str, journal: Journal) -> str:
    name = part_name(stack, role, 255)
    existing = _find_group(aws, net.vpc_id, name)
    if existing is not None:
        if not owned_by(existing.get("Tags"), stack):
            raise AWSError("ec2.CreateSecurityGroup", f"security group {name!r} in {net.vpc_id} exists and is not "
                           f"tagged as part of {stack!r}", "pick another stack name")
        group_id = str(existing["GroupId"])
        journal.record(Part("security-group", group_id, {"name": name, "role": role}), created=False)
        return group_id
    created = aws.call("ec2", "create_security_group", GroupName=name, Description=description, VpcId=net.vpc_id,
                       TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(
                           {**stack_tags(stack, f"security-group/{role}"), "Name": name})}])
    group_id = str(created["GroupId"])
    journal.record(Part("security-group", group_id, {"name": name, "role": role}), created=True,
                   undo=lambda: delete_groups(aws, [group_id]))
    return group_id


def _allow(aws: AWSSession, direction: str, group_id: str, port: int, what: str, *, source: str | None = None,
           cidr: str | None = None) -> None:
    """One TCP rule; an existing identical rule is fine (re-running converges)."""
    rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if source:
        rule["UserIdGroupPairs"] = [{"GroupId": source, "Description": what}]
    else:
        rule["IpRanges"] = [{"CidrIp": cidr or "0.0.0.0/0", "Description": what}]
    method = "authorize_security_group_ingress" if direction == "in" else "authorize_security_group_egress"
    aws.call("ec2", method, GroupId=group_id, IpPermissions=[rule], ignore={"InvalidPermission.Duplicate"})


def _no_default_egress(aws: AWSSession, group_id: str) -> None:
    """A new group may send anywhere; the load balancer and data groups should not."""
    aws.call("ec2", "revoke_security_group_egress", GroupId=group_id, ignore=_GONE,
             IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def ensure_groups(aws: AWSSession, stack: Stack, net: Network, ports: list[int], https: bool,
                  journal: Journal) -> None:
    """Create (or find) the three groups and their rules; fills ``net.groups``."""
    alb = _group(aws, stack.name, net, "alb", f"{stack.name}: public HTTP(S) entry point", journal)
    app = _group(aws, stack.name, net, "app", f"{stack.name}: services, reached through the load balancer",
                 journal)
    data = _group(aws, stack.name, net, "data", f"{stack.name}: data stores, reached by the services only",
                  journal)
    net.groups = {"alb": alb, "app": app, "data": data}
    for port in [80, 443] if https else [80]:
        _allow(aws, "in", alb, port, "from anywhere")
    _no_default_egress(aws, alb)
    for port in ports:
        _allow(aws, "out", alb, port, "to the services", source=app)
        _allow(aws, "in", app, port, "from the load balancer", source=alb)
    for port, what in DATA_PORTS:
        _allow(aws, "in", data, port, f"{what} from the services", source=app)
    _no_default_egress(aws, data)


def find_groups(aws: AWSSession, deployment: str) -> list[str]:
    """The ids of every security group tagged as part of ``deployment``."""
    groups = aws.pages("ec2", "describe_security_groups", "SecurityGroups", Filters=[
        {"Name": "tag:pepperpy-cloud:deployment", "Values": [deployment]}])
    return [str(g["GroupId"]) for g in groups if owned_by(g.get("Tags"), deployment)]


def delete_groups(aws: AWSSession, group_ids: list[str], *, delay: float = 5, attempts: int = 60) -> None:
    """Drop every rule first (the groups refer to each other), then the groups.

    Network interfaces of a load balancer or task that was just deleted can hold
    a group for a few minutes; ``DependencyViolation`` is retried until they go.
    """
    for group_id in group_ids:
        found = aws.call("ec2", "describe_security_groups", GroupIds=[group_id], ignore=_GONE)
        if not found:
            continue
        group = found["SecurityGroups"][0]
        for key, method in (("IpPermissions", "revoke_security_group_ingress"),
                            ("IpPermissionsEgress", "revoke_security_group_egress")):
            rules = [_strip(rule) for rule in group.get(key, [])]
            if rules:
                aws.call("ec2", method, GroupId=group_id, IpPermissions=rules, ignore=_GONE)
    for group_id in group_ids:
        def gone(group_id: str = group_id) -> bool:
            try:
                aws.call("ec2", "delete_security_group", GroupId=group_id, ignore=_GONE)
            except AWSError as exc:
                if exc.code == "DependencyViolation":
                    return False
                raise
            return True

        poll(gone, what=f"deleting security group {group_id}", delay=delay, attempts=attempts)


def _strip(rule: dict[str, Any]) -> dict[str, Any]:
    """A described rule in the shape ``revoke_*`` accepts (no ``UserId`` or empty lists)."""
    out: dict[str, Any] = {"IpProtocol": rule["IpProtocol"]}
    for key in ("FromPort", "ToPort"):
        if key in rule:
            out[key] = rule[key]
    for key in ("IpRanges", "Ipv6Ranges", "PrefixListIds"):
        if rule.get(key):
            out[key] = rule[key]
    if rule.get("UserIdGroupPairs"):
        out["UserIdGroupPairs"] = [{"GroupId": p["GroupId"]} for p in rule["UserIdGroupPairs"]]
    return out
