"""Secret Manager: the secret (a named container, labelled) and its versions (the values), and the resolver.

Secrets are ``<stack>-<name>`` with automatic replication, as the Terraform renderer
creates them. A version's payload is a :class:`~.rest.SecretRef` (base64): the value
is put in only while the request is sent, and read back from ``versions/latest:access``.
"""

from __future__ import annotations

import base64
import secrets as _secrets
from collections.abc import Callable

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.gcp.naming import GcpTarget, secret_id
from pepperpy.cloud.providers.gcp.rest import GcpClient, GcpRequest, GcpResource, SecretRef

HOST = "secretmanager.googleapis.com"


def secret(target: GcpTarget, name: str) -> GcpResource:
    """Create (POST ``?secretId=``), read, relabel (PATCH ``updateMask=labels``) and delete the secret."""
    sid = secret_id(target.stack, name)
    base = f"/v1/projects/{target.project}/secrets"
    body = {"replication": {"automatic": {}}, "labels": target.labels}
    return GcpResource(
        create=GcpRequest("POST", HOST, base, body, (("secretId", sid),), "create secret", sid),
        read=GcpRequest("GET", HOST, f"{base}/{sid}", None, (), "read secret", sid),
        update=GcpRequest("PATCH", HOST, f"{base}/{sid}", {"labels": target.labels}, (("updateMask", "labels"),),
                          "label secret", sid),
        delete=GcpRequest("DELETE", HOST, f"{base}/{sid}", None, (), "delete secret", sid),
    )


def add_version(target: GcpTarget, name: str, ref: SecretRef | None = None) -> GcpRequest:
    """POST ``:addVersion`` with the value as a reference (base64), resolved only when sent."""
    sid = secret_id(target.stack, name)
    value = ref or SecretRef(name, base64=True)
    if not value.base64:
        value = SecretRef(value.name, base64=True, generate=value.generate)
    return GcpRequest("POST", HOST, f"/v1/projects/{target.project}/secrets/{sid}:addVersion",
                      {"payload": {"data": value}}, (), "add secret version", sid)


def access_latest(target: GcpTarget, name: str) -> GcpRequest:
    sid = secret_id(target.stack, name)
    return GcpRequest("GET", HOST, f"/v1/projects/{target.project}/secrets/{sid}/versions/latest:access", None, (),
                      "read secret", sid)


def latest_version(target: GcpTarget, name: str) -> GcpRequest:
    """GET the latest version's metadata (not its value): whether the secret has a value at all."""
    sid = secret_id(target.stack, name)
    return GcpRequest("GET", HOST, f"/v1/projects/{target.project}/secrets/{sid}/versions/latest", None, (),
                      "read secret version", sid)


def list_secrets(target: GcpTarget) -> GcpRequest:
    """The project's secrets labelled for this stack (Secret Manager filters on labels server-side)."""
    return GcpRequest("GET", HOST, f"/v1/projects/{target.project}/secrets", None,
                      (("filter", f"labels.stack={target.labels['stack']}"),), "list secrets", target.stack)


class SecretManagerSecrets:
    """Resolves :class:`SecretRef` from Secret Manager while a request is sent; makes generated ones once."""

    def __init__(self, client: GcpClient, target: GcpTarget, source: Callable[[str], str | None] | None = None) -> None:
        self.client = client
        self.target = target
        self.source = source  # the user's values for secrets not stored yet (e.g. the local secret store)

    def __call__(self, ref: SecretRef) -> str:
        found = self.client.send(access_latest(self.target, ref.name))
        data = ((found or {}).get("payload") or {}).get("data")
        if data:
            return base64.b64decode(data).decode()
        value = _secrets.token_urlsafe(32) if ref.generate else (self.source(ref.name) if self.source else None)
        sid = secret_id(self.target.stack, ref.name)
        if not value:
            raise InputError("secrets", f"GCP Secret Manager has no value for {sid!r}",
                             hint=f"fix: gcloud secrets versions add {sid} --data-file=VALUE_FILE")
        self.client.ensure(secret(self.target, ref.name), self.target.stack)
        self.client.send(add_version(self.target, ref.name, ref), resolve=lambda _ref: value)
        return value
