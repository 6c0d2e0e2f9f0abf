"""cdc's Deployment takes its write token exactly as storage's does."""

from __future__ import annotations

from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2]
CDC = COMPONENTS / "cdc" / "k8s"
STORAGE = COMPONENTS / "storage" / "k8s"


def items(path: Path, first: str) -> list[list[str]]:
    """Every YAML list item whose first line is ``first``, as its stripped lines.

    Plain text, so the test needs no YAML library: an item runs on while the
    lines are indented deeper than its dash.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.strip() != first:
            continue
        depth = len(line) - len(line.lstrip())
        item = [first]
        for more in lines[index + 1 :]:
            if more.strip() and len(more) - len(more.lstrip()) <= depth:
                break
            if more.strip() and not more.strip().startswith("#"):
                item.append(more.strip())
        found.append(item)
    return found


def test_the_token_comes_from_storage_secret_as_in_storage() -> None:
    volume = [
        "- name: storage-token",
        "secret:",
        "secretName: storage-token",
        "optional: true",
        "defaultMode: 288 # 0440: the group (fsGroup 10001) reads it",
        "items:",
        "- key: token",
        "path: token",
    ]
    mount = [
        "- name: storage-token",
        "mountPath: /var/run/secrets/mlops",
        "readOnly: true",
    ]
    variable = [
        "- name: MLOPS_STORAGE_TOKEN_FILE",
        "value: /var/run/secrets/mlops/token",
    ]
    for folder in (STORAGE, CDC):
        deployment = folder / "deployment.yaml"
        assert items(deployment, "- name: storage-token") == [mount, volume], folder
        assert items(deployment, "- name: MLOPS_STORAGE_TOKEN_FILE") == [variable]


def test_no_secret_is_committed() -> None:
    for path in CDC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "kind: Secret" not in text, path
        # The token itself in the environment would be a token in the repo.
        assert "name: MLOPS_STORAGE_TOKEN\n" not in text, path
