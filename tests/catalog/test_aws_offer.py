"""AWS Price List importer: bulk JSON, bulk CSV and GetProducts, filtered as AWS prices Linux."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from pepperpy.cloud.catalog.sources import get_source
from pepperpy.cloud.catalog.sources.aws_offer import parse
from pepperpy.cloud.errors import CatalogError


def _load(fixtures: Path, name: str):  # type: ignore[no-untyped-def]
    return get_source("aws-offer").load(file=fixtures / name)


def test_json_offer_keeps_on_demand_and_drops_capacity_blocks(fixtures: Path) -> None:
    result = _load(fixtures, "aws-offer-ec2-excerpt.json")
    assert [(r.sku, r.region, r.price, r.currency) for r in result.rows] == [
        ("p4d.24xlarge", "us-east-1", Decimal("32.7726"), "USD")]
    row = result.rows[0]
    assert row.source.endswith("#H7NGEAC6UEHNTKSJ")
    assert (row.vcpus, row.memory_gib, row.gpu_count) == (96.0, 1152.0, 8)
    assert row.as_of.isoformat() == "2024-05-28"
    assert result.skipped["not a Linux shared on-demand instance"] == 1


def test_currency_and_term_codes_are_read_not_assumed(fixtures: Path) -> None:
    result = _load(fixtures, "aws-offer-ec2-excerpt-cn-northwest-1.json")
    assert not [r for r in result.rows if r.service == "compute"]
    (row,) = result.rows
    assert (row.service, row.sku, row.currency, row.unit) == ("block_storage", "gp3", "CNY", "GB-month")
    assert row.price == Decimal("0.5312")


def test_csv_offer_has_no_linux_on_demand_rows(fixtures: Path) -> None:
    result = _load(fixtures, "aws-offer-ec2-excerpt.csv")
    assert result.rows == []
    assert sum(result.skipped.values()) == 44


def test_csv_columns_are_mapped_by_name(fixtures: Path) -> None:
    lines = (fixtures / "aws-offer-ec2-excerpt.csv").read_text().splitlines()
    records = list(csv.reader(lines[5:]))
    header, body = records[0], records[1:]
    idx = {h: i for i, h in enumerate(header)}
    cells = next(r for r in body if r[idx["TermType"]] == "OnDemand")
    for column, value in (("Operating System", "Linux"), ("License Model", "No License required"),
                          ("Pre Installed S/W", "NA"), ("Tenancy", "Shared"),
                          ("CapacityStatus", "Used"), ("MarketOption", "OnDemand")):
        cells[idx[column]] = value
    # Reverse the column order: a correct importer reads columns by their header name.
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(list(reversed(header)))
    writer.writerow(list(reversed(cells)))
    (parsed,) = parse("\n".join(lines[:5]) + "\n" + out.getvalue(), source="t.csv").rows
    assert parsed.sku == cells[idx["Instance Type"]]
    assert parsed.price == Decimal(cells[idx["PricePerUnit"]])
    assert parsed.as_of.isoformat() == "2025-09-12"


def test_get_products_documents_are_parsed_twice(fixtures: Path) -> None:
    (row,) = _load(fixtures, "aws-pricelist-get-products.json").rows
    assert (row.service, row.sku, row.region, row.price) == (
        "block_storage", "io1", "ap-southeast-1", Decimal("0.138"))


def test_reserved_no_upfront_is_its_own_pricing_model(fixtures: Path) -> None:
    data = json.loads((fixtures / "aws-offer-ec2-excerpt.json").read_text())
    sku = "H7NGEAC6UEHNTKSJ"
    term = json.loads(json.dumps(data["terms"]["OnDemand"][sku]))
    (code, offer), = term.items()
    offer["termAttributes"] = {"LeaseContractLength": "1yr", "OfferingClass": "standard",
                               "PurchaseOption": "No Upfront"}
    upfront = json.loads(json.dumps(offer))
    upfront["termAttributes"]["PurchaseOption"] = "All Upfront"
    data["terms"]["Reserved"] = {sku: {code: offer, code + "X": upfront}}
    result = parse(json.dumps(data), source="t.json")
    models = sorted(r.pricing_model for r in result.rows)
    assert models == ["on_demand", "reserved_1y"]
    assert result.skipped["reserved term with upfront fee or convertible class"] == 1


def test_truncated_offer_file_is_refused(fixtures: Path) -> None:
    text = (fixtures / "aws-offer-ec2-excerpt.json").read_text()
    with pytest.raises(CatalogError, match="not valid JSON"):
        parse(text[: len(text) // 2], source="cut.json")


def test_offer_over_http(price_server, fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    url = price_server.add("/offers/v1.0/aws/AmazonEC2/current/us-east-1/index.json",
                           (fixtures / "aws-offer-ec2-excerpt.json").read_text())
    (row,) = get_source("aws-offer").load(url=url).rows
    assert row.price == Decimal("32.7726")
