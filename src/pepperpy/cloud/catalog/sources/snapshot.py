"""The bundled offline snapshot: real published prices shipped inside the package.

``data/manifest.json`` names each file, its format, the date its prices were
published or retrieved, and where they came from; ``data/vms/SOURCES.md`` and
``data/SERVICES_SOURCES.md`` tell the full story of each source.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache

from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.sources import normalized_csv, skypilot_csv
from pepperpy.cloud.catalog.store import DATA_DIR


@lru_cache(maxsize=1)
def load_snapshot() -> tuple[PriceRow, ...]:
    manifest = json.loads((DATA_DIR / "manifest.json").read_text(encoding="utf-8"))
    rows: list[PriceRow] = []
    for entry in manifest["files"]:
        text = (DATA_DIR / entry["path"]).read_text(encoding="utf-8")
        if entry["format"] == "skypilot":
            rows.extend(skypilot_csv.parse(
                text, provider=entry["provider"], as_of=date.fromisoformat(entry["as_of"]),
                source=entry["source"]).rows)
        else:
            rows.extend(normalized_csv.parse(text, entry["path"]).rows)
    return tuple(rows)
