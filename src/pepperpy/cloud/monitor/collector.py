"""The metrics collector: one supervised process per local deployment (``<name>-monitor``).

Every ``interval`` seconds it scrapes the load balancer's Prometheus exposition
(``/_pepperpy/metrics``: requests by status class, the response-time histogram, in-flight)
and measures each running replica with psutil (CPU of the process and its children, RSS),
stores the samples in the embedded time-series store with one timestamp per scrape, then
evaluates the deployment's alert rules and its budget on what was just stored.

A value that could not be measured is not stored: a failed scrape leaves a gap, and a
replica's first CPU reading (psutil needs two readings to measure) is skipped.

Run: ``python -m pepperpy.cloud.monitor.collector DEPLOYMENT [--interval 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from pepperpy.cloud.monitor import definitions as d
from pepperpy.cloud.monitor.store import MetricStore, Sample

INTERVAL = 10.0
COMPACT_EVERY = 60.0


def parse_exposition(text: str, deployment: str, now: float) -> list[Sample]:
    """Samples of a Prometheus text exposition; ``_created`` become the ``created`` label-free map."""
    return parse_with_created(text, deployment, now)[0]


def parse_with_created(text: str, deployment: str, now: float) -> tuple[list[Sample], dict[tuple[str, str], float]]:
    """Samples, plus each counter's creation time keyed by (family, labels without ``le``)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: list[Sample] = []
    created: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {**sample.labels, "deployment": deployment}
            if sample.name.endswith("_created"):
                # The text format exposes ``x_created`` as a family of its own (a gauge).
                created[(sample.name.removesuffix("_created"), _key(labels))] = float(sample.value)
                continue
            samples.append((sample.name, labels, now, float(sample.value)))
    return samples, created


def _key(labels: dict[str, str]) -> str:
    return json.dumps({k: v for k, v in sorted(labels.items()) if k != "le"})


def _family(name: str) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def with_created_zeros(samples: list[Sample], created: dict[tuple[str, str], float],
                       is_new: Callable[[str, Mapping[str, str]], bool]) -> list[Sample]:
    """A counter seen for the first time also gets its value at creation, 0, at its ``_created`` time.

    Without it, requests answered before the first scrape would vanish into the first sample
    (Prometheus' created-timestamp zero ingestion does the same).
    """
    zeros: list[Sample] = []
    for name, labels, ts, _ in samples:
        if name not in d.COUNTERS or not is_new(name, labels):
            continue
        born = created.get((_family(name), _key(dict(labels))))
        if born is not None and born < ts:
            zeros.append((name, labels, round(born, 3), 0.0))
    return zeros + samples


class ProcessMeter:
    """CPU and memory of replica processes (and their children), kept across scrapes.

    psutil measures CPU between two calls, so a process seen for the first time is primed
    and reports nothing until the next scrape.
    """

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}

    def measure(self, pid: int) -> tuple[float | None, float | None]:
        import psutil  # type: ignore[import-untyped]

        try:
            parent = psutil.Process(pid)
            tree = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None, None
        cpu = 0.0
        primed = True
        rss = 0.0
        for proc in tree:
            known = self._procs.get(proc.pid)
            if known is None or known.create_time() != proc.create_time():
                self._procs[proc.pid] = known = proc
                with contextlib.suppress(psutil.Error):
                    known.cpu_percent(None)
                if proc.pid == pid:
                    primed = False
                continue
            with contextlib.suppress(psutil.Error):
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
        if not primed:
            with contextlib.suppress(psutil.Error):
                rss = float(sum(p.memory_info().rss for p in tree))
            return None, rss
        return cpu, rss

    def forget_except(self, pids: set[int]) -> None:
        for pid in list(self._procs):
            if pid not in pids:
                self._procs.pop(pid, None)


class Collector:
    """Scrape one deployment into the store; evaluate its alerts and budget."""

    def __init__(self, deployment: str, *, interval: float = INTERVAL, runtime: Any = None,
                 store: MetricStore | None = None) -> None:
        from pepperpy.cloud.providers.local.runtime import LocalRuntime

        self.deployment = deployment
        self.interval = interval
        self.runtime = runtime or LocalRuntime()
        self.store = store or MetricStore.open()
        self.meter = ProcessMeter()
        self._last_compact = 0.0
        self._remembered: int | None = None

    def _replica_pids(self, now: float) -> dict[str, int]:
        dep = self.runtime.state.get_deployment(self.deployment)
        if dep is None or dep.active_revision is None:
            return {}
        if self._remembered != dep.active_revision:
            # Cost accrual needs the spec even after 'down' has deleted the deployment's state.
            rev = self.runtime.state.get_revision(self.deployment, dep.active_revision)
            if rev is not None:
                self.store.remember_deployment(self.deployment, rev.spec, now)
                self._remembered = dep.active_revision
        programs = self.runtime.supervisor.all_status()
        out: dict[str, int] = {}
        for rep in self.runtime.state.replicas(self.deployment, dep.active_revision):
            status = programs.get(self.runtime._replica_program(self.deployment, rep.revision, rep.index))
            if status is not None and status.state in ("RUNNING", "STARTING") and status.pid:
                out[str(rep.index)] = int(status.pid)
        return out

    def _lb_samples(self, now: float) -> list[Sample]:
        port_file = self.runtime.home / "deployments" / self.deployment / "lb-port"
        if not port_file.exists():
            return []
        try:
            answer = httpx.get(f"http://127.0.0.1:{int(port_file.read_text())}/_pepperpy/metrics", timeout=2.0)
            answer.raise_for_status()
        except (httpx.HTTPError, ValueError):
            return []
        samples, created = parse_with_created(answer.text, self.deployment, now)
        return with_created_zeros(samples, created, lambda name, labels: not self.store.known(name, labels))

    def scrape(self, now: float | None = None) -> int:
        """One scrape: load balancer + replicas, stored under one timestamp; returns samples stored."""
        now = round(time.time() if now is None else now, 3)
        samples = self._lb_samples(now)
        pids = self._replica_pids(now)
        self.meter.forget_except(set(pids.values()))
        for replica, pid in pids.items():
            labels = {"deployment": self.deployment, "replica": replica}
            cpu, rss = self.meter.measure(pid)
            if cpu is not None:
                samples.append((d.RAW_CPU, labels, now, cpu))
            if rss is not None:
                samples.append((d.RAW_MEMORY, labels, now, rss))
        samples.append((d.RAW_REPLICAS, {"deployment": self.deployment}, now, float(len(pids))))
        stored = self.store.append(samples, counters=d.COUNTERS)
        if now - self._last_compact >= COMPACT_EVERY:
            self.store.compact(now)
            self._last_compact = now
        return stored

    def value_of(self, metric: str, now: float) -> float | None:
        from pepperpy.cloud.monitor.query import latest

        return latest(self.store, self.deployment, metric, now, window=3 * self.interval)

    def evaluate(self, now: float) -> list[Any]:
        """Alert rules and the budget of this deployment, on what was just stored."""
        from pepperpy.cloud.monitor.alerts import evaluate
        from pepperpy.cloud.monitor.costs import check_budget

        events: list[Any] = list(evaluate(self.deployment, lambda metric: self.value_of(metric, now), now))
        budget = check_budget(self.deployment, self.store, now)
        if budget is not None:
            events.append(budget)
        return events

    def run(self) -> None:
        while self.runtime.state.get_deployment(self.deployment) is not None:
            started = time.time()
            try:
                self.scrape(started)
                for event in self.evaluate(started):
                    print(json.dumps({"event": "alert", "detail": str(event)}), flush=True)
            except Exception as exc:  # the loop must survive one bad scrape
                print(json.dumps({"event": "scrape-failed", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            time.sleep(max(0.0, self.interval - (time.time() - started)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pepperpy-cloud-collector")
    parser.add_argument("deployment")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    Collector(args.deployment, interval=args.interval).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
