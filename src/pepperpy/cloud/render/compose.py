"""Docker Compose: the app plus every backing component, healthy before the app starts.

Secrets are Compose ``secrets`` read from files under ``./secrets/`` (mounted at
``/run/secrets/<name>``, with ``<VAR>_FILE`` pointing there): the compose file never holds a
value. With more than one replica an nginx load balancer (seed 004) fronts the app.
"""

from __future__ import annotations

import json
from typing import Any

from pepperpy.cloud.render.base import Files, dump_yaml, header, service_image
from pepperpy.cloud.render.docker import healthcheck
from pepperpy.cloud.render.images import component_data_path, component_image, component_port, image_key
from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Component, Service, Stack

HEALTH = {"interval": "15s", "timeout": "5s", "retries": 5, "start_period": "20s"}
_COMPONENT_TESTS = {
    "redis": ["CMD", "redis-cli", "ping"],
    "postgres": ["CMD-SHELL", "pg_isready -U postgres"],
    "mysql": ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1"],
    "rabbitmq": ["CMD", "rabbitmq-diagnostics", "-q", "ping"],
    "qdrant": ["CMD-SHELL", "bash -c ':> /dev/tcp/127.0.0.1/6333'"],
    "chroma": ["CMD-SHELL", "bash -c ':> /dev/tcp/127.0.0.1/8000'"],
    "nginx": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/health || exit 1"],
}


def _limits(cpu: Any, memory: Any, where: str) -> dict[str, Any]:
    mem_mb = int(parse_size_gb(memory, f"{where}.memory") * 1024)
    return {"resources": {"limits": {"cpus": str(parse_cpu(cpu, f"{where}.cpu").normalize()),
                                     "memory": f"{mem_mb}M"}}}


def _service(stack: Stack, name: str, svc: Service, secrets: set[str]) -> dict[str, Any]:
    plain, secret_refs = split_env(svc.env)
    env = dict(plain)
    for var, secret in secret_refs.items():
        env[f"{var}_FILE"] = f"/run/secrets/{secret}"
        secrets.add(secret)
    doc: dict[str, Any] = {"image": service_image(stack, name, svc)}
    if not svc.image and svc.source:
        doc["build"] = {"context": svc.source}
    doc["restart"] = "unless-stopped"
    doc["read_only"] = True
    doc["tmpfs"] = ["/tmp"]
    doc["security_opt"] = ["no-new-privileges:true"]
    doc["env_file"] = [{"path": ".env", "required": False}]
    if env:
        doc["environment"] = env
    if secret_refs:
        doc["secrets"] = sorted(set(secret_refs.values()))
    if svc.replicas.max > 1 or svc.replicas.min > 1:
        doc["expose"] = [str(svc.port)]
    else:
        doc["ports"] = [f"127.0.0.1:{svc.port}:{svc.port}"]
    deps = {c: {"condition": "service_healthy"} for c, comp in sorted(stack.components.items())
            if comp.kind != "nginx"}
    if deps:
        doc["depends_on"] = deps
    doc["healthcheck"] = {"test": ["CMD", *json.loads(healthcheck(svc.port, svc.health_path))], **HEALTH}
    doc["deploy"] = {"replicas": max(svc.replicas.min, 1), **_limits(svc.cpu, svc.memory, f"services.{name}")}
    return doc


def _component(stack: Stack, name: str, comp: Component, secrets: set[str]) -> dict[str, Any]:
    key = image_key(comp)
    doc: dict[str, Any] = {"image": component_image(comp), "restart": "unless-stopped"}
    if comp.kind == "postgres":
        secret = f"{name}-password"
        secrets.add(secret)
        doc["environment"] = {"POSTGRES_DB": stack.name.replace("-", "_"),
                              "POSTGRES_PASSWORD_FILE": f"/run/secrets/{secret}"}
        doc["secrets"] = [secret]
        if comp.extensions:
            doc["labels"] = {"pepperpy.cloud/extensions": ",".join(sorted(comp.extensions))}
    if comp.kind == "rabbitmq":
        doc["hostname"] = name
    data = component_data_path(comp)
    if data:
        doc["volumes"] = [f"{name}-data:{data}"]
    doc["expose"] = [str(component_port(comp))]
    doc["healthcheck"] = {"test": _COMPONENT_TESTS[key], **HEALTH}
    doc["deploy"] = _limits(comp.cpu, comp.memory, f"components.{name}")
    return doc


def _nginx_conf(stack: Stack, apps: list[tuple[str, Service]]) -> str:
    upstreams = "".join(
        f"upstream {name} {{\n    least_conn;\n    server {name}:{svc.port} max_fails=3 fail_timeout=10s;\n}}\n\n"
        for name, svc in apps)
    first = apps[0][0]
    return header(stack, "#", "The load balancer in front of the app replicas (seed 004).") + f"""\
map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}

{upstreams}server {{
    listen 80;
    client_max_body_size 20m;

    location = /health {{
        access_log off;
        return 200 "ok\\n";
    }}

    location / {{
        proxy_pass http://{first};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 86400;
    }}
}}
"""


def render(stack: Stack) -> Files:
    secrets: set[str] = set()
    services: dict[str, Any] = {}
    for name, comp in sorted(stack.components.items()):
        if comp.kind != "nginx":
            services[name] = _component(stack, name, comp, secrets)
    for name, svc in sorted(stack.services.items()):
        if svc.runtime == "container":
            services[name] = _service(stack, name, svc, secrets)
    balanced = [(n, s) for n, s in sorted(stack.services.items())
                if s.runtime == "container" and (s.replicas.max > 1 or s.replicas.min > 1)]
    files: Files = {}
    if balanced:
        services["nginx"] = {
            "image": component_image(Component(kind="nginx")), "restart": "unless-stopped",
            "ports": ["80:80"], "volumes": ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"],
            "depends_on": {n: {"condition": "service_healthy"} for n, _ in balanced},
            "healthcheck": {"test": _COMPONENT_TESTS["nginx"], **HEALTH},
            "deploy": _limits("0.5", "128Mi", "nginx"),
        }
        files["nginx.conf"] = _nginx_conf(stack, balanced)
    doc: dict[str, Any] = {"name": stack.name, "services": services}
    volumes: dict[str, dict[str, str]] = {
        f"{n}-data": {} for n, c in sorted(stack.components.items()) if component_data_path(c)}
    if volumes:
        doc["volumes"] = volumes
    if secrets:
        doc["secrets"] = {s: {"file": f"./secrets/{s}"} for s in sorted(secrets)}
    files["compose.yaml"] = header(
        stack, "#", "Run from the stack file's folder: docker compose -f <out>/compose/compose.yaml "
        "--project-directory . up -d (build contexts are relative to the stack file). Put each secret "
        "in ./secrets/<name>; plain settings may go in .env.") + dump_yaml(doc)
    plain = sorted({k for s in stack.services.values() for k in split_env(s.env)[0]})
    files[".env.example"] = header(stack, "#", "Copy to .env and adjust. Secrets do not go here: "
                                   "they are files under ./secrets/.") + "".join(f"{k}=\n" for k in plain)
    return files

