"""Every failure becomes a JSON body ``{"error": {type, field, message, hint}, "request_id"}``, never a trace.

``PepperpyCloudError`` keeps its ``http_status`` (InputError 422, NotFoundError 404, ...); request validation
errors are 422 naming the field path; HTTP errors (404 route, 405 method) keep their status; anything else is
a 500 whose body says only that it was logged under the request id.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.errors import InputError, PepperpyCloudError, SpecError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

log = logging.getLogger("pepperpy.cloud.service.errors")


class BodyTooLargeError(PepperpyCloudError):
    http_status = 413
    exit_code = 2


class RateLimitedError(PepperpyCloudError):
    http_status = 429
    exit_code = 2

    def __init__(self, message: str, *, retry_after: str, hint: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, hint=hint)


class UnavailableError(PepperpyCloudError):
    """A part the route needs (the agent, Redis) is not there right now."""

    http_status = 503
    exit_code = 1


def request_id_of(request: Any) -> str | None:
    return getattr(request.state, "request_id", None) if request is not None else None


def error_body(kind: str, message: str, *, field: str | None = None, hint: str | None = None,
               request_id: str | None = None, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "field": field, "message": message, "hint": hint}
    if details:
        error["details"] = details
    return {"error": error, "request_id": request_id}


def body_for(exc: PepperpyCloudError, request_id: str | None) -> dict[str, Any]:
    field = exc.field if isinstance(exc, InputError) else None
    message = exc.problem if isinstance(exc, InputError) else exc.message
    details = None
    if isinstance(exc, SpecError):
        details = [{"field": f, "message": m} for f, m in exc.errors]
        field, message = exc.errors[0] if exc.errors else (field, message)
    return error_body(type(exc).__name__, message, field=field or None, hint=exc.hint,
                      request_id=request_id, details=details)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


async def pepperpy_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PepperpyCloudError)
    headers = {"Retry-After": exc.retry_after} if isinstance(exc, RateLimitedError) else None
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="pepperpy-cloud"'}
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc, extra={"request_id": request_id_of(request)})
    return _json(exc.http_status, body_for(exc, request_id_of(request)), headers)


def _loc(loc: Any) -> str:
    from pepperpy.cloud.spec.loader import field_path

    parts = tuple(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return field_path(parts)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors: list[dict[str, Any]] = list(getattr(exc, "errors", list)())
    details = [{"field": _loc(e.get("loc", ())), "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
               for e in errors]
    first = details[0] if details else {"field": "", "message": "invalid request"}
    if any(e.get("type") == "json_invalid" for e in errors):
        first = {"field": "body", "message": "malformed JSON"}
        details = [first]
    body = error_body("ValidationError", first["message"], field=first["field"] or None,
                      hint="see /docs for the request schema", request_id=request_id_of(request), details=details)
    return _json(422, body)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    status = int(getattr(exc, "status_code", 500))
    detail = getattr(exc, "detail", None)
    message = detail if isinstance(detail, str) else "request failed"
    hint = "see /docs for the routes" if status in (404, 405) else None
    headers = getattr(exc, "headers", None)
    return _json(status, error_body("HTTPError", message, hint=hint, request_id=request_id_of(request)), headers)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id_of(request)
    log.error("unhandled %s", type(exc).__name__, exc_info=exc, extra={"request_id": rid})
    return _json(500, error_body("InternalError", "the service failed on this request; it was logged",
                                 hint=f"report request id {rid}", request_id=rid))


def install(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app.add_exception_handler(PepperpyCloudError, pepperpy_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
