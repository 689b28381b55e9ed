"""``provisioner user``: console accounts from the command line; the password
comes from standard input (or a prompt), never from the arguments."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from provisioner.cli import main
from provisioner.config import load_settings
from provisioner.db import open_store
from provisioner.passwords import verify_password


def _cli(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    env = {"PROVISIONER_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(main, list(args), input=stdin, env=env)
    return result.exit_code, result.output


def test_users_are_added_listed_given_a_new_password_and_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out = _cli(data, "user", "add", "vera", "--role", "operator", stdin="first-password\n")
    assert (code, out.strip().splitlines()[-1]) == (0, "user vera (operator) added")
    assert _cli(data, "user", "list")[1].split("\t")[:2] == ["vera", "operator"]
    assert _cli(data, "user", "passwd", "vera", stdin="second-password\n")[0] == 0
    store = open_store(load_settings({}, overrides={"data_dir": str(data)}))
    try:
        user = store.find_user("vera")
        assert user is not None
        assert verify_password("second-password", user.password_hash)
        assert "first-password" not in user.password_hash
        assert [e.kind for e in store.list_events()][:2] == ["user.password", "user.added"]
    finally:
        store.close()
    assert _cli(data, "user", "remove", "vera")[0] == 0
    assert _cli(data, "user", "list")[1].strip() == ""
    code, out = _cli(data, "user", "remove", "vera")
    assert code != 0
    assert "vera" in out


def test_a_short_password_or_a_bad_name_or_role_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out = _cli(data, "user", "add", "vera", "--role", "viewer", stdin="short\n")
    assert code != 0
    assert "password" in out
    code, out = _cli(data, "user", "add", "<b>", "--role", "viewer", stdin="long-enough-pw\n")
    assert code != 0
    assert "user name" in out
    assert _cli(data, "user", "add", "vera", "--role", "root", stdin="long-enough-pw\n")[0] == 2


def test_there_is_no_password_option(tmp_path: Path) -> None:
    code, out = _cli(tmp_path / "d", "user", "add", "vera", "--role", "viewer", "--password", "x")
    assert code == 2
    assert "No such option" in out


def test_a_token_cannot_have_the_operator_role(tmp_path: Path) -> None:
    code, _ = _cli(tmp_path / "d", "token", "create", "--role", "operator")
    assert code == 2
