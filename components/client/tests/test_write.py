"""Writes and downloads, SDK and CLI, end to end against a real storage service."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TOKEN
from mlops_client import AuthError, Client, ClientError, Conflict, ServiceError
from mlops_client.cli import main
from mlops_storage import Store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def parquet_file(path: Path, table: pa.Table) -> str:
    pq.write_table(table, path)
    return str(path)


# ---------------------------------------------------------------------- SDK


def test_sdk_put_versions_download(url: str, store: Store) -> None:
    client = Client(url, token=TOKEN)
    sink = io.BytesIO()
    table = pa.table({"id": [7], "label": ["x"], "score": [2.5]})
    pq.write_table(table, sink)
    assert client.put("events", sink.getvalue(), "parquet") == 3
    csv_body = b"id,label,score\n8,y,\n"
    assert client.put("events", csv_body, "csv", expected_version=3) == 4
    infos = client.versions("events")
    assert [(i.version, i.num_rows) for i in infos] == [(1, 2), (2, 2), (3, 1), (4, 1)]
    assert all(i.created_at for i in infos)
    got = client.download("events", version=3)
    assert (got.name, got.version, got.format) == ("events", 3, "parquet")
    assert pq.read_table(pa.BufferReader(got.content)).equals(table)
    csv = client.download("events", format="csv")
    assert (csv.version, csv.content) == (4, b'"id","label","score"\n8,"y",\n')


def test_sdk_errors(url: str, store: Store, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="authentication required") as info:
        Client(url, token="").put("d", b"a\n1\n", "csv")
    assert info.value.status == 401
    with pytest.raises(AuthError, match="invalid token") as info:
        Client(url, token="nope").put("d", b"a\n1\n", "csv")
    assert info.value.status == 403
    client = Client(url, token=TOKEN)
    with pytest.raises(Conflict, match="is at version 2"):
        client.put("events", b"id\n1\n", "csv", expected_version=1)
    with pytest.raises(ServiceError, match="'label'.*dropped") as error:
        client.put("events", b"id\n1\n", "csv")
    assert error.value.status == 400
    with pytest.raises(ClientError, match="cannot tell the format"):
        client.put_file("d", tmp_path / "data.txt")
    with pytest.raises(ClientError, match="cannot read"):
        client.put_file("d", tmp_path / "missing.csv")
    assert store.versions("events") == [1, 2]


def test_sdk_token_from_environment(
    url: str, store: Store, monkeypatch: pytest.MonkeyPatch, token_file: str
) -> None:
    monkeypatch.setenv("MLOPS_TOKEN_FILE", token_file)
    assert Client(url).put("d", b"a\n1\n", "csv") == 1
    monkeypatch.setenv("MLOPS_TOKEN", TOKEN)
    monkeypatch.delenv("MLOPS_TOKEN_FILE")
    assert Client(url).put("d", b"a\n2\n", "csv") == 2


def test_refused_upload_does_not_send_the_body(url: str, store: Store) -> None:
    """With Expect: 100-continue a big refused body is never sent: 403 arrives."""
    big = b"a\n" + b"1\n" * (8 * 1024 * 1024)
    with pytest.raises(AuthError, match="invalid token"):
        Client(url, token="wrong").put("big", big, "csv")
    assert store.datasets() == ["events", "users"]


def test_concurrent_puts_get_distinct_versions(url: str, store: Store) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        version = Client(url, token=TOKEN).put("many", f"w\n{index}\n".encode(), "csv")
        with lock:
            results.append(version)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert {store.read("many", v).column("w")[0].as_py() for v in results} == set(
        range(6)
    )


# ---------------------------------------------------------------------- CLI


def test_cli_put_parquet_and_csv(
    url: str,
    store: Store,
    tmp_path: Path,
    token_file: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = parquet_file(tmp_path / "new.parquet", pa.table({"k": [1, 2]}))
    code, out, err = run(
        capsys, "--url", url, "--token-file", token_file, "datasets", "put", "k", path
    )
    assert (code, out, err) == (0, "k version 1\n", "")
    csv = tmp_path / "more.csv"
    csv.write_text("k\n3\n")
    code, out, _ = run(
        capsys,
        "datasets",
        "put",
        "k",
        str(csv),
        "--expected-version",
        "1",
        "--json",
        "--url",
        url,
        "--token-file",
        token_file,
    )
    assert code == 0
    assert json.loads(out) == {"name": "k", "version": 2}
    assert store.read("k").to_pylist() == [{"k": 3}]


def test_cli_put_token_from_environment(
    url: str,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("a\n1\n")
    monkeypatch.setenv("MLOPS_TOKEN", TOKEN)
    assert run(capsys, "--url", url, "datasets", "put", "d", str(csv))[0] == 0
    assert store.versions("d") == [1]


def test_cli_versions(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", url, "datasets", "versions", "events")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "ROWS"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    assert [line.split()[2] for line in lines[2:]] == ["2", "2"]
    code, out, _ = run(capsys, "--url", url, "--json", "datasets", "versions", "events")
    assert [v["version"] for v in json.loads(out)["versions"]] == [1, 2]


def test_cli_get_to_files_and_stdout(
    url: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.parquet"
    code, out, _ = run(
        capsys,
        "--url",
        url,
        "datasets",
        "get",
        "events",
        "--version",
        "1",
        "-o",
        str(target),
    )
    assert code == 0
    assert out.startswith(f"wrote {target} (events version 1, parquet, ")
    assert pq.read_table(target).equals(store.read("events", 1))

    target = tmp_path / "out.csv"
    assert (
        run(capsys, "--url", url, "datasets", "get", "users", "-o", str(target))[0] == 1
    )
    assert not target.exists()  # nested columns: no CSV, and no half file

    code, out, _ = run(capsys, "--url", url, "datasets", "get", "events")
    assert code == 0
    assert out.splitlines() == ['"id","label","score"', '3,"c",0.5', "4,,1.25"]

    code, _, err = run(capsys, "--url", url, "datasets", "get", "events", "-o", "x.txt")
    assert code == 2 and "--format" in err


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["datasets", "put", "d", "FILE"], 4, "needs a token: give --token-file FILE"),
        (["--token-file", "WRONG", "datasets", "put", "d", "FILE"], 4, "invalid token"),
        (
            ["--token-file", "TOKEN", "datasets", "put", "events", "FILE"],
            1,
            "'label' would be dropped",
        ),
        (
            [
                "--token-file",
                "TOKEN",
                "datasets",
                "put",
                "d",
                "FILE",
                "--expected-version",
                "3",
            ],
            5,
            "has no version yet",
        ),
        (
            ["--token-file", "/no/such/file", "datasets", "put", "d", "FILE"],
            2,
            "--token-file",
        ),
        (["datasets", "put", "d", "/no/such.csv"], 1, "cannot read /no/such.csv"),
        (
            ["datasets", "put", "d", "FILE", "--expected-version", "-1"],
            2,
            "expected an integer",
        ),
        (["datasets", "get", "nope"], 3, "dataset not found"),
        (["datasets", "versions", "nope"], 3, "dataset not found"),
    ],
)
def test_cli_errors_are_one_line_with_their_code(
    url: str,
    tmp_path: Path,
    token_file: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    words: str,
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong\n")
    swap = {"FILE": str(data), "TOKEN": token_file, "WRONG": str(wrong)}
    got, out, err = run(capsys, "--url", url, *[swap.get(arg, arg) for arg in argv])
    assert (got, out) == (code, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mlops: error: ") and words in err
    assert TOKEN not in err


def test_cli_service_down_exits_6(
    down_url: str, tmp_path: Path, token_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n")
    argv = ["--url", down_url, "--token-file", token_file, "datasets", "put", "d"]
    code, _, err = run(capsys, *argv, str(data))
    assert code == 6
    assert err.startswith(f"mlops: error: storage service unavailable at {down_url}")


def test_cli_put_subprocess_from_stdin(url: str, store: Store, token_file: str) -> None:
    script = Path(sys.executable).parent / "mlops"
    proc = subprocess.run(
        [
            str(script),
            "--url",
            url,
            "--token-file",
            token_file,
            "datasets",
            "put",
            "s",
            "-",
            "--format",
            "csv",
        ],
        input=b"x,y\n1,a\n",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"s version 1\n"
    assert store.read("s").to_pylist() == [{"x": 1, "y": "a"}]


# ----------------------------------------- auth errors name the CLI's options

# The service says "send Authorization: Bearer TOKEN"; a CLI user cannot act on
# a header, only on --token-file, $MLOPS_TOKEN_FILE and $MLOPS_TOKEN.


def test_cli_missing_token_names_the_cli_options(
    url: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n")
    code, out, err = run(capsys, "--url", url, "datasets", "put", "d", str(data))
    assert (code, out) == (4, "")
    assert err == (
        "mlops: error: the storage service needs a token: give --token-file FILE, "
        "or set $MLOPS_TOKEN_FILE or $MLOPS_TOKEN\n"
    )
    assert "d" not in store.datasets()


@pytest.mark.parametrize("where", ["--token-file", "MLOPS_TOKEN_FILE", "MLOPS_TOKEN"])
def test_cli_refused_token_names_where_it_came_from(
    url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-token\n")
    argv = ["--url", url, "datasets", "put", "d", str(data)]
    if where == "--token-file":
        argv += ["--token-file", str(wrong)]
        source = f"--token-file {wrong}"
    elif where == "MLOPS_TOKEN_FILE":
        monkeypatch.setenv("MLOPS_TOKEN_FILE", str(wrong))
        source = f"$MLOPS_TOKEN_FILE ({wrong})"
    else:
        monkeypatch.setenv("MLOPS_TOKEN", "wrong-token")
        source = "$MLOPS_TOKEN"
    code, _, err = run(capsys, *argv)
    assert code == 4
    assert err == (
        f"mlops: error: the storage service refused the token from {source}: "
        "invalid token\n"
    )
    assert "wrong-token" not in err


def test_cli_writes_disabled_on_the_service(
    writes_disabled_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n")
    argv = ["--url", writes_disabled_url, "datasets", "put", "d", str(data)]
    code, _, err = run(capsys, *argv)
    assert code == 4
    assert err.startswith(
        "mlops: error: the storage service refused the request (no token given): "
        "writes are disabled"
    )
    assert len(err.splitlines()) == 1
