"""A rack imported as CSV: rows and their problems (provisioner.rackcsv), then
Service.import_nodes: all rows or none, on SQLite, PostgreSQL and the fake."""

from __future__ import annotations

import pytest

from provisioner.config import load_settings
from provisioner.domain import Profile
from provisioner.errors import ValidationError
from provisioner.rackcsv import MAX_CSV_BYTES, RowProblem, parse_rack_csv
from provisioner.service import Service
from tests.support.fakes import MemoryStore

GOOD = """mac,hostname,ip,profile,action,options
52:54:00:30:00:01,r1,192.0.2.11,base,local,keyboard.de_CH
52-54-00-30-00-02,r2,192.0.2.12,base,local,
"""


def test_a_csv_row_becomes_a_node_patch_with_its_dot_options() -> None:
    parsed = parse_rack_csv(GOOD)
    assert parsed.ok, parsed.problems
    first, second = parsed.rows
    assert (first.row, first.mac, first.data["hostname"]) == (2, "52:54:00:30:00:01", "r1")
    assert first.data["options"] == "ip.192.0.2.11 keyboard.de_CH"
    assert second.mac == "52:54:00:30:00:02"


def test_csv_problems_name_their_row_and_column() -> None:
    parsed = parse_rack_csv("mac,ip,colour\n")
    assert [(p.row, p.field) for p in parsed.problems] == [(1, "colour")]
    parsed = parse_rack_csv("mac,ip\nnot-a-mac,192.0.2.1\n52:54:00:30:00:03,300.1.1.1\n")
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "mac"), (3, "ip")]


def test_an_oversized_csv_is_refused_with_the_limit() -> None:
    with pytest.raises(ValidationError, match=str(MAX_CSV_BYTES)):
        parse_rack_csv("mac\n" + "x" * MAX_CSV_BYTES)


def _services(service: Service) -> list[Service]:
    fake = Service(MemoryStore(), load_settings({}, overrides={"data_dir": "/nonexistent"}))
    return [service, fake]


def test_one_bad_row_imports_nothing_and_a_good_csv_imports_every_row(service: Service) -> None:
    for svc in _services(service):
        svc.save_profile("base", {"kernel": "vmlinuz"})
        bad = GOOD + "52:54:00:30:00:04,r4,192.0.2.14,nosuch,local,\n"
        problems = svc.import_nodes(parse_rack_csv(bad).rows)
        assert [(p.row, p.field) for p in problems] == [(4, "profile")]
        assert svc.store.list_nodes() == []
        assert svc.import_nodes(parse_rack_csv(GOOD).rows, dry_run=True) == []
        assert svc.store.list_nodes() == []
        assert svc.import_nodes(parse_rack_csv(GOOD).rows) == []
        assert [n.hostname for n in svc.store.list_nodes()] == ["r1", "r2"]
        kinds = [e.kind for e in svc.store.list_events(None, 10)]
        assert kinds.count("node.created") == 2


def test_two_rows_with_one_ip_are_both_named(service: Service) -> None:
    service.save_profile("base", {"kernel": "vmlinuz"})
    text = GOOD.replace("192.0.2.12", "192.0.2.11")
    problems = service.import_nodes(parse_rack_csv(text).rows)
    assert {p.row for p in problems} == {2, 3}
    assert all(p.field.endswith("ip") for p in problems), problems
    assert service.store.list_nodes() == []


def test_a_host_name_twice_in_the_file_is_named_on_its_second_row(service: Service) -> None:
    service.store.change_profile("base", lambda _: Profile(name="base", kernel="vmlinuz"))
    problems = service.import_nodes(parse_rack_csv(GOOD.replace(",r2,", ",r1,")).rows)
    assert [(p.row, p.field) for p in problems] == [(3, "hostname")]


def test_what_preflight_warns_of_comes_back_by_row(service: Service) -> None:
    text = "mac,copyiso,action\n52:54:00:30:00:01,,local\n52:54:00:30:00:02,win.iso,local\n"
    warnings: list[RowProblem] = []
    assert service.import_nodes(parse_rack_csv(text).rows, warnings=warnings) == []
    assert [w.row for w in warnings] == [3], warnings
    assert (warnings[0].field, "win.iso" in warnings[0].message) == ("options.copyiso", True)
    assert len(service.store.list_nodes()) == 2  # warned of, stored all the same
