"""GCP Cloud Billing Catalog API ``services.skus.list`` pages.

Compute Engine does not price machine types: it prices a vCPU-hour and a
GiB-hour per machine family and region, and each GPU separately. Those
component SKUs are imported as rows (``sku`` = the API's skuId, the family and
resource in ``description``); :func:`compose_machine` prices a machine type
from them exactly as Google bills it (vCPUs x core price + GiB x RAM price).
Prices are ``units + nanos / 1e9`` of the first tier, computed in decimal.
Pages are followed through ``nextPageToken``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.sources.base import (
    ImportResult,
    fetch_text,
    parse_json,
    read_text,
    register,
)
from pepperpy.cloud.errors import CatalogError, InputError, PriceUnknownError

COMPUTE_ENGINE = "6F81-5844-456A"
MAX_PAGES = 10_000
_MODELS = {"OnDemand": "on_demand", "Preemptible": "spot", "Commit1Yr": "reserved_1y",
           "Commit3Yr": "reserved_3y"}
_UNITS = {"h": "hour", "GiBy.h": "GiB-hour", "GiBy.mo": "GB-month", "GiBy": "GiB",
          "mo": "month"}
_FAMILY = re.compile(
    r"^(?:Spot Preemptible |Preemptible )?(?P<family>[A-Z][A-Z0-9]*)"
    r"(?: (?:Predefined|Custom|AMD|Arm))? Instance (?P<kind>Core|Ram)\b")
_GPU = re.compile(r"Nvidia (?:Tesla )?(?P<gpu>[A-Z0-9]+(?: \d+GB)?) GPU", re.I)


def money(unit_price: dict[str, Any]) -> Decimal:
    """``{"units": "2", "nanos": 933908000}`` -> Decimal("2.933908"), exactly."""
    units = Decimal(str(unit_price.get("units") or 0))
    nanos = Decimal(int(unit_price.get("nanos") or 0)) / Decimal(10**9)
    return units + nanos


def _sku_fields(sku: dict[str, Any]) -> tuple[str, str, str] | None:
    """(service, resource key, gpu model) for SKUs we understand."""
    description = sku.get("description", "")
    family = _FAMILY.match(description)
    if family:
        return "compute_component", f"{family['family'].lower()}-{family['kind'].lower()}", ""
    gpu = _GPU.search(description)
    if gpu:
        name = gpu["gpu"].upper().replace(" ", "-")
        return "accelerator", f"gpu-{name.lower()}", name
    return None


def parse_page(page: object, *, source: str, fallback: date, result: ImportResult) -> str | None:
    if not isinstance(page, dict) or not isinstance(page.get("skus"), list):
        raise CatalogError(f"{source}: not a Cloud Billing Catalog skus page (no skus list)")
    for sku in page["skus"]:
        fields = _sku_fields(sku)
        model = _MODELS.get(sku.get("category", {}).get("usageType", ""))
        if fields is None or model is None:
            result.skip("not a compute core, RAM or GPU SKU")
            continue
        service, resource, gpu = fields
        for info in sku.get("pricingInfo", [])[:1]:
            expr = info.get("pricingExpression", {})
            unit = _UNITS.get(expr.get("usageUnit", ""))
            tiers = expr.get("tieredRates") or []
            if unit is None or not tiers:
                result.skip(f"unit {expr.get('usageUnit')!r} or no tiers")
                continue
            as_of = _as_of(info.get("effectiveTime"), fallback)
            for tier in tiers:
                price = money(tier.get("unitPrice", {}))
                start = Decimal(str(tier.get("startUsageAmount", 0)))
                if price <= 0 and start == 0:
                    result.skip("price 0 first tier")
                    continue
                currency = tier.get("unitPrice", {}).get("currencyCode", "USD")
                for region in sku.get("serviceRegions", []):
                    result.rows.append(PriceRow(
                        provider="gcp", service=service, sku=resource, region=region,
                        pricing_model=model, unit=unit, price=price, currency=currency,
                        tier_start=start, as_of=as_of, gpu_model=gpu, gpu_count=1 if gpu else 0,
                        source=f"{source}#{sku.get('skuId', '')}",
                        description=sku.get("description", "")))
    token = page.get("nextPageToken")
    return token or None


def _as_of(text: str | None, fallback: date) -> date:
    if not text:
        return fallback
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return fallback


def _with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "pageToken"] + [("pageToken", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def compose_machine(rows: list[PriceRow], *, machine_type: str, family: str, vcpus: float,
                    memory_gib: float, region: str, pricing_model: str = "on_demand") -> PriceRow:
    """Price a machine type from its family's per-vCPU and per-GiB SKUs in ``region``."""
    def one(kind: str, unit: str) -> PriceRow:
        for row in rows:
            if (row.sku == f"{family}-{kind}" and row.region == region and row.unit == unit
                    and row.pricing_model == pricing_model and row.tier_start == 0):
                return row
        raise PriceUnknownError(f"no {family} {kind} SKU for {region} ({pricing_model})")

    core, ram = one("core", "hour"), one("ram", "GiB-hour")
    cpu_d, mem_d = Decimal(str(vcpus)), Decimal(str(memory_gib))
    return PriceRow(
        provider="gcp", service="compute", sku=machine_type, region=region,
        pricing_model=pricing_model, unit="hour", price=cpu_d * core.price + mem_d * ram.price,
        currency=core.currency, as_of=min(core.as_of, ram.as_of),
        source=f"{core.source} + {ram.source}", vcpus=vcpus, memory_gib=memory_gib,
        description=f"{vcpus} vCPU x {core.price} + {memory_gib} GiB x {ram.price}")


@register("gcp-billing", "gcp")
class GcpBillingSource:
    name = "gcp-billing"
    description = "GCP Cloud Billing Catalog API SKUs (Compute Engine cores, RAM, GPUs)"

    def load(self, *, file: Path | None = None, url: str | None = None, client: Any = None,
             as_of: date | None = None, provider: str | None = None) -> ImportResult:
        fallback = as_of or date.today()
        result = ImportResult(source="gcp-billing")
        if file is not None:
            parse_page(parse_json(read_text(file), str(file)), source=str(file),
                       fallback=fallback, result=result)
            result.pages = 1
            return result
        if url is None:
            raise InputError("--url", "the gcp-billing source needs the skus URL (with ?key=API_KEY) or --file")
        token: str | None = ""
        seen: set[str] = set()
        while token is not None:
            page_url = _with_token(url, token) if token else url
            if token in seen or result.pages >= MAX_PAGES:
                raise CatalogError("GCP paging repeats a pageToken", hint="nothing was merged")
            seen.add(token)
            page = parse_json(fetch_text(page_url, client), urlsplit(url).path)
            result.pages += 1
            token = parse_page(page, source=urlsplit(url).path, fallback=fallback, result=result)
        return result
