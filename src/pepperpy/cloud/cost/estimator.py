"""CostEstimator: monthly cost of a list of resources (seed 000) or a whole stack.

Every figure is a catalog row's price times a quantity; a resource no row can
price becomes an *unknown* line (never $0) with the reason and the closest
known SKUs. A month is 730 hours.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pepperpy.cloud.catalog.query import InstanceQuery
from pepperpy.cloud.catalog.regions import DEFAULT_REGION
from pepperpy.cloud.catalog.row import HOURS_PER_MONTH, PROVIDERS, PriceRow
from pepperpy.cloud.catalog.store import Catalog, closest, default_catalog
from pepperpy.cloud.cost.mapping import DEFAULT_SKUS, MANAGED_SERVICES, normalize_instance
from pepperpy.cloud.cost.model import Alternative, Estimate, LineItem
from pepperpy.cloud.cost.specs import (
    AZURE_DISK_TIERS,
    CACHE_MEMORY_GIB,
    DATABASE_SIZES,
    azure_disk_tier,
    memorystore_tier,
)
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.spec.quantities import parse_amount, parse_count, parse_cpu, parse_size_gb

ALTERNATIVE_MODELS = ("spot", "reserved_1y", "reserved_3y")
def tiered_monthly(rows: list[PriceRow], quantity: Decimal) -> tuple[Decimal, Decimal]:
    """Cost of ``quantity`` under tiered rows, and the effective unit price of the first tier used."""
    tiers = sorted(rows, key=lambda r: r.tier_start)
    total = Decimal(0)
    for i, row in enumerate(tiers):
        upper = tiers[i + 1].tier_start if i + 1 < len(tiers) else None
        if quantity <= row.tier_start:
            break
        span = (min(quantity, upper) if upper is not None else quantity) - row.tier_start
        total += span * row.price
    first_paid = next((r.price for r in tiers if r.price > 0), tiers[0].price)
    return total, first_paid


@dataclass
class _Context:
    catalog: Catalog
    provider: str
    region: str
    strict: bool = False
    warnings: list[str] = field(default_factory=list)

    def unknown_sku(self, exc: NotFoundError, component: str, service: str, quantity: Decimal,
                    unit: str) -> LineItem:
        """An unknown SKU: raise when strict, else warn and keep the line unpriced."""
        if self.strict:
            raise exc
        self.warnings.append(str(exc))
        warnings.warn(f"{exc}; this line is left unpriced (unknown), not $0", stacklevel=4)
        return LineItem(component, service, self.managed(service), exc.value, self.region,
                        quantity, unit, None, None, note=str(exc))

    def managed(self, service: str) -> str:
        return MANAGED_SERVICES.get(service, {}).get(self.provider, service)

    def line(self, component: str, service: str, sku: str, quantity: Decimal, unit: str,
             *, note: str = "") -> LineItem:
        """Price ``quantity`` of ``unit`` for ``sku``; unknown when no row exists here."""
        rows = self.catalog.find(self.provider, service, sku, region=self.region, unit=unit)
        if not rows:
            elsewhere = sorted({r.region for r in self.catalog.find(self.provider, service, sku,
                                                                    unit=unit)})
            why = (f"no catalog price for {sku} in {self.region}"
                   + (f" (priced in {', '.join(elsewhere[:4])})" if elsewhere else ""))
            return LineItem(component, service, self.managed(service), sku, self.region, quantity,
                            unit, None, None, note=f"{why}; {note}".strip("; "))
        if len({r.tier_start for r in rows}) > 1:
            monthly, unit_price = tiered_monthly(rows, quantity)
            used = [r for r in rows if r.tier_start < quantity] or rows[:1]
        else:
            monthly, unit_price, used = rows[0].price * quantity, rows[0].price, rows[:1]
        return LineItem(component, service, self.managed(service), sku, self.region, quantity,
                        unit, unit_price, monthly, rows=used, note=note)

    def alternatives(self, item: LineItem, count: Decimal) -> None:
        for model in ALTERNATIVE_MODELS:
            rows = self.catalog.find(self.provider, item.service, item.sku, region=self.region,
                                     pricing_model=model, unit="hour")
            if rows:
                item.alternatives[model] = Alternative(model, rows[0].price * count * HOURS_PER_MONTH,
                                                       rows[0])


def _get(res: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in res and res[name] is not None:
            return res[name]
    return default


def _fit_instance(ctx: _Context, res: Mapping[str, Any], where: str, service: str = "compute"
                  ) -> str:
    vcpus = _get(res, "vcpus", "cpu")
    memory = _get(res, "memory_gb", "memory")
    gpu = _get(res, "gpu")
    if vcpus is None and memory is None and gpu is None:
        default = DEFAULT_SKUS.get((ctx.provider, service))
        if default:
            return default
        raise InputError(f"{where}.instance_type", "missing; name an instance type or give "
                         "vcpus/memory_gb so the cheapest fit is chosen")
    query = InstanceQuery(
        vcpus=float(parse_cpu(vcpus, f"{where}.vcpus")) if vcpus is not None else None,
        memory_gib=float(parse_size_gb(memory, f"{where}.memory_gb")) if memory is not None else None,
        gpu=str(gpu) if gpu else None,
        gpu_count=parse_count(_get(res, "gpu_count", default=1), f"{where}.gpu_count", minimum=1)
        if gpu else None,
        providers=[ctx.provider], regions=[ctx.region],
    )
    row = ctx.catalog.instances.cheapest(query)
    if row is None:
        raise NotFoundError(f"{where}", f"{vcpus} vCPU / {memory} memory / gpu {gpu}",
                            f"instance fit in {ctx.provider} {ctx.region}",
                            hint="loosen the requirement or pick another region")
    return row.sku


def price_compute(ctx: _Context, res: Mapping[str, Any], where: str, name: str) -> list[LineItem]:
    count = Decimal(parse_count(_get(res, "count", default=1), f"{where}.count"))
    hours = parse_amount(_get(res, "hours", default=HOURS_PER_MONTH), f"{where}.hours")
    named = _get(res, "instance_type")
    sku = str(named) if named else _fit_instance(ctx, res, where)
    return [_instance_line(ctx, "compute", res, where, name, count, sku=sku, hours=hours,
                           note="" if named else "cheapest fit")]


def _size(res: Mapping[str, Any], where: str, *names: str) -> Decimal:
    value = _get(res, *names)
    if value is None:
        raise InputError(f"{where}.{names[0]}", "missing; give a size like 100, '100Gi' or '50GB'")
    return parse_size_gb(value, f"{where}.{names[0]}")


def price_object_storage(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                         ) -> list[LineItem]:
    size = _size(res, where, "size_gb", "size")
    sku = str(_get(res, "storage_class", "sku", default=DEFAULT_SKUS.get((ctx.provider, "object_storage"), "")))
    return [ctx.line(name, "object_storage", sku, size, "GB-month")]


def price_block_storage(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                        ) -> list[LineItem]:
    size = _size(res, where, "size_gb", "size")
    count = Decimal(parse_count(_get(res, "count", default=1), f"{where}.count"))
    sku = str(_get(res, "volume_type", "sku", default=DEFAULT_SKUS.get((ctx.provider, "block_storage"), "")))
    if ctx.provider == "azure" and sku in AZURE_DISK_TIERS:
        tier = azure_disk_tier(float(size), sku)
        return [ctx.line(name, "block_storage", tier, count, "month",
                         note=f"{size} GB fits a {tier} disk")]
    return [ctx.line(name, "block_storage", sku, size * count, "GB-month")]


def _instance_line(ctx: _Context, service: str, res: Mapping[str, Any], where: str, name: str,
                   count: Decimal, *, sku: str | None = None, hours: Decimal = HOURS_PER_MONTH,
                   note: str = "") -> LineItem:
    """``count`` instances of an hourly class for ``hours`` each, with their alternatives."""
    sku = sku or str(_get(res, "instance_type", "node_type", "tier", default="")) or \
        DEFAULT_SKUS.get((ctx.provider, service), "")
    if service == "compute":
        sku = normalize_instance(ctx.provider, sku)
    if not ctx.catalog.find(ctx.provider, service, sku, pricing_model=None):
        exc = NotFoundError(f"{where}.instance_type", sku, f"{ctx.managed(service)} class",
                            suggestions=closest(sku, _hourly_skus(ctx, service)))
        return ctx.unknown_sku(exc, name, service, count * hours, "hour")
    item = ctx.line(name, service, sku, count * hours, "hour", note=note)
    ctx.alternatives(item, count * hours / HOURS_PER_MONTH)
    return item


def _cheapest_fitting(ctx: _Context, service: str, fits: Callable[[str], bool]) -> PriceRow | None:
    rows = [r for r in ctx.catalog.rows
            if r.provider == ctx.provider and r.service == service and r.region == ctx.region
            and r.unit == "hour" and r.pricing_model == "on_demand" and fits(r.sku)]
    return min(rows, key=lambda r: r.price, default=None)


def _hourly_skus(ctx: _Context, service: str) -> list[str]:
    return sorted({r.sku for r in ctx.catalog.rows
                   if r.provider == ctx.provider and r.service == service and r.unit == "hour"})


def price_database(ctx: _Context, res: Mapping[str, Any], where: str, name: str) -> list[LineItem]:
    count = Decimal(parse_count(_get(res, "count", "instances", default=1), f"{where}.count"))
    size = _get(res, "size")
    if _get(res, "instance_type") is None and size is not None:
        from pepperpy.cloud.cost.stack import DB_SIZES

        if size not in DB_SIZES:
            raise InputError(f"{where}.size", f"{size!r} is not one of {', '.join(DB_SIZES)}")
        cpu, mem = DB_SIZES[size]
        row = _cheapest_fitting(ctx, "database", lambda sku: (
            lambda spec: spec is not None and spec[0] >= cpu and spec[1] >= mem)(
                DATABASE_SIZES.get((ctx.provider, sku))))
        if row is None:
            items = [LineItem(name, "database", ctx.managed("database"), f"{size} ({cpu} vCPU, {mem} GiB)",
                              ctx.region, count * HOURS_PER_MONTH, "hour", None, None,
                              note="no database class of that size has a catalog price here")]
        else:
            items = [_instance_line(ctx, "database", res, where, name, count, sku=row.sku,
                                    note=f"cheapest class with >= {cpu} vCPU, {mem} GiB")]
    else:
        items = [_instance_line(ctx, "database", res, where, name, count)]
    storage = _get(res, "size_gb", "storage", "storage_gb")
    if storage is not None:
        gb = parse_size_gb(storage, f"{where}.size_gb")
        sku = DEFAULT_SKUS.get((ctx.provider, "database_storage"), "")
        items.append(ctx.line(f"{name} storage", "database", sku, gb * count, "GB-month"))
    return items


def price_cache(ctx: _Context, res: Mapping[str, Any], where: str, name: str) -> list[LineItem]:
    count = Decimal(parse_count(_get(res, "count", "nodes", default=1), f"{where}.count"))
    memory_in = _get(res, "memory_gb", "memory")
    if _get(res, "instance_type", "node_type", "tier") is not None or memory_in is None:
        return [_instance_line(ctx, "cache", res, where, name, count)]
    memory = parse_size_gb(memory_in, f"{where}.memory_gb")
    if ctx.provider == "gcp":
        tier = f"basic-{memorystore_tier(float(memory))}"
        return [ctx.line(name, "cache", tier, memory * count * HOURS_PER_MONTH, "GB-hour",
                         note=f"{memory} GB Basic tier")]
    row = _cheapest_fitting(ctx, "cache", lambda sku: CACHE_MEMORY_GIB.get((ctx.provider, sku), 0)
                            >= float(memory))
    if row is None:
        return [LineItem(name, "cache", ctx.managed("cache"), f">= {memory} GB", ctx.region,
                         count * HOURS_PER_MONTH, "hour", None, None,
                         note="no cache node with that much memory has a catalog price here")]
    return [_instance_line(ctx, "cache", res, where, name, count, sku=row.sku,
                           note=f"cheapest node with >= {memory} GB")]


def price_queue(ctx: _Context, res: Mapping[str, Any], where: str, name: str) -> list[LineItem]:
    items = []
    count = Decimal(parse_count(_get(res, "count", default=1), f"{where}.count"))
    if _get(res, "instance_type", "tier") or DEFAULT_SKUS.get((ctx.provider, "queue")):
        items.append(_instance_line(ctx, "queue", res, where, name, count))
    operations = _get(res, "operations", "messages")
    if operations is not None and (ctx.provider, "queue_operations") in DEFAULT_SKUS:
        sku = DEFAULT_SKUS.get((ctx.provider, "queue_operations"), "")
        items.append(ctx.line(f"{name} operations", "queue", sku,
                              parse_amount(operations, f"{where}.operations"), "operation"))
    data = _get(res, "data_gb", "throughput_gb")
    if data is not None and (ctx.provider, "queue_throughput") in DEFAULT_SKUS:
        sku = DEFAULT_SKUS.get((ctx.provider, "queue_throughput"), "")
        items.append(ctx.line(f"{name} throughput", "queue", sku,
                              parse_size_gb(data, f"{where}.data_gb"), "GiB"))
    if not items:
        raise InputError(where, f"a {ctx.provider} queue needs instance_type, tier, operations or data_gb")
    return items


def price_load_balancer(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                        ) -> list[LineItem]:
    count = Decimal(parse_count(_get(res, "count", default=1), f"{where}.count"))
    items = [ctx.line(name, "load_balancer", DEFAULT_SKUS.get((ctx.provider, "load_balancer"), ""),
                      count * HOURS_PER_MONTH, "hour")]
    lcu = _get(res, "lcu", "lcus")
    if lcu is not None and (ctx.provider, "load_balancer_lcu") in DEFAULT_SKUS:
        items.append(ctx.line(f"{name} LCUs", "load_balancer",
                              DEFAULT_SKUS[(ctx.provider, "load_balancer_lcu")],
                              parse_amount(lcu, f"{where}.lcu") * HOURS_PER_MONTH, "LCU-hour"))
    data = _get(res, "data_gb", "processed_gb")
    if data is not None and (ctx.provider, "load_balancer_data") in DEFAULT_SKUS:
        items.append(ctx.line(f"{name} data processed", "load_balancer",
                              DEFAULT_SKUS[(ctx.provider, "load_balancer_data")],
                              parse_size_gb(data, f"{where}.data_gb"), "GB"))
    return items


def price_kubernetes(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                     ) -> list[LineItem]:
    count = Decimal(parse_count(_get(res, "count", "clusters", default=1), f"{where}.count"))
    sku = str(_get(res, "tier", "sku", default=DEFAULT_SKUS.get((ctx.provider, "kubernetes"), "")))
    return [ctx.line(name, "kubernetes", sku, count * HOURS_PER_MONTH, "hour")]


def price_egress(ctx: _Context, res: Mapping[str, Any], where: str, name: str) -> list[LineItem]:
    size = _size(res, where, "gb", "size_gb", "egress_gb")
    return [ctx.line(name, "egress", DEFAULT_SKUS.get((ctx.provider, "egress"), ""), size, "GB")]


def price_serverless(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                     ) -> list[LineItem]:
    requests = parse_amount(_get(res, "requests", default=0), f"{where}.requests")
    gb_seconds = _get(res, "gb_seconds")
    if gb_seconds is None:
        memory = parse_size_gb(_get(res, "memory", "memory_gb", default="512Mi"), f"{where}.memory")
        duration_ms = parse_amount(_get(res, "duration_ms", default=100), f"{where}.duration_ms")
        gb_seconds = requests * memory * duration_ms / 1000
    else:
        gb_seconds = parse_amount(gb_seconds, f"{where}.gb_seconds")
    req_sku = DEFAULT_SKUS.get((ctx.provider, "serverless_requests"), "")
    dur_sku, dur_unit = DEFAULT_SKUS.get((ctx.provider, "serverless_duration"), ""), "GB-second"
    if ctx.provider == "gcp":
        dur_unit = "GiB-second"
    return [ctx.line(f"{name} requests", "serverless", req_sku, requests, "request"),
            ctx.line(f"{name} duration", "serverless", dur_sku, Decimal(gb_seconds), dur_unit)]


def price_monitoring(ctx: _Context, res: Mapping[str, Any], where: str, name: str
                     ) -> list[LineItem]:
    items = []
    for key, unit in (("metrics", "metric-month"), ("alarms", "alarm-month"),
                      ("dashboards", "dashboard-month")):
        amount = _get(res, key)
        if amount is not None and amount != 0:
            sku = DEFAULT_SKUS.get((ctx.provider, f"monitoring_{key}"), f"{key} (no catalog SKU)")
            items.append(ctx.line(f"{name} {key}", "monitoring", sku,
                                  parse_amount(amount, f"{where}.{key}"), unit))
    if not items:
        raise InputError(where, "monitoring needs metrics, alarms or dashboards counts")
    return items


PRICERS: dict[str, Callable[[_Context, Mapping[str, Any], str, str], list[LineItem]]] = {
    "compute": price_compute,
    "vm": price_compute,
    "storage": price_object_storage,
    "object_storage": price_object_storage,
    "block_storage": price_block_storage,
    "disk": price_block_storage,
    "database": price_database,
    "cache": price_cache,
    "redis": price_cache,
    "queue": price_queue,
    "load_balancer": price_load_balancer,
    "kubernetes": price_kubernetes,
    "egress": price_egress,
    "serverless": price_serverless,
    "monitoring": price_monitoring,
}


def provider_name(provider: object) -> str:
    """'aws' | 'azure' | 'gcp' from a provider object, a registry name or None."""
    if provider is None:
        return "aws"
    name = provider if isinstance(provider, str) else getattr(provider, "pricing_provider", None)
    name = name or getattr(provider, "name", None)
    if name not in PROVIDERS:
        raise NotFoundError("provider", str(name), "pricing provider",
                            suggestions=list(PROVIDERS))
    return str(name)


class CostEstimator:
    """Estimate monthly costs from the price catalog; needs no cloud credentials.

    ``CostEstimator(provider=gcp_provider).estimate_monthly_cost(resources=[...])``
    prices each resource dict (seed 000 shapes) in the provider's region.
    """

    def __init__(self, provider: object = None, *, region: str | None = None,
                 catalog: Catalog | None = None) -> None:
        self.provider = provider
        self.provider_name = provider_name(provider)
        own_region = getattr(provider, "region", None)
        if getattr(provider, "name", self.provider_name) != self.provider_name:
            own_region = getattr(provider, "price_region", None)
        self.region = region or own_region or DEFAULT_REGION[self.provider_name]
        self._catalog = catalog

    @property
    def catalog(self) -> Catalog:
        return self._catalog or default_catalog()

    def _context(self, region: str | None, strict: bool = False) -> _Context:
        region = region or self.region
        known = self.catalog.regions(self.provider_name)
        if region not in known:
            raise NotFoundError("region", region, f"{self.provider_name} region",
                                suggestions=closest(region, known),
                                hint="run 'pepperpy-cloud catalog info' for covered regions")
        return _Context(self.catalog, self.provider_name, region, strict)

    def estimate_monthly_cost(self, resources: Iterable[Mapping[str, Any]], *,
                              region: str | None = None, strict: bool = False) -> Estimate:
        """Price each resource; unknown SKUs warn (or raise with ``strict``) and stay unpriced."""
        ctx = self._context(region, strict)
        estimate = Estimate(provider=ctx.provider, region=ctx.region)
        for i, res in enumerate(resources):
            where = f"resources[{i}]"
            if not isinstance(res, Mapping):
                raise InputError(where, f"must be a mapping like {{'type': 'compute', ...}}, got {type(res).__name__}")
            kind = str(res.get("type", ""))
            if kind not in PRICERS:
                raise NotFoundError(f"{where}.type", kind, "resource type",
                                    suggestions=closest(kind, PRICERS) or sorted(PRICERS))
            name = str(res.get("name") or f"{kind}-{i}")
            estimate.items.extend(PRICERS[kind](ctx, res, where, name))
        estimate.warnings.extend(ctx.warnings)
        return estimate

    def estimate_stack(self, stack: Any, *, region: str | None = None, strict: bool = False
                       ) -> Estimate:
        """Price a whole stack (``pepperpy.yaml`` or a Stack model) on this provider."""
        from pepperpy.cloud.cost.stack import stack_resources

        ctx_region = region or stack.regions.get(self.provider_name) or (
            stack.region if stack.provider == self.provider_name and stack.region else None)
        if ctx_region is None:
            from pepperpy.cloud.catalog.regions import equivalent

            source = stack.provider if stack.provider in PROVIDERS else "aws"
            ctx_region = (equivalent(source, stack.region, self.provider_name) if stack.region
                          else self.region)
        return self.estimate_monthly_cost(stack_resources(stack, self.provider_name),
                                          region=ctx_region, strict=strict)

    def get_actual_costs(self, time_range: object = None, group_by: str = "service",
                         *, deployment: str | None = None, **options: Any) -> dict[str, Decimal]:
        """Cost accrued by the deployments PepperPy Cloud runs, priced on this estimator's cloud.

        Local deployments are measured by their collector: replica-hours at the hourly price of
        the instance that fits the service, other lines pro rata for the hours measured (see
        ``monitor/costs.py``). Returns ``{group: Decimal}``; ``actual_costs_report`` has the lines.
        With an AWS provider the amounts are Cost Explorer's (``providers/aws/cost_explorer.py``;
        options ``include_unmanaged=`` and ``granularity=``).
        """
        if self._is_aws():
            from pepperpy.cloud.providers.aws.cost_explorer import get_actual_costs

            start, end = self._bounds(time_range)
            return get_actual_costs(self.provider, start, end, group_by,  # type: ignore[arg-type]
                                    deployment=deployment, **options)
        if options:
            raise InputError(next(iter(options)), "is an option of Cost Explorer (AWS provider) only")
        return self.actual_costs_report(time_range, deployment=deployment).grouped(group_by)

    def actual_costs_report(self, time_range: object = None, *, deployment: str | None = None,
                            **options: Any) -> Any:
        """The accrued lines behind :meth:`get_actual_costs`, each citing its catalog row (AWS: Cost Explorer rows)."""
        from pepperpy.cloud.monitor.costs import actual_costs

        start, end = self._bounds(time_range)
        if self._is_aws():
            from pepperpy.cloud.providers.aws.cost_explorer import actual_costs_report

            return actual_costs_report(self.provider, start, end,  # type: ignore[arg-type]
                                       deployment=deployment, **options)
        if options:
            raise InputError(next(iter(options)), "is an option of Cost Explorer (AWS provider) only")
        return actual_costs(self, start, end, deployment=deployment)

    def _is_aws(self) -> bool:
        """Actual costs come from the cloud's billing only for a cloud provider object (not a pricing name)."""
        return getattr(self.provider, "name", None) == "aws" and hasattr(self.provider, "session")

    @staticmethod
    def _bounds(time_range: object) -> tuple[float, float]:
        from pepperpy.cloud.monitor.timerange import as_time_range

        return as_time_range(time_range if time_range is not None else "30d").bounds()
