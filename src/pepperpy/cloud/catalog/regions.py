"""Regions of the three clouds, their display names, and which ones stand for the same area.

Used to translate a stack's region to its nearest equivalent on another cloud
(``estimate --provider all``), to read AWS price files that name regions by
display name, and to answer "in a US region" style filters.
"""

from __future__ import annotations

from typing import NamedTuple


class Region(NamedTuple):
    provider: str
    code: str
    area: str
    name: str


# area: us-east, us-central, us-west, canada, south-america, europe-west, europe-north,
# europe-central, uk, asia-southeast, asia-east, asia-northeast, asia-south, australia.
REGIONS: tuple[Region, ...] = (
    Region("aws", "us-east-1", "us-east", "US East (N. Virginia)"),
    Region("aws", "us-east-2", "us-central", "US East (Ohio)"),
    Region("aws", "us-west-1", "us-west", "US West (N. California)"),
    Region("aws", "us-west-2", "us-west", "US West (Oregon)"),
    Region("aws", "ca-central-1", "canada", "Canada (Central)"),
    Region("aws", "sa-east-1", "south-america", "South America (Sao Paulo)"),
    Region("aws", "eu-west-1", "europe-west", "EU (Ireland)"),
    Region("aws", "eu-west-2", "uk", "EU (London)"),
    Region("aws", "eu-west-3", "europe-west", "EU (Paris)"),
    Region("aws", "eu-central-1", "europe-central", "EU (Frankfurt)"),
    Region("aws", "eu-north-1", "europe-north", "EU (Stockholm)"),
    Region("aws", "ap-southeast-1", "asia-southeast", "Asia Pacific (Singapore)"),
    Region("aws", "ap-southeast-2", "australia", "Asia Pacific (Sydney)"),
    Region("aws", "ap-northeast-1", "asia-northeast", "Asia Pacific (Tokyo)"),
    Region("aws", "ap-northeast-2", "asia-northeast", "Asia Pacific (Seoul)"),
    Region("aws", "ap-east-1", "asia-east", "Asia Pacific (Hong Kong)"),
    Region("aws", "ap-south-1", "asia-south", "Asia Pacific (Mumbai)"),
    Region("azure", "eastus", "us-east", "East US"),
    Region("azure", "eastus2", "us-east", "East US 2"),
    Region("azure", "centralus", "us-central", "Central US"),
    Region("azure", "southcentralus", "us-central", "South Central US"),
    Region("azure", "westus", "us-west", "West US"),
    Region("azure", "westus2", "us-west", "West US 2"),
    Region("azure", "westus3", "us-west", "West US 3"),
    Region("azure", "canadacentral", "canada", "Canada Central"),
    Region("azure", "brazilsouth", "south-america", "Brazil South"),
    Region("azure", "westeurope", "europe-west", "West Europe"),
    Region("azure", "northeurope", "europe-west", "North Europe"),
    Region("azure", "uksouth", "uk", "UK South"),
    Region("azure", "germanywestcentral", "europe-central", "Germany West Central"),
    Region("azure", "swedencentral", "europe-north", "Sweden Central"),
    Region("azure", "southeastasia", "asia-southeast", "Southeast Asia"),
    Region("azure", "eastasia", "asia-east", "East Asia"),
    Region("azure", "japaneast", "asia-northeast", "Japan East"),
    Region("azure", "koreacentral", "asia-northeast", "Korea Central"),
    Region("azure", "centralindia", "asia-south", "Central India"),
    Region("azure", "australiaeast", "australia", "Australia East"),
    Region("gcp", "us-east1", "us-east", "South Carolina"),
    Region("gcp", "us-east4", "us-east", "Northern Virginia"),
    Region("gcp", "us-central1", "us-central", "Iowa"),
    Region("gcp", "us-west1", "us-west", "Oregon"),
    Region("gcp", "us-west2", "us-west", "Los Angeles"),
    Region("gcp", "northamerica-northeast1", "canada", "Montreal"),
    Region("gcp", "southamerica-east1", "south-america", "Sao Paulo"),
    Region("gcp", "europe-west1", "europe-west", "Belgium"),
    Region("gcp", "europe-west4", "europe-west", "Netherlands"),
    Region("gcp", "europe-west2", "uk", "London"),
    Region("gcp", "europe-west3", "europe-central", "Frankfurt"),
    Region("gcp", "europe-north1", "europe-north", "Finland"),
    Region("gcp", "asia-southeast1", "asia-southeast", "Singapore"),
    Region("gcp", "asia-east1", "asia-east", "Taiwan"),
    Region("gcp", "asia-northeast1", "asia-northeast", "Tokyo"),
    Region("gcp", "asia-south1", "asia-south", "Mumbai"),
    Region("gcp", "australia-southeast1", "australia", "Sydney"),
)

DEFAULT_REGION = {"aws": "us-east-1", "azure": "eastus", "gcp": "us-central1"}
_BY_CODE = {(r.provider, r.code): r for r in REGIONS}
# Alternate spellings AWS price files have used for the same region.
_AWS_NAMES = {r.name: r.code for r in REGIONS if r.provider == "aws"}
_AWS_NAMES.update({name.replace("EU (", "Europe ("): code for name, code in list(_AWS_NAMES.items())})
_AWS_NAMES["South America (São Paulo)"] = "sa-east-1"


def get(provider: str, code: str) -> Region | None:
    return _BY_CODE.get((provider, code))


def aws_code_for_location(location: str) -> str:
    """AWS region code for a price-list display name such as 'Asia Pacific (Singapore)'."""
    return _AWS_NAMES.get(location, "")


def area_of(provider: str, code: str) -> str | None:
    region = get(provider, code)
    return region.area if region else None


def equivalent(provider: str, code: str, target: str) -> str:
    """The region of ``target`` closest to ``provider``'s ``code`` (same area, first listed)."""
    if provider == target:
        return code
    area = area_of(provider, code)
    for region in REGIONS:
        if region.provider == target and region.area == area:
            return region.code
    return DEFAULT_REGION[target]


def in_area(provider: str, code: str, prefix: str) -> bool:
    """True when the region's area starts with ``prefix`` ('us', 'europe', 'asia', ...)."""
    area = area_of(provider, code)
    return area is not None and area.startswith(prefix)
