"""One Linux VM without containers: hardened systemd units behind an nginx TLS site (seed 004).

Per service, a template unit ``<stack>-<svc>@.service`` whose instance name is the port it
listens on (one instance per replica: ``service.port`` .. ``service.port + replicas.max - 1``,
bound to 127.0.0.1 only), an ``<stack>-<svc>.env.example`` listing the plain environment,
and secrets handed over with ``LoadCredential=`` from root-only files (never values). One
nginx site ``nginx-<stack>.conf`` terminates TLS and spreads requests over the replicas,
with websocket upgrades for Streamlit, rate limits, HSTS and security headers.
Services that only name an image are skipped (they need a container runtime; use the
compose or kubernetes target) and ``README.md`` says so.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.render.base import Files, header, service_command
from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

USER = "pepperpy"
_PORT = "\x00PORT\x00"  # stands for the instance name (%i) until the command is quoted

# Per-client request rate and burst at the proxy; edit to fit the app. Streamlit pages fetch
# dozens of static files at once, hence the burst.
RATE = "10r/s"
BURST = {"asgi": 20, "command": 20, "streamlit": 60}
# Largest request body: Streamlit's own upload limit defaults to 200 MB.
BODY_MAX = {"asgi": "10m", "command": "10m", "streamlit": "200m"}
# Mozilla "intermediate" TLS 1.2 ciphers (TLS 1.3 suites are always on and not listed here).
CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
])


def replica_ports(svc: Service) -> list[int]:
    return list(range(svc.port, svc.port + svc.replicas.max))


def memory_max(svc: Service) -> str:
    mib = (parse_size_gb(svc.memory, "memory") * 1024).to_integral_value(rounding=ROUND_CEILING)
    return f"{int(mib)}M"


def cpu_quota(svc: Service) -> str | None:
    percent = (parse_cpu(svc.cpu, "cpu") * 100).to_integral_value(rounding=ROUND_CEILING)
    return f"{int(percent)}%" if percent > 0 else None


def _ident(*parts: str) -> str:
    """An nginx zone/upstream name from parts ('bsc-rag', 'app' -> 'bsc_rag_app')."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts))


def _quote(arg: str) -> str:
    """One ExecStart argument, escaped for systemd (specifiers, variables, quoting)."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if text == ";" or re.search(r"[\s\"'\\]", text) or not text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text.replace(_PORT, "%i")


def exec_args(stack: Stack, name: str, svc: Service) -> list[str]:
    """The service command from its venv, on the instance's port, listening on loopback only."""
    port = str(svc.port)
    args: list[str] = []
    for arg in service_command(svc):
        # "8000", "--port=8000", "0.0.0.0:8000": the replica's own port instead.
        arg = re.sub(rf"(^|[=:]){port}$", lambda m: m[1] + _PORT, arg)
        args.append(arg.replace("0.0.0.0", "127.0.0.1"))
    if not args[0].startswith("/"):
        args[0] = f"/opt/{stack.name}/{name}/.venv/bin/{args[0]}"
    return args


def exec_start(stack: Stack, name: str, svc: Service) -> str:
    return " ".join(_quote(a) for a in exec_args(stack, name, svc))


def unit(stack: Stack, name: str, svc: Service) -> str:
    root = f"/opt/{stack.name}/{name}"
    state, logs = f"{stack.name}/{name}", f"{stack.name}/{name}"
    plain, secret = split_env(svc.env)
    ports = replica_ports(svc)
    instances = " ".join(f"{stack.name}-{name}@{p}.service" for p in ports)
    lines = [
        header(stack, "#", f"Install as /etc/systemd/system/{stack.name}-{name}@.service, then "
               "systemctl daemon-reload (see README.md)."),
        "# A template unit: the instance name is the port a replica listens on (127.0.0.1 only).",
        f"# replicas.max = {svc.replicas.max}: enable {', '.join(map(str, ports))}; "
        f"replicas.min = {svc.replicas.min} must stay up.",
        f"#   systemctl enable --now {instances}",
        "[Unit]",
        f"Description={stack.name} {name} ({svc.kind}) replica on port %i",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=exec",
        f"User={USER}",
        f"Group={USER}",
        f"WorkingDirectory={root}",
        f"Environment=PATH={root}/.venv/bin:/usr/local/bin:/usr/bin:/bin",
        f"Environment=HOME=/var/lib/{state}",
        "Environment=PYTHONUNBUFFERED=1",
        "Environment=PYTHONDONTWRITEBYTECODE=1",
        "Environment=PORT=%i",
        f"# Plain settings ({', '.join(plain) or 'none yet'}): copy {stack.name}-{name}.env.example "
        f"to /etc/{stack.name}/{name}.env.",
        f"EnvironmentFile=/etc/{stack.name}/{name}.env",
    ]
    if secret:
        lines += [
            f"# Secrets: root writes each one to /etc/{stack.name}/credentials/NAME (mode 0600);",
            "# systemd copies it into a private, read-only directory for this service only and",
            "# names that directory in $CREDENTIALS_DIRECTORY (also the %d specifier). The app",
            "# reads the file named by VAR_FILE (e.g. open(os.environ['X_FILE']).read().strip());",
            "# %d needs systemd >= 248. An app that only reads VAR itself can be started through",
            "# a shell instead (the value then lives in the process environment):",
            '#   ExecStart=/bin/sh -c \'VAR="$$(cat "$$CREDENTIALS_DIRECTORY/NAME")" exec ...\'',
        ]
        for var, secret_name in secret.items():
            lines.append(f"LoadCredential={secret_name}:/etc/{stack.name}/credentials/{secret_name}")
            lines.append(f"Environment={var}_FILE=%d/{secret_name}")
    if not any(_PORT in arg for arg in exec_args(stack, name, svc)):
        lines.append("# If the command listens on a port, make it $PORT (the instance name) so replicas "
                     "do not collide.")
    lines += [
        f"ExecStart={exec_start(stack, name, svc)}",
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=30",
        "LimitNOFILE=65536",
        "# Writable places: its state (also $HOME) and its logs; everything else is read-only.",
        f"StateDirectory={state}",
        f"LogsDirectory={logs}",
        f"ReadWritePaths=/var/lib/{state} /var/log/{logs}",
        "UMask=0027",
        "",
        "# Hardening (check with: systemd-analyze security " + f"{stack.name}-{name}@{svc.port}.service)",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "RemoveIPC=yes",
        "LockPersonality=yes",
        "# MemoryDenyWriteExecute forbids memory that is both writable and executable. Some JIT",
        "# compilers need it (numba/llvmlite, PyTorch's and ONNX Runtime's JITs, old libffi",
        "# callbacks): if the service dies with SIGSYS or 'Operation not permitted' on mmap,",
        "# set it to no for this service only.",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged",
        "SystemCallErrorNumber=EPERM",
        "",
        "# Resources of one replica, from the stack's cpu and memory.",
        f"MemoryMax={memory_max(svc)}",
    ]
    quota = cpu_quota(svc)
    if quota:
        lines.append(f"CPUQuota={quota}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def env_example(stack: Stack, name: str, svc: Service) -> str:
    plain, secret = split_env(svc.env)
    text = header(stack, "#", f"Copy to /etc/{stack.name}/{name}.env (root:{USER}, mode 0640). "
                  "Plain settings only: secrets go to credentials files.")
    text += "".join(f"{key}={_env_value(value)}\n" for key, value in plain.items())
    for var, secret_name in secret.items():
        text += (f"# {var} is a secret: write it to /etc/{stack.name}/credentials/{secret_name}; "
                 f"the app gets its path in {var}_FILE\n")
    return text


def _env_value(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@+,=-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def server_names(stack: Stack, names: list[str]) -> dict[str, tuple[str, bool]]:
    """Service -> (server name, is it a placeholder); the first service gets the bare domain."""
    domain = stack.cloud.network.custom_domain
    base = domain or f"{stack.name}.example.com"
    return {name: (base if i == 0 else f"{name}.{base}", domain is None) for i, name in enumerate(names)}


def site(stack: Stack, services: list[tuple[str, Service]]) -> str:
    names = server_names(stack, [n for n, _ in services])
    out = [
        header(stack, "#", f"Install as /etc/nginx/sites-available/{stack.name} (linked from "
               "sites-enabled), then nginx -t && systemctl reload nginx."),
        "# Included inside http {}: the top-level directives below are http-level.",
        "# Needs nginx >= 1.13 (TLS 1.3); 'listen ... http2' is kept because Debian 12 ships 1.22",
        "# (nginx >= 1.25.1 prefers a separate 'http2 on;' and only warns about this form).",
        "# Logs go to the http-level access_log/error_log (Debian: /var/log/nginx/).",
        "",
        "# WebSocket upgrades (Streamlit) pass through; other requests keep upstream connections alive.",
        "map $http_upgrade $connection_upgrade {",
        "    default upgrade;",
        "    ''      '';",
        "}",
        "",
    ]
    for name, svc in services:
        ident = _ident(stack.name, name)
        server, placeholder = names[name]
        streamlit = svc.kind == "streamlit"
        out += [
            f"# ---- {name} ({svc.kind}) ----",
            f"limit_req_zone $binary_remote_addr zone={ident}:10m rate={RATE};",
            "",
            f"upstream {ident} {{",
        ]
        if streamlit:
            out += [
                "    # Streamlit keeps each session's state in the replica holding its websocket, and",
                "    # file uploads must reach that same replica: pin clients to a replica by address",
                "    # (behind another proxy, set real_ip_header/set_real_ip_from first).",
                "    hash $remote_addr consistent;",
            ]
        else:
            out.append("    least_conn;")
        out += [f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;" for port in replica_ports(svc)]
        out += ["    keepalive 16;", "}", ""]
        edit = "  # placeholder: edit, or set cloud.network.custom_domain" if placeholder else ""
        cert = f"/etc/letsencrypt/live/{server}"
        out += [
            "server {",
            "    listen 80;",
            "    listen [::]:80;",
            f"    server_name {server};{edit}",
            "",
            "    # Let's Encrypt HTTP-01 challenges (certbot --webroot -w /var/www/letsencrypt).",
            "    location /.well-known/acme-challenge/ {",
            "        root /var/www/letsencrypt;",
            "    }",
            "    location / {",
            "        return 301 https://$host$request_uri;",
            "    }",
            "}",
            "",
            "server {",
            "    listen 443 ssl http2;",
            "    listen [::]:443 ssl http2;",
            f"    server_name {server};{edit}",
            "    server_tokens off;",
            "",
            f"    ssl_certificate {cert}/fullchain.pem;",
            f"    ssl_certificate_key {cert}/privkey.pem;",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            f"    ssl_ciphers {CIPHERS};",
            "    ssl_prefer_server_ciphers off;",
            f"    ssl_session_cache shared:{ident}_tls:10m;",
            "    ssl_session_timeout 1d;",
            "    ssl_session_tickets off;",
            "",
            "    # HSTS: browsers will refuse plain HTTP for this name for two years.",
            '    add_header Strict-Transport-Security "max-age=63072000" always;',
            '    add_header X-Content-Type-Options "nosniff" always;',
            '    add_header X-Frame-Options "SAMEORIGIN" always;',
            '    add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
            '    add_header Permissions-Policy "camera=(), microphone=(), geolocation=()" always;',
            "",
            f"    client_max_body_size {BODY_MAX[svc.kind]};",
            "    limit_req_status 429;",
            "",
            "    location = /health {",
            "        access_log off;",
            f"        proxy_pass http://{ident}{svc.health_path};",
            "        proxy_http_version 1.1;",
            '        proxy_set_header Connection "";',
            "        proxy_set_header Host $host;",
            "    }",
            "",
            "    location / {",
            f"        limit_req zone={ident} burst={BURST[svc.kind]} nodelay;",
            f"        proxy_pass http://{ident};",
            "        proxy_http_version 1.1;",
            "        proxy_set_header Upgrade $http_upgrade;",
            "        proxy_set_header Connection $connection_upgrade;",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Real-IP $remote_addr;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "        proxy_set_header X-Forwarded-Proto $scheme;",
            "        proxy_set_header X-Forwarded-Host $host;",
            "        proxy_connect_timeout 5s;",
            # Streamlit holds a websocket open for the whole session.
            f"        proxy_read_timeout {'86400s' if streamlit else '60s'};",
            f"        proxy_send_timeout {'86400s' if streamlit else '60s'};",
            "    }",
            "}",
            "",
        ]
    return "\n".join(out)


def skip_reason(svc: Service) -> str | None:
    if svc.image and not svc.source:
        return ("it names only an image, which needs a container runtime; use the compose or "
                "kubernetes target, or give it source and entry_point")
    return None


def web_services(services: list[tuple[str, Service]]) -> list[tuple[str, Service]]:
    """The services nginx fronts: HTTP apps (kind 'command' runs without a proxy)."""
    return [(name, svc) for name, svc in services if svc.kind != "command"]


def _check_ports(stack: Stack, services: list[tuple[str, Service]]) -> None:
    taken: dict[int, str] = {}
    for name, svc in services:
        ports = replica_ports(svc)
        if ports[-1] > 65535:
            raise InputError(f"services.{name}.port", f"replicas {svc.port}..{ports[-1]} run past port 65535",
                             hint="choose a lower port")
        for port in ports:
            if port in taken:
                raise InputError(f"services.{name}.port",
                                 f"replica port {port} is also used by services.{taken[port]} "
                                 "(each service takes port .. port + replicas.max - 1)",
                                 hint="space the services' ports further apart")
            taken[port] = name


def readme(stack: Stack, services: list[tuple[str, Service]], skipped: dict[str, str]) -> str:
    lines = ["<!--", header(stack, "", "").rstrip("\n"), "-->", "", f"# {stack.name} on one Linux machine", ""]
    if services:
        secrets = sorted({s for _, svc in services for s in split_env(svc.env)[1].values()})
        lines += ["As root, once:", "", "```sh",
                  f"useradd --system --home-dir /var/lib/{stack.name} --shell /usr/sbin/nologin {USER}",
                  f"install -d -m 0750 -o root -g {USER} /etc/{stack.name}",
                  f"install -d -m 0700 -o root -g root /etc/{stack.name}/credentials",
                  "install -d -m 0755 /var/www/letsencrypt"]
        for name, svc in services:
            lines += [f"# {name}: its code (owned by root, read-only to the service) and venv",
                      f"install -d -m 0755 /opt/{stack.name}/{name}",
                      f"cp -r {svc.source}/. /opt/{stack.name}/{name}/" if svc.source
                      else f"# put the code {svc.command[0] if svc.command else ''} runs in /opt/{stack.name}/{name}",
                      f"python3 -m venv /opt/{stack.name}/{name}/.venv",
                      f"/opt/{stack.name}/{name}/.venv/bin/pip install -r /opt/{stack.name}/{name}/"
                      f"{svc.requirements or 'requirements.txt'}",
                      f"install -m 0640 -o root -g {USER} {stack.name}-{name}.env.example "
                      f"/etc/{stack.name}/{name}.env",
                      f"install -m 0644 {stack.name}-{name}@.service /etc/systemd/system/"]
        lines += ["# each secret, from a file you keep elsewhere (never in the env file)"] if secrets else []
        lines += [f"install -m 0600 -o root -g root ./{s} /etc/{stack.name}/credentials/{s}" for s in secrets]
        lines += ["systemctl daemon-reload"]
        for name, svc in services:
            lines.append("systemctl enable --now " + " ".join(
                f"{stack.name}-{name}@{p}.service" for p in replica_ports(svc)))
        web = web_services(services)
        if not web:
            lines += ["```"]
        else:
            lines += [f"install -m 0644 nginx-{stack.name}.conf /etc/nginx/sites-available/{stack.name}",
                      f"ln -s /etc/nginx/sites-available/{stack.name} /etc/nginx/sites-enabled/{stack.name}",
                      "nginx -t && systemctl reload nginx", "```", "",
                      "The site names certificates that must exist before `nginx -t` passes. Get each "
                      "one first with certbot's own server (stop nginx for a moment if it holds port 80), "
                      "then, once the site is live, move renewals to the site's ACME location:", "", "```sh"]
            servers = [server for server, _ in server_names(stack, [n for n, _ in web]).values()]
            lines += [f"certbot certonly --standalone -d {server}" for server in servers]
            lines += ["# after the site is enabled:"]
            lines += [f"certbot certonly --webroot -w /var/www/letsencrypt -d {server} --force-renewal "
                      "--deploy-hook 'systemctl reload nginx'" for server in servers]
            lines += ["```"]
        lines += ["",
                  "Each replica is one instance of the template unit, named by its port; enable "
                  "replicas.max instances to allow scaling and stop the ones you do not need."]
        colocated = [(n, c) for n, c in stack.components.items() if c.colocate_with and not c.managed]
        if colocated:
            lines += ["", "Components that run on this machine but are not rendered here "
                      "(use the compose target for them): "
                      + ", ".join(f"`{n}` ({c.engine or c.kind})" for n, c in colocated) + "."]
    else:
        lines.append("No service of this stack runs from source, so no unit or site was rendered.")
    if skipped:
        lines += ["", "## Skipped services", ""]
        lines += [f"- `{name}`: {reason}." for name, reason in skipped.items()]
    return "\n".join(lines) + "\n"


def render(stack: Stack) -> Files:
    candidates = list(stack.services.items())
    skipped = {name: reason for name, svc in candidates if (reason := skip_reason(svc))}
    services = [(name, svc) for name, svc in candidates if name not in skipped]
    _check_ports(stack, services)
    files: Files = {}
    for name, svc in services:
        files[f"{stack.name}-{name}@.service"] = unit(stack, name, svc)
        files[f"{stack.name}-{name}.env.example"] = env_example(stack, name, svc)
    if web_services(services):
        files[f"nginx-{stack.name}.conf"] = site(stack, web_services(services))
    files["README.md"] = readme(stack, services, skipped)
    return files
