"""This project's own CSV of normalized rows: the bundled service prices and the user cache.

Columns are read by header name, so files may carry a subset of the optional
columns (zone, gpu_*, arch) in any order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pepperpy.cloud.catalog.row import PRICING_MODELS, PROVIDERS, SERVICES, UNITS, PriceRow
from pepperpy.cloud.catalog.sources.base import ImportResult, read_text, register
from pepperpy.cloud.errors import CatalogError

COLUMNS = (
    "provider",
    "service",
    "sku",
    "region",
    "zone",
    "pricing_model",
    "unit",
    "price",
    "currency",
    "tier_start",
    "vcpus",
    "memory_gib",
    "gpu_model",
    "gpu_count",
    "gpu_memory_gib",
    "arch",
    "description",
    "as_of",
    "source",
)
REQUIRED = ("provider", "service", "sku", "region", "pricing_model", "unit", "price", "currency",
            "as_of", "source")


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def parse(text: str, where: str) -> ImportResult:
    """Read normalized rows; a row with a missing or non-positive price is an error, not a 0."""
    result = ImportResult(source="normalized")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
        raise CatalogError(f"{where}: missing columns {', '.join(missing)}")
    for line, rec in enumerate(reader, start=2):
        try:
            row = _row(rec)
        except (ValueError, InvalidOperation, KeyError) as exc:
            raise CatalogError(f"{where}:{line}: {exc}") from None
        result.rows.append(row)
    return result


def _row(rec: dict[str, str]) -> PriceRow:
    provider, service = rec["provider"], rec["service"]
    model, unit = rec["pricing_model"], rec["unit"]
    if provider not in PROVIDERS:
        raise ValueError(f"provider {provider!r} not one of {PROVIDERS}")
    if service not in SERVICES:
        raise ValueError(f"service {service!r} not one of {SERVICES}")
    if model not in PRICING_MODELS:
        raise ValueError(f"pricing_model {model!r} not one of {PRICING_MODELS}")
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} not one of {UNITS}")
    price = Decimal(rec["price"])
    if price < 0 or not price.is_finite():
        raise ValueError(f"price {rec['price']!r} must be a finite number >= 0")
    tier = Decimal(rec.get("tier_start") or 0)
    if price == 0 and tier == 0 and "free" not in (rec.get("description") or "").lower():
        raise ValueError("price 0 is only allowed for a published free tier (say 'free')")
    return PriceRow(
        provider=provider,
        service=service,
        sku=rec["sku"],
        region=rec["region"],
        zone=rec.get("zone") or "",
        pricing_model=model,
        unit=unit,
        price=price,
        currency=rec["currency"] or "USD",
        tier_start=tier,
        vcpus=_float(rec.get("vcpus")),
        memory_gib=_float(rec.get("memory_gib")),
        gpu_model=rec.get("gpu_model") or "",
        gpu_count=int(rec.get("gpu_count") or 0),
        gpu_memory_gib=_float(rec.get("gpu_memory_gib")),
        arch=rec.get("arch") or "",
        description=rec.get("description") or "",
        as_of=date.fromisoformat(rec["as_of"]),
        source=rec["source"],
    )


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value == int(value) else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def dumps(rows: Iterable[PriceRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [_fmt(getattr(row, c)) if c != "gpu_count" or row.gpu_count else "" for c in COLUMNS]
        )
    return out.getvalue()


@register("normalized")
class NormalizedCsvSource:
    name = "normalized"
    description = "PepperPy Cloud's normalized price CSV (one row per published price)"

    def load(self, *, file: Path | None = None, url: str | None = None, client: object = None,
             as_of: date | None = None, provider: str | None = None) -> ImportResult:
        if file is None:
            raise CatalogError("the normalized source reads a local file", hint="pass --file PATH")
        return parse(read_text(file), str(file))
