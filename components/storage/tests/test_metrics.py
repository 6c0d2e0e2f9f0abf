"""``GET /metrics``: requests by route template and status, a latency histogram."""

from __future__ import annotations

import re
from pathlib import Path

from http_testing import request
from mlops_storage import Store


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when absent)."""
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def test_requests_counted_by_route_template_and_status(
    served_store: tuple[Store, str],
) -> None:
    _, url = served_store
    before = request(url + "/metrics").body.decode()
    for name in ("a1", "b2", "c3"):
        assert request(f"{url}/datasets/{name}").status == 404
    assert request(url + "/datasets").status == 200
    assert request(url + "/no/such/path").status == 404
    answer = request(url + "/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.body.decode()

    def delta(name: str, **labels: str) -> float:
        return _value(text, name, **labels) - _value(before, name, **labels)

    route = "/datasets/{name}"
    assert delta("http_requests_total", route=route, status="404") == 3
    assert delta("http_requests_total", route="/datasets", status="200") == 1
    assert delta("http_requests_total", route="other", status="404") == 1
    # The histogram holds each request once; /metrics itself is not counted.
    assert delta("http_request_duration_seconds_count", route=route) == 3
    assert delta("http_request_duration_seconds_bucket", route=route, le="+Inf") == 3
    assert "/metrics" not in text


def test_the_time_is_what_the_client_waits(tmp_path: Path) -> None:
    """Metrics wrap the request context (access log, ids, traces): every layer."""
    from mlops_storage.app import create_app
    from mlops_storage.metrics import Metrics
    from mlops_storage.middleware import RequestContext

    app = create_app(Store(tmp_path))
    assert isinstance(app, Metrics)
    assert isinstance(app.app, RequestContext)
