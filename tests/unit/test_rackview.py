"""The rack overview's rows and query: search, filter, sort; what the query string
may ask for (anything else falls back to the defaults)."""

from __future__ import annotations

from datetime import timedelta

from provisioner.bootparams import Options
from provisioner.bootview import BootSnapshot
from provisioner.domain import Event, Node, Profile, State, utcnow
from provisioner.store import BootRecords
from provisioner.web.console.rackview import Query, RackRow, rows

NOW = utcnow()


def _snapshot() -> BootSnapshot:
    profile = Profile("lab", options=Options.parse("ip.192.0.2.50"))
    nodes = (
        Node("52:54:00:00:00:01", hostname="b", options=Options.parse("ip.192.0.2.10")),
        Node("52:54:00:00:00:02", hostname="a", options=Options.parse("ip.192.0.2.9")),
        Node(
            "52:54:00:00:00:03", profile="lab", state=State.FAILED, active_slot="B", slot_b="deb:12"
        ),
    )
    return BootSnapshot.of(BootRecords("1", nodes, (profile,), (), ()))


def _rows() -> list[RackRow]:
    latest = {"52:54:00:00:00:01": Event("x", "seen", time=NOW - timedelta(minutes=5))}
    return rows(_snapshot(), latest, NOW, 0)


def test_a_row_shows_the_profiles_ip_the_active_slot_and_the_newest_events_age() -> None:
    by_mac = {r.mac: r for r in _rows()}
    third = by_mac["52:54:00:00:00:03"]
    assert (third.ip, third.slot, third.state) == ("192.0.2.50", "B: deb:12", State.FAILED)
    first = by_mac["52:54:00:00:00:01"]
    assert (first.event, first.age(NOW)) == ("seen", "5 min")
    assert third.age(NOW) == ""


def test_search_filter_and_sort() -> None:
    hosts = [r.hostname for r in Query.of({}).apply(_rows())]
    assert hosts == ["a", "b", ""]  # by host name, nameless last
    ips = [r.ip for r in Query.of({"sort": "ip", "dir": "desc"}).apply(_rows())]
    assert ips == ["192.0.2.50", "192.0.2.10", "192.0.2.9"]  # as numbers, not text
    assert [r.mac[-2:] for r in Query.of({"q": "LAB"}).apply(_rows())] == ["03"]
    assert [r.mac[-2:] for r in Query.of({"state": "failed"}).apply(_rows())] == ["03"]


def test_unknown_query_values_fall_back_to_the_defaults() -> None:
    query = Query.of({"sort": "__class__", "state": "<x>", "view": "x", "q": " y " * 100})
    assert (query.sort, query.state, query.view, len(query.q)) == ("hostname", "", "table", 100)
    assert query.link(view="grid") == {
        "q": query.q,
        "sort": "hostname",
        "view": "grid",
        "dir": "asc",
    }
