"""``hosting: kubernetes`` stacks on AWS: EKS cluster + node group on moto, the overlay on a fake API server.

moto emulates EKS's control plane (clusters, node groups, tags) but runs no API
server behind the endpoint it returns, so the KubernetesProvider that applies the
manifests is injected (the ``kubernetes_provider`` option) with the fake API server
of ``tests/providers/kubernetes`` as its address; everything else — the kubeconfig
from ``describe_cluster``, the ``k8s-aws-v1.`` token as the bearer — is what a real
deploy uses. The token itself is checked by recomputing its SigV4 signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws import AWSProvider, eks
from pepperpy.cloud.spec.stack import Stack
from tests.providers.aws.conftest import REGION, moto_post, tagged_leftovers
from tests.providers.kubernetes.fake_apiserver import FakeApiServer

pytest.importorskip("kubernetes", reason="the k8s extra is not installed: pip install 'pepperpy-cloud[k8s]'")

DEPLOYMENT_TAG = "pepperpy-cloud:deployment"
HELLO: dict[str, Any] = {
    "name": "hello", "provider": "aws", "hosting": "kubernetes",
    "services": {"app": {"image": "ghcr.io/example/hello:1.0.0", "port": 8000, "cpu": "100m", "memory": "128Mi",
                         "replicas": {"min": 2, "max": 3}}},
    "cloud": {"network": {"custom_domain": "hello.example.org"}},
}


@pytest.fixture(autouse=True)
def managed_policies(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto knows AWS's managed policies (AmazonEKSClusterPolicy, ...) only when asked (the server is in-process)."""
    if "aws" not in request.fixturenames:
        yield
        return
    endpoint = request.getfixturevalue("aws")
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    moto_post(endpoint, "/moto-api/reset")  # IAM is made again, with them
    yield
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES")
    moto_post(endpoint, "/moto-api/reset")


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer(token="not-yet")
    yield server
    server.close()


class Recorder:
    """The injected apply step: the real KubernetesProvider for the cluster, sent to the fake API server."""

    def __init__(self, server: FakeApiServer) -> None:
        self.server = server
        self.calls: list[tuple[eks.EKSAccess, dict[str, Any], Any]] = []

    def __call__(self, access: eks.EKSAccess, kubeconfig: Path) -> Any:
        self.server.token = access.token  # the fake API server accepts exactly the token EKS would get
        kube = eks.kubernetes_provider(access, kubeconfig, endpoint_url=self.server.url)
        self.calls.append((access, json.loads(kubeconfig.read_text()), kube))
        return kube


def provider(recorder: Recorder | None = None) -> AWSProvider:
    options: dict[str, Any] = {"wait_delay": 0, "kubernetes_hosting": "eks"}
    if recorder is not None:
        options["kubernetes_provider"] = recorder
    return AWSProvider(region=REGION, **options)


def tags_of(items: Any) -> dict[str, str]:
    if isinstance(items, dict):
        return items
    return {t["Key"]: t["Value"] for t in items or []}


# --------------------------------------------------------------------------- token


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def test_token_is_a_presigned_sts_get_caller_identity_url_bound_to_the_cluster() -> None:
    aws = AWSProvider(region=REGION, credentials={"access_key_id": "AKIDEXAMPLE",
                                                  "secret_access_key": "wJalrXUtnFEMI/K7MDENG"}).session()
    token = eks.get_token(aws, "hello")

    assert token.startswith("k8s-aws-v1.") and "=" not in token
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    query = dict(parse_qsl(parts.query))
    assert query["Action"] == "GetCallerIdentity" and query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    key_id, day, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert (key_id, region, service, terminator) == ("AKIDEXAMPLE", REGION, "sts", "aws4_request")

    # SigV4 recomputed by hand: the signature covers the cluster header, so the token works for this cluster only
    signed = sorted((k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in signed)
    canonical = "\n".join(["GET", "/", canonical_query, f"host:sts.{REGION}.amazonaws.com", "x-k8s-aws-id:hello",
                           "", "host;x-k8s-aws-id", hashlib.sha256(b"").hexdigest()])
    scope = f"{day}/{REGION}/sts/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = b"AWS4wJalrXUtnFEMI/K7MDENG"
    for part in (day, REGION, "sts", "aws4_request"):
        key = _sign(key, part)
    assert query["X-Amz-Signature"] == hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert eks.get_token(aws, "other") != token


def test_kubeconfig_and_provider_use_the_cluster_endpoint_ca_and_token(tmp_path: Path) -> None:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    access = eks.EKSAccess(cluster="hello", arn="arn:aws:eks:us-west-2:123456789012:cluster/hello",
                           endpoint="https://ABC.gr7.us-west-2.eks.amazonaws.com/", certificate_authority=ca,
                           token="k8s-aws-v1.abc", region=REGION)
    config = eks.kubeconfig(access)
    assert config["clusters"][0]["cluster"] == {"server": "https://ABC.gr7.us-west-2.eks.amazonaws.com",
                                                "certificate-authority-data": ca}
    assert config["users"][0]["user"] == {} and config["current-context"] == access.arn  # no token on disk
    exec_user = eks.kubeconfig(access, exec_auth=True)["users"][0]["user"]["exec"]
    assert exec_user["command"] == "aws" and exec_user["args"][-3:] == ["hello", "--output", "json"]

    path = eks.write_kubeconfig(access, tmp_path / "kubeconfig")
    assert "k8s-aws-v1" not in path.read_text() and path.stat().st_mode & 0o077 == 0
    kube = eks.kubernetes_provider(access, path)
    assert (kube.context, kube.kubeconfig, kube.endpoint_url) == (access.arn, str(path), None)
    cfg = kube.client().configuration
    assert cfg.host == "https://ABC.gr7.us-west-2.eks.amazonaws.com"
    assert cfg.api_key == {"BearerToken": "Bearer k8s-aws-v1.abc"}
    assert Path(cfg.ssl_ca_cert).read_bytes() == base64.b64decode(ca) and cfg.verify_ssl


# --------------------------------------------------------------------------- on moto


def test_eks_stack_creates_cluster_and_nodegroup_applies_the_overlay_and_destroys(
        aws: str, raw: Any, apiserver: FakeApiServer) -> None:
    recorder = Recorder(apiserver)
    [result] = provider(recorder).deploy_stack(Stack.model_validate(HELLO), stack_dir=".")

    client = raw("eks")
    cluster = client.describe_cluster(name="hello")["cluster"]
    assert cluster["status"] == "ACTIVE" and cluster["version"] == "1.33"
    assert tags_of(cluster["tags"])[DEPLOYMENT_TAG] == "hello" and cluster["tags"]["managed-by"] == "pepperpy-cloud"
    vpc = raw("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = {s["SubnetId"]: s["VpcId"] for s in raw("ec2").describe_subnets()["Subnets"]}
    assert len(cluster["resourcesVpcConfig"]["subnetIds"]) >= 2
    assert {subnets[s] for s in cluster["resourcesVpcConfig"]["subnetIds"]} == {vpc}
    assert cluster["roleArn"].endswith(":role/pepperpy-cloud/hello-eks-cluster")
    iam = raw("iam")
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="hello-eks-cluster")[
        "AttachedPolicies"]] == ["AmazonEKSClusterPolicy"]
    assert {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="hello-eks-node")[
        "AttachedPolicies"]} == {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                                 "AmazonEC2ContainerRegistryReadOnly"}

    [group_name] = client.list_nodegroups(clusterName="hello")["nodegroups"]
    group = client.describe_nodegroup(clusterName="hello", nodegroupName=group_name)["nodegroup"]
    assert group_name == "hello-nodes" and group["status"] == "ACTIVE"
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 3, "desiredSize": 2}  # one node per replica
    assert group["instanceTypes"] == ["t3.medium"] and group["capacityType"] == "ON_DEMAND"
    assert group["subnets"] == cluster["resourcesVpcConfig"]["subnetIds"]
    assert group["nodeRole"].endswith(":role/pepperpy-cloud/hello-eks-node")
    assert tags_of(group["tags"])[DEPLOYMENT_TAG] == "hello"

    # the exact KubernetesProvider configuration: describe_cluster's endpoint and CA, the EKS token
    [(access, config, kube)] = recorder.calls
    assert (access.cluster, access.arn, access.endpoint) == ("hello", cluster["arn"], cluster["endpoint"])
    assert config["clusters"][0]["cluster"] == {"server": cluster["endpoint"].rstrip("/"),
                                                "certificate-authority-data": cluster["certificateAuthority"]["data"]}
    assert access.token.startswith("k8s-aws-v1.") and kube.context == cluster["arn"]
    applies = [r for r in apiserver.requests if r.method == "PATCH"
               and r.content_type == "application/apply-patch+yaml"]
    assert {r.body["kind"] for r in applies} >= {"Namespace", "Deployment", "Service"}
    assert all(r.authorization == f"Bearer {access.token}" and r.query["fieldManager"] == "pepperpy-cloud"
               for r in applies)
    assert apiserver.get("deployments", "hello", "hello-app") is not None

    assert (result.runtime, result.name, result.service) == ("eks", "hello", "app")
    assert result.url == "https://hello.example.org"  # the overlay's Ingress host
    assert result.details["cluster"] == "hello" and result.details["nodegroup"] == "hello-nodes"
    record = StateStore.open().get_deployment("hello")
    assert record is not None and record.provider == "aws" and record.status == "deployed"
    kinds = {p["kind"] for p in record.spec["parts"].values()}
    assert {"eks-cluster", "eks-nodegroup", "iam-role", "k8s-object"} <= kinds
    assert not any(access.token in json.dumps(p) for p in record.spec["parts"].values())

    # re-applying converges: same cluster and node group, the overlay applied again
    provider(recorder).deploy_stack(Stack.model_validate(HELLO), stack_dir=".")
    assert client.list_clusters()["clusters"] == ["hello"]
    assert client.list_nodegroups(clusterName="hello")["nodegroups"] == ["hello-nodes"]

    gone = provider().destroy_stack("hello")
    assert gone.index("eks-nodegroup:hello-nodes") < gone.index("eks-cluster:hello")
    assert {"iam-role:hello-eks-node", "iam-role:hello-eks-cluster"} <= set(gone)
    assert client.list_clusters()["clusters"] == []
    assert tagged_leftovers(raw) == []
    assert StateStore.open().get_deployment("hello") is None


def test_a_failed_apply_removes_the_cluster_and_nodegroup_it_created(aws: str, raw: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise InputError("kubernetes", "injected failure")

    monkeypatch.setattr(eks, "apply_manifests", refuse)
    with pytest.raises(Exception, match="injected failure"):
        provider().deploy_stack(Stack.model_validate(HELLO), stack_dir=".")
    assert raw("eks").list_clusters()["clusters"] == []
    assert tagged_leftovers(raw) == []


def test_managed_components_are_refused_before_anything_exists(aws: str, raw: Any) -> None:
    stack = Stack.model_validate({**HELLO, "components": {"cache": {"kind": "redis", "managed": True}}})
    with pytest.raises(InputError, match="managed redis is not wired to EKS"):
        provider().deploy_stack(stack, stack_dir=".")
    assert raw("eks").list_clusters()["clusters"] == [] and StateStore.open().get_deployment("hello") is None


def test_without_the_option_kubernetes_hosting_stays_on_ecs(aws: str, raw: Any) -> None:
    [result] = AWSProvider(region=REGION, wait_delay=0).deploy_stack(Stack.model_validate(HELLO), stack_dir=".")
    assert result.runtime == "ecs" and raw("eks").list_clusters()["clusters"] == []
    with pytest.raises(InputError, match="'gke' is not ecs or eks"):
        AWSProvider(region=REGION, kubernetes_hosting="gke").deploy_stack(Stack.model_validate(HELLO), stack_dir=".")
    AWSProvider(region=REGION, wait_delay=0).destroy_stack("hello")
