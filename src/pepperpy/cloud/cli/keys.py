"""``keys``: create, list and revoke the API keys the HTTP service accepts. Keys are shown once, stored hashed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pepperpy.cloud.service.auth import KeyStore

app = typer.Typer(help="API keys for the HTTP service (pepperpy-cloud serve).", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)

DB_HELP = "Key database (default: $KEYS_DB or <PEPPERPY_CLOUD_HOME>/service/keys.db, as the service uses)."


def _store(db: Path | None) -> KeyStore:
    import os

    from pepperpy.cloud.service.auth import KeyStore

    chosen = db or (Path(os.environ["KEYS_DB"]) if os.environ.get("KEYS_DB") else None)
    return KeyStore(chosen)


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what uses the key, e.g. dashboard or ci."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored.

    Example:

      pepperpy-cloud keys create dashboard
    """
    store = _store(db)
    info, key = store.create(name)
    if as_json:
        from pepperpy.cloud.cli.output import emit_json

        emit_json({"id": info.id, "name": info.name, "key": key})
        return
    typer.echo(key)
    typer.echo(f"key id {info.id} ({info.name}); this is the only time the key is shown: store it now.", err=True)


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (from 'keys ls') or the key itself."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a key; requests with it get 401 from then on.

    Example:

      pepperpy-cloud keys revoke k3x9a0b2
    """
    store = _store(db)
    info = store.revoke(key_id)
    typer.echo(f"revoked {info.id} ({info.name}) at {_when(info.revoked_at)}")


@app.command("ls")
def ls(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List keys: id, name, created, revoked (never the key or its digest)."""
    store = _store(db)
    keys = store.list()
    if as_json:
        from pepperpy.cloud.cli.output import emit_json

        emit_json([{"id": k.id, "name": k.name, "created_at": k.created_at, "revoked_at": k.revoked_at,
                    "active": k.active} for k in keys])
        return
    if not keys:
        typer.echo("no keys; create one with 'pepperpy-cloud keys create NAME'")
        return
    for k in keys:
        state = "active" if k.active else f"revoked {_when(k.revoked_at)}"
        typer.echo(f"{k.id}  {k.name:<24}  created {_when(k.created_at)}  {state}")
