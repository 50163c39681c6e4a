"""The importer contract and the registry of price sources by name.

An importer turns one published price format into ``PriceRow`` objects. It
reads local files or fetches pages over HTTP (following the format's own
paging), and reports what it skipped and why, so that a partial import is
never mistaken for a complete one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.errors import CatalogError, NotFoundError

if TYPE_CHECKING:
    import httpx


@dataclass
class ImportResult:
    """Rows read from a source plus an account of everything left out."""

    source: str
    rows: list[PriceRow] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    pages: int = 0

    def extend(self, rows: Iterable[PriceRow]) -> None:
        self.rows.extend(rows)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count


class PriceSource(Protocol):
    """What every importer module provides."""

    name: str
    description: str

    def load(
        self,
        *,
        file: Path | None = None,
        url: str | None = None,
        client: httpx.Client | None = None,
        as_of: date | None = None,
        provider: str | None = None,
    ) -> ImportResult: ...


_REGISTRY: dict[str, Callable[[], PriceSource]] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, *aliases: str) -> Callable[[Callable[[], PriceSource]], Callable[[], PriceSource]]:
    """Class or factory decorator adding an importer to the registry under ``name``."""

    def decorate(factory: Callable[[], PriceSource]) -> Callable[[], PriceSource]:
        _REGISTRY[name] = factory
        for alias in aliases:
            _ALIASES[alias] = name
        return factory

    return decorate


def source_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_source(name: str) -> PriceSource:
    """Return the importer registered as ``name`` (or an alias of it)."""
    _load_builtin()
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        import difflib

        raise NotFoundError(
            "--source",
            name,
            "price source",
            suggestions=difflib.get_close_matches(name, list(_REGISTRY) + list(_ALIASES), 3, 0.3)
            or sorted(_REGISTRY),
        )
    return _REGISTRY[key]()


def _load_builtin() -> None:
    from pepperpy.cloud.catalog.sources import (  # noqa: F401
        aws_offer,
        azure_retail,
        gcp_billing,
        normalized_csv,
        skypilot_csv,
    )


def read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CatalogError(f"price file {file} does not exist", hint="check the --file path") from None
    except UnicodeDecodeError:
        raise CatalogError(f"price file {file} is not UTF-8 text") from None


def fetch_text(url: str, client: httpx.Client | None) -> str:
    """GET one page; network and HTTP failures become one actionable CatalogError."""
    import httpx

    own = client is None
    http = client or httpx.Client(timeout=30.0, follow_redirects=True)
    try:
        response = http.get(url)
        response.raise_for_status()
        return response.text
    except httpx.HTTPStatusError as exc:
        raise CatalogError(
            f"price source {url} answered HTTP {exc.response.status_code}",
            hint="check the URL or try again later; the bundled snapshot stays in use",
        ) from None
    except httpx.HTTPError as exc:
        raise CatalogError(
            f"could not fetch {url}: {exc.__class__.__name__}",
            hint="check the network or pass --file with a downloaded copy",
        ) from None
    finally:
        if own:
            http.close()


def parse_json(text: str, where: str) -> object:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno}); "
            "the page may be truncated",
            hint="download it again; nothing was imported from it",
        ) from None

