"""Names, tags and regions of the Azure resources a stack gets, checked before any call.

The names are the ones the Terraform renderer (:mod:`pepperpy.cloud.render.terraform_azure`)
gives the same resources, so a stack applied through the API and one applied with
Terraform end up with the same resource group, server and account names
(``tests/providers/azure/test_arm_builders.py`` checks this against rendered HCL).
Every name is deterministic: creating again finds the same resource and converges it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from pepperpy.cloud.catalog import regions as catalog_regions
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.render.terraform_common import MANAGED_BY

MANAGED_BY_TAG = "managed-by"
STACK_TAG = "stack"

# Azure's public regions (``az account list-locations``, 2025); a region outside this list is refused before any call.
# Whether a given service is offered in a listed region is asked from ARM itself (see ``ArmClient.check_location``).
AZURE_REGIONS = frozenset({
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast", "belgiumcentral",
    "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
    "eastasia", "eastus", "eastus2", "francecentral", "francesouth", "germanynorth", "germanywestcentral",
    "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest", "jioindiacentral", "jioindiawest",
    "koreacentral", "koreasouth", "malaysiawest", "mexicocentral", "newzealandnorth", "northcentralus",
    "northeurope", "norwayeast", "norwaywest", "polandcentral", "qatarcentral", "southafricanorth",
    "southafricawest", "southcentralus", "southeastasia", "southindia", "spaincentral", "swedencentral",
    "swedensouth", "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
})

_SERVER = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")
_REDIS = re.compile(r"^(?!.*--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_VAULT = re.compile(r"^(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_APP = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ENV = re.compile(r"^(?!.*--)[a-z][a-z0-9-]{0,58}[a-z0-9]$")
_GROUP = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
_REGISTRY = re.compile(r"^[A-Za-z0-9]{5,50}$")
_KV_SECRET = re.compile(r"^[A-Za-z0-9-]{1,127}$")


def suffix(stack_name: str) -> str:
    """Six hex digits of the stack name's SHA-256: makes globally unique names (accounts, vaults, Redis) unique."""
    return hashlib.sha256(stack_name.encode()).hexdigest()[:6]


def compact(stack_name: str) -> str:
    """The stack name without hyphens, at most 16 characters (for names that allow no hyphen)."""
    return stack_name.replace("-", "")[:16]


def tags(stack_name: str) -> dict[str, str]:
    """The tags every resource carries, as in the Terraform: ``managed-by`` and ``stack``."""
    return {MANAGED_BY_TAG: MANAGED_BY, STACK_TAG: stack_name}


def is_ours(found: dict[str, str] | None, stack_name: str) -> bool:
    """True when an existing resource carries our tags for this stack (so it may be converged or deleted)."""
    found = found or {}
    return found.get(MANAGED_BY_TAG) == MANAGED_BY and found.get(STACK_TAG) == stack_name


def _check(value: str, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if not pattern.match(value):
        raise InputError("name", f"Azure {what} name {value!r} is rejected by Azure; use {rule}",
                         hint="fix: shorten or rename the stack or component")
    return value


def resource_group(stack_name: str) -> str:
    return _check(f"{stack_name}-rg", _GROUP, "resource group", "1-90 letters, digits, '-', '_', '.', '(' or ')'")


def storage_account(stack_name: str) -> str:
    return _check(f"{compact(stack_name)}{suffix(stack_name)}", _ACCOUNT, "storage account",
                  "3-24 lowercase letters and digits")


def key_vault(stack_name: str) -> str:
    return _check(f"{compact(stack_name)[:14]}kv{suffix(stack_name)}", _VAULT, "Key Vault",
                  "3-24 letters, digits and single hyphens, starting with a letter")


def container_registry(stack_name: str) -> str:
    return _check(f"{compact(stack_name)}acr{suffix(stack_name)}", _REGISTRY, "container registry",
                  "5-50 letters and digits")


def postgres_server(stack_name: str, component: str) -> str:
    return _check(f"{stack_name}-{component}", _SERVER, "PostgreSQL flexible server",
                  "3-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen")


def redis_cache(stack_name: str, component: str) -> str:
    return _check(f"{stack_name}-{component}-{suffix(stack_name)}", _REDIS, "Azure Cache for Redis",
                  "1-63 letters, digits and single hyphens, starting and ending with a letter or digit")


def container_app(stack_name: str, service: str) -> str:
    return _check(f"{stack_name}-{service}", _APP, "container app",
                  "2-32 lowercase letters, digits and single hyphens, starting with a letter")


def managed_environment(stack_name: str) -> str:
    return _check(f"{stack_name}-env", _ENV, "Container Apps environment",
                  "2-60 lowercase letters, digits and single hyphens, starting with a letter")


def kv_secret(name: str) -> str:
    """A ``${SECRET:name}`` as a Key Vault secret name (``_`` becomes ``-``, as in the Terraform)."""
    return _check(name.replace("_", "-"), _KV_SECRET, "Key Vault secret", "1-127 letters, digits and hyphens")


def check_region(region: str, service: str) -> str:
    """Refuse a region Azure does not have (or a display name / another cloud's code), naming the closest."""
    code = region.strip()
    if code in AZURE_REGIONS:
        return code
    folded = code.lower().replace(" ", "")
    hint_code = folded if folded in AZURE_REGIONS else None
    close = [hint_code] if hint_code else difflib.get_close_matches(folded, sorted(AZURE_REGIONS), n=3, cutoff=0.6)
    other = next((r.provider for r in catalog_regions.REGIONS if r.code == code and r.provider != "azure"), None)
    why = f" (that is a {other.upper()} region)" if other else ""
    closest = f"; closest: {', '.join(close)}" if close else ""
    raise InputError("region", f"Azure {service}: {region!r} is not an Azure region{why}{closest}",
                     hint="fix: pass AzureProvider(region=...) with a region code such as 'eastus' "
                          "(az account list-locations -o table)")


@dataclass(frozen=True)
class AzureTarget:
    """Where a stack's resources go: subscription, region and the stack (deployment) name."""

    subscription_id: str
    location: str
    stack: str
    tenant_id: str | None = None

    @property
    def resource_group(self) -> str:
        return resource_group(self.stack)

    @property
    def group_path(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    def provider_path(self, namespace_type: str, name: str) -> str:
        """``/subscriptions/…/resourceGroups/…/providers/<Namespace/type>/<name>``."""
        return f"{self.group_path}/providers/{namespace_type}/{name}"

    @property
    def tags(self) -> dict[str, str]:
        return tags(self.stack)
