"""Kubernetes: a kustomize base (one file per concern) and ``dev``/``prod`` overlays.

Every app container gets requests and limits, startup/liveness/readiness probes, a non-root
read-only hardened ``securityContext``, no service-account token and a pinned image. An HPA
owns the replica count whenever the stack lets a service scale, so those Deployments carry no
``replicas`` field. Secrets are never written: they are mounted as files from Secrets the
operator creates (``<VAR>_FILE`` points at the file); ``components/secrets-as-env`` is an
opt-in kustomize component for apps that can only read the variable itself. Self-hosted
components become StatefulSets with a volume claim and a headless Service; managed ones
become connection placeholders in each service's ConfigMap. nginx components are not
rendered: the Ingress does their job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.render.base import Files, dns_name, dump_yaml, dump_yaml_all, header, service_image
from pepperpy.cloud.render.images import IMAGES, component_data_path, component_image, component_port, image_key
from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Component, Scaling, Service, Stack

UID = 10001
SECRETS_DIR = "/var/run/secrets/pepperpy"
MANAGED_BY = "pepperpy-cloud"
GPU_LABEL = "pepperpy.cloud/gpu"
ENV_LABEL = "pepperpy.cloud/environment"
PLACEHOLDER = "<set to the managed endpoint>"
USER_PLACEHOLDER = "<set to the managed user>"
DEFAULT_STORAGE = "10Gi"
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"
# Pods metrics served by a metrics adapter (prometheus-adapter, KEDA, a cloud adapter).
POD_METRICS = {"requests_per_second": "http_requests_per_second",
               "response_time": "http_response_time_seconds"}
DEV_CPU_MILLI = 250
DEV_MEMORY_MI = 512


@dataclass(frozen=True)
class _Profile:
    """How a component's official image runs without root and with a read-only root FS."""

    uid: int
    gid: int
    why: str
    scratch: tuple[str, ...] = ("/tmp",)
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    password_file_env: str = ""  # the image reads its admin password from this file
    password_env: str = ""  # the image reads its admin password only from this variable
    user: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


PROFILES: dict[str, _Profile] = {
    "qdrant": _Profile(1000, 1000, "the qdrant image defaults to root; its Helm chart uses 1000",
                       ("/tmp", "/qdrant/snapshots", "/qdrant/init"),
                       env=(("QDRANT_INIT_FILE_PATH", "/qdrant/init/.qdrant-initialized"),),
                       notes=("Snapshots go to an emptyDir: copy them out (or mount a volume at "
                              "/qdrant/snapshots) to keep them.",)),
    "chroma": _Profile(1000, 1000, "the chroma image defaults to root; it runs as uid 1000 here",
                       env=(("HOME", "/tmp"),),
                       # the image's default args add a log config that writes chroma.log into the
                       # read-only /chroma; the same server flags without it log to stdout only
                       args=("--workers", "1", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers",
                             "--timeout-keep-alive", "30")),
    "redis": _Profile(999, 999, "the official redis image's redis user is uid 999",
                      args=("--appendonly", "yes")),
    "postgres": _Profile(999, 999, "the official postgres image's postgres user is uid 999",
                         ("/tmp", "/var/run/postgresql"),
                         env=(("PGDATA", "/var/lib/postgresql/data/pgdata"),),
                         password_file_env="POSTGRES_PASSWORD_FILE", user="postgres"),
    "mysql": _Profile(999, 999, "the official mysql image's mysql user is uid 999", ("/tmp", "/var/run/mysqld"),
                      args=("--datadir=/var/lib/mysql/data",),
                      password_file_env="MYSQL_ROOT_PASSWORD_FILE", user="root"),
    "rabbitmq": _Profile(100, 101, "the rabbitmq alpine image's rabbitmq user is uid 100",
                         password_env="RABBITMQ_DEFAULT_PASS", user="app",
                         notes=("RabbitMQ reads its default password only from RABBITMQ_DEFAULT_PASS "
                                "(the image refuses *_FILE variables), so that one secret is an "
                                "environment variable.",)),
}


# --------------------------------------------------------------------------- helpers


def _cpu(value: Any, where: str, factor: int = 1) -> str:
    milli = int((parse_cpu(value, where) * 1000 * factor).to_integral_value(ROUND_CEILING))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _cpu_milli(value: Any, where: str) -> int:
    return int((parse_cpu(value, where) * 1000).to_integral_value(ROUND_CEILING))


def _mem_mi(value: Any, where: str) -> int:
    return int((parse_size_gb(value, where) * 1024).to_integral_value(ROUND_CEILING))


def _mi(mi: int) -> str:
    return f"{mi // 1024}Gi" if mi and mi % 1024 == 0 else f"{mi}Mi"


def _milli(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _quantity(value: Decimal) -> str:
    """A Kubernetes quantity for a metric target (``800``, ``0.25`` -> ``250m``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{int((value * 1000).to_integral_value(ROUND_CEILING))}m"


def _resources(cpu: Any, memory: Any, where: str) -> dict[str, Any]:
    """Requests from the stack; memory limit = request (no overcommit), CPU may burst to 2x."""
    mem = _mi(_mem_mi(memory, f"{where}.memory"))
    return {"requests": {"cpu": _cpu(cpu, f"{where}.cpu"), "memory": mem},
            "limits": {"cpu": _cpu(cpu, f"{where}.cpu", 2), "memory": mem}}


def _env_prefix(name: str) -> str:
    prefix = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "COMPONENT"
    return f"_{prefix}" if prefix[0].isdigit() else prefix


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:63].rstrip("-._")
    return value or "gpu"


def _labels(stack: Stack, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": dns_name(name),
            "app.kubernetes.io/part-of": stack.name,
            "app.kubernetes.io/managed-by": MANAGED_BY}


def _selector(stack: Stack, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": dns_name(name), "app.kubernetes.io/part-of": stack.name}


def _meta(stack: Stack, name: str, resource: str, **extra: Any) -> dict[str, Any]:
    return {"name": resource, "labels": _labels(stack, name), **extra}


def _note(text: str, needle: str, comment: str) -> str:
    """Append ``# comment`` to every line that ends with ``needle``."""
    return "".join(f"{line}  # {comment}\n" if line.endswith(needle) else f"{line}\n"
                   for line in text.splitlines())


def _secret_volume(secret: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(volume, volumeMount, file path) for a Secret with one key, ``value``."""
    name = dns_name(secret)
    volume_name = dns_name("secret", name)
    path = f"{SECRETS_DIR}/{name}"
    volume = {"name": volume_name, "secret": {"secretName": name, "items": [{"key": "value", "path": "value"}]}}
    mount = {"name": volume_name, "mountPath": path, "readOnly": True}
    return volume, mount, f"{path}/value"


def _container_security(uid: int, gid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def _pod_security(uid: int, gid: int) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _scratch(paths: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """emptyDir volumes and mounts for the paths a read-only root filesystem still needs."""
    volumes, mounts = [], []
    for path in paths:
        name = dns_name(path.strip("/").replace("/", "-").replace(".", "-")) or "scratch"
        volumes.append({"name": name, "emptyDir": {}})
        mounts.append({"name": name, "mountPath": path})
    return volumes, mounts


# --------------------------------------------------------------------------- the model


@dataclass
class _App:
    name: str
    svc: Service
    resource: str
    plain: dict[str, str]
    secrets: dict[str, str]  # variable -> secret name

    @property
    def scaling(self) -> Scaling | None:
        # min 0 counts as 1: the HPA cannot scale to zero (that takes KEDA or Knative)
        if self.svc.scaling or self.svc.replicas.max > max(self.svc.replicas.min, 1):
            return self.svc.scaling or Scaling()
        return None

    @property
    def hpa_min(self) -> int:
        return max(self.svc.replicas.min, 1)

    @property
    def hpa_max(self) -> int:
        return max(self.svc.replicas.max, self.hpa_min)

    @property
    def needs_pdb(self) -> bool:
        return self.svc.replicas.min > 1 or self.scaling is not None


@dataclass
class _Backing:
    name: str
    comp: Component
    resource: str
    port: int
    self_hosted: bool
    known_image: bool

    @property
    def profile(self) -> _Profile | None:
        return PROFILES.get(image_key(self.comp)) if self.known_image else None

    @property
    def password_secret(self) -> str | None:
        if self.comp.kind in ("postgres", "mysql", "rabbitmq"):
            return dns_name(self.name, "password")
        return None


def _apps(stack: Stack) -> list[_App]:
    apps = []
    for name, svc in sorted(stack.services.items()):
        if svc.runtime != "container":
            continue
        plain, secrets = split_env(svc.env)
        apps.append(_App(name, svc, dns_name(stack.name, name), plain, secrets))
    return apps


def _backing(stack: Stack) -> list[_Backing]:
    found = []
    for name, comp in sorted(stack.components.items()):
        if comp.kind == "nginx":
            continue
        known = image_key(comp) in IMAGES
        self_hosted = known and (comp.kind == "vector_db" or not comp.managed)
        port = component_port(comp) if known else 0
        found.append(_Backing(name, comp, dns_name(stack.name, name), port, self_hosted, known))
    return found


def _check_names(apps: list[_App], backing: list[_Backing]) -> None:
    seen: dict[str, str] = {}
    for what, name in [*(("services", a.name) for a in apps), *(("components", b.name) for b in backing)]:
        key = dns_name(name)
        if key in seen:
            raise InputError(f"{what}.{name}", f"becomes the Kubernetes name {key!r}, like {seen[key]}",
                             hint="rename one of them")
        seen[key] = f"{what}.{name}"


# --------------------------------------------------------------------------- config & secrets


def _connection_env(stack: Stack, backing: list[_Backing]) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, {variable: secret}) an app needs to reach the components."""
    plain: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for b in backing:
        prefix = _env_prefix(b.name)
        if b.self_hosted:
            plain[f"{prefix}_HOST"] = b.resource
            plain[f"{prefix}_PORT"] = str(b.port)
        else:
            plain[f"{prefix}_HOST"] = PLACEHOLDER
            if b.known_image:
                plain[f"{prefix}_PORT"] = str(component_port(b.comp))
        if b.password_secret:
            profile = PROFILES[b.comp.kind]
            plain[f"{prefix}_USER"] = profile.user if b.self_hosted else USER_PLACEHOLDER
            secrets[f"{prefix}_PASSWORD"] = b.password_secret
        if b.comp.kind == "postgres":
            plain[f"{prefix}_DB"] = stack.name.replace("-", "_")
    return plain, secrets


def _configmap(stack: Stack, app: _App, connection: dict[str, str]) -> dict[str, Any]:
    data = {**{k: v for k, v in connection.items() if k not in app.plain}, **app.plain}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(stack, app.name, dns_name(app.resource, "env")),
            "data": dict(sorted(data.items()))}


# --------------------------------------------------------------------------- apps


def _probe(kind: str, port: Any, path: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"httpGet": {"path": path, "port": port}} if path else {"tcpSocket": {"port": port}}
    timing = {"startup": {"periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 30},
              "liveness": {"periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
              "readiness": {"periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3}}[kind]
    return {**action, **timing}


def _deployment(stack: Stack, app: _App, component_secrets: dict[str, str]) -> dict[str, Any]:
    svc = app.svc
    secrets = {**component_secrets, **app.secrets}
    volumes, mounts = _scratch(("/tmp",))
    env: list[dict[str, Any]] = []
    if "HOME" not in app.plain:
        env.append({"name": "HOME", "value": "/tmp"})
    mounted: set[str] = set()
    for var, secret in sorted(secrets.items()):
        volume, mount, path = _secret_volume(secret)
        env.append({"name": f"{var}_FILE", "value": path})
        if volume["name"] not in mounted:
            mounted.add(volume["name"])
            volumes.append(volume)
            mounts.append(mount)
    resources = _resources(svc.cpu, svc.memory, f"services.{app.name}")
    if svc.gpu:
        resources["limits"]["nvidia.com/gpu"] = svc.gpu.count
    container: dict[str, Any] = {"name": dns_name(app.name), "image": service_image(stack, app.name, svc),
                                 "imagePullPolicy": "IfNotPresent"}
    if svc.command:
        container["command"] = list(svc.command)
    container.update({
        "ports": [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": dns_name(app.resource, "env")}}],
        "env": env,
        "resources": resources,
        "startupProbe": _probe("startup", "http", svc.health_path),
        "livenessProbe": _probe("liveness", "http", svc.health_path),
        "readinessProbe": _probe("readiness", "http", svc.readiness_path),
        "securityContext": _container_security(UID, UID),
        "volumeMounts": mounts,
    })
    pod: dict[str, Any] = {"serviceAccountName": stack.name, "automountServiceAccountToken": False,
                           "enableServiceLinks": False, "securityContext": _pod_security(UID, UID)}
    if svc.gpu:
        pod["nodeSelector"] = {GPU_LABEL: _label_value(svc.gpu.model)}
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if svc.replicas.max > 1:
        pod["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": _selector(stack, app.name)}}
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")]
    pod["containers"] = [container]
    pod["volumes"] = volumes
    spec: dict[str, Any] = {}
    if app.scaling is None:
        spec["replicas"] = svc.replicas.min
    spec.update({
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": _selector(stack, app.name)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": _labels(stack, app.name)}, "spec": pod},
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(stack, app.name, app.resource),
            "spec": spec}


def _service(stack: Stack, name: str, resource: str, port: int, port_name: str,
             headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "ClusterIP"}
    if headless:
        spec["clusterIP"] = "None"
    spec["selector"] = _selector(stack, name)
    spec["ports"] = [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(stack, name, resource), "spec": spec}


def _hpa(stack: Stack, app: _App, scaling: Scaling) -> dict[str, Any]:
    target = Decimal(str(scaling.target))
    metric: dict[str, Any]
    if scaling.metric in ("cpu_utilization", "memory_utilization"):
        metric = {"type": "Resource", "resource": {
            "name": scaling.metric.split("_")[0],
            "target": {"type": "Utilization", "averageUtilization": int(target.to_integral_value(ROUND_CEILING))}}}
    else:
        value = target / 1000 if scaling.metric == "response_time" else target  # ms -> seconds
        metric = {"type": "Pods", "pods": {"metric": {"name": POD_METRICS[scaling.metric]},
                                           "target": {"type": "AverageValue", "averageValue": _quantity(value)}}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(stack, app.name, app.resource),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.resource},
                     "minReplicas": app.hpa_min, "maxReplicas": app.hpa_max, "metrics": [metric],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": scaling.cooldown_seconds}}}}


def _pdb(stack: Stack, app: _App) -> dict[str, Any]:
    # maxUnavailable 1 rather than minAvailable 1: with one pod running (an HPA at its minimum)
    # minAvailable 1 would block every node drain; maxUnavailable 1 keeps n-1 pods otherwise.
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(stack, app.name, app.resource),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(stack, app.name)}}}


# --------------------------------------------------------------------------- components


def _statefulset(stack: Stack, b: _Backing) -> dict[str, Any]:
    profile = b.profile
    assert profile is not None
    key = image_key(b.comp)
    volumes, mounts = _scratch(profile.scratch)
    mounts.insert(0, {"name": "data", "mountPath": component_data_path(b.comp)})
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in profile.env]
    annotations: dict[str, str] = {}
    secret = b.password_secret
    if secret and profile.password_file_env:
        volume, mount, path = _secret_volume(secret)
        volumes.append(volume)
        mounts.append(mount)
        env.append({"name": profile.password_file_env, "value": path})
        if b.comp.kind == "postgres":
            env.append({"name": "POSTGRES_DB", "value": stack.name.replace("-", "_")})
    if secret and profile.password_env:
        env.append({"name": "RABBITMQ_DEFAULT_USER", "value": profile.user})
        env.append({"name": profile.password_env,
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "value"}}})
        annotations["checkov.io/skip2"] = "CKV_K8S_35=rabbitmq takes its password only from an env var"
    if profile.uid <= 10000:
        annotations["checkov.io/skip1"] = f"CKV_K8S_40={profile.why}"
    if b.comp.extensions:
        annotations["pepperpy.cloud/extensions"] = ",".join(sorted(b.comp.extensions))
    container: dict[str, Any] = {"name": key, "image": component_image(b.comp), "imagePullPolicy": "IfNotPresent"}
    if profile.args:
        container["args"] = list(profile.args)
    container["ports"] = [{"name": key, "containerPort": b.port, "protocol": "TCP"}]
    if env:
        container["env"] = env
    container.update({
        "resources": _resources(b.comp.cpu, b.comp.memory, f"components.{b.name}"),
        "startupProbe": _probe("startup", key),
        "livenessProbe": _probe("liveness", key),
        "readinessProbe": _probe("readiness", key),
        "securityContext": _container_security(profile.uid, profile.gid),
        "volumeMounts": mounts,
    })
    storage = b.comp.storage if b.comp.storage is not None else DEFAULT_STORAGE
    storage_q = _mi(_mem_mi(storage, f"components.{b.name}.storage"))
    metadata = _meta(stack, b.name, b.resource)
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    pod = {"serviceAccountName": stack.name, "automountServiceAccountToken": False, "enableServiceLinks": False,
           "securityContext": _pod_security(profile.uid, profile.gid), "containers": [container],
           "volumes": volumes}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata,
            "spec": {"serviceName": b.resource, "replicas": 1,
                     "selector": {"matchLabels": _selector(stack, b.name)},
                     "template": {"metadata": {"labels": _labels(stack, b.name)}, "spec": pod},
                     "volumeClaimTemplates": [{
                         "metadata": {"name": "data"},
                         "spec": {"accessModes": ["ReadWriteOnce"],
                                  "resources": {"requests": {"storage": storage_q}}}}]}}


# --------------------------------------------------------------------------- stack-wide


def _domain(stack: Stack) -> str:
    return stack.cloud.network.custom_domain or f"{stack.name}.example.com"


def _hosts(stack: Stack, apps: list[_App], prefix: str = "") -> list[str]:
    domain = f"{prefix}{_domain(stack)}"
    return [domain] if len(apps) == 1 else [f"{dns_name(a.name)}.{domain}" for a in apps]


def _ingress(stack: Stack, apps: list[_App]) -> dict[str, Any]:
    hosts = _hosts(stack, apps)
    rules = [{"host": host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": app.resource, "port": {"name": "http"}}}}]}}
        for host, app in zip(hosts, apps, strict=True)]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": stack.name, "labels": _labels(stack, stack.name)},
            "spec": {"tls": [{"hosts": hosts, "secretName": f"{stack.name}-tls"}], "rules": rules}}


def _network_policies(stack: Stack, apps: list[_App], backing: list[_Backing]) -> list[dict[str, Any]]:
    def policy(name: str, owner: str, selector: dict[str, Any], ingress: list[Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"podSelector": selector, "policyTypes": ["Ingress"]}
        if ingress is not None:
            spec["ingress"] = ingress
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": _meta(stack, owner, name), "spec": spec}

    docs = [policy(dns_name(stack.name, "default-deny-ingress"), stack.name, {}, None)]
    for app in apps:
        docs.append(policy(dns_name(app.resource, "allow-http"), app.name,
                           {"matchLabels": _selector(stack, app.name)},
                           [{"ports": [{"protocol": "TCP", "port": app.svc.port}]}]))
    for b in backing:
        if b.self_hosted:
            docs.append(policy(dns_name(b.resource, "allow-stack"), b.name,
                               {"matchLabels": _selector(stack, b.name)},
                               [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": stack.name}}}],
                                 "ports": [{"protocol": "TCP", "port": b.port}]}]))
    return docs


def _service_account(stack: Stack) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": stack.name, "labels": _labels(stack, stack.name)},
            "automountServiceAccountToken": False}


# --------------------------------------------------------------------------- overlays


def _op(op: str, path: str, value: Any) -> dict[str, Any]:
    return {"op": op, "path": path, "value": value}


def _patch(group: str, version: str, kind: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    target = {"group": group, "version": version, "kind": kind, "name": name} if group else \
        {"version": version, "kind": kind, "name": name}
    return {"target": target, "patch": dump_yaml(ops)}


def _dev_requests(cpu: Any, memory: Any, where: str) -> dict[str, str]:
    return {"cpu": _milli(min(_cpu_milli(cpu, f"{where}.cpu"), DEV_CPU_MILLI)),
            "memory": _mi(min(_mem_mi(memory, f"{where}.memory"), DEV_MEMORY_MI))}


def _overlay(stack: Stack, env: str, apps: list[_App], backing: list[_Backing]) -> tuple[str, str]:
    namespace = stack.name if env == "prod" else f"{stack.name}-{env}"
    patches = []
    for app in apps:
        scaling = app.scaling
        if env == "dev":
            if scaling is not None:
                patches.append(_patch("autoscaling", "v2", "HorizontalPodAutoscaler", app.resource, [
                    _op("replace", "/spec/minReplicas", 1),
                    _op("replace", "/spec/maxReplicas", min(app.hpa_max, 2))]))
            ops = [_op("replace", "/spec/template/spec/containers/0/resources/requests",
                       _dev_requests(app.svc.cpu, app.svc.memory, f"services.{app.name}"))]
            if scaling is None and app.svc.replicas.min > 1:
                ops.append(_op("replace", "/spec/replicas", 1))
            patches.append(_patch("apps", "v1", "Deployment", app.resource, ops))
        elif scaling is not None:
            patches.append(_patch("autoscaling", "v2", "HorizontalPodAutoscaler", app.resource, [
                _op("replace", "/spec/minReplicas", app.hpa_min),
                _op("replace", "/spec/maxReplicas", app.hpa_max)]))
    if env == "dev":
        for b in backing:
            if b.self_hosted:
                patches.append(_patch("apps", "v1", "StatefulSet", b.resource, [
                    _op("replace", "/spec/template/spec/containers/0/resources/requests",
                        _dev_requests(b.comp.cpu, b.comp.memory, f"components.{b.name}"))]))
        if apps:
            hosts = _hosts(stack, apps, "dev.")
            ops = [_op("replace", f"/spec/rules/{i}/host", host) for i, host in enumerate(hosts)]
            ops.append(_op("replace", "/spec/tls/0/hosts", hosts))
            patches.append(_patch("networking.k8s.io", "v1", "Ingress", stack.name, ops))
    doc: dict[str, Any] = {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "namespace": namespace,
                           "resources": ["namespace.yaml", "../../base"],
                           "labels": [{"pairs": {ENV_LABEL: env}, "includeSelectors": False,
                                       "includeTemplates": True}]}
    if patches:
        doc["patches"] = patches
    what = {"dev": f"The dev environment in namespace {namespace}: at most 2 replicas and requests capped at "
                   f"{DEV_CPU_MILLI}m CPU / {DEV_MEMORY_MI}Mi, hosts under dev.{_domain(stack)}.",
            "prod": f"The prod environment in namespace {namespace}, with the stack's replica bounds."}[env]
    if any(a.secrets for a in apps):
        what += (" Add `components: [../../components/secrets-as-env]` if an app reads its secrets only "
                 "from environment variables.")
    kustomization = header(stack, "#", f"{what} Build it with: kubectl kustomize overlays/{env}") + dump_yaml(doc)
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": namespace, "labels": {
                         **_labels(stack, stack.name),
                         "pod-security.kubernetes.io/enforce": "restricted",
                         "pod-security.kubernetes.io/warn": "restricted"}}}
    namespace_text = header(stack, "#", "The namespace, with Pod Security Admission enforcing the 'restricted' "
                            "profile that every rendered pod meets.") + dump_yaml(namespace_doc)
    return kustomization, namespace_text


def _secrets_as_env(stack: Stack, apps: list[_App]) -> str:
    patches = []
    for app in apps:
        if not app.secrets:
            continue
        ops = [_op("add", "/spec/template/spec/containers/0/env/-",
                   {"name": var, "valueFrom": {"secretKeyRef": {"name": dns_name(secret), "key": "value"}}})
               for var, secret in sorted(app.secrets.items())]
        patches.append(_patch("apps", "v1", "Deployment", app.resource, ops))
    doc = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", "patches": patches}
    return header(stack, "#", "Opt-in: also expose each secret as an environment variable (secretKeyRef), for "
                  "apps that cannot read <VAR>_FILE. Files stay mounted; prefer them.") + dump_yaml(doc)


# --------------------------------------------------------------------------- render


def render(stack: Stack) -> Files:
    apps = _apps(stack)
    backing = _backing(stack)
    _check_names(apps, backing)
    connection, component_secrets = _connection_env(stack, backing)
    all_secrets = sorted({*component_secrets.values(), *(s for a in apps for s in a.secrets.values())})
    create = "; ".join(f"kubectl -n <namespace> create secret generic {dns_name(s)} --from-file=value=<file>"
                       for s in all_secrets)
    base: Files = {}

    def add(path: str, docs: list[dict[str, Any]], what: str, notes: tuple[tuple[str, str], ...] = ()) -> None:
        text = dump_yaml_all(docs)
        for needle, comment in notes:
            text = _note(text, needle, comment)
        base[path] = header(stack, "#", what) + text

    add("serviceaccount.yaml", [_service_account(stack)],
        "The stack's ServiceAccount; pods do not mount its token. Bind roles to it only if the app calls the API.")
    for app in apps:
        svc, short = app.svc, dns_name(app.name)
        placeholders = [k for k, v in connection.items() if v in (PLACEHOLDER, USER_PLACEHOLDER) and k not in app.plain]
        add(f"{short}-configmap.yaml", [_configmap(stack, app, connection)],
            f"Plain settings of '{app.name}' (from services.{app.name}.env) and how it reaches the components."
            + (f" Replace the placeholders ({', '.join(placeholders)}) with your managed endpoints, e.g. in an "
               "overlay patch." if placeholders else ""),
            ((PLACEHOLDER, "the managed service's endpoint; patch it in your overlay"),
             (USER_PLACEHOLDER, "the managed service's user; patch it in your overlay")))
        secret_note = ""
        secrets = sorted({*component_secrets.values(), *app.secrets.values()})
        if secrets:
            secret_note = (f" Create the Secrets first (key 'value'; mounted under {SECRETS_DIR}/<name>, "
                           f"<VAR>_FILE points at them): {', '.join(dns_name(s) for s in secrets)}.")
        gpu_note = ""
        notes: tuple[tuple[str, str], ...] = ()
        if svc.gpu:
            label = _label_value(svc.gpu.model)
            gpu_note = (f" GPU nodes need the label {GPU_LABEL}={label} (or replace the nodeSelector with your "
                        "cloud's: cloud.google.com/gke-accelerator, node.kubernetes.io/instance-type, ...) and "
                        "the NVIDIA device plugin.")
            notes = ((f"{GPU_LABEL}: {label}", "edit: label your GPU nodes, or use your cloud's GPU label"),)
        add(f"{short}-deployment.yaml", [_deployment(stack, app, component_secrets)],
            f"Runs '{app.name}' as uid {UID} on a read-only root filesystem (/tmp is writable)."
            + (" The HPA owns the replica count." if app.scaling else "")
            + (" replicas.min is 0, so nothing runs until you scale it up (scaling from zero on demand "
               "takes KEDA or Knative)." if app.scaling is None and svc.replicas.min == 0 else "")
            + secret_note + gpu_note, notes)
        add(f"{short}-service.yaml", [_service(stack, app.name, app.resource, svc.port, "http")],
            f"In-cluster address of '{app.name}': http://{app.resource}:{svc.port}.")
        scaling = app.scaling
        if scaling is not None:
            adapter = ""
            if scaling.metric in POD_METRICS:
                adapter = (f" The Pods metric {POD_METRICS[scaling.metric]} needs a metrics adapter "
                           "(prometheus-adapter, KEDA or your cloud's) serving custom.metrics.k8s.io; "
                           "without one the HPA cannot scale.")
                if scaling.metric == "response_time":
                    adapter += " The stack's target is in milliseconds; the HPA's is in seconds."
            add(f"{short}-hpa.yaml", [_hpa(stack, app, scaling)],
                f"Scales '{app.name}' between {app.hpa_min} and {app.hpa_max} replicas on {scaling.metric}; "
                f"scale-down waits {scaling.cooldown_seconds}s." + adapter)
        if app.needs_pdb:
            add(f"{short}-pdb.yaml", [_pdb(stack, app)],
                "Voluntary evictions (node drains, upgrades) take at most one pod at a time; maxUnavailable "
                "rather than minAvailable so a single pod never blocks a drain.")
    for b in backing:
        if not b.self_hosted:
            continue
        short, profile = dns_name(b.name), b.profile
        assert profile is not None
        replicas_note = ""
        if b.comp.replicas > 1:
            replicas_note = (f" The stack asks for {b.comp.replicas} replicas; one is rendered because "
                             f"replicating {b.comp.kind} needs its own operator or chart.")
        secret_note = ""
        if b.password_secret:
            secret_note = (f" Create the Secret {b.password_secret} (key 'value') with the admin password "
                           "first.")
        add(f"{short}-statefulset.yaml", [_statefulset(stack, b)],
            f"Self-hosted {b.comp.kind} '{b.name}' ({component_image(b.comp)}) with its data on a "
            f"PersistentVolumeClaim of the cluster's default StorageClass; runs as uid {profile.uid} "
            f"because {profile.why}." + replicas_note + secret_note + "".join(f" {n}" for n in profile.notes))
        add(f"{short}-service.yaml",
            [_service(stack, b.name, b.resource, b.port, image_key(b.comp), headless=True)],
            f"Headless Service of '{b.name}': {b.resource}:{b.port}, reachable only from the stack's pods.")
    add("networkpolicy.yaml", _network_policies(stack, apps, backing),
        "Deny all ingress in the namespace, then allow the apps' ports (from anywhere, so the ingress "
        "controller reaches them; narrow 'from' to its namespace if you can) and the components' ports "
        "from the stack's pods only. Needs a CNI that enforces NetworkPolicy.")
    if apps:
        domain_note = ("" if stack.cloud.network.custom_domain else
                       " The hosts are placeholders: set cloud.network.custom_domain in the stack.")
        notes = () if stack.cloud.network.custom_domain else \
            tuple((f"host: {h}", "placeholder: set cloud.network.custom_domain") for h in _hosts(stack, apps))
        add("ingress.yaml", [_ingress(stack, apps)],
            f"HTTPS entry to the apps (it replaces the nginx component). The certificate lives in the Secret "
            f"{stack.name}-tls (cert-manager can issue it: add its cluster-issuer annotation); the cluster's "
            "default IngressClass serves it." + domain_note, notes)
    kustomization = {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "resources": sorted(base)}
    files: Files = {f"base/{path}": text for path, text in base.items()}
    files["base/kustomization.yaml"] = header(
        stack, "#", "The environment-neutral base; deploy an overlay instead: kubectl apply -k overlays/dev"
        + (f". Secrets to create in the namespace first: {create}" if create else "")) + dump_yaml(kustomization)
    for env in ("dev", "prod"):
        kustomization_text, namespace_text = _overlay(stack, env, apps, backing)
        files[f"overlays/{env}/kustomization.yaml"] = kustomization_text
        files[f"overlays/{env}/namespace.yaml"] = namespace_text
    if any(a.secrets for a in apps):
        files["components/secrets-as-env/kustomization.yaml"] = _secrets_as_env(stack, apps)
    return dict(sorted(files.items()))
