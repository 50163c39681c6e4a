"""Which Azure Blob endpoint and credential to use, resolved the way Azure's own tools do.

Order, first match wins (the storage account's address and its credential are
found together):

1. ``credentials["connection_string"]`` — names the account and its key or SAS.
2. ``credentials["account_key"]`` with an account (``endpoint_url``, or
   ``storage_account`` / ``credentials["account_name"]`` / ``AZURE_STORAGE_ACCOUNT``).
3. ``AZURE_STORAGE_CONNECTION_STRING`` from the environment (what ``az`` and
   the SDK samples use; pointing it at Azurite redirects every call).
4. ``endpoint_url`` on a loopback host whose path is Azurite's
   ``devstoreaccount1``: Azurite's published development key, so
   ``AzureProvider(endpoint_url="http://127.0.0.1:10000/devstoreaccount1")`` just works.
5. A service principal from seed 000's dict (``tenant_id``, ``client_id``,
   ``client_secret``) as an Azure AD token credential.
6. ``DefaultAzureCredential``: environment variables, workload identity,
   managed identity, Azure CLI / PowerShell / azd sign-in.

Keys beat tokens for Blob because a key or connection string is specific to one
storage account while a service principal is the control-plane identity (ARM).
No secret is ever put in a message, a record or a ``repr``.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider, Secret

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key, published in Microsoft's documentation; it only opens the emulator.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SP_FIELDS = ("tenant_id", "client_id", "client_secret")
_TOKEN_SOURCES = ("service principal", "DefaultAzureCredential")


def sdk(module: str, package: str = "azure-storage-blob") -> Any:
    """Import an Azure SDK module lazily; a clear install hint when the extra is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, "azure") from None


@dataclass(frozen=True, repr=False)
class BlobAccess:
    """Where Blob calls go and with what; ``source`` names the credential kind for messages."""

    source: str
    account_url: str | None = None
    connection_string: Secret | None = None
    credential: Any = None

    def __repr__(self) -> str:
        return f"BlobAccess(source={self.source!r}, account_url={self.account_url!r})"


def _reveal(provider: CloudProvider, key: str) -> str | None:
    value = provider.credentials.get(key)
    return value.reveal() if isinstance(value, Secret) and value.reveal() else None


def is_azurite(url: str | None) -> bool:
    """A loopback endpoint whose first path segment is Azurite's account."""
    if not url:
        return False
    parts = urlsplit(url)
    return parts.hostname in _LOOPBACK and parts.path.strip("/").split("/")[0] == AZURITE_ACCOUNT


def account_name(provider: CloudProvider) -> str | None:
    """The storage account holding the containers, from the provider, its credentials or the environment."""
    name = (getattr(provider, "storage_account", None) or _reveal(provider, "account_name")
            or _reveal(provider, "storage_account") or os.environ.get("AZURE_STORAGE_ACCOUNT"))
    if name is not None and not _ACCOUNT.match(name):
        raise InputError("storage_account", f"{name!r} is not an Azure storage account name; use 3-24 lowercase "
                         "letters and digits")
    return name


def account_url(provider: CloudProvider) -> str | None:
    """``endpoint_url`` when set (emulators, sovereign clouds, private endpoints), else the public Blob URL."""
    if provider.endpoint_url:
        return provider.endpoint_url.rstrip("/")
    name = account_name(provider)
    return f"https://{name}.blob.core.windows.net" if name else None


def _require_url(provider: CloudProvider, source: str) -> str:
    url = account_url(provider)
    if url is None:
        raise InputError("storage_account", f"Azure Blob with {source} needs a storage account",
                         hint="pass AzureProvider(..., storage_account='myaccount'), endpoint_url=..., "
                              "or set AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING")
    return url


def resolve_blob_access(provider: CloudProvider) -> BlobAccess:
    """Pick the Blob endpoint and credential (see the module docstring for the order)."""
    conn = _reveal(provider, "connection_string")
    if conn:
        return BlobAccess("connection string", connection_string=Secret(conn))
    key = _reveal(provider, "account_key")
    if key:
        url = _require_url(provider, "an account key")
        name = account_name(provider) or (AZURITE_ACCOUNT if is_azurite(url) else None)
        if name is None:
            raise InputError("storage_account", "Azure Blob with an account key needs the account's name",
                             hint="pass storage_account='myaccount' or credentials={'account_name': ...}")
        return BlobAccess("account key", account_url=url, credential={"account_name": name, "account_key": key})
    env_conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if env_conn and not provider.endpoint_url:
        return BlobAccess("AZURE_STORAGE_CONNECTION_STRING", connection_string=Secret(env_conn))
    if is_azurite(provider.endpoint_url):
        return BlobAccess("Azurite development key", account_url=account_url(provider),
                          credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY})
    return _token_access(provider)


def _token_access(provider: CloudProvider) -> BlobAccess:
    """An Azure AD token credential: the seed's service principal, else DefaultAzureCredential."""
    given = {f: _reveal(provider, f) for f in _SP_FIELDS}
    if any(given.values()):
        missing = [f for f, v in given.items() if not v]
        if missing:
            raise InputError("credentials", f"an Azure service principal needs tenant_id, client_id and "
                             f"client_secret; missing {', '.join(missing)}",
                             hint="add the missing keys, or leave all three out to use DefaultAzureCredential")
        url = _require_url(provider, "a service principal")
        identity = sdk("azure.identity", "azure-identity")
        credential = identity.ClientSecretCredential(given["tenant_id"], given["client_id"], given["client_secret"])
        return BlobAccess("service principal", account_url=url, credential=credential)
    url = _require_url(provider, "DefaultAzureCredential")
    identity = sdk("azure.identity", "azure-identity")
    return BlobAccess("DefaultAzureCredential", account_url=url,
                      credential=identity.DefaultAzureCredential(exclude_interactive_browser_credential=True))


def blob_service(provider: CloudProvider, access: BlobAccess | None = None) -> Any:
    """A ``BlobServiceClient`` with our retry policy (exponential backoff on 5xx/ServerBusy and timeouts)."""
    blob = sdk("azure.storage.blob")
    access = access or resolve_blob_access(provider)
    retries = int(provider.options.get("max_retries", 4))
    backoff = int(provider.options.get("retry_backoff", 1))
    kwargs: dict[str, Any] = {
        "retry_policy": blob.ExponentialRetry(initial_backoff=backoff, increment_base=2 * backoff, retry_total=retries,
                                              random_jitter_range=min(backoff, 1)),
        "connection_timeout": float(provider.options.get("connection_timeout", 10)),
        "read_timeout": float(provider.options.get("read_timeout", 60)),
    }
    if access.connection_string is not None:
        try:
            return blob.BlobServiceClient.from_connection_string(access.connection_string.reveal(), **kwargs)
        except ValueError:
            raise InputError("credentials", f"Azure: the {access.source} is not a valid storage connection "
                             "string", hint="copy it again from the portal: Storage account > Access keys") from None
    try:
        return blob.BlobServiceClient(access.account_url, credential=access.credential, **kwargs)
    except ValueError as exc:
        if str(access.account_url).startswith("http://") and access.source in _TOKEN_SOURCES:
            raise InputError("endpoint_url", f"Azure: tokens of the {access.source} are only sent over https, and "
                             f"{access.account_url!r} is http", hint="use an https endpoint, or an account key or "
                             "connection string for an emulator") from None
        raise InputError("endpoint_url", f"Azure: cannot use {access.account_url!r} as the Blob endpoint: "
                         f"{type(exc).__name__}", hint="use https://<account>.blob.core.windows.net or "
                         "http://127.0.0.1:<port>/devstoreaccount1 for Azurite") from None
