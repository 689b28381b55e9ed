"""Plain domain values: nodes, profiles, releases, bundles, events, tokens.

Immutable dataclasses plus the validators for their identifiers (MAC addresses,
host names, profile names, release references). No I/O, no framework imports.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Any, TypeVar

from provisioner.bootparams import Options, check_word
from provisioner.errors import ConfigError, ValidationError

E = TypeVar("E", bound=StrEnum)

_MAC_HEX_RE = re.compile(r"[0-9a-f]{12}\Z")
_MAC_SEP_RE = re.compile(r"[:\-.\s]")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
_VERSION_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}\Z")
_PATH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]{0,254}\Z")
_URL_RE = re.compile(r"(https?|tftp)://[A-Za-z0-9_.:\[\]-]+(/[A-Za-z0-9_.+/%~-]*)?\Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_mac(value: object, field: str = "mac") -> str:
    """Return ``aa:bb:cc:dd:ee:ff`` for any common spelling.

    Accepts ``AA:BB:CC:DD:EE:FF``, ``aa-bb-cc-dd-ee-ff``, ``aabb.ccdd.eeff``,
    ``aabbccddeeff`` and pxelinux's ``01-aa-bb-cc-dd-ee-ff`` (ARP type 1 prefix).
    """
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    text = value.strip().lower()
    groups = [g for g in _MAC_SEP_RE.split(text) if g != ""]
    if len(groups) == 7 and groups[0] == "01" and all(len(g) == 2 for g in groups):
        groups = groups[1:]  # pxelinux: hardware type 01 (Ethernet) first
    if len(groups) == 6 and not all(len(g) == 2 for g in groups):
        raise ValidationError(field, f"{value!r} is not a MAC address")
    if len(groups) == 3 and not all(len(g) == 4 for g in groups):
        raise ValidationError(field, f"{value!r} is not a MAC address")
    hexdigits = "".join(groups)
    if len(groups) not in (1, 3, 6) or not _MAC_HEX_RE.match(hexdigits):
        raise ValidationError(field, f"{value!r} is not a MAC address")
    if int(hexdigits[:2], 16) & 1:
        raise ValidationError(field, f"{value!r} is a multicast address, not a NIC")
    if hexdigits == "000000000000":
        raise ValidationError(field, "00:00:00:00:00:00 is not a NIC")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def validate_hostname(value: object, field: str = "hostname") -> str:
    """RFC 1123 host name (one or more labels), returned in lower case."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a non-empty string")
    name = value.lower().rstrip(".")
    if len(name) > 253:
        raise ValidationError(field, "is longer than 253 characters")
    for label in name.split("."):
        if not _LABEL_RE.match(label):
            raise ValidationError(
                field, f"{value!r} is not a valid host name (letters, digits and '-' per label)"
            )
    return name


def validate_name(value: object, field: str) -> str:
    """Profile, bundle and release names: 1-64 of ``A-Za-z0-9_.-``."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValidationError(
            field, f"{value!r} is not a valid name (1-64 letters, digits, '_', '.', '-')"
        )
    return value


def validate_version(value: object, field: str = "version") -> str:
    if not isinstance(value, str) or not _VERSION_RE.match(value):
        raise ValidationError(field, f"{value!r} is not a valid version")
    return value


def parse_release_ref(value: object, field: str = "release") -> tuple[str, str]:
    """``"NAME:VERSION"`` -> ``(name, version)``."""
    if not isinstance(value, str) or value.count(":") != 1:
        raise ValidationError(field, f"{value!r} must be written NAME:VERSION")
    name, version = value.split(":")
    return validate_name(name, field), validate_version(version, field)


def validate_boot_path(value: object, field: str) -> str:
    """A kernel/initrd reference: a relative path under the boot root, or a URL."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a non-empty string")
    check_word(value, field)
    if "://" in value:
        if not _URL_RE.match(value):
            raise ValidationError(field, f"{value!r} is not an http(s)/tftp URL we can render")
        return value
    if not _PATH_RE.match(value) or any(p in {"", ".", ".."} for p in value.split("/")):
        raise ValidationError(field, f"{value!r} is not a plain relative path")
    return value


#: the largest integer SQLite and PostgreSQL's BIGINT store (and any file size or offset)
INT64_MAX = 2**63 - 1


def parse_count(field: str, raw: str, low: int = 0, high: int = INT64_MAX) -> int:
    """A whole number a client sent (query value, header field): ASCII digits only
    (``int()`` also takes Arabic-Indic digits, superscripts and ``_``), at most as
    many as ``high`` has, and from ``low`` to ``high``; else a ValidationError
    naming ``field``."""
    if not (0 < len(raw) <= len(str(high)) and raw.isascii() and raw.isdigit()):
        raise ValidationError(
            field, f"{raw[:40]!r} is not a whole number of at most {len(str(high))} digits"
        )
    value = int(raw)
    if not low <= value <= high:
        raise ValidationError(field, f"must be from {low} to {high}")
    return value


def parse_host_port(value: str, name: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:port``; an empty host is 0.0.0.0); ConfigError names ``name``."""
    host, sep, port = value.rpartition(":")
    try:
        port_number = parse_count(name, port, 0, 65535)
    except ValidationError:
        raise ConfigError(name, f"{value!r} is not HOST:PORT") from None
    if not sep:
        raise ConfigError(name, f"{value!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(name, f"{host!r} is not an IP address") from None
    return host, port_number


def hash_secret(secret: str) -> str:
    """How a secret is kept: API tokens, a node's report credential (sha256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Action(StrEnum):
    """What a node's next PXE boot does."""

    INSTALL = "install"
    LOCAL = "local"
    ROLLBACK = "rollback"
    RESCUE = "rescue"
    WIPE = "wipe"


class State(StrEnum):
    NEW = "new"
    INSTALLING = "installing"
    INSTALLED = "installed"
    RUNNING = "running"  # the installed system reported from its disk (provisioner.firstboot)
    FAILED = "failed"
    #: shown, never stored: installed, but no report from the installed system in time
    UNCONFIRMED = "unconfirmed"


class Role(StrEnum):
    """Who may do what. Tokens (the API) are admin or viewer; console users also
    operator: viewer reads, operator also installs, rolls back and reboots, admin
    also edits profiles, releases, bundles, tokens and users."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may (admin > operator > viewer)."""
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
#: the roles an API token may have (the API knows reads and admin writes only)
TOKEN_ROLES = (Role.ADMIN, Role.VIEWER)


def parse_enum(enum: type[E], value: object, field: str) -> E:
    try:
        return enum(value if isinstance(value, str) else repr(value))
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ValidationError(field, f"{value!r} is not one of: {allowed}") from None


@dataclass(frozen=True, slots=True)
class Profile:
    """Named defaults a node inherits (one label of a syslinux.cfg)."""

    name: str
    kernel: str = "vmlinuz"
    #: initrd files, in order (the comma form only at the edges: DB, API, CLI, syslinux)
    initrd: tuple[str, ...] = ()
    options: Options = field(default_factory=Options)
    ipappend: int = 2
    release: str | None = None
    bundle: str | None = None
    description: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def same_content(self, other: Profile) -> bool:
        """Equal in everything but the timestamps."""
        return replace(self, created_at=other.created_at, updated_at=other.updated_at) == other


@dataclass(frozen=True, slots=True)
class Node:
    """One box, keyed by its normalised MAC."""

    mac: str
    hostname: str | None = None
    profile: str | None = None
    options: Options = field(default_factory=Options)
    release: str | None = None
    bundle: str | None = None
    action: Action = Action.INSTALL
    state: State = State.NEW
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    # -- what the installer reported (read-only for users) --------------------------
    slot_a: str | None = None  # release ref in system slot A
    slot_b: str | None = None
    active_slot: str | None = None  # "A" or "B"
    installed_at: datetime | None = None
    install_seconds: float | None = None
    phases: dict[str, float] = field(default_factory=dict)  # boot phase -> seconds
    # -- the install window: a per-node secret that only this boot may use ---------
    build_token: str | None = None
    window_opened: datetime | None = None
    window_expires: datetime | None = None
    # -- the installed system (provisioner.firstboot) ----------------------------
    credential_hash: str | None = None  # sha256 of the secret the install put on the disk
    running: dict[str, str] = field(default_factory=dict)  # its last report (release, slot, ...)

    def window_open(self, now: datetime) -> bool:
        return bool(self.build_token and self.window_expires and now < self.window_expires)

    def shown_state(self, now: datetime, confirm_seconds: float) -> State:
        """``unconfirmed`` for a node installed more than ``confirm_seconds`` ago
        whose installed system never reported (0: never); else the stored state."""
        if (
            self.state is State.INSTALLED
            and confirm_seconds > 0
            and self.installed_at is not None
            and (now - self.installed_at).total_seconds() > confirm_seconds
        ):
            return State.UNCONFIRMED
        return self.state


#: Actions whose boot runs the installer agent (and so need an install window).
AGENT_ACTIONS = frozenset({Action.INSTALL, Action.WIPE, Action.ROLLBACK, Action.RESCUE})


@dataclass(frozen=True, slots=True)
class Release:
    """A versioned squashfs master image."""

    name: str
    version: str
    filename: str
    size: int
    sha256: str
    created_at: datetime = field(default_factory=utcnow)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


#: bundle field -> the dot-option that copies the file at install time
BUNDLE_KINDS = {"iso": "copyiso", "definition": "copydef", "image": "copyimg"}


@dataclass(frozen=True, slots=True)
class BundleFile:
    """The uploaded content behind one of a bundle's file names (media issue)."""

    kind: str  #: iso, definition or image (a key of BUNDLE_KINDS)
    filename: str
    size: int
    sha256: str
    format: str  #: iso9660, text, raw or qcow2
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A VM instance bundled at install time: ``copyiso``/``copydef``/``copyimg``."""

    name: str
    iso: str | None = None
    definition: str | None = None
    image: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    #: uploaded files, at most one per kind; each file's name is the bundle's name for its kind
    files: tuple[BundleFile, ...] = ()

    def file(self, kind: str) -> BundleFile | None:
        return next((f for f in self.files if f.kind == kind), None)

    def options(self) -> Options:
        words = [
            f"{key}.{value}"
            for key, value in (
                ("copyiso", self.iso),
                ("copydef", self.definition),
                ("copyimg", self.image),
            )
            if value
        ]
        return Options.parse(" ".join(words), "bundle")


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    message: str
    mac: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    time: datetime = field(default_factory=utcnow)
    #: who made the change: a console user's name (None: the system, a box, the CLI)
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """An API token; only the SHA-256 of the secret is ever stored."""

    id: int | None
    name: str
    role: Role
    secret_hash: str
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class User:
    """A web console account; only a KDF hash of the password is stored
    (:mod:`provisioner.passwords`: ``scrypt$N$r$p$salt$hash``)."""

    name: str
    role: Role
    password_hash: str
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A console login: only the SHA-256 of the session id is stored, so a copy
    of the database logs nobody in. Deleting the row ends the session."""

    id_hash: str
    user: str
    address: str
    created_at: datetime = field(default_factory=utcnow)
    seen_at: datetime = field(default_factory=utcnow)


_USER_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\Z")


def validate_username(value: object, field: str = "name") -> str:
    """A console user name: 1-32 of ``a-z0-9_.-``, not starting with a digit, '.' or '-'."""
    if not isinstance(value, str) or not _USER_RE.match(value):
        raise ValidationError(
            field, f"{value!r} is not a valid user name (1-32 of a-z, 0-9, '_', '.', '-')"
        )
    return value


@dataclass(frozen=True, slots=True)
class Lease:
    """An address our full-mode DHCP server handed to a MAC (the store keeps them)."""

    ip: IPv4Address
    mac: str
    #: seconds since the epoch
    expires: float
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class SeenClient:
    """One client a foreign DHCP server answered (:class:`DhcpServerSeen`)."""

    mac: str
    #: OFFER, ACK or NAK; REQUEST: the client's request chose this server
    message: str
    #: the address offered or acknowledged (``yiaddr``; a REQUEST's option 50), or None
    address: str | None
    #: the client asked as a network-boot client (or the reply offered it a boot file)
    pxe: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DhcpServerSeen:
    """Another DHCP server heard on the segment (observe mode, and proxy/full
    mode's watch for a second PXE server): one per server id, bounded."""

    #: option 54, else the address its replies came from
    server_id: str
    #: the source address of its last reply
    source: str
    first_seen: datetime
    last_seen: datetime
    #: replies heard (OFFER, ACK, NAK)
    replies: int
    #: the options of its last OFFER/ACK, code -> value in hex
    options: dict[str, str]
    #: ``file`` and ``siaddr`` of its last OFFER/ACK ("" when none)
    boot_file: str
    next_server: str
    #: it answered a network-boot client (with or without boot information)
    answers_pxe: bool
    #: it offered boot information (a boot file, option 60 PXEClient or option 43)
    offers_boot: bool
    #: the clients it answered, newest first, at most a few
    clients: tuple[SeenClient, ...] = ()
