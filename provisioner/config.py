"""Settings: defaults -> optional TOML file -> ``PROVISIONER_*`` env -> flags.

Read once, at an entry point (``provisioner`` CLI, ``app.py``), into one frozen
:class:`Settings` that is passed down. No other module reads the environment.

Every field has an environment variable: ``PROVISIONER_`` + its name in upper
case (``data_dir`` -> ``PROVISIONER_DATA_DIR``). ``PROVISIONER_CONFIG`` names the
TOML file (or ``--config``); its keys are the field names.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.domain import parse_host_port
from provisioner.errors import ConfigError

ENV_PREFIX = "PROVISIONER_"
CONFIG_ENV = "PROVISIONER_CONFIG"
#: Environment variables with our prefix that are not settings.
_NOT_SETTINGS = (CONFIG_ENV, "PROVISIONER_TEST_")


def _default_data_dir() -> Path:
    return Path("/var/lib/provisioner") if os.geteuid() == 0 else Path.home() / ".provisioner"


def _setting(default: object, text: str, choices: tuple[str, ...] = ()) -> Any:
    """A setting's field: its default, its help (``--help``, docs/configuration.md)
    and, where only some values make sense, those values."""
    return field(default=default, metadata={"help": text, "choices": choices})


@dataclass(frozen=True)
class Settings:
    """Everything configurable. See docs/configuration.md for the full table."""

    data_dir: Path = field(
        default_factory=_default_data_dir,
        metadata={
            "help": "Directory holding everything the server keeps (database, media, boot files)."
        },
    )
    database_url: str = _setting(
        "",
        "SQLAlchemy URL; empty means SQLite at DATA_DIR/provisioner.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    db_busy_timeout: float = _setting(15.0, "Seconds SQLite waits for a lock before giving up.")
    auto_migrate: bool = _setting(
        True, "Bring the database schema up to date when a command opens it."
    )
    http: str = _setting("0.0.0.0:8080", "HTTP listen address HOST:PORT.")
    http_workers: int = _setting(2, "gunicorn worker processes.")
    http_threads: int = _setting(16, "Threads per gunicorn worker.")
    http_header_timeout: float = _setting(
        10.0,
        "Seconds a client has to send a whole request head (from its connection, or the "
        "start of its next keep-alive request); then it gets a 408 and is closed.",
    )
    http_body_timeout: float = _setting(
        60.0,
        "Seconds a request body read (an upload too: the part received is kept) or a "
        "response write may stall before the request ends.",
    )
    http_max_per_client: int = _setting(
        64,
        "Open HTTP connections one client address may hold, per worker process; "
        "more are refused (429).",
    )
    http_max_connections: int = _setting(
        10000,
        "Open HTTP connections per worker process (slow ones included); past it the worker "
        "stops accepting until some close. Needs as many file descriptors (serve raises "
        "its soft limit to the hard one).",
    )
    http_small_body: int = _setting(
        65536,
        "Request bodies up to this many bytes are read whole before a thread sees the "
        "request; larger ones stream to the application.",
    )
    server_ip: str = _setting(
        "",
        "Address written into boot files and DHCP replies; "
        "empty: taken from the HTTP request or the interface.",
    )
    tftp: str = _setting("", "TFTP listen address HOST:PORT; empty: off.")
    dns: str = _setting("", "DNS listen address HOST:PORT; empty: off.")
    dhcp: str = _setting(
        "off",
        "DHCP mode: off, proxy (PXE only, beside the site's server), full, or observe "
        "(answer nothing; record the other DHCP servers heard).",
        choices=("off", "proxy", "full", "observe"),
    )
    interface: str = _setting("", "Network interface DHCP answers on.")
    domain: str = _setting("lan", "DNS domain of the node host names.")
    unknown_macs: str = _setting(
        "ignore",
        "What an unknown MAC gets: ignore (no answer) or menu (the default menu).",
        choices=("ignore", "menu"),
    )
    menu_default: str = _setting("local", "Label the default menu boots when nobody picks one.")
    menu_timeout: int = _setting(100, "Default menu timeout in tenths of a second (pxelinux).")
    # -- network boot (DHCP, TFTP, DNS) -----------------------------------------
    dhcp_pool: str = _setting("", "full DHCP: address pool START-END; empty: reservations only.")
    dhcp_lease_time: int = _setting(3600, "full DHCP: lease time, seconds.")
    dhcp_router: str = _setting("", "full DHCP: default gateway offered; empty: none.")
    dhcp_dns_servers: str = _setting(
        "",
        "full DHCP: DNS servers offered (comma-separated); empty: the server "
        "itself when DNS is on.",
    )
    dhcp_netmask: str = _setting("", "full DHCP: subnet mask; empty: the interface's.")
    dhcp_subnets: tuple[dict[str, Any], ...] = _setting(
        (),
        "Subnets served, each a TOML table ``[[dhcp_subnets]]`` (JSON list in the "
        "environment) with ``subnet`` and optionally ``pools``, ``router``, "
        "``dns_servers``, ``domain``, ``lease_time``, ``next_server``, ``bios_loader``, "
        "``uefi_loader``, ``reservations`` (MAC = address). A request is served from the "
        "subnet holding its relay's link selection (option 82.5), ``giaddr``, ``ciaddr`` "
        "or the interface's address; relays from other subnets get nothing. Empty: one "
        "implicit subnet from the ``dhcp_*`` settings above, relays from anywhere. See "
        "docs/dhcp.md.",
    )
    dns_upstream: str = _setting(
        "", "DNS forwarder IP:PORT for names outside the domain; empty: REFUSED."
    )
    dns_ttl: int = _setting(60, "TTL of the DNS answers, seconds.")
    loaders_dir: str = _setting(
        "",
        "Directory with boot loaders to serve instead of the Debian packages' "
        "files (pxelinux.0, efi64/syslinux.efi, undionly.kpxe, ...).",
    )
    bios_loader: str = _setting(
        "pxelinux",
        "What BIOS PXE clients boot first.",
        choices=("pxelinux", "ipxe"),
    )
    uefi_loader: str = _setting(
        "syslinux",
        "What UEFI PXE clients boot first.",
        choices=("syslinux", "ipxe"),
    )
    ipxe_script: bool = _setting(
        True,
        "Hand iPXE clients (user class iPXE) their per-MAC iPXE script over HTTP; off: "
        "they get the bios/uefi loader like other PXE clients (unless it is iPXE).",
    )
    tftp_max_sessions: int = _setting(1024, "Concurrent TFTP transfers; more are refused.")
    tftp_max_blksize: int = _setting(
        1468,
        "Largest TFTP block size granted (RFC 2348); 1468 fills an Ethernet frame "
        "of MTU 1500 without IP fragmentation.",
    )
    # -- media ---------------------------------------------------------------------
    upload_max_bytes: int = _setting(
        0, "Largest accepted upload in bytes; 0: no limit but free disk."
    )
    media_gc_grace_hours: float = _setting(
        24.0,
        "The media GC (at serve start, and 'provisioner media gc') removes files under "
        "media/images and media/bundles that no release or bundle names once nobody "
        "touched them for this long.",
    )
    accel_redirect: str = _setting(
        "",
        "nginx internal location for X-Accel-Redirect (e.g. /_media/); "
        "empty: the server streams media itself.",
    )
    # -- installer -------------------------------------------------------------------
    install_window_hours: float = _setting(
        24.0,
        "How long a node's build token stays valid after its install was "
        "requested (the agent's final report ends it sooner).",
    )
    slot_size_mib: int = _setting(
        8192,
        "Size of each system slot (A and B) on a blank disk, MiB; a node's "
        "slotsize.<MiB> dot-option overrides it.",
    )
    boot_tries: int = _setting(
        3,
        "How many times the disk's boot loader tries a newly activated system slot "
        "before it falls back to the other one (1-9).",
    )
    report_interval: int = _setting(
        60,
        "Seconds between the reports of an installed system (its first report comes "
        "as soon as it is up).",
    )
    confirm_minutes: float = _setting(
        15.0,
        "A node installed this long ago whose installed system never reported is "
        "shown as unconfirmed; 0: never.",
    )
    media_url: str = _setting(
        "",
        "Base URL of the /media/ downloads in manifests and listings, e.g. "
        "http://192.0.2.1/media/ when nginx serves port 80; empty: "
        "http://SERVER_IP:PORT/media/, else the host the request came to.",
    )
    # -- web console ------------------------------------------------------------------
    console_idle_minutes: float = _setting(
        30.0, "A console session ends after this many minutes without a request."
    )
    console_https: bool = _setting(
        False,
        "The console is reached over HTTPS (a TLS proxy in front): its cookies are "
        "marked Secure even when the proxy talks plain HTTP to us.",
    )
    log_level: str = _setting(
        "INFO",
        "Log level.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )

    # -- derived values ------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'provisioner.db'}"

    @property
    def http_host_port(self) -> tuple[str, int]:
        return parse_host_port(self.http, "http")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{raw!r} is not a boolean")


def _tables(raw: object) -> tuple[dict[str, Any], ...]:
    """TOML's array of tables, or the same as a JSON string (environment, CLI)."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    if not isinstance(raw, list | tuple) or not all(isinstance(t, dict) for t in raw):
        raise ValueError("expected a list of tables ([[name]] in TOML)")
    return tuple(dict(t) for t in raw)


def _converter(f: dataclasses.Field[Any]) -> Callable[[object], Any]:
    if str(f.type).startswith("tuple[dict"):
        return _tables
    kind = {"Path": Path, "int": int, "float": float, "bool": _to_bool}.get(str(f.type), str)

    def convert(raw: object) -> Any:
        if kind is int and isinstance(raw, bool):
            raise ValueError("expected a number")
        value = kind(raw)  # type: ignore[operator]
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return convert


def fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Settings)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def load_settings(
    env: Mapping[str, str],
    config_file: Path | str | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Merge the four layers into one :class:`Settings`; errors name the source."""
    by_name = {f.name: f for f in fields()}
    values: dict[str, Any] = {}

    def put(name: str, raw: object, source: str) -> None:
        try:
            values[name] = _converter(by_name[name])(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(source, str(exc)) from None

    path = config_file or env.get(CONFIG_ENV) or None
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in by_name:
                raise ConfigError(f"{path}: {key}", "unknown setting")
            put(name, raw, f"{path}: {key}")

    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(_NOT_SETTINGS):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in by_name:
            raise ConfigError(key, "unknown setting (see docs/configuration.md)")
        put(name, raw, key)

    for name, raw in (overrides or {}).items():
        if raw is not None:
            put(name, raw, "--" + name.replace("_", "-"))

    if "data_dir" in values:  # relative to where we were started, whatever chdir()s later
        values["data_dir"] = values["data_dir"].absolute()
    settings = Settings(**values)
    for name in ("http", "tftp", "dns"):
        if getattr(settings, name):
            parse_host_port(getattr(settings, name), name)
    if settings.accel_redirect and not settings.accel_redirect.startswith("/"):
        raise ConfigError("accel_redirect", f"{settings.accel_redirect!r} must start with '/'")
    if settings.media_url and not settings.media_url.startswith(("http://", "https://")):
        raise ConfigError("media_url", f"{settings.media_url!r} is not an http(s) URL")
    if settings.media_gc_grace_hours < 0:
        raise ConfigError("media_gc_grace_hours", "must be 0 or more")
    for name in ("http_header_timeout", "http_body_timeout"):
        if not 0 < getattr(settings, name) <= 3600:
            raise ConfigError(name, f"{getattr(settings, name)} is not 0..3600 s")
    for name in ("http_max_per_client", "http_max_connections", "http_small_body"):
        if getattr(settings, name) < 1:
            raise ConfigError(name, f"{getattr(settings, name)} must be at least 1")
    if not 1 <= settings.boot_tries <= 9:
        raise ConfigError("boot_tries", f"{settings.boot_tries} is not between 1 and 9")
    if not 5 <= settings.report_interval <= 86400:
        raise ConfigError("report_interval", f"{settings.report_interval} is not 5..86400 s")
    if settings.server_ip:
        try:
            ipaddress.IPv4Address(settings.server_ip)
        except ValueError:
            raise ConfigError(
                "server_ip", f"{settings.server_ip!r} is not an IPv4 address"
            ) from None
    return settings
