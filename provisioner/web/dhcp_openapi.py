"""The OpenAPI entry of ``GET /api/v1/dhcp/servers`` (the other DHCP servers heard)."""

from __future__ import annotations

from typing import Any

from provisioner.web.openapi_parts import ERRORS, STR_OR_NULL, json, ref

_TIME = {"type": "string", "format": "date-time"}


def dhcp_paths() -> dict[str, Any]:
    return {
        "/api/v1/dhcp/servers": {
            "get": {
                "summary": "The other DHCP servers heard on the segment (observe mode, "
                "and proxy/full mode's watch), with a warning for each that competes",
                "responses": {"200": json(ref("DhcpServers")), **ERRORS},
            }
        }
    }


def dhcp_schemas() -> dict[str, Any]:
    client = {
        "type": "object",
        "properties": {
            "mac": {"type": "string"},
            "message": {
                "enum": ["OFFER", "ACK", "NAK", "REQUEST"],
                "description": "its reply, or REQUEST: the client chose this server",
            },
            "address": STR_OR_NULL,
            "pxe": {"type": "boolean", "description": "a network-boot client"},
            "at": _TIME,
        },
    }
    server = {
        "type": "object",
        "properties": {
            "server_id": {"type": "string", "description": "option 54, else the source"},
            "source": {"type": "string"},
            "first_seen": _TIME,
            "last_seen": _TIME,
            "replies": {"type": "integer"},
            "answers_pxe": {"type": "boolean"},
            "offers_boot": {"type": "boolean"},
            "competes": {"type": "boolean", "description": "competes with this server's mode"},
            "offer": {
                "type": "object",
                "description": "its last OFFER/ACK; options: code -> value in hex",
                "properties": {
                    "boot_file": {"type": "string"},
                    "next_server": {"type": "string"},
                    "options": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "clients": {"type": "array", "items": client, "description": "newest first"},
        },
    }
    return {
        "DhcpServer": server,
        "DhcpServers": {
            "type": "object",
            "properties": {
                "mode": {"enum": ["off", "proxy", "full", "observe"]},
                "warnings": {"type": "array", "items": {"type": "string"}},
                "servers": {"type": "array", "items": ref("DhcpServer")},
            },
        },
    }
