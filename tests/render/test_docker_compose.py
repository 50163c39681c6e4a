"""Dockerfile and Compose artifacts, checked by hadolint, checkov and the Compose Specification."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from pepperpy.cloud.render import compose, docker
from tests.render.conftest import load_stack


def test_dockerfiles_have_zero_hadolint_findings(rendered: Path, tool) -> None:  # type: ignore[no-untyped-def]
    dockerfiles = sorted(rendered.glob("docker/*/Dockerfile"))
    for path in dockerfiles:
        out = subprocess.run([tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and not out.stdout.strip(), out.stdout


def test_dockerfiles_pass_checkov(rendered: Path, tool) -> None:  # type: ignore[no-untyped-def]
    if not list(rendered.glob("docker/*/Dockerfile")):
        return
    out = subprocess.run([tool("checkov"), "-d", str(rendered / "docker"), "--framework", "dockerfile",
                          "-o", "json", "--quiet", "--compact", "--skip-download"],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    report = report if isinstance(report, dict) else report[0]
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    assert report["summary"]["passed"] > 0


def test_dockerfile_is_multi_stage_non_root_and_checks_health() -> None:
    text = docker.render(load_stack("bsc-rag"))["app/Dockerfile"]
    assert text.count("\nFROM python:3.11") == 2 and " AS builder" in text
    assert "USER 10001" in text and "--no-cache-dir" in text
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert '\nCMD ["streamlit", "run", "app.py"' in text  # exec form
    assert ".env" in docker.render(load_stack("bsc-rag"))["app/.dockerignore"]


def test_compose_files_match_the_compose_specification(rendered: Path, tool) -> None:  # type: ignore[no-untyped-def]
    path = rendered / "compose" / "compose.yaml"
    out = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_waits_for_healthy_components_and_keeps_secrets_in_files() -> None:
    files = compose.render(load_stack("bsc-rag"))
    doc = yaml.safe_load(files["compose.yaml"])
    app = doc["services"]["app"]
    assert app["depends_on"] == {"qdrant": {"condition": "service_healthy"}}
    assert app["environment"]["OPENAI_API_KEY_FILE"] == "/run/secrets/openai-api-key"
    assert "OPENAI_API_KEY" not in app["environment"]
    assert doc["secrets"] == {"openai-api-key": {"file": "./secrets/openai-api-key"}}
    assert doc["volumes"] == {"qdrant-data": {}}
    assert all("healthcheck" in s and "restart" in s for s in doc["services"].values())
    assert app["deploy"]["resources"]["limits"] == {"cpus": "2", "memory": "8192M"}
    # replicas.max > 1: the nginx load balancer of seed 004 fronts the app
    assert "nginx" in doc["services"] and "least_conn;" in files["nginx.conf"]
    assert "OPENAI_API_KEY" not in files[".env.example"]


def test_compose_runs_managed_components_locally_with_password_files() -> None:
    doc = yaml.safe_load(compose.render(load_stack("kv-store"))["compose.yaml"])
    assert {"redis", "database", "broker", "api"} <= set(doc["services"])
    db = doc["services"]["database"]
    assert db["image"].startswith("pgvector/pgvector:") and ":latest" not in db["image"]
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/database-password"
    assert "nginx" in doc["services"]  # 3 api replicas
