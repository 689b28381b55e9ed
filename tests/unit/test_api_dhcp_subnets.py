"""``GET /api/v1/dhcp/subnets``: the subnets of the settings file, with what their
clients get (inherited values included), read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import Settings, load_settings
from tests.conftest import Api

SETTINGS = """
server_ip = "192.0.2.1"
dhcp_lease_time = 900

[[dhcp_subnets]]
subnet = "192.0.2.0/26"
pools = ["192.0.2.10-192.0.2.20"]
router = "192.0.2.1"

[[dhcp_subnets]]
subnet = "192.0.2.64/26"
pools = ["192.0.2.80-192.0.2.90"]
next_server = "192.0.2.60"
uefi_loader = "ipxe"
reservations = { "52:54:00:C0:02:09" = "192.0.2.70" }
"""


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    path = tmp_path / "provisioner.toml"
    path.write_text(SETTINGS)
    overrides = {"data_dir": str(tmp_path / "data"), "database_url": db_url}
    return load_settings({}, path, overrides)


def test_the_api_lists_each_subnet_with_what_its_clients_get(viewer: Api) -> None:
    resp = viewer.get("/api/v1/dhcp/subnets")
    assert resp.status_code == 200
    direct, relayed = resp.get_json()
    assert direct == {
        "subnet": "192.0.2.0/26",
        "pools": ["192.0.2.10-192.0.2.20"],
        "router": "192.0.2.1",
        "dns_servers": [],
        "domain": None,
        "lease_time": 900,
        "next_server": "192.0.2.1",
        "bios_loader": "pxelinux",
        "uefi_loader": "syslinux",
        "reservations": {},
    }
    assert relayed["next_server"] == "192.0.2.60"
    assert relayed["uefi_loader"] == "ipxe"
    assert relayed["router"] is None
    assert relayed["reservations"] == {"52:54:00:c0:02:09": "192.0.2.70"}
