"""``${SECRET:name}`` on Azure: secrets of a Key Vault, with the local secret store's surface.

``set``, ``get``, ``names``, ``delete``, ``resolve`` and ``redactor``, as
:class:`~pepperpy.cloud.providers.aws.secrets.AWSSecretStore` has them. The vault is
``AzureProvider(..., key_vault="<name>")`` when given (an existing vault: its data plane
only is used), else the subscription's shared vault that ``ResourceManager`` keeps its
PostgreSQL passwords in (``pepperpy<sub8>kv<suffix>`` in ``pepperpy-<sub8>-rg``), made on
the first ``set``. A ``${SECRET:name}`` is the Key Vault secret ``name`` with ``_`` as ``-``.

A secret set here is tagged ``managed-by=pepperpy-cloud`` and ``pepperpy-cloud-secret=<name>``;
``names`` lists only those and ``delete``/``set`` refuse one that is not ours, while
``get``/``resolve`` read any secret the identity may read. A value is sent only in the
secret's PUT (the request holds a :class:`~.arm.SecretRef`, filled in while it is sent)
and never appears in errors, ``repr`` or listings. ``delete`` is Key Vault's delete: with
purge protection on, the secret stays recoverable for the vault's retention period and its
name cannot be set again until it is recovered (``az keyvault secret recover``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pepperpy.cloud.catalog.store import closest
from pepperpy.cloud.deploy.secrets import CloudSecretStore, validate_name
from pepperpy.cloud.errors import InputError, NotFoundError, PepperpyCloudError
from pepperpy.cloud.providers.azure import foundation, keyvault
from pepperpy.cloud.providers.azure.arm import ArmClient, ArmRequest, SecretRef
from pepperpy.cloud.providers.azure.naming import MANAGED_BY, MANAGED_BY_TAG, key_vault, kv_secret

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure import AzureProvider
    from pepperpy.cloud.providers.azure.naming import AzureTarget

SECRET_TAG = "pepperpy-cloud-secret"


class AzureSecretStore(CloudSecretStore):
    """Key Vault as the provider's secret store; see the module docstring."""

    def __init__(self, provider: AzureProvider) -> None:
        self.provider = provider
        given = provider.options.get("key_vault")
        self._given = str(given) if given else None
        self._arm: ArmClient | None = None
        self._target: AzureTarget | None = None

    def __repr__(self) -> str:
        return f"AzureSecretStore(vault={self.vault!r})"

    # -- where

    def target(self) -> AzureTarget:
        """The shared resource group and vault ``ResourceManager`` uses (asked for the subscription)."""
        if self._target is None:
            from pepperpy.cloud.providers.azure.resources import AzureResources

            self._target = AzureResources(self.provider).target()
        return self._target

    @property
    def vault(self) -> str:
        return self._given or key_vault(self.target().stack)

    @property
    def host(self) -> str:
        return f"{self.vault}.vault.azure.net"

    def arm(self) -> ArmClient:
        if self._arm is None:
            self._arm = ArmClient.for_provider(self.provider)
        return self._arm

    def _request(self, method: str, path: str, body: dict[str, Any] | None, what: str, name: str) -> ArmRequest:
        return ArmRequest(method, path, keyvault.API_SECRETS, body, what, name, host=self.host)

    def _read(self, name: str) -> dict[str, Any] | None:
        if self._given is None and not self._vault_exists():
            return None
        secret = kv_secret(validate_name(name))
        return self.arm().send(self._request("GET", f"/secrets/{secret}", None, "read Key Vault secret", secret))

    def _vault_exists(self) -> bool:
        return self.arm().send(keyvault.vault(self.target()).get()) is not None

    # -- the store

    def set(self, name: str, value: str) -> None:
        """Create or update the secret (a new version), tagged so ``names`` finds it; the vault is made if need be."""
        secret = kv_secret(validate_name(name))
        if not isinstance(value, str) or not value:
            raise InputError("secret value", f"the value of {name!r} is empty")
        if self._given is None:
            target = self.target()
            for shared in (foundation.resource_group(target), keyvault.vault(target)):
                self.arm().ensure(shared, target.stack)
        found = self._read(name)
        if found is not None and not _ours(found):
            raise InputError("secret name", f"Key Vault {self.vault!r} already has a secret {secret!r} not set by "
                             "pepperpy-cloud; it was left alone",
                             hint="fix: use another name, or set it with az keyvault secret set yourself")
        tags = {MANAGED_BY_TAG: MANAGED_BY, SECRET_TAG: name}
        body = {"value": SecretRef(name), "contentType": "text/plain", "attributes": {"enabled": True}, "tags": tags}
        try:
            self.arm().send(self._request("PUT", f"/secrets/{secret}", body, "set Key Vault secret", secret),
                            resolve=lambda _ref: value)
        except PepperpyCloudError as exc:
            if "Conflict" in str(exc) or "ObjectIsDeletedButRecoverable" in str(exc):
                raise InputError("secret name", f"Key Vault {self.vault!r}: {secret!r} was deleted and is still "
                                 "recoverable", hint=f"fix: az keyvault secret recover --vault-name {self.vault} "
                                                     f"--name {secret}, then set it again") from None
            raise

    def get(self, name: str) -> str:
        found = self._read(name)
        if found is None or not found.get("value"):
            raise self._missing(name)
        return str(found["value"])

    def names(self) -> list[str]:
        """The secrets this tool set (tagged), by their ``${SECRET:name}`` name."""
        if self._given is None and not self._vault_exists():
            return []
        listing = self._request("GET", "/secrets", None, "list Key Vault secrets", self.vault)
        found = [str(item["tags"][SECRET_TAG]) for item in self.arm().list_all(listing) or [] if _ours(item)]
        return sorted(found)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._read(name) is not None

    def delete(self, name: str) -> None:
        """Delete a secret this tool set (Key Vault's soft delete); another's or a missing one is an error."""
        found = self._read(name)
        if found is None:
            raise self._missing(name)
        if not _ours(found):
            raise InputError("secret name", f"{name!r} was not set by pepperpy-cloud; it was left alone",
                             hint="delete it in Key Vault yourself if it is yours")
        secret = kv_secret(name)
        self.arm().send(self._request("DELETE", f"/secrets/{secret}", None, "delete Key Vault secret", secret))

    def _missing(self, name: str) -> NotFoundError:
        return NotFoundError("secret", name, "secret", suggestions=closest(name, self.names()),
                             hint=f"set it with AzureProvider(...).secret_store().set(name, value), or az keyvault "
                                  f"secret set --vault-name {self.vault} --name {kv_secret(name)} --file VALUE_FILE")


def _ours(item: dict[str, Any]) -> bool:
    tags = item.get("tags") or {}
    return tags.get(MANAGED_BY_TAG) == MANAGED_BY and bool(tags.get(SECRET_TAG))


__all__ = ["SECRET_TAG", "AzureSecretStore"]
