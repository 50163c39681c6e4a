"""Dockerfile and .dockerignore for every service built from source (seed 004's multi-stage image).

Slim pinned base, dependencies installed in a builder stage into a venv, no pip cache, a
non-root user, exec-form CMD and a HEALTHCHECK on the service's health path. Services that
name an ``image`` are not built here.
"""

from __future__ import annotations

import json

from pepperpy.cloud.render.base import Files, header, service_command
from pepperpy.cloud.render.images import PYTHON_BASE
from pepperpy.cloud.spec.stack import Service, Stack

UID = 10001
DOCKERIGNORE = """\
.git
.gitignore
.venv
venv
__pycache__
*.py[cod]
.pytest_cache
.mypy_cache
.ruff_cache
.env
.env.*
*.pem
*.key
secrets/
tests/
docs/
Dockerfile*
.dockerignore
"""


def healthcheck(port: int, path: str) -> str:
    """A HEALTHCHECK that needs only Python (slim images have no curl)."""
    probe = (f"import sys,urllib.request;"
             f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}{path}',timeout=4).status<400 else 1)")
    return json.dumps(["python", "-c", probe])


def dockerfile(stack: Stack, name: str, svc: Service) -> str:
    requirements = svc.requirements or "requirements.txt"
    cmd = json.dumps(service_command(svc))
    return header(stack, "#", f"Copy into the service's source dir ({svc.source}) and build there: docker build . "
                  f"{requirements} must list {'streamlit' if svc.kind == 'streamlit' else 'uvicorn'}.") + f"""\
FROM {PYTHON_BASE} AS builder
ENV PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY {requirements} requirements.txt
RUN python -m venv /opt/venv \\
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

FROM {PYTHON_BASE}
LABEL org.opencontainers.image.title="{stack.name}-{name}" \\
      org.opencontainers.image.version="{stack.version}"
ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid {UID} app \\
    && useradd --system --uid {UID} --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY --chown={UID}:{UID} . .
USER {UID}
EXPOSE {svc.port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD {healthcheck(svc.port, svc.health_path)}
CMD {cmd}
"""


def render(stack: Stack) -> Files:
    files: Files = {}
    for name, svc in sorted(stack.services.items()):
        if svc.image or not svc.entry_point:
            continue
        files[f"{name}/Dockerfile"] = dockerfile(stack, name, svc)
        files[f"{name}/.dockerignore"] = header(stack, "#", "Keeps secrets and caches out of the image.") + DOCKERIGNORE
    return files
