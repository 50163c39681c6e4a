"""Merging an import into the user's catalog cache, atomically.

Each source writes its own normalized CSV under ``<home>/catalog/``. New rows
replace old ones with the same key; the file is replaced in one rename, so an
interrupted or failed import leaves the previous cache as it was.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from pepperpy.cloud.catalog.sources import get_source
from pepperpy.cloud.catalog.sources.normalized_csv import dumps, parse
from pepperpy.cloud.catalog.store import cache_dir, reset_default_catalog
from pepperpy.cloud.errors import CatalogError


def update_cache(source: str, *, url: str | None = None, file: Path | None = None,
                 provider: str | None = None, as_of: date | None = None) -> dict[str, Any]:
    importer = get_source(source)
    result = importer.load(file=file, url=url, as_of=as_of, provider=provider)
    if not result.rows:
        raise CatalogError(
            f"{importer.name} import found no prices to keep "
            f"(skipped: {dict(result.skipped) or 'nothing'})",
            hint="check the file is the right format; the cache was left unchanged")
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{importer.name}{'-' + provider if provider else ''}.csv"
    merged = {}
    if path.exists():
        merged = {r.key(): r for r in parse(path.read_text(encoding="utf-8"), str(path)).rows}
    merged.update({r.key(): r for r in result.rows})
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(sorted(merged.values(), key=lambda r: r.key())))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    reset_default_catalog()
    return {"source": importer.name, "imported": len(result.rows), "pages": result.pages,
            "skipped": dict(result.skipped), "path": str(path), "total_in_cache": len(merged)}
