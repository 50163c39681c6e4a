"""Memorystore for Redis through the Redis API v1, shaped like the Terraform renderer's ``google_redis_instance``.

BASIC tier, or STANDARD_HA with read replicas and hourly RDB snapshots when the
component is replicated; memory from the component (at least 1 GB); Redis 7.2;
AUTH and TLS (server authentication) required; Sunday 03:00 maintenance; labelled.
The Terraform connects through private services access on the stack's VPC; given no
``network`` it is the project's ``default`` network by direct peering.
"""

from __future__ import annotations

import math
from typing import Any

from pepperpy.cloud.providers.gcp.naming import GcpTarget, check_region, redis_instance
from pepperpy.cloud.providers.gcp.rest import GcpRequest, GcpResource
from pepperpy.cloud.render.terraform_common import memory_gb
from pepperpy.cloud.spec.stack import Component

HOST = "redis.googleapis.com"


def body(target: GcpTarget, component: Component, network: str | None = None) -> dict[str, Any]:
    ha = component.replicas > 1
    out: dict[str, Any] = {
        "tier": "STANDARD_HA" if ha else "BASIC",
        "memorySizeGb": max(1, math.ceil(memory_gb(component))),
        "redisVersion": "REDIS_7_2",
        "authorizedNetwork": network or f"projects/{target.project}/global/networks/default",
        "connectMode": "PRIVATE_SERVICE_ACCESS" if network else "DIRECT_PEERING",
        "authEnabled": True, "transitEncryptionMode": "SERVER_AUTHENTICATION",
        "labels": target.labels,
    }
    if ha:
        out |= {"replicaCount": component.replicas - 1, "readReplicasMode": "READ_REPLICAS_ENABLED",
                "persistenceConfig": {"persistenceMode": "RDB", "rdbSnapshotPeriod": "ONE_HOUR"}}
    out["maintenancePolicy"] = {"weeklyMaintenanceWindow": [{"day": "SUNDAY", "startTime": {"hours": 3,
                                                                                             "minutes": 0}}]}
    return out


def instance(target: GcpTarget, name: str, component: Component, network: str | None = None) -> GcpResource:
    """Create (POST ``?instanceId=``), read, resize/relabel (PATCH with an update mask) and delete the instance."""
    check_region(target.region, "Memorystore for Redis")
    iid = redis_instance(target.stack, name)
    base = f"/v1/{target.parent}/instances"
    spec = body(target, component, network)
    patch = {"memorySizeGb": spec["memorySizeGb"], "labels": spec["labels"]}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, spec, (("instanceId", iid),), "create Memorystore instance", iid,
                          "google"),
        read=GcpRequest("GET", HOST, f"{base}/{iid}", None, (), "read Memorystore instance", iid),
        update=GcpRequest("PATCH", HOST, f"{base}/{iid}", patch, (("updateMask", "memory_size_gb,labels"),),
                          "update Memorystore instance", iid, "google"),
        delete=GcpRequest("DELETE", HOST, f"{base}/{iid}", None, (), "delete Memorystore instance", iid, "google"),
    )


def auth_string(target: GcpTarget, name: str) -> GcpRequest:
    """GET the instance's AUTH string (handed to the services only through Secret Manager)."""
    iid = redis_instance(target.stack, name)
    return GcpRequest("GET", HOST, f"/v1/{target.parent}/instances/{iid}/authString", None, (),
                      "read Memorystore AUTH string", iid)


def list_instances(target: GcpTarget) -> GcpRequest:
    """The region's Memorystore instances (filtered by label on our side: the v1 list has no filter)."""
    return GcpRequest("GET", HOST, f"/v1/{target.parent}/instances", None, (), "list Memorystore instances",
                      target.stack)
