"""Which GCS endpoint, project and credentials to use, resolved the way Google's own libraries do.

Endpoint: ``endpoint_url``, else ``STORAGE_EMULATOR_HOST`` (google-cloud-storage's
own emulator variable), else Google. A loopback endpoint or
``STORAGE_EMULATOR_HOST`` means an emulator: anonymous credentials, and the
credentials file is not read (seed 000's ``credentials_file="path/to/credentials.json"``
need not exist to run against one).

Credentials against Google, first match wins:

1. ``credentials={...}``: a service-account (or any google-auth) JSON as a dict
   (it has a ``"type"``), or ``{"credentials_file": ..., "project_id": ...}``.
2. ``credentials_file=`` (seed 000): a service-account, authorized-user or
   workload-identity-federation JSON file.
3. Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS``,
   ``gcloud auth application-default login``, or the metadata server
   (GCE, GKE, Cloud Run).

Project: ``project=``, ``credentials["project_id"]``, the credentials' own
project, ``GOOGLE_CLOUD_PROJECT``. No secret is put in a message or a ``repr``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider, Secret

SCOPES = ["https://www.googleapis.com/auth/devstorage.full_control"]
EMULATOR_PROJECT = "pepperpy-emulator"
_OTHER_TYPES = {"external_account", "external_account_authorized_user", "impersonated_service_account",
                "gdch_service_account"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ADC_FIX = ("pass credentials_file='service-account.json', set GOOGLE_APPLICATION_CREDENTIALS, "
            "or run 'gcloud auth application-default login'")


def sdk(module: str, package: str = "google-cloud-storage") -> Any:
    """Import a Google SDK module lazily; a clear install hint when the extra is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, "gcp") from None


@dataclass(frozen=True, repr=False)
class GcsAccess:
    """Where GCS calls go and as whom; ``source`` names the credential kind for messages."""

    source: str
    project: str
    credentials: Any
    endpoint: str | None = None

    @property
    def emulated(self) -> bool:
        return self.source == "emulator (anonymous)"

    def __repr__(self) -> str:
        return f"GcsAccess(source={self.source!r}, project={self.project!r}, endpoint={self.endpoint!r})"


def _with_scheme(url: str) -> str:
    return url if "://" in url else f"http://{url}"


def endpoint(provider: CloudProvider) -> tuple[str | None, bool]:
    """The endpoint override and whether it is an emulator (anonymous access)."""
    if provider.endpoint_url:
        url = _with_scheme(provider.endpoint_url).rstrip("/")
        anonymous = provider.options.get("anonymous")
        return url, bool(anonymous) if anonymous is not None else urlsplit(url).hostname in _LOOPBACK
    env = os.environ.get("STORAGE_EMULATOR_HOST")
    return (_with_scheme(env).rstrip("/"), True) if env else (None, False)


def _plain(provider: CloudProvider) -> dict[str, str]:
    return {k: v.reveal() for k, v in provider.credentials.items() if isinstance(v, Secret)}


def _project(provider: CloudProvider, found: str | None) -> str | None:
    given = getattr(provider, "project", None) or _plain(provider).get("project_id")
    return given or found or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")


def resolve_gcs_access(provider: CloudProvider) -> GcsAccess:
    """Pick the endpoint, project and credentials (see the module docstring for the order)."""
    url, emulated = endpoint(provider)
    if emulated:
        credentials = sdk("google.auth.credentials", "google-auth").AnonymousCredentials()
        return GcsAccess("emulator (anonymous)", _project(provider, None) or EMULATOR_PROJECT, credentials, url)
    credentials, found, source = _credentials(provider)
    project = _project(provider, found)
    if not project:
        raise InputError("project", f"GCP: no project for the {source}",
                         hint="pass GCPProvider(..., project='my-project') or set GOOGLE_CLOUD_PROJECT")
    return GcsAccess(source, project, credentials, url)


def _credentials(provider: CloudProvider) -> tuple[Any, str | None, str]:
    auth = sdk("google.auth", "google-auth")
    errors = sdk("google.auth.exceptions", "google-auth")
    plain = _plain(provider)
    info = _info_dict(provider)
    file = plain.get("credentials_file") or getattr(provider, "credentials_file", None)
    try:
        if info is not None:
            try:
                creds, project = _load_info(auth, info)
            except (ValueError, KeyError, TypeError):
                raise errors.DefaultCredentialsError("incomplete credentials") from None
            return creds, project, "credentials dict"
        if file:
            path = Path(file).expanduser()
            if not path.is_file():
                raise InputError("credentials_file", f"GCP: {str(path)!r} does not exist",
                                 hint="download a service-account key (IAM > Service accounts > Keys), or leave "
                                      "credentials_file out to use Application Default Credentials")
            creds, project = _load_file(auth, errors, path)
            return creds, project, f"credentials file {path.name!r}"
        creds, project = auth.default(scopes=SCOPES)
        return creds, project, "Application Default Credentials"
    except errors.DefaultCredentialsError as exc:
        what = "credentials_file" if file and info is None else "credentials"
        problem = ("is not a usable Google credentials JSON (service account, authorized user or external account)"
                   if (file or info) else "no credentials found")
        raise InputError(what, f"GCP: {problem} ({type(exc).__name__})", hint=f"fix: {_ADC_FIX}") from None


def _info_dict(provider: CloudProvider) -> dict[str, Any] | None:
    """A google-auth JSON given inline as ``credentials`` (it has a ``type``), with its values revealed."""
    plain = _plain(provider)
    return dict(plain) if "type" in plain else None



def _load_info(auth: Any, info: dict[str, Any]) -> tuple[Any, str | None]:
    """Type-specific loaders for the common kinds (google-auth deprecates its generic loader for untrusted input)."""
    kind = info.get("type")
    if kind == "service_account":
        module = sdk("google.oauth2.service_account", "google-auth")
        return module.Credentials.from_service_account_info(info, scopes=SCOPES), info.get("project_id")
    if kind == "authorized_user":
        module = sdk("google.oauth2.credentials", "google-auth")
        return module.Credentials.from_authorized_user_info(info, scopes=SCOPES), info.get("quota_project_id")
    if kind in _OTHER_TYPES:
        return auth.load_credentials_from_dict(info, scopes=SCOPES)  # Google's own dispatch for these
    raise ValueError(f"unknown credentials type {kind!r}")


def _load_file(auth: Any, errors: Any, path: Path) -> tuple[Any, str | None]:
    import json

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise errors.DefaultCredentialsError("not JSON") from None
    if not isinstance(info, dict):
        raise errors.DefaultCredentialsError("not a JSON object")
    try:
        return _load_info(auth, info)
    except (ValueError, KeyError, TypeError):
        raise errors.DefaultCredentialsError("incomplete credentials") from None
