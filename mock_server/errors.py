"""The documented error envelope, in one place: `{"detail": {"error": ..., "message": ...}}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised anywhere in the pipeline or a handler; rendered as the spec's Error shape."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": {"error": self.error, "message": self.message, **self.extra}}


def bad_request(message: str, error: str = "validation_error", **extra: Any) -> ApiError:
    return ApiError(400, error, message, **extra)


def unauthorized(message: str, error: str = "not_authenticated") -> ApiError:
    return ApiError(401, error, message, headers={"WWW-Authenticate": "Bearer"})


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
