"""Google SDK exceptions turned into one line: provider, operation, what went wrong, how to fix it.

Only status codes, exception class names and our own names reach the message;
never the SDK's text, which can quote request URLs or credential file contents.
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.providers.gcp.auth import GcsAccess
from pepperpy.cloud.resources.models import ResourceError

_AUTH_FIX = {
    "credentials dict": "check the service-account JSON passed as credentials",
    "Application Default Credentials": "run 'gcloud auth application-default login' or set "
                                       "GOOGLE_APPLICATION_CREDENTIALS to a service-account key",
}


def _module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def unwrap(exc: BaseException) -> BaseException:
    """The last error behind a ``RetryError`` (the retry deadline passed while that kept happening)."""
    api = _module("google.api_core.exceptions")
    while api is not None and isinstance(exc, api.RetryError) and exc.cause is not None:
        exc = exc.cause
    return exc


def translate(exc: BaseException, operation: str, target: str, access: GcsAccess | None) -> PepperpyCloudError:
    """The error to raise instead of ``exc``; ``operation`` like "create bucket", ``target`` its name."""
    exc = unwrap(exc)
    api = _module("google.api_core.exceptions")
    auth = _module("google.auth.exceptions")
    requests = _module("requests.exceptions")
    where = f"GCP {operation} {target!r}"
    source = access.source if access else "credentials"
    host = (access.endpoint if access else None) or "storage.googleapis.com"
    auth_fix = _AUTH_FIX.get(source, "check the service-account key file")
    if auth is not None and isinstance(exc, auth.RefreshError | auth.DefaultCredentialsError):
        return InputError("credentials", f"{where}: could not get an access token with the {source}",
                          hint=f"fix: {auth_fix}")
    if (requests is not None and isinstance(exc, requests.ConnectionError | requests.Timeout)) or (
            auth is not None and isinstance(exc, auth.TransportError)) or isinstance(exc, ConnectionError):
        return ResourceError(f"{where}: cannot reach {host} ({type(exc).__name__})",
                             hint="fix: check endpoint_url / STORAGE_EMULATOR_HOST and the network; "
                                  "for tests, is the emulator running?")
    if api is None or not isinstance(exc, api.GoogleAPICallError):
        return ResourceError(f"{where} failed: {type(exc).__name__}", hint="fix: see the logs at debug level")
    status = exc.code
    if isinstance(exc, api.Unauthorized):
        return InputError("credentials", f"{where}: authentication failed with the {source} (401)",
                          hint=f"fix: {auth_fix}")
    if isinstance(exc, api.Forbidden):
        return InputError("credentials", f"{where}: access denied (403) for the {source}",
                          hint="fix: grant roles/storage.admin on the project; if the bucket name belongs to "
                               "another project (names are global), pick another resource name")
    if isinstance(exc, api.Conflict):
        return InputError("name", f"{where}: the name is taken by another project (bucket names are global)",
                          hint="fix: pick another resource name")
    if isinstance(exc, api.BadRequest):
        return InputError("name", f"{where}: GCS rejected the request (400)",
                          hint="fix: use 3-63 lowercase letters, digits, '-' or '_', not starting with 'goog'")
    if isinstance(exc, api.TooManyRequests | api.ServiceUnavailable):
        return ResourceError(f"{where}: throttled by GCS ({status}) after retrying with backoff",
                             hint="fix: retry later, or raise retry_deadline on GCPProvider")
    return ResourceError(f"{where} failed: HTTP {status} {type(exc).__name__}",
                         hint="fix: see the Cloud Storage error reference")
