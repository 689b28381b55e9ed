"""Turning loosely typed input (JSON bodies, CLI flags, form fields) into domain
values, field by field; every error names its field.

Used by the API and the CLI alike, so both accept and refuse exactly the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial as bind
from typing import Any, TypeVar

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

#: A field's parser: (value, field name) -> the domain's value; errors name the field.
Parse = Callable[[Any, str], Any]
_Obj = TypeVar("_Obj", Node, Profile, Bundle)

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
        "running",
        "credential",
        "problems",
    }
)
PROFILE_READONLY = frozenset(
    {"name", "options_object", "warnings", "problems", "created_at", "updated_at"}
)
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


def _changes(
    data: Mapping[str, Any],
    parsers: Mapping[str, Parse],
    readonly: frozenset[str],
    current: Mapping[str, Any],
) -> dict[str, Any]:
    """The writable fields (those with a parser) that ``data`` gives, parsed, once
    no field is unknown and no read-only one changed."""
    _check_keys(data, frozenset(parsers), readonly, current)
    return {key: parse(data[key], key) for key, parse in parsers.items() if key in data}


def _base(current: _Obj | None, new: _Obj, partial: bool, *kept: str) -> _Obj:
    """What the fields apply to: the current object for a PATCH, else ``new``; with
    ``created_at`` and ``kept`` as they are (no client writes them)."""
    if current is None:
        return new
    base = current if partial else new
    return replace(base, **{k: getattr(current, k) for k in ("created_at", *kept)})


def _optional(check: Parse) -> Parse:
    """``check``, but None or "" clears the field."""

    def parse(value: Any, field: str) -> Any:
        return None if value is None or value == "" else check(value, field)

    return parse


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
    changes = _changes(data, _NODE_FIELDS, NODE_READONLY, echo)
    base = _base(current, Node(mac=mac), partial, "state")
    return replace(base, **changes, updated_at=utcnow())


def profile_from_fields(
    name: str, data: Mapping[str, Any], current: Profile | None, *, partial: bool
) -> Profile:
    changes = _named_changes(name, data, _PROFILE_FIELDS, PROFILE_READONLY)
    base = _base(current, Profile(name=name), partial)
    return replace(base, **changes, updated_at=utcnow())


def _named_changes(
    name: str, data: Mapping[str, Any], parsers: Mapping[str, Parse], readonly: frozenset[str]
) -> dict[str, Any]:
    """:func:`_changes` of a profile or bundle, objects keyed by a name."""
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    validate_name(name, "name")
    return _changes(data, parsers, readonly, {"name": name})


def _initrd(value: Any, field: str) -> tuple[str, ...]:
    """The API's comma form (None or "" clears) -> the domain's tuple."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    return split_initrd(value, field)


def _ipappend(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7:
        raise ValidationError(field, "must be an integer from 0 to 7 (IPAPPEND flags)")
    return value


def _description(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise ValidationError(field, "must be a string of at most 500 characters")
    if any(ord(c) < 0x20 for c in value):
        raise ValidationError(field, "must be one line without control characters")
    return value


def bundle_from_fields(
    name: str, data: Mapping[str, Any], current: Bundle | None, *, partial: bool
) -> Bundle:
    changes = _named_changes(name, data, _BUNDLE_FIELDS, BUNDLE_READONLY)
    base = _base(current, Bundle(name=name), partial, "files")  # uploads are not fields
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


#: The writable fields and their parsers, in the order they are checked.
_NODE_FIELDS: dict[str, Parse] = {
    "hostname": _optional(validate_hostname),
    "profile": _optional(validate_name),
    "options": Options.coerce,
    "release": _optional(_release),
    "bundle": _optional(validate_name),
    "action": bind(parse_enum, Action),
}
_PROFILE_FIELDS: dict[str, Parse] = {
    "kernel": validate_boot_path,
    "initrd": _initrd,
    "options": Options.coerce,
    "ipappend": _ipappend,
    "release": _optional(_release),
    "bundle": _optional(validate_name),
    "description": _description,
}
_BUNDLE_FIELDS: dict[str, Parse] = {
    kind: _optional(bind(_bundle_file, key)) for kind, key in BUNDLE_KINDS.items()
}
