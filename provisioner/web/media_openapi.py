"""The media part of the OpenAPI document: images, bundles, uploads, the node
manifest and the open ``/media`` downloads (merged by ``openapi.py``)."""

from __future__ import annotations

from typing import Any

from provisioner.web.openapi import (
    _BAD,
    _CONFLICT,
    _ERRORS,
    _MISSING,
    _STR_OR_NULL,
    _crud,
    _json,
    _list,
    _param,
    _ref,
)

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_UPLOAD_ERRORS = {
    **_BAD,
    **_CONFLICT,
    "411": _json(_ref("Error"), "No Content-Length and not chunked"),
    "413": _json(_ref("Error"), "Larger than upload_max_bytes or the declared size"),
    "507": _json(_ref("Error"), "Not enough free disk in the data directory"),
}


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


_SHA256 = _query("sha256", "The file's SHA-256 (hex); refused, nothing stored, if it differs")


def _download(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    binary = {"content": _BINARY}
    return {
        "parameters": params,
        "get": {
            "summary": summary + " (open, read-only; Range, If-Range, ETag, HEAD)",
            "security": [],
            "responses": {
                "200": {"description": "The whole file", **binary},
                "206": {"description": "One range, or multipart/byteranges", **binary},
                "304": {"description": "Not modified (If-None-Match / If-Modified-Since)"},
                "404": {"description": "No such file"},
                "412": {"description": "If-Match / If-Unmodified-Since failed"},
                "416": {"description": "No requested range inside the file"},
            },
        },
    }


def media_paths() -> dict[str, Any]:
    session = _ref("Upload")
    return {
        "/api/v1/images": {
            **_list("release images", "Release"),
            "post": {
                "summary": "Upload a squashfs release image in one request (not resumable)",
                "parameters": [
                    _query("name", "Release name", True),
                    _query("version", "Release version", True),
                    _SHA256,
                ],
                "requestBody": {"required": True, "content": _BINARY},
                "responses": {"201": _json(_ref("Release"), "Stored"), **_UPLOAD_ERRORS, **_ERRORS},
            },
        },
        "/api/v1/images/{ref}": {
            "parameters": [_param("ref", "NAME:VERSION")],
            "get": {
                "summary": "One release image",
                "responses": {"200": _json(_ref("Release")), **_MISSING, **_ERRORS},
            },
            "delete": {
                "summary": "Delete a release no node or profile uses, and its file",
                "responses": {
                    "204": {"description": "Deleted"},
                    **_MISSING,
                    **_CONFLICT,
                    **_ERRORS,
                },
            },
        },
        "/api/v1/bundles": _list("bundles", "Bundle"),
        "/api/v1/bundles/{name}": _crud("bundle", "name", "Bundle name", "Bundle", "BundleInput"),
        "/api/v1/bundles/{name}/files/{kind}": {
            "parameters": [
                _param("name", "Bundle name (created when new)"),
                _param("kind", "iso, definition or image"),
            ],
            "put": {
                "summary": "Upload one file of a bundle in one request (not resumable)",
                "parameters": [
                    _query("filename", "File name; default: the bundle's name for this kind"),
                    _SHA256,
                ],
                "requestBody": {"required": True, "content": _BINARY},
                "responses": {"201": _json(_ref("Bundle"), "Stored"), **_UPLOAD_ERRORS, **_ERRORS},
            },
            "delete": {
                "summary": "Delete an uploaded file and clear the bundle's name for it",
                "responses": {"200": _json(_ref("Bundle")), **_MISSING, **_CONFLICT, **_ERRORS},
            },
        },
        "/api/v1/uploads": {
            "get": {
                "summary": "Unfinished resumable uploads",
                "responses": {"200": _json({"type": "array", "items": session}), **_ERRORS},
            },
            "post": {
                "summary": "Start a resumable upload (or find the same unfinished one again)",
                "requestBody": {"content": {"application/json": {"schema": _ref("UploadInput")}}},
                "responses": {
                    "200": _json(session, "The unfinished upload with this target and sha256"),
                    "201": _json(session, "Started"),
                    **_UPLOAD_ERRORS,
                    **_ERRORS,
                },
            },
        },
        "/api/v1/uploads/{upload_id}": {
            "parameters": [_param("upload_id", "Upload id")],
            "get": {
                "summary": "An upload's offset (also in the Upload-Offset header)",
                "responses": {"200": _json(session), **_MISSING, **_ERRORS},
            },
            "put": {
                "summary": "Send bytes: Content-Range: bytes START-END/SIZE (START = offset); "
                "bytes */SIZE with no body asks for the offset and finishes a complete upload",
                "requestBody": {"content": _BINARY},
                "responses": {
                    "200": _json(session, "Stored; more to come"),
                    "201": _json(session, "Complete: checked and catalogued"),
                    "400": _json(_ref("Error"), "The body broke off; Upload-Offset says where"),
                    **_UPLOAD_ERRORS,
                    **_MISSING,
                    **_ERRORS,
                },
            },
            "delete": {
                "summary": "Abandon an upload",
                "responses": {"204": {"description": "Discarded"}, **_MISSING, **_ERRORS},
            },
        },
        "/api/v1/nodes/{mac}/manifest": {
            "parameters": [_param("mac", "MAC")],
            "get": {
                "summary": "What the box must fetch (URLs, sizes, sha256) and its options",
                "responses": {
                    "200": _json(_ref("Manifest")),
                    **_MISSING,
                    "409": _json(_ref("Error"), "Its bundle names a file nobody uploaded"),
                    **_ERRORS,
                },
            },
        },
        "/media/images/{name}/{version}/{filename}": _download(
            "A release image",
            [_param("name", "Release"), _param("version", "Version"), _param("filename", "File")],
        ),
        "/media/bundles/{bundle}/{digest}/{filename}": _download(
            "A bundle file",
            [
                _param("bundle", "Bundle"),
                _param("digest", "First 16 hex digits of its sha256"),
                _param("filename", "File name"),
            ],
        ),
    }


_FILE = {
    "type": ["object", "null"],
    "properties": {
        "filename": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "format": {"enum": ["iso9660", "text", "raw", "qcow2"]},
        "url": _STR_OR_NULL,
    },
}
_FETCH = {
    "type": "object",
    "properties": {
        "purpose": {"enum": ["release", "copyiso", "copydef", "copyimg"]},
        "filename": {"type": "string"},
        "url": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
    },
}


def media_schemas() -> dict[str, Any]:
    return {
        "BundleInput": {
            "type": "object",
            "properties": {"iso": _STR_OR_NULL, "definition": _STR_OR_NULL, "image": _STR_OR_NULL},
        },
        "Bundle": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "iso": _STR_OR_NULL,
                "definition": _STR_OR_NULL,
                "image": _STR_OR_NULL,
                "options": {"type": "string"},
                "warnings": {"type": "array", "items": {"type": "string"}},
                "files": {
                    "type": "object",
                    "description": "Per named file: its upload, or null while none",
                    "additionalProperties": _FILE,
                },
            },
        },
        "Release": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "ref": {"type": "string"},
                "filename": {"type": "string"},
                "size": {"type": "integer"},
                "sha256": {"type": "string"},
                "url": _STR_OR_NULL,
            },
        },
        "UploadInput": {
            "type": "object",
            "required": ["target", "size"],
            "properties": {
                "target": {"enum": ["image", "bundle"]},
                "name": {"type": "string", "description": "image: release name"},
                "version": {"type": "string", "description": "image: release version"},
                "bundle": {"type": "string", "description": "bundle: its name"},
                "kind": {"enum": ["iso", "definition", "image"]},
                "filename": {"type": "string", "description": "bundle: the file's name"},
                "size": {"type": "integer"},
                "sha256": {"type": "string"},
            },
        },
        "Upload": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "url": {"type": "string"},
                "target": {"type": "object"},
                "size": {"type": "integer"},
                "sha256": _STR_OR_NULL,
                "offset": {"type": "integer"},
                "complete": {"type": "boolean"},
                "release": _ref("Release"),
                "bundle": _ref("Bundle"),
            },
        },
        "Manifest": {
            "type": "object",
            "properties": {
                "manifest_version": {"const": 1},
                "mac": {"type": "string"},
                "hostname": _STR_OR_NULL,
                "action": {"type": "string"},
                "cmdline": {"type": "string"},
                "options": {"type": "object"},
                "release": {"type": ["object", "null"]},
                "bundle": {"type": ["object", "null"]},
                "fetch": {"type": "array", "items": _FETCH},
            },
        },
    }
