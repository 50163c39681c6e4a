"""Cloud SQL for PostgreSQL through the Cloud SQL Admin API v1, shaped like the Terraform renderer's instance.

The tier comes from the renderer's ``_db_tier`` (``db-custom-<cpu>-<MiB>`` or the
explicit class), the version is ``POSTGRES_<major>``; backups at 03:00 with
point-in-time recovery, 30 kept; SSL required; the renderer's database flags (IAM
sign-in, pgaudit, connection logs); query insights; maintenance Sunday 03:00;
deletion protection; ``settings.userLabels`` carry ``managed-by`` and ``stack``.
pgvector needs no flag on Cloud SQL: ``CREATE EXTENSION vector`` works as is.

Departures, with reasons: seed 000's ``DatabaseResource`` hands the app a
connection string, so the ``postgres`` user also gets a password, a
:class:`~.rest.SecretRef` to Secret Manager resolved only while the insert is sent;
and without ``private_network`` (the stack's VPC with private services access) the
instance has a public IP with no authorized networks, reachable only through the
Cloud SQL connectors and Auth Proxy.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp.naming import GcpTarget, check_region, sql_instance
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource, SecretRef
from pepperpy.cloud.render.terraform_common import storage_gb
from pepperpy.cloud.render.terraform_gcp import DB_ENGINES, POSTGRES_FLAGS, _db_tier
from pepperpy.cloud.resources.models import DatabaseResource
from pepperpy.cloud.spec.stack import Component

HOST = "sqladmin.googleapis.com"
VERSIONS = ("10", "11", "12", "13", "14", "15", "16", "17")


def component_of(resource: DatabaseResource) -> Component:
    """Seed 000's ``DatabaseResource`` as the stack component the builders size from."""
    return Component(kind="postgres", version=resource.version, size=resource.size, storage=resource.storage,
                     extensions=list(resource.extensions))


def database_version(component: Component) -> str:
    engine, default = DB_ENGINES["postgres"]
    major = (component.version or default).split(".")[0]
    if major not in VERSIONS:
        raise InputError("version", f"Cloud SQL does not offer PostgreSQL {major!r}",
                         hint=f"fix: use one of {', '.join(VERSIONS)}")
    return f"{engine}_{major}"


def root_password(target: GcpTarget, name: str) -> SecretRef:
    """The Secret Manager secret holding the ``postgres`` password (generated on first use)."""
    return SecretRef(f"{name}-admin", generate=True)


def settings(target: GcpTarget, component: Component, *, high_availability: bool = True,
             private_network: str | None = None) -> dict[str, Any]:
    ip: dict[str, Any] = {"ipv4Enabled": private_network is None, "sslMode": "ENCRYPTED_ONLY"}
    if private_network:
        ip |= {"privateNetwork": private_network, "enablePrivatePathForGoogleCloudServices": True}
    return {
        "tier": _db_tier(component), "edition": "ENTERPRISE",
        "availabilityType": "REGIONAL" if high_availability else "ZONAL",
        "dataDiskType": "PD_SSD", "dataDiskSizeGb": str(storage_gb(component, 10)), "storageAutoResize": True,
        "deletionProtectionEnabled": True, "userLabels": target.labels,
        "backupConfiguration": {
            "enabled": True, "startTime": "03:00", "pointInTimeRecoveryEnabled": True,
            "transactionLogRetentionDays": 7,
            "backupRetentionSettings": {"retainedBackups": 30, "retentionUnit": "COUNT"}},
        "ipConfiguration": ip,
        "databaseFlags": [{"name": n, "value": v} for n, v in POSTGRES_FLAGS],
        "insightsConfig": {"queryInsightsEnabled": True},
        "maintenanceWindow": {"day": 7, "hour": 3},
    }


def instance(target: GcpTarget, name: str, component: Component, **options: Any) -> GcpResource:
    """Insert (POST ``/v1/projects/<p>/instances``), read, PATCH settings, and delete ``<stack>-<name>``."""
    check_region(target.region, "Cloud SQL")
    iid = sql_instance(target.stack, name, target.project)
    base = f"/v1/projects/{target.project}/instances"
    body = {"name": iid, "region": target.region, "databaseVersion": database_version(component),
            "rootPassword": root_password(target, name), "settings": settings(target, component, **options)}
    patch = {"settings": settings(target, component, **options)}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (), "create Cloud SQL instance", iid, "sql"),
        read=GcpRequest("GET", HOST, f"{base}/{iid}", None, (), "read Cloud SQL instance", iid),
        update=GcpRequest("PATCH", HOST, f"{base}/{iid}", patch, (), "update Cloud SQL instance", iid, "sql"),
        delete=GcpRequest("DELETE", HOST, f"{base}/{iid}", None, (), "delete Cloud SQL instance", iid, "sql"),
        unprotect=unprotect(target, name),
    )


def unprotect(target: GcpTarget, name: str) -> GcpRequest:
    """PATCH deletion protection off: the one step before a deliberate delete (or a failed first create's undo)."""
    iid = sql_instance(target.stack, name, target.project)
    return GcpRequest("PATCH", HOST, f"/v1/projects/{target.project}/instances/{iid}",
                      {"settings": {"deletionProtectionEnabled": False}}, (), "unprotect Cloud SQL instance", iid,
                      "sql")


def database(target: GcpTarget, name: str, db: str = "app") -> GcpResource:
    """The application database ``app`` on the instance (UTF8), as in the Terraform."""
    iid = sql_instance(target.stack, name, target.project)
    base = f"/v1/projects/{target.project}/instances/{iid}/databases"
    return GcpResource(
        create=GcpRequest("POST", HOST, base, {"name": db, "charset": "UTF8"}, (), "create database", iid, "sql"),
        read=GcpRequest("GET", HOST, f"{base}/{db}", None, (), "read database", iid),
        delete=GcpRequest("DELETE", HOST, f"{base}/{db}", None, (), "delete database", iid, "sql"),
        child=True,
    )


def user_password(name: str) -> SecretRef:
    """The Secret Manager secret holding the application user's password (generated on first use)."""
    return SecretRef(f"{name}-password", generate=True)


def user(target: GcpTarget, name: str, login: str = "pepperpy") -> GcpResource:
    """The application's built-in user, its password a :class:`SecretRef` (set on insert, left as found after).

    Cloud SQL addresses a user by ``?name=`` for update and delete (users.update / users.delete).
    """
    iid = sql_instance(target.stack, name, target.project)
    base = f"/v1/projects/{target.project}/instances/{iid}/users"
    body = {"name": login, "password": user_password(name)}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (), "create database user", iid, "sql"),
        read=GcpRequest("GET", HOST, f"{base}/{login}", None, (), "read database user", iid),
        delete=GcpRequest("DELETE", HOST, base, None, (("name", login),), "delete database user", iid, "sql"),
        child=True,
    )


def list_instances(target: GcpTarget) -> GcpRequest:
    """The project's Cloud SQL instances labelled for this stack (``settings.userLabels`` filter)."""
    return GcpRequest("GET", HOST, f"/v1/projects/{target.project}/instances", None,
                      (("filter", f"settings.userLabels.stack:{target.labels['stack']}"),),
                      "list Cloud SQL instances", target.stack)
