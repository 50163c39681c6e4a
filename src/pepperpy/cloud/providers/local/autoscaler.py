"""The local autoscaler: one supervised process per deployment that has a scaling policy.

Every few seconds it reads the metric of the stack's ``ScalingConfig`` — replica CPU from
psutil (``cpu_utilization``), request rate or p95 latency from the load balancer — and
computes the replica count the way Kubernetes' HPA does: ``ceil(current * value / target)``
clamped to ``[min, max]``. It scales up after two consecutive readings above target and
scales down only once ``cooldown_seconds`` have passed since the last change, so one
burst does not make it flap. Scaling goes through :meth:`LocalRuntime.scale`, taking the
deployment's lease like any other change.

Run: ``python -m pepperpy.cloud.providers.local.autoscaler DEPLOYMENT [--interval 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from typing import Any

INTERVAL = 2.0


def desired_replicas(current: int, value: float, target: float, low: int, high: int) -> int:
    """HPA's rule: ceil(current * value / target), within [low, high]; no change within 10%."""
    if current <= 0:
        return max(low, 1 if value > 0 else 0)
    ratio = value / target if target else 0.0
    if abs(ratio - 1.0) <= 0.1:
        return min(max(current, low), high)
    return min(max(math.ceil(current * ratio), low), high)


def cpu_percent(pids: list[int]) -> float:
    """Average CPU of the replicas (and their children) over a short window, in % of one core."""
    import psutil  # type: ignore[import-untyped]

    procs: list[Any] = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            procs.extend([parent, *parent.children(recursive=True)])
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.cpu_percent(None)
    time.sleep(0.5)
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.cpu_percent(None)
    return total / max(len(pids), 1)


def reading(runtime: Any, name: str, metric: str, pids: list[int]) -> float | None:
    if metric in ("cpu_utilization", "memory_utilization"):
        return cpu_percent(pids)
    status = runtime.lb_status(name) or {}
    if metric == "requests_per_second":
        rps = status.get("requests_per_second")
        return float(rps) / max(len(pids), 1) if rps is not None else None
    latency = status.get("latency_p95_seconds")
    return float(latency) * 1000 if latency is not None else None  # targets are in milliseconds


def run(name: str, interval: float = INTERVAL) -> None:
    from pepperpy.cloud.providers.local.runtime import LocalRuntime
    from pepperpy.cloud.spec.stack import Stack

    runtime = LocalRuntime()
    last_change = 0.0
    above = 0
    while True:
        dep = runtime.state.get_deployment(name)
        if dep is None:
            return
        if dep.active_revision is None:
            time.sleep(interval)
            continue
        rev = runtime.state.get_revision(name, dep.active_revision)
        assert rev is not None
        svc = Stack.model_validate(rev.spec["stack"]).services[rev.spec["service"]]
        policy = svc.scaling
        if policy is None:
            return
        replicas = runtime.state.replicas(name, rev.number)
        pids = [r.pid for r in replicas if r.pid]
        value = reading(runtime, name, policy.metric, pids)
        if value is not None:
            want = desired_replicas(len(replicas), value, policy.target, svc.replicas.min, svc.replicas.max)
            above = above + 1 if want > len(replicas) else 0
            cooled = time.monotonic() - last_change >= policy.cooldown_seconds
            if (want > len(replicas) and above >= 2) or (want < len(replicas) and cooled):
                print(json.dumps({"event": "scale", "deployment": name, "metric": policy.metric,
                                  "value": round(value, 2), "target": policy.target,
                                  "from": len(replicas), "to": want}), flush=True)
                try:
                    runtime.scale(name, want)
                    runtime.state.record_event(
                        "autoscaled", f"{policy.metric} {value:.1f} vs target {policy.target}: "
                        f"{len(replicas)} -> {want}", name)
                except Exception as exc:
                    print(json.dumps({"event": "scale-failed", "error": str(exc)}), flush=True)
                last_change = time.monotonic()
                above = 0
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pepperpy-cloud-autoscaler")
    parser.add_argument("deployment")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    run(args.deployment, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
