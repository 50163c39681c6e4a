"""The systemd target: hardened template units and an nginx site that nginx itself accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.render import render, systemd_nginx, write
from pepperpy.cloud.spec.stack import Stack

from .conftest import load_stack

HARDENING = [
    "User=pepperpy", "Group=pepperpy", "Restart=on-failure", "RestartSec=5", "NoNewPrivileges=yes",
    "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
    "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes", "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet=",
]


def api_stack(**extra: Any) -> Stack:
    """An ASGI service from source with three replicas and secrets, and a second one with one."""
    return Stack.model_validate({
        "name": "rag-api",
        "services": {
            "api": {"source": "../api", "entry_point": "app/main.py", "port": 9000, "cpu": "1.5",
                    "memory": "768Mi", "replicas": {"min": 2, "max": 3},
                    "env": {"LOG_LEVEL": "INFO", "GREETING": "hello world $HOME",
                            "OPENAI_API_KEY": "${SECRET:openai-api-key}"}},
            "web": {"command": ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", "0.0.0.0:9100",
                                "web:app"], "port": 9100, "health_path": "/healthz"},
            "worker": {"command": ["python", "-m", "worker"], "kind": "command", "port": 9200},
        },
        **extra,
    })


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture(params=["bsc-rag", "api"])
def case(request: pytest.FixtureRequest) -> tuple[Stack, dict[str, str]]:
    stack = load_stack("bsc-rag") if request.param == "bsc-rag" else api_stack()
    return stack, systemd_nginx.render(stack)


def test_examples_render_units_or_say_why_not(rendered: Path) -> None:
    folder = rendered / "systemd"
    readme = (folder / "README.md").read_text()
    match = re.search(r"from the stack '([a-z0-9-]+)'", readme)
    assert match
    stack = load_stack(match[1])
    for name, svc in stack.services.items():
        unit = folder / f"{stack.name}-{name}@.service"
        if svc.image and not svc.source:
            assert not unit.exists() and f"`{name}`: it names only an image" in readme
        else:
            assert set(HARDENING) <= set(lines_of(unit.read_text()))
            assert (folder / f"nginx-{stack.name}.conf").exists()


def test_unit_has_every_hardening_directive(case: tuple[Stack, dict[str, str]]) -> None:
    stack, files = case
    for name, svc in stack.services.items():
        text = files[f"{stack.name}-{name}@.service"]
        lines = lines_of(text)
        missing = [d for d in HARDENING if d not in lines]
        assert not missing, missing
        assert f"WorkingDirectory=/opt/{stack.name}/{name}" in lines
        assert f"EnvironmentFile=/etc/{stack.name}/{name}.env" in lines
        assert any(line.startswith("ReadWritePaths=/var/lib/") and "/var/log/" in line for line in lines)
        assert any(re.fullmatch(r"MemoryMax=\d+M", line) for line in lines)
        assert "MemoryDenyWriteExecute" in text and "JIT" in text  # the documented caveat
        exec_start = next(line for line in lines if line.startswith("ExecStart="))
        assert exec_start.startswith(f"ExecStart=/opt/{stack.name}/{name}/.venv/bin/")
        assert "0.0.0.0" not in exec_start
        # The template instance is the port: %i, and each replica's port is listed for enabling.
        ports = range(svc.port, svc.port + svc.replicas.max)
        assert "%i" in exec_start or "Environment=PORT=%i" in lines
        assert "systemctl enable --now " + " ".join(f"{stack.name}-{name}@{p}.service" for p in ports) in text


def test_unit_sizes_and_command() -> None:
    files = systemd_nginx.render(api_stack())
    lines = lines_of(files["rag-api-api@.service"])
    assert "MemoryMax=768M" in lines and "CPUQuota=150%" in lines
    assert ("ExecStart=/opt/rag-api/api/.venv/bin/uvicorn app.main:app --host 127.0.0.1 --port %i "
            "--proxy-headers") in lines
    worker = files["rag-api-worker@.service"]
    assert "ExecStart=/opt/rag-api/worker/.venv/bin/python -m worker" in lines_of(worker)
    assert "make it $PORT" in worker
    # A port inside an argument is the instance's too; 0.0.0.0 becomes loopback.
    assert ("ExecStart=/opt/rag-api/web/.venv/bin/gunicorn -k uvicorn.workers.UvicornWorker -b 127.0.0.1:%i "
            "web:app") in lines_of(files["rag-api-web@.service"])
    streamlit = lines_of(systemd_nginx.render(load_stack("bsc-rag"))["bsc-rag-app@.service"])
    assert ("ExecStart=/opt/bsc-rag/app/.venv/bin/streamlit run app.py --server.port %i "
            "--server.address 127.0.0.1 --server.headless true") in streamlit
    assert "CPUQuota=200%" in streamlit and "MemoryMax=8192M" in streamlit


def test_secrets_are_credentials_never_values() -> None:
    files = systemd_nginx.render(api_stack())
    unit, example = files["rag-api-api@.service"], files["rag-api-api.env.example"]
    lines = lines_of(unit)
    assert "LoadCredential=openai-api-key:/etc/rag-api/credentials/openai-api-key" in lines
    assert "Environment=OPENAI_API_KEY_FILE=%d/openai-api-key" in lines
    assert "$CREDENTIALS_DIRECTORY" in unit
    assert not [line for line in lines if line.startswith(("Environment=OPENAI_API_KEY=", "OPENAI_API_KEY="))]
    assert not [line for line in lines_of(example) if line.startswith("OPENAI_API_KEY")]
    assert lines_of(example) == ['GREETING="hello world \\$HOME"', "LOG_LEVEL=INFO"]
    for text in files.values():
        assert "${SECRET:" not in text


def test_site_shape(case: tuple[Stack, dict[str, str]]) -> None:
    stack, files = case
    site = files[f"nginx-{stack.name}.conf"]
    assert site.startswith("# Generated by pepperpy-cloud")
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{", site)
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_set_header Connection $connection_upgrade;" in site
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in site and "TLSv1.1" not in site
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in site
    assert "listen 443 ssl http2;" in site
    assert "location /.well-known/acme-challenge/ {" in site
    assert "return 301 https://$host$request_uri;" in site
    for header in ("X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Content-Type-Options"):
        assert header in site
    for name, svc in stack.services.items():
        ident = f"{stack.name}_{name}".replace("-", "_")
        if svc.kind == "command":  # not an HTTP app: no proxy in front of it
            assert f"upstream {ident} " not in site and f"zone={ident}:" not in site
            continue
        assert re.search(rf"^limit_req_zone \$binary_remote_addr zone={ident}:10m rate=\d+r/s;$", site, re.M)
        assert re.search(rf"^\s+limit_req zone={ident} burst=\d+ nodelay;$", site, re.M)
        block = re.search(rf"upstream {ident} \{{(.*?)\}}", site, re.S)
        assert block
        servers = re.findall(r"server (127\.0\.0\.1:\d+)", block[1])
        assert servers == [f"127.0.0.1:{p}" for p in range(svc.port, svc.port + svc.replicas.max)]
        # Streamlit sessions live in one replica, so clients stay on one; ASGI apps take the least busy.
        balancing = "hash $remote_addr consistent;" if svc.kind == "streamlit" else "least_conn;"
        assert balancing in block[1]
        assert f"proxy_pass http://{ident}{svc.health_path};" in site
    assert "location = /health {" in site


def test_server_names_and_certificates() -> None:
    files = systemd_nginx.render(api_stack(cloud={"network": {"custom_domain": "rag.example.org"}}))
    site = files["nginx-rag-api.conf"]
    assert "server_name rag.example.org;" in site and "server_name web.rag.example.org;" in site
    assert "worker" not in site
    assert "ssl_certificate /etc/letsencrypt/live/rag.example.org/fullchain.pem;" in site
    assert "ssl_certificate_key /etc/letsencrypt/live/web.rag.example.org/privkey.pem;" in site
    default = systemd_nginx.render(load_stack("bsc-rag"))["nginx-bsc-rag.conf"]
    assert re.search(r"server_name bsc-rag\.example\.com;\s+# placeholder: edit", default)


def test_overlapping_replica_ports_are_refused() -> None:
    stack = Stack.model_validate({"name": "x", "services": {
        "a": {"source": ".", "entry_point": "a.py", "port": 8000, "replicas": {"max": 3}},
        "b": {"source": ".", "entry_point": "b.py", "port": 8002}}})
    with pytest.raises(InputError, match="8002"):
        systemd_nginx.render(stack)


def test_image_only_services_are_skipped() -> None:
    data = load_stack("kv-store").model_dump(mode="json", exclude_defaults=True)
    api = data["services"]["api"]
    for key in ("source", "entry_point", "kind"):
        api.pop(key, None)
    api["image"] = "ghcr.io/example/kv-store-api:1.4.2"
    files = systemd_nginx.render(Stack.model_validate(data))
    assert sorted(files) == ["README.md"]
    assert "`api`: it names only an image" in files["README.md"]


def test_kv_store_api_gets_a_unit_per_replica_port() -> None:
    files = systemd_nginx.render(load_stack("kv-store"))
    assert "kv-store-api@.service" in files
    assert "least_conn;" in files["nginx-kv-store.conf"]


def test_render_is_deterministic() -> None:
    assert systemd_nginx.render(api_stack()) == systemd_nginx.render(api_stack())


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze is not installed (usual in containers)")
    return found


def test_systemd_analyze_verify(case: tuple[Stack, dict[str, str]], tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    stack, files = case
    for name, svc in stack.services.items():
        # Verify one instance; point the venv at a stand-in executable, the only host-specific part.
        venv = tmp_path / name / "bin"
        venv.mkdir(parents=True)
        text = files[f"{stack.name}-{name}@.service"]
        program = re.search(r"^ExecStart=/opt/[^/]+/[^/]+/\.venv/bin/(\S+)", text, re.M)
        assert program
        (venv / program[1]).write_text("#!/bin/sh\n")
        (venv / program[1]).chmod(0o755)
        unit = tmp_path / f"{stack.name}-{name}@{svc.port}.service"
        unit.write_text(text.replace(f"/opt/{stack.name}/{name}/.venv/bin/", f"{venv}/"))
        proc = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                              timeout=120)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert unit.name not in output, output  # e.g. "Unknown key ..., ignoring" warnings
        security = subprocess.run([analyze, "security", "--offline=yes", str(unit)], capture_output=True,
                                  text=True, timeout=120)
        score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", security.stdout)
        if security.returncode == 0 and score:
            assert float(score[1]) < 3.0, security.stdout  # systemd rates < 3 as "OK"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=test", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=120)
        return cert, key
    pytest.importorskip("cryptography", reason="neither openssl nor cryptography is available")
    import datetime

    from cryptography import x509  # type: ignore[import-not-found,unused-ignore]
    from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found,unused-ignore]
    from cryptography.hazmat.primitives.asymmetric import rsa  # type: ignore[import-not-found,unused-ignore]
    from cryptography.x509.oid import NameOID  # type: ignore[import-not-found,unused-ignore]

    pkey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(pkey, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert, key


@pytest.mark.parametrize("stack_name", ["bsc-rag", "api", "api-domain"])
def test_nginx_accepts_the_site(stack_name: str, tool: Any, tmp_path: Path) -> None:
    nginx = tool("nginx")
    stack = {"bsc-rag": lambda: load_stack("bsc-rag"), "api": api_stack,
             "api-domain": lambda: api_stack(cloud={"network": {"custom_domain": "rag.example.org"}})}[stack_name]()
    write(render(stack, "systemd"), tmp_path / "out")
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    cert, key = _self_signed(prefix)
    original = (tmp_path / "out" / "systemd" / f"nginx-{stack.name}.conf").read_text()
    site = re.sub(r"/etc/letsencrypt/live/[^/;\s]+/fullchain\.pem", str(cert), original)
    site = re.sub(r"/etc/letsencrypt/live/[^/;\s]+/privkey\.pem", str(key), site)
    assert site != original and "/etc/letsencrypt" not in site
    (prefix / "site.conf").write_text(site)
    temp = {d: prefix / d for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    access_log {prefix}/access.log;\n"
        + "".join(f"    {d}_temp_path {path};\n" for d, path in temp.items())
        + f"    include {prefix}/site.conf;\n"
        "}\n")
    proc = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr
    assert "[emerg]" not in proc.stderr
