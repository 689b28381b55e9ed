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

from typing import Any, NamedTuple

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

from provisioner.domain import Role
from provisioner.service import Service
from tests.conftest import Api

#: examples per operation and generation mode (positive, negative)
EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: path values that name something that can exist, for a third round of valid requests:
#: random strings are seldom a MAC, so without it a node's PUT would never succeed
KNOWN = {"mac": "52:54:00:c0:02:0a", "name": "fuzz", "kind": "definition", "ref": "fuzz:1"}


class Token(NamedTuple):
    id: int
    secret: str


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
    app: Flask,
    operation: Any,
    mode: GenerationMode,
    caller: Token,
    *,
    refused: bool,
    path: dict[str, str],
) -> None:
    """EXAMPLES requests to one operation; raises on the first that fails a check."""
    headers = {"Authorization": f"Bearer {caller.secret}"}
    own_id = str(caller.id)
    cases = operation.as_strategy(generation_mode=mode, path_parameters=path).filter(
        # revoking the caller's own token would leave every later operation a bare 401
        lambda case: str((case.path_parameters or {}).get("token_id")) != own_id
    )

    @BOUNDED
    @hypothesis.given(case=cases)
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


def _seed(app: Flask, service: Service) -> None:
    """The things :data:`KNOWN` names, so that reads and changes of them answer 200
    with a body to check (a viewer's fuzzing changes nothing)."""
    _, secret = service.create_token("seed", Role.ADMIN)
    seed = Api(app.test_client(), secret)
    for path, body in [
        ("/api/v1/profiles/fuzz", {"kernel": "vmlinuz", "options": "quiet"}),
        ("/api/v1/bundles/fuzz", {"iso": "fuzz.iso"}),
        (
            f"/api/v1/nodes/{KNOWN['mac']}",
            {"hostname": "fuzz", "profile": "fuzz", "action": "local"},
        ),
    ]:
        assert seed.put(path, json=body).status_code == 201, path


def _conformance_failures(app: Flask, service: Service, role: Role) -> list[str]:
    """Every operation of the served document, fuzzed with a fresh token of ``role``;
    what failed, one entry each. The token must still work at the end."""
    _seed(app, service)
    token, secret = service.create_token(f"schemathesis-{role.value}", role)
    caller = Token(token.id, secret)
    api = Api(app.test_client(), secret)
    doc = api.get("/api/v1/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(doc)
    viewer = role is Role.VIEWER
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # deletions last: the seeded node, profile and bundle stay for the other operations
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        refused = viewer and operation.method.upper() in WRITES
        refused = refused and _bearer_secured(doc, operation.path, operation.method)
        known = {k: v for k, v in KNOWN.items() if f"{{{k}}}" in operation.path}
        rounds = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
        for mode, path in [*rounds, *([(GenerationMode.POSITIVE, known)] if known else [])]:
            try:
                _fuzz(app, operation, mode, caller, refused=refused, path=path)
            except hypothesis.errors.Unsatisfiable:
                # no invalid request exists (only free-form strings in the path): nothing to send
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, FailureGroup) as exc:  # one failure must not hide the others
                failures.append(f"{operation.label} [{mode.value} {path}]: {_told(exc)}")
    assert api.get("/api/v1/nodes").status_code == 200, "the run lost its own token"
    return failures


def test_every_answer_to_an_admin_matches_the_document(app: Flask, service: Service) -> None:
    failures = _conformance_failures(app, service, Role.ADMIN)
    assert not failures, "\n\n".join(failures)


def test_every_answer_to_a_viewer_matches_the_document_and_refuses_writes(
    app: Flask, service: Service
) -> None:
    failures = _conformance_failures(app, service, Role.VIEWER)
    assert not failures, "\n\n".join(failures)
