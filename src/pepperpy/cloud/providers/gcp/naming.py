"""Names, labels and regions of the Google Cloud resources a stack gets, checked before any call.

Names follow the Terraform renderer (:mod:`pepperpy.cloud.render.terraform_gcp`):
``<stack>-<name>`` for Cloud SQL and Memorystore instances, ``<stack>-<secret>`` for
Secret Manager, ``<stack>-<name>-cpu-high`` for alert policies; Cloud Run services
(which the Terraform does not render) are ``<stack>-<service>``. Every resource is
labelled ``managed-by=pepperpy-cloud`` and ``stack=<stack>``, as the Terraform's
``default_labels`` do.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from pepperpy.cloud.catalog import regions as catalog_regions
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp.storage import label_value
from pepperpy.cloud.render.terraform_common import MANAGED_BY

MANAGED_BY_LABEL = "managed-by"
STACK_LABEL = "stack"

# Google Cloud's public regions (gcloud compute regions list, 2025). Cloud SQL, Cloud Run, Memorystore and Secret
# Manager are regional services offered in these; multi-regions ("us", "eu") and "global" are refused for them.
GCP_REGIONS = frozenset({
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
    "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1",
    "australia-southeast2", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1",
    "europe-west10", "europe-west12", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8",
    "europe-west9", "me-central1", "me-central2", "me-west1", "northamerica-northeast1", "northamerica-northeast2",
    "northamerica-south1", "southamerica-east1", "southamerica-west1", "us-central1", "us-east1", "us-east4",
    "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
})
MULTI_REGIONS = frozenset({"us", "eu", "asia", "global", "nam4", "eur4", "asia1"})

_SQL = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_REDIS = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_RUN = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def labels(stack: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, STACK_LABEL: label_value(stack)}


def is_ours(found: dict[str, str] | None, stack: str) -> bool:
    found = found or {}
    return found.get(MANAGED_BY_LABEL) == MANAGED_BY and found.get(STACK_LABEL) == label_value(stack)


def _check(value: str, ok: bool, what: str, rule: str) -> str:
    if not ok:
        raise InputError("name", f"GCP {what} id {value!r} is rejected by Google Cloud; use {rule}",
                         hint="fix: shorten or rename the stack or component")
    return value


def sql_instance(stack: str, name: str, project: str) -> str:
    value = f"{stack}-{name}"
    ok = bool(_SQL.match(value)) and len(f"{project}:{value}") <= 98
    return _check(value, ok, "Cloud SQL instance", "lowercase letters, digits and hyphens, starting with a letter, "
                  "at most 98 characters together with the project id")


def redis_instance(stack: str, name: str) -> str:
    value = f"{stack}-{name}"
    return _check(value, bool(_REDIS.match(value)), "Memorystore instance",
                  "1-40 lowercase letters, digits and hyphens, starting with a letter")


def run_service(stack: str, name: str) -> str:
    value = f"{stack}-{name.replace('_', '-')}"
    return _check(value, bool(_RUN.match(value)), "Cloud Run service",
                  "1-49 lowercase letters, digits and hyphens, starting with a letter")


def secret_id(stack: str, name: str) -> str:
    value = f"{stack}-{name}"
    return _check(value, bool(_SECRET.match(value)), "Secret Manager secret", "1-255 letters, digits, '_' and '-'")


def check_region(region: str, service: str) -> str:
    """Refuse what is not a Google Cloud region (a multi-region, a zone, another cloud's code), naming the closest."""
    code = region.strip()
    if code in GCP_REGIONS:
        return code
    if code in MULTI_REGIONS:
        why = " is a multi-region; this service is regional"
    elif re.match(r"^[a-z]+-[a-z]+\d+-[a-z]$", code) and code[:-2] in GCP_REGIONS:
        why = f" is a zone; use its region {code[:-2]!r}"
    else:
        other = next((r.provider for r in catalog_regions.REGIONS if r.code == code and r.provider != "gcp"), None)
        why = f" is not a Google Cloud region{f' (that is a {other.upper()} region)' if other else ''}"
    close = difflib.get_close_matches(code, sorted(GCP_REGIONS), n=3, cutoff=0.6)
    closest = f"; closest: {', '.join(close)}" if close else ""
    raise InputError("region", f"GCP {service}: {region!r}{why}{closest}",
                     hint="fix: pass GCPProvider(region=...) with a region such as 'us-central1' "
                          "(gcloud compute regions list)")


@dataclass(frozen=True)
class GcpTarget:
    """Where a stack's resources go: project, region and the stack (deployment) name."""

    project: str
    region: str
    stack: str

    @property
    def labels(self) -> dict[str, str]:
        return labels(self.stack)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"
