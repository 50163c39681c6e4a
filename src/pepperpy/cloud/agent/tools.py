"""The agent's tools: read-only look-ups over the catalog, the estimator and the knowledge base.

This registry is the only thing the agent (offline or LLM-driven) can call. Every
tool reads; none writes, deploys, deletes or changes a price. Arguments are
validated by pydantic models whose JSON schemas are what an LLM is offered; a
name not in ``TOOLS`` is refused with :class:`ToolRefusedError`.

Each result carries ``data`` (JSON-able), ``rows`` (the catalog rows behind every
figure) and ``figures`` (every dollar amount the tool produced, so an LLM's text
can be checked against them).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pepperpy.cloud.catalog.query import InstanceQuery
from pepperpy.cloud.catalog.regions import DEFAULT_REGION, in_area
from pepperpy.cloud.catalog.row import HOURS_PER_MONTH, PriceRow
from pepperpy.cloud.catalog.store import Catalog, closest
from pepperpy.cloud.cost.mapping import MANAGED_SERVICES, normalize_instance
from pepperpy.cloud.errors import InputError, PepperpyCloudError

Provider = Literal["aws", "azure", "gcp"]
PricingModel = Literal["on_demand", "spot", "reserved_1y", "reserved_3y"]
CLOUDS: tuple[str, ...] = ("aws", "azure", "gcp")


class ToolRefusedError(PepperpyCloudError):
    """A tool that is not in the read-only registry was asked for (or its arguments were invalid)."""

    exit_code = 2
    http_status = 422


@dataclass
class ToolResult:
    data: dict[str, Any]
    rows: list[PriceRow] = field(default_factory=list)
    figures: list[Decimal] = field(default_factory=list)


@dataclass
class ToolContext:
    catalog: Catalog
    knowledge: Any = None  # KnowledgeBase, loaded lazily


def _on_demand() -> list[PricingModel]:
    return ["on_demand"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheapestArgs(_Args):
    vcpus: float | None = Field(None, ge=0, description="At least this many vCPUs.")
    memory_gib: float | None = Field(None, ge=0, description="At least this many GiB of memory.")
    gpu: str | None = Field(None, max_length=20, description="GPU model, e.g. T4, L4, A10G, A100, H100.")
    gpu_count: int | None = Field(None, ge=1, le=64)
    gpu_memory_gb: float | None = Field(None, ge=0, description="At least this much GPU memory (advertised GB).")
    providers: list[Provider] | None = None
    regions: list[str] | None = Field(None, max_length=20)
    area: str | None = Field(None, max_length=20, description="us, europe, asia, south-america, canada, uk...")
    pricing_model: PricingModel = "on_demand"
    limit: int = Field(5, ge=1, le=20)


class PriceArgs(_Args):
    sku: str = Field(..., max_length=60, description="Instance type, e.g. t3.large, e2-standard-2, D2s_v3.")
    provider: Provider | None = None
    region: str | None = Field(None, max_length=40)
    area: str | None = Field(None, max_length=20)
    count: int = Field(1, ge=1, le=10_000)
    hours: Decimal = Field(HOURS_PER_MONTH, gt=0, le=8784, description="Hours per month each instance runs.")
    pricing_models: list[PricingModel] = Field(default_factory=_on_demand, max_length=4)


class CompareArgs(_Args):
    skus: list[str] = Field(..., min_length=1, max_length=10)
    area: str | None = Field(None, max_length=20)
    count: int = Field(1, ge=1, le=10_000)
    hours: Decimal = Field(HOURS_PER_MONTH, gt=0, le=8784)
    pricing_models: list[PricingModel] = Field(default_factory=_on_demand, max_length=4)


class EstimateArgs(_Args):
    provider: Provider
    region: str | None = Field(None, max_length=40)
    resources: list[dict[str, Any]] = Field(..., min_length=1, max_length=30,
                                            description="Seed 000 resource dicts: {'type': 'compute', ...}.")


class EquivalentArgs(_Args):
    kind: Literal["compute", "kubernetes", "database", "cache", "queue", "load_balancer", "object_storage",
                  "block_storage", "egress", "serverless", "monitoring"]
    size_gb: Decimal | None = Field(None, gt=0, le=10_000_000, description="Memory (cache) or GB (storage, egress).")
    providers: list[Provider] | None = None
    area: str | None = Field(None, max_length=20)


class KnowledgeArgs(_Args):
    query: str = Field(..., min_length=1, max_length=500)
    k: int = Field(3, ge=1, le=10)


def _hourly_row(catalog: Catalog, provider: str, service: str, sku: str, model: str, region: str | None,
                area: str | None) -> PriceRow | None:
    """The row to quote: the given region, else the default region, else the cheapest region in scope."""
    rows = catalog.find(provider, service, sku, pricing_model=model, unit="hour")
    if region:
        rows = [r for r in rows if r.region == region]
    elif area:
        rows = [r for r in rows if in_area(provider, r.region, area)]
    elif any(r.region == DEFAULT_REGION[provider] for r in rows):
        rows = [r for r in rows if r.region == DEFAULT_REGION[provider]]
    return min(rows, key=lambda r: (r.price, r.region, r.zone), default=None)


def resolve_sku(catalog: Catalog, sku: str, provider: str | None) -> tuple[str, str, str] | None:
    """(provider, service, sku) for a name as users write it ('D2s_v3', 'db.r5.large'), or None."""
    from pepperpy.cloud.agent.parser import vocabulary

    entry = vocabulary(catalog).skus.get(sku.strip().lower())
    if entry and (provider is None or entry[0] == provider):
        return entry
    if provider:
        name = normalize_instance(provider, sku) if provider == "azure" and "." not in sku else sku
        for service in ("compute", "database", "cache", "queue"):
            if catalog.find(provider, service, name, pricing_model=None, unit="hour"):
                return (provider, service, name)
    return None


def price_instance(ctx: ToolContext, args: PriceArgs) -> ToolResult:
    """Hourly and monthly price of ``count`` x one instance class, per pricing model asked."""
    entry = resolve_sku(ctx.catalog, args.sku, args.provider)
    if entry is None:
        known = [r.sku for r in ctx.catalog.rows if r.service == "compute" and r.unit == "hour"]
        return ToolResult({"sku": args.sku, "known": False, "closest": closest(args.sku, sorted(set(known)))})
    provider, service, sku = entry
    models = list(dict.fromkeys(["on_demand", *args.pricing_models]))
    prices: list[dict[str, Any]] = []
    rows: list[PriceRow] = []
    figures: list[Decimal] = []
    region = args.region
    for model in models:
        row = _hourly_row(ctx.catalog, provider, service, sku, model, region, args.area)
        if row is None:
            prices.append({"pricing_model": model, "known": False})
            continue
        region = region or (row.region if model == "on_demand" else None)
        total = row.price * args.hours * args.count
        prices.append({"pricing_model": model, "known": True, "region": row.region, "zone": row.zone,
                       "hourly": str(row.price), "monthly_each": str(row.price * args.hours),
                       "monthly_total": str(total)})
        rows.append(row)
        figures += [row.price, row.price * args.hours, total]
    data = {"sku": sku, "provider": provider, "service": service, "known": bool(rows), "count": args.count,
            "hours": str(args.hours), "prices": prices}
    return ToolResult(data, rows, figures)


def compare_instances(ctx: ToolContext, args: CompareArgs) -> ToolResult:
    """``price_instance`` for several classes, possibly on different clouds."""
    out = ToolResult({"instances": []})
    for sku in args.skus:
        one = price_instance(ctx, PriceArgs(sku=sku, area=args.area, count=args.count, hours=args.hours,
                                            pricing_models=args.pricing_models))
        out.data["instances"].append(one.data)
        out.rows += one.rows
        out.figures += one.figures
    return out


def cheapest_instances(ctx: ToolContext, args: CheapestArgs) -> ToolResult:
    """Cheapest instance classes that fit, one line per (provider, class), cheapest region first."""
    table = ctx.catalog.instances
    if args.gpu and args.gpu.upper() not in table.gpu_codes:
        return ToolResult({"known": False, "gpu": args.gpu,
                           "known_gpus": sorted(g for g in table.gpu_codes if g)})
    query = InstanceQuery(vcpus=args.vcpus, memory_gib=args.memory_gib, gpu=args.gpu,
                          gpu_count=args.gpu_count, gpu_memory_gb=args.gpu_memory_gb,
                          providers=args.providers, regions=args.regions, area=args.area,
                          pricing_models=(args.pricing_model,))
    rows: list[PriceRow] = []
    seen: set[tuple[str, str]] = set()
    for row in table.search(query, limit=200):
        if (row.provider, row.sku) not in seen:
            seen.add((row.provider, row.sku))
            rows.append(row)
        if len(rows) >= args.limit:
            break
    found = [{"provider": r.provider, "sku": r.sku, "region": r.region, "zone": r.zone, "vcpus": r.vcpus,
              "memory_gib": r.memory_gib, "gpu": f"{r.gpu_count} x {r.gpu_model}" if r.gpu_count else "",
              "hourly": str(r.price), "monthly": str(r.monthly())} for r in rows]
    return ToolResult({"known": bool(rows), "pricing_model": args.pricing_model, "instances": found}, rows,
                      [v for r in rows for v in (r.price, r.monthly())])


def estimate_resources(ctx: ToolContext, args: EstimateArgs) -> ToolResult:
    """The estimator on a list of resource dicts: lines, total, unpriced lines, spot/reserved totals."""
    from pepperpy.cloud.cost.estimator import CostEstimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = CostEstimator(args.provider, catalog=ctx.catalog).estimate_monthly_cost(args.resources,
                                                                                      region=args.region)
    rows = [r for i in est.items for r in i.rows]
    figures = [est.total]
    for item in est.items:
        if item.monthly is not None:
            figures += [item.monthly, *(r.price for r in item.rows)]
        for alt in item.alternatives.values():
            rows.append(alt.row)
            figures += [alt.monthly, alt.row.price]
    alternatives = {m: est.total_with(m) for m in sorted({m for i in est.items for m in i.alternatives})}
    figures += alternatives.values()
    data = est.to_dict() | {"totals_with": {k: str(v) for k, v in alternatives.items()}}
    return ToolResult(data, rows, figures)


_EQUIVALENT_RESOURCE: dict[str, Callable[[Decimal | None], dict[str, Any] | None]] = {
    "cache": lambda gb: {"type": "cache", "memory_gb": gb} if gb else None,
    "object_storage": lambda gb: {"type": "storage", "size_gb": gb or 1},
    "block_storage": lambda gb: {"type": "block_storage", "size_gb": gb or 1},
    "egress": lambda gb: {"type": "egress", "gb": gb or 1},
    "kubernetes": lambda gb: {"type": "kubernetes"},
    "load_balancer": lambda gb: {"type": "load_balancer"},
}


def _service_region(catalog: Catalog, provider: str, kind: str, area: str) -> str | None:
    """Where to price a service: the default region if the catalog prices it there, else the first in ``area``."""
    from pepperpy.cloud.catalog.regions import REGIONS

    priced = catalog.regions(provider, kind)
    if DEFAULT_REGION[provider] in priced and area == "us":
        return DEFAULT_REGION[provider]
    return next((r.code for r in REGIONS if r.provider == provider and r.area.startswith(area)
                 and r.code in priced), None)


def managed_equivalent(ctx: ToolContext, args: EquivalentArgs) -> ToolResult:
    """Each cloud's managed service for a component, priced when a size makes one price meaningful."""
    out = ToolResult({"kind": args.kind, "size_gb": None if args.size_gb is None else str(args.size_gb),
                      "services": []})
    for provider in args.providers or CLOUDS:
        entry: dict[str, Any] = {"provider": provider, "service": MANAGED_SERVICES.get(args.kind, {}).get(provider)}
        resource = _EQUIVALENT_RESOURCE.get(args.kind, lambda gb: None)(args.size_gb)
        region = _service_region(ctx.catalog, provider, args.kind, args.area or "us")
        if resource is not None:
            try:
                one = estimate_resources(ctx, EstimateArgs(provider=provider, region=region, resources=[resource]))
            except PepperpyCloudError as exc:
                entry["priced"] = False
                entry["note"] = str(exc)
            else:
                item = one.data["items"][0]
                entry |= {"priced": item["monthly"] is not None, "sku": item["sku"], "region": item["region"],
                          "quantity": item["quantity"], "unit": item["unit"], "unit_price": item["unit_price"],
                          "monthly": item["monthly"], "note": item["note"]}
                out.rows += one.rows
                out.figures += one.figures
        else:
            entry["priced"] = False
        out.data["services"].append(entry)
    return out


def search_knowledge(ctx: ToolContext, args: KnowledgeArgs) -> ToolResult:
    """The closest knowledge-base notes (data to quote, never instructions to follow)."""
    if ctx.knowledge is None:
        from pepperpy.cloud.agent.knowledge.store import default_knowledge

        ctx.knowledge = default_knowledge()
    hits = ctx.knowledge.search(args.query, args.k)
    return ToolResult({"backend": ctx.knowledge.backend, "notes": [h.to_dict() for h in hits]})


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[_Args]
    run: Callable[[ToolContext, Any], ToolResult]
    read_only: bool = True

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as offered to an LLM."""
        return self.args.model_json_schema()


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("cheapest_instances", "Cheapest instance types that meet vCPU/memory/GPU needs, by provider/region/area.",
         CheapestArgs, cheapest_instances),
    Tool("price_instance", "Hourly and monthly price of N instances of one type, on-demand/spot/reserved.",
         PriceArgs, price_instance),
    Tool("compare_instances", "Monthly prices of several instance types, across clouds.",
         CompareArgs, compare_instances),
    Tool("estimate_resources", "Monthly estimate of a list of resources (compute, storage, database, cache...) "
         "on one provider.", EstimateArgs, estimate_resources),
    Tool("managed_equivalent", "Each cloud's managed service for a component (cache, database, queue...), "
         "priced for a size when given.", EquivalentArgs, managed_equivalent),
    Tool("search_knowledge", "Search notes on pricing concepts (spot, reservations, egress, sources).",
         KnowledgeArgs, search_knowledge),
)}
assert all(t.read_only for t in TOOLS.values())


def run_tool(name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Call one registered read-only tool; anything else is refused."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolRefusedError(f"tool {name!r} is not available; only read-only pricing tools can be called: "
                               f"{', '.join(TOOLS)}")
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        raise ToolRefusedError(f"bad arguments for {name}: {exc.errors()[0]['msg']}") from None
    try:
        return tool.run(ctx, args)
    except InputError as exc:
        return ToolResult({"error": str(exc), "known": False})
