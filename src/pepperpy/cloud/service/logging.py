"""Structured JSON logs in seed 002's format, with API keys and configured secrets redacted.

One line per record: ``timestamp`` (UTC, ISO 8601), ``level``, ``component``, ``operation``, ``message`` and,
when known, ``duration_ms``, ``tools_used``, ``request_id``, ``status``, ``key_id``, ``cache``. The service logs
one line per request itself (uvicorn's access log is off), so every line carries the request id.

Redaction happens twice on purpose: the filter scrubs the message and string fields of every record that
reaches the handler (so other formatters are safe too), and the formatter scrubs the final line (so an
exception text or an extra added later cannot slip through). Keys (``ppc_...``), bearer tokens and every
secret value from the settings become ``***``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from pepperpy.cloud.deploy.secrets import Redactor

SERVICE_LOGGER = "pepperpy.cloud.service"
FIELDS = ("component", "operation", "duration_ms", "tools_used", "request_id", "method", "path", "status",
          "key_id", "cache", "client")
_PATTERNS = re.compile(r"ppc_[A-Za-z0-9]{8}_[A-Za-z0-9_-]+|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+")


class Scrubber:
    """Masks API keys, bearer tokens and the given secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values = Redactor(secrets)

    def __call__(self, text: str) -> str:
        return self._values.redact(_PATTERNS.sub(_mask, text))


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    return "Bearer ***" if text[:6].lower() == "bearer" else "ppc_***"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and string extras through the scrubber; never drops a record."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, self.scrub(value))
        return True


class JsonFormatter(logging.Formatter):
    """Seed 002's JSON line; ``component`` defaults to the logger's last name part."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "component": getattr(record, "component", None) or record.name.rsplit(".", 1)[-1],
            "operation": getattr(record, "operation", None) or record.funcName,
            "message": record.getMessage(),
        }
        for name in FIELDS[2:]:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return self.scrub(json.dumps(out, ensure_ascii=False, default=str))


def configure_logging(level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> Scrubber:
    """Send the service's (and uvicorn's) logs as JSON to ``stream`` (stdout); returns the scrubber in use."""
    scrub = Scrubber(secrets)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(scrub))
    handler.addFilter(RedactingFilter(scrub))
    for name in (SERVICE_LOGGER, "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    return scrub
