"""boto3 clients for the Bedrock and SageMaker backends, built from an AWSProvider's settings.

boto3 is imported here only, on first use. Timeouts come from the endpoint's
``EndpointConfig.timeout_ms`` for runtime calls; runtime calls are not retried
(a retry would silently double the deadline), control-plane calls use botocore's
standard retry mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends.base import EndpointError, EndpointTimeoutError, EndpointUnreachableError
from pepperpy.cloud.errors import MissingDependencyError
from pepperpy.cloud.providers.base import CloudProvider

CREDENTIAL_KEYS = {"access_key_id": "aws_access_key_id", "secret_access_key": "aws_secret_access_key",
                   "session_token": "aws_session_token"}


def boto3_module() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError("boto3", "aws") from None
    return boto3


def session_kwargs(provider: CloudProvider) -> dict[str, Any]:
    """Region, explicit credentials (revealed only here) and profile for ``boto3.session.Session``."""
    kwargs: dict[str, Any] = {"region_name": provider.region}
    for ours, theirs in CREDENTIAL_KEYS.items():
        secret = provider.credentials.get(ours)
        if secret is not None and secret.reveal() not in ("", "None"):
            kwargs[theirs] = secret.reveal()
    profile = getattr(provider, "profile", None)
    if profile and "aws_access_key_id" not in kwargs:
        kwargs["profile_name"] = profile
    return kwargs


def client(provider: CloudProvider, service: str, options: Mapping[str, Any], *,
           timeout_s: float | None = None) -> Any:
    """A boto3 client for ``service``; ``timeout_s`` set = a runtime client (that deadline, no retries)."""
    from botocore.config import Config  # type: ignore[import-untyped]

    boto3 = boto3_module()
    if timeout_s is None:
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)
    else:
        config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=min(timeout_s, 10),
                        read_timeout=timeout_s)
    endpoint = options.get("aws_endpoint_url") or provider.endpoint_url
    session = boto3.session.Session(**session_kwargs(provider))
    return session.client(service, endpoint_url=endpoint, config=config)


def translate(exc: Exception, what: str, timeout_s: float) -> Exception:
    """A botocore failure as one clear EndpointError (the caller raises it ``from None``)."""
    from botocore import exceptions as bx  # type: ignore[import-untyped]

    if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError):
        return EndpointTimeoutError(f"{what} did not answer within {timeout_s:g} s (EndpointConfig.timeout_ms)",
                                    hint="raise timeout_ms or lower max_tokens")
    if isinstance(exc, bx.EndpointConnectionError):
        return EndpointUnreachableError(f"cannot reach {what}: {str(exc).splitlines()[0][:200]}",
                                        hint="check the region and network, or the provider's endpoint_url")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return EndpointError(f"{what}: no AWS credentials",
                             hint="pass AWSProvider(credentials=...) or profile=, or set AWS_ACCESS_KEY_ID")
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        return EndpointError(f"{what}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    return exc


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
