"""The stack's Application Load Balancer, target groups and listeners (the ``terraform-aws`` render's shape).

``<stack[:28]>-alb``: internet-facing, in the stack's subnets and ``alb``
security group, invalid headers dropped, deletion protection on (teardown turns
it off). One target group per service, ``<stack[:16]>-<service[:15]>``, of IP
targets (Fargate tasks), whose health check is the service's ``health_path``
(200-399, every 15 s, 2 up / 3 down) and deregistration delay 30 s.

With ``cloud.network.ssl_certificate_arn`` the listener is HTTPS on 443 (TLS
1.2+) and port 80 redirects to it; without one, port 80 forwards (HTTP: say
so before real traffic). The first service gets the default action; each other
service gets a path rule ``/<service>/*`` and is reached under that prefix.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.aws.parts import Ctx, Part, not_ours, owned_by, tag_list
from pepperpy.cloud.providers.aws.session import AWSSession
from pepperpy.cloud.spec.stack import Service

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_GONE = {"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound"}


def lb_name(stack: str) -> str:
    return f"{stack[:28]}-alb"


def target_group_name(stack: str, service: str) -> str:
    return f"{stack[:16]}-{service[:15]}".rstrip("-")


def _tags(aws: AWSSession, arns: list[str]) -> dict[str, Any]:
    """ARN -> tags, asked 20 at a time (the API's limit)."""
    out: dict[str, Any] = {}
    for start in range(0, len(arns), 20):
        for item in aws.call("elbv2", "describe_tags", ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            out[item["ResourceArn"]] = item.get("Tags", [])
    return out


def ensure_lb(ctx: Ctx) -> dict[str, str]:
    """The load balancer (created or found): ``arn``, ``dns`` and ``suffix`` (for request-count scaling)."""
    name = lb_name(ctx.name)
    found = ctx.aws.call("elbv2", "describe_load_balancers", Names=[name], ignore=_GONE)
    if found and found.get("LoadBalancers"):
        lb = found["LoadBalancers"][0]
        if not owned_by(_tags(ctx.aws, [lb["LoadBalancerArn"]]).get(lb["LoadBalancerArn"]), ctx.name):
            raise not_ours("elbv2.CreateLoadBalancer", f"load balancer {name!r}", ctx.name)
        created = False
    else:
        lb = ctx.aws.call("elbv2", "create_load_balancer", Name=name, Subnets=ctx.net.subnets,
                          SecurityGroups=[ctx.net.groups["alb"]], Scheme="internet-facing", Type="application",
                          IpAddressType="ipv4", Tags=tag_list(ctx.tags("load-balancer")))["LoadBalancers"][0]
        created = True
    arn = str(lb["LoadBalancerArn"])
    ctx.journal.record(Part("load-balancer", arn, {"name": name, "dns": lb["DNSName"]}), created=created,
                       undo=lambda: delete_lb(ctx.aws, arn, ctx.wait_delay))
    ctx.aws.call("elbv2", "modify_load_balancer_attributes", LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"},
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}])
    return {"arn": arn, "dns": str(lb["DNSName"]), "suffix": arn.split(":loadbalancer/", 1)[-1]}


def ensure_target_group(ctx: Ctx, service: str, svc: Service) -> dict[str, str]:
    """The service's target group with its health check; ``arn`` and ``suffix``."""
    name = target_group_name(ctx.name, service)
    health: dict[str, Any] = {
        "HealthCheckPath": svc.health_path, "HealthCheckProtocol": "HTTP", "HealthCheckIntervalSeconds": 15,
        "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200-399"}}
    found = ctx.aws.call("elbv2", "describe_target_groups", Names=[name], ignore=_GONE)
    if found and found.get("TargetGroups"):
        group = found["TargetGroups"][0]
        if not owned_by(_tags(ctx.aws, [group["TargetGroupArn"]]).get(group["TargetGroupArn"]), ctx.name):
            raise not_ours("elbv2.CreateTargetGroup", f"target group {name!r}", ctx.name)
        ctx.aws.call("elbv2", "modify_target_group", TargetGroupArn=group["TargetGroupArn"], **health)
        created = False
    else:
        group = ctx.aws.call("elbv2", "create_target_group", Name=name, Protocol="HTTP", Port=svc.port,
                             VpcId=ctx.net.vpc_id, TargetType="ip", Tags=tag_list(ctx.tags(f"target-group/{service}")),
                             **health)["TargetGroups"][0]
        created = True
    arn = str(group["TargetGroupArn"])
    ctx.journal.record(Part("target-group", arn, {"name": name, "health_path": svc.health_path}), created=created,
                       undo=lambda: ctx.aws.call("elbv2", "delete_target_group", TargetGroupArn=arn, ignore=_GONE))
    ctx.aws.call("elbv2", "modify_target_group_attributes", TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    return {"arn": arn, "suffix": "targetgroup/" + arn.split(":targetgroup/", 1)[-1]}


def _listener(ctx: Ctx, lb_arn: str, existing: dict[int, dict[str, Any]], port: int, protocol: str,
              action: dict[str, Any], certificate: str | None) -> str:
    params: dict[str, Any] = {"Port": port, "Protocol": protocol, "DefaultActions": [action]}
    if certificate:
        params.update(SslPolicy=TLS_POLICY, Certificates=[{"CertificateArn": certificate}])
    if port in existing:
        arn = str(existing[port]["ListenerArn"])
        ctx.aws.call("elbv2", "modify_listener", ListenerArn=arn, **params)
        ctx.journal.record(Part("listener", arn, {"port": port}), created=False)
        return arn
    arn = str(ctx.aws.call("elbv2", "create_listener", LoadBalancerArn=lb_arn, Tags=tag_list(
        ctx.tags(f"listener/{port}")), **params)["Listeners"][0]["ListenerArn"])
    ctx.journal.record(Part("listener", arn, {"port": port}), created=True,
                       undo=lambda: ctx.aws.call("elbv2", "delete_listener", ListenerArn=arn, ignore=_GONE))
    return arn


def ensure_listeners(ctx: Ctx, lb_arn: str, groups: list[tuple[str, str]]) -> str:
    """Listeners forwarding to the first service, path rules for the others; returns the URL scheme."""
    certificate = ctx.stack.cloud.network.ssl_certificate_arn
    existing = {int(item["Port"]): item for item in ctx.aws.pages(
        "elbv2", "describe_listeners", "Listeners", LoadBalancerArn=lb_arn)}
    forward = {"Type": "forward", "TargetGroupArn": groups[0][1]}
    if certificate:
        main = _listener(ctx, lb_arn, existing, 443, "HTTPS", forward, certificate)
        _listener(ctx, lb_arn, existing, 80, "HTTP", {"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}, None)
    else:
        main = _listener(ctx, lb_arn, existing, 80, "HTTP", forward, None)
    rules = {tuple(c.get("Values", [])): r for r in ctx.aws.call("elbv2", "describe_rules", ListenerArn=main)["Rules"]
             for c in r.get("Conditions", []) if c.get("Field") == "path-pattern"}
    for priority, (service, group) in enumerate(groups[1:], start=10):
        paths = (f"/{service}", f"/{service}/*")
        action = [{"Type": "forward", "TargetGroupArn": group}]
        if paths in rules:
            ctx.aws.call("elbv2", "modify_rule", RuleArn=rules[paths]["RuleArn"], Actions=action)
            continue
        ctx.aws.call("elbv2", "create_rule", ListenerArn=main, Priority=priority, Actions=action,
                     Conditions=[{"Field": "path-pattern", "Values": list(paths)}],
                     Tags=tag_list(ctx.tags(f"listener-rule/{service}")))
    return "https" if certificate else "http"


def delete_lb(aws: AWSSession, arn: str, wait_delay: float) -> None:
    """Deletion protection off, then the load balancer (its listeners and rules go with it)."""
    aws.call("elbv2", "modify_load_balancer_attributes", LoadBalancerArn=arn, ignore=_GONE,
             Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
    aws.call("elbv2", "delete_load_balancer", LoadBalancerArn=arn, ignore=_GONE)
    aws.wait("elbv2", "load_balancers_deleted", delay=max(1, int(wait_delay)), attempts=60, LoadBalancerArns=[arn])


def destroy(aws: AWSSession, deployment: str, wait_delay: float) -> list[str]:
    """The load balancers, then the target groups, tagged as part of ``deployment``."""
    gone: list[str] = []
    lbs = [lb["LoadBalancerArn"] for lb in aws.pages("elbv2", "describe_load_balancers", "LoadBalancers")]
    for arn, tags in _tags(aws, lbs).items():
        if owned_by(tags, deployment):
            delete_lb(aws, arn, wait_delay)
            gone.append(f"load-balancer:{arn}")
    groups = [g["TargetGroupArn"] for g in aws.pages("elbv2", "describe_target_groups", "TargetGroups")]
    for arn, tags in _tags(aws, groups).items():
        if owned_by(tags, deployment):
            aws.call("elbv2", "delete_target_group", TargetGroupArn=arn, ignore=_GONE)
            gone.append(f"target-group:{arn}")
    return gone
