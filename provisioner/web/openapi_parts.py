"""Building blocks of the OpenAPI document, shared by ``openapi.py`` and
``media_openapi.py`` (which both import this, never each other)."""

from __future__ import annotations

from typing import Any

STR_OR_NULL = {"type": ["string", "null"]}
OPTIONS_IN = {
    "description": "Dot-options: one string (`keyboard.de_CH lang.de auto ip.192.168.2.251`) "
    'or an object (`{"keyboard": "de_CH", "auto": true, "console=": "ttyS0"}`).',
    "oneOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}],
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
BAD = {"422": json(ref("Error"), "Invalid input; `error.field` names the field")}
MISSING = {"404": json(ref("Error"), "Not found")}
CONFLICT = {"409": json(ref("Error"), "Conflicts with what is stored")}
TOO_LARGE = {
    "413": json(ref("Error"), "Body over its limit (JSON 1 MiB, syslinux.cfg 16 MiB), chunked too")
}


def param(where: str, name: str, description: str, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def path_param(name: str, description: str) -> dict[str, Any]:
    return param("path", name, description, required=True)


def query_param(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return param("query", name, description, required)


def crud(kind: str, key: str, key_doc: str, schema: str, input_schema: str) -> dict[str, Any]:
    params = [path_param(key, key_doc)]
    body = {"required": False, "content": {"application/json": {"schema": ref(input_schema)}}}
    return {
        "parameters": params,
        "get": {
            "summary": f"One {kind}",
            "responses": {"200": json(ref(schema)), **BAD, **MISSING, **ERRORS},
        },
        "put": {
            "summary": f"Create or replace a {kind} (absent fields reset)",
            "requestBody": body,
            "responses": {
                "200": json(ref(schema), "Replaced"),
                "201": json(ref(schema), "Created"),
                **BAD,
                **CONFLICT,
                **TOO_LARGE,
                **ERRORS,
            },
        },
        "patch": {
            "summary": f"Change some fields of a {kind}",
            "requestBody": body,
            "responses": {
                "200": json(ref(schema)),
                **BAD,
                **MISSING,
                **CONFLICT,
                **TOO_LARGE,
                **ERRORS,
            },
        },
        "delete": no_content(f"Delete a {kind}", "Deleted", BAD, MISSING, CONFLICT),
    }


def no_content(summary: str, done: str, *failures: dict[str, Any]) -> dict[str, Any]:
    """An operation that answers 204 ``done``, else one of ``failures`` or
    :data:`ERRORS`."""
    responses: dict[str, Any] = {"204": {"description": done}}
    for answers in (*failures, ERRORS):
        responses.update(answers)
    return {"summary": summary, "responses": responses}


def list_of(kind: str, schema: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"All {kind}",
            "responses": {"200": json({"type": "array", "items": ref(schema)}), **ERRORS},
        }
    }
