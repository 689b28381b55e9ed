"""Every status an operation answers is in its OpenAPI entry: each route of the
app is called with hostile path values, query values and bodies, and whatever it
answers must be documented for that operation."""

from __future__ import annotations

from typing import Any

from flask import Flask

from provisioner.config import Settings
from provisioner.web.body import MAX_JSON_BYTES
from provisioner.web.console.blueprint import is_console
from tests.conftest import Api

LONG = "9" * 5000
#: path values to try for each path argument: plausible, malformed, overlong
PATH_VALUES = ["52:54:00:c0:02:0a", "avbox:2.0", "x", "bad!value", "-", "a" * 300]
QUERIES = ["", f"limit={LONG}", "limit=\u00b2", "before=-1", f"after={LONG}", "name=a&version=1"]
BODIES: list[dict[str, Any]] = [
    {},
    {"json": {"x": 1}},
    {"data": "[" * 10000 + "]" * 10000, "content_type": "application/json"},
    {"data": b"\xff\xfe not text", "content_type": "application/octet-stream"},
    {"data": "step=done&status=ok", "content_type": "application/x-www-form-urlencoded"},
]
#: tried once per operation (with no query): a body past every limit the app reads whole
BIG = {"data": b"{" + b" " * (16 * 1024 * 1024 + MAX_JSON_BYTES), "content_type": "text/plain"}
MEDIA_HEADERS = [{}, {"Range": f"bytes=0-{LONG}"}, {"Range": "bytes=5-1"}, {"If-Match": '"x"'}]


def _documented(doc: dict[str, Any], path: str, method: str) -> set[str]:
    return set(doc["paths"][path][method.lower()]["responses"])


def _cases(rule: Any) -> list[tuple[str, str]]:
    """(OpenAPI path, URL) pairs: each path argument filled with each trial value."""
    api_path = rule.rule
    for arg in rule.arguments:
        for form in (f"<int:{arg}>", f"<path:{arg}>", f"<{arg}>"):
            api_path = api_path.replace(form, f"{{{arg}}}")
    urls = []
    for value in PATH_VALUES:
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "999").replace(f"<path:{arg}>", value)
            url = url.replace(f"<{arg}>", value)
        urls.append(url)
    return [(api_path, u) for u in dict.fromkeys(urls)]


def test_every_answer_of_every_operation_is_documented(
    app: Flask, admin: Api, settings: Settings
) -> None:
    doc = admin.get("/api/v1/openapi.json").get_json()
    admin.put("/api/v1/nodes/52:54:00:c0:02:0a", json={})
    for kind in ("images", "bundles"):  # /media/<kind>/x/x/x exists: Range is evaluated
        (settings.data_dir / "media" / kind / "x" / "x").mkdir(parents=True)
        (settings.data_dir / "media" / kind / "x" / "x" / "x").write_bytes(b"0123456789")
    undocumented: set[tuple[str, str, int]] = set()
    for rule in app.url_map.iter_rules():
        if is_console(rule.endpoint):  # the web console's pages are not the API
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for api_path, url in _cases(rule):
                documented = _documented(doc, api_path, method)
                for query in QUERIES:
                    target = f"{url}?{query}" if query else url
                    trials = BODIES if method in {"POST", "PUT", "PATCH"} else [{}]
                    trials = [*trials, BIG] if trials != [{}] and not query else trials
                    headers = MEDIA_HEADERS if url.startswith("/media/") else [{}]
                    for body in trials:
                        for extra in headers:
                            resp = admin.request(method, target, headers=extra, **body)
                            status = resp.status_code
                            assert status < 500, (method, target, body, resp.get_data())
                            if str(status) not in documented:
                                undocumented.add((method, api_path, status))
    assert not undocumented, "\n".join(map(str, sorted(undocumented)))
