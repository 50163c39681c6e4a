"""Sizes and CPU amounts as people write them: ``"100Gi"``, ``"50GB"``, ``100``, ``"500m"``.

Cloud price lists bill storage and memory in "GB" that are in fact GiB (2**30
bytes, as AWS and Google document), so ``"50GB"`` and ``"50Gi"`` both mean 50
billing GB. Results are ``Decimal`` so they can multiply prices exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from pepperpy.cloud.errors import InputError

_SIZE = re.compile(r"^\s*(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>[KMGTP]i?B?|[KMGTP]iB|B)?\s*$", re.I)
_FACTORS_GB = {
    "": Decimal(1),
    "B": Decimal(1) / Decimal(2**30),
    "K": Decimal(1) / Decimal(2**20),
    "M": Decimal(1) / Decimal(1024),
    "G": Decimal(1),
    "T": Decimal(1024),
    "P": Decimal(1024 * 1024),
}
SIZE_HELP = "a number of GB or a size like '100Gi', '50GB', '512Mi', '1Ti'"
CPU_HELP = "a number of vCPUs like 2, '2', '0.5' or millicores like '500m'"


def parse_size_gb(value: object, field: str) -> Decimal:
    """Return the size in billing GB; ``field`` names the input in the error."""
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a size; use {SIZE_HELP}")
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
        unit = ""
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise InputError(field, f"{value!r} is not a size; use {SIZE_HELP}")
        number = Decimal(match["num"])
        unit = (match["unit"] or "").upper().rstrip("B").rstrip("I")
        if match["unit"] and match["unit"].upper() == "B":
            unit = "B"
    if number < 0:
        raise InputError(field, f"{value!r} is negative; sizes must be >= 0")
    return number * _FACTORS_GB[unit]


def parse_cpu(value: object, field: str) -> Decimal:
    """Return a vCPU count; accepts Kubernetes millicores (``"500m"``)."""
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a CPU amount; use {CPU_HELP}")
    text = str(value).strip()
    try:
        cpus = Decimal(text[:-1]) / 1000 if text.endswith("m") else Decimal(text)
    except InvalidOperation:
        raise InputError(field, f"{value!r} is not a CPU amount; use {CPU_HELP}") from None
    if not cpus.is_finite() or cpus < 0:
        raise InputError(field, f"{value!r} must be a finite number >= 0; use {CPU_HELP}")
    return cpus


def parse_count(value: object, field: str, *, minimum: int = 0) -> int:
    """Return a whole count >= ``minimum``."""
    if isinstance(value, bool):
        raise InputError(field, f"{value!r} is not a whole number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InputError(field, f"{value!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise InputError(field, f"{value!r} is not a whole number")
    if number < minimum:
        raise InputError(field, f"{value!r} must be >= {minimum}")
    return int(number)


def parse_amount(value: object, field: str) -> Decimal:
    """Return a non-negative usage amount (GB, requests, hours)."""
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip().replace("_", ""))
    except InvalidOperation:
        raise InputError(field, f"{value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise InputError(field, f"{value!r} must be a finite number >= 0")
    return number
