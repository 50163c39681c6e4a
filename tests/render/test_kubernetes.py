"""Kubernetes manifests: schema-valid (kubernetes-validate), checkov-clean, hardened by default.

Three stacks are rendered once per module: the two examples and ``gpu-lab``, built here, with a
GPU service, a response-time HPA and every self-hosted component kind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pepperpy.cloud.render import write
from pepperpy.cloud.render.kubernetes import render
from pepperpy.cloud.spec.stack import Stack
from tests.render.conftest import find_tool, load_stack

# Newest schemas kubernetes-validate ships, and the oldest minor still in providers' standard support.
K8S_VERSIONS = ("1.37.0", "1.31.0")
# Checks the rendered base fails on purpose, with the reason. Anything else is a regression.
CHECKOV_SKIPS = {
    "CKV_K8S_21": "the base has no namespace on purpose; the dev/prod overlays set it",
    "CKV_K8S_43": "images are pinned to release tags; the digest is not known when rendering",
    "CKV_K8S_15": "IfNotPresent is deliberate: tags are pinned (never latest), so a cached image is the right one",
}
# Per-resource skips the renderer writes as checkov.io/skipN annotations (reason included).
INLINE_SKIPS = {"CKV_K8S_40", "CKV_K8S_35"}

GPU_LAB: dict[str, Any] = {
    "name": "gpu-lab",
    "hosting": "kubernetes",
    "services": {
        "infer": {"image": "ghcr.io/example/infer:2.0.1", "port": 9000, "cpu": "4", "memory": "16Gi",
                  "gpu": {"model": "nvidia-l4", "count": 2}, "replicas": {"min": 2, "max": 2},
                  "env": {"HF_TOKEN": "${SECRET:hf-token}", "MODEL": "llama-3"}},
        "api": {"source": "./api", "entry_point": "main.py", "cpu": "500m", "memory": "512Mi",
                "replicas": {"min": 1, "max": 4},
                "scaling": {"metric": "response_time", "target": 250, "cooldown_seconds": 60},
                "env": {"DB_PASSWORD": "${SECRET:db-password}", "HF_TOKEN": "${SECRET:hf-token}"}},
    },
    "components": {
        "db": {"kind": "postgres", "managed": False, "storage": "5Gi"},
        "cache": {"kind": "redis", "managed": False},
        "broker": {"kind": "rabbitmq", "managed": False, "replicas": 3},
        "legacy": {"kind": "mysql", "managed": False},
        "vectors": {"kind": "vector_db", "engine": "chroma"},
        "proxy": {"kind": "nginx"},
    },
    "cloud": {"network": {"custom_domain": "lab.example.org"}},
}
STACK_NAMES = ("bsc-rag", "kv-store", "gpu-lab")


def _stack(name: str) -> Stack:
    return Stack.model_validate(GPU_LAB) if name == "gpu-lab" else load_stack(name)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<out>/<stack>/{base,overlays,...}: the kubernetes target of each stack."""
    root = tmp_path_factory.mktemp("kubernetes")
    for name in STACK_NAMES:
        write(render(_stack(name)), root / name)
    return root


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _base(out: Path, name: str) -> list[dict[str, Any]]:
    return [d for p in sorted((out / name / "base").glob("*.yaml")) if p.name != "kustomization.yaml"
            for d in _docs(p)]


def _of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


@pytest.fixture(scope="module")
def checkov_report(out: Path) -> dict[str, Any]:
    proc = subprocess.run([find_tool("checkov"), "-d", str(out), "--framework", "kubernetes", "-o", "json",
                           "--quiet", "--compact", "--skip-download", "--skip-check", ",".join(sorted(CHECKOV_SKIPS))],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    return report if isinstance(report, dict) else report[0]


# --------------------------------------------------------------------------- validators


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_base_manifests_validate_strictly(out: Path, version: str) -> None:
    files = [str(p) for n in STACK_NAMES for p in sorted((out / n).glob("**/*.yaml"))
             if p.name != "kustomization.yaml"]
    assert len(files) > 20
    proc = subprocess.run([find_tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, "--quiet",
                           *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_finds_nothing_but_the_documented_skips(out: Path, checkov_report: dict[str, Any]) -> None:
    failed = [(f["check_id"], f["resource"], f["file_path"]) for f in checkov_report["results"]["failed_checks"]]
    assert failed == []
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["passed"] > 500
    docs = [d for n in STACK_NAMES for d in _base(out, n)]
    assert checkov_report["summary"]["resource_count"] >= len(docs)
    inline = [(key, value) for d in docs for key, value in d["metadata"].get("annotations", {}).items()
              if key.startswith("checkov.io/skip")]
    assert checkov_report["summary"]["skipped"] == len(inline) > 0
    for _, value in inline:
        check_id, _, reason = value.partition("=")
        assert check_id in INLINE_SKIPS and len(reason) > 20, value


def test_overlays_build_and_validate_with_kubectl(out: Path, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed; the patch targets are still checked without it")
    built = []
    for name in STACK_NAMES:
        tree = tmp_path / name
        shutil.copytree(out / name, tree)
        overlays = ["dev", "prod"]
        if (tree / "components" / "secrets-as-env").exists():
            (tree / "overlays" / "env").mkdir()
            (tree / "overlays" / "env" / "kustomization.yaml").write_text(
                "resources: [../../base]\ncomponents: [../../components/secrets-as-env]\n")
            overlays.append("env")
        for overlay in overlays:
            proc = subprocess.run([kubectl, "kustomize", str(tree / "overlays" / overlay)],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
            target = tmp_path / f"{name}-{overlay}.yaml"
            target.write_text(proc.stdout)
            built.append(str(target))
    proc = subprocess.run([find_tool("kubernetes-validate"), "--strict", "--kubernetes-version", K8S_VERSIONS[0],
                           "--quiet", *built], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dev = _docs(tmp_path / "kv-store-dev.yaml")
    assert {d["metadata"].get("namespace") for d in dev if d["kind"] != "Namespace"} == {"kv-store-dev"}
    assert _of(dev, "HorizontalPodAutoscaler")[0]["spec"]["maxReplicas"] == 2
    env = _docs(tmp_path / "gpu-lab-env.yaml")
    api = next(d for d in _of(env, "Deployment") if d["metadata"]["name"] == "gpu-lab-api")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in _pod_containers(api)[0]["env"]
            if "valueFrom" in e}
    assert refs == {"DB_PASSWORD": "db-password", "HF_TOKEN": "hf-token"}


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("name", STACK_NAMES)
def test_hpa_owned_deployments_have_no_replicas(out: Path, name: str) -> None:
    docs = _base(out, name)
    owned = {h["spec"]["scaleTargetRef"]["name"] for h in _of(docs, "HorizontalPodAutoscaler")}
    for deployment in _of(docs, "Deployment"):
        assert ("replicas" in deployment["spec"]) is (deployment["metadata"]["name"] not in owned)
    assert owned  # every stack here has an autoscaled service


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_container_is_hardened(out: Path, name: str) -> None:
    workloads = [d for d in _base(out, name) if d["kind"] in ("Deployment", "StatefulSet")]
    assert workloads
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, (doc["metadata"]["name"], probe)
            assert set(c["resources"]["requests"]) == {"cpu", "memory"}
            assert {"cpu", "memory"} <= set(c["resources"]["limits"])
            assert c["resources"]["limits"]["memory"] == c["resources"]["requests"]["memory"]
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert ":" in c["image"].rsplit("/", 1)[-1] and not c["image"].endswith(":latest")
            assert c["imagePullPolicy"] == "IfNotPresent"
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}
        if doc["kind"] == "Deployment":  # apps: the uid the Dockerfile creates, probes on HTTP
            assert pod["securityContext"]["runAsUser"] == 10001
            assert doc["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
            assert "httpGet" in pod["containers"][0]["livenessProbe"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"):
            assert key in doc["metadata"]["labels"]


def test_gpu_service_gets_gpu_limits_selector_and_toleration(out: Path) -> None:
    docs = _base(out, "gpu-lab")
    infer = next(d for d in _of(docs, "Deployment") if d["metadata"]["name"] == "gpu-lab-infer")
    pod = infer["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {"pepperpy.cloud/gpu": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "pepperpy.cloud/gpu: nvidia-l4  # edit:" in (out / "gpu-lab/base/infer-deployment.yaml").read_text()
    api = next(d for d in _of(docs, "Deployment") if d["metadata"]["name"] == "gpu-lab-api")
    assert "nvidia.com/gpu" not in api["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "tolerations" not in api["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", STACK_NAMES)
def test_secrets_are_only_references(out: Path, name: str) -> None:
    files = list((out / name).rglob("*.yaml"))
    text = "".join(p.read_text() for p in files)
    assert "${SECRET" not in text
    for path in files:
        for doc in _docs(path):
            assert doc.get("kind") != "Secret", path
    stack = _stack(name)
    docs = _base(out, name)
    for svc_name, svc in stack.services.items():
        secrets = {v.removeprefix("${SECRET:").removesuffix("}") for v in svc.env.values() if v.startswith("${SECRET:")}
        deployment = next(d for d in _of(docs, "Deployment") if d["metadata"]["name"] == f"{name}-{svc_name}")
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert not any("valueFrom" in e for e in env.values())  # files by default, env only when asked
        mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert secrets <= mounted
        for var, value in svc.env.items():
            if value.startswith("${SECRET:"):
                assert env[f"{var}_FILE"]["value"].startswith("/var/run/secrets/pepperpy/")
        configmap = next(d for d in _of(docs, "ConfigMap") if d["metadata"]["name"] == f"{name}-{svc_name}-env")
        assert not set(configmap["data"]) & {k for k, v in svc.env.items() if v.startswith("${SECRET:")}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_pdb_when_more_than_one_replica_or_an_hpa(out: Path, name: str) -> None:
    docs = _base(out, name)
    pdbs = {d["metadata"]["name"]: d for d in _of(docs, "PodDisruptionBudget")}
    hpas = {d["metadata"]["name"] for d in _of(docs, "HorizontalPodAutoscaler")}
    for svc_name, svc in _stack(name).services.items():
        resource = f"{name}-{svc_name}"
        wanted = svc.replicas.min > 1 or resource in hpas
        assert (resource in pdbs) is wanted, resource
        if wanted:
            assert pdbs[resource]["spec"]["maxUnavailable"] == 1
    if name == "gpu-lab":
        assert "gpu-lab-infer" in pdbs and "gpu-lab-infer" not in hpas  # min 2, no HPA


def test_hpa_metrics_follow_the_scaling_spec(out: Path) -> None:
    kv = _of(_base(out, "kv-store"), "HorizontalPodAutoscaler")[0]["spec"]
    assert (kv["minReplicas"], kv["maxReplicas"]) == (3, 6)
    assert kv["metrics"][0]["pods"] == {"metric": {"name": "http_requests_per_second"},
                                        "target": {"type": "AverageValue", "averageValue": "800"}}
    assert kv["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120
    assert "metrics adapter" in (out / "kv-store/base/api-hpa.yaml").read_text()
    rag = _of(_base(out, "bsc-rag"), "HorizontalPodAutoscaler")[0]["spec"]
    assert rag["metrics"][0]["resource"] == {"name": "cpu", "target": {"type": "Utilization",
                                                                      "averageUtilization": 70}}
    lab = _of(_base(out, "gpu-lab"), "HorizontalPodAutoscaler")[0]["spec"]
    assert lab["metrics"][0]["pods"]["metric"]["name"] == "http_response_time_seconds"
    assert lab["metrics"][0]["pods"]["target"]["averageValue"] == "250m"  # 250 ms


def test_components_self_hosted_or_placeholders(out: Path) -> None:
    lab = _base(out, "gpu-lab")
    sets = {d["metadata"]["name"]: d for d in _of(lab, "StatefulSet")}
    assert set(sets) == {"gpu-lab-db", "gpu-lab-cache", "gpu-lab-broker", "gpu-lab-legacy", "gpu-lab-vectors"}
    assert sets["gpu-lab-broker"]["spec"]["replicas"] == 1  # no operator, no replication
    for name, doc in sets.items():
        claim = doc["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        assert claim == ("5Gi" if name == "gpu-lab-db" else "10Gi")
        container = _pod_containers(doc)[0]
        assert "tcpSocket" in container["readinessProbe"]
        headless = next(s for s in _of(lab, "Service") if s["metadata"]["name"] == name)
        assert headless["spec"]["clusterIP"] == "None"
    db = _pod_containers(sets["gpu-lab-db"])[0]
    assert db["securityContext"]["runAsUser"] == 999
    assert {"name": "POSTGRES_PASSWORD_FILE", "value": "/var/run/secrets/pepperpy/db-password/value"} in db["env"]
    assert not any(s["metadata"]["name"].endswith("proxy") for s in lab)  # nginx: the Ingress replaces it
    kv = _base(out, "kv-store")
    assert not _of(kv, "StatefulSet")
    data = _of(kv, "ConfigMap")[0]["data"]
    assert data["REDIS_HOST"] == data["DATABASE_HOST"] == "<set to the managed endpoint>"
    rag = _base(out, "bsc-rag")
    assert _of(rag, "ConfigMap")[0]["data"]["QDRANT_HOST"] == "bsc-rag-qdrant"
    assert _pod_containers(_of(rag, "StatefulSet")[0])[0]["securityContext"]["runAsUser"] == 1000


@pytest.mark.parametrize("name", STACK_NAMES)
def test_network_policies_ingress_and_service_account(out: Path, name: str) -> None:
    docs = _base(out, name)
    policies = _of(docs, "NetworkPolicy")
    assert {"podSelector": {}, "policyTypes": ["Ingress"]} in [p["spec"] for p in policies]
    self_hosted = {d["metadata"]["name"] for d in _of(docs, "StatefulSet")}
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if policy["metadata"]["name"].removesuffix("-allow-stack") in self_hosted:
                assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": name}}}]
    ingress = _of(docs, "Ingress")[0]["spec"]
    assert ingress["tls"][0]["secretName"] == f"{name}-tls"
    backends = {r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["rules"]}
    assert backends == {d["metadata"]["name"] for d in _of(docs, "Deployment")}
    hosts = {r["host"] for r in ingress["rules"]}
    assert hosts == ({"infer.lab.example.org", "api.lab.example.org"} if name == "gpu-lab"
                     else {f"{name}.example.com"})
    account = _of(docs, "ServiceAccount")[0]
    assert account["automountServiceAccountToken"] is False
    assert {d["spec"]["template"]["spec"]["serviceAccountName"] for d in docs
            if d["kind"] in ("Deployment", "StatefulSet")} == {account["metadata"]["name"]}


def _pointer(doc: Any, path: str) -> Any:
    for part in path.strip("/").split("/"):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


@pytest.mark.parametrize("name", STACK_NAMES)
def test_overlays_patch_resources_that_exist_in_base(out: Path, name: str) -> None:
    base_docs = _base(out, name)
    listed = yaml.safe_load((out / name / "base" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (out / name / "base").glob("*.yaml")
                                    if p.name != "kustomization.yaml")
    kustomizations = [out / name / "overlays" / env / "kustomization.yaml" for env in ("dev", "prod")]
    kustomizations += list((out / name / "components").glob("*/kustomization.yaml"))
    patched_kinds = set()
    for path in kustomizations:
        overlay = yaml.safe_load(path.read_text())
        if overlay["kind"] == "Kustomization":
            env = path.parent.name
            assert overlay["namespace"] == (name if env == "prod" else f"{name}-{env}")
            assert "../../base" in overlay["resources"]
            namespace = _docs(path.parent / "namespace.yaml")[0]
            assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        for patch in overlay.get("patches", []):
            target = patch["target"]
            api = f"{target['group']}/{target['version']}" if target.get("group") else target["version"]
            matches = [d for d in base_docs if d["kind"] == target["kind"] and d["apiVersion"] == api
                       and d["metadata"]["name"] == target["name"]]
            assert len(matches) == 1, (path, target)
            patched_kinds.add(target["kind"])
            for op in yaml.safe_load(patch["patch"]):
                if op["op"] == "replace":
                    _pointer(matches[0], op["path"])  # KeyError/IndexError: the path is not in base
                elif op["op"] == "add":
                    parent, _, last = op["path"].rpartition("/")
                    assert last == "-" and isinstance(_pointer(matches[0], parent), list)
    assert "Deployment" in patched_kinds and "HorizontalPodAutoscaler" in patched_kinds


def test_dev_overlay_shrinks_and_prod_keeps_the_stack_bounds(out: Path) -> None:
    dev = yaml.safe_load((out / "kv-store/overlays/dev/kustomization.yaml").read_text())
    ops = {(p["target"]["kind"], o["path"]): o["value"] for p in dev["patches"] for o in yaml.safe_load(p["patch"])}
    assert ops[("HorizontalPodAutoscaler", "/spec/maxReplicas")] == 2
    assert ops[("Deployment", "/spec/template/spec/containers/0/resources/requests")] == {"cpu": "250m",
                                                                                          "memory": "512Mi"}
    prod = yaml.safe_load((out / "kv-store/overlays/prod/kustomization.yaml").read_text())
    ops = {o["path"]: o["value"] for p in prod["patches"] for o in yaml.safe_load(p["patch"])}
    assert ops == {"/spec/minReplicas": 3, "/spec/maxReplicas": 6}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_file_has_the_header_and_rendering_is_deterministic(name: str) -> None:
    files = render(_stack(name))
    assert files == render(_stack(name))
    for path, text in files.items():
        assert text.startswith(f"# Generated by pepperpy-cloud from the stack '{name}'."), path
        assert path.startswith(("base/", "overlays/dev/", "overlays/prod/", "components/")), path
