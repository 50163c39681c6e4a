"""One exception hierarchy for PepperPy Cloud.

Every error carries a message a user can act on: what failed, why, and what to
do next. The CLI prints ``str(error)`` as one line and exits with ``exit_code``;
the HTTP service maps ``http_status`` to the response.
"""

from __future__ import annotations

from collections.abc import Sequence


class PepperpyCloudError(Exception):
    """Root of every error PepperPy Cloud raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")


class InputError(PepperpyCloudError):
    """Bad input from the user: a field, a file, an argument."""

    exit_code = 2
    http_status = 422

    def __init__(self, field: str, problem: str, *, hint: str | None = None) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem, hint=hint)


class SpecError(InputError):
    """A stack file or configuration object does not validate."""

    def __init__(self, errors: Sequence[tuple[str, str]], *, source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        field, problem = self.errors[0] if self.errors else ("", "invalid specification")
        extra = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}", f"{problem}{extra}")

    def lines(self) -> list[str]:
        where = f"{self.source}: " if self.source else ""
        return [f"{where}{field}: {problem}" for field, problem in self.errors]


class NotFoundError(InputError):
    """A named thing (provider, region, SKU) does not exist; lists the closest matches."""

    http_status = 404

    def __init__(
        self,
        field: str,
        value: str,
        kind: str,
        *,
        suggestions: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.value = value
        self.kind = kind
        self.suggestions = list(suggestions)
        problem = f"unknown {kind} {value!r}"
        if self.suggestions:
            problem += "; closest: " + ", ".join(self.suggestions)
        super().__init__(field, problem, hint=hint)


class PriceUnknownError(PepperpyCloudError):
    """No catalog row prices this item; the estimate must say 'unknown', never $0."""

    exit_code = 3
    http_status = 404


class CatalogError(PepperpyCloudError):
    """A price source could not be read or imported."""

    exit_code = 1
    http_status = 502


class MissingDependencyError(PepperpyCloudError):
    """An optional extra is needed, e.g. ``pip install 'pepperpy-cloud[aws]'``."""

    exit_code = 2
    http_status = 501

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed",
            hint=f"install it with: pip install 'pepperpy-cloud[{extra}]'",
        )


class NotSupportedError(PepperpyCloudError):
    """A provider states, with a reason, that it cannot do this operation."""

    exit_code = 2
    http_status = 501


class LockedError(PepperpyCloudError):
    """Another run holds the lease on this name; the message says who, until when, and how to break it."""

    exit_code = 3
    http_status = 409

    def __init__(self, message: str, *, name: str, owner: str | None = None, hint: str | None = None) -> None:
        self.name = name
        self.owner = owner
        super().__init__(message, hint=hint)


class BuildError(PepperpyCloudError):
    """An app's environment could not be built.

    ``output_tail`` keeps the installer's last lines so the CLI can show why
    (pip and uv put the real reason at the end of their output).
    """

    exit_code = 1
    http_status = 422

    def __init__(self, message: str, *, output_tail: Sequence[str] = (), hint: str | None = None) -> None:
        self.output_tail = list(output_tail)
        super().__init__(message, hint=hint)


class SupervisorError(PepperpyCloudError):
    """The local process supervisor (supervisord) did not start, answer or obey.

    ``log_tail`` holds the last lines of the relevant log (supervisord's own or
    a program's) so the failure can be shown without another command.
    """

    exit_code = 1
    http_status = 503

    def __init__(self, message: str, *, log_tail: Sequence[str] = (), hint: str | None = None) -> None:
        self.log_tail = list(log_tail)
        super().__init__(message, hint=hint)


class DeployError(PepperpyCloudError):
    """A deployment did not become ready; the previous revision (if any) keeps serving.

    ``log_tail`` holds the failing replica's last log lines, secrets redacted.
    """

    exit_code = 1
    http_status = 422

    def __init__(self, message: str, *, log_tail: list[str] | None = None, hint: str | None = None) -> None:
        self.log_tail = list(log_tail or [])
        super().__init__(message, hint=hint)
