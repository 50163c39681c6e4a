"""Render fixtures: the example stacks rendered once per session, and the validators' paths.

Validators (hadolint, kubernetes-validate, cfn-lint, check-jsonschema, checkov, terraform,
nginx) are installed by ``make test``. When one is missing a test is skipped with the reason,
except under CI (``CI=true``), where a missing validator is a failure: CI must run them all.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pepperpy.cloud.render import render, write
from pepperpy.cloud.spec.stack import Stack

ROOT = Path(__file__).parents[2]
STACKS = {"bsc-rag": ROOT / "examples" / "stacks" / "bsc-rag.yaml",
          "kv-store": ROOT / "examples" / "stacks" / "kv-store.yaml",
          "pricing-service": ROOT / "examples" / "stacks" / "pricing-service.yaml"}
_SEARCH = [Path(sys.executable).parent, ROOT / ".venv-checkov" / "bin"]


def find_tool(name: str) -> str:
    for folder in _SEARCH:
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; 'make test' installs it")
    pytest.skip(f"{name} is not installed; run 'make test' to install the validators")


@pytest.fixture(scope="session")
def tool() -> object:
    return find_tool


@pytest.fixture(scope="session", params=sorted(STACKS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An output directory holding every target rendered for one example stack."""
    stack = Stack.from_file(STACKS[request.param])
    out = tmp_path_factory.mktemp(f"render-{request.param}") / "out"
    write(render(stack, "all"), out)
    yield out


def load_stack(name: str) -> Stack:
    return Stack.from_file(STACKS[name])
