"""MAC/hostname/name validation (provisioner.domain) and layered settings (provisioner.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.config import env_name, fields, load_settings
from provisioner.domain import (
    normalize_mac,
    parse_release_ref,
    validate_boot_path,
    validate_hostname,
)
from provisioner.errors import ConfigError, ValidationError


@pytest.mark.parametrize(
    "spelling",
    [
        "52:54:00:C0:02:0A",
        "52-54-00-c0-02-0a",
        "5254.00c0.020a",
        "525400c0020a",
        "01-52-54-00-c0-02-0a",
        " 52:54:00:c0:02:0a ",
    ],
)
def test_any_common_mac_spelling_normalises_to_lower_case_colons(spelling: str) -> None:
    assert normalize_mac(spelling) == "52:54:00:c0:02:0a"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "zz:zz:zz:zz:zz:zz",
        "52:54:00:c0:02",
        "52:54:00:c0:02:0a:0b",
        "5254.00c0.020",
        "52:54:0:c0:02:0a0",
        "01:00:5e:00:00:01",
        "00:00:00:00:00:00",
        "52:54:00:c0:02:0a\nx",
        42,
    ],
)
def test_bad_macs_are_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        normalize_mac(bad, "mac")
    assert err.value.field == "mac"


@pytest.mark.parametrize("name", ["box1", "avbox251", "rack-2.site.example", "A1"])
def test_valid_hostnames(name: str) -> None:
    assert validate_hostname(name) == name.lower()


@pytest.mark.parametrize("name", ["", "-box", "box-", "box_1", "a b", "a;b", "x" * 64, 7])
def test_invalid_hostnames(name: object) -> None:
    with pytest.raises(ValidationError, match="hostname"):
        validate_hostname(name)


def test_release_reference_is_name_colon_version() -> None:
    assert parse_release_ref("avbox:2.0") == ("avbox", "2.0")
    for bad in ("avbox", "a:b:c", ":2.0", "avbox:", "a b:1"):
        with pytest.raises(ValidationError):
            parse_release_ref(bad)


@pytest.mark.parametrize(
    "bad", ["../vmlinuz", "/etc/passwd", "a//b", "vm linuz", "a;b", "http://x/${y}", "ftp://x/y"]
)
def test_boot_paths_must_be_relative_or_http_tftp_urls(bad: str) -> None:
    with pytest.raises(ValidationError):
        validate_boot_path(bad, "kernel")


# -- settings ----------------------------------------------------------------
ENV_EXAMPLES = {
    "data_dir": ("/srv/x", Path("/srv/x")),
    "database_url": ("sqlite:///x.db", "sqlite:///x.db"),
    "db_busy_timeout": ("3.5", 3.5),
    "auto_migrate": ("false", False),
    "http": ("127.0.0.1:9", "127.0.0.1:9"),
    "http_workers": ("3", 3),
    "http_threads": ("4", 4),
    "http_header_timeout": ("2.5", 2.5),
    "http_body_timeout": ("60", 60.0),
    "http_max_per_client": ("9", 9),
    "http_max_connections": ("500", 500),
    "http_small_body": ("1024", 1024),
    "server_ip": ("192.0.2.1", "192.0.2.1"),
    "tftp": ("0.0.0.0:69", "0.0.0.0:69"),
    "dns": ("0.0.0.0:53", "0.0.0.0:53"),
    "dhcp": ("proxy", "proxy"),
    "interface": ("br0", "br0"),
    "domain": ("lab.test", "lab.test"),
    "unknown_macs": ("menu", "menu"),
    "menu_default": ("linux", "linux"),
    "menu_timeout": ("50", 50),
    "log_level": ("DEBUG", "DEBUG"),
    "dhcp_pool": ("192.0.2.100-192.0.2.199", "192.0.2.100-192.0.2.199"),
    "dhcp_lease_time": ("600", 600),
    "dhcp_router": ("192.0.2.1", "192.0.2.1"),
    "dhcp_dns_servers": ("192.0.2.1", "192.0.2.1"),
    "dhcp_netmask": ("255.255.255.0", "255.255.255.0"),
    "dhcp_subnets": ('[{"subnet": "192.0.2.64/26"}]', ({"subnet": "192.0.2.64/26"},)),
    "dns_upstream": ("192.0.2.53:53", "192.0.2.53:53"),
    "dns_ttl": ("30", 30),
    "loaders_dir": ("/srv/loaders", "/srv/loaders"),
    "bios_loader": ("ipxe", "ipxe"),
    "uefi_loader": ("ipxe", "ipxe"),
    "tftp_max_sessions": ("2000", 2000),
    "tftp_max_blksize": ("8192", 8192),
    "upload_max_bytes": ("1000000", 1000000),
    "media_gc_grace_hours": ("0.5", 0.5),
    "accel_redirect": ("/_media/", "/_media/"),
    "install_window_hours": ("2.5", 2.5),
    "slot_size_mib": ("64", 64),
    "boot_tries": ("5", 5),
    "report_interval": ("30", 30),
    "confirm_minutes": ("2.5", 2.5),
    "ipxe_script": ("off", False),
    "media_url": ("http://192.0.2.1/media/", "http://192.0.2.1/media/"),
    "console_idle_minutes": ("5", 5.0),
    "console_https": ("on", True),
}


@pytest.mark.parametrize("f", fields(), ids=lambda f: f.name)
def test_every_setting_has_an_environment_variable(f: object) -> None:
    name = f.name  # type: ignore[attr-defined]
    assert name in ENV_EXAMPLES, f"add {name} to ENV_EXAMPLES"
    raw, expected = ENV_EXAMPLES[name]
    assert getattr(load_settings({env_name(name): raw}), name) == expected


def test_layers_apply_in_order_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('http = "127.0.0.1:1000"\nhttp_workers = 5\ndomain = "file.test"\n')
    env = {"PROVISIONER_HTTP": "127.0.0.1:2000", "PROVISIONER_DOMAIN": "env.test"}
    s = load_settings(env, cfg, {"domain": "flag.test"})
    assert (s.http, s.http_workers, s.domain, s.menu_timeout) == (
        "127.0.0.1:2000",
        5,
        "flag.test",
        100,
    )


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text('domain = "from.file"\n')
    assert load_settings({"PROVISIONER_CONFIG": str(cfg)}).domain == "from.file"


def test_database_defaults_to_sqlite_inside_the_data_dir(tmp_path: Path) -> None:
    s = load_settings({"PROVISIONER_DATA_DIR": str(tmp_path)})
    assert s.effective_database_url == f"sqlite:///{tmp_path}/provisioner.db"


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"PROVISIONER_HTTP_WORKERS": "many"}, "PROVISIONER_HTTP_WORKERS"),
        ({"PROVISIONER_DHCP": "yes"}, "PROVISIONER_DHCP"),
        ({"PROVISIONER_HTTP": "localhost"}, "http"),
        ({"PROVISIONER_AUTO_MIGRATE": "maybe"}, "PROVISIONER_AUTO_MIGRATE"),
        ({"PROVISIONER_DATADIR": "/x"}, "PROVISIONER_DATADIR"),
        ({"PROVISIONER_SERVER_IP": "192.0.2.300"}, "server_ip"),
    ],
)
def test_bad_settings_are_errors_naming_their_source(env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert err.value.source == source


def test_unknown_or_broken_config_file_keys_are_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings({}, cfg)
    cfg.write_text("http = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, cfg)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, tmp_path / "missing.toml")


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(AttributeError):
        s.http = "x"  # type: ignore[misc]


def test_configuration_doc_table_is_generated_from_the_settings() -> None:
    """Run `python scripts/gen-config-doc.py` after changing a setting."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "gen-config-doc.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.table() in (root / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("http_header_timeout", "0"),
        ("http_body_timeout", "7200"),
        ("http_max_per_client", "0"),
        ("http_max_connections", "-1"),
        ("http_small_body", "0"),
    ],
)
def test_http_front_limits_out_of_range_are_refused_naming_the_setting(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({env_name(name): raw})
