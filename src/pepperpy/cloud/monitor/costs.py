"""Actual cost of local deployments: measured usage priced at the equivalent cloud SKU.

A local deployment costs nothing, but the question our users ask is "what would this have
cost on the cloud I target?". So:

- compute = measured replica-hours (the ``replicas`` gauge integrated over the scrapes,
  gaps longer than three scrape intervals not counted) x the hourly catalog price of the
  instance type that fits the service on that cloud;
- every other priced line of the stack (database, cache, disks, load balancer...) accrues
  its monthly catalog price pro rata for the hours the deployment was measured running;
- lines priced by usage the monitor does not measure (egress GB, queue operations...) and
  lines with no catalog price are listed as not accrued, never counted as $0.

Forecast for the month = accrued this month + the current hourly rate x the hours left.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from pepperpy.cloud.catalog.row import HOURS_PER_MONTH
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.monitor import definitions as d
from pepperpy.cloud.monitor.store import MetricStore

GROUP_BY = ("service", "deployment", "component", "sku")
USAGE_UNITS = ("GB", "request", "requests", "operation", "LCU-hour", "million requests", "GB-second")
CENT = Decimal("0.01")
PRECISION = Decimal("1e-10")  # accrual keeps sub-cent amounts; displays round


@dataclass
class CostLine:
    """One accrued (or honestly not accrued) cost of a deployment over a range."""

    deployment: str
    component: str
    service: str
    sku: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    cost: Decimal | None
    hourly_now: Decimal | None
    note: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "component": self.component, "service": self.service,
                "sku": self.sku, "quantity": str(self.quantity), "unit": self.unit,
                "unit_price": None if self.unit_price is None else str(self.unit_price),
                "cost": None if self.cost is None else str(self.cost),
                "hourly_now": None if self.hourly_now is None else str(self.hourly_now),
                "note": self.note, "source": self.source}


@dataclass
class CostReport:
    provider: str
    region: str
    start: float
    end: float
    lines: list[CostLine]
    measured_hours: dict[str, float]

    @property
    def total(self) -> Decimal:
        return sum((x.cost for x in self.lines if x.cost is not None), Decimal(0))

    def grouped(self, by: str) -> dict[str, Decimal]:
        if by not in GROUP_BY:
            raise InputError("group_by", f"{by!r} is not a grouping", hint="use one of " + ", ".join(GROUP_BY))
        out: dict[str, Decimal] = {}
        for line in self.lines:
            if line.cost is None:
                continue
            key = {"service": line.service, "deployment": line.deployment,
                   "component": f"{line.deployment}/{line.component}", "sku": line.sku}[by]
            out[key] = out.get(key, Decimal(0)) + line.cost
        return dict(sorted(out.items(), key=lambda kv: kv[1], reverse=True))

    def hourly_now(self) -> Decimal:
        return sum((x.hourly_now for x in self.lines if x.hourly_now is not None), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "region": self.region, "start": self.start, "end": self.end,
                "total": str(self.total), "measured_hours": self.measured_hours,
                "lines": [x.to_dict() for x in self.lines]}


def replica_hours(ts: np.ndarray, replicas: np.ndarray) -> tuple[float, float]:
    """(replica-hours, measured hours) from the ``replicas`` gauge, step-wise between scrapes."""
    if ts.size < 2:
        return 0.0, 0.0
    dt = np.diff(ts)
    limit = 3 * float(np.median(dt))
    keep = dt <= limit
    return float(np.sum(replicas[:-1][keep] * dt[keep]) / 3600), float(np.sum(dt[keep]) / 3600)


def _decimal_hours(hours: float) -> Decimal:
    return Decimal(str(round(hours, 6)))


def deployment_lines(name: str, spec: dict[str, Any], estimator: Any, store: MetricStore,
                     start: float, end: float) -> tuple[list[CostLine], float]:
    """Accrued lines of one deployment between ``start`` and ``end``, and its measured hours."""
    from pepperpy.cloud.cost.stack import stack_resources
    from pepperpy.cloud.spec.stack import Stack

    stack = Stack.model_validate(spec["stack"])
    service = str(spec["service"])
    parts = store.read(d.RAW_REPLICAS, {"deployment": name}, start, end)
    ts = parts[0].timestamps if parts else np.empty(0)
    counts = parts[0].values if parts else np.empty(0)
    rep_hours, measured = replica_hours(ts, counts)
    current = float(counts[-1]) if counts.size else 0.0
    resources = [r for r in stack_resources(stack, estimator.provider_name)
                 if r.get("name") not in set(stack.services) - {service}]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate = estimator.estimate_monthly_cost(resources)
    lines = []
    for item in estimate.items:
        lines.append(_accrue(name, item, service, rep_hours, measured, current))
    return lines, measured


def _accrue(name: str, item: Any, service: str, rep_hours: float, measured: float, current: float) -> CostLine:
    source = item.rows[0].to_dict() if item.rows else {}
    base = {"deployment": name, "component": item.component, "service": item.managed_service, "sku": item.sku,
            "unit_price": item.unit_price, "source": source}
    if item.monthly is None:
        return CostLine(**base, quantity=Decimal(0), unit=item.unit, cost=None, hourly_now=None,
                        note=f"not accrued: {item.note or 'no catalog price'}")
    if item.component == service and item.unit == "hour":
        qty = _decimal_hours(rep_hours)
        cost = (qty * item.unit_price).quantize(PRECISION)
        return CostLine(**base, quantity=qty, unit="replica-hour", cost=cost,
                        hourly_now=item.unit_price * Decimal(str(current)),
                        note=f"{rep_hours:.3f} measured replica-hours")
    if item.unit in USAGE_UNITS:
        return CostLine(**base, quantity=Decimal(0), unit=item.unit, cost=None, hourly_now=None,
                        note="not accrued: priced by usage the local monitor does not measure")
    hourly = item.monthly / HOURS_PER_MONTH
    qty = _decimal_hours(measured)
    return CostLine(**base, quantity=qty, unit="hour", cost=(hourly * qty).quantize(PRECISION),
                    hourly_now=hourly if current > 0 or measured > 0 else None,
                    note=f"{item.monthly} a month pro rata for {measured:.3f} measured hours")


def actual_costs(estimator: Any, start: float, end: float, *, deployment: str | None = None,
                 store: MetricStore | None = None) -> CostReport:
    """Cost accrued by every (or one) local deployment the monitor has measured."""
    own = store is None
    store = store or MetricStore.open()
    try:
        specs = store.deployment_specs()
        if deployment is not None:
            if deployment not in specs:
                from pepperpy.cloud.errors import NotFoundError

                raise NotFoundError("NAME", deployment, "monitored deployment", suggestions=sorted(specs),
                                    hint="deploy it with 'pepperpy-cloud up'; costs accrue while it runs")
            specs = {deployment: specs[deployment]}
        lines: list[CostLine] = []
        hours: dict[str, float] = {}
        for name, spec in sorted(specs.items()):
            found, hours[name] = deployment_lines(name, spec, estimator, store, start, end)
            lines.extend(found)
        return CostReport(estimator.provider_name, estimator.region, start, end, lines, hours)
    finally:
        if own:
            store.close()


def month_bounds(now: float) -> tuple[float, float]:
    moment = datetime.fromtimestamp(now, UTC)
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return first.timestamp(), first.timestamp() + days * 86400


@dataclass
class Forecast:
    deployment: str
    accrued: Decimal
    hourly_now: Decimal
    hours_left: Decimal
    forecast: Decimal
    threshold: Decimal | None
    month: str

    @property
    def over_budget(self) -> bool:
        return self.threshold is not None and self.forecast > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "month": self.month, "accrued": str(self.accrued),
                "hourly_now": str(self.hourly_now), "hours_left": str(self.hours_left),
                "forecast": str(self.forecast), "threshold": None if self.threshold is None else str(self.threshold),
                "over_budget": self.over_budget}


def forecast(estimator: Any, deployment: str, now: float, store: MetricStore) -> Forecast:
    """Month-end cost of ``deployment``: accrued so far + the current hourly rate for the rest."""
    first, last = month_bounds(now)
    report = actual_costs(estimator, first, now, deployment=deployment, store=store)
    hours_left = Decimal(str(round((last - now) / 3600, 6)))
    rate = report.hourly_now()
    spec = store.deployment_specs()[deployment]
    threshold = _cost_options(spec).get("budget_alert_threshold")
    return Forecast(deployment, report.total, rate, hours_left, (report.total + rate * hours_left).quantize(CENT),
                    None if threshold is None else Decimal(str(threshold)),
                    datetime.fromtimestamp(now, UTC).strftime("%Y-%m"))


def _cost_options(spec: dict[str, Any]) -> dict[str, Any]:
    stack: dict[str, Any] = spec["stack"]
    return dict(stack.get("cloud", {}).get("cost_optimization", {}))


def pricing_estimator(spec: dict[str, Any]) -> Any:
    """The estimator a deployment's budget is judged with: the cloud its stack targets, else AWS."""
    from pepperpy.cloud.cost.estimator import CostEstimator

    target = dict(spec["stack"]).get("provider")
    return CostEstimator(target if target in ("aws", "azure", "gcp") else "aws")


def check_budget(deployment: str, store: MetricStore, now: float) -> Forecast | None:
    """Email the budget owner once a month when the forecast crosses the threshold."""
    spec = store.deployment_specs().get(deployment)
    if spec is None:
        return None
    cost_opt = _cost_options(spec)
    if cost_opt.get("budget_alert_threshold") is None:
        return None
    result = forecast(pricing_estimator(spec), deployment, now, store)
    if not result.over_budget or store.budget_alerted(deployment, result.month):
        return None
    from pepperpy.cloud.monitor.notify import send_budget_alert

    send_budget_alert(cost_opt.get("budget_alert_email"), result)
    store.record_budget_alert(deployment, result.month, now, str(result.forecast))
    return result
