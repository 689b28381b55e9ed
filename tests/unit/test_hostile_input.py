"""Odd and hostile input is a 4xx naming what was wrong, never a 500: numbers past
64 bits or in other scripts' digits, deep or large JSON, chunked bodies past the
limit, and an early refusal that leaves the body unread."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from provisioner.config import Settings
from provisioner.domain import INT64_MAX, parse_count
from provisioner.errors import ValidationError
from provisioner.importer import MAX_IMPORT_BYTES, MAX_IMPORT_LABELS, plan_import
from provisioner.web.api import EVENT_ID_MAX
from provisioner.web.body import MAX_BODY, MAX_JSON_BYTES, MAX_JSON_DEPTH
from tests.conftest import Api

MAC = "52:54:00:c0:02:0a"
LONG = "9" * 5000  # int() of this raises ValueError (Python's 4300-digit limit)


def _field(resp: Any) -> str:
    return str(resp.get_json()["error"].get("field"))


@pytest.mark.parametrize(
    "raw",
    ["", "-1", "+5", " 5", "5 ", "1_000", "\u0661\u0660", "\u00b2", "1e3", LONG, "9" * 20],
)
def test_parse_count_takes_ascii_digits_within_bounds_only(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_count("limit", raw, 1, 1000 if raw != "9" * 20 else INT64_MAX)
    assert exc.value.field == "limit"


def test_parse_count_accepts_the_bounds() -> None:
    assert parse_count("x", "0") == 0
    assert parse_count("x", str(INT64_MAX)) == INT64_MAX
    with pytest.raises(ValidationError):
        parse_count("x", str(INT64_MAX + 1))


# -- query values --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("before=99999999999999999999", "before"),  # past SQLite's 64-bit integer
        ("before=" + LONG, "before"),
        ("after=9223372036854775808", "after"),
        ("before=2147483648", "before"),  # past PostgreSQL's INTEGER event ids
        ("limit=\u0661\u0660", "limit"),  # Arabic-Indic digits: int() takes them
        ("limit=\u00b2", "limit"),  # isdigit() says yes, int() raises
        ("limit=" + LONG, "limit"),
        ("limit=0", "limit"),
    ],
)
def test_out_of_range_and_foreign_digits_in_queries_are_422_naming_them(
    admin: Api, query: str, field: str
) -> None:
    admin.put(f"/api/v1/nodes/{MAC}", json={"action": "local"})
    for path in ("/api/v1/events", f"/api/v1/nodes/{MAC}/events"):
        resp = admin.get(f"{path}?{query}")
        assert resp.status_code == 422, resp.get_json()
        assert _field(resp) == field


def test_the_largest_event_id_is_a_valid_cursor(admin: Api) -> None:
    for cursor in ("before", "after"):
        resp = admin.get(f"/api/v1/events?{cursor}={EVENT_ID_MAX}")
        assert resp.status_code == 200


# -- headers -------------------------------------------------------------------------------------
@pytest.fixture
def media_file(settings: Settings) -> bytes:
    d = settings.data_dir / "media" / "images" / "avbox" / "2.0"
    d.mkdir(parents=True)
    data = bytes(range(256)) * 4
    (d / "avbox-2.0.squashfs").write_bytes(data)
    return data


URL = "/media/images/avbox/2.0/avbox-2.0.squashfs"


@pytest.mark.parametrize(
    "value", [f"bytes={LONG}-", f"bytes=0-{LONG}", f"bytes=-{LONG}", "bytes=0-99999999999999999999"]
)
def test_an_overlong_number_in_a_range_is_a_4xx_naming_range(
    client: FlaskClient, media_file: bytes, value: str
) -> None:
    resp = client.get(URL, headers={"Range": value})
    assert 400 <= resp.status_code < 500
    assert _field(resp) == "Range"


def test_the_largest_range_positions_still_work(client: FlaskClient, media_file: bytes) -> None:
    with client.get(URL, headers={"Range": f"bytes=1000-{INT64_MAX}"}) as resp:
        assert (resp.status_code, resp.data) == (206, media_file[1000:])
    resp = client.get(URL, headers={"Range": f"bytes={INT64_MAX}-"})
    assert resp.status_code == 416
    with client.get(URL, headers={"Range": "bytes=\u0661-\u0662"}) as resp:  # not ASCII: ignored
        assert (resp.status_code, resp.data) == (200, media_file)


@pytest.mark.parametrize(
    "value",
    [f"bytes 0-{LONG}/5", f"bytes {LONG}-1/5", f"bytes */{LONG}", "bytes 0-4/99999999999999999999"],
)
def test_an_overlong_number_in_content_range_is_422_naming_it(admin: Api, value: str) -> None:
    started = admin.post(
        "/api/v1/uploads", json={"target": "image", "name": "f", "version": "1", "size": 5}
    ).get_json()
    resp = admin.put(
        f"/api/v1/uploads/{started['id']}", data=b"abcde", headers={"Content-Range": value}
    )
    assert resp.status_code == 422, resp.get_json()
    assert _field(resp) == "Content-Range"


# -- JSON bodies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 200_000])
def test_deeply_nested_json_is_422_naming_the_body(admin: Api, depth: int) -> None:
    nested = '{"options": ' + "[" * depth + "]" * depth + "}"
    for method, path in (
        ("PUT", f"/api/v1/nodes/{MAC}"),
        ("PUT", "/api/v1/profiles/p"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/uploads"),
        ("PUT", "/api/v1/bundles/b"),
    ):
        resp = admin.request(method, path, data=nested, content_type="application/json")
        assert resp.status_code == 422, (path, resp.get_json())
        assert _field(resp) == "body"
        assert "nested deeper" in resp.get_json()["error"]["message"]


def test_json_nested_to_the_limit_is_parsed(admin: Api) -> None:
    nested = '{"x": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    resp = admin.put(f"/api/v1/nodes/{MAC}", data=nested, content_type="application/json")
    assert resp.status_code == 422
    assert _field(resp) == "x"  # past the depth check: the unknown field is named


def test_a_json_body_over_its_limit_is_413(admin: Api) -> None:
    big = '{"description": "' + "x" * MAX_JSON_BYTES + '"}'
    resp = admin.put("/api/v1/profiles/p", data=big, content_type="application/json")
    assert resp.status_code == 413
    assert _field(resp) == "body"


# -- chunked bodies ------------------------------------------------------------------------------
def _chunked(admin: Api, path: str, body: bytes) -> Any:
    """A body without Content-Length, as a server that de-chunks hands it on."""
    return admin.client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={"Authorization": f"Bearer {admin.token}", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _labels(n: int, pad: int = 0) -> bytes:
    return "".join(
        f"LABEL l{i}\n  KERNEL vmlinuz\n  APPEND console=ttyS0{' ' * pad}\n" for i in range(n)
    ).encode()


def test_a_chunked_body_over_the_limit_is_413_not_cut_and_imported(admin: Api) -> None:
    body = _labels(10) + b"#" * MAX_BODY
    resp = _chunked(admin, "/api/v1/import/syslinux", body)
    assert resp.status_code == 413, resp.get_json()
    assert _field(resp) == "body"
    assert admin.get("/api/v1/profiles").get_json() == []  # no prefix was imported


def test_a_chunked_json_body_over_its_limit_is_413(admin: Api) -> None:
    body = b'{"description": "' + b"x" * (MAX_JSON_BYTES + 10) + b'"}'
    resp = _chunked(admin, "/api/v1/tokens", body)
    assert resp.status_code == 413


def test_a_chunked_body_within_the_limit_is_read_whole(admin: Api) -> None:
    resp = _chunked(admin, "/api/v1/import/syslinux", _labels(3))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["created"] == ["l0", "l1", "l2"]


# -- import limits -------------------------------------------------------------------------------
def test_an_import_over_the_label_limit_is_refused_naming_the_file() -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_IMPORT_LABELS}"):
        plan_import(_labels(MAX_IMPORT_LABELS + 1).decode())


def test_an_import_over_the_byte_limit_is_413_over_http(admin: Api) -> None:
    resp = admin.post("/api/v1/import/syslinux", data=b"#" * (MAX_IMPORT_BYTES + 1))
    assert resp.status_code == 413
    assert _field(resp) == "body"
    with pytest.raises(ValidationError, match=r"syslinux\.cfg"):
        plan_import("#" * (MAX_IMPORT_BYTES + 1))


def test_the_cli_refuses_an_import_over_the_limit(tmp_path: Path, settings: Settings) -> None:
    from click.testing import CliRunner

    from provisioner.cli import main

    cfg = tmp_path / "huge.cfg"
    cfg.write_bytes(b"#" * (MAX_IMPORT_BYTES + 1))
    env = {
        "PROVISIONER_DATA_DIR": str(settings.data_dir),
        "PROVISIONER_DATABASE_URL": settings.database_url,
    }
    result = CliRunner().invoke(main, ["import-syslinux", str(cfg)], env=env)
    assert result.exit_code == 2, result.output
    assert "an import takes at most" in result.output


# -- early refusals ------------------------------------------------------------------------------
def test_a_refusal_before_a_small_body_was_read_drains_it(client: FlaskClient) -> None:
    resp = client.post("/api/v1/images?name=a&version=1", data=b"x" * 100_000)
    assert resp.status_code == 401
    assert resp.headers.get("Connection") != "close"


def test_a_refusal_before_a_large_body_was_read_says_connection_close(
    client: FlaskClient,
) -> None:
    resp = client.post("/api/v1/images?name=a&version=1", data=b"x" * (2 * 1024 * 1024))
    assert resp.status_code == 401
    assert resp.headers["Connection"] == "close"
    chunked = client.post(
        "/api/v1/images?name=a&version=1",
        input_stream=io.BytesIO(b"x" * 10),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.headers["Connection"] == "close"
