"""The API answers as its own OpenAPI document says, for an admin and for a viewer.

Schemathesis reads ``/api/v1/openapi.json`` as the app serves it and generates
requests for every operation in it (positive and negative data), sent to the
Flask app in-process (its WSGI transport, no socket). Each answer must pass the
response-conformance checks: no 5xx, a documented status, a documented content
type, a body that matches its schema. A viewer's write on a bearer-secured
operation must be refused with 403, whatever its input.

Bounded and repeatable: :data:`EXAMPLES` examples per operation and generation
mode, derandomized (Hypothesis's fixed seed), no example database, no shrinking
(the operations change the store, so a replay would not see the same state).
Each test gets a fresh store (the ``app`` fixture), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Api

#: examples per operation and generation mode (positive, negative)
EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BOUNDED = hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _bearer_secured(doc: dict[str, Any], path: str, method: str) -> bool:
    """Whether the operation takes an API token (the document's default security)."""
    return "security" not in doc["paths"][path][method.lower()]


def _fuzz(
    app: Flask, operation: Any, mode: GenerationMode, headers: dict[str, str], *, refused: bool
) -> None:
    """EXAMPLES requests to one operation; raises on the first that fails a check."""

    @BOUNDED
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def exchange(case: Any) -> None:
        response = case.call(app=app, headers=headers)
        case.validate_response(
            response, checks=CHECKS, headers=headers, transport_kwargs={"app": app}
        )
        # a negative case may drop the token: then 401 is right, and it is no viewer write
        if refused and response.request.headers.get("Authorization") == headers["Authorization"]:
            assert response.status_code == 403, (
                f"viewer write answered {response.status_code}: {case.as_curl_command()}"
            )

    exchange()


def _told(exc: BaseException) -> str:
    """The failure's message and its reproduction (curl), without the schema dump."""
    notes = "\n".join(getattr(exc, "__notes__", []))
    return f"{type(exc).__name__}: {str(exc)[:1500]}\n{notes[:1500]}"


def _conformance_failures(app: Flask, caller: Api, *, viewer: bool) -> list[str]:
    """Every operation of the served document, fuzzed; what failed, one line each."""
    doc = caller.get("/api/v1/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(doc)
    headers = {"Authorization": f"Bearer {caller.token}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        refused = viewer and operation.method.upper() in WRITES
        refused = refused and _bearer_secured(doc, operation.path, operation.method)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(app, operation, mode, headers, refused=refused)
            except hypothesis.errors.Unsatisfiable:
                # no invalid request exists (only free-form strings in the path): nothing to send
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:  # one failure must not hide the others
                failures.append(f"{operation.label} [{mode.value}]: {_told(exc)}")
    return failures


def test_every_answer_to_an_admin_matches_the_document(app: Flask, admin: Api) -> None:
    failures = _conformance_failures(app, admin, viewer=False)
    assert not failures, "\n\n".join(failures)


def test_every_answer_to_a_viewer_matches_the_document_and_refuses_writes(
    app: Flask, viewer: Api
) -> None:
    failures = _conformance_failures(app, viewer, viewer=True)
    assert not failures, "\n\n".join(failures)
