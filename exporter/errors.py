"""Errors that reach clients as the JSON error shape of docs/api.md."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Validation:
    """One bad field: ``events[12].category`` and what is wrong with it."""

    field: str
    detail: str


class ApiError(Exception):
    """An error with an HTTP status and a one-sentence message for the client."""

    status = 500

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        validations: list[Validation] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.validations = validations or []

    def body(self) -> dict[str, Any]:
        """The JSON body: ``message``, and ``detail`` and ``validations`` when there are any."""
        body: dict[str, Any] = {"message": self.message}
        if self.detail:
            body["detail"] = self.detail
        if self.validations:
            body["validations"] = [dataclasses.asdict(v) for v in self.validations]
        return body

    def headers(self) -> dict[str, str]:
        """Extra response headers; none unless a subclass says so."""
        return {}


class BadRequest(ApiError):
    """The request is malformed or its values are out of range."""

    status = 400


class Unauthorized(ApiError):
    """No usable token."""

    status = 401


class Forbidden(ApiError):
    """The token is fine but its user may not do this."""

    status = 403


class NotFound(ApiError):
    """An organization or user named in the path or in ``org`` does not exist."""

    status = 404


class RequestTimeout(ApiError):
    """The client sent its body too slowly."""

    status = 408


class Conflict(ApiError):
    """A name or username is held by someone else."""

    status = 409


class PayloadTooLarge(ApiError):
    """The body is over the limit."""

    status = 413


class UnsupportedMediaType(ApiError):
    """The content type is not one the route accepts."""

    status = 415


class StoreUnavailable(ApiError):
    """The store cannot be reached right now; nothing was stored."""

    status = 503


class Busy(ApiError):
    """Too many requests of this kind are running or waiting; retry after ``retry_after`` s."""

    status = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds."""
        return {"Retry-After": str(self.retry_after)}


def bad_field(field: str, detail: str, message: str | None = None) -> BadRequest:
    """A 400 about a single field."""
    return BadRequest(message or f"Invalid {field}.", validations=[Validation(field, detail)])
