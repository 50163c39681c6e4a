"""The pepperpy-cloud command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
STACKS = ROOT / "examples" / "stacks"


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEPPERPY_CLOUD_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_estimate_all_providers_json_cites_rows(home: Path) -> None:
    out = cli("estimate", str(STACKS / "bsc-rag.yaml"), "--provider", "all", "--json", home=home)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [e["provider"] for e in data["estimates"]] == ["aws", "azure", "gcp"]
    aws = data["estimates"][0]
    app = next(i for i in aws["items"] if i["component"] == "app")
    assert app["sku"] == "t3.large" and app["rows"][0]["source"].startswith("github:")
    assert Decimal(app["monthly"]) == Decimal(app["unit_price"]) * 730
    total = sum(Decimal(i["monthly"]) for i in aws["items"] if i["monthly"] is not None)
    assert Decimal(aws["total_monthly"]) == total


def test_estimate_table_csv_and_html(home: Path) -> None:
    table = cli("estimate", str(STACKS / "kv-store.yaml"), "-p", "gcp", home=home)
    assert table.returncode == 0 and "GKE" in table.stdout and "total $" in table.stdout
    as_csv = cli("estimate", str(STACKS / "kv-store.yaml"), "-p", "aws", "--format", "csv", home=home)
    header, *rows = as_csv.stdout.strip().splitlines()
    assert header.startswith("provider,region,component") and len(rows) >= 6
    html = cli("estimate", str(STACKS / "kv-store.yaml"), "-p", "aws", "-f", "html", home=home)
    assert html.stdout.startswith("<!doctype html>") and "Amazon EKS" in html.stdout


def test_compare_marks_cheapest_only_among_complete(home: Path) -> None:
    out = cli("compare", str(STACKS / "bsc-rag.yaml"), "--json", home=home)
    rows = json.loads(out.stdout)
    assert {r["provider"] for r in rows} == {"aws", "azure", "gcp"}
    for r in rows:
        assert not (r["cheapest"] and r["unpriced"])


def test_instances_filters_and_sorts(home: Path) -> None:
    out = cli("instances", "--vcpus", "8", "--memory", "32", "--limit", "5", "--json", home=home)
    rows = json.loads(out.stdout)
    assert len(rows) == 5
    prices = [Decimal(r["price"]) for r in rows]
    assert prices == sorted(prices)
    assert all(r["vcpus"] >= 8 and r["memory_gib"] >= 32 for r in rows)
    gpu = cli("instances", "--gpu", "A10G", "--spot", "--provider", "aws", "--json", home=home)
    assert {r["gpu_model"] for r in json.loads(gpu.stdout)} == {"A10G"}
    assert {r["pricing_model"] for r in json.loads(gpu.stdout)} == {"spot"}


def test_catalog_info_and_update(home: Path, fixtures: Path) -> None:
    info = cli("catalog", "info", "--json", home=home)
    data = json.loads(info.stdout)
    assert data["rows"] > 500 and {c["provider"] for c in data["coverage"]} == {"aws", "azure", "gcp"}
    upd = cli("catalog", "update", "--source", "azure-retail", "--file",
              str(fixtures / "azure-retail-prices-page.json"), "--json", home=home)
    assert upd.returncode == 0, upd.stderr
    assert json.loads(upd.stdout)["imported"] == 11
    after = json.loads(cli("catalog", "info", "--json", home=home).stdout)
    assert any(o.endswith("azure-retail.csv") for o in after["origins"])

    def azure_regions(d: dict) -> int:  # type: ignore[type-arg]
        return next(c["regions"] for c in d["coverage"]
                    if (c["provider"], c["service"]) == ("azure", "compute"))

    assert azure_regions(after) > azure_regions(data)


@pytest.mark.parametrize(("args", "needle"), [
    (["estimate", "nope.yaml"], "nope.yaml: no such stack file"),
    (["estimate", str(STACKS / "bsc-rag.yaml"), "-p", "ibm"], "--provider: unknown provider 'ibm'"),
    (["estimate", str(STACKS / "bsc-rag.yaml"), "-p", "aws", "-r", "mars-1"], "region: unknown aws region 'mars-1'"),
    (["estimate", str(STACKS / "bsc-rag.yaml"), "--format", "pdf"], "--format: 'pdf' is not one of"),
    (["instances", "--gpu", "B200X"], "--gpu: unknown GPU model 'B200X'"),
    (["instances", "--max-price", "cheap"], "--max-price: 'cheap' is not a number"),
    (["catalog", "update", "--source", "ibm", "--file", "x"], "--source: unknown price source 'ibm'"),
])
def test_bad_input_is_one_line_and_exit_2(home: Path, args: list[str], needle: str) -> None:
    out = cli(*args, home=home)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_malformed_yaml_and_bad_values(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: demo\nservices: [\n")
    out = cli("estimate", str(broken), home=home)
    assert out.returncode == 2 and "invalid YAML at line" in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\nservices:\n  app: {image: 'x:1', replicas: {min: -1}, disk: lots}\n")
    out = cli("estimate", str(bad), home=home)
    assert out.returncode == 2
    assert "services.app.replicas.min" in out.stderr and "services.app.disk" in out.stderr
    assert "Traceback" not in out.stderr


def test_help_teaches_with_examples(home: Path) -> None:
    out = cli("estimate", "--help", home=home)
    assert out.returncode == 0 and "pepperpy-cloud estimate examples/stacks/bsc-rag.yaml" in out.stdout
