"""``secrets set|ls|rm``: the values behind ``${SECRET:name}`` references, kept on this machine.

Values go in through a hidden prompt or standard input, never as an argument (arguments
end up in shell history and ``ps``), and no command ever prints one.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="Store the secrets that ${SECRET:name} references resolve to (encrypted, never printed).",
                  no_args_is_help=True, rich_markup_mode=None)


@app.command("set")
def set_secret(
    name: str = typer.Argument(..., help="Secret name, as written in ${SECRET:name}."),
    value_stdin: bool = typer.Option(False, "--value-stdin",
                                     help="Read the value from standard input (one trailing newline is dropped)."),
) -> None:
    """Store or replace a secret; prompts for the value without echoing it.

    Examples:

      pepperpy-cloud secrets set openai-key

      printf %s "$TOKEN" | pepperpy-cloud secrets set api-token --value-stdin
    """
    from pepperpy.cloud.deploy.secrets import SecretStore, validate_name

    validate_name(name)  # before asking for a value that would then be thrown away
    if value_stdin:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    else:
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    SecretStore().set(name, value)
    typer.echo(f"secret {name!r} stored; reference it as ${{SECRET:{name}}}")


@app.command("ls")
def list_secrets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List secret names (never their values).

    Example:

      pepperpy-cloud secrets ls
    """
    from pepperpy.cloud.deploy.secrets import SecretStore

    names = SecretStore().names()
    if as_json:
        from pepperpy.cloud.cli import output

        output.emit_json({"secrets": names})
        return
    if not names:
        typer.echo("no secrets; add one with: pepperpy-cloud secrets set NAME", err=True)
    for name in names:
        typer.echo(name)


@app.command("rm")
def remove_secret(name: str = typer.Argument(..., help="Secret name.")) -> None:
    """Delete a secret. Deployments referencing it fail to start until it is set again.

    Example:

      pepperpy-cloud secrets rm openai-key
    """
    from pepperpy.cloud.deploy.secrets import SecretStore

    SecretStore().delete(name)
    typer.echo(f"secret {name!r} removed")
