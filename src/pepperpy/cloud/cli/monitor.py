"""``metrics``, ``top``, ``costs``, ``dashboard`` and ``alerts``: watch local deployments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

SPARKS = "▁▂▃▄▅▆▇█"


def human(value: float | None, unit: str) -> str:
    """A measured value in the unit people read: %, MiB, ms, req/s."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB"
    if unit == "seconds":
        return f"{value * 1000:,.1f} ms" if value < 10 else f"{value:,.2f} s"
    if unit == "requests/s":
        return f"{value:,.2f}/s"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def sparkline(values: Any, width: int = 32) -> str:
    """The series squeezed into ``width`` block characters (mean of each slice)."""
    import numpy as np

    if not len(values):
        return ""
    slices = np.array_split(np.asarray(values, dtype=float), min(width, len(values)))
    means = np.array([s.mean() for s in slices])
    low, high = float(means.min()), float(means.max())
    span = high - low or 1.0
    return "".join(SPARKS[int((m - low) / span * (len(SPARKS) - 1))] for m in means)


def metrics(
    name: str = typer.Argument(None, help="Deployment name (see 'pepperpy-cloud ls')."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric to show; repeat for several."),
    since: str = typer.Option("1h", "--since", help="How far back: 15m, 1h, 24h, 7d, 30d."),
    plot: Path = typer.Option(None, "--plot", help="Also write a plot: out.png or out.html (both are written)."),
    prometheus: str = typer.Option(None, "--prometheus", help="Read from this Prometheus server instead."),
    as_json: bool = typer.Option(False, "--json", help="Print every point as JSON."),
    list_metrics: bool = typer.Option(False, "--list", help="List the metrics there are, with units."),
) -> None:
    """Measured metrics of a deployment: last, min, max, mean and a sparkline per metric.

    Examples:

      pepperpy-cloud metrics rag-app --since 1h

      pepperpy-cloud metrics rag-app -m cpu_usage -m response_time_p95 --since 24h --plot cpu.png

      pepperpy-cloud metrics --list
    """
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.errors import InputError
    from pepperpy.cloud.monitor.definitions import METRICS

    if list_metrics:
        listed = [{"metric": m.name, "unit": m.unit, "source": m.source, "description": m.description}
                  for m in METRICS.values()]
        if as_json:
            output.emit_json(listed)
            return
        _table("metrics", ["metric", "unit", "source", "description"], [list(r.values()) for r in listed])
        return
    if not name:
        raise InputError("NAME", "missing deployment name", hint="run 'pepperpy-cloud ls' to see them")
    from pepperpy.cloud.monitor.monitor import DEFAULT_METRICS, CloudMonitor
    from pepperpy.cloud.monitor.timerange import TimeRange

    monitor = CloudMonitor(prometheus_url=prometheus)
    result = monitor.get_metrics(name, metric or list(DEFAULT_METRICS), TimeRange.since(since))
    files = monitor.plot_metrics(result, plot) if plot else None
    if as_json:
        data = result.to_dict()
        if files is not None:
            data["plots"] = {"png": str(files.png), "html": str(files.html)}
        output.emit_json(data)
        return
    rows = []
    for s in result:
        st = s.stats()
        rows.append([s.metric, s.unit, str(len(s)), human(st["last"], s.unit), human(st["min"], s.unit),
                     human(st["max"], s.unit), human(st["mean"], s.unit), sparkline(s.values)])
    _table(f"{name}: last {since} ({result.source})",
           ["metric", "unit", "points", "last", "min", "max", "mean", "trend"], rows)
    if files is not None:
        output.console().print(f"plots: {files.png}  {files.html}")


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    from pepperpy.cloud.cli import output

    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*row)
    output.console().print(table)


def _top_rows() -> list[dict[str, Any]]:
    """The newest measured values of every local deployment."""
    from pepperpy.cloud.monitor.definitions import RAW_REPLICAS
    from pepperpy.cloud.monitor.query import latest
    from pepperpy.cloud.monitor.store import MetricStore
    from pepperpy.cloud.providers.local.runtime import LocalRuntime

    now = time.time()
    names = [d["name"] for d in LocalRuntime().list_deployments()]
    rows = []
    with MetricStore.open() as store:
        known = set(store.label_values(RAW_REPLICAS, "deployment"))
        for name in names:
            row: dict[str, Any] = {"name": name}
            for m in ("replicas", "cpu_usage", "memory_usage", "requests_per_second", "response_time_p95",
                      "errors_5xx"):
                row[m] = latest(store, name, m, now, window=120) if name in known else None
            rows.append(row)
    return rows


def _top_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=f"pepperpy-cloud top — {time.strftime('%H:%M:%S')}", title_justify="left")
    for h in ("deployment", "replicas", "cpu", "memory", "req/s", "p95", "5xx"):
        table.add_column(h, justify="left" if h == "deployment" else "right")
    for r in rows:
        table.add_row(r["name"], human(r["replicas"], "replicas"), human(r["cpu_usage"], "percent"),
                      human(r["memory_usage"], "bytes"), human(r["requests_per_second"], "requests/s"),
                      human(r["response_time_p95"], "seconds"), human(r["errors_5xx"], "requests"))
    return table


def top(
    interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Print one frame and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one frame as JSON and exit."),
) -> None:
    """A live view of every local deployment: replicas, CPU, memory, request rate, p95, 5xx.

    Examples:

      pepperpy-cloud top

      pepperpy-cloud top --once --json
    """
    from pepperpy.cloud.cli import output

    if as_json:
        output.emit_json(_top_rows())
        return
    con = output.console()
    if once or not con.is_terminal:
        con.print(_top_table(_top_rows()))
        return
    from rich.live import Live

    try:
        with Live(_top_table(_top_rows()), console=con, refresh_per_second=4) as live:
            while True:
                time.sleep(interval)
                live.update(_top_table(_top_rows()))
    except KeyboardInterrupt:
        return


def costs(
    name: str = typer.Argument(..., help="Deployment name."),
    provider: str = typer.Option("aws", "--provider", "-p", help="Cloud whose prices apply: aws, azure, gcp."),
    region: str = typer.Option(None, "--region", help="Region whose prices apply (default: the cloud's default)."),
    since: str = typer.Option("30d", "--since", help="Accrual window for 'actual': 1h, 24h, 30d."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Estimate vs actual vs forecast: what this deployment would cost on a cloud.

    'estimate' is the stack's monthly price; 'actual' is measured replica-hours (and the other
    lines pro rata for the hours measured) at the same catalog prices; 'forecast' is this
    month's accrual plus the current hourly rate until the month ends.

    Examples:

      pepperpy-cloud costs rag-app

      pepperpy-cloud costs rag-app --provider gcp --region us-central1 --json
    """
    import warnings

    from pepperpy.cloud.cli import output
    from pepperpy.cloud.cost.estimator import CostEstimator
    from pepperpy.cloud.monitor.costs import forecast
    from pepperpy.cloud.monitor.store import MetricStore
    from pepperpy.cloud.monitor.timerange import TimeRange
    from pepperpy.cloud.spec.stack import Stack

    estimator = CostEstimator(provider, region=region)
    with MetricStore.open() as store:
        report = estimator.actual_costs_report(TimeRange.since(since), deployment=name)
        ahead = forecast(estimator, name, time.time(), store)
        spec = store.deployment_specs()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate = estimator.estimate_stack(Stack.model_validate(spec["stack"]))
    if as_json:
        output.emit_json({"estimate_monthly": str(estimate.total), "actual": report.to_dict(),
                          "forecast": ahead.to_dict()})
        return
    con = output.console()
    rows = [[x.component, x.service, x.sku, output.qty(x.quantity), x.unit, output.unit_price(x.unit_price),
             output.money(x.cost, "0.0001") if x.cost is not None else "not accrued", x.note] for x in report.lines]
    _table(f"{name}: actual cost on {report.provider} {report.region}, last {since}",
           ["component", "service", "sku", "quantity", "unit", "unit price", "actual", "note"], rows)
    con.print(f"estimate (monthly, stack minimum): [bold]{output.money(estimate.total)}[/bold]"
              + (f"  ({len(estimate.unknown)} line(s) unknown)" if estimate.unknown else ""))
    con.print(f"actual (last {since}): [bold]{output.money(report.total, '0.0001')}[/bold] over "
              f"{sum(report.measured_hours.values()):.2f} measured hours")
    budget = f" vs budget {output.money(ahead.threshold)}" if ahead.threshold is not None else ""
    flag = " [red]OVER BUDGET[/red]" if ahead.over_budget else ""
    con.print(f"forecast ({ahead.month}): [bold]{output.money(ahead.forecast)}[/bold] = "
              f"{output.money(ahead.accrued, '0.0001')} so far + {output.money(ahead.hourly_now, '0.0001')}/h x "
              f"{ahead.hours_left:.1f} h left{budget}{flag}")


def dashboard(
    name: str = typer.Argument(..., help="Deployment name; the dashboard is called NAME-dashboard."),
    since: str = typer.Option("1h", "--since", help="Window the HTML dashboard shows."),
    out: Path = typer.Option(None, "--out", help="Directory for grafana.json and index.html."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write a Grafana dashboard (grafana.json) and a self-contained HTML dashboard for a deployment.

    Examples:

      pepperpy-cloud dashboard rag-app

      pepperpy-cloud dashboard rag-app --since 24h --out dash/
    """
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.monitor.monitor import CloudMonitor
    from pepperpy.cloud.monitor.timerange import TimeRange

    widgets = [{"type": "metric", "title": t, "metric": m, "resource": name} for t, m in (
        ("CPU Usage", "cpu_usage"), ("Memory Usage", "memory_usage"), ("Request Count", "requests_count"),
        ("Response Time", "response_time"), ("p95 Response Time", "response_time_p95"), ("5xx", "errors_5xx"))]
    widgets.append({"type": "log", "title": "Error Logs",
                    "query": f"resource.labels.deployment_name={name} severity>=ERROR"})
    board = CloudMonitor().create_dashboard(f"{name}-dashboard", widgets, time_range=TimeRange.since(since),
                                            out_dir=out)
    if as_json:
        output.emit_json({"name": board.name, "url": board.url, "html": str(board.html),
                          "grafana_json": str(board.grafana_json)})
        return
    output.console().print(f"dashboard: [bold]{board.url}[/bold]\ngrafana:   {board.grafana_json}")


alerts = typer.Typer(help="Alert rules evaluated by each deployment's collector.", no_args_is_help=True)


@alerts.command("ls")
def alerts_ls(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Alert rules with their state (inactive, pending, firing)."""
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.monitor.alerts import AlertStore

    store = AlertStore()
    rows: list[dict[str, Any]] = []
    for rule in store.list():
        state = store.state(rule.name)
        rows.append({"name": rule.name, "resource": rule.resource, "condition":
                     f"{rule.metric} {rule.comparison} {rule.threshold} for {rule.duration_seconds:g}s",
                     "channels": ", ".join(rule.notification_channels), "state": state.state,
                     "last_value": state.last_value})
    if as_json:
        output.emit_json(rows)
        return
    _table("alerts", ["name", "resource", "condition", "channels", "state", "last value"],
           [[r["name"], r["resource"], r["condition"], r["channels"], r["state"],
             "—" if r["last_value"] is None else f"{r['last_value']:g}"] for r in rows])


@alerts.command("rm")
def alerts_rm(name: str = typer.Argument(..., help="Alert rule name.")) -> None:
    """Delete an alert rule (and its line in the Prometheus rule file)."""
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.monitor.alerts import AlertStore

    AlertStore().delete(name)
    output.console().print(f"{name}: deleted")
