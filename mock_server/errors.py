"""Errors, in one place: raised anywhere as `ApiError`, rendered in the shape the API's spec gives its `Error` schema.

Xentree wraps errors FastAPI-style, `{"detail": {"error": ..., "message": ...}}`, and lists validation problems as
strings under `errors`; the XP ledger puts `error` and `message` at the top level and lists validation problems as
objects under `issues` (`{in, field, code, message}`). Which one applies is read from the spec (`ErrorShape.of`), so
handlers and the pipeline raise the same exception for both APIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem with the input: where (`body`, `query`, `path`, `header`), which field (a parameter name, or a
    JSON Pointer into the body), a Zod-style code (`invalid_type`, `too_big`, ...) and a message."""

    location: str
    field: str
    code: str
    message: str
    error_code: str | None = None  # the spec's `x-error-code` of the failing schema: the whole error's code

    def as_text(self) -> str:
        dotted = self.field.strip("/").replace("/", ".")
        return f"{self.location}.{dotted}: {self.message}" if dotted else f"{self.location}: {self.message}"

    def as_object(self) -> dict[str, str]:
        return {"in": self.location, "field": self.field, "code": self.code, "message": self.message}


class ApiError(Exception):
    """Raised anywhere in the pipeline or a handler; rendered as the spec's Error shape."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        issues: list[Issue] | None = None,
        keep_writes: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.keep_writes = keep_writes  # the handler's writes before it still land (a refusal that revokes something)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.issues = issues or []
        self.extra = extra

    def body(self, shape: ErrorShape | None = None) -> dict[str, Any]:
        return (shape or XENTREE_SHAPE).render(self)


@dataclass(frozen=True)
class ErrorShape:
    envelope: str | None  # the wrapping property ("detail"), or None when the fields are top-level
    issues_key: str  # where validation problems go
    structured: bool  # problems as Issue objects, else as "where: message" strings
    validation_error: str = "validation_error"  # the code of a 400 for input that breaks the schema
    # Where a structured issue may point (the `in` enum of the spec's issue objects); None: anywhere. An issue
    # elsewhere (a strict-mode problem of the mock's own response) stays in the message, out of the list.
    locations: frozenset[str] | None = None

    @classmethod
    def of(cls, spec: dict[str, Any]) -> ErrorShape:
        """Read from the spec's `Error` schema: a `detail` wrapper, and an `issues` list of objects or not."""
        schema = spec.get("components", {}).get("schemas", {}).get("Error", {})
        props = schema.get("properties", {})
        envelope = "detail" if "detail" in props else None
        inner = props.get("detail", {}).get("properties", {}) if envelope else props
        code = schema.get("x-validation-error", "validation_error")
        if "issues" in inner:
            items = inner["issues"].get("items", {})
            where = items.get("properties", {}).get("in", {}).get("enum")
            return cls(envelope, "issues", items.get("type") == "object", code, frozenset(where) if where else None)
        return cls(envelope, "errors", False, code)

    def render(self, exc: ApiError) -> dict[str, Any]:
        error = self.validation_error if exc.error == VALIDATION_ERROR else exc.error
        fields: dict[str, Any] = {"error": error, "message": exc.message, **exc.extra}
        issues = [i for i in exc.issues if self.locations is None or i.location in self.locations]
        if issues:
            fields[self.issues_key] = [i.as_object() if self.structured else i.as_text() for i in issues]
        return {self.envelope: fields} if self.envelope else fields


XENTREE_SHAPE = ErrorShape("detail", "errors", False)
VALIDATION_ERROR = "validation_error"  # raised by the engine's request validation; renamed per API on rendering


def bad_request(message: str, error: str = "validation_error", **extra: Any) -> ApiError:
    return ApiError(400, error, message, **extra)


def unauthorized(
    message: str, error: str = "not_authenticated", challenge: str = "Bearer", keep_writes: bool = False
) -> ApiError:
    return ApiError(401, error, message, headers={"WWW-Authenticate": challenge}, keep_writes=keep_writes)


def forbidden(message: str, error: str = "forbidden", **extra: Any) -> ApiError:
    return ApiError(403, error, message, **extra)


def not_found(message: str = "Resource not found") -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, error: str = "conflict") -> ApiError:
    return ApiError(409, error, message)


def insufficient_scope(required: str, granted: list[str]) -> ApiError:
    """The documented INSUFFICIENT_API_KEY_SCOPE payload, word for word."""
    return ApiError(
        403,
        "INSUFFICIENT_API_KEY_SCOPE",
        "API key lacks required scope for this endpoint",
        required_scope=required,
        granted_scopes=granted,
    )
