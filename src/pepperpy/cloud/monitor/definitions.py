"""The metrics a deployment has: what each means, its unit, where it is measured, its PromQL.

Raw series (what the collector stores, named as exposed) feed logical metrics (what users
ask for, seed 000's names). Every logical point is computed from stored samples of the
same scrape; nothing is interpolated across missing scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pepperpy.cloud.errors import NotFoundError

# Raw series written by the collector.
RAW_CPU = "pepperpy_replica_cpu_percent"          # gauge, labels: deployment, replica
RAW_MEMORY = "pepperpy_replica_memory_bytes"      # gauge, labels: deployment, replica
RAW_REPLICAS = "pepperpy_replicas"                # gauge, labels: deployment
RAW_REQUESTS = "pepperpy_requests_total"          # counter, labels: deployment, status_class
RAW_LATENCY_SUM = "pepperpy_response_time_seconds_sum"      # counter, labels: deployment
RAW_LATENCY_COUNT = "pepperpy_response_time_seconds_count"  # counter, labels: deployment
RAW_LATENCY_BUCKET = "pepperpy_response_time_seconds_bucket"  # counter, labels: deployment, le
RAW_IN_FLIGHT = "pepperpy_in_flight"              # gauge, labels: deployment
RAW_BACKEND_UP = "pepperpy_backend_up"            # gauge, labels: deployment, backend

COUNTERS = frozenset({RAW_REQUESTS, RAW_LATENCY_SUM, RAW_LATENCY_COUNT, RAW_LATENCY_BUCKET})


@dataclass(frozen=True)
class MetricDef:
    """A logical metric: name, unit (Grafana unit id in ``grafana_unit``), meaning, and PromQL.

    ``promql`` takes ``{deployment}`` and ``{window}``; it is what a dashboard panel, a rule file or a
    Prometheus server runs. Counts use ``increase`` over ``window``: Grafana's ``$__rate_interval``
    in dashboards, the query step (at least four scrapes) when read through the HTTP API.
    """

    name: str
    unit: str
    grafana_unit: str
    description: str
    promql: str
    source: str


METRICS: dict[str, MetricDef] = {m.name: m for m in [
    MetricDef("cpu_usage", "percent", "percent",
              "CPU of each replica process and its children, averaged over the replicas (% of one core)",
              'avg(pepperpy_replica_cpu_percent{{deployment="{deployment}"}})', "psutil, per replica"),
    MetricDef("memory_usage", "bytes", "bytes",
              "resident memory of the replicas, summed",
              'sum(pepperpy_replica_memory_bytes{{deployment="{deployment}"}})', "psutil, per replica"),
    MetricDef("requests_count", "requests", "short",
              "requests answered by the load balancer in each scrape interval",
              'sum(increase(pepperpy_requests_total{{deployment="{deployment}"}}[{window}]))', "load balancer"),
    MetricDef("requests_per_second", "requests/s", "reqps",
              "request rate over each scrape interval",
              'sum(rate(pepperpy_requests_total{{deployment="{deployment}"}}[{window}]))', "load balancer"),
    MetricDef("response_time", "seconds", "s",
              "mean response time of the requests in each scrape interval",
              'sum(rate(pepperpy_response_time_seconds_sum{{deployment="{deployment}"}}[{window}])) / '
              'sum(rate(pepperpy_response_time_seconds_count{{deployment="{deployment}"}}[{window}]))',
              "load balancer histogram"),
    MetricDef("response_time_p95", "seconds", "s",
              "95th percentile response time in each scrape interval (histogram estimate, as Prometheus)",
              'histogram_quantile(0.95, sum by (le) (rate('
              'pepperpy_response_time_seconds_bucket{{deployment="{deployment}"}}[{window}])))',
              "load balancer histogram"),
    MetricDef("errors_4xx", "requests", "short", "4xx answers in each scrape interval",
              'sum(increase(pepperpy_requests_total{{deployment="{deployment}",status_class="4xx"}}[{window}]))',
              "load balancer"),
    MetricDef("errors_5xx", "requests", "short", "5xx answers in each scrape interval",
              'sum(increase(pepperpy_requests_total{{deployment="{deployment}",status_class="5xx"}}[{window}]))',
              "load balancer"),
    MetricDef("error_rate", "percent", "percent", "share of 5xx answers in each scrape interval",
              '100 * sum(rate(pepperpy_requests_total{{deployment="{deployment}",status_class="5xx"}}[{window}])) / '
              'sum(rate(pepperpy_requests_total{{deployment="{deployment}"}}[{window}]))', "load balancer"),
    MetricDef("in_flight", "requests", "short", "requests being proxied at scrape time",
              'sum(pepperpy_in_flight{{deployment="{deployment}"}})', "load balancer"),
    MetricDef("replicas", "replicas", "short", "replicas running at scrape time",
              'max(pepperpy_replicas{{deployment="{deployment}"}})', "supervisord"),
]}


def metric(name: str, field: str = "metrics") -> MetricDef:
    """The definition of ``name``; an unknown name is a NotFoundError listing the known ones."""
    found = METRICS.get(name)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name, list(METRICS), n=3, cutoff=0.4)
        raise NotFoundError(field, name, "metric", suggestions=close or sorted(METRICS),
                            hint="see 'pepperpy-cloud metrics --list'")
    return found


def label_value(text: str) -> str:
    """``text`` escaped for a double-quoted PromQL label value, so a name cannot change the query."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def promql(name: str, deployment: str, window: str = "$__rate_interval") -> str:
    """The PromQL of ``name`` for ``deployment``; ``window`` is the range of rate/increase."""
    return metric(name).promql.format(deployment=label_value(deployment), window=window)
