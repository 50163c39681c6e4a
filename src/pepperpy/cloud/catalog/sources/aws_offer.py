"""AWS Price List: bulk offer files (JSON and CSV) and Query API ``GetProducts`` pages.

Linux on-demand instance prices follow AWS's own filter: product family
"Compute Instance", Linux, shared tenancy, no pre-installed software, capacity
status "Used", "No License required" and market option "OnDemand" (capacity
blocks are priced differently). Reserved "No Upfront" terms are pure hourly
prices and become ``reserved_1y``/``reserved_3y`` rows; terms with an upfront
fee are left out rather than amortized by guesswork. EBS volume prices
(product family "Storage") become ``block_storage`` rows. Currencies and term
codes are read, never assumed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pepperpy.cloud.catalog.regions import aws_code_for_location
from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.sources.base import (
    ImportResult,
    fetch_text,
    parse_json,
    read_text,
    register,
)
from pepperpy.cloud.errors import CatalogError, InputError

_LINUX_ON_DEMAND = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}
_CSV_ATTRS = {
    "Product Family": "productFamily",
    "Instance Type": "instanceType",
    "vCPU": "vcpu",
    "Memory": "memory",
    "GPU": "gpu",
    "GPU Memory": "gpuMemory",
    "Tenancy": "tenancy",
    "Operating System": "operatingSystem",
    "License Model": "licenseModel",
    "Pre Installed S/W": "preInstalledSw",
    "CapacityStatus": "capacitystatus",
    "MarketOption": "marketoption",
    "operation": "operation",
    "Region Code": "regionCode",
    "Volume API Name": "volumeApiName",
    "Physical Processor": "physicalProcessor",
    "Processor Architecture": "processorArchitecture",
}
_NUMBER = re.compile(r"[\d.]+")


def _number(text: str | None) -> float | None:
    match = _NUMBER.search((text or "").replace(",", ""))
    return float(match.group()) if match else None


def _ebs_volume(usagetype: str) -> str:
    """EBS volume API name from a usage type such as 'APS1-EBS:VolumeUsage.piops'."""
    if "EBS:VolumeUsage" not in usagetype:
        return ""
    suffix = usagetype.rpartition("VolumeUsage")[2].lstrip(".")
    return {"": "standard", "piops": "io1"}.get(suffix, suffix)


def _is_linux_on_demand_instance(attrs: Mapping[str, str], family: str) -> bool:
    if family != "Compute Instance":
        return False
    if any(attrs.get(k) != v for k, v in _LINUX_ON_DEMAND.items()):
        return False
    market = attrs.get("marketoption")
    if market is not None:
        return market == "OnDemand"
    return attrs.get("operation", "RunInstances") == "RunInstances"


def _as_of(text: str | None, fallback: date | None) -> date:
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    return fallback or date.today()


def _price(per_unit: Mapping[str, str]) -> tuple[Decimal, str] | None:
    for currency, text in per_unit.items():
        try:
            value = Decimal(text)
        except InvalidOperation:
            continue
        return value, currency
    return None


def _term_model(term_attrs: Mapping[str, str]) -> str | None:
    if term_attrs.get("PurchaseOption") != "No Upfront":
        return None
    if term_attrs.get("OfferingClass", "standard") != "standard":
        return None
    length = term_attrs.get("LeaseContractLength", "")
    return {"1yr": "reserved_1y", "3yr": "reserved_3y"}.get(length)


class _Builder:
    """Turns (product attributes, price dimension) pairs into rows and counts what it skips."""

    def __init__(self, result: ImportResult, source: str, as_of: date) -> None:
        self.result = result
        self.source = source
        self.as_of = as_of

    def add(self, family: str, attrs: Mapping[str, str], model: str, unit: str,
            per_unit: Mapping[str, str], sku: str, description: str = "") -> None:
        priced = _price(per_unit)
        if priced is None:
            self.result.skip("dimension without a price")
            return
        price, currency = priced
        region = attrs.get("regionCode") or aws_code_for_location(attrs.get("location", ""))
        volume = attrs.get("volumeApiName") or _ebs_volume(attrs.get("usagetype", ""))
        if family == "Storage" and volume and unit in ("GB-Mo", "GB-month"):
            if price <= 0:
                self.result.skip("zero storage price")
                return
            self.result.rows.append(PriceRow(
                provider="aws", service="block_storage", sku=volume, region=region,
                pricing_model=model, unit="GB-month", price=price, currency=currency,
                as_of=self.as_of, source=f"{self.source}#{sku}", description=description))
            return
        if not _is_linux_on_demand_instance(attrs, family):
            self.result.skip("not a Linux shared on-demand instance")
            return
        if unit != "Hrs":
            self.result.skip("not an hourly dimension")
            return
        if price <= 0:
            self.result.skip("price 0 (not a published price)")
            return
        gpu = _number(attrs.get("gpu"))
        gpu_mem = _number(attrs.get("gpuMemory"))
        self.result.rows.append(PriceRow(
            provider="aws", service="compute", sku=attrs.get("instanceType", ""), region=region,
            pricing_model=model, unit="hour", price=price, currency=currency, as_of=self.as_of,
            source=f"{self.source}#{sku}", vcpus=_number(attrs.get("vcpu")),
            memory_gib=_number(attrs.get("memory")), gpu_count=int(gpu or 0),
            gpu_memory_gib=gpu_mem if gpu else None,
            arch="arm64" if "Graviton" in attrs.get("physicalProcessor", "") else "x86_64",
            description=description))


def parse_offer_json(text: str, *, source: str, as_of: date | None = None) -> ImportResult:
    data = parse_json(text, source)
    if not isinstance(data, dict) or "products" not in data or "terms" not in data:
        raise CatalogError(f"{source}: not an AWS Price List offer file (no products/terms)")
    result = ImportResult(source="aws-offer", pages=1)
    builder = _Builder(result, source, _as_of(data.get("publicationDate"), as_of))
    products: dict[str, Any] = data["products"]
    for term_type, model_of in (("OnDemand", lambda _a: "on_demand"), ("Reserved", _term_model)):
        for sku, offers in (data["terms"].get(term_type) or {}).items():
            product = products.get(sku)
            if product is None:
                result.skip("term for an unknown product")
                continue
            for offer in offers.values():
                model = model_of(offer.get("termAttributes") or {})
                if model is None:
                    result.skip("reserved term with upfront fee or convertible class")
                    continue
                for dim in offer.get("priceDimensions", {}).values():
                    builder.add(product.get("productFamily", ""), product.get("attributes", {}),
                                model, dim.get("unit", ""), dim.get("pricePerUnit", {}), sku,
                                dim.get("description", ""))
    return result


def parse_get_products(text: str, *, source: str, as_of: date | None = None) -> ImportResult:
    """One ``GetProducts`` response: ``PriceList`` is a list of JSON documents as strings."""
    data = parse_json(text, source)
    if not isinstance(data, dict) or "PriceList" not in data:
        raise CatalogError(f"{source}: not a GetProducts response (no PriceList)")
    result = ImportResult(source="aws-offer", pages=1)
    for item in data["PriceList"]:
        doc = parse_json(item, f"{source} PriceList item") if isinstance(item, str) else item
        if not isinstance(doc, dict):
            result.skip("PriceList item is not an object")
            continue
        product = doc.get("product", {})
        builder = _Builder(result, source, _as_of(doc.get("publicationDate"), as_of))
        for term_type, model_of in (("OnDemand", lambda _a: "on_demand"), ("Reserved", _term_model)):
            for offer in (doc.get("terms", {}).get(term_type) or {}).values():
                model = model_of(offer.get("termAttributes") or {})
                if model is None:
                    result.skip("reserved term with upfront fee or convertible class")
                    continue
                for dim in offer.get("priceDimensions", {}).values():
                    builder.add(product.get("productFamily", ""), product.get("attributes", {}),
                                model, dim.get("unit", ""), dim.get("pricePerUnit", {}),
                                product.get("sku", ""), dim.get("description", ""))
    return result


def _csv_records(text: str) -> tuple[dict[str, str], Iterator[list[str]], list[str]]:
    reader = csv.reader(io.StringIO(text))
    meta: dict[str, str] = {}
    for cells in reader:
        if len(cells) == 2 and cells[0] in ("FormatVersion", "Disclaimer", "Publication Date",
                                            "Version", "OfferCode"):
            meta[cells[0]] = cells[1]
            continue
        return meta, reader, cells
    raise CatalogError("AWS offer CSV has no header row")


def parse_offer_csv(text: str, *, source: str, as_of: date | None = None) -> ImportResult:
    meta, reader, header = _csv_records(text)
    for needed in ("SKU", "TermType", "Unit", "PricePerUnit", "Currency"):
        if needed not in header:
            raise CatalogError(f"{source}: not an AWS offer CSV (no {needed} column)")
    result = ImportResult(source="aws-offer", pages=1)
    builder = _Builder(result, source, _as_of(meta.get("Publication Date"), as_of))
    col = {name: i for i, name in enumerate(header)}
    for cells in reader:
        if len(cells) != len(header):
            result.skip("truncated line")
            continue
        rec = {name: cells[i] for name, i in col.items()}
        attrs = {key: rec[name] for name, key in _CSV_ATTRS.items() if name in rec}
        if rec["TermType"] == "OnDemand":
            model: str | None = "on_demand"
        else:
            model = _term_model({"PurchaseOption": rec.get("PurchaseOption", ""),
                                 "OfferingClass": rec.get("OfferingClass", ""),
                                 "LeaseContractLength": rec.get("LeaseContractLength", "")})
        if model is None:
            result.skip("reserved term with upfront fee or convertible class")
            continue
        builder.add(attrs.get("productFamily", ""), attrs, model, rec["Unit"],
                    {rec["Currency"]: rec["PricePerUnit"]}, rec["SKU"],
                    rec.get("PriceDescription", ""))
    return result


def parse(text: str, *, source: str, as_of: date | None = None) -> ImportResult:
    """Detect which of the three AWS formats ``text`` is and parse it."""
    head = text.lstrip()[:200]
    if head.startswith("{"):
        if '"PriceList"' in text[:5000] or '"FormatVersion"' in head:
            return parse_get_products(text, source=source, as_of=as_of)
        return parse_offer_json(text, source=source, as_of=as_of)
    if head.startswith('"FormatVersion"') or head.startswith("SKU,") or head.startswith('"SKU"'):
        return parse_offer_csv(text, source=source, as_of=as_of)
    raise CatalogError(f"{source}: not an AWS Price List file (JSON offer, CSV offer or GetProducts)")


@register("aws-offer", "aws", "aws-pricelist")
class AwsOfferSource:
    name = "aws-offer"
    description = "AWS Price List bulk offer files (JSON/CSV) and GetProducts responses"

    def load(self, *, file: Path | None = None, url: str | None = None, client: Any = None,
             as_of: date | None = None, provider: str | None = None) -> ImportResult:
        if file is None and url is None:
            raise InputError("--file/--url", "the aws-offer source needs an offer file or its URL")
        text = read_text(file) if file is not None else fetch_text(str(url), client)
        return parse(text, source=str(file or url), as_of=as_of)
