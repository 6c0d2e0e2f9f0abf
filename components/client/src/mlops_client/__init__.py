"""SDK of the MLOps platform: read datasets from the storage service over HTTP.

>>> from mlops_client import Client
>>> client = Client("http://127.0.0.1:8080")  # doctest: +SKIP
>>> client.fetch_rows("events", version=2)  # doctest: +SKIP
"""

from __future__ import annotations

from mlops_client.client import DEFAULT_URL, Client, DatasetRows
from mlops_client.errors import ClientError, NotFound, ServiceError, ServiceUnavailable

__all__ = [
    "DEFAULT_URL",
    "Client",
    "ClientError",
    "DatasetRows",
    "NotFound",
    "ServiceError",
    "ServiceUnavailable",
]
