"""SDK of the MLOps platform: read and write datasets of the storage service.

>>> from mlops_client import Client
>>> client = Client("http://127.0.0.1:8080")  # doctest: +SKIP
>>> client.fetch_rows("events", version=2)  # doctest: +SKIP
"""

from __future__ import annotations

from mlops_client.client import (
    DEFAULT_URL,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    Client,
    DatasetRows,
    Download,
    VersionInfo,
)
from mlops_client.errors import (
    AuthError,
    ClientError,
    Conflict,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    TokenError,
)

__all__ = [
    "DEFAULT_URL",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "AuthError",
    "Client",
    "ClientError",
    "Conflict",
    "DatasetRows",
    "Download",
    "NotFound",
    "ServiceError",
    "ServiceUnavailable",
    "TokenError",
    "VersionInfo",
]
