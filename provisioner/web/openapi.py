"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from provisioner.domain import Action, Role, State

_STR_OR_NULL = {"type": ["string", "null"]}
_OPTIONS_IN = {
    "description": "Dot-options: one string (`keyboard.de_CH lang.de auto ip.192.168.2.251`) "
    'or an object (`{"keyboard": "de_CH", "auto": true, "console=": "ttyS0"}`).',
    "oneOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
_BAD = {"422": _json(_ref("Error"), "Invalid input; `error.field` names the field")}
_MISSING = {"404": _json(_ref("Error"), "Not found")}
_CONFLICT = {"409": _json(_ref("Error"), "Conflicts with what is stored")}


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _crud(kind: str, key: str, key_doc: str, schema: str, input_schema: str) -> dict[str, Any]:
    param = [_param(key, key_doc)]
    body = {"required": False, "content": {"application/json": {"schema": _ref(input_schema)}}}
    return {
        "parameters": param,
        "get": {
            "summary": f"One {kind}",
            "responses": {"200": _json(_ref(schema)), **_MISSING, **_ERRORS},
        },
        "put": {
            "summary": f"Create or replace a {kind} (absent fields reset)",
            "requestBody": body,
            "responses": {
                "200": _json(_ref(schema), "Replaced"),
                "201": _json(_ref(schema), "Created"),
                **_BAD,
                **_CONFLICT,
                **_ERRORS,
            },
        },
        "patch": {
            "summary": f"Change some fields of a {kind}",
            "requestBody": body,
            "responses": {"200": _json(_ref(schema)), **_BAD, **_MISSING, **_CONFLICT, **_ERRORS},
        },
        "delete": {
            "summary": f"Delete a {kind}",
            "responses": {"204": {"description": "Deleted"}, **_MISSING, **_CONFLICT, **_ERRORS},
        },
    }


def _list(kind: str, schema: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"All {kind}",
            "responses": {"200": _json({"type": "array", "items": _ref(schema)}), **_ERRORS},
        }
    }


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        },
    },
    "NodeInput": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "hostname": _STR_OR_NULL,
            "profile": _STR_OR_NULL,
            "options": _OPTIONS_IN,
            "release": {"type": ["string", "null"], "description": "NAME:VERSION"},
            "bundle": _STR_OR_NULL,
            "action": {"enum": [a.value for a in Action]},
        },
    },
    "Node": {
        "type": "object",
        "properties": {
            "mac": {"type": "string", "example": "52:54:00:c0:02:00"},
            "hostname": _STR_OR_NULL,
            "profile": _STR_OR_NULL,
            "options": {"type": "string"},
            "options_object": {"type": "object"},
            "release": _STR_OR_NULL,
            "bundle": _STR_OR_NULL,
            "action": {"enum": [a.value for a in Action]},
            "state": {"enum": [s.value for s in State]},
            "cmdline": {
                "type": ["string", "null"],
                "description": "Effective command line: profile, node, bundle merged",
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "slot_a": {"type": ["string", "null"], "description": "Release in system slot A"},
            "slot_b": {"type": ["string", "null"], "description": "Release in system slot B"},
            "active_slot": {"enum": ["A", "B", None]},
            "installed_at": {"type": ["string", "null"], "format": "date-time"},
            "install_seconds": {"type": ["number", "null"]},
            "phases": {
                "type": "object",
                "description": "Seconds per boot phase of the last "
                "install: dhcp, loader, kernel, agent, image, files",
            },
            "install_window_expires": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "ProfileInput": {
        "type": "object",
        "properties": {
            "kernel": {"type": "string"},
            "initrd": _STR_OR_NULL,
            "options": _OPTIONS_IN,
            "ipappend": {"type": "integer", "minimum": 0, "maximum": 7},
            "release": _STR_OR_NULL,
            "bundle": _STR_OR_NULL,
            "description": {"type": ["string", "null"]},
        },
    },
    "Profile": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "kernel": {"type": "string"},
            "initrd": _STR_OR_NULL,
            "options": {"type": "string"},
            "options_object": {"type": "object"},
            "ipappend": {"type": "integer"},
            "release": _STR_OR_NULL,
            "bundle": _STR_OR_NULL,
            "description": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Event": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "time": {"type": "string"},
            "mac": _STR_OR_NULL,
            "kind": {"type": "string"},
            "message": {"type": "string"},
            "data": {"type": "object"},
        },
    },
    "Token": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "role": {"enum": [r.value for r in Role]},
            "token": {"type": "string", "description": "Only in the POST answer"},
        },
    },
}


def openapi_document() -> dict[str, Any]:
    text = {"description": "Boot file", "content": {"text/plain": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}), **_ERRORS},
            }
        },
        "/api/v1/nodes": _list("nodes", "Node"),
        "/api/v1/nodes/{mac}": _crud("node", "mac", "Any common MAC spelling", "Node", "NodeInput"),
        "/api/v1/nodes/{mac}/boot": {
            "parameters": [_param("mac", "MAC")],
            "get": {
                "summary": "The pxelinux file and iPXE script this node is served",
                "responses": {"200": _json({"type": "object"}), **_MISSING, **_ERRORS},
            },
        },
        "/api/v1/nodes/{mac}/events": {
            "parameters": [_param("mac", "MAC")],
            "get": {
                "summary": "The node's event timeline, newest first",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("Event")}),
                    **_MISSING,
                    **_ERRORS,
                },
            },
        },
        "/api/v1/profiles": _list("profiles", "Profile"),
        "/api/v1/profiles/{name}": _crud(
            "profile", "name", "Profile name", "Profile", "ProfileInput"
        ),
        "/api/v1/import/syslinux": {
            "post": {
                "summary": "Import each label of a syslinux.cfg as a profile",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("replace", "join_wrapped", "dry_run")
                ],
                "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": {"200": _json({"type": "object"}), **_BAD, **_CONFLICT, **_ERRORS},
            }
        },
        "/api/v1/events": {
            "get": {
                "summary": "All events, newest first",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "before", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": _json({"type": "array", "items": _ref("Event")}), **_ERRORS},
            }
        },
        "/api/v1/tokens": {
            "get": {
                "summary": "API tokens (never their secrets)",
                "responses": {"200": _json({"type": "array", "items": _ref("Token")}), **_ERRORS},
            },
            "post": {
                "summary": "Create a token; the secret is shown once",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "role": {"enum": ["admin", "viewer"]},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": _json(_ref("Token")), **_BAD, **_ERRORS},
            },
        },
        "/api/v1/tokens/{token_id}": {
            "parameters": [_param("token_id", "Token id")],
            "delete": {
                "summary": "Revoke a token",
                "responses": {"204": {"description": "Revoked"}, **_MISSING, **_ERRORS},
            },
        },
        "/boot/pxelinux.cfg/{name}": {
            "parameters": [_param("name", "01-<mac> or default")],
            "get": {
                "summary": "pxelinux config (open, read-only)",
                "security": [],
                "responses": {"200": text, "404": {"description": "Not for us"}},
            },
        },
        "/boot/files/{path}": {
            "parameters": [
                _param(
                    "path",
                    "A path of the boot tree: pxelinux.0, efi64/syslinux.efi, "
                    "pxelinux.cfg/01-<mac>, a file under <data_dir>/boot, ...",
                )
            ],
            "get": {
                "summary": "The TFTP boot tree over HTTP (open, read-only; HTTP/1.0 too)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The file; Content-Length always set",
                        "content": {"application/octet-stream": {}, "text/plain": {}},
                    },
                    "403": _json(_ref("Error"), "Path refused (traversal, outside the root)"),
                    "404": _json(_ref("Error"), "No such file"),
                },
            },
        },
        "/boot/ipxe": {
            "get": {
                "summary": "Per-MAC iPXE script (open, read-only)",
                "security": [],
                "parameters": [
                    {"name": "mac", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": text, "404": {"description": "Unknown MAC"}, **_BAD},
            }
        },
    }
    paths.update(_agent_paths())
    from provisioner.web.media_openapi import media_paths, media_schemas

    paths.update(media_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "provisioner",
            "version": "1",
            "description": "PXE provisioning server: nodes, profiles, dot-options.",
        },
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "buildToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A node's build token (its token. dot-option), valid "
                    "while its install window is open",
                },
            },
            "responses": {
                "Unauthorized": _json(_ref("Error"), "Missing or invalid token"),
                "Forbidden": _json(_ref("Error"), "Token lacks the admin role"),
            },
            "schemas": {**_SCHEMAS, **media_schemas()},
        },
    }


def _agent_paths() -> dict[str, Any]:
    """The installer agent's routes (build token, not an API token)."""
    text = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "/agent/manifest": {
            "get": {
                "summary": "The node's manifest as KEY=value lines",
                "security": [{"buildToken": []}],
                "responses": {"200": text, "401": {"description": "No open install window"}},
            }
        },
        "/agent/report": {
            "post": {
                "summary": "A progress or final report of the agent",
                "security": [{"buildToken": []}],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "step": {"type": "string"},
                                    "status": {"enum": ["running", "ok", "failed"]},
                                    "message": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": text, **_BAD, "401": {"description": "No open window"}},
            }
        },
    }
