"""Turning loosely typed input (JSON bodies, CLI flags, form fields) into domain
values, field by field; every error names its field.

Used by the API and the CLI alike, so both accept and refuse exactly the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from provisioner.bootnames import split_initrd
from provisioner.bootparams import FILE_KEYS, Options, parse_word
from provisioner.domain import (
    BUNDLE_KINDS,
    Action,
    Bundle,
    Node,
    Profile,
    State,
    normalize_mac,
    parse_enum,
    parse_release_ref,
    utcnow,
    validate_boot_path,
    validate_hostname,
    validate_name,
)
from provisioner.errors import Conflict, ValidationError

NODE_WRITABLE = frozenset({"hostname", "profile", "options", "release", "bundle", "action"})
NODE_READONLY = frozenset(
    {
        "mac",
        "state",
        "options_object",
        "cmdline",
        "warnings",
        "created_at",
        "updated_at",
        "boot_error",
        "slot_a",
        "slot_b",
        "active_slot",
        "installed_at",
        "install_seconds",
        "phases",
        "install_window_expires",
        "problems",
    }
)
PROFILE_WRITABLE = frozenset(
    {"kernel", "initrd", "options", "ipappend", "release", "bundle", "description"}
)
PROFILE_READONLY = frozenset(
    {"name", "options_object", "warnings", "problems", "created_at", "updated_at"}
)
BUNDLE_WRITABLE = frozenset({"iso", "definition", "image"})
BUNDLE_READONLY = frozenset({"name", "options", "warnings", "created_at", "files"})


def _check_keys(
    data: Mapping[str, Any],
    writable: frozenset[str],
    readonly: frozenset[str],
    current: Mapping[str, Any],
) -> None:
    for key, value in data.items():
        if key in writable:
            continue
        if key not in readonly:
            raise ValidationError(key, "unknown field")
        # read-only fields may be echoed back unchanged (GET, edit, PUT)
        if key in current and value != current[key]:
            raise ValidationError(key, "is read-only")


def _optional(value: Any, field: str, check: Any) -> Any:
    if value is None or value == "":
        return None
    return check(value, field)


def _release(value: Any, field: str) -> str:
    name, version = parse_release_ref(value, field)
    return f"{name}:{version}"


def node_from_fields(
    mac: str, data: Mapping[str, Any], current: Node | None, *, partial: bool
) -> Node:
    """PUT (``partial=False``: absent fields reset) or PATCH (absent fields kept)."""
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    echo: dict[str, Any] = {"state": current.state.value if current else State.NEW.value}
    if "mac" in data and normalize_mac(data["mac"], "mac") != mac:
        raise ValidationError("mac", "does not match the MAC in the URL")
    _check_keys(data, NODE_WRITABLE, NODE_READONLY, echo)
    base = current if current is not None and partial else Node(mac=mac)
    if current is not None:
        base = replace(base, state=current.state, created_at=current.created_at)
    changes: dict[str, Any] = {}
    if "hostname" in data:
        changes["hostname"] = _optional(data["hostname"], "hostname", validate_hostname)
    if "profile" in data:
        changes["profile"] = _optional(data["profile"], "profile", validate_name)
    if "options" in data:
        changes["options"] = Options.coerce(data["options"], "options")
    if "release" in data:
        changes["release"] = _optional(data["release"], "release", _release)
    if "bundle" in data:
        changes["bundle"] = _optional(data["bundle"], "bundle", validate_name)
    if "action" in data:
        changes["action"] = parse_enum(Action, data["action"], "action")
    return replace(base, **changes, updated_at=utcnow())


def profile_from_fields(
    name: str, data: Mapping[str, Any], current: Profile | None, *, partial: bool
) -> Profile:
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    validate_name(name, "name")
    _check_keys(data, PROFILE_WRITABLE, PROFILE_READONLY, {"name": name})
    base = current if current is not None and partial else Profile(name=name)
    if current is not None:
        base = replace(base, created_at=current.created_at)
    changes: dict[str, Any] = {}
    if "kernel" in data:
        changes["kernel"] = validate_boot_path(data["kernel"], "kernel")
    if "initrd" in data:
        changes["initrd"] = _initrd(data["initrd"], "initrd")
    if "options" in data:
        changes["options"] = Options.coerce(data["options"], "options")
    if "ipappend" in data:
        value = data["ipappend"]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7:
            raise ValidationError("ipappend", "must be an integer from 0 to 7 (IPAPPEND flags)")
        changes["ipappend"] = value
    if "release" in data:
        changes["release"] = _optional(data["release"], "release", _release)
    if "bundle" in data:
        changes["bundle"] = _optional(data["bundle"], "bundle", validate_name)
    if "description" in data:
        changes["description"] = _description(data["description"])
    return replace(base, **changes, updated_at=utcnow())


def _initrd(value: Any, field: str) -> tuple[str, ...]:
    """The API's comma form (None or "" clears) -> the domain's tuple."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    return split_initrd(value, field)


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise ValidationError("description", "must be a string of at most 500 characters")
    if any(ord(c) < 0x20 for c in value):
        raise ValidationError("description", "must be one line without control characters")
    return value


def bundle_from_fields(
    name: str, data: Mapping[str, Any], current: Bundle | None, *, partial: bool
) -> Bundle:
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    validate_name(name, "name")
    _check_keys(data, BUNDLE_WRITABLE, BUNDLE_READONLY, {"name": name})
    base = current if current is not None and partial else Bundle(name=name)
    if current is not None:  # uploaded files are not fields: they stay
        base = replace(base, created_at=current.created_at, files=current.files)
    changes: dict[str, Any] = {}
    for fld, key in BUNDLE_KINDS.items():
        if fld in data:
            changes[fld] = _optional(data[fld], fld, lambda v, f, k=key: _bundle_file(k, v, f))
    bundle = replace(base, **changes)
    check_bundle(bundle)
    return bundle


def check_bundle(bundle: Bundle) -> None:
    """At least one file name, no name twice, and every uploaded file still
    under the name its kind has (rename or clear one by deleting the file)."""
    names = [n for n in (bundle.iso, bundle.definition, bundle.image) if n]
    if not names:
        raise ValidationError("iso", "a bundle needs at least one of iso, definition, image")
    for kind in BUNDLE_KINDS:
        name = getattr(bundle, kind)
        if name and names.count(name) > 1:
            raise ValidationError(kind, f"{name!r} is also another file of the bundle")
    for f in bundle.files:
        if getattr(bundle, f.kind) != f.filename:
            raise Conflict(
                f"bundle {bundle.name!r}: {f.kind} {f.filename!r} has an uploaded file; "
                f"delete that file first (DELETE /api/v1/bundles/{bundle.name}/files/{f.kind}) "
                "to rename or clear it"
            )


def _bundle_file(key: str, value: Any, field: str) -> str:
    assert key in FILE_KEYS
    if not isinstance(value, str):
        raise ValidationError(field, "must be a file name")
    word = parse_word(f"{key}.{value}", field)
    return word.value or ""
