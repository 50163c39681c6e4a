"""SkyPilot vms.csv importer: columns by header, zones collapsed, GPUs joined, gaps left empty."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pepperpy.cloud.catalog.sources import get_source
from pepperpy.cloud.catalog.sources.skypilot_csv import parse
from pepperpy.cloud.errors import CatalogError

AS_OF = date(2026, 11, 26)


def test_gcp_sample_rows_keep_published_prices(fixtures: Path) -> None:
    result = parse((fixtures / "skypilot-gcp-vms-sample.csv").read_text(), provider=None,
                   as_of=AS_OF, source="sample")
    on_demand = {(r.sku, r.region): r for r in result.rows if r.pricing_model == "on_demand"}
    row = on_demand[("a2-highgpu-1g", "us-central1")]
    assert row.price == Decimal("0.73948")
    assert row.zone == ""  # same price in us-central1-a and -b: one regional row
    assert (row.vcpus, row.memory_gib, row.provider) == (12.0, 85.0, "gcp")
    spot = [r for r in result.rows if r.pricing_model == "spot" and r.sku == "a3-highgpu-1g"]
    assert {(r.region, r.zone, r.price) for r in spot} >= {
        ("us-east4", "us-east4-a", Decimal("0.21294")),
        ("us-central1", "us-central1-a", Decimal("0.27193")),
    }


def test_every_csv_price_becomes_exactly_one_row(fixtures: Path) -> None:
    text = (fixtures / "skypilot-gcp-vms-sample.csv").read_text()
    lines = list(csv.DictReader(text.splitlines()))
    result = parse(text, provider="gcp", as_of=AS_OF, source="sample")
    assert len([r for r in result.rows if r.pricing_model == "spot"]) == len(lines)
    regional = {(rec["InstanceType"], rec["Region"]) for rec in lines}
    assert len([r for r in result.rows if r.pricing_model == "on_demand"]) == len(regional)


AWS_HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch"


def test_aws_column_order_and_missing_prices_are_not_zero() -> None:
    text = "\n".join([
        AWS_HEADER,
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'Gpus': [{'Name': 'A10G', 'Count': 1}], 'TotalGpuMemoryInMiB': 24576}\",1.006,0.4,us-east-1,use1-az1,x86_64",
        "g5.xlarge,A10G,1.0,4.0,16.0,\"{'TotalGpuMemoryInMiB': 24576}\",1.006,,us-east-1,use1-az2,x86_64",
        "p5e.48xlarge,H200,8.0,192.0,2048.0,,,12.5,us-east-1,use1-az1,x86_64",
    ])
    rows = parse(text, provider=None, as_of=AS_OF, source="t").rows
    g5 = [r for r in rows if r.sku == "g5.xlarge" and r.pricing_model == "on_demand"]
    assert len(g5) == 1 and g5[0].price == Decimal("1.006") and g5[0].gpu_model == "A10G"
    assert g5[0].gpu_memory_gib == 24.0 and g5[0].gpu_count == 1
    assert [r.zone for r in rows if r.sku == "g5.xlarge" and r.pricing_model == "spot"] == ["use1-az1"]
    assert not [r for r in rows if r.sku == "p5e.48xlarge" and r.pricing_model == "on_demand"]
    assert all(r.price > 0 for r in rows)


def test_gcp_builtin_gpus_are_added_to_the_vm_price() -> None:
    text = "\n".join([
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice",
        "a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,0.73948,0.29576",
        ",,,A100,1,\"{'Gpus': []}\",us-central1,us-central1-a,2.933908,0.9",
        "n1-standard-4,4.0,15.0,,,,us-central1,us-central1-a,0.189999,0.04",
    ])
    rows = parse(text, provider=None, as_of=AS_OF, source="t").rows
    a2 = [r for r in rows if r.sku == "a2-highgpu-1g" and r.pricing_model == "on_demand"]
    assert len(a2) == 1
    assert a2[0].price == Decimal("0.73948") + Decimal("2.933908")
    assert (a2[0].gpu_model, a2[0].gpu_count) == ("A100", 1)
    assert "L3" in a2[0].source  # cites the accelerator line too
    accel = [r for r in rows if r.service == "accelerator"]
    assert {r.pricing_model for r in accel} == {"on_demand", "spot"}
    n1 = [r for r in rows if r.sku == "n1-standard-4" and r.pricing_model == "on_demand"]
    assert n1[0].gpu_count == 0 and n1[0].price == Decimal("0.189999")


def test_truncated_line_is_skipped_and_counted() -> None:
    text = AWS_HEADER + "\nt3.medium,,,2.0,4.0,,0.0416,0.0158,us-east-1,use1-az1,x86_64\nt3.large,,,2.0"
    result = parse(text, provider=None, as_of=AS_OF, source="t")
    assert {r.sku for r in result.rows} == {"t3.medium"}
    assert result.skipped["truncated line"] == 1


def test_not_a_vms_csv_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match="not a SkyPilot vms.csv"):
        parse("a,b,c\n1,2,3\n", provider="aws", as_of=AS_OF, source="x.csv")


def test_load_over_http(price_server, fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    url = price_server.add("/catalogs/v8/gcp/vms.csv",
                           (fixtures / "skypilot-gcp-vms-sample.csv").read_text(), ctype="text/csv")
    result = get_source("skypilot").load(url=url, as_of=AS_OF)
    assert price_server.requests == ["/catalogs/v8/gcp/vms.csv"]
    assert any(r.sku == "a3-highgpu-4g" and r.price == Decimal("4.73003") for r in result.rows)
