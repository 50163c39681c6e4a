"""``hosting: kubernetes`` stacks on AWS: an EKS cluster and a managed node group, then the manifests.

Used when the provider has ``kubernetes_hosting="eks"`` (the default keeps such stacks on ECS Fargate).

- **Roles**: ``<stack>-eks-cluster`` (trusted by ``eks.amazonaws.com``, AWS's
  ``AmazonEKSClusterPolicy``) and ``<stack>-eks-node`` (trusted by EC2, the worker,
  CNI and ECR read-only policies), under path ``/pepperpy-cloud/`` and tagged — the
  roles the ``terraform-aws`` render gives.
- **Cluster** ``<stack>`` in the stack's subnets (the default VPC's unless it names
  one), Kubernetes ``kubernetes_version`` (provider option, default 1.33, as the
  render), API-and-ConfigMap authentication with the creator as cluster admin (so
  the token below may apply), a public endpoint unless
  ``cloud.network.use_private_endpoints`` (then reach it through a tunnel and pass
  ``eks_endpoint_url=``), control-plane logs on.
- **Node group** ``<stack>-nodes`` sized like the render's (:func:`node_sizing`:
  the instance type that fits the largest workload, one node per replica, min..max;
  spot types when cost optimization asks for spot).
- Both are awaited until ``ACTIVE``; then the stack's overlay is applied with
  :class:`~pepperpy.cloud.providers.kubernetes.KubernetesProvider` (server-side
  apply, rollout awaited) through a kubeconfig made from ``describe_cluster``
  (endpoint and CA) and a bearer token built like ``aws eks get-token``
  (:func:`get_token`). The token is never written to disk.

Which KubernetesProvider is used is injectable (the ``kubernetes_provider`` option:
``callable(EKSAccess, kubeconfig_path) -> KubernetesProvider``) so tests can point it
at a fake API server. Teardown removes node groups (and Fargate profiles), waits for
them, then the cluster and the roles; the Kubernetes objects go with the cluster.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.ecs import delete_role
from pepperpy.cloud.providers.aws.parts import ROLE_PATH, Ctx, Part, not_ours, owned_by, part_name, poll, tag_list
from pepperpy.cloud.providers.aws.session import AWSCredentialsError, AWSError, AWSSession
from pepperpy.cloud.render.terraform_aws import MACHINES
from pepperpy.cloud.render.terraform_common import NodeSizing, node_sizing
from pepperpy.cloud.spec.stack import Stack

if TYPE_CHECKING:
    from pepperpy.cloud.providers.kubernetes import KubernetesProvider

KUBERNETES_VERSION = "1.33"
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_EXPIRES = 60  # seconds the presigned URL is valid; EKS accepts a token for 15 minutes after signing
CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
_GONE = {"ResourceNotFoundException", "NoSuchEntity"}


@dataclass(frozen=True)
class EKSAccess:
    """How to reach a cluster's API server: endpoint, CA (base64 PEM, as EKS gives it) and a bearer token."""

    cluster: str
    arn: str
    endpoint: str
    certificate_authority: str
    token: str
    region: str


KubernetesFactory = Callable[[EKSAccess, Path], "KubernetesProvider"]


def check(stack: Stack) -> None:
    """Refuse what the EKS path does not do yet, before anything exists: managed components."""
    for name, comp in stack.components.items():
        if comp.managed and comp.kind in {"postgres", "mysql", "redis", "rabbitmq"}:
            raise InputError(f"components.{name}.managed", f"managed {comp.kind} is not wired to EKS clusters yet",
                             hint="set managed: false (it runs in the cluster), use hosting: vm (ECS), or render "
                                  "terraform-aws")


def cluster_name(stack: str) -> str:
    """The stack's name (at most 42 characters, within EKS's 100), as the ECS cluster and the render name it."""
    return stack


def nodegroup_name(stack: str) -> str:
    return part_name(stack, "nodes", 63)


def sizing(ctx: Ctx) -> NodeSizing:
    """The render's node sizing, so the API creates what ``terraform-aws`` would."""
    return node_sizing(ctx.stack, "aws", MACHINES)


# --------------------------------------------------------------------------- roles


def _ensure_role(ctx: Ctx, part: str, principal: str, policies: tuple[str, ...]) -> str:
    """A service role with AWS managed policies attached (found when it exists and is ours)."""
    role = part_name(ctx.name, part, 64)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": principal}}]}
    found = ctx.aws.call("iam", "get_role", RoleName=role, ignore={"NoSuchEntity"})
    if found is not None:
        if not owned_by(ctx.aws.call("iam", "list_role_tags", RoleName=role)["Tags"], ctx.name):
            raise not_ours("iam.CreateRole", f"IAM role {role!r}", ctx.name)
        arn, created = str(found["Role"]["Arn"]), False
    else:
        arn = str(ctx.aws.call("iam", "create_role", RoleName=role, Path=ROLE_PATH,
                               AssumeRolePolicyDocument=json.dumps(trust),
                               Description=f"pepperpy-cloud: {part} role of {ctx.name}",
                               Tags=tag_list(ctx.tags(f"iam-role/{part}")))["Role"]["Arn"])
        created = True
    ctx.journal.record(Part("iam-role", role, {"arn": arn}), created=created, undo=lambda: delete_role(ctx.aws, role))
    partition = arn.split(":")[1]
    for policy in policies:
        ctx.aws.call("iam", "attach_role_policy", RoleName=role,
                     PolicyArn=f"arn:{partition}:iam::aws:policy/{policy}")
    return arn


def ensure_roles(ctx: Ctx) -> tuple[str, str]:
    """(cluster role ARN, node role ARN)."""
    return (_ensure_role(ctx, "eks-cluster", "eks.amazonaws.com", CLUSTER_POLICIES),
            _ensure_role(ctx, "eks-node", "ec2.amazonaws.com", NODE_POLICIES))


# --------------------------------------------------------------------------- cluster and nodes


def _describe_cluster(aws: AWSSession, name: str) -> dict[str, Any] | None:
    found = aws.call("eks", "describe_cluster", name=name, ignore=_GONE)
    return dict(found["cluster"]) if found else None


def ensure_cluster(ctx: Ctx, role_arn: str, version: str) -> dict[str, Any]:
    """The cluster (created or found), awaited until ACTIVE."""
    name = cluster_name(ctx.name)
    found = _describe_cluster(ctx.aws, name)
    if found is not None:
        if not owned_by(found.get("tags"), ctx.name):
            raise not_ours("eks.CreateCluster", f"EKS cluster {name!r}", ctx.name)
        created = False
    else:
        private = ctx.stack.cloud.network.use_private_endpoints
        vpc: dict[str, Any] = {"subnetIds": ctx.net.subnets, "endpointPrivateAccess": True,
                               "endpointPublicAccess": not private}
        if ctx.stack.cloud.network.security_groups:
            vpc["securityGroupIds"] = list(ctx.stack.cloud.network.security_groups)
        params: dict[str, Any] = {
            "name": name, "version": version, "roleArn": role_arn, "resourcesVpcConfig": vpc,
            "logging": {"clusterLogging": [{"types": LOG_TYPES, "enabled": True}]},
            "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP",
                             "bootstrapClusterCreatorAdminPermissions": True},
            "tags": ctx.tags("eks-cluster")}
        if ctx.stack.cloud.security.encryption_key_arn:
            params["encryptionConfig"] = [{"resources": ["secrets"],
                                           "provider": {"keyArn": ctx.stack.cloud.security.encryption_key_arn}}]
        found = dict(ctx.aws.call("eks", "create_cluster", **params)["cluster"])
        created = True
    ctx.journal.record(Part("eks-cluster", name, {"arn": found["arn"], "version": found.get("version")}),
                       created=created, undo=lambda: delete_cluster(ctx.aws, name, ctx.wait_delay))
    return _await_active(ctx, f"EKS cluster {name}", lambda: _describe_cluster(ctx.aws, name), attempts=90)


def _describe_nodegroup(aws: AWSSession, cluster: str, group: str) -> dict[str, Any] | None:
    found = aws.call("eks", "describe_nodegroup", clusterName=cluster, nodegroupName=group, ignore=_GONE)
    return dict(found["nodegroup"]) if found else None


def ensure_nodegroup(ctx: Ctx, role_arn: str) -> dict[str, Any]:
    """The managed node group sized from the services, awaited until ACTIVE; a found one is resized."""
    cluster, group = cluster_name(ctx.name), nodegroup_name(ctx.name)
    size = sizing(ctx)
    scaling = {"minSize": size.min_nodes, "maxSize": size.max_nodes, "desiredSize": size.desired}
    found = _describe_nodegroup(ctx.aws, cluster, group)
    if found is not None:
        if not owned_by(found.get("tags"), ctx.name):
            raise not_ours("eks.CreateNodegroup", f"node group {group!r}", ctx.name)
        if found.get("scalingConfig", {}).get("minSize") != size.min_nodes or \
                found.get("scalingConfig", {}).get("maxSize") != size.max_nodes:
            desired = min(max(int(found["scalingConfig"].get("desiredSize", size.desired)), size.min_nodes),
                          size.max_nodes)
            ctx.aws.call("eks", "update_nodegroup_config", clusterName=cluster, nodegroupName=group,
                         scalingConfig={**scaling, "desiredSize": desired})
        created = False
    else:
        spot = ctx.stack.cloud.cost_optimization.use_spot_instances
        types = [size.instance_type]
        if spot:
            types += [t for t in ctx.stack.cloud.cost_optimization.spot_instance_types if t not in types]
        found = dict(ctx.aws.call(
            "eks", "create_nodegroup", clusterName=cluster, nodegroupName=group, nodeRole=role_arn,
            subnets=ctx.net.subnets, instanceTypes=types, capacityType="SPOT" if spot else "ON_DEMAND",
            scalingConfig=scaling, diskSize=size.disk_gb, updateConfig={"maxUnavailable": 1},
            labels={"pepperpy-cloud/deployment": ctx.name},
            tags=ctx.tags("eks-nodegroup"))["nodegroup"])
        created = True
    ctx.journal.record(Part("eks-nodegroup", group, {"arn": found["nodegroupArn"], "cluster": cluster,
                                                     "instance_type": size.instance_type, **scaling}),
                       created=created, undo=lambda: delete_nodegroup(ctx.aws, cluster, group, ctx.wait_delay))
    return _await_active(ctx, f"EKS node group {group}",
                         lambda: _describe_nodegroup(ctx.aws, cluster, group), attempts=90)


def _await_active(ctx: Ctx, what: str, describe: Callable[[], dict[str, Any] | None],
                  attempts: int) -> dict[str, Any]:
    """Poll until ``status`` is ACTIVE; a FAILED/DEGRADED one stops with its health issues."""
    last: dict[str, Any] = {}

    def active() -> bool:
        nonlocal last
        last = describe() or {}
        status = last.get("status")
        if status in {"FAILED", "CREATE_FAILED", "DEGRADED"}:
            issues = "; ".join(str(i.get("message")) for i in (last.get("health") or {}).get("issues", []))
            raise AWSError("eks.wait", f"{what} is {status}{': ' + issues if issues else ''}",
                           "fix the cause named, then destroy and deploy again")
        if status != "ACTIVE":
            ctx.journal.progress(f"{what}: {status or 'missing'}")
        return status == "ACTIVE"

    poll(active, what=f"{what} to become ACTIVE", delay=ctx.wait_delay, attempts=attempts)
    return last


# --------------------------------------------------------------------------- access


def sts_url(region: str) -> str:
    """The regional STS endpoint the token is signed for (what EKS's authenticator calls)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}/?Action=GetCallerIdentity&Version=2011-06-15"


def get_token(aws: AWSSession, cluster: str) -> str:
    """A bearer token for the cluster, as ``aws eks get-token`` / aws-iam-authenticator make it.

    A SigV4-presigned ``sts:GetCallerIdentity`` GET whose signed headers include
    ``x-k8s-aws-id: <cluster>`` (so the token is valid for that cluster only),
    base64url-encoded without padding, prefixed ``k8s-aws-v1.``. EKS calls STS with it
    and maps the identity to Kubernetes users.
    """
    from botocore.signers import RequestSigner  # type: ignore[import-untyped]

    session = aws.session
    credentials = session.get_credentials()
    if credentials is None:
        raise AWSCredentialsError("eks.GetToken", "no usable AWS credentials were found", "configure credentials")
    service_id = aws.client("sts").meta.service_model.service_id
    signer = RequestSigner(service_id, aws.region, "sts", "v4", credentials, session.events)
    request = {"method": "GET", "url": sts_url(aws.region), "body": {}, "headers": {CLUSTER_ID_HEADER: cluster},
               "context": {}}
    url = signer.generate_presigned_url(request, region_name=aws.region, expires_in=TOKEN_EXPIRES,
                                        operation_name="")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def access(aws: AWSSession, cluster: dict[str, Any]) -> EKSAccess:
    """Endpoint and CA from ``describe_cluster``, plus a fresh token."""
    return EKSAccess(cluster=str(cluster["name"]), arn=str(cluster["arn"]), endpoint=str(cluster["endpoint"]),
                     certificate_authority=str((cluster.get("certificateAuthority") or {}).get("data", "")),
                     token=get_token(aws, str(cluster["name"])), region=aws.region)


def kubeconfig(found: EKSAccess, *, exec_auth: bool = False) -> dict[str, Any]:
    """A kubeconfig for the cluster; ``exec_auth`` adds ``aws eks get-token`` (what ``update-kubeconfig`` writes).

    Without it the user entry is empty: the token is passed to the client directly, never stored.
    """
    user: dict[str, Any] = {}
    if exec_auth:
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                         "args": ["--region", found.region, "eks", "get-token", "--cluster-name", found.cluster,
                                  "--output", "json"]}}
    return {"apiVersion": "v1", "kind": "Config", "current-context": found.arn,
            "clusters": [{"name": found.arn, "cluster": {"server": found.endpoint.rstrip("/"),
                                                         "certificate-authority-data": found.certificate_authority}}],
            "users": [{"name": found.arn, "user": user}],
            "contexts": [{"name": found.arn, "context": {"cluster": found.arn, "user": found.arn}}]}


def write_kubeconfig(found: EKSAccess, path: Path) -> Path:
    path.write_text(json.dumps(kubeconfig(found), indent=2))  # JSON is YAML
    path.chmod(0o600)
    return path


def kubernetes_provider(found: EKSAccess, config_path: Path, *, endpoint_url: str | None = None,
                        timeout: float = 600.0) -> KubernetesProvider:
    """The KubernetesProvider that applies to this cluster: the kubeconfig's context, the token as credentials."""
    from pepperpy.cloud.providers.kubernetes import KubernetesProvider

    return KubernetesProvider(found.arn, kubeconfig=str(config_path), endpoint_url=endpoint_url,
                              credentials={"token": found.token}, timeout=timeout)


def apply_manifests(ctx: Ctx, found: EKSAccess, factory: KubernetesFactory | None,
                    endpoint_url: str | None) -> list[Any]:
    """Server-side apply of the stack's overlay through KubernetesProvider; its deployments per service.

    The runtime's own bookkeeping goes to a throwaway state store: the deployment name
    belongs to this AWS record, where every applied object is recorded as a part.
    """
    import tempfile

    from pepperpy.cloud.deploy.state import StateStore

    with tempfile.TemporaryDirectory(prefix="pepperpy-eks-") as folder:
        path = write_kubeconfig(found, Path(folder) / "kubeconfig")
        kube = factory(found, path) if factory else kubernetes_provider(found, path, endpoint_url=endpoint_url)
        state = StateStore.open(str(Path(folder) / "k8s-state.db"))
        try:
            with kube.runtime(ctx.journal.progress, state=state) as runtime:
                results = list(runtime.deploy(ctx.stack))
        finally:
            state.close()
    for item in (results[0].objects if results else []):
        ctx.journal.record(Part("k8s-object", f"{item.get('kind')}/{item.get('namespace', '')}/{item.get('name')}",
                                {"cluster": found.cluster}), created=False)
    return results


# --------------------------------------------------------------------------- teardown


def delete_nodegroup(aws: AWSSession, cluster: str, group: str, wait_delay: float) -> None:
    aws.call("eks", "delete_nodegroup", clusterName=cluster, nodegroupName=group, ignore=_GONE)
    poll(lambda: _describe_nodegroup(aws, cluster, group) is None, what=f"EKS node group {group} to be deleted",
         delay=wait_delay, attempts=90)


def delete_cluster(aws: AWSSession, name: str, wait_delay: float) -> None:
    """Node groups and Fargate profiles first (EKS refuses otherwise), then the cluster."""
    for group in list(aws.pages("eks", "list_nodegroups", "nodegroups", clusterName=name)):
        delete_nodegroup(aws, name, group, wait_delay)
    for profile in list(aws.pages("eks", "list_fargate_profiles", "fargateProfileNames", clusterName=name)):
        aws.call("eks", "delete_fargate_profile", clusterName=name, fargateProfileName=profile, ignore=_GONE)
    aws.call("eks", "delete_cluster", name=name, ignore=_GONE)
    poll(lambda: _describe_cluster(aws, name) is None, what=f"EKS cluster {name} to be deleted",
         delay=wait_delay, attempts=90)


def destroy(aws: AWSSession, deployment: str, wait_delay: float) -> list[str]:
    """Every EKS cluster tagged as part of ``deployment`` (node groups first), then its two roles."""
    gone: list[str] = []
    for name in list(aws.pages("eks", "list_clusters", "clusters")):
        found = _describe_cluster(aws, name)
        if found is None or not owned_by(found.get("tags"), deployment):
            continue
        groups = list(aws.pages("eks", "list_nodegroups", "nodegroups", clusterName=name))
        delete_cluster(aws, name, wait_delay)
        gone += [f"eks-nodegroup:{g}" for g in groups] + [f"eks-cluster:{name}"]
    for part in ("eks-node", "eks-cluster"):
        role = part_name(deployment, part, 64)
        tags = aws.call("iam", "list_role_tags", RoleName=role, ignore={"NoSuchEntity"})
        if tags is not None and owned_by(tags.get("Tags"), deployment):
            delete_role(aws, role)
            gone.append(f"iam-role:{role}")
    return gone
