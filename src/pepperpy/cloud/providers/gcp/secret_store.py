"""``${SECRET:name}`` on GCP: the Secret Manager secret ``<secrets_prefix><name>`` of the provider's project.

The same surface as the local :class:`~pepperpy.cloud.deploy.secrets.SecretStore` and
``AWSSecretStore`` (``set``, ``get``, ``names``, ``delete``, ``resolve``, ``redactor``). A secret
set here is labelled ``managed-by=pepperpy-cloud`` and ``pepperpy-role=secret-store``; ``names``
lists only those (Secret Manager filters on the label), ``delete`` deletes only those, and ``set``
refuses to write into a secret of that id that is not ours. ``get``/``resolve`` read any secret the
credentials may read. Values travel only in ``addVersion`` bodies and ``:access`` answers: never in
errors, ``repr`` or listings. Secret Manager ids take letters, digits, ``_`` and ``-`` (no ``.``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pepperpy.cloud.catalog.store import closest
from pepperpy.cloud.deploy.secrets import CloudSecretStore, validate_name
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.providers.gcp.rest import GcpClient, GcpRequest, labels_of
from pepperpy.cloud.providers.gcp.secret_manager import HOST
from pepperpy.cloud.render.terraform_common import MANAGED_BY

if TYPE_CHECKING:
    from pepperpy.cloud.providers.gcp import GCPProvider

ROLE_LABEL = "pepperpy-role"
ROLE = "secret-store"
LABELS = {"managed-by": MANAGED_BY, ROLE_LABEL: ROLE}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class GCPSecretStore(CloudSecretStore):
    """Secret Manager as the provider's secret store; see the module docstring."""

    def __init__(self, provider: GCPProvider) -> None:
        self.provider = provider
        self.prefix = str(provider.options.get("secrets_prefix", ""))
        self._rest: tuple[GcpClient, str] | None = None

    def __repr__(self) -> str:
        return f"GCPSecretStore(project={self.provider.project!r}, prefix={self.prefix!r})"

    def rest(self) -> tuple[GcpClient, str]:
        if self._rest is None:
            self._rest = GcpClient.for_provider(self.provider)
        return self._rest

    def _id(self, name: str) -> str:
        sid = f"{self.prefix}{validate_name(name)}"
        if not _ID.match(sid):
            raise InputError("secret name", f"{sid!r} is not a Secret Manager id (letters, digits, '_' and '-')",
                             hint="rename the secret without '.'")
        return sid

    def _base(self) -> str:
        return f"/v1/projects/{self.rest()[1]}/secrets"

    def _read(self, sid: str) -> dict[str, object] | None:
        return self.rest()[0].send(GcpRequest("GET", HOST, f"{self._base()}/{sid}", None, (), "read secret", sid))

    @staticmethod
    def _ours(found: Mapping[str, object]) -> bool:
        labels = labels_of(dict(found))
        return labels.get("managed-by") == MANAGED_BY and labels.get(ROLE_LABEL) == ROLE

    def set(self, name: str, value: str) -> None:
        """Create the secret (labelled) if missing, then add a version holding ``value``."""
        sid = self._id(name)
        if not isinstance(value, str) or not value:
            raise InputError("secret value", f"the value of {name!r} is empty")
        client, _ = self.rest()
        found = self._read(sid)
        if found is None:
            client.send(GcpRequest("POST", HOST, self._base(), {"replication": {"automatic": {}}, "labels": LABELS},
                                   (("secretId", sid),), "create secret", sid))
        elif not self._ours(found):
            raise InputError("secret name", f"GCP secret {sid!r} exists and was not set by pepperpy-cloud; it was "
                             "left alone", hint="fix: pick another name, or add a version yourself (gcloud secrets "
                                                "versions add)")
        client.send(GcpRequest("POST", HOST, f"{self._base()}/{sid}:addVersion",
                               {"payload": {"data": base64.b64encode(value.encode()).decode()}}, (),
                               "add secret version", sid))

    def get(self, name: str) -> str:
        sid = self._id(name)
        found = self.rest()[0].send(GcpRequest("GET", HOST, f"{self._base()}/{sid}/versions/latest:access", None, (),
                                               "read secret", sid))
        data = ((found or {}).get("payload") or {}).get("data")
        if not data:
            raise self._missing(name)
        return base64.b64decode(data).decode()

    def names(self) -> list[str]:
        """The secrets this store set (labelled), by their ``${SECRET:name}`` name."""
        from pepperpy.cloud.providers.gcp.stack import list_all

        client, _ = self.rest()
        listing = GcpRequest("GET", HOST, self._base(), None, (("filter", f"labels.{ROLE_LABEL}={ROLE}"),),
                             "list secrets", "secret store")
        found = []
        for item in list_all(client, listing, "secrets"):
            sid = str(item.get("name", "")).rsplit("/", 1)[-1]
            if self._ours(item) and sid.startswith(self.prefix):
                found.append(sid[len(self.prefix):])
        return sorted(found)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._read(self._id(name)) is not None

    def delete(self, name: str) -> None:
        """Delete the secret and all its versions; only secrets this store set."""
        sid = self._id(name)
        found = self._read(sid)
        if found is None:
            raise self._missing(name)
        if not self._ours(found):
            raise InputError("secret name", f"{name!r} was not set by pepperpy-cloud; it was left alone",
                             hint="delete it in Secret Manager yourself if it is yours")
        self.rest()[0].send(GcpRequest("DELETE", HOST, f"{self._base()}/{sid}", None, (), "delete secret", sid))

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError("secret", name, "secret", suggestions=closest(name, self.names()),
                             hint=f"create it in Secret Manager as {self.prefix}{name}, or with "
                                  "GCPProvider(...).secret_store().set(name, value)")
