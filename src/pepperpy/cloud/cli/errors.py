"""Turning PepperPy errors into one clear line on stderr and an exit code."""

from __future__ import annotations

import sys

from pepperpy.cloud.errors import PepperpyCloudError, SpecError


def report(exc: PepperpyCloudError) -> int:
    lines = exc.lines() if isinstance(exc, SpecError) else [str(exc)]
    for line in lines:
        sys.stderr.write(f"error: {line}\n")
    return exc.exit_code
