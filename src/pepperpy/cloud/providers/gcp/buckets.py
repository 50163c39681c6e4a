"""A stack's GCS buckets through the Cloud Storage JSON API, shaped like the Terraform renderer's buckets.

One bucket per entry of ``buckets`` (plus ``backups`` when the stack stores data, as the
renderer does), named ``<project>-<stack>-<bucket>`` (names are global; the project makes
them ours); in the stack's region, STANDARD class, uniform bucket-level access, public access
prevented unless ``access_policy: public-read`` (then ``allUsers`` may read objects), versioned
as asked, labelled. Teardown deletes every object generation first (a bucket must be empty).
Departure: no CMEK key is created (the Terraform makes one); Google-managed encryption applies.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.gcp.naming import GcpTarget
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource
from pepperpy.cloud.providers.gcp.storage import bucket_name

HOST = "storage.googleapis.com"
BASE = "/storage/v1/b"


def name_of(target: GcpTarget, bucket: str) -> str:
    """``<project>-<stack>-<bucket>``, checked against GCS's rules before any call."""
    return bucket_name(f"{target.project}-{target.stack}-{bucket}".replace("_", "-"))


def body(target: GcpTarget, bucket: str, *, versioning: bool, private: bool) -> dict[str, Any]:
    return {"name": name_of(target, bucket), "location": target.region.upper(), "storageClass": "STANDARD",
            "labels": target.labels, "versioning": {"enabled": versioning},
            "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                                 "publicAccessPrevention": "enforced" if private else "inherited"}}


def bucket(target: GcpTarget, name: str, *, versioning: bool = False, private: bool = True) -> GcpResource:
    """Insert (POST ``?project=``), read, PATCH (labels, versioning, access) and delete the bucket."""
    bid = name_of(target, name)
    spec = body(target, name, versioning=versioning, private=private)
    patch = {k: v for k, v in spec.items() if k in ("labels", "versioning", "iamConfiguration")}
    return GcpResource(
        create=GcpRequest("POST", HOST, BASE, spec, (("project", target.project),), "create bucket", bid),
        read=GcpRequest("GET", HOST, f"{BASE}/{bid}", None, (), "read bucket", bid),
        update=GcpRequest("PATCH", HOST, f"{BASE}/{bid}", patch, (), "update bucket", bid),
        delete=GcpRequest("DELETE", HOST, f"{BASE}/{bid}", None, (), "delete bucket", bid),
    )


def list_buckets(target: GcpTarget) -> GcpRequest:
    """The project's buckets named for this stack (filtered by label on our side)."""
    return GcpRequest("GET", HOST, BASE, None, (("project", target.project),
                                                ("prefix", f"{target.project}-{target.stack}-")),
                      "list buckets", target.stack)


def list_objects(bid: str) -> GcpRequest:
    """Every object generation of the bucket (``versions=true``), to empty it before the delete."""
    return GcpRequest("GET", HOST, f"{BASE}/{bid}/o", None, (("versions", "true"),), "list objects", bid)


def delete_object(bid: str, name: str, generation: str | None) -> GcpRequest:
    from urllib.parse import quote

    query = (("generation", generation),) if generation else ()
    return GcpRequest("DELETE", HOST, f"{BASE}/{bid}/o/{quote(name, safe='')}", None, query, "delete object", bid)
