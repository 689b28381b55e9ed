"""REST API ``/api/v1`` (JSON). Every route needs a bearer token; see auth.py.

Release images, bundles, uploads and the node manifest are in media_api.py.

The OpenAPI document (``/api/v1/openapi.json``) describes each route here;
``tests/unit/test_api_openapi.py`` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

from flask import Blueprint, Response, jsonify, request

from provisioner.bootnames import config_name, config_path
from provisioner.bootview import Catalog
from provisioner.dhcp.config import DhcpConfig, parse_address
from provisioner.dhcp.subnets import parse_subnets, subnet_view
from provisioner.domain import Node, Role, parse_count, parse_enum
from provisioner.errors import ValidationError
from provisioner.importer import MAX_IMPORT_BYTES
from provisioner.preflight import Problem, rack
from provisioner.service import Saved, Service
from provisioner.views import dhcp_servers_view, event_view, node_view, profile_view, token_view
from provisioner.web.auth import require_token
from provisioner.web.body import json_object, read_body
from provisioner.web.boot import server_url as boot_server_url
from provisioner.web.context import ctx
from provisioner.web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)


def _body() -> dict[str, Any]:
    return json_object()


def _created(view: dict[str, Any], created: bool) -> tuple[Response, int]:
    return jsonify(view), 201 if created else 200


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    return default if raw is None else parse_count(name, raw, low, high)


def _node_view(
    node: Node, problems: Sequence[Problem], catalog: Catalog | None = None
) -> dict[str, Any]:
    service = ctx().service
    confirm = service.settings.confirm_minutes * 60
    try:
        spec = service.bootspec(node, catalog, agent=False)
    except ValidationError as exc:  # stored before a profile changed under it
        return node_view(node, None, exc, problems, confirm)
    return node_view(node, spec, None, problems, confirm)


def _flag(name: str) -> bool:
    return request.args.get(name, "0") in {"1", "true", "yes"}


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


# -- nodes -----------------------------------------------------------------------------
@bp.get("/nodes")
def list_nodes() -> Response:
    """Every node with its preflight problems; ``?problems=1``: only those that have some."""
    service = ctx().service
    world = service.world()
    catalog = Catalog(world.profiles, world.bundles)
    found = rack(world)
    nodes = [world.nodes[m] for m in (found if _flag("problems") else sorted(world.nodes))]
    return jsonify([_node_view(n, found.get(n.mac, []), catalog) for n in nodes])


@bp.get("/nodes/<mac>")
def get_node(mac: str) -> Response:
    service = ctx().service
    return jsonify(_node_view(service.get_node(mac), service.node_problems(mac)))


def _writes(
    path: str,
    kind: str,
    save: Callable[..., Saved[Any]],
    view: Callable[[Any, Sequence[Problem]], dict[str, Any]],
    delete: Callable[[Service, str], None],
) -> None:
    """PUT (201 when new), PATCH (fields given; it must exist) and DELETE of the
    ``kind`` at ``path`` (endpoints ``put_<kind>``...): ``save(service, key, body)``
    answers with ``view(object, its preflight problems)``."""

    def put(**key: str) -> tuple[Response, int]:
        saved = save(ctx().service, *key.values(), _body())
        return _created(view(saved.value, saved.problems), saved.created)

    def patch(**key: str) -> Response:
        saved = save(ctx().service, *key.values(), _body(), partial=True, must_exist=True)
        return jsonify(view(saved.value, saved.problems))

    def remove(**key: str) -> tuple[str, int]:
        delete(ctx().service, *key.values())
        return "", 204

    bp.put(path, endpoint=f"put_{kind}")(put)
    bp.patch(path, endpoint=f"patch_{kind}")(patch)
    bp.delete(path, endpoint=f"delete_{kind}")(remove)


_writes("/nodes/<mac>", "node", Service.save_node, _node_view, Service.delete_node)


@bp.delete("/nodes/<mac>/credential")
def revoke_credential(mac: str) -> Response:
    """Revoke the credential the node's installed system reports with (its next
    install registers a new one)."""
    node = ctx().service.revoke_credential(mac)
    return jsonify(_node_view(node, ctx().service.node_problems(mac)))


@bp.get("/nodes/<mac>/boot")
def node_boot(mac: str) -> Response:
    """Exactly what the box will be served, as text: made by the functions the
    boot endpoints call."""
    service = ctx().service
    node = service.get_node(mac)
    server = boot_server_url()
    spec = service.bootspec(node, None, server)
    return jsonify(
        {
            "mac": node.mac,
            "pxelinux_path": config_path(node.mac),
            "pxelinux": service.pxelinux_file(config_name(node.mac), server),
            "ipxe": service.ipxe_file(node.mac, f"{server}/boot/files/", server),
            "cmdline": spec.cmdline.render(),
        }
    )


@bp.get("/nodes/<mac>/events")
def node_events(mac: str) -> Response:
    node = ctx().service.get_node(mac)
    limit = _int_arg("limit", 100, 1, 1000)
    events = ctx().store.list_events(node.mac, limit, _cursor("before"), _cursor("after"))
    return jsonify([event_view(e) for e in events])


# -- DHCP ---------------------------------------------------------------------------------------
@bp.get("/dhcp/subnets")
def dhcp_subnets() -> Response:
    """The subnets the DHCP server is configured with (``dhcp_subnets`` in the
    settings file; read-only here), each with what its clients get. Inherited DNS
    and boot server are shown as this process sees them: ``server_ip`` when set."""
    settings = ctx().settings
    server = IPv4Address(settings.server_ip) if settings.server_ip else IPv4Address(0)
    base = DhcpConfig(
        mode="full",
        server_ip=server,
        http_port=0,
        dns_servers=(server,) if settings.dns and settings.server_ip else (),
        domain=settings.domain if settings.dns and settings.domain else None,
        lease_time=settings.dhcp_lease_time,
        bios_loader=settings.bios_loader,
        uefi_loader=settings.uefi_loader,
    )
    dns = settings.dhcp_dns_servers
    if dns:
        servers = tuple(parse_address(a, "dhcp_dns_servers") for a in dns.split(",") if a)
        base = replace(base, dns_servers=servers)
    return jsonify([subnet_view(s) for s in parse_subnets(settings.dhcp_subnets, base)])


# -- profiles ----------------------------------------------------------------------------
@bp.get("/profiles")
def list_profiles() -> Response:
    return jsonify([profile_view(p) for p in ctx().store.list_profiles()])


@bp.get("/profiles/<name>")
def get_profile(name: str) -> Response:
    return jsonify(profile_view(ctx().store.get_profile(name)))


_writes("/profiles/<name>", "profile", Service.save_profile, profile_view, Service.delete_profile)


@bp.post("/import/syslinux")
def import_syslinux() -> tuple[Response, int]:
    """Body: the syslinux.cfg text. ``?replace=1``, ``?join_wrapped=1``, ``?dry_run=1``."""
    try:
        text = read_body(MAX_IMPORT_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body", "the file must be UTF-8 text") from None
    flags = {k: _flag(k) for k in ("replace", "join_wrapped", "dry_run")}
    report = ctx().service.import_syslinux(text, **flags)
    body = {
        "created": report.created,
        "replaced": report.replaced,
        "unchanged": report.unchanged,
        "refused": report.refused,
        "skipped": report.skipped,
        "problems": [{"line": p.line, "message": p.message} for p in report.problems],
        "warnings": report.warnings,
    }
    if report.problems:
        return jsonify(
            {
                "error": {
                    "code": "invalid",
                    "field": "body",
                    "message": "; ".join(map(str, report.problems)),
                },
                **body,
            }
        ), 422
    if report.refused:
        return jsonify(
            {
                "error": {
                    "code": "conflict",
                    "field": "body",
                    "message": "these labels would change existing profiles "
                    f"(use replace=1): {', '.join(report.refused)}",
                },
                **body,
            }
        ), 409
    return jsonify(body), 200


# -- events and tokens -----------------------------------------------------------------------------
#: event and token ids are INTEGER columns: 32 bits on PostgreSQL (SQLite's are 64)
EVENT_ID_MAX = 2**31 - 1


def _cursor(name: str) -> int | None:
    """``?before=ID`` (older pages) or ``?after=ID`` (what came since: a follower)."""
    raw = request.args.get(name)
    return None if raw is None else parse_count(name, raw, 0, EVENT_ID_MAX)


@bp.get("/events")
def list_events() -> Response:
    limit = _int_arg("limit", 100, 1, 1000)
    events = ctx().store.list_events(None, limit, _cursor("before"), _cursor("after"))
    return jsonify([event_view(e) for e in events])


@bp.get("/tokens")
def list_tokens() -> Response:
    return jsonify([token_view(t) for t in ctx().store.list_tokens()])


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    data = _body()
    unknown = set(data) - {"name", "role"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field")
    role = parse_enum(Role, data.get("role", "viewer"), "role")
    token, secret = ctx().service.create_token(data.get("name", "api"), role)
    return jsonify({**token_view(token), "token": secret}), 201


@bp.delete("/tokens/<token_id>")
def delete_token(token_id: str) -> tuple[str, int]:
    """Not ``<int:token_id>``: a path that is not a number must reach the token check
    (a viewer's write is refused, whatever its path) and then be a 422, not a 404."""
    ctx().store.delete_token(parse_count("token_id", token_id, 0, EVENT_ID_MAX))
    return "", 204


# -- other DHCP servers heard (observe mode; proxy/full watch) ----------------------------
@bp.get("/dhcp/servers")
def list_dhcp_servers() -> Response:
    service = ctx().service
    return jsonify(dhcp_servers_view(service.settings.dhcp, service.store.list_dhcp_servers()))
