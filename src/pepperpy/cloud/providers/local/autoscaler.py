"""The local autoscaler: one supervised process per deployment that has a scaling policy.

Every few seconds it reads the metric of the stack's ``ScalingConfig`` — replica CPU from
psutil (``cpu_utilization``), request rate or p95 latency from the load balancer — and
computes the replica count the way Kubernetes' HPA does: ``ceil(current * value / target)``
clamped to ``[min, max]``. It scales up after two consecutive readings above target and
scales down only once ``cooldown_seconds`` have passed since the last change, so one
burst does not make it flap. Scaling goes through :meth:`LocalRuntime.scale`, taking the
deployment's lease like any other change.

With ``CostOptimizationConfig(scale_to_zero=True, idle_timeout_minutes=N)`` it also stops every
replica once the load balancer has seen no request for N minutes, and starts them again when the
balancer, holding the first new request, POSTs the wake URL this process serves on 127.0.0.1.

Run: ``python -m pepperpy.cloud.providers.local.autoscaler DEPLOYMENT [--interval 2] [--wake-port P]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
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


def serve_wake(port: int, woken: threading.Event) -> None:
    """Answer POST /wake on 127.0.0.1:port by setting ``woken``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Wake(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            woken.set()
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Wake)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def run(name: str, interval: float = INTERVAL, wake_port: int | None = None) -> None:
    from pepperpy.cloud.providers.local.runtime import LocalRuntime
    from pepperpy.cloud.spec.stack import Stack

    runtime = LocalRuntime()
    woken = threading.Event()
    if wake_port:
        serve_wake(wake_port, woken)
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
        stack = Stack.model_validate(rev.spec["stack"])
        svc = stack.services[rev.spec["service"]]
        replicas = runtime.state.replicas(name, rev.number)
        cost = stack.cloud.cost_optimization
        if cost.scale_to_zero and _sleep_or_wake(runtime, name, len(replicas), max(svc.replicas.min, 1),
                                                  cost.idle_timeout_minutes * 60, woken):
            last_change = time.monotonic()
            continue
        policy = svc.scaling
        if policy is None or not replicas:
            woken.wait(interval)
            continue
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
        woken.wait(interval)


def _sleep_or_wake(runtime: Any, name: str, current: int, awake: int, idle_seconds: float,
                   woken: threading.Event) -> bool:
    """Scale to zero when idle, back to ``awake`` when woken; True when it changed something."""
    if current == 0 and woken.is_set():
        woken.clear()
        runtime.scale(name, awake)
        runtime.state.record_event("woke", f"cold start: 0 -> {awake} replica(s)", name)
        return True
    woken.clear()
    if current > 0:
        status = runtime.lb_status(name) or {}
        idle = status.get("seconds_since_last_request")
        if idle is not None and idle >= idle_seconds and not status.get("in_flight"):
            runtime.scale(name, 0)
            runtime.state.record_event("scaled-to-zero", f"idle for {idle:.0f} s", name)
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pepperpy-cloud-autoscaler")
    parser.add_argument("deployment")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    parser.add_argument("--wake-port", type=int, default=None)
    args = parser.parse_args(argv)
    run(args.deployment, args.interval, args.wake_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
