"""GCP's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`: GCS buckets and Cloud SQL for PostgreSQL.

- **object_storage** → a GCS bucket, through :class:`~.storage.GcsResources` (unchanged).
- **postgres** → the Cloud SQL instance ``<name>-db`` (the builders' ``<stack>-<component>``
  with the resource as the stack) with the database ``app`` and the user ``pepperpy``,
  sent by :class:`~.rest.GcpClient`: creating again converges, a first create that
  fails half-way deletes what it made (deletion protection turned off first). The
  ``postgres`` and ``pepperpy`` passwords are generated into Secret Manager
  (``<name>-db-admin`` / ``<name>-db-password``) while the inserts are sent; the record
  keeps only the secret ids. ``connection_string`` reads the password from Secret
  Manager each time a handle is made (redacted in ``repr``/``to_dict``).
- **serverless** is refused: Cloud Run runs images, see ``deploy_stack``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pepperpy.cloud.errors import InputError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.gcp import cloudsql, secret_manager
from pepperpy.cloud.providers.gcp.naming import GcpTarget, check_region, is_ours, secret_id, sql_instance
from pepperpy.cloud.providers.gcp.rest import GcpClient, GcpResource, labels_of
from pepperpy.cloud.providers.gcp.storage import GcsResources
from pepperpy.cloud.resources.models import (
    DatabaseResource,
    Resource,
    ResourceRecord,
    ResourceSpec,
    StorageResource,
)

if TYPE_CHECKING:
    from pepperpy.cloud.providers.gcp import GCPProvider

COMPONENT = "db"
DATABASE = "app"
USER = "pepperpy"
ADMIN_SECRET = f"{COMPONENT}-admin"
USER_SECRET = f"{COMPONENT}-password"
_STATUS = {"RUNNABLE": "available", "PENDING_CREATE": "creating", "MAINTENANCE": "maintenance",
           "SUSPENDED": "suspended", "FAILED": "failed", "STOPPED": "stopped"}


class GcpResources:
    """Dispatches on the resource type: buckets to GCS, PostgreSQL to Cloud SQL over REST."""

    def __init__(self, provider: GCPProvider) -> None:
        self.provider = provider
        self.gcs = GcsResources(provider)
        self._client: tuple[GcpClient, str] | None = None

    def rest(self) -> tuple[GcpClient, str]:
        """The REST client and project, made on first use (credentials are checked here)."""
        if self._client is None:
            self._client = GcpClient.for_provider(self.provider)
        return self._client

    def target(self, name: str) -> GcpTarget:
        _, project = self.rest()
        return GcpTarget(project, check_region(self.provider.region, "Cloud SQL"), name)

    # -- the contract

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        if isinstance(spec, StorageResource):
            return self.gcs.create(spec, previous)
        if isinstance(spec, DatabaseResource):
            return self._create_postgres(spec)
        raise NotSupportedError(f"GCP cannot create {spec.type} resources: Cloud Run runs container images; "
                                "deploy the function as an app with CloudDeployment(provider=GCPProvider(...))")

    def handle(self, record: ResourceRecord) -> Resource:
        if record.type == "postgres":
            return self._postgres_handle(record)
        return self.gcs.handle(record)

    def delete(self, record: ResourceRecord) -> None:
        if record.type == "postgres":
            self._delete_postgres(record.name)
        else:
            self.gcs.delete(record)

    def managed_buckets(self) -> list[str]:
        """Buckets labelled as ours (see :meth:`GcsResources.managed_buckets`)."""
        return self.gcs.managed_buckets()

    # -- Cloud SQL

    def _parts(self, target: GcpTarget, spec: DatabaseResource) -> list[GcpResource]:
        """In creation order: the two password secrets, the instance, the database, the user."""
        instance = cloudsql.instance(target, COMPONENT, cloudsql.component_of(spec))
        return [secret_manager.secret(target, ADMIN_SECRET), secret_manager.secret(target, USER_SECRET), instance,
                cloudsql.database(target, COMPONENT, DATABASE), cloudsql.user(target, COMPONENT, USER)]

    def _create_postgres(self, spec: DatabaseResource) -> ResourceRecord:
        client, project = self.rest()
        target = self.target(spec.name)
        parts = self._parts(target, spec)
        client.resolve = secret_manager.SecretManagerSecrets(client, target)
        try:
            client.apply(parts, target.stack)
        finally:
            client.resolve = None
        found = client.read(parts[2]) or {}
        details = {"instance": found.get("name") or sql_instance(target.stack, COMPONENT, project),
                   "connection_name": found.get("connectionName"), "project": project, "region": target.region,
                   "database_version": found.get("databaseVersion"), "requested_version": spec.version,
                   "tier": (found.get("settings") or {}).get("tier"), "database": DATABASE, "user": USER,
                   "password_secret": secret_id(target.stack, USER_SECRET),
                   "admin_secret": secret_id(target.stack, ADMIN_SECRET), "labels": target.labels,
                   "extensions_to_create": ["vector" if e == "pgvector" else e for e in spec.extensions]}
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider.name,
                              spec=spec.model_dump(mode="json"), details=details)

    def _postgres_handle(self, record: ResourceRecord) -> Resource:
        details = dict(record.details)
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        try:
            client, _ = self.rest()
            target = self.target(record.name)
            found = client.read(self._parts(target, DatabaseResource(name=record.name))[2])
            if found is None:
                return Resource(status="missing", details=details, **common)
            conn = connection_string(found, self._password(client, target), details)
        except PepperpyCloudError as exc:
            details["error"] = str(exc)
            return Resource(status="unreachable", details=details, **common)
        details["ip_addresses"] = [a.get("ipAddress") for a in found.get("ipAddresses") or []]
        state = str(found.get("state") or "unknown")
        return Resource(status=_STATUS.get(state, state.lower()), connection_string=conn, details=details, **common)

    @staticmethod
    def _password(client: GcpClient, target: GcpTarget) -> str | None:
        import base64

        found = client.send(secret_manager.access_latest(target, USER_SECRET))
        data = ((found or {}).get("payload") or {}).get("data")
        return base64.b64decode(data).decode() if data else None

    def _delete_postgres(self, name: str) -> None:
        """Deletion protection off, the instance (its databases and users go with it), then both secrets."""
        client, _ = self.rest()
        target = self.target(name)
        parts = self._parts(target, DatabaseResource(name=name))
        for part in (parts[2], parts[0], parts[1]):
            found = client.read(part)
            if found is None:
                continue
            if not is_ours(labels_of(found), target.stack):
                raise InputError("name", f"GCP {part.create.what.replace('create ', '')} {part.create.target!r} is "
                                 "not managed by pepperpy-cloud for this resource; it was left alone",
                                 hint="fix: delete it yourself if it is yours")
            for step in part.teardown(found):
                client.send(step)


def connection_string(instance: dict[str, Any], password: str | None, details: dict[str, Any]) -> str | None:
    """``postgresql://pepperpy:<password>@<public IP>:5432/app?sslmode=require``, or through the connector's socket.

    Without a public IP (a private instance) the string names ``/cloudsql/<connection name>``, the
    Cloud SQL Auth Proxy's socket directory.
    """
    if password is None:
        return None
    secret = quote(password, safe="")
    user, db = details.get("user", USER), details.get("database", DATABASE)
    primary = next((a.get("ipAddress") for a in instance.get("ipAddresses") or []
                    if a.get("type") in ("PRIMARY", None) and a.get("ipAddress")), None)
    if primary:
        return f"postgresql://{user}:{secret}@{primary}:5432/{db}?sslmode=require"
    if instance.get("connectionName"):
        return f"postgresql://{user}:{secret}@/{db}?host=/cloudsql/{instance['connectionName']}"
    return None
