"""Cloud Run services through the Admin API v2: one service per stack service.

``template.scaling`` holds min/max instances from the service's replicas (seed
000's ``DeploymentConfig`` min/max replicas through ``CloudDeployment.to_stack()``);
with a ``requests_per_second`` ``ScalingConfig`` the target becomes the per-instance
request concurrency Cloud Run scales on (else Cloud Run's default, 80). The
container listens on the service's port; the startup probe waits for
``readiness_path``, the liveness probe watches ``health_path``. ``${SECRET:name}``
variables are ``secretKeyRef`` to the Secret Manager secret ``<stack>-<name>``
(latest version): no value is in the request.

Sizes are Cloud Run's: 1, 2, 4, 6 or 8 vCPU; 512 MiB to 32 GiB, at least 2 GiB
from 4 vCPU and 4 GiB from 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp.naming import GcpTarget, check_region, run_service, secret_id
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource
from pepperpy.cloud.render.terraform_common import cpu_of, memory_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service

HOST = "run.googleapis.com"
CPUS = (1, 2, 4, 6, 8)
MIN_MEMORY_MIB = {1: 512, 2: 512, 4: 2048, 6: 4096, 8: 4096}
MAX_MEMORY_MIB = 32 * 1024
MAX_INSTANCES = 1000
DEFAULT_CONCURRENCY = 80


def resources(name: str, service: Service) -> dict[str, str]:
    """Cloud Run limits holding the service's CPU and memory."""
    if service.gpu is not None:
        raise InputError(f"services.{name}.gpu", "Cloud Run GPUs are not supported by pepperpy-cloud yet",
                         hint="fix: use hosting: kubernetes (GKE) for GPU services")
    cpu = next((c for c in CPUS if c >= cpu_of(service)), None)
    mib = math.ceil(memory_gb(service) * Decimal(1024))
    if cpu is None or mib > MAX_MEMORY_MIB:
        raise InputError(f"services.{name}", f"Cloud Run offers at most 8 vCPU / 32 GiB, not {cpu_of(service)} vCPU / "
                         f"{memory_gb(service)} GiB", hint="fix: lower cpu/memory, or use hosting: kubernetes")
    return {"cpu": str(cpu), "memory": f"{max(mib, MIN_MEMORY_MIB[cpu])}Mi"}


def scaling(name: str, service: Service) -> tuple[dict[str, int], int]:
    """(``template.scaling``, per-instance concurrency) from the service's replicas and scaling policy."""
    low, high = service.replicas.min, service.replicas.max
    if high > MAX_INSTANCES:
        raise InputError(f"services.{name}.replicas.max", f"Cloud Run scales to at most {MAX_INSTANCES} instances "
                         f"per service, not {high}", hint=f"fix: set max to {MAX_INSTANCES} or less")
    policy = service.scaling
    concurrency = DEFAULT_CONCURRENCY
    if policy is not None and policy.metric == "requests_per_second":
        concurrency = min(1000, max(1, math.ceil(policy.target)))
    return {"minInstanceCount": low, "maxInstanceCount": high}, concurrency


def env(target: GcpTarget, service: Service, wiring: Wiring | None = None) -> list[dict[str, Any]]:
    """The service's variables, then the components' (the service's own win); secrets as ``secretKeyRef``."""
    plain, secret_vars = split_env(service.env)
    if wiring is not None:
        own = set(plain) | set(secret_vars)
        plain = {**{k: v for k, v in sorted(wiring.plain.items()) if k not in own}, **plain}  # sorted: stable
        secret_vars = {**{k: v for k, v in sorted(wiring.secrets.items()) if k not in own}, **secret_vars}
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    out += [{"name": k, "valueSource": {"secretKeyRef": {"secret": secret_id(target.stack, s), "version": "latest"}}}
            for k, s in secret_vars.items()]
    return out


@dataclass(frozen=True)
class Wiring:
    """What a stack's components hand every service: plain settings, ``{variable: secret name}``, the Cloud SQL
    connection names to mount at ``/cloudsql`` and the VPC network to reach Memorystore through (direct egress).
    """

    plain: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    cloudsql: tuple[str, ...] = ()
    network: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plain": self.plain, "secrets": self.secrets, "cloudsql": list(self.cloudsql),
                "network": self.network}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Wiring:
        data = data or {}
        return cls(dict(data.get("plain") or {}), dict(data.get("secrets") or {}), tuple(data.get("cloudsql") or ()),
                   data.get("network"))


def service_body(target: GcpTarget, name: str, service: Service, *,
                 service_account: str | None = None, wiring: Wiring | None = None) -> dict[str, Any]:
    if not service.image:
        raise InputError(f"services.{name}.image", "Cloud Run runs an image; this service is built from source",
                         hint="fix: build and push the image (pepperpy-cloud render -t docker), then set "
                              "services.<name>.image")
    scale, concurrency = scaling(name, service)
    port = service.port
    container: dict[str, Any] = {
        "name": name.replace("_", "-"), "image": service.image,
        "ports": [{"name": "http1", "containerPort": port}],
        "resources": {"limits": resources(name, service), "cpuIdle": True},
        "env": env(target, service, wiring),
        "startupProbe": {"httpGet": {"path": service.readiness_path, "port": port}, "periodSeconds": 10,
                         "timeoutSeconds": 5, "failureThreshold": 30},
        "livenessProbe": {"httpGet": {"path": service.health_path, "port": port}, "periodSeconds": 15,
                          "timeoutSeconds": 5, "failureThreshold": 3},
    }
    template: dict[str, Any] = {"labels": target.labels, "scaling": scale,
                                "maxInstanceRequestConcurrency": concurrency, "containers": [container]}
    if service_account:
        template["serviceAccount"] = service_account
    if wiring is not None and wiring.cloudsql:
        template["volumes"] = [{"name": "cloudsql", "cloudSqlInstance": {"instances": list(wiring.cloudsql)}}]
        container["volumeMounts"] = [{"name": "cloudsql", "mountPath": "/cloudsql"}]
    if wiring is not None and wiring.network:
        template["vpcAccess"] = {"networkInterfaces": [{"network": wiring.network}], "egress": "PRIVATE_RANGES_ONLY"}
    return {"labels": target.labels, "ingress": "INGRESS_TRAFFIC_ALL", "template": template}


def service(target: GcpTarget, name: str, svc: Service, *, service_account: str | None = None,
            wiring: Wiring | None = None) -> GcpResource:
    """Create (POST ``?serviceId=``), read, update (PATCH: a new revision) and delete ``<stack>-<name>``."""
    check_region(target.region, "Cloud Run")
    sid = run_service(target.stack, name)
    base = f"/v2/{target.parent}/services"
    body = service_body(target, name, svc, service_account=service_account, wiring=wiring)
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (("serviceId", sid),), "create Cloud Run service", sid, "google"),
        read=GcpRequest("GET", HOST, f"{base}/{sid}", None, (), "read Cloud Run service", sid),
        update=GcpRequest("PATCH", HOST, f"{base}/{sid}", body, (), "update Cloud Run service", sid, "google"),
        delete=GcpRequest("DELETE", HOST, f"{base}/{sid}", None, (), "delete Cloud Run service", sid, "google"),
    )
