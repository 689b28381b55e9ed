"""The media part of the OpenAPI document: images, bundles, uploads, the node
manifest and the open ``/media`` downloads (merged by ``openapi.py``)."""

from __future__ import annotations

from typing import Any

from provisioner.web.openapi_parts import (
    BAD,
    CONFLICT,
    ERRORS,
    MISSING,
    STR_OR_NULL,
    crud,
    json,
    list_of,
    no_content,
    path_param,
    query_param,
    ref,
)

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_UPLOAD_ERRORS = {
    **BAD,
    **CONFLICT,
    "411": json(ref("Error"), "No Content-Length and not chunked"),
    "413": json(ref("Error"), "Larger than upload_max_bytes or the declared size"),
    "507": json(ref("Error"), "Not enough free disk in the data directory"),
}


_SHA256 = query_param("sha256", "The file's SHA-256 (hex); refused, nothing stored, if it differs")


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
                "422": json(
                    ref("Error"), "A Range position longer than 19 digits (`field`: Range)"
                ),
            },
        },
    }


def media_paths() -> dict[str, Any]:
    session = ref("Upload")
    return {
        "/api/v1/images": {
            **list_of("release images", "Release"),
            "post": {
                "summary": "Upload a squashfs release image in one request (not resumable)",
                "parameters": [
                    query_param("name", "Release name", True),
                    query_param("version", "Release version", True),
                    _SHA256,
                ],
                "requestBody": {"required": True, "content": _BINARY},
                "responses": {"201": json(ref("Release"), "Stored"), **_UPLOAD_ERRORS, **ERRORS},
            },
        },
        "/api/v1/images/{ref}": {
            "parameters": [path_param("ref", "NAME:VERSION")],
            "get": {
                "summary": "One release image",
                "responses": {"200": json(ref("Release")), **BAD, **MISSING, **ERRORS},
            },
            "delete": no_content(
                "Delete a release no node or profile uses, and its file",
                "Deleted",
                BAD,
                MISSING,
                CONFLICT,
            ),
        },
        "/api/v1/bundles": list_of("bundles", "Bundle"),
        "/api/v1/bundles/{name}": crud("bundle", "name", "Bundle name", "Bundle", "BundleInput"),
        "/api/v1/bundles/{name}/files/{kind}": {
            "parameters": [
                path_param("name", "Bundle name (created when new)"),
                path_param("kind", "iso, definition or image"),
            ],
            "put": {
                "summary": "Upload one file of a bundle in one request (not resumable)",
                "parameters": [
                    query_param("filename", "File name; default: the bundle's name for this kind"),
                    _SHA256,
                    query_param("raw", _RAW),
                ],
                "requestBody": {"required": True, "content": _BINARY},
                "responses": {
                    "201": json(ref("BundleUpload"), "Stored; replaced: the file it replaced"),
                    **_UPLOAD_ERRORS,
                    **ERRORS,
                },
            },
            "delete": {
                "summary": "Delete an uploaded file and clear the bundle's name for it",
                "responses": {"200": json(ref("Bundle")), **MISSING, **CONFLICT, **ERRORS},
            },
        },
        "/api/v1/uploads": {
            "get": {
                "summary": "Unfinished resumable uploads",
                "responses": {"200": json({"type": "array", "items": session}), **ERRORS},
            },
            "post": {
                "summary": "Start a resumable upload (or find the same unfinished one again)",
                "requestBody": {"content": {"application/json": {"schema": ref("UploadInput")}}},
                "responses": {
                    "200": json(session, "The unfinished upload with this target and sha256"),
                    "201": json(session, "Started"),
                    **_UPLOAD_ERRORS,
                    **ERRORS,
                },
            },
        },
        "/api/v1/uploads/{upload_id}": {
            "parameters": [path_param("upload_id", "Upload id")],
            "get": {
                "summary": "An upload's offset (also in the Upload-Offset header)",
                "responses": {"200": json(session), **MISSING, **ERRORS},
            },
            "put": {
                "summary": "Send bytes: Content-Range: bytes START-END/SIZE (START = offset); "
                "bytes */SIZE with no body asks for the offset and finishes a complete upload",
                "requestBody": {"content": _BINARY},
                "responses": {
                    "200": json(session, "Stored; more to come"),
                    "201": json(session, "Complete: checked and catalogued"),
                    "400": json(ref("Error"), "The body broke off; Upload-Offset says where"),
                    **_UPLOAD_ERRORS,
                    **MISSING,
                    **ERRORS,
                },
            },
            "delete": no_content("Abandon an upload", "Discarded", MISSING),
        },
        "/api/v1/nodes/{mac}/manifest": {
            "parameters": [path_param("mac", "MAC")],
            "get": {
                "summary": "What the box must fetch (URLs, sizes, sha256) and its options",
                "responses": {
                    "200": json(ref("Manifest")),
                    **BAD,
                    **MISSING,
                    "409": json(ref("Error"), "Its bundle names a file nobody uploaded"),
                    **ERRORS,
                },
            },
        },
        "/media/images/{name}/{version}/{filename}": _download(
            "A release image",
            [
                path_param("name", "Release"),
                path_param("version", "Version"),
                path_param("filename", "File"),
            ],
        ),
        "/media/bundles/{bundle}/{digest}/{filename}": _download(
            "A bundle file",
            [
                path_param("bundle", "Bundle"),
                path_param("digest", "First 16 hex digits of its sha256"),
                path_param("filename", "File name"),
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
        "url": STR_OR_NULL,
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


_RAW = (
    "image only: the file is a raw disk image (no signature to recognise it by); "
    "without it an image must be qcow2 or ISO 9660"
)
_REPLACED = {
    "oneOf": [_FILE, {"type": "null"}],
    "description": "The different file of this kind the upload replaced (deleted), or null",
}


def media_schemas() -> dict[str, Any]:
    return {
        "BundleInput": {
            "type": "object",
            "properties": {"iso": STR_OR_NULL, "definition": STR_OR_NULL, "image": STR_OR_NULL},
        },
        "Bundle": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "iso": STR_OR_NULL,
                "definition": STR_OR_NULL,
                "image": STR_OR_NULL,
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
                "url": STR_OR_NULL,
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
                "raw": {"type": "boolean", "description": _RAW},
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
                "sha256": STR_OR_NULL,
                "offset": {"type": "integer"},
                "complete": {"type": "boolean"},
                "release": ref("Release"),
                "bundle": ref("Bundle"),
                "replaced": _REPLACED,
            },
        },
        "BundleUpload": {
            "allOf": [ref("Bundle")],
            "type": "object",
            "properties": {"replaced": _REPLACED},
        },
        "Manifest": {
            "type": "object",
            "properties": {
                "manifest_version": {"const": 1},
                "mac": {"type": "string"},
                "hostname": STR_OR_NULL,
                "action": {"type": "string"},
                "cmdline": {"type": "string"},
                "options": {"type": "object"},
                "release": {"type": ["object", "null"]},
                "bundle": {"type": ["object", "null"]},
                "fetch": {"type": "array", "items": _FETCH},
            },
        },
    }
