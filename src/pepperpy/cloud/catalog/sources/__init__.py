"""Importers for published price formats, registered by name.

``skypilot`` (SkyPilot ``vms.csv``), ``aws-offer`` (AWS Price List bulk offer
files and Query API pages), ``azure-retail`` (Azure Retail Prices API pages),
``gcp-billing`` (Cloud Billing Catalog API SKUs) and ``normalized`` (this
project's own CSV, used by the bundled snapshot and the user cache).
"""

from pepperpy.cloud.catalog.sources.base import (
    ImportResult,
    PriceSource,
    get_source,
    register,
    source_names,
)

__all__ = ["ImportResult", "PriceSource", "get_source", "register", "source_names"]
