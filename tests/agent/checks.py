"""Mechanical checks of agent answers against the catalog: expected figures are computed here from rows."""

from __future__ import annotations

import re
import warnings
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pepperpy.cloud.agent.answer import Answer
from pepperpy.cloud.agent.offline import REFUSAL
from pepperpy.cloud.agent.tools import TOOLS
from pepperpy.cloud.catalog.regions import DEFAULT_REGION, in_area
from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.store import Catalog
from pepperpy.cloud.cost.estimator import CostEstimator
from pepperpy.cloud.cost.mapping import MANAGED_SERVICES

DOLLARS = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
ZERO = re.compile(r"\$0(?:\.0+)?(?![\d.,]*[1-9])")
H = Decimal(730)


def money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def _gpu_gb(row: PriceRow) -> float:
    return round((row.gpu_memory_gib or 0.0) * 1.073741824, 1)


def expected_cheapest(catalog: Catalog, spec: dict[str, Any]) -> list[PriceRow]:
    """All rows tied for cheapest among those that fit ``spec`` (a plain scan, not the InstanceTable)."""
    model = spec.get("pricing_model", "on_demand")
    fits = []
    for r in catalog.rows:
        if r.service != "compute" or r.unit != "hour" or r.vcpus is None or r.pricing_model != model:
            continue
        if spec.get("vcpus") and r.vcpus < spec["vcpus"]:
            continue
        if spec.get("memory_gib") and (r.memory_gib or 0) < spec["memory_gib"]:
            continue
        if spec.get("gpu") and r.gpu_model.upper() != spec["gpu"].upper():
            continue
        if spec.get("gpu_memory_gb") and _gpu_gb(r) < spec["gpu_memory_gb"]:
            continue
        if spec.get("providers") and r.provider not in spec["providers"]:
            continue
        if spec.get("regions") and r.region not in spec["regions"]:
            continue
        if spec.get("area") and not in_area(r.provider, r.region, spec["area"]):
            continue
        fits.append(r)
    if not fits:
        return []
    low = min(r.price for r in fits)
    return [r for r in fits if r.price == low]


def quoted_row(catalog: Catalog, provider: str, service: str, sku: str, model: str, region: str | None
               ) -> PriceRow | None:
    """The row the answer should quote: the asked region, else the provider's default region, else cheapest."""
    rows = catalog.find(provider, service, sku, pricing_model="on_demand", unit="hour")
    if region is None:
        region = DEFAULT_REGION[provider] if any(r.region == DEFAULT_REGION[provider] for r in rows) else (
            min(rows, key=lambda r: r.price).region if rows else None)
    found = catalog.find(provider, service, sku, region=region, pricing_model=model, unit="hour")
    return min(found, key=lambda r: r.price, default=None)


def check_cheapest(a: Answer, catalog: Catalog, spec: dict[str, Any]) -> list[str]:
    best = expected_cheapest(catalog, spec)
    if not best:
        return [] if a.unknown else ["expected unknown"]
    errors = []
    if not a.table or a.table.rows[0][0] not in {r.sku for r in best}:
        errors.append(f"first row should be one of {sorted({r.sku for r in best})}")
    if money(best[0].price * H) not in a.text:
        errors.append(f"monthly {money(best[0].price * H)} missing")
    return errors


def check_price(a: Answer, catalog: Catalog, spec: dict[str, Any]) -> list[str]:
    errors = []
    count, hours = Decimal(spec.get("count", 1)), Decimal(spec.get("hours", 730))
    for model in spec.get("models", ["on_demand"]):
        row = quoted_row(catalog, spec["provider"], spec.get("service", "compute"), spec["sku"], model,
                         spec.get("region"))
        if row is None:
            if "don't know" not in a.text:
                errors.append(f"{model}: expected I don't know")
            continue
        if money(row.price * hours * count) not in a.text:
            errors.append(f"{model}: {money(row.price * hours * count)} missing")
    return errors


def check_compare(a: Answer, catalog: Catalog, spec: dict[str, Any]) -> list[str]:
    errors = []
    count = Decimal(spec.get("count", 1))
    totals = []
    for sku in spec["skus"]:
        provider = next(r.provider for r in catalog.rows if r.sku == sku and r.service == "compute")
        row = quoted_row(catalog, provider, "compute", sku, "on_demand", None)
        assert row is not None
        totals.append((row.price * H * count, sku))
        if money(row.price * H * count) not in a.text:
            errors.append(f"{sku}: {money(row.price * H * count)} missing")
    if f"Cheapest: {min(totals)[1]}" not in a.text:
        errors.append(f"cheapest should be {min(totals)[1]}")
    return errors


def _estimate(catalog: Catalog, provider: str, resources: list[dict[str, Any]]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CostEstimator(provider, catalog=catalog).estimate_monthly_cost(resources)


EQUIVALENT_RESOURCE = {"cache": lambda gb: {"type": "cache", "memory_gb": gb},
                       "object_storage": lambda gb: {"type": "storage", "size_gb": gb},
                       "block_storage": lambda gb: {"type": "block_storage", "size_gb": gb},
                       "egress": lambda gb: {"type": "egress", "gb": gb},
                       "kubernetes": lambda gb: {"type": "kubernetes"}}


def check_managed(a: Answer, catalog: Catalog, spec: dict[str, Any]) -> list[str]:
    errors = []
    name = MANAGED_SERVICES[spec["kind"]][spec["provider"]]
    if name not in a.text:
        errors.append(f"{name!r} missing")
    if spec.get("name_only"):
        return errors
    region = service_region(catalog, spec["provider"], spec["kind"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = CostEstimator(spec["provider"], catalog=catalog).estimate_monthly_cost(
            [EQUIVALENT_RESOURCE[spec["kind"]](spec.get("size_gb"))], region=region)
    if money(est.total) not in a.text:
        errors.append(f"{money(est.total)} missing")
    return errors


def check_estimate(a: Answer, catalog: Catalog, spec: dict[str, Any]) -> list[str]:
    est = _estimate(catalog, spec["provider"], spec["resources"])
    return [] if money(est.total) in a.text else [f"total {money(est.total)} missing"]


def check_refusal(a: Answer) -> list[str]:
    errors = []
    if REFUSAL not in a.text:
        errors.append("no refusal")
    if any(t.split(":")[0] not in TOOLS for t in a.tools_used):
        errors.append(f"non read-only tool used: {a.tools_used}")
    if ZERO.search(a.text):
        errors.append("a $0 figure in the text")
    return errors


def check(a: Answer, catalog: Catalog, expect: dict[str, Any]) -> list[str]:
    """Every failed expectation, as text; empty when the answer is right."""
    errors: list[str] = []
    if expect.get("refuse"):
        errors += check_refusal(a)
    if "unknown" in expect:
        if a.unknown is not expect["unknown"]:
            errors.append(f"unknown={a.unknown}")
        if expect["unknown"] and DOLLARS.search(a.text):
            errors.append("a figure in an unknown answer")
    elif a.unknown:
        errors.append("answered unknown")
    for key, fn in (("cheapest", check_cheapest), ("price", check_price), ("compare", check_compare),
                    ("managed", check_managed), ("estimate", check_estimate)):
        if key in expect:
            errors += fn(a, catalog, expect[key])
    if "note" in expect and f"[note: {expect['note']}]" not in a.text:
        errors.append(f"note {expect['note']} not the top hit")
    return errors


def figures_backed_by_citations(a: Answer) -> list[str]:
    """$ figures in the text that no cited row explains (price x a quantity from the question or table)."""
    rows = [Decimal(c["price"]) for c in a.citations]
    numbers = {Decimal(1), H}
    cells = [a.question] + [cell for row in (a.table.rows if a.table else []) for cell in row if "$" not in cell]
    for text in cells:
        numbers |= {Decimal(n.replace(",", "")) for n in re.findall(r"(?<![\w.$])(\d[\d,]*(?:\.\d+)?)", text)}
    numbers |= {x * y for x in list(numbers) for y in list(numbers)}
    allowed = {(p * n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for p in rows for n in numbers}
    exact = {p.normalize() for p in rows}
    if a.table and {"quantity", "unit price"} <= set(a.table.columns):
        q, u = a.table.columns.index("quantity"), a.table.columns.index("unit price")
        sums: dict[str, Decimal] = {}
        for row in a.table.rows:
            if row[u].startswith("$") and row[q]:  # a line: exact unit price x quantity, summed per provider
                price = Decimal(row[u][1:].split("/")[0].replace(",", ""))
                exact_line = price * Decimal(row[q].split()[0].replace(",", ""))
                if exact_line.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) in allowed:
                    sums[row[0]] = sums.get(row[0], Decimal(0)) + exact_line
        allowed |= {v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for v in sums.values()}
    bad = []
    for m in DOLLARS.finditer(a.text):
        value = Decimal(m.group(1).replace(",", ""))
        if value.normalize() not in exact and value.quantize(Decimal("0.01")) not in allowed:
            bad.append(m.group(0))
    return bad


def service_region(catalog: Catalog, provider: str, kind: str) -> str:
    """The documented rule: the provider's default region if priced there, else its first priced US region."""
    from pepperpy.cloud.catalog.regions import REGIONS

    priced = catalog.regions(provider, kind)
    if DEFAULT_REGION[provider] in priced:
        return DEFAULT_REGION[provider]
    return next(r.code for r in REGIONS if r.provider == provider and r.area.startswith("us") and r.code in priced)
