"""The preflight check: a box that cannot boot is caught when it is configured.

Given a node (or a profile) and a :class:`World` -- everything the server knows:
nodes, profiles, releases, bundles, the DHCP subnets it serves and which names
the boot tree holds -- :func:`check_node` and :func:`check_profile` return
:class:`Problem` s. An ``error`` refuses the change (the action is certain to
fail on the box, or the change collides with another node); a ``warning`` is
accepted and said. The table is docs/preflight.md. Pure: the caller hands in the
boot tree as a function of a name.

A rack at once: :meth:`World.of` computes who holds each IP address once, so
checking every node is one pass (``benchmarks/preflight_bench.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from types import MappingProxyType
from typing import Literal

from provisioner.bootnames import cmdline_initrd
from provisioner.bootparams import FILE_KEYS, Options
from provisioner.bootspec import effective_bundle_name, effective_options, effective_release
from provisioner.domain import BUNDLE_KINDS, Action, Bundle, Node, Profile, Release
from provisioner.errors import PreflightConflict, PreflightError, ValidationError
from provisioner.hostsettings import keyboard, language

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

#: actions that write a release to the disk (the agent fails without one)
WRITES_RELEASE = frozenset({Action.INSTALL, Action.WIPE})
#: what the installer assumes when a node has ``ip.`` but no ``submask.``
DEFAULT_NETMASK = "255.255.255.0"
_KIND_OF_OPTION = {option: kind for kind, option in BUNDLE_KINDS.items()}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a node or profile: how bad, which field, what, and the fix."""

    severity: Severity
    code: str  #: stable: install-without-release, duplicate-ip, ... (docs/preflight.md)
    field: str  #: as the API names it: ``release``, ``action``, ``options.gw``, ``kernel``
    message: str
    fix: str
    #: an error that collides with another node (HTTP 409 rather than 422)
    conflict: bool = False

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        return f"{self.field}: {self.message}; {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "fix": self.fix,
        }


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def refusal(problems: Iterable[Problem], about: str = "") -> PreflightError | None:
    """The exception that refuses a change with these problems (None: no error).
    Its field and message are the first error's; ``about`` prefixes the message
    (``node 52:54:00:...: `` when a profile change would break a node)."""
    found = list(problems)
    errs = errors(found)
    if not errs:
        return None
    first = errs[0]
    kind = PreflightConflict if first.conflict else PreflightError
    return kind(first.field, f"{about}{first.message}; {first.fix}", [p.to_dict() for p in found])


@dataclass(frozen=True)
class World:
    """What the server knows, as the check needs it. Build with :meth:`of`."""

    nodes: Mapping[str, Node]  #: by MAC
    profiles: Mapping[str, Profile]
    bundles: Mapping[str, Bundle]
    releases: Mapping[str, Release]  #: by NAME:VERSION
    #: subnets the server's full DHCP serves (empty: not known, not checked)
    dhcp_subnets: tuple[IPv4Network, ...] = ()
    #: does the boot tree (``<data_dir>/boot``) hold this relative name?
    boot_file: Callable[[str], bool] = field(default=lambda name: True)
    #: effective ``ip.`` -> the MACs whose boxes get it (computed once, in :meth:`of`)
    ip_owners: Mapping[IPv4Address, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        nodes: Iterable[Node],
        profiles: Mapping[str, Profile],
        bundles: Mapping[str, Bundle],
        releases: Mapping[str, Release],
        *,
        dhcp_subnets: Iterable[IPv4Network] = (),
        boot_file: Callable[[str], bool] = lambda name: True,
    ) -> World:
        by_mac = {n.mac: n for n in nodes}
        owners: dict[IPv4Address, list[str]] = {}
        profile_ip = {name: p.options.get("ip") for name, p in profiles.items()}
        for node in by_mac.values():
            # the effective ip. without the whole merge: the node's own, else its
            # profile's (a bundle gives only copy words)
            own = node.options.get("ip")
            ip = _address(own if own is not None else profile_ip.get(node.profile or ""))
            if ip is not None:
                owners.setdefault(ip, []).append(node.mac)
        return cls(
            nodes=MappingProxyType(by_mac),
            profiles=profiles,
            bundles=bundles,
            releases=releases,
            dhcp_subnets=tuple(dhcp_subnets),
            boot_file=_memo(boot_file),
            ip_owners=MappingProxyType({ip: tuple(macs) for ip, macs in owners.items()}),
        )

    def with_profile(self, profile: Profile) -> World:
        """This world as it would be with ``profile`` saved (the IP map rebuilt)."""
        return World.of(
            self.nodes.values(),
            {**self.profiles, profile.name: profile},
            self.bundles,
            self.releases,
            dhcp_subnets=self.dhcp_subnets,
            boot_file=self.boot_file,
        )

    def users(self, profile: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.profile == profile]


def _memo(fn: Callable[[str], bool]) -> Callable[[str], bool]:
    seen: dict[str, bool] = {}

    def lookup(name: str) -> bool:
        if name not in seen:
            seen[name] = fn(name)
        return seen[name]

    return lookup


def _address(value: str | None) -> IPv4Address | None:
    try:
        return IPv4Address(value) if value else None
    except ValueError:
        return None


def dhcp_subnet(mode: str, netmask: str, anchor: str) -> tuple[IPv4Network, ...]:
    """The subnet full DHCP serves: ``netmask`` around ``anchor`` (the server's
    address, else the pool's first). Nothing when DHCP is not ``full`` or a value
    is missing or bad (the interface's netmask is not known here; start-up
    reports bad settings)."""
    if mode != "full" or not netmask or not anchor:
        return ()
    try:
        return (IPv4Network(f"{anchor}/{netmask}", strict=False),)
    except ValueError:
        return ()


# -- nodes ---------------------------------------------------------------------------------
def check_node(node: Node, world: World) -> list[Problem]:
    """Every problem of ``node`` as ``world`` would have it (``node`` may be a
    change not stored yet: it replaces the stored node of its MAC). Errors first.
    A node naming a profile, bundle or release the world lacks gets nothing: the
    store refuses it, naming the field."""
    if not _known(node, world):
        return []  # the store refuses a name that does not exist, naming the field
    profile = world.profiles.get(node.profile) if node.profile else None
    bundle_name = effective_bundle_name(node, profile)
    bundle = world.bundles.get(bundle_name) if bundle_name else None
    opts = effective_options(node, profile, bundle)
    problems = [
        *_action_problems(node, profile, bundle, world),
        *_network_problems(node, opts, world, profile),
        *_copy_problems(opts, bundle, _origin(node, profile)),
        *_settings_problems(opts, _origin(node, profile)),
    ]
    if profile is not None and node.action is not Action.LOCAL:
        problems += [
            Problem(
                WARNING,
                "boot-file-missing",
                "profile",
                f"profile {profile.name}: {p.message}",
                p.fix,
            )
            for p in _boot_file_problems(profile, world)
        ]
    return sorted(problems, key=lambda p: not p.is_error)


def _known(node: Node, world: World) -> bool:
    return (
        (node.profile is None or node.profile in world.profiles)
        and (node.bundle is None or node.bundle in world.bundles)
        and (node.release is None or node.release in world.releases)
    )


def _origin(node: Node, profile: Profile | None) -> Callable[[str], str]:
    """Where an effective option came from, for messages."""

    def where(key: str) -> str:
        if node.options.get(key) is not None or profile is None:
            return ""
        return f" (from profile {profile.name})"

    return where


def _action_problems(
    node: Node, profile: Profile | None, bundle: Bundle | None, world: World
) -> list[Problem]:
    out = []
    if node.action in WRITES_RELEASE:
        ref = effective_release(node, profile)
        if ref is None:
            out.append(
                Problem(
                    ERROR,
                    "install-without-release",
                    "release",
                    f"action {node.action.value} writes a release to the disk, and "
                    f"{'neither the node nor its profile names' if profile else 'the node names'}"
                    " none: the installer would stop at its first step",
                    "give the node (or its profile) a release NAME:VERSION, or choose "
                    "another action",
                )
            )
        elif ref not in world.releases:
            out.append(
                Problem(
                    ERROR,
                    "release-missing",
                    "release",
                    f"release {ref} does not exist",
                    "upload it (provisioner image add FILE --name NAME --version VERSION), "
                    "or name another",
                )
            )
        if bundle is not None:
            out += _unuploaded(bundle)
    if node.action is Action.ROLLBACK:
        other = {"A": ("B", node.slot_b), "B": ("A", node.slot_a)}.get(node.active_slot or "")
        if other is None or other[1] is None:
            have = (
                f"its installer reported only slot {node.active_slot} ({_slot(node)})"
                if other
                else "its installer has not reported an install yet"
            )
            out.append(
                Problem(
                    ERROR,
                    "rollback-without-slot",
                    "action",
                    f"rollback boots the other system slot, and this node has none: {have}",
                    "install a second release first (action install), or choose another action",
                )
            )
    return out


def _slot(node: Node) -> str:
    return (node.slot_a if node.active_slot == "A" else node.slot_b) or "?"


def _unuploaded(bundle: Bundle) -> list[Problem]:
    return [
        Problem(
            WARNING,
            "bundle-file-not-uploaded",
            "bundle",
            f"bundle {bundle.name} names {option}.{name} but no file was uploaded for it: "
            "the install would stop when it asks for its manifest",
            f"upload it before the box boots: provisioner bundle upload {bundle.name} {kind} FILE",
        )
        for kind, option in BUNDLE_KINDS.items()
        if (name := getattr(bundle, kind))
        and not ((f := bundle.file(kind)) is not None and f.filename == name)
    ]


def _network_problems(
    node: Node | None, opts: Options, world: World, profile: Profile | None = None
) -> list[Problem]:
    out: list[Problem] = []
    where = _origin(node, profile) if node is not None else (lambda key: "")
    ip = _address(opts.get("ip"))
    if ip is None:
        return out
    if node is not None:
        others = [m for m in world.ip_owners.get(ip, ()) if m != node.mac]
        if others:
            out.append(
                Problem(
                    ERROR,
                    "duplicate-ip",
                    "options.ip",
                    f"ip.{ip}{where('ip')} is also the address of node "
                    f"{', '.join(sorted(others))}: two boxes would answer for it",
                    "give each node its own ip.ADDRESS",
                    conflict=True,
                )
            )
    mask = opts.get("submask") or DEFAULT_NETMASK
    gw = _address(opts.get("gw"))
    try:
        net = IPv4Network(f"{ip}/{mask}", strict=False)
    except ValueError:  # the format module checked the mask; belt and braces
        net = None
    if gw is not None and net is not None and gw not in net:
        assumed = "" if opts.get("submask") else f" (no submask: the installer assumes {mask})"
        out.append(
            Problem(
                ERROR,
                "gateway-outside-subnet",
                "options.gw",
                f"gw.{gw}{where('gw')} is outside the box's subnet {net}{assumed}: "
                "the box could not route through it",
                "set gw. to an address in the subnet of ip./submask., or fix submask.",
            )
        )
    if world.dhcp_subnets and not any(ip in s for s in world.dhcp_subnets):
        served = ", ".join(str(s) for s in world.dhcp_subnets)
        out.append(
            Problem(
                WARNING,
                "ip-outside-dhcp",
                "options.ip",
                f"ip.{ip}{where('ip')} is outside the subnet this server's DHCP serves "
                f"({served}): the box would get an address it cannot reach the server from",
                "use an address in the DHCP subnet, or make sure a relay serves its subnet",
            )
        )
    return out


def _settings_problems(opts: Options, where: Callable[[str], str]) -> list[Problem]:
    """keyboard. and lang. values the installed system could not be set to."""
    out = []
    for key, table, code in (("keyboard", keyboard, "unknown-keyboard"),
                             ("lang", language, "unknown-language")):  # fmt: skip
        value = opts.get(key)
        if value is None:
            continue
        try:
            table(value)
        except ValidationError as exc:
            out.append(Problem(ERROR, code, exc.field, f"{key}.{value}{where(key)}: "
                               f"{exc.message.split(': ', 1)[-1]}",
                               f"use a {key} value from docs/installer.md"))  # fmt: skip
    return out


def _copy_problems(
    opts: Options, bundle: Bundle | None, where: Callable[[str], str]
) -> list[Problem]:
    """``copyiso``/``copydef``/``copyimg`` words whose file no bundle holds (the
    bundle's own words are merged in, so a word that differs names another file)."""
    out = []
    for word in opts:
        if word.kind != "option" or word.key not in FILE_KEYS:
            continue
        held = bundle is not None and getattr(bundle, _KIND_OF_OPTION[word.key]) == word.value
        if held:
            continue
        what = f"bundle {bundle.name} does not hold it" if bundle else "the node has no bundle"
        out.append(
            Problem(
                WARNING,
                "copy-without-bundle",
                f"options.{word.key}",
                f"{word.key}.{word.value}{where(word.key)} names a file to copy, but {what}: "
                "the box would install without it",
                f"create a bundle with it (provisioner bundle set NAME "
                f"--{_KIND_OF_OPTION[word.key]} {word.value}) and give the node or profile "
                "that bundle, or remove the word",
            )
        )
    return out


# -- profiles ---------------------------------------------------------------------------------
def check_profile(profile: Profile, world: World, *, imported: bool = False) -> list[Problem]:
    """The profile's own problems (``imported``: it came from a syslinux.cfg, which
    cannot name a release)."""
    bundle = world.bundles.get(profile.bundle) if profile.bundle else None
    opts = profile.options.merged(bundle.options()) if bundle else profile.options
    problems = [
        *_network_problems(None, opts, world),
        *_copy_problems(opts, bundle, lambda key: ""),
        *_settings_problems(opts, lambda key: ""),
        *_boot_file_problems(profile, world),
    ]
    if imported and profile.release is None:
        problems.append(
            Problem(
                WARNING,
                "profile-without-release",
                "release",
                f"profile {profile.name} was imported from a syslinux.cfg and names no release: "
                "its nodes install nothing unless each names one",
                f"provisioner profile set {profile.name} --release NAME:VERSION",
            )
        )
    return sorted(problems, key=lambda p: not p.is_error)


def _boot_file_problems(profile: Profile, world: World) -> list[Problem]:
    named = [("kernel", profile.kernel)]
    named += [("initrd", name) for name in profile.initrd or cmdline_initrd(profile.options)]
    return [
        Problem(
            WARNING,
            "boot-file-missing",
            fld,
            f"{fld} {name!r} is not in the boot tree: the box's loader would not find it",
            f"copy it to DATA_DIR/boot/{name}, or name an http(s)/tftp URL",
        )
        for fld, name in named
        if "://" not in name and not world.boot_file(name)
    ]


def new_errors(profile: Profile, world: World) -> list[tuple[Node, Problem]]:
    """Errors that saving ``profile`` would give the nodes using it (those they
    had before do not count: they are the nodes' own to fix)."""
    after = world.with_profile(profile)
    out = []
    for node in after.users(profile.name):
        before = {(p.code, p.field) for p in errors(check_node(node, world))}
        out += [
            (node, p) for p in errors(check_node(node, after)) if (p.code, p.field) not in before
        ]
    return out


def rack(world: World, macs: Collection[str] | None = None) -> dict[str, list[Problem]]:
    """Every node (or those of ``macs``) with a problem, by MAC, in MAC order."""
    chosen = world.nodes.values() if macs is None else (world.nodes[m] for m in macs)
    found = {n.mac: check_node(n, world) for n in chosen}
    return {mac: found[mac] for mac in sorted(found) if found[mac]}


# -- removing a key the profile gives -------------------------------------------------------
def removed_problems(
    node: Node, removed: Iterable[str], world: World, *, asked: Collection[str] = ()
) -> list[Problem]:
    """Warnings for keys taken off ``node`` that still reach its box because its
    profile gives them. ``asked``: keys an ``--unset`` named (the node may never
    have had them)."""
    profile = world.profiles.get(node.profile) if node.profile else None
    out = []
    for key in sorted({*removed, *asked}):
        given = [w.render() for w in profile.options if w.key == key] if profile else []
        if profile is not None and given and not any(w.key == key for w in node.options):
            out.append(
                Problem(
                    WARNING,
                    "unset-from-profile",
                    f"options.{key}",
                    f"the node has no {key} of its own now, but its profile {profile.name} "
                    f"gives {' '.join(given)}, so the box still gets it (a profile's word "
                    "cannot be emptied for one node)",
                    f"set the node's own value (--option {key}.VALUE), or remove {key} "
                    "from the profile, or give the node another profile",
                )
            )
        elif key in asked and key not in removed:
            out.append(
                Problem(
                    WARNING,
                    "unset-not-set",
                    f"options.{key}",
                    f"the node has no {key} to remove; nothing changed",
                    "check the key's spelling (provisioner node show MAC)",
                )
            )
    return out
