"""Exceptions raised by :class:`mlops_client.Client`."""

from __future__ import annotations


class ClientError(Exception):
    """Base class of every error raised by the client."""


class ServiceUnavailable(ClientError):
    """The service could not be reached (refused, unresolvable, timed out)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"storage service unavailable at {url}: {reason}")
        self.url = url
        self.reason = reason


class ServiceError(ClientError):
    """The service answered with an error status (other than 404)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ServiceError):
    """The service answered 404: unknown dataset, version or route."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class AuthError(ServiceError):
    """The service answered 401 (no token sent) or 403 (token refused)."""


class Conflict(ServiceError):
    """The service answered 409: the dataset is not at the expected version."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


class TokenError(ClientError):
    """The configured token cannot be read (missing or empty token file)."""
