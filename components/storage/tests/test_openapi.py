"""The OpenAPI document: served, and its checked-in copy matches the code."""

from __future__ import annotations

import json
from pathlib import Path

from http_testing import request
from mlops_storage import Store
from mlops_storage.app import create_app, dump_openapi, openapi_document

CHECKED_IN = Path(__file__).resolve().parent.parent / "openapi.json"
REGENERATE = (
    "target/venvs/storage/bin/mlops-storage openapi "
    "--output components/storage/openapi.json"
)


def test_checked_in_openapi_matches_the_code(tmp_path: Path) -> None:
    current = dump_openapi(openapi_document(create_app(Store(tmp_path))))
    assert CHECKED_IN.is_file(), f"{CHECKED_IN} is missing; create it: {REGENERATE}"
    assert CHECKED_IN.read_text(encoding="utf-8") == current, (
        "components/storage/openapi.json is out of date with the service's routes; "
        f"regenerate it from the repository root with: {REGENERATE}"
    )


def test_served_openapi_is_the_checked_in_one(
    served_store: tuple[Store, str],
) -> None:
    _, url = served_store
    answer = request(f"{url}/openapi.json")
    assert answer.status == 200
    assert answer.json() == json.loads(CHECKED_IN.read_text(encoding="utf-8"))


def test_openapi_documents_every_route() -> None:
    doc = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    operations = {
        (path, method) for path, ops in doc["paths"].items() for method in ops
    }
    assert operations == {
        ("/healthz", "get"),
        ("/datasets", "get"),
        ("/datasets/{name}/versions", "get"),
        ("/datasets/{name}", "get"),
        ("/datasets/{name}", "put"),
    }
    put = doc["paths"]["/datasets/{name}"]["put"]
    assert set(put["requestBody"]["content"]) == {
        "application/vnd.apache.parquet",
        "text/csv",
    }
    assert {"401", "403", "409", "413"} <= set(put["responses"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_openapi_command_writes_the_document(tmp_path: Path) -> None:
    from mlops_storage.cli import main

    out = tmp_path / "doc.json"
    assert main(["openapi", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == CHECKED_IN.read_text(encoding="utf-8")
