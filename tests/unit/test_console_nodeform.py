"""The node form's pure parts: fields <-> the node's data, errors beside the
right field, the next free IP, the phase bar."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv4Address

import pytest

from provisioner.bootparams import Options
from provisioner.domain import Event, Node, State, utcnow
from provisioner.errors import ValidationError
from provisioner.web.console import nodeform, nodeview
from provisioner.web.console.nodeform import NodeForm


def test_a_nodes_settings_get_their_own_fields_and_the_rest_is_extra() -> None:
    words = Options.parse("keyboard.de_CH auto ip.192.0.2.5 console=ttyS0")
    node = Node("52:54:00:00:00:01", hostname="n1", options=words)
    form = NodeForm.of_node(node)
    assert (form.ip, form.keyboard, form.extra) == ("192.0.2.5", "de_CH", "auto console=ttyS0")
    # saved unchanged, the words keep the node's order
    assert form.data(node)["options"] == "keyboard.de_CH auto ip.192.0.2.5 console=ttyS0"


def test_a_kernel_argument_named_like_a_field_stays_in_extra() -> None:
    node = Node("52:54:00:00:00:01", options=Options.parse("ip=dhcp ip.192.0.2.5"))
    form = NodeForm.of_node(node)
    assert (form.ip, form.extra) == ("192.0.2.5", "ip=dhcp")
    assert form.data(node)["options"] == "ip=dhcp ip.192.0.2.5"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ip": "192.0.2.300"}, "ip"),
        ({"submask": "255.0.255.0"}, "submask"),
        ({"dns": "192.0.2.1,x"}, "dns"),
        ({"extra": "ip.192.0.2.9"}, "extra"),
        ({"extra": "a\tb"}, "extra"),
    ],
)
def test_a_bad_value_is_named_by_its_form_field(changes: dict[str, str], field: str) -> None:
    form = NodeForm.of_request({"mac": "52:54:00:00:00:01", **changes})
    with pytest.raises(ValidationError) as caught:
        form.data()
    assert caught.value.field == field


def test_every_bad_option_field_is_named_at_once() -> None:
    form = NodeForm.of_request({"ip": "1.2.3", "gw": "x", "extra": "dns.192.0.2.1"})
    with pytest.raises(ValidationError) as caught:
        form.data()
    assert set(nodeform.errors_of(caught.value)) == {"ip", "gw", "extra"}


def test_service_fields_map_to_form_fields() -> None:
    assert nodeform.form_field("options.ip") == "ip"
    assert nodeform.form_field("options.copyiso") == "extra"
    assert nodeform.form_field("release") == "release"
    assert nodeform.form_field("body") == ""


def test_next_free_skips_used_and_reserved_addresses() -> None:
    where = nodeform.profile_range("p", Options.parse("ip.192.0.2.10 submask.255.255.255.248"))
    assert where is not None
    assert (str(where.first), str(where.last)) == ("192.0.2.9", "192.0.2.14")
    used = {IPv4Address("192.0.2.9"), *nodeform.reserved(Options.parse("gw.192.0.2.10"))}
    assert nodeform.next_free(where, used) == IPv4Address("192.0.2.11")
    full = {IPv4Address(f"192.0.2.{n}") for n in range(9, 15)}
    assert nodeform.next_free(where, full) is None


def test_the_bar_of_an_install_under_way_ends_in_the_phase_still_going() -> None:
    now = utcnow()
    opened = now - timedelta(seconds=60)
    node = Node("52:54:00:00:00:01", state=State.INSTALLING, window_opened=opened)
    events = [Event("boot.dhcp", "x", time=opened + timedelta(seconds=1)),
              Event("agent.image", "x", time=opened + timedelta(seconds=30))]  # fmt: skip
    bar = nodeview.phase_bar(node, events, now)
    assert [(s.phase, s.going) for s in bar.segments] == [("dhcp", False), ("image", True)]
    assert bar.outcome == ""
    assert sum(s.share for s in bar.segments) == pytest.approx(100, abs=0.1)


def test_wipe_needs_the_host_name_or_the_mac_typed() -> None:
    named = Node("52:54:00:00:00:01", hostname="box1")
    assert nodeview.typed_matches(named, " BOX1 ")
    assert not nodeview.typed_matches(named, "52:54:00:00:00:01")
    assert nodeview.typed_matches(Node("52:54:00:00:00:02"), "52:54:00:00:00:02")
