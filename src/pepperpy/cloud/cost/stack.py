"""A stack, seen by the cost model: each part mapped to the resource dicts the estimator prices.

Services become instances (cheapest fit for their CPU, memory and GPU, or the
instance type the stack names), one per minimum replica; with Kubernetes
hosting a control plane is added. Managed components become the provider's
managed service; self-hosted ones (vector DBs, unmanaged Redis...) run on an
instance of their own with a disk. Usage figures add egress, load balancer
capacity, queue traffic, object storage and monitoring.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb
from pepperpy.cloud.spec.stack import Component, Stack

# Sizing policy for managed databases named by size: minimum (vCPUs, GiB).
DB_SIZES = {"small": (2, 4), "medium": (2, 8), "large": (4, 16), "xlarge": (8, 32)}


def _fit(spec: Any, provider: str) -> dict[str, Any]:
    explicit = spec.instance_for(provider)
    if explicit:
        return {"instance_type": explicit}
    fit: dict[str, Any] = {"vcpus": str(parse_cpu(spec.cpu, "cpu")),
                           "memory_gb": str(parse_size_gb(spec.memory, "memory"))}
    gpu = getattr(spec, "gpu", None)
    if gpu is not None:
        fit.update(gpu=gpu.model, gpu_count=gpu.count)
    return fit


def _component(name: str, comp: Component, provider: str) -> list[dict[str, Any]]:
    explicit = comp.instance_for(provider)
    if comp.kind == "nginx" or comp.colocate_with:
        return []
    if comp.managed and comp.kind == "redis":
        res: dict[str, Any] = {"type": "cache", "name": name, "count": comp.replicas}
        if explicit:
            res["instance_type"] = explicit
        else:
            res["memory_gb"] = str(parse_size_gb(comp.memory, f"components.{name}.memory"))
        return [res]
    if comp.managed and comp.kind in ("postgres", "mysql"):
        res = {"type": "database", "name": name, "count": comp.replicas, "engine": comp.kind}
        if explicit:
            res["instance_type"] = explicit
        else:
            res["size"] = comp.size or "small"
        if comp.storage is not None:
            res["size_gb"] = comp.storage
        return [res]
    if comp.managed and comp.kind == "rabbitmq":
        res = {"type": "queue", "name": name}
        if explicit:
            res["instance_type"] = explicit
        return [res]
    out = [{"type": "compute", "name": name, "count": comp.replicas, **_fit(comp, provider)}]
    if comp.storage is not None:
        out.append({"type": "block_storage", "name": f"{name} volume", "size_gb": comp.storage,
                    "count": comp.replicas})
    return out


def stack_resources(stack: Stack, provider: str) -> list[dict[str, Any]]:
    """The resource dicts that price ``stack`` on ``provider`` (one of aws, azure, gcp)."""
    usage = stack.usage
    resources: list[dict[str, Any]] = []
    if stack.hosting == "kubernetes":
        resources.append({"type": "kubernetes", "name": "kubernetes control plane"})
    for name, svc in stack.services.items():
        if svc.runtime == "serverless":
            resources.append({"type": "serverless", "name": name, "requests": usage.requests,
                              "memory": svc.memory})
            continue
        resources.append({"type": "compute", "name": name, "count": svc.replicas.min,
                          **_fit(svc, provider)})
        if svc.disk is not None:
            resources.append({"type": "block_storage", "name": f"{name} disk",
                              "size_gb": svc.disk, "count": svc.replicas.min})
    for name, comp in stack.components.items():
        resources.extend(_component(name, comp, provider))
    queue = next((r for r in resources if r["type"] == "queue"), None)
    if queue is not None:
        if usage.queue_operations:
            queue["operations"] = usage.queue_operations
        if usage.queue_data_gb:
            queue["data_gb"] = usage.queue_data_gb
    if stack.needs_load_balancer():
        lb: dict[str, Any] = {"type": "load_balancer", "name": "load balancer"}
        if usage.lb_lcu:
            lb["lcu"] = usage.lb_lcu
        if usage.lb_data_gb:
            lb["data_gb"] = usage.lb_data_gb
        resources.append(lb)
    stored = usage.object_storage_gb + sum(
        (parse_size_gb(b.size, f"buckets.{n}.size") for n, b in stack.buckets.items()), start=0)
    if stored:
        resources.append({"type": "object_storage", "name": "object storage", "size_gb": stored})
    if usage.egress_gb:
        resources.append({"type": "egress", "name": "internet egress", "gb": usage.egress_gb})
    if stack.monitoring and (usage.metrics or usage.alarms or usage.dashboards):
        resources.append({"type": "monitoring", "name": "monitoring", "metrics": usage.metrics,
                          "alarms": usage.alarms, "dashboards": usage.dashboards})
    return resources
