"""``${SECRET:name}`` references: what a spec may say about a secret instead of its value."""

from __future__ import annotations

import re

SECRET_REF = re.compile(r"^\$\{SECRET:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})\}$")
_SECRET_LIKE = re.compile(r"(?:^|_)(?:KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIALS?)(?:$|_)", re.I)


def secret_name(value: str) -> str | None:
    """The secret's name when ``value`` is exactly a ``${SECRET:name}`` reference."""
    match = SECRET_REF.match(value.strip())
    return match["name"] if match else None


def split_env(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain variables, {variable: secret name}), both sorted by variable name."""
    plain, secret = {}, {}
    for key in sorted(env):
        name = secret_name(env[key])
        if name:
            secret[key] = name
        else:
            plain[key] = env[key]
    return plain, secret


def check_env(env: dict[str, str]) -> dict[str, str]:
    """Refuse what looks like a secret written in clear, and malformed references."""
    for key, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
        if "${SECRET" in value and secret_name(value) is None:
            raise ValueError(f"{key}: write a secret reference exactly as ${{SECRET:name}}")
        if _SECRET_LIKE.search(key) and value and secret_name(value) is None:
            raise ValueError(f"{key} looks like a secret written in clear text; store it with "
                             f"'pepperpy-cloud secrets set' and write ${{SECRET:name}} instead")
    return env
