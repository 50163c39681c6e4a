"""Reading stack files: YAML with duplicate keys rejected, errors that name the field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pepperpy.cloud.errors import InputError, SpecError

M = TypeVar("M", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise InputError(source, f"invalid YAML at {where}: {exc.problem or exc.context}",
                         hint="fix the file and try again") from None
    except yaml.YAMLError as exc:
        raise InputError(source, f"invalid YAML: {exc}") from None


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def spec_errors(exc: ValidationError) -> list[tuple[str, str]]:
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field; check the spelling (see 'pepperpy-cloud validate --help')"
        errors.append((field_path(loc), message))
    return errors


def validate(model: type[M], data: Any, source: str | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(spec_errors(exc), source=source) from None


def read_file(path: str | Path) -> tuple[Any, str]:
    """Text of a stack file (or of ``pepperpy.yaml`` inside a directory) and its display name."""
    p = Path(path)
    if p.is_dir():
        p = p / "pepperpy.yaml"
    try:
        return load_yaml(p.read_text(encoding="utf-8"), str(p)), str(p)
    except FileNotFoundError:
        raise InputError(str(path), "no such stack file", hint="pass a pepperpy.yaml path or its directory") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
