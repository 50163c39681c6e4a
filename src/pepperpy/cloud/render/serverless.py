"""AWS Lambda behind an API Gateway HTTP API, as an AWS SAM template (seed 001's Mangum part).

Every ASGI service with an ``entry_point`` gets a Mangum ``handler.py`` (``<svc>/handler.py``
when the stack has several) and one ``AWS::Serverless::Function`` in ``template.yaml``, wired
to one shared ``AWS::Serverless::HttpApi`` with catch-all routes. Secrets become CloudFormation
dynamic references to Secrets Manager (``{{resolve:secretsmanager:<stack>/<name>}}``) and a
read permission scoped to those secrets only; no value is ever written. Services Lambda cannot
run (Streamlit, image-only, command-only) are skipped and ``README.md`` says why.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.render.base import Files, dns_name, dump_yaml, header
from pepperpy.cloud.spec.quantities import parse_size_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

RUNTIME = "python3.11"
ARCHITECTURE = "x86_64"
MEMORY_MIB = (128, 10240)
# API Gateway HTTP APIs end an integration after 30 s, so a longer Lambda timeout would
# only bill for answers nobody receives; Lambda itself allows up to 900 s.
TIMEOUT_SECONDS = 30
MAX_TIMEOUT_SECONDS = 900
# The only values CloudWatch Logs accepts for RetentionInDays.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def lambda_memory_mib(svc: Service) -> int:
    """The service memory in MiB, rounded up and clamped to what Lambda allows (128..10240)."""
    mib = (parse_size_gb(svc.memory, "memory") * 1024).to_integral_value(rounding=ROUND_CEILING)
    return int(min(max(mib, Decimal(MEMORY_MIB[0])), Decimal(MEMORY_MIB[1])))


def lambda_timeout(seconds: int = TIMEOUT_SECONDS) -> int:
    return min(max(seconds, 1), MAX_TIMEOUT_SECONDS)


def retention_days(days: int) -> int:
    """The smallest retention CloudWatch accepts that keeps logs at least ``days`` days."""
    return next((allowed for allowed in RETENTION_DAYS if allowed >= days), RETENTION_DAYS[-1])


def app_target(name: str, svc: Service) -> tuple[str, str]:
    """(module, attribute) of the ASGI app: ``app/main.py`` -> ('app.main', 'app')."""
    entry = svc.entry_point or ""
    module, _, attr = entry.partition(":")
    module = module.removesuffix(".py").replace("/", ".")
    attr = attr or "app"
    if not _MODULE.match(module) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", attr):
        raise InputError(f"services.{name}.entry_point",
                         f"{entry!r} is not an importable module path",
                         hint="use a path like app/main.py or a module like app.main:app")
    return module, attr


def skip_reason(svc: Service) -> str | None:
    """Why Lambda cannot run this service, or None when it can."""
    if svc.kind == "streamlit":
        return ("Streamlit keeps a long-lived websocket per browser session, which Lambda "
                "behind API Gateway cannot hold; use the docker, kubernetes or systemd target")
    if svc.kind != "asgi":
        return "only ASGI apps run on Lambda (through Mangum); use another target for commands"
    if not (svc.source and svc.entry_point) and svc.image:
        return ("it names only an image; Lambda needs the app's source and entry_point to wrap "
                "it with Mangum (container images must be rebuilt on a Lambda base image in ECR)")
    if not (svc.source and svc.entry_point):
        return "it has no source and entry_point for Mangum to wrap"
    return None


def logical_id(name: str) -> str:
    """A CloudFormation logical ID part from a service name ('my-api' -> 'MyApi')."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def handler_py(stack: Stack, name: str, svc: Service, prefix: str = "") -> str:
    module, attr = app_target(name, svc)
    alias = "" if attr == "app" else " as app"
    base = (f', api_gateway_base_path="{prefix}"' if prefix else "")
    routing = (f"\n# The HTTP API routes {prefix}/... here; Mangum strips {prefix} so the app sees its own paths."
               if prefix else "")
    return header(stack, "#", f"AWS Lambda entry point for the service '{name}': Mangum turns API "
                  "Gateway events into ASGI calls.") + f'''\
"""Lambda handler for {stack.name}/{name}; template.yaml points Handler at handler.handler."""

from mangum import Mangum

from {module} import {attr}{alias}

# lifespan="off": Lambda freezes the process between events, so ASGI startup/shutdown hooks
# would run at unpredictable times; do start-up work at import time instead.{routing}
handler = Mangum(app, lifespan="off"{base})
'''


def _secret_arn(stack: Stack, secret: str) -> dict[str, str]:
    # Secrets Manager appends "-" and six random characters to every secret ARN.
    return {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                       f"secret:{stack.name}/{secret}-??????"}


def function(stack: Stack, name: str, svc: Service, code_uri: str, prefix: str,
             log_group: str) -> dict[str, Any]:
    plain, secret = split_env(svc.env)
    variables: dict[str, str] = dict(plain)
    for var, secret_name in secret.items():
        # Resolved by CloudFormation at deploy time: the template holds only the reference.
        variables[var] = f"{{{{resolve:secretsmanager:{stack.name}/{secret_name}}}}}"
    props: dict[str, Any] = {
        "Description": f"{stack.name}/{name} {stack.version} (ASGI app through Mangum)",
        "Runtime": RUNTIME,
        "Handler": "handler.handler",
        "CodeUri": code_uri,
        "MemorySize": lambda_memory_mib(svc),
        "Timeout": lambda_timeout(),
        "Architectures": [ARCHITECTURE],
        "LoggingConfig": {"LogGroup": {"Ref": log_group}},
    }
    if variables:
        props["Environment"] = {"Variables": dict(sorted(variables.items()))}
    security = stack.cloud.security
    if security.encryption_key_arn:
        props["KmsKeyArn"] = security.encryption_key_arn
    if security.iam_role:
        # The role's owner grants its rights (logs, and reading the secrets named above).
        role = security.iam_role
        props["Role"] = role if role.startswith("arn:") else {
            "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{role}"}
    elif secret:
        # SAM gives the role it creates AWSLambdaBasicExecutionRole (logs); the only extra
        # right is reading this service's own secrets, one SAM policy template per secret.
        props["Policies"] = [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": _secret_arn(stack, s)}}
                             for s in sorted(set(secret.values()))]
    if stack.cloud.monitoring.enable_tracing:
        props["Tracing"] = "Active"
    # Catch-all routes: the whole API for a single service, its own /<svc> prefix otherwise.
    props["Events"] = {
        "Root": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": prefix or "/",
                                                   "Method": "ANY"}},
        "Proxy": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"},
                                                    "Path": f"{prefix}/{{proxy+}}", "Method": "ANY"}},
    }
    return {"Type": "AWS::Serverless::Function", "Properties": props}


def log_group_resource(stack: Stack, suffix: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "LogGroupName": {"Fn::Sub": f"/pepperpy/${{AWS::StackName}}/{suffix}"},
        "RetentionInDays": retention_days(stack.cloud.monitoring.log_retention_days),
    }
    if stack.cloud.security.encryption_key_arn:
        props["KmsKeyId"] = stack.cloud.security.encryption_key_arn
    return {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
            "Properties": props}


ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","method":"$context.httpMethod",'
    '"path":"$context.path","status":"$context.status","latencyMs":"$context.responseLatency",'
    '"responseLength":"$context.responseLength","integrationError":"$context.integrationErrorMessage"}'
)


Rendered = list[tuple[str, Service, str, str]]  # (name, service, code dir, route prefix)


def template(stack: Stack, services: Rendered) -> str:
    retention = stack.cloud.monitoring.log_retention_days
    resources: dict[str, Any] = {
        "HttpApi": {"Type": "AWS::Serverless::HttpApi", "Properties": {
            "Description": f"{stack.name} {stack.version}",
            "AccessLogSettings": {"DestinationArn": {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]},
                                  "Format": ACCESS_LOG_FORMAT},
        }},
        "HttpApiAccessLogs": log_group_resource(stack, "http-api"),
    }
    outputs: dict[str, Any] = {
        "ApiUrl": {"Description": "Base URL of the HTTP API",
                   "Value": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"}},
    }
    seen: dict[str, str] = {}
    for name, svc, code_uri, prefix in services:
        ident = logical_id(name)
        if ident in seen:
            raise InputError(f"services.{name}", f"its name maps to the same CloudFormation ID as "
                             f"services.{seen[ident]} ({ident})", hint="rename one of them")
        seen[ident] = name
        resources[f"{ident}LogGroup"] = log_group_resource(stack, name)
        resources[f"{ident}Function"] = function(stack, name, svc, code_uri, prefix, f"{ident}LogGroup")
        outputs[f"{ident}FunctionName"] = {"Description": f"Lambda function of the service '{name}'",
                                           "Value": {"Ref": f"{ident}Function"}}
        if prefix:
            outputs[f"{ident}ServiceUrl"] = {"Description": f"URL of the service '{name}'", "Value": {
                "Fn::Sub": f"https://${{HttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{prefix}/"}}
    doc: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"{stack.name} {stack.version}: ASGI services on AWS Lambda behind an HTTP API "
                       f"(rendered by pepperpy-cloud)",
        "Metadata": {"pepperpy": {
            "stack": stack.name,
            "secrets": f"environment values of the form {{{{resolve:secretsmanager:{stack.name}/NAME}}}} "
                       f"are resolved by CloudFormation at deploy time; create each secret first",
            "log_retention": f"{retention} days asked, {retention_days(retention)} days set "
                             "(the next value CloudWatch Logs accepts)",
        }},
        "Resources": resources,
        "Outputs": outputs,
    }
    return header(stack, "#", "Deploy with: sam build && sam deploy --guided (see README.md).") + dump_yaml(doc)


def readme(stack: Stack, rendered: Rendered, skipped: dict[str, str]) -> str:
    lines = ["<!--", header(stack, "", "").rstrip("\n"), "-->", "", f"# {stack.name} on AWS Lambda", ""]
    if rendered:
        lines += ["`template.yaml` is an AWS SAM template: one HTTP API, one function per service.", ""]
        for name, svc, code_uri, prefix in rendered:
            module, _ = app_target(name, svc)
            lines.append(f"- `{name}` (routes `{prefix or '/'}`...): `{code_uri}/handler.py` wraps `{module}` "
                         f"with Mangum; copy the contents of `{svc.source}` into `{code_uri}/` and make sure its "
                         f"`{svc.requirements or 'requirements.txt'}` lists `mangum`.")
        secrets = sorted({s for _, svc, _, _ in rendered for s in split_env(svc.env)[1].values()})
        lines += ["", "## Deploy", ""]
        if secrets:
            lines += ["Create each secret once; the template only refers to them "
                      "(CloudFormation resolves the references at deploy time, so redeploy after "
                      "rotating a secret, or read it at run time: the function may call "
                      "secretsmanager:GetSecretValue on these secrets only):", "", "```sh"]
            lines += [f"aws secretsmanager create-secret --name {stack.name}/{s} --secret-string file://{s}.txt"
                      for s in secrets]
            lines += ["```", ""]
        lines += ["```sh", "sam build", f"sam deploy --guided --stack-name {stack.name}", "```", "",
                  "The `ApiUrl` output is the service's URL. Lambda gives CPU in proportion to "
                  "memory, so the service's `cpu` is not used; `MemorySize` is its memory clamped "
                  "to 128..10240 MiB."]
    else:
        lines += ["No service of this stack can run on Lambda, so no template was rendered."]
    if skipped:
        lines += ["", "## Skipped services", ""]
        lines += [f"- `{name}`: {reason}." for name, reason in skipped.items()]
    return "\n".join(lines) + "\n"


def render(stack: Stack) -> Files:
    candidates = sorted(stack.services.items())
    skipped = {name: reason for name, svc in candidates if (reason := skip_reason(svc))}
    runnable = [(name, svc) for name, svc in candidates if name not in skipped]
    several = len(runnable) > 1
    rendered: Rendered = [(name, svc, name, "/" + dns_name(name)) if several else (name, svc, ".", "")
                          for name, svc in runnable]
    files: Files = {}
    for name, svc, code_uri, prefix in rendered:
        files["handler.py" if code_uri == "." else f"{code_uri}/handler.py"] = handler_py(stack, name, svc, prefix)
    if rendered:
        files["template.yaml"] = template(stack, rendered)
    files["README.md"] = readme(stack, rendered, skipped)
    return files
