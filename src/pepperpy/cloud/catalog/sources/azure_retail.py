"""Azure Retail Prices API pages (``Items`` plus ``NextPageLink``).

VM list prices follow the rules Azure's own data imply: "Virtual Machines"
consumption meters for Linux (no "Windows" product), no Low Priority, no
Dedicated Host, no promo sizes, ``Standard_*`` sizes keyed by ``armSkuName``
and ``armRegionName``; meters named "Spot" give spot prices. Reservation items
state the price of the whole term (``unitOfMeasure`` still says "1 Hour"), so
they become hourly ``reserved_1y``/``reserved_3y`` rows by dividing by the hours
in the term, and the row says so. Pages are followed until ``NextPageLink`` is
empty; ``Count`` is not trusted.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.sources.base import (
    ImportResult,
    fetch_text,
    parse_json,
    read_text,
    register,
)
from pepperpy.cloud.errors import CatalogError

DEFAULT_URL = "https://prices.azure.com/api/retail/prices?$filter=serviceName%20eq%20%27Virtual%20Machines%27"
MAX_PAGES = 10_000
_TERM_HOURS = {"1 Year": (Decimal(8760), "reserved_1y"), "3 Years": (Decimal(26280), "reserved_3y")}
_HOURLY_PLACES = Decimal("1E-10")


def _date(text: str | None, fallback: date) -> date:
    if not text:
        return fallback
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return fallback


def _skip_reason(item: dict[str, Any]) -> str | None:
    if item.get("serviceName") != "Virtual Machines":
        return "not a Virtual Machines meter"
    names = f"{item.get('meterName', '')} {item.get('skuName', '')}"
    product = item.get("productName", "")
    sku = item.get("armSkuName", "")
    if "Windows" in product:
        return "Windows"
    if "Low Priority" in names:
        return "Low Priority"
    if "Dedicated Host" in product:
        return "Dedicated Host"
    if not sku:
        return "no armSkuName"
    if sku.endswith("_Promo") or "promo" in product.lower() or "Expired" in names:
        return "promo or expired size"
    if not sku.startswith("Standard_"):
        return "not a Standard_ size"
    if not item.get("armRegionName"):
        return "no region"
    if item.get("type") not in ("Consumption", "Reservation"):
        return f"price type {item.get('type')}"
    return None


def parse_page(page: object, *, source: str, fallback: date, result: ImportResult) -> str | None:
    """Add one page's rows to ``result``; return the next page's URL, if any."""
    if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
        raise CatalogError(f"{source}: not an Azure Retail Prices page (no Items list)")
    for item in page["Items"]:
        reason = _skip_reason(item)
        if reason:
            result.skip(reason)
            continue
        try:
            price = Decimal(str(item["retailPrice"]))
        except (KeyError, InvalidOperation):
            result.skip("no retailPrice")
            continue
        if price <= 0:
            result.skip("price 0 (not a published price)")
            continue
        spot = "Spot" in f"{item.get('meterName', '')} {item.get('skuName', '')}"
        model, description = ("spot" if spot else "on_demand"), item.get("productName", "")
        if item.get("type") == "Reservation":
            term = _TERM_HOURS.get(item.get("reservationTerm", ""))
            if term is None or spot:
                result.skip("reservation with an unknown term")
                continue
            hours, model = term
            description = f"{item.get('reservationTerm')} reservation {price} {item.get('currencyCode')} / {hours} h"
            price = (price / hours).quantize(_HOURLY_PLACES, rounding=ROUND_HALF_EVEN)
        elif item.get("tierMinimumUnits", 0) not in (0, 0.0):
            result.skip("tiered meter")
            continue
        result.rows.append(PriceRow(
            provider="azure", service="compute", sku=item["armSkuName"],
            region=item["armRegionName"], pricing_model=model, unit="hour", price=price,
            currency=item.get("currencyCode") or page.get("BillingCurrency") or "USD",
            as_of=_date(item.get("effectiveStartDate"), fallback),
            source=f"{source}#{item.get('meterId', '')}", description=description))
    link = page.get("NextPageLink")
    return link or None


def _dedupe(rows: list[PriceRow]) -> list[PriceRow]:
    """Several meters can price one size; keep the newest, then the lowest."""
    best: dict[tuple[object, ...], PriceRow] = {}
    for row in rows:
        key = row.key()
        old = best.get(key)
        if old is None or (row.as_of, -row.price) > (old.as_of, -old.price):
            best[key] = row
    return list(best.values())


@register("azure-retail", "azure")
class AzureRetailSource:
    name = "azure-retail"
    description = "Azure Retail Prices API (VM pay-as-you-go, spot and reservation prices)"

    def load(self, *, file: Path | None = None, url: str | None = None, client: Any = None,
             as_of: date | None = None, provider: str | None = None) -> ImportResult:
        fallback = as_of or date.today()
        result = ImportResult(source="azure-retail")
        if file is not None:
            parse_page(parse_json(read_text(file), str(file)), source=str(file),
                       fallback=fallback, result=result)
            result.pages = 1
        else:
            next_url: str | None = url or DEFAULT_URL
            seen: set[str] = set()
            while next_url:
                if next_url in seen or result.pages >= MAX_PAGES:
                    raise CatalogError(f"Azure paging loops at {next_url}",
                                       hint="nothing was merged; report the URL")
                seen.add(next_url)
                page = parse_json(fetch_text(next_url, client), next_url)
                result.pages += 1
                next_url = parse_page(page, source=next_url.split("?")[0], fallback=fallback,
                                      result=result)
        result.rows = _dedupe(result.rows)
        return result
