"""Entry point of ``pepperpy-cloud``. Imports stay light: each command loads its work lazily."""

from __future__ import annotations

import sys

import typer

from pepperpy.cloud.cli import ask, catalog, estimate, instances, keys, lifecycle, monitor, render, secrets, serve

app = typer.Typer(
    name="pepperpy-cloud",
    help=(
        "Price, ship and watch AI/RAG apps on AWS, Azure, GCP, Kubernetes or this machine.\n\n"
        "Examples:\n\n"
        "  pepperpy-cloud estimate examples/stacks/bsc-rag.yaml --provider all\n\n"
        "  pepperpy-cloud compare examples/stacks/kv-store.yaml\n\n"
        "  pepperpy-cloud instances --vcpus 8 --memory 32 --gpu A10G --limit 5\n\n"
        "  pepperpy-cloud ask \"cheapest GPU with at least 24 GB in a US region\"\n\n"
        "  pepperpy-cloud render examples/stacks/bsc-rag.yaml --target all --out deploy/\n\n"
        "  pepperpy-cloud up examples/rag-app -d\n\n"
        "  pepperpy-cloud metrics rag-app --since 1h --plot cpu.png\n\n"
        "  pepperpy-cloud costs rag-app --provider gcp\n\n"
        "  pepperpy-cloud keys create dashboard && pepperpy-cloud serve --port 8000\n\n"
        "  pepperpy-cloud catalog info"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("estimate")(estimate.estimate)
app.command("compare")(estimate.compare)
app.command("instances")(instances.instances)
app.command("ask")(ask.ask)
app.command("validate")(render.validate)
app.command("render")(render.render)
for _name, _command in (("up", lifecycle.up), ("ls", lifecycle.ls), ("status", lifecycle.status),
                        ("logs", lifecycle.logs), ("scale", lifecycle.scale), ("rollback", lifecycle.rollback),
                        ("down", lifecycle.down), ("force-unlock", lifecycle.force_unlock)):
    app.command(_name)(_command)
app.command("metrics")(monitor.metrics)
app.command("top")(monitor.top)
app.command("costs")(monitor.costs)
app.command("dashboard")(monitor.dashboard)
app.add_typer(monitor.alerts, name="alerts")
app.command("serve")(serve.serve)
app.add_typer(keys.app, name="keys")
app.add_typer(catalog.app, name="catalog")
app.add_typer(secrets.app, name="secrets")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from pepperpy.cloud import __version__

        typer.echo(f"pepperpy-cloud {__version__}")
        raise typer.Exit()


def run() -> None:
    """Console-script entry: PepperPy errors become one line and their exit code, never a traceback."""
    from pepperpy.cloud.errors import PepperpyCloudError

    try:
        app(standalone_mode=False)
    except PepperpyCloudError as exc:
        from pepperpy.cloud.cli.errors import report

        sys.exit(report(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except Exception as exc:  # click usage errors and friends
        import click  # type: ignore[import-not-found,unused-ignore]

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    run()
