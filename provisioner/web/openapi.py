"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from provisioner.domain import TOKEN_ROLES, Action, State
from provisioner.web.dhcp_openapi import dhcp_paths, dhcp_schemas
from provisioner.web.media_openapi import media_paths, media_schemas
from provisioner.web.openapi_parts import (
    BAD,
    ERRORS,
    MISSING,
    OPTIONS_IN,
    STR_OR_NULL,
    TOO_LARGE,
    crud,
    json,
    list_of,
    no_content,
    path_param,
    query_param,
    ref,
)

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
            },
            "problems": {
                "type": "array",
                "items": ref("Problem"),
                "description": "A change the preflight check refused (`error.code` "
                "`preflight`, 422; 409 for an IP address another node has): every problem",
            },
        },
    },
    "Problem": {
        "type": "object",
        "description": "What the preflight check found (docs/preflight.md)",
        "required": ["severity", "code", "field", "message", "fix"],
        "properties": {
            "severity": {"enum": ["error", "warning"]},
            "code": {"type": "string", "example": "install-without-release"},
            "field": {"type": "string", "example": "release"},
            "message": {"type": "string"},
            "fix": {"type": "string"},
        },
    },
    "NodeInput": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "hostname": STR_OR_NULL,
            "profile": STR_OR_NULL,
            "options": OPTIONS_IN,
            "release": {"type": ["string", "null"], "description": "NAME:VERSION"},
            "bundle": STR_OR_NULL,
            "action": {"enum": [a.value for a in Action]},
        },
    },
    "Node": {
        "type": "object",
        "properties": {
            "mac": {"type": "string", "example": "52:54:00:c0:02:00"},
            "hostname": STR_OR_NULL,
            "profile": STR_OR_NULL,
            "options": {"type": "string"},
            "options_object": {"type": "object"},
            "release": STR_OR_NULL,
            "bundle": STR_OR_NULL,
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
            "running": {
                "type": ["object", "null"],
                "description": "The installed system's last report: release, slot, "
                "kernel, addresses, uptime, reported_at",
            },
            "credential": {
                "type": "boolean",
                "description": "Whether the node's installed system has a report credential",
            },
            "problems": {
                "type": "array",
                "items": ref("Problem"),
                "description": "Preflight: in a PUT/PATCH answer the warnings (an error "
                "refuses the change), in a GET errors and warnings",
            },
        },
    },
    "ProfileInput": {
        "type": "object",
        "properties": {
            "kernel": {"type": "string"},
            "initrd": STR_OR_NULL,
            "options": OPTIONS_IN,
            "ipappend": {"type": "integer", "minimum": 0, "maximum": 7},
            "release": STR_OR_NULL,
            "bundle": STR_OR_NULL,
            "description": {"type": ["string", "null"]},
        },
    },
    "DhcpSubnet": {
        "type": "object",
        "properties": {
            "subnet": {"type": "string", "examples": ["192.0.2.64/26"]},
            "pools": {"type": "array", "items": {"type": "string"}},
            "router": {"type": ["string", "null"]},
            "dns_servers": {"type": "array", "items": {"type": "string"}},
            "domain": {"type": ["string", "null"]},
            "lease_time": {"type": "integer"},
            "next_server": {"type": "string"},
            "bios_loader": {"type": "string"},
            "uefi_loader": {"type": "string"},
            "reservations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Profile": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "kernel": {"type": "string"},
            "initrd": STR_OR_NULL,
            "options": {"type": "string"},
            "options_object": {"type": "object"},
            "ipappend": {"type": "integer"},
            "release": STR_OR_NULL,
            "bundle": STR_OR_NULL,
            "description": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "problems": {
                "type": "array",
                "items": ref("Problem"),
                "description": "Preflight warnings (PUT/PATCH answers only)",
            },
        },
    },
    "Event": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "time": {"type": "string"},
            "mac": STR_OR_NULL,
            "kind": {"type": "string"},
            "message": {"type": "string"},
            "data": {"type": "object"},
            "actor": {**STR_OR_NULL, "description": "the console user who made the change"},
        },
    },
    "ImportReport": {
        "type": "object",
        "description": "What an import did (or, dry_run, would do) per label; a refused "
        "import (409, 422) also has `error`",
        "properties": {
            **{
                k: {"type": "array", "items": {"type": "string"}}
                for k in ("created", "replaced", "unchanged", "refused", "skipped", "warnings")
            },
            "problems": {
                "type": "array",
                "description": "The errors that refuse the file, by line",
                "items": {
                    "type": "object",
                    "required": ["line", "message"],
                    "properties": {"line": {"type": "integer"}, "message": {"type": "string"}},
                },
            },
            "error": {"$ref": "#/components/schemas/Error/properties/error"},
        },
    },
    "Token": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "role": {"enum": [r.value for r in TOKEN_ROLES]},
            "token": {"type": "string", "description": "Only in the POST answer"},
        },
    },
}

#: paging a timeline: ``before`` (older pages) or ``after`` (what came since: a follower)
EVENT_PAGES = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "before", "in": "query", "schema": {"type": "integer"}},
    {"name": "after", "in": "query", "schema": {"type": "integer"}},
]


def _nodes_list() -> dict[str, Any]:
    listing = list_of("nodes", "Node")
    listing["get"]["parameters"] = [
        query_param("problems", "1: only the nodes the preflight check finds a problem with")
    ]
    return listing


def openapi_document() -> dict[str, Any]:
    text = {"description": "Boot file", "content": {"text/plain": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": json({"type": "object"}), **ERRORS},
            }
        },
        "/api/v1/nodes": _nodes_list(),
        "/api/v1/nodes/{mac}": crud("node", "mac", "Any common MAC spelling", "Node", "NodeInput"),
        "/api/v1/nodes/{mac}/boot": {
            "parameters": [path_param("mac", "MAC")],
            "get": {
                "summary": "The pxelinux file and iPXE script this node is served",
                "responses": {"200": json({"type": "object"}), **BAD, **MISSING, **ERRORS},
            },
        },
        "/api/v1/nodes/{mac}/credential": {
            "parameters": [path_param("mac", "MAC")],
            "delete": {
                "summary": "Revoke the credential the node's installed system reports with",
                "responses": {"200": json(ref("Node")), **BAD, **MISSING, **ERRORS},
            },
        },
        "/api/v1/nodes/{mac}/events": {
            "parameters": [path_param("mac", "MAC")],
            "get": {
                "summary": "The node's event timeline, newest first",
                "parameters": EVENT_PAGES,
                "responses": {
                    "200": json({"type": "array", "items": ref("Event")}),
                    **BAD,
                    **MISSING,
                    **ERRORS,
                },
            },
        },
        "/api/v1/dhcp/subnets": {
            "get": {
                "summary": "The DHCP subnets configured in the settings file (read-only)",
                "responses": {"200": json({"type": "array", "items": ref("DhcpSubnet")}), **ERRORS},
            }
        },
        "/api/v1/profiles": list_of("profiles", "Profile"),
        "/api/v1/profiles/{name}": crud(
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
                "responses": {
                    "200": json(ref("ImportReport")),
                    "409": json(ref("ImportReport"), "Labels that would change profiles"),
                    "422": json(ref("ImportReport"), "Not UTF-8, or errors in the file"),
                    **TOO_LARGE,
                    **ERRORS,
                },
            }
        },
        "/api/v1/events": {
            "get": {
                "summary": "All events, newest first",
                "parameters": EVENT_PAGES,
                "responses": {
                    "200": json({"type": "array", "items": ref("Event")}),
                    **BAD,
                    **ERRORS,
                },
            }
        },
        "/api/v1/tokens": {
            "get": {
                "summary": "API tokens (never their secrets)",
                "responses": {"200": json({"type": "array", "items": ref("Token")}), **ERRORS},
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
                "responses": {"201": json(ref("Token")), **BAD, **TOO_LARGE, **ERRORS},
            },
        },
        "/api/v1/tokens/{token_id}": {
            "parameters": [
                {**path_param("token_id", "Token id"), "schema": {"type": "integer", "minimum": 0}}
            ],
            "delete": no_content("Revoke a token", "Revoked", BAD, MISSING),
        },
        "/boot/pxelinux.cfg/{name}": {
            "parameters": [path_param("name", "01-<mac> or default")],
            "get": {
                "summary": "pxelinux config (open, read-only)",
                "security": [],
                "responses": {"200": text, "404": {"description": "Not for us"}},
            },
        },
        "/boot/files/{path}": {
            "parameters": [
                path_param(
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
                    "403": json(ref("Error"), "Path refused (traversal, outside the root)"),
                    "404": json(ref("Error"), "No such file"),
                },
            },
        },
        "/": {
            "get": {
                "summary": "A short HTML page naming the API and the docs (open)",
                "security": [],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
            }
        },
        "/boot/ipxe": {
            "get": {
                "summary": "Per-MAC iPXE script (open, read-only)",
                "security": [],
                "parameters": [
                    {"name": "mac", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": text, "404": {"description": "Unknown MAC"}, **BAD},
            }
        },
    }
    paths.update(_agent_paths())
    paths.update(media_paths())
    paths.update(dhcp_paths())
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
                "nodeCredential": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The credential a node's install put on its disk; "
                    "it opens POST /node/report for that node only",
                },
            },
            "responses": {
                "Unauthorized": json(ref("Error"), "Missing or invalid token"),
                "Forbidden": json(ref("Error"), "Token lacks the admin role"),
            },
            "schemas": {**_SCHEMAS, **media_schemas(), **dhcp_schemas()},
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
                "responses": {
                    "200": text,
                    **BAD,
                    "401": {"description": "No open window"},
                    "409": json(ref("Error"), "A step reported out of order (`error.field`: step)"),
                    **TOO_LARGE,
                },
            }
        },
        "/agent/boot.cfg": {
            "get": {
                "summary": "The GRUB fragment that boots slot ?slot=A|B with the node's "
                "kernel words",
                "security": [{"buildToken": []}],
                "parameters": [query_param("slot", "A or B")],
                "responses": {"200": text, **BAD, "401": {"description": "No open window"}},
            }
        },
        "/agent/settings.tar": {
            "get": {
                "summary": "The node's settings as files of the installed system (tar)",
                "security": [{"buildToken": []}],
                "responses": {
                    "200": {"description": "A tar", "content": {"application/x-tar": {}}},
                    **BAD,
                    "401": {"description": "No open window"},
                },
            }
        },
        "/node/report": {
            "post": {
                "summary": "A report of the node's installed system (first boot, heartbeat)",
                "security": [{"nodeCredential": []}],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["mac", "slot", "release"],
                                "properties": {
                                    "mac": {"type": "string"},
                                    "slot": {"enum": ["A", "B"]},
                                    "release": {"type": "string"},
                                    "kernel": {"type": "string"},
                                    "addresses": {"type": "string"},
                                    "uptime": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": text,
                    **BAD,
                    "401": {"description": "Not this node's credential"},
                    "409": json(
                        ref("Error"), "The slot does not hold that release (`error.field`: release)"
                    ),
                    **TOO_LARGE,
                },
            }
        },
    }
