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


def test_the_pods_mount_no_service_account_token_and_bound_their_volumes() -> None:
    """Neither the service nor its smoke Job talks to the Kubernetes API."""
    for name in ("deployment.yaml", "smoke.yaml"):
        text = (CDC / name).read_text(encoding="utf-8")
        assert "      automountServiceAccountToken: false\n" in text, name
    [tmp] = items(CDC / "deployment.yaml", "- name: tmp")[1:]
    assert tmp == ["- name: tmp", "emptyDir:", "sizeLimit: 64Mi"]


def test_resources_are_the_measured_ones_of_the_readme() -> None:
    """The Deployment's figures are those the README's "Sizing" measured."""
    text = (CDC / "deployment.yaml").read_text(encoding="utf-8")
    readme = (CDC.parent / "README.md").read_text(encoding="utf-8")
    [resources] = items(CDC / "deployment.yaml", "resources:")
    assert resources == [
        "resources:",
        "requests:",
        "cpu: 100m",
        "memory: 256Mi",
        "limits:",
        'cpu: "1"',
        "memory: 1Gi",
    ]
    for figure in ("76 MiB", "604 MiB", "1,400-2,200 events/s"):
        assert figure in readme and figure in text, figure


def run_smoke(cdc_url: str, storage_url: str, token: str) -> str:
    """The smoke Job's script, run here against local services."""
    import contextlib
    import io

    lines = (CDC / "smoke.yaml").read_text(encoding="utf-8").splitlines()
    body = []
    for line in lines[lines.index("            - |") + 1 :]:
        if line.strip() and not line.startswith(" " * 14):
            break  # the block scalar ends
        body.append(line[14:])
    script = "\n".join(body)
    script = script.replace("http://cdc", cdc_url).replace(
        "http://storage", storage_url
    )
    token_file = "/var/run/secrets/mlops/token"
    real_open = open

    def fake_open(path: str, *args: object, **kwargs: object) -> object:
        if path == token_file:
            return io.StringIO(token + "\n")
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(script, {"open": fake_open, "__name__": "smoke"})  # nosec B102
    return out.getvalue()


def test_the_smoke_check_passes_run_after_run(tmp_path: Path) -> None:
    """Also on a table whose one old mark is a nanosecond clock, as deployed.

    The last deploy three hours ago: a nanosecond clock as the position would
    now be further ahead of its mark than an event may be (refused, 400).
    """
    import threading
    import time

    import pyarrow as pa
    from cdc_testing import serving
    from mlops_cdc import ChangeApplier
    from mlops_storage import Store
    from mlops_storage.auth import TokenSource
    from mlops_storage.server import make_server
    from mlops_storage.settings import Settings

    token = "smoke-token"
    root = tmp_path / "store"
    old = time.time_ns() - 3 * 3600 * 10**9
    Store(root).write(
        "xtask-smoke-cdc",
        pa.table({"id": [1], "offset": [old]}),
        metadata={"cdc.high_water_offset": str(old), "cdc.key": "id"},
    )
    settings = Settings(token=TokenSource(value=token), workers=1)
    storage = make_server(Store(root), "127.0.0.1", 0, settings)
    thread = threading.Thread(target=storage.serve_forever, daemon=True)
    thread.start()
    try:
        applier = ChangeApplier(Store(root))
        with serving(applier, token=TokenSource(value=token)) as cdc:
            for _ in range(2):
                printed = run_smoke(cdc.url, storage.url, token)
                assert "one change event applied through cdc" in printed, printed
    finally:
        storage.shutdown()
        storage.server_close()
        thread.join(timeout=30)


def test_pyarrow_14_0_0_is_not_admitted() -> None:
    """14.0.0 deserialises arbitrary Python objects from IPC (CVE-2023-47248)."""
    import tomllib

    project = tomllib.loads((CDC.parent / "pyproject.toml").read_text("utf-8"))
    [pin] = [d for d in project["project"]["dependencies"] if d.startswith("pyarrow")]
    assert pin == "pyarrow>=14.0.1", pin


def test_every_environment_leaves_room_for_the_bounded_load() -> None:
    """No overlay limits cdc below the README's measured peak (OOM-killed else)."""
    readme = (CDC.parent / "README.md").read_text(encoding="utf-8")
    assert "604 MiB" in readme
    units = {"Mi": 1, "Gi": 1024}
    overlays = sorted((COMPONENTS.parent / "deploy" / "overlays").iterdir())
    assert overlays
    for overlay in overlays:
        settings = overlay / "settings.yaml"
        if not settings.exists():
            continue
        for item in items(settings, "- name: cdc"):
            for line in item:
                if line.startswith("limits:") and "memory:" in line:
                    size = line.split("memory:")[1].strip(" }")
                    mib = int(size[:-2]) * units[size[-2:]]
                    assert mib >= 604 * 5 // 4, (overlay.name, size)
