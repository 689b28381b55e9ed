"""The per-machine IP profile form: a node's fields as the browser shows them,
both ways, and the "next free IP". No Flask here (the page is pages/node.py).

The settings the paper's USB stick took from its APPEND line (``ip.``
``submask.`` ``gw.`` ``dns.`` ``keyboard.`` ``lang.``) each get their own field;
the node's other dot-options are "extra options". The form becomes the same
``data`` the API's node PUT takes (:meth:`~provisioner.service.Service.save_node`
checks it), and each error comes back beside the field it is about: ``options.ip``
is the ``ip`` field, any other option is ``extra``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from provisioner.bootparams import OptionError, Options, Word, parse_word
from provisioner.domain import Action, Node
from provisioner.errors import ProvisionerError, ValidationError
from provisioner.preflight import DEFAULT_NETMASK
from provisioner.web.console.forms import FormErrors

#: dot-options with a field of their own, in the form's order
OPTION_FIELDS = ("ip", "submask", "gw", "dns", "keyboard", "lang")
#: the node's own fields (as the API names them)
NODE_FIELDS = ("hostname", "profile", "release", "bundle", "action")
#: how many addresses "next free IP" looks at, at most (a /16)
SEARCH_LIMIT = 65536


@dataclass(frozen=True)
class NodeForm:
    """What the form's controls hold: strings, "" for empty."""

    mac: str = ""
    hostname: str = ""
    ip: str = ""
    submask: str = ""
    gw: str = ""
    dns: str = ""
    keyboard: str = ""
    lang: str = ""
    profile: str = ""
    release: str = ""
    bundle: str = ""
    extra: str = ""
    action: str = Action.INSTALL.value

    @classmethod
    def of_node(cls, node: Node) -> NodeForm:
        opts = node.options
        own = {key: opts.get(key) or "" for key in OPTION_FIELDS}
        return cls(
            mac=node.mac,
            hostname=node.hostname or "",
            profile=node.profile or "",
            release=node.release or "",
            bundle=node.bundle or "",
            extra=" ".join(w.render() for w in opts if not _has_field(w)),
            action=node.action.value,
            **own,
        )

    @classmethod
    def of_request(cls, form: Mapping[str, str], mac: str = "") -> NodeForm:
        """From posted fields (unknown ones ignored, each cut to a sane length)."""
        given = {f.name: form.get(f.name, "").strip()[:2048] for f in fields(cls)}
        return cls(**{**given, "mac": mac or given["mac"]})

    def data(self, current: Node | None = None) -> dict[str, Any]:
        """The node's ``data`` for :meth:`~provisioner.service.Service.save_node`
        (every writable field: "" clears one). A bad option raises a
        ValidationError naming its form field. The node's words keep their order."""
        words: list[Word] = []
        bad = FormErrors()
        for key in OPTION_FIELDS:
            value = getattr(self, key)
            if value:
                try:
                    words.append(parse_word(f"{key}.{value}", "options"))
                except OptionError as exc:
                    bad.add(key, exc.detail)
        try:
            extra = Options.parse(self.extra, "options")
        except OptionError as exc:
            bad.add("extra", exc.detail)
            extra = Options()
        for word in extra:
            if _has_field(word):
                bad.add("extra", f"{word.key}. has its own field above")
        if bad:
            raise FieldsInvalid(bad)
        words += extra.words
        if current is not None:
            order = {w.ident: i for i, w in enumerate(current.options)}
            words.sort(key=lambda w: order.get(w.ident, len(order)))
        return {
            "hostname": self.hostname or None,
            "profile": self.profile or None,
            "release": self.release or None,
            "bundle": self.bundle or None,
            "action": self.action,
            "options": Options.of(words).render(),
        }


def _has_field(word: Word) -> bool:
    """A dot-option with its own field (``ip.X``; not the kernel's ``ip=dhcp``)."""
    return word.kind == "option" and word.key in OPTION_FIELDS


class FieldsInvalid(ValidationError):
    """Every bad option field of the form at once (the first names the error)."""

    def __init__(self, errors: FormErrors) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = errors


def form_field(api_field: str) -> str:
    """The form's field for a field the service names (``options.ip`` -> ``ip``)."""
    if api_field in OPTION_FIELDS or api_field in NODE_FIELDS or api_field in ("mac", "extra"):
        return api_field
    if api_field == "options" or api_field.startswith("options."):
        key = api_field.removeprefix("options.")
        return key if key in OPTION_FIELDS else "extra"
    return ""


def errors_of(exc: ProvisionerError) -> FormErrors:
    """``exc``'s messages, each beside its form field."""
    found = FormErrors()
    if isinstance(exc, FieldsInvalid):
        found.update(exc.errors)
    else:
        found.take(exc)
    out = FormErrors()
    for name, message in found.items():
        out.add(form_field(name), message)
    return out


def removed_keys(current: Node | None, options: str) -> list[str]:
    """Option keys the node had and the form took away (preflight warns when the
    profile still gives one)."""
    if current is None:
        return []
    kept = {w.key for w in Options.parse(options)}
    return sorted({w.key for w in current.options} - kept)


# -- next free IP ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """Where to look for a free address, and what to call it."""

    first: IPv4Address
    last: IPv4Address
    source: str  # "profile debian-12's subnet 192.0.2.0/24", "the DHCP pool ..."


def profile_range(name: str, options: Options) -> Range | None:
    """The hosts of a profile's subnet (its ``ip.`` with ``submask.``)."""
    ip = options.get("ip")
    if not ip:
        return None
    try:
        net = IPv4Network(f"{ip}/{options.get('submask') or DEFAULT_NETMASK}", strict=False)
    except ValueError:
        return None
    if net.num_addresses < 4:
        return None
    return Range(net.network_address + 1, net.broadcast_address - 1,
                 f"profile {name}'s subnet {net}")  # fmt: skip


def pool_range(pool: tuple[IPv4Address, IPv4Address] | None) -> Range | None:
    if pool is None:
        return None
    return Range(pool[0], pool[1], f"the DHCP pool {pool[0]}-{pool[1]}")


def reserved(options: Options, *more: str) -> set[IPv4Address]:
    """Addresses no node should get: a profile's gw. and dns., the server's own."""
    out = set()
    for text in [options.get("gw") or "", *(options.get("dns") or "").split(","), *more]:
        try:
            out.add(IPv4Address(text))
        except ValueError:
            continue
    return out


def next_free(where: Range | None, used: Iterable[IPv4Address]) -> IPv4Address | None:
    """The lowest address of ``where`` nobody uses (None when full or nothing to search)."""
    if where is None:
        return None
    taken = set(used)
    start, stop = int(where.first), min(int(where.last), int(where.first) + SEARCH_LIMIT - 1)
    for n in range(start, stop + 1):
        if ipaddress.IPv4Address(n) not in taken:
            return ipaddress.IPv4Address(n)
    return None


def with_ip(form: NodeForm, ip: IPv4Address | None) -> NodeForm:
    return replace(form, ip=str(ip)) if ip is not None else form
