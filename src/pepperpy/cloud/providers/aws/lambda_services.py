"""Services with ``runtime: serverless`` on AWS Lambda: the rendered Mangum package behind a Function URL.

Per service ``<svc>`` of stack ``<stack>``:

- **Code**: a zip built here of the service's ``source`` folder, the ``handler.py``
  that ``render serverless`` writes (Mangum around the ASGI ``entry_point``) and
  ``pepperpy_entry.py``, which reads the service's ``${SECRET:name}`` values from
  Secrets Manager at cold start (by ARN, from ``PEPPERPY_SECRETS``) and then hands
  over to ``handler.handler``. Same files, same zip (fixed order and times), so an
  unchanged service publishes no new version.
- **Dependencies are not vendored**: installing them for Lambda's platform
  (manylinux, Python 3.11) means pip downloading wheels for another platform,
  which this tool does not do. The result says so (``details["dependencies"]``)
  when the service has a requirements file: add them to the source folder
  (``pip install -r requirements.txt --target <source> --platform
  manylinux2014_x86_64 --only-binary=:all: --python-version 3.11``) or deploy the
  rendered SAM template with ``sam build``. ``mangum`` must be among them.
- **Function** ``<stack>-<svc>`` (python3.11, x86_64, memory from the spec clamped to
  128..10240 MiB, 30 s), a version published per code change (the result's
  ``revision``); plain env as environment variables, secrets only as ARNs.
- **Execution role** ``<stack>-<svc>-fn`` (path ``/pepperpy-cloud/``): may write its
  own log group ``/aws/lambda/<function>`` (retention from the stack) and read
  exactly the secrets the service references — nothing else.
- **Function URL** as the service's ``url``: ``AuthType NONE`` (plus the public
  ``lambda:InvokeFunctionUrl`` permission) only when the stack asks for a public
  entry point (``load_balancer: true`` and not ``use_private_endpoints``), else
  ``AWS_IAM`` (callers sign with SigV4).

Lambda runs outside the stack's VPC here, so managed components' addresses are not
passed to serverless services. Everything is tagged with the deployment and removed
by :func:`destroy`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.ecs import delete_role
from pepperpy.cloud.providers.aws.parts import ROLE_PATH, Ctx, Part, not_ours, owned_by, part_name, tag_list
from pepperpy.cloud.providers.aws.session import AWSInputError, AWSSession
from pepperpy.cloud.render import serverless
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

ENTRY = "pepperpy_entry"
POLICY = "pepperpy-cloud-function"
PUBLIC_STATEMENT = "pepperpy-cloud-public-url"
_GONE = {"ResourceNotFoundException", "NoSuchEntity"}
_ENTRY_PY = '''"""pepperpy-cloud: the service's secrets into the environment, then Mangum (handler.py)."""

import json
import os

_refs = json.loads(os.environ.get("PEPPERPY_SECRETS") or "{}")
if _refs:
    import boto3  # in every Lambda Python runtime

    _client = boto3.client("secretsmanager")
    for _var, _arn in _refs.items():
        os.environ[_var] = _client.get_secret_value(SecretId=_arn)["SecretString"]

from handler import handler  # noqa: E402,F401
'''


@dataclass(frozen=True)
class Package:
    """The zip of one service and what it holds."""

    data: bytes
    files: tuple[str, ...]
    requirements: str | None

    @property
    def sha256_b64(self) -> str:
        """What Lambda reports as ``CodeSha256``."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


def serverless_services(stack: Stack) -> list[tuple[str, Service]]:
    return sorted((n, s) for n, s in stack.services.items() if s.runtime == "serverless")


def check(stack: Stack) -> None:
    """Refuse, before anything exists, a serverless service Lambda cannot run (say why)."""
    for name, svc in serverless_services(stack):
        reason = serverless.skip_reason(svc)
        if reason:
            raise InputError(f"services.{name}.runtime", f"cannot run on Lambda: {reason}",
                             hint="set runtime: container for it")
        serverless.app_target(name, svc)


def function_name(stack: str, service: str) -> str:
    return part_name(stack, service, 64)


def is_public(stack: Stack) -> bool:
    """Only an explicit public entry point (``load_balancer: true``, no private endpoints) opens the URL."""
    return stack.load_balancer is True and not stack.cloud.network.use_private_endpoints


def _skipped(relative: Path) -> bool:
    """VCS and tool folders, virtualenvs and caches never go into a function's code."""
    return any(part.startswith(".") or part in {"__pycache__", "node_modules", "venv"} for part in relative.parts)


def package(stack: Stack, stack_dir: Path, name: str, svc: Service) -> Package:
    """The service's source, the rendered Mangum ``handler.py`` and the secrets entry point, zipped reproducibly."""
    source = (stack_dir / (svc.source or ".")).resolve()
    if not source.is_dir():
        raise InputError(f"services.{name}.source", f"{source} is not a directory")
    module, _ = serverless.app_target(name, svc)
    buffer = io.BytesIO()
    names: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(arcname: str, data: bytes) -> None:
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            names.append(arcname)

        add("handler.py", serverless.handler_py(stack, name, svc).encode())
        add(f"{ENTRY}.py", _ENTRY_PY.encode())
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not _skipped(p.relative_to(source))):
            relative = path.relative_to(source).as_posix()
            if relative not in {"handler.py", f"{ENTRY}.py"}:
                add(relative, path.read_bytes())
    if not {f"{module.replace('.', '/')}.py", f"{module.replace('.', '/')}/__init__.py"} & set(names):
        raise InputError(f"services.{name}.entry_point", f"{svc.entry_point!r} is not in {source}")
    requirements = svc.requirements if svc.requirements and (source / svc.requirements).is_file() else None
    return Package(buffer.getvalue(), tuple(names), requirements)


# --------------------------------------------------------------------------- role and logs


def log_group(function: str) -> str:
    return f"/aws/lambda/{function}"


def ensure_log_group(ctx: Ctx, function: str, service: str) -> str:
    group = log_group(function)
    created = ctx.aws.call("logs", "create_log_group", ignore={"ResourceAlreadyExistsException"},
                           logGroupName=group, tags=ctx.tags(f"log-group/{service}"))
    ctx.journal.record(Part("log-group", group), created=created is not None,
                       undo=lambda: ctx.aws.call("logs", "delete_log_group", logGroupName=group, ignore=_GONE))
    ctx.aws.call("logs", "put_retention_policy", logGroupName=group,
                 retentionInDays=serverless.retention_days(ctx.stack.cloud.monitoring.log_retention_days))
    return group


def ensure_role(ctx: Ctx, service: str, function: str, secret_arns: list[str]) -> str:
    """The function's execution role: its own log group, and exactly its secrets."""
    role = part_name(ctx.name, f"{service}-fn", 64)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    found = ctx.aws.call("iam", "get_role", RoleName=role, ignore={"NoSuchEntity"})
    if found is not None:
        if not owned_by(ctx.aws.call("iam", "list_role_tags", RoleName=role)["Tags"], ctx.name):
            raise not_ours("iam.CreateRole", f"IAM role {role!r}", ctx.name)
        arn, created = str(found["Role"]["Arn"]), False
    else:
        arn = str(ctx.aws.call("iam", "create_role", RoleName=role, Path=ROLE_PATH,
                               AssumeRolePolicyDocument=json.dumps(trust),
                               Description=f"pepperpy-cloud: Lambda execution role of {ctx.name}/{service}",
                               Tags=tag_list(ctx.tags(f"iam-role/{service}")))["Role"]["Arn"])
        created = True
    ctx.journal.record(Part("iam-role", role, {"arn": arn}), created=created, undo=lambda: delete_role(ctx.aws, role))
    account = arn.split(":")[4]
    group = f"arn:aws:logs:{ctx.aws.region}:{account}:log-group:{log_group(function)}"
    statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                         "Resource": [group, f"{group}:*"]}]
    if secret_arns:
        statements.append({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": sorted(set(secret_arns))})
    ctx.aws.call("iam", "put_role_policy", RoleName=role, PolicyName=POLICY,
                 PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


# --------------------------------------------------------------------------- function and URL


def _configuration(ctx: Ctx, name: str, svc: Service, role_arn: str, secrets: dict[str, str]) -> dict[str, Any]:
    plain, _ = split_env(svc.env)
    variables = dict(sorted(plain.items()))
    if secrets:
        variables["PEPPERPY_SECRETS"] = json.dumps(dict(sorted(secrets.items())), separators=(",", ":"))
    config: dict[str, Any] = {
        "Role": role_arn, "Handler": f"{ENTRY}.handler", "Runtime": serverless.RUNTIME,
        "MemorySize": serverless.lambda_memory_mib(svc), "Timeout": serverless.lambda_timeout(),
        "Description": f"{ctx.name}/{name} {ctx.stack.version} (ASGI app through Mangum, pepperpy-cloud)",
        "Environment": {"Variables": variables},
        "TracingConfig": {"Mode": "Active" if ctx.stack.cloud.monitoring.enable_tracing else "PassThrough"}}
    if ctx.stack.cloud.security.encryption_key_arn:
        config["KMSKeyArn"] = ctx.stack.cloud.security.encryption_key_arn
    return config


def _create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Create the function; a role made seconds ago may not be assumable yet (IAM propagation), so retry that."""
    for attempt in range(6):
        try:
            return dict(ctx.aws.call("lambda", "create_function", **params))
        except AWSInputError as exc:
            if attempt == 5 or not re.search(r"cannot be assumed|role", exc.problem, re.I):
                raise
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def _wait_updated(aws: AWSSession, function: str) -> None:
    aws.wait("lambda", "function_updated_v2", delay=2, attempts=60, FunctionName=function)


def ensure_function(ctx: Ctx, name: str, svc: Service, code: Package, role_arn: str,
                    secrets: dict[str, str]) -> dict[str, Any]:
    """Create the function, or update its code (publishing a version) and configuration when they changed."""
    function = function_name(ctx.name, name)
    config = _configuration(ctx, name, svc, role_arn, secrets)
    found = ctx.aws.call("lambda", "get_function", FunctionName=function, ignore=_GONE)
    if found is None:
        fn = _create(ctx, {"FunctionName": function, "Code": {"ZipFile": code.data}, "Publish": True,
                           "Architectures": [serverless.ARCHITECTURE], "Tags": ctx.tags(f"lambda/{name}"), **config})
        ctx.journal.record(Part("lambda-function", function, {"arn": fn["FunctionArn"]}), created=True,
                           undo=lambda: delete_function(ctx.aws, function))
        return fn
    if not owned_by(found.get("Tags"), ctx.name):
        raise not_ours("lambda.CreateFunction", f"Lambda function {function!r}", ctx.name)
    fn = dict(found["Configuration"])
    if fn.get("CodeSha256") != code.sha256_b64:
        fn = dict(ctx.aws.call("lambda", "update_function_code", FunctionName=function, ZipFile=code.data,
                               Publish=True))
        _wait_updated(ctx.aws, function)
    ctx.aws.call("lambda", "update_function_configuration", FunctionName=function, **config)
    ctx.journal.record(Part("lambda-function", function, {"arn": fn["FunctionArn"]}), created=False)
    return fn


def latest_version(aws: AWSSession, function: str) -> int:
    """The newest published version number (0 when none is)."""
    versions = [v.get("Version") for v in aws.pages("lambda", "list_versions_by_function", "Versions",
                                                      FunctionName=function)]
    return max([int(v) for v in versions if str(v).isdigit()], default=0)


def ensure_url(ctx: Ctx, function: str, public: bool) -> dict[str, Any]:
    """The Function URL with the auth type the stack asks for; the public permission follows it."""
    auth = "NONE" if public else "AWS_IAM"
    found = ctx.aws.call("lambda", "get_function_url_config", FunctionName=function, ignore=_GONE)
    if found is None:
        found = ctx.aws.call("lambda", "create_function_url_config", FunctionName=function, AuthType=auth)
    elif found.get("AuthType") != auth:
        found = ctx.aws.call("lambda", "update_function_url_config", FunctionName=function, AuthType=auth)
    if public:
        ctx.aws.call("lambda", "add_permission", FunctionName=function, StatementId=PUBLIC_STATEMENT,
                     Action="lambda:InvokeFunctionUrl", Principal="*", FunctionUrlAuthType="NONE",
                     ignore={"ResourceConflictException"})
    else:
        ctx.aws.call("lambda", "remove_permission", FunctionName=function, StatementId=PUBLIC_STATEMENT,
                     ignore=_GONE)
    return dict(found)


def deploy(ctx: Ctx, stack_dir: Path, app_secrets: dict[str, str]) -> list[dict[str, Any]]:
    """Every serverless service of the stack: package, log group, role, function, URL. One summary each."""
    out = []
    for name, svc in serverless_services(ctx.stack):
        code = package(ctx.stack, stack_dir, name, svc)
        function = function_name(ctx.name, name)
        secrets = {var: app_secrets[secret] for var, secret in split_env(svc.env)[1].items()}
        ensure_log_group(ctx, function, name)
        role = ensure_role(ctx, name, function, list(secrets.values()))
        fn = ensure_function(ctx, name, svc, code, role, secrets)
        url = ensure_url(ctx, function, is_public(ctx.stack))
        dependencies = "none declared" if code.requirements is None else (
            f"not vendored: the zip holds the app source and handler only; put {code.requirements}'s packages "
            f"(with mangum) in the source folder for Lambda's platform, or deploy the rendered SAM template with "
            f"'sam build && sam deploy'")
        out.append({"service": name, "function": function, "arn": fn["FunctionArn"], "url": url["FunctionUrl"],
                    "auth_type": url["AuthType"], "revision": latest_version(ctx.aws, function),
                    "code_sha256": hashlib.sha256(code.data).hexdigest(), "files": len(code.files),
                    "dependencies": dependencies, "memory_mb": serverless.lambda_memory_mib(svc)})
    return out


# --------------------------------------------------------------------------- teardown


def delete_function(aws: AWSSession, function: str) -> None:
    aws.call("lambda", "delete_function_url_config", FunctionName=function, ignore=_GONE)
    aws.call("lambda", "delete_function", FunctionName=function, ignore=_GONE)


def destroy(aws: AWSSession, deployment: str) -> list[str]:
    """Functions tagged as part of ``deployment``, with their URLs, log groups and roles."""
    gone: list[str] = []
    for fn in list(aws.pages("lambda", "list_functions", "Functions")):
        tags = aws.call("lambda", "list_tags", Resource=fn["FunctionArn"], ignore=_GONE)
        if tags is None or not owned_by(tags.get("Tags"), deployment):
            continue
        function = str(fn["FunctionName"])
        delete_function(aws, function)
        gone.append(f"lambda-function:{function}")
        group = log_group(function)
        for found in aws.pages("logs", "describe_log_groups", "logGroups", logGroupNamePrefix=group):
            if found["logGroupName"] == group and owned_by(
                    aws.call("logs", "list_tags_log_group", logGroupName=group).get("tags"), deployment):
                aws.call("logs", "delete_log_group", logGroupName=group, ignore=_GONE)
                gone.append(f"log-group:{group}")
        role = str(fn.get("Role", "")).rsplit("/", 1)[-1]
        role_tags = aws.call("iam", "list_role_tags", RoleName=role, ignore=_GONE) if role else None
        if role_tags is not None and owned_by(role_tags.get("Tags"), deployment):
            delete_role(aws, role)
            gone.append(f"iam-role:{role}")
    for found in list(aws.pages("iam", "list_roles", "Roles", PathPrefix=ROLE_PATH)):
        role = str(found["RoleName"])
        if role.endswith("-fn") and owned_by(aws.call("iam", "list_role_tags", RoleName=role).get("Tags"),
                                             deployment):
            delete_role(aws, role)  # a role whose function was never made
            gone.append(f"iam-role:{role}")
    return gone
