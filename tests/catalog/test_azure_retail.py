"""Azure Retail Prices importer: the README's expected table, paging, currency, truncation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from pepperpy.cloud.catalog.sources import get_source
from pepperpy.cloud.errors import CatalogError

EXPECTED = {
    ("on_demand", "westus2", "Standard_D64ds_v5"): Decimal("3.616"),
    ("on_demand", "westcentralus", "Standard_D16plds_v5"): Decimal("0.737"),
    ("on_demand", "usgovarizona", "Standard_D64s_v4"): Decimal("3.872"),
    ("on_demand", "southcentralus", "Standard_E64_v4"): Decimal("4.838"),
    ("spot", "westus", "Standard_E2bds_v5"): Decimal("0.0756"),
    ("spot", "northeurope", "Standard_E2s_v5"): Decimal("0.0358"),
    ("spot", "westindia", "Standard_DS4_v2"): Decimal("0.067905"),
    ("spot", "southeastasia", "Standard_HC44-32rs"): Decimal("0.4118"),
}


def _page(fixtures: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((fixtures / "azure-retail-prices-page.json").read_text())


def test_vm_rules_give_exactly_the_documented_prices(fixtures: Path) -> None:
    result = get_source("azure-retail").load(file=fixtures / "azure-retail-prices-page.json")
    hourly = {(r.pricing_model, r.region, r.sku): r.price for r in result.rows
              if r.pricing_model in ("on_demand", "spot")}
    assert hourly == EXPECTED
    assert result.skipped["Windows"] > 0 and result.skipped["Low Priority"] > 0


def test_reservations_are_whole_term_prices_spread_over_the_term(fixtures: Path) -> None:
    rows = get_source("azure-retail").load(file=fixtures / "azure-retail-prices-page.json").rows
    r1 = next(r for r in rows if r.sku == "Standard_D64ds_v5" and r.pricing_model == "reserved_1y")
    r3 = next(r for r in rows if r.sku == "Standard_D64ds_v5" and r.pricing_model == "reserved_3y")
    assert abs(r1.price * 8760 - Decimal(18689)) < Decimal("0.000001")
    assert abs(r3.price * 26280 - Decimal(36111)) < Decimal("0.000001")
    assert r1.price < Decimal("3.616")


def test_paging_follows_next_page_link_until_null(price_server, fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    page = _page(fixtures)
    items = page["Items"]
    first = dict(page, Items=items[:19], NextPageLink=price_server.base + "/api/retail/prices?$skip=19")
    second = dict(page, Items=items[19:], NextPageLink=None)
    url = price_server.add("/api/retail/prices", json.dumps(first))
    price_server.add("/api/retail/prices?$skip=19", json.dumps(second))
    result = get_source("azure-retail").load(url=url)
    assert result.pages == 2
    assert {(r.pricing_model, r.region, r.sku): r.price for r in result.rows
            if r.pricing_model in ("on_demand", "spot")} == EXPECTED


def test_other_currencies_are_kept(fixtures: Path, tmp_path: Path) -> None:
    page = _page(fixtures)
    for item in page["Items"]:
        item["currencyCode"] = "EUR"
    path = tmp_path / "eur.json"
    path.write_text(json.dumps(page))
    rows = get_source("azure-retail").load(file=path).rows
    assert rows and {r.currency for r in rows} == {"EUR"}


def test_missing_fields_are_skipped_not_zeroed(fixtures: Path, tmp_path: Path) -> None:
    page = _page(fixtures)
    for item in page["Items"]:
        item.pop("retailPrice", None)
    path = tmp_path / "noprice.json"
    path.write_text(json.dumps(page))
    result = get_source("azure-retail").load(file=path)
    assert result.rows == [] and result.skipped["no retailPrice"] > 0


def test_truncated_page_fails_without_partial_rows(price_server, fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps(_page(fixtures))
    url = price_server.add("/api/retail/prices", text[: len(text) // 3])
    with pytest.raises(CatalogError, match="truncated"):
        get_source("azure-retail").load(url=url)


def test_http_error_names_the_status(price_server) -> None:  # type: ignore[no-untyped-def]
    url = price_server.add("/api/retail/prices", "busy", status=503)
    with pytest.raises(CatalogError, match="HTTP 503"):
        get_source("azure-retail").load(url=url)
