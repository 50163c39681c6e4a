"""One boto3 session per :class:`AWSProvider`, and AWS failures turned into one line a user can act on.

Credentials, in the order they are used:

1. ``credentials={"access_key_id": ..., "secret_access_key": ..., "session_token": ...}`` (seed 000);
   a dict whose values are all ``None`` (seed 000's complete example passes
   ``os.environ.get(...)``, which may be unset) counts as not given;
2. ``profile="name"`` (and ``credentials_file="path"`` for a shared credentials file
   that is not ``~/.aws/credentials``);
3. otherwise boto3's own chain: environment variables, ``AWS_PROFILE``, the shared
   files, SSO, container and instance roles.

Every call goes to ``endpoint_url`` when the provider has one; without it boto3
reads ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) itself, which is
how tests send seed 000's snippets, unchanged, to a moto server.

Throttling is retried by botocore's *standard* retry mode (exponential backoff
with jitter, a retry quota); what still fails is translated by :meth:`AWSSession.translate`
into an :class:`AWSError` whose text is ``AWS <service>.<Operation>: <what> — <fix>``.
Credential values never appear in those messages: every known one is masked.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.errors import InputError, MissingDependencyError, PepperpyCloudError

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws import AWSProvider

CREDENTIAL_KEYS = {
    "access_key_id": "aws_access_key_id",
    "secret_access_key": "aws_secret_access_key",
    "session_token": "aws_session_token",
}
CREDENTIALS_FIX = ("pass credentials={'access_key_id': ..., 'secret_access_key': ...}, a profile=, "
                   "or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE")

_AUTH_CODES = {
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "AuthFailure", "InvalidSignatureException", "IncompleteSignature", "ExpiredToken", "ExpiredTokenException",
    "RequestExpired", "InvalidToken", "MissingAuthenticationToken",
}
_DENIED_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
    "AuthorizationErrorException", "Forbidden", "403", "NotAuthorized", "UnauthorizedException",
}
_THROTTLE_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException", "RequestThrottled",
}
_INPUT_CODES = {
    "InvalidParameterValue", "InvalidParameterValueException", "InvalidParameterCombination", "ValidationError",
    "ValidationException", "InvalidBucketName", "InvalidParameter", "InvalidParameterException",
    "InvalidRequestException", "MalformedPolicyDocument", "InvalidInput", "InvalidArgument",
}
_QUOTA_CODES = {"LimitExceeded", "LimitExceededException", "ServiceQuotaExceededException", "TooManyBuckets",
                "InstanceQuotaExceeded", "StorageQuotaExceeded", "DBParameterGroupQuotaExceeded"}


# --------------------------------------------------------------------------- errors


class AWSError(PepperpyCloudError):
    """An AWS call failed; ``str()`` is one line: ``AWS <operation>: <what> — <fix>``.

    ``operation`` is ``service.Operation`` (``s3.CreateBucket``), ``code`` the AWS
    error code when there was one, ``hint`` the fix alone.
    """

    exit_code = 1
    http_status = 502

    def __init__(self, operation: str, what: str, fix: str, *, code: str | None = None) -> None:
        self.operation = operation
        self.code = code
        PepperpyCloudError.__init__(self, f"AWS {operation}: {what} — {fix}")
        self.hint = fix


class AWSCredentialsError(AWSError):
    """No credentials, or credentials AWS does not accept."""

    exit_code = 2
    http_status = 401


class AWSPermissionError(AWSError):
    """The credentials are valid but not allowed to do this."""

    exit_code = 2
    http_status = 403


class AWSInputError(AWSError, InputError):
    """AWS rejected a value we sent (a name, a size, a region); ``field`` names it when known."""

    exit_code = 2
    http_status = 422

    def __init__(self, operation: str, what: str, fix: str, *, code: str | None = None, field: str = "") -> None:
        AWSError.__init__(self, operation, what, fix, code=code)
        self.field = field
        self.problem = what


# --------------------------------------------------------------------------- SDK


def boto3_module() -> Any:
    """boto3, imported on first use so ``import pepperpy.cloud`` stays cheap."""
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError("boto3", "aws") from None
    return boto3


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return ""
    return str(response.get("Error", {}).get("Code", "") or "")


def explicit_credentials(credentials: Mapping[str, Any]) -> dict[str, str]:
    """Seed 000's credentials dict as boto3 keyword arguments; refuses unknown keys and half a key pair."""
    aliases = {**CREDENTIAL_KEYS, **{v: v for v in CREDENTIAL_KEYS.values()}}
    unknown = sorted(k for k in credentials if k not in aliases)
    if unknown:
        raise InputError("credentials", f"unknown AWS credential key {unknown[0]!r}",
                         hint="use access_key_id, secret_access_key and (optional) session_token")
    values: dict[str, str] = {}
    for key, secret in credentials.items():
        value = secret.reveal() if hasattr(secret, "reveal") else secret
        if value:
            values[aliases[key]] = str(value)
    if values and not {"aws_access_key_id", "aws_secret_access_key"} <= values.keys():
        missing = "secret_access_key" if "aws_access_key_id" in values else "access_key_id"
        raise InputError("credentials", f"{missing} is missing",
                         hint="an AWS key pair needs both access_key_id and secret_access_key")
    return values


class AWSSession:
    """The provider's boto3 session, clients and the translation of their failures."""

    def __init__(self, provider: AWSProvider) -> None:
        self.provider = provider
        self.region = provider.region
        self.endpoint_url = provider.endpoint_url
        self._explicit = explicit_credentials(provider.credentials)
        self._secrets = [v for v in self._explicit.values() if len(v) >= 4]  # masking 'A' would mangle text
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session: Any = None
        self._account: str | None = None

    def __repr__(self) -> str:
        return f"AWSSession(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    # -- boto3 objects

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = self._make_session()
        return self._session

    def _make_session(self) -> Any:
        boto3 = boto3_module()
        from botocore.exceptions import ProfileNotFound  # type: ignore[import-untyped]
        from botocore.session import Session as BotocoreSession  # type: ignore[import-untyped]

        core = BotocoreSession()
        credentials_file = self.provider.credentials_file
        if credentials_file:
            core.set_config_variable("credentials_file", str(credentials_file))
        try:
            return boto3.Session(botocore_session=core, region_name=self.region,
                                 profile_name=None if self._explicit else self.provider.profile, **self._explicit)
        except ProfileNotFound:
            where = credentials_file or "~/.aws/config and ~/.aws/credentials"
            raise AWSCredentialsError("session", f"profile {self.provider.profile!r} is not in {where}",
                                      "run 'aws configure --profile NAME' or pass another profile=") from None

    def config(self) -> Any:
        from botocore.config import Config  # type: ignore[import-untyped]

        options = self.provider.options
        return Config(retries={"mode": "standard", "max_attempts": int(options.get("max_attempts", 5))},
                      connect_timeout=float(options.get("connect_timeout", 10)),
                      read_timeout=float(options.get("read_timeout", 60)),
                      user_agent_extra="pepperpy-cloud")

    def client(self, service: str) -> Any:
        """A cached client for ``service`` in the provider's region, sent to ``endpoint_url`` when set."""
        with self._lock:
            if service not in self._clients:
                self.check_region(service)
                kwargs: dict[str, Any] = {"config": self.config()}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                self._clients[service] = self.session.client(service, **kwargs)
            return self._clients[service]

    def check_region(self, service: str) -> None:
        """Refuse a region the service is not offered in, naming the closest ones (before any call is made)."""
        if not self.provider.options.get("check_region", True):
            return
        session = self.session
        known: set[str] = set()
        for partition in session.get_available_partitions():
            known.update(session.get_available_regions(service, partition_name=partition))
        if not known or self.region in known:
            return
        close = difflib.get_close_matches(self.region, sorted(known), n=3, cutoff=0.5)
        closest = f"; closest: {', '.join(close)}" if close else ""
        raise AWSInputError(f"{service}", f"region {self.region!r} does not offer {service}{closest}",
                            "pass AWSProvider(region=...) with a region where the service exists",
                            field="region")

    def account_id(self) -> str:
        """The caller's account (STS), asked once: it suffixes global names such as S3 buckets."""
        if self._account is None:
            self._account = str(self.call("sts", "get_caller_identity")["Account"])
        return self._account

    # -- calls

    def call(self, service: str, method: str, /, *, ignore: Iterable[str] = (), **params: Any) -> Any:
        """``client(service).<method>(**params)``; ``None`` when the error code is in ``ignore``, else translated."""
        client = self.client(service)
        try:
            return getattr(client, method)(**params)
        except Exception as exc:
            if error_code(exc) and error_code(exc) in set(ignore):
                return None
            raise self.translate(exc, self._operation(client, service, method)) from None

    def pages(self, service: str, method: str, /, key: str, **params: Any) -> Iterator[Any]:
        """Every item under ``key`` across the pages of a paginated call."""
        client = self.client(service)
        try:
            for page in client.get_paginator(method).paginate(**params):
                yield from page.get(key, []) or []
        except Exception as exc:
            raise self.translate(exc, self._operation(client, service, method)) from None

    def wait(self, service: str, waiter: str, /, *, delay: int, attempts: int, **params: Any) -> None:
        """A boto3 waiter with our delay; a timeout says what was awaited and how to check."""
        client = self.client(service)
        try:
            client.get_waiter(waiter).wait(WaiterConfig={"Delay": delay, "MaxAttempts": attempts}, **params)
        except Exception as exc:
            if type(exc).__name__ == "WaiterError":
                raise AWSError(f"{service}.wait", f"{waiter.replace('_', ' ')} did not happen in "
                               f"{delay * attempts} s ({exc})",
                               "check the resource in the AWS console, then create or delete it again") from None
            raise self.translate(exc, f"{service}.{waiter}") from None

    @staticmethod
    def _operation(client: Any, service: str, method: str) -> str:
        mapping = getattr(getattr(client, "meta", None), "method_to_api_mapping", {}) or {}
        return f"{service}.{mapping.get(method, method)}"

    # -- errors

    def redact(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, "***")
        return text

    def translate(self, exc: BaseException, operation: str) -> PepperpyCloudError:
        """Any botocore failure as one of our errors; ours pass through unchanged."""
        if isinstance(exc, PepperpyCloudError):
            return exc
        name = type(exc).__name__
        if name in {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
            return AWSCredentialsError(operation, "no usable AWS credentials were found", CREDENTIALS_FIX)
        if name in {"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError",
                    "ProxyConnectionError"}:
            where = self.endpoint_url or f"the {self.region} endpoint"
            return AWSError(operation, f"cannot reach {where} ({name})",
                            "check the network, or endpoint_url / AWS_ENDPOINT_URL when using an emulator")
        code = error_code(exc)
        if not code:
            return AWSError(operation, self.redact(f"{name}: {exc}"), "see the message; nothing was changed by "
                            "this call")
        return self._from_code(exc, operation, code)

    def _from_code(self, exc: BaseException, operation: str, code: str) -> AWSError:
        response: Mapping[str, Any] = getattr(exc, "response", {}) or {}
        message = self.redact(str(response.get("Error", {}).get("Message") or code))
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        service, _, action = operation.partition(".")
        if code in _AUTH_CODES:
            return AWSCredentialsError(operation, f"AWS rejected the credentials ({code})",
                                       "check access_key_id/secret_access_key (or refresh the session token); "
                                       + CREDENTIALS_FIX, code=code)
        if code in _DENIED_CODES:
            iam_service = {"elasticloadbalancing": "elasticloadbalancing", "monitoring": "cloudwatch"}.get(
                service, service)
            return AWSPermissionError(operation, f"not allowed ({code}): {message}",
                                      f"grant {iam_service}:{action} to this identity in IAM", code=code)
        if code in _THROTTLE_CODES:
            return AWSError(operation, f"throttled by AWS after retries ({code})",
                            "run it again in a minute, or pass max_attempts= to AWSProvider", code=code)
        if code in _QUOTA_CODES:
            return AWSError(operation, f"a service quota was reached ({code}): {message}",
                            "delete unused resources or ask for a higher quota in Service Quotas", code=code)
        if code in _INPUT_CODES:
            return AWSInputError(operation, f"the request was rejected ({code}): {message}",
                                 "change the value the message names", code=code)
        suffix = f" request id {request_id}" if request_id else ""
        return AWSError(operation, f"{message} ({code})",
                        f"see the message; CloudTrail has the details{suffix}", code=code)
