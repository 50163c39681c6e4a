"""The bundled snapshot and the user cache: provenance, no invented zeros, cache precedence."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from pepperpy.cloud.catalog.store import DATA_DIR, Catalog, cache_dir
from pepperpy.cloud.catalog.update import update_cache
from pepperpy.cloud.errors import CatalogError


def test_every_bundled_row_is_traceable_and_priced() -> None:
    catalog = Catalog.bundled()
    assert len(catalog) > 500
    for row in catalog.rows:
        assert row.source and row.as_of and row.currency == "USD"
        assert row.price > 0 or "free" in row.description.lower(), row.citation()


def test_snapshot_covers_the_issue_families_and_regions() -> None:
    catalog = Catalog.bundled()
    gpus = {(r.provider, r.gpu_model) for r in catalog.instances.rows if r.gpu_model}
    for provider, gpu in [("aws", "T4"), ("aws", "A10G"), ("aws", "L4"), ("aws", "L40S"),
                          ("aws", "A100"), ("aws", "H100"), ("gcp", "L4"), ("gcp", "A100"),
                          ("gcp", "H100"), ("azure", "A100-80GB"), ("azure", "T4"),
                          ("azure", "A10"), ("azure", "H100")]:
        assert (provider, gpu) in gpus
    gcp_regions = set(catalog.regions("gcp", "compute"))
    assert {"us-east1", "us-west1", "europe-west1", "southamerica-east1", "asia-southeast1"} <= gcp_regions
    services = {(c.provider, c.service) for c in catalog.coverage()}
    for provider in ("aws", "azure", "gcp"):
        for service in ("kubernetes", "load_balancer", "object_storage", "block_storage",
                        "database", "cache", "queue", "serverless", "monitoring"):
            assert (provider, service) in services


def test_bundled_vm_rows_equal_the_csv_lines() -> None:
    catalog = Catalog.bundled()
    with open(DATA_DIR / "vms" / "aws.csv", newline="") as fh:
        for rec in csv.DictReader(fh):
            if rec["InstanceType"] == "t3.medium" and rec["Region"] == "us-east-1":
                (row,) = catalog.find("aws", "compute", "t3.medium", region="us-east-1")
                assert row.price == Decimal(rec["Price"])


def test_cache_update_overrides_bundled_and_survives_failure(fixtures: Path) -> None:
    summary = update_cache("aws-offer", file=fixtures / "aws-offer-ec2-excerpt.json")
    assert summary["imported"] == 1
    path = Path(summary["path"])
    assert path.parent == cache_dir() and path.exists()
    loaded = Catalog.load()
    (row,) = loaded.find("aws", "compute", "p4d.24xlarge", region="us-east-1")
    assert row.price == Decimal("32.7726")  # the import replaced the bundled SkyPilot row
    assert Catalog.load(include_cache=False).find("aws", "compute", "p4d.24xlarge",
                                                  region="us-east-1")[0].price != Decimal("32.7726")
    before = path.read_text()
    with pytest.raises(CatalogError, match="no prices"):
        update_cache("aws-offer", file=fixtures / "aws-offer-ec2-excerpt.csv")
    assert path.read_text() == before
