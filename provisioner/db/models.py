"""SQLAlchemy 2 typed models. Only :mod:`provisioner.db` and ``migrations/``
import this; everything else talks to :class:`provisioner.store.Store`.

The schema changes only through Alembic migrations; ``tests`` run
``alembic check`` so these models and ``migrations/versions`` never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from provisioner.bootparams import Options

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite
    stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class OptionsText(TypeDecorator[Options]):
    """A dot-options command line, stored as its canonical text form."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Options | None, dialect: Dialect) -> str:
        return "" if value is None else value.render()

    def process_result_value(self, value: str | None, dialect: Dialect) -> Options:
        return Options.parse(value or "", "stored options")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_releases_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    #: one release per content (media issue: duplicates are refused by content)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class BundleRow(Base):
    __tablename__ = "bundles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    iso: Mapped[str | None] = mapped_column(String(255))
    definition: Mapped[str | None] = mapped_column(String(255))
    image: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class ProfileRow(Base):
    __tablename__ = "profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kernel: Mapped[str] = mapped_column(String(255))
    initrd: Mapped[str | None] = mapped_column(String(255))
    options: Mapped[Options] = mapped_column(OptionsText())
    ipappend: Mapped[int] = mapped_column(Integer)
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="RESTRICT"), index=True
    )
    bundle_name: Mapped[str | None] = mapped_column(
        ForeignKey("bundles.name", ondelete="RESTRICT"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NodeRow(Base):
    __tablename__ = "nodes"

    mac: Mapped[str] = mapped_column(String(17), primary_key=True)
    hostname: Mapped[str | None] = mapped_column(String(253), unique=True)
    profile_name: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.name", ondelete="RESTRICT"), index=True
    )
    options: Mapped[Options] = mapped_column(OptionsText())
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="RESTRICT"), index=True
    )
    bundle_name: Mapped[str | None] = mapped_column(
        ForeignKey("bundles.name", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # installer reports and the install window (migration 0004)
    slot_a: Mapped[str | None] = mapped_column(String(200))
    slot_b: Mapped[str | None] = mapped_column(String(200))
    active_slot: Mapped[str | None] = mapped_column(String(1))
    installed_at: Mapped[datetime | None]
    install_seconds: Mapped[float | None]
    phases: Mapped[dict[str, Any] | None]
    build_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    window_opened: Mapped[datetime | None]
    window_expires: Mapped[datetime | None]
    # the installed system: its credential and last report (migration 0006)
    credential_hash: Mapped[str | None] = mapped_column(String(64))
    running: Mapped[dict[str, Any] | None]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_mac_id", "mac", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime]
    mac: Mapped[str | None] = mapped_column(String(17))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    #: the console user who made the change (migration 0007)
    actor: Mapped[str | None] = mapped_column(String(32))


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


# -- media: the uploaded files of instance bundles (migration 0003) --------------------
class BundleFileRow(Base):
    """One uploaded file of a bundle; at most one per kind (iso, definition, image)."""

    __tablename__ = "bundle_files"

    bundle_name: Mapped[str] = mapped_column(
        ForeignKey("bundles.name", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


# -- DHCP leases (network boot, migration 0002) ------------------------------------------------
# Kept apart from the models above so that parallel work merges without conflicts.


class LeaseRow(Base):
    """One address leased by the full-mode DHCP server (provisioner.dhcp)."""

    __tablename__ = "leases"

    ip: Mapped[str] = mapped_column(String(15), primary_key=True)
    mac: Mapped[str] = mapped_column(String(17), index=True)
    expires_at: Mapped[datetime]
    hostname: Mapped[str | None] = mapped_column(String(253))


# -- the change stamp and the boot timeline's shared state (migration 0005) --------------------
class StampRow(Base):
    """Counters bumped in the same transaction as the writes they stand for:
    ``boot`` by every change to nodes, profiles, releases and bundles (the boot
    read model polls it, :mod:`provisioner.bootview`)."""

    __tablename__ = "stamps"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class BootBindingRow(Base):
    """Which MAC last used an IP (DHCP, or a per-MAC boot request), and when."""

    __tablename__ = "boot_bindings"

    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    mac: Mapped[str] = mapped_column(String(17))
    seen_at: Mapped[datetime] = mapped_column(index=True)


class BootPendingRow(Base):
    """A boot step seen from an IP whose MAC is not known yet."""

    __tablename__ = "boot_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(index=True)


class BootMilestoneRow(Base):
    """One row per milestone written: each kind once per node and install window."""

    __tablename__ = "boot_milestones"

    mac: Mapped[str] = mapped_column(String(17), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    window: Mapped[str] = mapped_column(String(40), primary_key=True)


# -- web console accounts (migration 0007) -----------------------------------------------------
class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class LoginSessionRow(Base):
    """A console login; deleted at logout, on idle timeout, with its user."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)


# -- other DHCP servers heard on the segment (migration 0008) ---------------------------------
class DhcpServerRow(Base):
    """One foreign DHCP server (provisioner.dhcp.observe): one row per server id;
    ``clients`` holds at most a few of the clients it answered."""

    __tablename__ = "dhcp_servers"

    server_id: Mapped[str] = mapped_column(String(15), primary_key=True)
    source: Mapped[str] = mapped_column(String(15))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    replies: Mapped[int] = mapped_column(BigInteger)
    answers_pxe: Mapped[bool]
    offers_boot: Mapped[bool]
    #: {"options": {code: hex}, "boot_file": str, "next_server": str}
    offer: Mapped[dict[str, Any]]
    #: {"clients": [{"mac", "message", "address", "pxe", "at"}, ...]} newest first
    clients: Mapped[dict[str, Any]]
