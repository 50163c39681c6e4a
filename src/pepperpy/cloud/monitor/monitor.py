"""``CloudMonitor``: seed 000's monitoring API over the embedded store (or a Prometheus server)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.monitor.definitions import METRICS, metric
from pepperpy.cloud.monitor.series import MetricsResult
from pepperpy.cloud.monitor.timerange import TimeRange, as_time_range

DEFAULT_METRICS = ("cpu_usage", "memory_usage", "requests_count", "response_time")


class CloudMonitor:
    """Metrics, plots, dashboards and alerts for deployments made by PepperPy Cloud.

    Local deployments are scraped by their collector into the embedded store; with
    ``prometheus_url=`` (or ``PEPPERPY_PROMETHEUS_URL``) metrics are read from that
    Prometheus server's HTTP API instead, with the same names and units.
    """

    def __init__(self, provider: object = None, *, prometheus_url: str | None = None) -> None:
        self.provider = provider
        from pepperpy.cloud.monitor.prometheus import PrometheusReader

        self.prometheus = PrometheusReader(prometheus_url) if prometheus_url else PrometheusReader.from_env()

    # -- metrics ------------------------------------------------------------------------

    def get_metrics(self, resource_name: str, metrics: Sequence[str] = DEFAULT_METRICS,
                    time_range: TimeRange | str | None = TimeRange.LAST_HOUR) -> MetricsResult:
        """The measured series of ``metrics`` for ``resource_name`` (a deployment) over ``time_range``."""
        if isinstance(metrics, str):
            metrics = [metrics]
        if not metrics:
            raise InputError("metrics", "no metric asked for", hint="choose from " + ", ".join(METRICS))
        for i, name in enumerate(metrics):
            metric(name, field=f"metrics[{i}]")
        start, end = as_time_range(time_range).bounds()
        if self.prometheus is not None:
            return self.prometheus.get_metrics(resource_name, list(metrics), start, end)
        cloud = self._cloud()
        if cloud is not None:
            return cloud.get_metrics(resource_name, list(metrics), start, end)
        from pepperpy.cloud.monitor.query import compute
        from pepperpy.cloud.monitor.store import MetricStore

        with MetricStore.open() as store:
            self._require_known(store, resource_name)
            series = [compute(store, resource_name, name, start, end) for name in metrics]
        return MetricsResult(resource_name, start, end, series)

    def _cloud(self) -> Any:
        """The provider's own monitoring backend (``provider.monitoring()``: CloudWatch for AWS); None for
        local deployments, which the embedded store watches.

        A backend answers ``get_metrics(resource, metrics, start, end)``, ``create_alert(name, description,
        metric, resource, threshold, duration_seconds, channels, **options)``, ``create_dashboard(name,
        widgets, time_range)``, ``list_alerts(resource)`` and ``delete_alert(name)``.
        """
        factory = getattr(self.provider, "monitoring", None)
        return factory() if callable(factory) else None

    @staticmethod
    def _require_known(store: Any, resource: str) -> None:
        from pepperpy.cloud.errors import NotFoundError
        from pepperpy.cloud.monitor.definitions import RAW_REPLICAS

        known = sorted(set(store.label_values(RAW_REPLICAS, "deployment")) | set(store.deployment_specs()))
        if resource not in known:
            import difflib

            raise NotFoundError("resource_name", resource, "monitored deployment",
                                suggestions=difflib.get_close_matches(resource, known, n=3) or known[:5],
                                hint="metrics exist once 'pepperpy-cloud up' has run it")

    def plot_metrics(self, metrics: MetricsResult, out: str | Path | None = None) -> Any:
        """Write a PNG (matplotlib) and an interactive HTML (plotly); returns their paths."""
        from pepperpy.cloud.monitor.plots import plot_metrics

        return plot_metrics(metrics, out)

    # -- dashboards and alerts ---------------------------------------------------------

    def create_dashboard(self, name: str, widgets: Sequence[dict[str, Any]], *,
                         time_range: TimeRange | str | None = TimeRange.LAST_HOUR,
                         out_dir: str | Path | None = None) -> Any:
        """A Grafana dashboard JSON and a self-contained HTML dashboard; ``.url`` opens the HTML.

        On AWS, a CloudWatch dashboard instead; ``.url`` opens it in the console.
        """
        from pepperpy.cloud.monitor import dashboards

        window = as_time_range(time_range)
        cloud = self._cloud()
        if cloud is not None:
            if out_dir is not None:
                raise InputError("out_dir", "a CloudWatch dashboard is not written to a folder",
                                 hint="leave out_dir out with an AWS provider")
            return cloud.create_dashboard(name, list(widgets), window)

        def series_for(resource: str, metric_name: str) -> Any:
            try:
                return self.get_metrics(resource, [metric_name], window)[metric_name]
            except InputError:
                return None

        def logs_for(query: Any) -> list[dict[str, Any]]:
            return _read_logs(query)

        return dashboards.create_dashboard(name, list(widgets), series_for=series_for, logs_for=logs_for,
                                           out_dir=Path(out_dir) if out_dir else None)

    def create_alert(self, name: str, description: str, metric: str, resource: str, threshold: float,
                     duration_seconds: float, notification_channels: Sequence[str] = (), **options: Any) -> Any:
        """A rule the deployment's collector evaluates after every scrape, plus its Prometheus rule file.

        On AWS, a CloudWatch alarm (``sns:`` channels are alarm actions there).
        """
        from pepperpy.cloud.monitor.alerts import AlertRule, AlertStore

        cloud = self._cloud()
        if cloud is not None:
            return cloud.create_alert(name, description, metric, resource, threshold, duration_seconds,
                                      notification_channels, **options)

        rule = AlertRule(name=name, description=description, metric=metric, resource=resource, threshold=threshold,
                         duration_seconds=duration_seconds, notification_channels=list(notification_channels),
                         **options)
        for note in AlertStore().save(rule):
            warnings.warn(note, stacklevel=2)
        return rule

    def list_alerts(self, resource: str | None = None) -> list[Any]:
        from pepperpy.cloud.monitor.alerts import AlertStore

        cloud = self._cloud()
        if cloud is not None:
            return list(cloud.list_alerts(resource))
        return list(AlertStore().list(resource))

    def delete_alert(self, name: str) -> None:
        from pepperpy.cloud.monitor.alerts import AlertStore

        cloud = self._cloud()
        if cloud is not None:
            cloud.delete_alert(name)
            return
        AlertStore().delete(name)


def _read_logs(query: Any) -> list[dict[str, Any]]:
    """JSON log lines of the deployment(s) the query names, from the local replicas' log files."""
    from pepperpy.cloud.catalog.store import home_dir
    from pepperpy.cloud.monitor.dashboards import read_json_logs

    deployment = getattr(query, "deployment", None)
    root = home_dir() / "logs"
    if not root.is_dir():
        return []
    pattern = f"{deployment}-r*.log" if deployment else "*-r*.log"
    paths = sorted(root.glob(pattern))
    return read_json_logs(paths, query, deployment or "")
