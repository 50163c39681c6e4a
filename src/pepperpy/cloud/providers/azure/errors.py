"""Azure SDK exceptions turned into one line: provider, operation, what went wrong, how to fix it.

Only status codes, Azure error codes and our own names go into the message;
never the SDK's text, which can carry request URLs (and with them SAS tokens).
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.azure.auth import BlobAccess
from pepperpy.cloud.resources.models import ResourceError

_AUTH_FIX = {
    "connection string": "copy the connection string again (Storage account > Access keys)",
    "AZURE_STORAGE_CONNECTION_STRING": "fix AZURE_STORAGE_CONNECTION_STRING (Storage account > Access keys)",
    "account key": "check the account key and account name (Storage account > Access keys)",
    "Azurite development key": "start Azurite without --oauth, or pass credentials={'account_key': ...}",
    "service principal": "check tenant_id, client_id and client_secret, and give the principal the "
                         "'Storage Blob Data Contributor' role on the storage account",
    "DefaultAzureCredential": "sign in with 'az login', set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, "
                              "or run with a managed identity",
}
_NAME_CODES = {"InvalidResourceName", "OutOfRangeInput", "InvalidUri"}
_PERMISSION_CODES = {"AuthorizationPermissionMismatch", "AuthorizationFailure", "AuthorizationResourceTypeMismatch"}


def error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if code else None  # the SDK gives an enum for known codes


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return int(status) if isinstance(status, int) else None


def translate(exc: BaseException, operation: str, target: str, access: BlobAccess | None) -> PepperpyCloudError:
    """The error to raise instead of ``exc``; ``operation`` like "create blob container", ``target`` its name."""
    core = _core()
    where = f"Azure {operation} {target!r}"
    source = access.source if access else "credentials"
    endpoint = (access.account_url if access else None) or "the storage account"
    code, status = error_code(exc), status_code(exc)
    keyed = source not in ("service principal", "DefaultAzureCredential")
    # With a shared key, a 403 means the signature did not match (Azurite says AuthorizationFailure): a wrong key.
    wrong_key = keyed and status == 403 and code in ("AuthenticationFailed", "AuthorizationFailure", None)
    authn = core is not None and isinstance(exc, core.ClientAuthenticationError) and code not in _PERMISSION_CODES
    if authn or wrong_key:
        return InputError("credentials", f"{where}: authentication failed with the {source}",
                          hint=f"fix: {_AUTH_FIX.get(source, 'check the credentials')}")
    if core is not None and isinstance(exc, core.ServiceRequestError | core.ServiceResponseError):
        return ResourceError(f"{where}: cannot reach {endpoint} ({type(exc).__name__})",
                             hint="fix: check endpoint_url and the network; for tests, is Azurite running?")
    if code in _PERMISSION_CODES or status == 403:
        return InputError("credentials", f"{where}: the {source} is not allowed to do this ({code or status})",
                          hint="fix: grant the identity 'Storage Blob Data Contributor' on the storage account")
    if code in _NAME_CODES:
        return InputError("name", f"{where}: Azure rejects the name ({code})",
                          hint="fix: use 3-63 lowercase letters, digits and single hyphens")
    if code == "PublicAccessNotPermitted":
        return InputError("access_policy", f"{where}: the storage account forbids public access",
                          hint="fix: use access_policy='private', or allow blob anonymous access on the account")
    if code == "ContainerBeingDeleted":
        return ResourceError(f"{where}: a container of that name is still being deleted by Azure",
                             hint="fix: retry in a minute (Azure frees a deleted container's name asynchronously)")
    if status == 429 or code == "ServerBusy":
        return ResourceError(f"{where}: throttled by Azure ({code or status}) after retrying with backoff",
                             hint="fix: retry later, or raise max_retries on AzureProvider")
    detail = " ".join(str(p) for p in (status and f"HTTP {status}", code) if p) or type(exc).__name__
    return ResourceError(f"{where} failed: {detail}", hint="fix: see the Azure Storage error code reference")


def _core() -> Any:
    try:
        import azure.core.exceptions as core
    except ImportError:
        return None
    return core
