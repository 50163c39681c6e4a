"""Deployment artifacts rendered from one stack, one module per artifact family.

``render(stack, target)`` returns the files of a target (``docker``, ``compose``,
``kubernetes``, ``lambda``, ``systemd``, ``terraform-aws``, ``terraform-azure``,
``terraform-gcp``) or of ``all``; ``write(files, out_dir)`` puts them on disk in one
atomic step, so an error leaves no partial output.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.render.base import Files
from pepperpy.cloud.spec.stack import Stack

# target -> (module, output folder)
TARGETS: dict[str, tuple[str, str]] = {
    "docker": ("pepperpy.cloud.render.docker", "docker"),
    "compose": ("pepperpy.cloud.render.compose", "compose"),
    "kubernetes": ("pepperpy.cloud.render.kubernetes", "kubernetes"),
    "lambda": ("pepperpy.cloud.render.serverless", "lambda"),
    "systemd": ("pepperpy.cloud.render.systemd_nginx", "systemd"),
    "terraform-aws": ("pepperpy.cloud.render.terraform_aws", "terraform/aws"),
    "terraform-azure": ("pepperpy.cloud.render.terraform_azure", "terraform/azure"),
    "terraform-gcp": ("pepperpy.cloud.render.terraform_gcp", "terraform/gcp"),
}


def targets(target: str) -> list[str]:
    if target == "all":
        return list(TARGETS)
    if target not in TARGETS:
        import difflib

        raise NotFoundError("--target", target, "render target",
                            suggestions=difflib.get_close_matches(target, [*TARGETS, "all"], 3, 0.3)
                            or [*TARGETS, "all"])
    return [target]


def render(stack: Stack, target: str = "all") -> Files:
    """Every file of ``target`` keyed by its path under the output directory."""
    files: Files = {}
    for name in targets(target):
        module, folder = TARGETS[name]
        for path, text in importlib.import_module(module).render(stack).items():
            files[f"{folder}/{path}"] = text
    return dict(sorted(files.items()))


def write(files: Files, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """Write all files or none: render into a sibling temp dir, then move it into place."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError("--out", f"{out} is not empty", hint="pass --force to replace it or choose another directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if rel.endswith((".sh", "handler.py")):
                os.chmod(path, 0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / rel for rel in files]
