"""``up``, ``ls``, ``status``, ``logs``, ``scale``, ``rollback``, ``down``, ``force-unlock``: local deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _runtime(quiet: bool = False) -> Any:
    from pepperpy.cloud.cli.output import console
    from pepperpy.cloud.providers.local.runtime import LocalRuntime

    err = console(stderr=True)
    return LocalRuntime(progress=None if quiet else (lambda msg: err.print(f"[dim]{msg}[/dim]")))


def up(
    stack: Path = typer.Argument(..., help="Stack file (pepperpy.yaml) or its directory."),
    detach: bool = typer.Option(False, "-d", "--detach", help="Return once ready instead of following the logs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (implies --detach)."),
) -> None:
    """Build and run a stack's services on this machine behind a local load balancer.

    A second 'up' is a rolling update: new replicas start, become ready, take the traffic,
    and the old ones drain. If the new revision fails, the old one keeps serving.

    Examples:

      pepperpy-cloud up examples/rag-app -d

      pepperpy-cloud up pepperpy.yaml
    """
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.spec.stack import Stack

    spec = Stack.from_file(stack)
    folder = stack if stack.is_dir() else stack.parent
    runtime = _runtime(quiet=as_json)
    results = runtime.deploy(spec, stack_dir=folder)
    if as_json:
        output.emit_json([r.__dict__ for r in results])
        return
    con = output.console()
    for r in results:
        con.print(f"{r.name}: revision {r.revision}, {r.replicas} replica(s) ready at [bold]{r.url}[/bold]")
    if not detach:
        con.print("[dim]following logs; Ctrl-C stops following (the deployment keeps running)[/dim]")
        paths = [p for r in results for p in runtime.log_files(r.name)]
        try:
            for line in runtime.follow(paths, lines=0):
                typer.echo(line)
        except KeyboardInterrupt:
            return


def ls(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Local deployments with their revision, replicas and URL."""
    from pepperpy.cloud.cli import output

    rows = _runtime(quiet=True).list_deployments()
    if as_json:
        output.emit_json(rows)
        return
    from rich.table import Table

    table = Table(title="local deployments", title_justify="left")
    for h in ("name", "status", "revision", "replicas", "url"):
        table.add_column(h)
    for r in rows:
        table.add_row(r["name"], r["status"], str(r["revision"]), str(r["replicas"]), r["url"])
    output.console().print(table)


def status(name: str = typer.Argument(..., help="Deployment name."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Replicas, load balancer view, revisions and recent events of one deployment."""
    from pepperpy.cloud.cli import output

    data = _runtime(quiet=True).status(name)
    if as_json:
        output.emit_json(data)
        return
    con = output.console()
    con.print(f"[bold]{data['name']}[/bold] revision {data['revision']} at {data['url']}")
    lb = data.get("load_balancer") or {}
    ready = {b["id"]: b for b in lb.get("backends", [])}
    for r in data["replicas"]:
        backend: dict[str, Any] = next((b for k, b in ready.items() if k.endswith(f"-{r['replica']}")), {})
        con.print(f"  replica {r['replica']}: {r['state']} pid {r['pid']} port {r['port']} "
                  f"{'ready' if backend.get('admitted') else 'not ready'}")
    con.print("  revisions: " + ", ".join(f"{x['number']} {x['status']}" for x in data["revisions"]))
    for e in data["events"][-5:]:
        con.print(f"  [dim]{e['kind']}: {e['message']}[/dim]")


def logs(name: str = typer.Argument(..., help="Deployment name."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
         replica: int = typer.Option(None, "--replica", help="Only this replica index."),
         lines: int = typer.Option(50, "--lines", "-n", help="How many past lines.")) -> None:
    """JSON log lines of a deployment's replicas (secrets redacted)."""
    from pepperpy.cloud.providers.local.supervisor import tail_file

    runtime = _runtime(quiet=True)
    paths = runtime.log_files(name, replica)
    if follow:
        try:
            for line in runtime.follow(paths, lines=lines):
                typer.echo(line)
        except KeyboardInterrupt:
            return
    redactor = runtime.secrets.redactor()
    for path in paths:
        for line in tail_file(path, lines):
            typer.echo(redactor.redact(line))


def scale(name: str = typer.Argument(..., help="Deployment name."),
          replicas: int = typer.Option(..., "--replicas", "-r", help="How many replicas to run.")) -> None:
    """Change the number of replicas of the running revision."""
    from pepperpy.cloud.cli import output

    result = _runtime().scale(name, replicas)
    output.console().print(f"{result.name}: {result.replicas} replica(s) at {result.url}")


def rollback(name: str = typer.Argument(..., help="Deployment name."),
             to: int = typer.Option(None, "--to", help="Revision number (default: the one before).")) -> None:
    """Run an earlier revision again (as a new revision, with a rolling update)."""
    from pepperpy.cloud.cli import output

    result = _runtime().rollback(name, to)
    output.console().print(f"{result.name}: revision {result.revision} serving at {result.url}")


def down(name: str = typer.Argument(..., help="Deployment name."),
         keep_data: bool = typer.Option(False, "--keep-data",
                                        help="Keep resources' data (databases, buckets).")) -> None:
    """Stop every replica and the load balancer of a deployment and forget it.

    Resources (databases, buckets) are separate: 'down' leaves them, so --keep-data is the
    behaviour today; delete them with ResourceManager.delete_resource.
    """
    from pepperpy.cloud.cli import output

    _runtime(quiet=True).down(name)
    output.console().print(f"{name}: stopped and removed")


def force_unlock(name: str = typer.Argument(..., help="Deployment name."),
                 reason: str = typer.Option("manual", "--reason", help="Recorded with the event.")) -> None:
    """Break a deployment's lease left by a crashed run (recorded as an event)."""
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.deploy.state import StateStore

    broken = StateStore.open().force_unlock(name, reason)
    output.console().print(f"{name}: lease of {broken.owner} broken" if broken else f"{name}: no lease held")
