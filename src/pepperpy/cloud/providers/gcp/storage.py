"""GCP's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`: object storage as GCS buckets.

A ``StorageResource`` named ``pepperpy-data`` is the bucket ``pepperpy-data``
(deterministic, so creating again finds it and converges). Every bucket gets
the labels ``managed-by=pepperpy-cloud`` and ``pepperpy-resource=<name>``,
uniform bucket-level access, public access prevention unless
``access_policy="public-read"`` (then ``allUsers`` may read objects), and object
versioning when asked. A bucket of that name without our labels is neither
adopted nor deleted.

The bucket is created with all of that in the insert, then read back and
patched where it differs: the same code converges a bucket someone changed, and
works against emulators that keep only the name on insert. A first create that
fails after the bucket appeared deletes it again. Every call uses Google's
retry (429, 5xx, connection resets) with exponential backoff and a deadline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pepperpy.cloud.errors import InputError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.base import CloudProvider
from pepperpy.cloud.providers.gcp.auth import GcsAccess, resolve_gcs_access, sdk
from pepperpy.cloud.providers.gcp.errors import translate
from pepperpy.cloud.resources.models import Resource, ResourceError, ResourceRecord, ResourceSpec, StorageResource
from pepperpy.cloud.spec.quantities import parse_size_gb

T = TypeVar("T")
MANAGED_BY_KEY = "managed-by"
MANAGED_BY = "pepperpy-cloud"
NAME_KEY = "pepperpy-resource"
PUBLIC_ROLE = "roles/storage.objectViewer"
BUCKET_RULE = "3-63 lowercase letters, digits, '-' or '_', not starting with 'goog' nor containing 'google'"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")
_GOOGLE = re.compile(r"g[o0]{2}g[l1]e")
_NO_EMULATOR = ("needs {what}, which has no emulator here and is not implemented yet; use LocalProvider, or "
                "render Terraform with 'pepperpy-cloud render -t terraform'")
_UNSUPPORTED = {"postgres": "Cloud SQL for PostgreSQL (Cloud SQL Admin API)", "serverless": "Cloud Run (Admin API)"}


def bucket_name(name: str) -> str:
    """The bucket for a resource: the name itself, checked against GCS's rules before any call."""
    if not _BUCKET.match(name) or name.startswith("goog") or _GOOGLE.search(name):
        raise InputError("name", f"{name!r} is not a valid GCS bucket name; use {BUCKET_RULE}")
    return name


def label_value(text: str) -> str:
    """A GCS label value: at most 63 lowercase letters, digits, '-' or '_' (anything else becomes '-')."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def managed_labels(name: str) -> dict[str, str]:
    return {MANAGED_BY_KEY: MANAGED_BY, NAME_KEY: label_value(name)}


class GcsResources:
    """Creates, reads and removes GCS buckets for ``ResourceManager``."""

    def __init__(self, provider: CloudProvider) -> None:
        self.provider = provider
        self._access: GcsAccess | None = None
        self._client: Any = None

    # -- plumbing

    def client(self) -> Any:
        """The storage Client, made on first use (credentials are checked here, before any call)."""
        if self._client is None:
            storage = sdk("google.cloud.storage")
            self._access = resolve_gcs_access(self.provider)
            options = {"api_endpoint": self._access.endpoint} if self.provider.endpoint_url else None
            try:
                self._client = storage.Client(project=self._access.project, credentials=self._access.credentials,
                                              client_options=options)
            except ValueError as exc:
                raise InputError("endpoint_url", f"GCP: cannot use this endpoint ({type(exc).__name__})",
                                 hint="use http://127.0.0.1:<port> for an emulator, or leave it out") from None
        return self._client

    def retry(self) -> Any:
        """Google's storage retry policy with our backoff and deadline (options on the provider)."""
        base = sdk("google.cloud.storage.retry").DEFAULT_RETRY
        initial = float(self.provider.options.get("retry_backoff", 1.0))
        deadline = float(self.provider.options.get("retry_deadline", 60.0))
        return base.with_delay(initial=initial, maximum=max(initial * 16, 1.0), multiplier=2.0).with_timeout(deadline)

    def _timeout(self) -> tuple[float, float]:
        return (float(self.provider.options.get("connection_timeout", 10)),
                float(self.provider.options.get("read_timeout", 60)))

    def _call(self, operation: str, target: str, fn: Callable[[], T]) -> T:
        """Run SDK calls; translate anything they raise into one line naming the operation and the fix."""
        try:
            return fn()
        except PepperpyCloudError:
            raise
        except Exception as exc:
            raise translate(exc, operation, target, self._access) from None

    def _lookup(self, name: str) -> Any:
        client = self.client()
        return self._call("read bucket", name, lambda: client.lookup_bucket(name, retry=self.retry(),
                                                                              timeout=self._timeout()))

    def _url(self, name: str) -> str:
        return f"gs://{name}"

    # -- create

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        if not isinstance(spec, StorageResource):
            what = _UNSUPPORTED.get(spec.type, spec.type)
            raise NotSupportedError(f"GCP cannot create {spec.type} resources: " + _NO_EMULATOR.format(what=what))
        name = bucket_name(spec.name)
        bucket = self._lookup(name)
        if bucket is None:
            bucket = self._create_bucket(spec)
        else:
            self._check_ours(bucket, name)
            self._converge(bucket, spec)
        size = parse_size_gb(spec.size, "size") if spec.size is not None else None
        access = self._access
        details = {"bucket": name, "url": self._url(name), "project": access.project if access else None,
                   "location": bucket.location, "access_policy": spec.access_policy, "versioning": spec.versioning,
                   "uniform_bucket_level_access": True, "labels": managed_labels(name),
                   "size_gb": str(size) if size is not None else None, "endpoint": access.endpoint if access else None,
                   "credential_source": access.source if access else None}
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider.name,
                              spec=spec.model_dump(mode="json"), details=details)

    def _desired(self, bucket: Any, spec: StorageResource) -> None:
        """Set what the spec asks for on a bucket object (no call)."""
        bucket.labels = {**(bucket.labels or {}), **managed_labels(spec.name)}
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = (
            "inherited" if spec.access_policy == "public-read" else "enforced")
        bucket.versioning_enabled = spec.versioning

    def _create_bucket(self, spec: StorageResource) -> Any:
        """Insert the bucket with everything set, then converge; on failure remove what appeared."""
        client = self.client()
        bucket = client.bucket(spec.name)
        self._desired(bucket, spec)
        location = self.provider.region.upper() if self.provider.region else None
        self._call("create bucket", spec.name, lambda: client.create_bucket(
            bucket, location=location, retry=self.retry(), timeout=self._timeout()))
        try:
            self._converge(bucket, spec)
        except BaseException:
            self._remove(spec.name, check=False, quiet=True)
            raise
        return bucket

    def _converge(self, bucket: Any, spec: StorageResource) -> None:
        """Read the bucket back; patch labels, access and versioning where they differ; then its IAM."""
        self._call("read bucket", spec.name, lambda: bucket.reload(retry=self.retry(), timeout=self._timeout()))
        before = (dict(bucket.labels or {}), bucket.iam_configuration.uniform_bucket_level_access_enabled,
                  bucket.iam_configuration.public_access_prevention, bool(bucket.versioning_enabled))
        self._desired(bucket, spec)
        after = (dict(bucket.labels or {}), True, bucket.iam_configuration.public_access_prevention, spec.versioning)
        if before != after:
            self._call("update bucket", spec.name, lambda: bucket.patch(retry=self.retry(), timeout=self._timeout()))
        self._converge_iam(bucket, spec)

    def _converge_iam(self, bucket: Any, spec: StorageResource) -> None:
        """``public-read``: allUsers may read objects; ``private``: that binding is removed if present."""
        policy = self._call("read IAM of bucket", spec.name, lambda: bucket.get_iam_policy(
            requested_policy_version=3, retry=self.retry(), timeout=self._timeout()))
        bindings = [dict(b) for b in policy.bindings]
        public = any(b.get("role") == PUBLIC_ROLE and "allUsers" in b.get("members", ()) for b in bindings)
        want = spec.access_policy == "public-read"
        if public == want:
            return
        if want:
            bindings.append({"role": PUBLIC_ROLE, "members": {"allUsers"}})
        else:
            for b in bindings:
                if b.get("role") == PUBLIC_ROLE:
                    b["members"] = set(b.get("members", ())) - {"allUsers"}
            bindings = [b for b in bindings if b.get("members")]
        policy.bindings = bindings
        self._call("set IAM of bucket", spec.name, lambda: bucket.set_iam_policy(policy, retry=self.retry(),
                                                                                   timeout=self._timeout()))

    @staticmethod
    def _check_ours(bucket: Any, name: str) -> None:
        labels = bucket.labels or {}
        if labels.get(MANAGED_BY_KEY) != MANAGED_BY or labels.get(NAME_KEY) != label_value(name):
            raise InputError("name", f"GCS bucket {name!r} exists and is not managed by pepperpy-cloud",
                             hint=f"pick another resource name, or label the bucket {MANAGED_BY_KEY}={MANAGED_BY} "
                                  f"and {NAME_KEY}={label_value(name)} to adopt it")

    # -- handle

    def handle(self, record: ResourceRecord) -> Resource:
        details = dict(record.details)
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        try:
            bucket = self._lookup(record.name)
        except PepperpyCloudError as exc:
            details["error"] = str(exc)
            return Resource(status="unreachable", url=details.get("url"), details=details, **common)
        if bucket is None:
            return Resource(status="missing", details=details, **common)
        details["location"] = bucket.location
        return Resource(status="available", url=self._url(record.name), details=details, **common)

    # -- delete

    def delete(self, record: ResourceRecord) -> None:
        """Delete every object (every version) and then the bucket; a bucket already gone is fine."""
        if record.type == "object_storage":
            self._remove(record.name, check=True, quiet=False)

    def _remove(self, name: str, *, check: bool, quiet: bool) -> None:
        try:
            bucket = self._lookup(name)
            if bucket is None:
                return
            if check:
                self._check_ours(bucket, name)
            client = self.client()
            api = sdk("google.api_core.exceptions", "google-api-core")

            def empty_and_delete() -> None:
                for blob in client.list_blobs(bucket, versions=True, retry=self.retry(), timeout=self._timeout()):
                    try:
                        bucket.delete_blob(blob.name, generation=blob.generation, retry=self.retry(),
                                           timeout=self._timeout())
                    except api.NotFound:
                        continue
                try:
                    bucket.delete(retry=self.retry(), timeout=self._timeout())
                except api.NotFound:
                    return

            self._call("delete bucket", name, empty_and_delete)
            if self._lookup(name) is not None:
                raise ResourceError(f"GCP delete bucket {name!r}: it still exists after deletion",
                                    hint="fix: check for a retention policy or object holds on the bucket")
        except Exception:
            if not quiet:
                raise

    # -- discovery

    def managed_buckets(self) -> list[str]:
        """Names of every bucket in the project labelled as ours (to find anything left unrecorded)."""
        client = self.client()
        return self._call("list buckets", "*", lambda: [
            b.name for b in client.list_buckets(retry=self.retry(), timeout=self._timeout())
            if (b.labels or {}).get(MANAGED_BY_KEY) == MANAGED_BY])
