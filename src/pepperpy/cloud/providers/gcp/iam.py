"""IAM for a stack: its service account, and role bindings added and removed by read-modify-write of a policy.

The service account is ``<stack[:24]>-app@<project>.iam.gserviceaccount.com`` (the Terraform
renderer's ``google_service_account.app``); Cloud Run services run as it. Service accounts take no
labels, so ours say ``managed-by=pepperpy-cloud stack=<stack>`` in their description, read back as
labels. A binding is added with ``getIamPolicy`` → add the member to the role → ``setIamPolicy``
carrying the policy's ``etag``: a concurrent change makes Google answer 409 ``ABORTED`` and the
read-modify-write starts again (a few times), so nobody's binding is lost. Removal is the same with
the member taken out (an emptied binding is dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.gcp.naming import GcpTarget
from pepperpy.cloud.providers.gcp.rest import GcpClient, GcpRequest, GcpResource

HOST = "iam.googleapis.com"
CRM_HOST = "cloudresourcemanager.googleapis.com"
STORAGE_HOST = "storage.googleapis.com"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
REGISTRY_READER = "roles/artifactregistry.reader"
BUCKET_USER = "roles/storage.objectUser"
PUBLIC_VIEWER = "roles/storage.objectViewer"
SQL_CLIENT = "roles/cloudsql.client"
_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
ATTEMPTS = 4


def account_id(stack: str) -> str:
    """``<stack[:24]>-app``, checked against IAM's rule (6-30 characters, starting with a letter)."""
    value = f"{stack[:24].rstrip('-')}-app"
    if not _ACCOUNT.match(value):
        raise InputError("name", f"GCP service account id {value!r} is rejected by IAM; use 6-30 lowercase letters, "
                         "digits and hyphens, starting with a letter",
                         hint="fix: rename the stack (it must start with a letter and have at least 2 characters)")
    return value


def account_email(target: GcpTarget) -> str:
    return f"{account_id(target.stack)}@{target.project}.iam.gserviceaccount.com"


def member(target: GcpTarget) -> str:
    return f"serviceAccount:{account_email(target)}"


def _description(stack: str) -> str:
    return f"managed-by=pepperpy-cloud stack={stack}"


def _labels_of_description(found: dict[str, Any]) -> dict[str, Any]:
    pairs = [p.split("=", 1) for p in str(found.get("description") or "").split() if "=" in p]
    return {**found, "labels": {k: v for k, v in pairs}}


def service_account(target: GcpTarget) -> GcpResource:
    """Create (POST ``serviceAccounts`` with ``accountId``), read (by email) and delete the stack's account."""
    sid = account_id(target.stack)
    base = f"/v1/projects/{target.project}/serviceAccounts"
    email = account_email(target)
    body = {"accountId": sid, "serviceAccount": {"displayName": f"pepperpy-cloud {target.stack}",
                                                  "description": _description(target.stack)}}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (), "create service account", sid),
        read=GcpRequest("GET", HOST, f"{base}/{email}", None, (), "read service account", sid),
        delete=GcpRequest("DELETE", HOST, f"{base}/{email}", None, (), "delete service account", sid),
        pick=_labels_of_description,
    )


# ----------------------------------------------------------------- policies


@dataclass(frozen=True)
class PolicyOf:
    """Where one resource's IAM policy is read and written; ``wrap``: set takes ``{"policy": ...}``."""

    host: str
    resource: str  # the resource's path, e.g. /v1/projects/p/secrets/s
    what: str
    target: str
    get_method: str = "GET"
    get_suffix: str = ":getIamPolicy"
    set_method: str = "POST"
    set_suffix: str = ":setIamPolicy"
    wrap: bool = True

    def get(self) -> GcpRequest:
        body: dict[str, Any] | None = {} if self.get_method == "POST" else None
        return GcpRequest(self.get_method, self.host, f"{self.resource}{self.get_suffix}", body, (),
                          f"read IAM policy of {self.what}", self.target)

    def set(self, policy: dict[str, Any]) -> GcpRequest:
        body = {"policy": policy} if self.wrap else policy
        return GcpRequest(self.set_method, self.host, f"{self.resource}{self.set_suffix}", body, (),
                          f"set IAM policy of {self.what}", self.target)


def secret_policy(target: GcpTarget, sid: str) -> PolicyOf:
    return PolicyOf("secretmanager.googleapis.com", f"/v1/projects/{target.project}/secrets/{sid}", "secret", sid)


def repository_policy(target: GcpTarget, rid: str) -> PolicyOf:
    return PolicyOf("artifactregistry.googleapis.com", f"/v1/{target.parent}/repositories/{rid}",
                    "Artifact Registry repository", rid)


def bucket_policy(bucket: str) -> PolicyOf:
    return PolicyOf(STORAGE_HOST, f"/storage/v1/b/{bucket}", "bucket", bucket, get_suffix="/iam", set_method="PUT",
                    set_suffix="/iam", wrap=False)


def project_policy(project: str) -> PolicyOf:
    return PolicyOf(CRM_HOST, f"/v1/projects/{project}", "project", project, get_method="POST")


def _with(policy: dict[str, Any], role: str, who: str, present: bool) -> dict[str, Any] | None:
    """The policy with ``who`` in (or out of) ``role``; None when it already is as wanted."""
    bindings = [dict(b) for b in policy.get("bindings") or [] if isinstance(b, dict)]
    plain = [b for b in bindings if b.get("role") == role and not b.get("condition")]
    has = any(who in (b.get("members") or []) for b in plain)
    if has == present:
        return None
    if present:
        if plain:
            plain[0]["members"] = sorted({*plain[0].get("members", []), who})
        else:
            bindings.append({"role": role, "members": [who]})
    else:
        for b in plain:
            b["members"] = [m for m in b.get("members") or [] if m != who]
        bindings = [b for b in bindings if b.get("members")]
    out = {k: v for k, v in policy.items() if k != "bindings"}
    out["bindings"] = bindings
    return out


def set_member(client: GcpClient, where: PolicyOf, role: str, who: str, *, present: bool = True) -> bool:
    """Add (or remove) ``who`` in ``role`` on ``where``; whether the policy changed. Retries an etag conflict."""
    for attempt in range(ATTEMPTS):
        found = client.send(where.get())
        if found is None:
            if present:
                raise InputError("name", f"GCP read IAM policy of {where.what} {where.target!r}: it does not exist",
                                 hint="fix: deploy again (it is created first)")
            return False
        wanted = _with(found, role, who, present)
        if wanted is None:
            return False
        try:
            client.send(where.set(wanted))
        except PepperpyCloudError as exc:
            if "ABORTED" in str(exc) and attempt < ATTEMPTS - 1:
                continue  # someone changed the policy between our read and write: read it again
            raise
        return True
    raise AssertionError("unreachable")  # pragma: no cover
