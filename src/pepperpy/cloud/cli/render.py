"""``validate`` and ``render``: check a stack, and write its deployment artifacts."""

from __future__ import annotations

from pathlib import Path

import typer


def validate(
    stack: Path = typer.Argument(..., help="Stack file (pepperpy.yaml) or its directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check a stack file; every problem is printed with its field path, exit code 2.

    Example:

      pepperpy-cloud validate examples/stacks/bsc-rag.yaml
    """
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.spec.stack import Stack

    spec = Stack.from_file(stack)
    summary = {"stack": spec.name, "services": sorted(spec.services),
               "components": sorted(spec.components), "valid": True}
    if as_json:
        output.emit_json(summary)
    else:
        output.console().print(f"{stack}: valid ({len(spec.services)} services, "
                               f"{len(spec.components)} components)")


def render(
    stack: Path = typer.Argument(..., help="Stack file (pepperpy.yaml) or its directory."),
    target: str = typer.Option("all", "--target", "-t",
                               help="docker, compose, kubernetes, lambda, systemd, terraform-aws, "
                                    "terraform-azure, terraform-gcp or all."),
    out: Path = typer.Option(Path("deploy"), "--out", "-o", help="Output directory (created)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Render deployment artifacts; an invalid stack writes nothing.

    Examples:

      pepperpy-cloud render examples/stacks/bsc-rag.yaml --target all --out deploy/

      pepperpy-cloud render pepperpy.yaml -t kubernetes -o k8s/ --force
    """
    from pepperpy.cloud import render as renderer
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.spec.stack import Stack

    spec = Stack.from_file(stack)
    written = renderer.write(renderer.render(spec, target), out, force=force)
    if as_json:
        output.emit_json([str(p) for p in written])
        return
    con = output.console()
    folders = sorted({str(p.relative_to(out)).split("/")[0] for p in written})
    con.print(f"wrote {len(written)} files to {out}/ ({', '.join(folders)})")
