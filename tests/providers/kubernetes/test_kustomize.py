"""The in-Python overlay build is what ``kubectl kustomize`` builds, object for object."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.kubernetes.kustomize import build, json_patch
from pepperpy.cloud.providers.kubernetes.manifests import build_manifests
from pepperpy.cloud.render.kubernetes import render
from pepperpy.cloud.spec.stack import Stack
from tests.providers.kubernetes.conftest import HELLO, SHOP

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "stacks"


def _stacks() -> list[Stack]:
    return [Stack.model_validate(SHOP), Stack.model_validate(HELLO),
            *(Stack.from_file(p) for p in sorted(EXAMPLES.glob("*.yaml")))]


def _keyed(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.mark.parametrize("overlay", ["dev", "prod", "env"])
def test_build_matches_kubectl_kustomize(tmp_path: Path, overlay: str) -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed, so there is no kustomize to compare with")
    compared = 0
    for stack in _stacks():
        files = dict(render(stack))
        if overlay == "env":  # the opt-in secrets-as-env component
            if "components/secrets-as-env/kustomization.yaml" not in files:
                continue
            files["overlays/env/kustomization.yaml"] = (
                "resources: [../../base]\nnamespace: elsewhere\ncomponents: [../../components/secrets-as-env]\n")
        root = tmp_path / stack.name
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        proc = subprocess.run([kubectl, "kustomize", str(root / "overlays" / overlay)], capture_output=True,
                              text=True, timeout=60, check=True)
        theirs = _keyed([d for d in yaml.safe_load_all(proc.stdout) if d])
        assert _keyed(build(files, f"overlays/{overlay}")) == theirs, stack.name
        compared += 1
    assert compared >= 2


def test_build_manifests_adds_components(tmp_path: Path) -> None:
    docs = build_manifests(Stack.model_validate(SHOP), components=("secrets-as-env",))
    worker = next(d for d in docs if d["metadata"]["name"] == "shop-worker" and d["kind"] == "Deployment")
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "value"}}} in env
    with pytest.raises(InputError, match="renders no component 'nope'"):
        build_manifests(Stack.model_validate(SHOP), components=("nope",))


def test_unsupported_kustomize_fields_are_refused() -> None:
    files = {"k/kustomization.yaml": "resources: [a.yaml]\nimages: [{name: x, newTag: '2'}]\n", "k/a.yaml": "{}"}
    with pytest.raises(InputError, match="unsupported kustomize fields images"):
        build(files, "k")


def test_json_patch_operations() -> None:
    doc: dict[str, Any] = {"spec": {"list": [1, 2], "a~b": {"c/d": 1}}}
    json_patch(doc, {"op": "add", "path": "/spec/list/-", "value": 3})
    json_patch(doc, {"op": "add", "path": "/spec/list/0", "value": 0})
    json_patch(doc, {"op": "replace", "path": "/spec/a~0b/c~1d", "value": 2})
    json_patch(doc, {"op": "remove", "path": "/spec/list/1"})
    assert doc == {"spec": {"list": [0, 2, 3], "a~b": {"c/d": 2}}}
    with pytest.raises(InputError, match="no such field"):
        json_patch(doc, {"op": "replace", "path": "/spec/missing", "value": 1})
