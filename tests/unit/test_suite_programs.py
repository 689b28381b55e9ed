"""The check that every program the suite runs comes from a listed Debian package
(:mod:`tests.support.programs`), and the package lists themselves."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from media import initrd, loader, releaseboot, releasefacts
from tests.support import programs
from tests.support.programs import Package, judge, programs_of, provided_packages

ROOT = Path(__file__).resolve().parents[2]
RUN_LIST = ROOT / "scripts" / "packages-run.txt"
TEST_LIST = ROOT / "scripts" / "packages-test.txt"
VENV = Path("/work/venv")


def needs_dpkg() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian machine (no dpkg-query)")


# -- which programs an argv runs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ip", "netns", "exec", "prov-1-2", "dig", "x"], ["ip", "dig"]),
        (["ip", "-n", "prov-1", "link", "show"], ["ip"]),
        (["ip", "-all", "netns", "exec", "ss", "-l"], ["ip", "ss"]),
        (["timeout", "-k", "5", "30", "qemu-system-x86_64", "-m", "256"],
         ["timeout", "qemu-system-x86_64"]),
        (["timeout", "--signal=INT", "10s", "curl"], ["timeout", "curl"]),
        (["env", "-u", "X", "A=B", "C=D", "dhclient", "-v"], ["env", "dhclient"]),
        (["nsenter", "-t", "42", "-n", "-m", "--", "tcpdump", "-i", "br0"],
         ["nsenter", "tcpdump"]),
        (["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/initdb"],
         ["runuser", "/usr/lib/postgresql/15/bin/initdb"]),
        (["ip", "netns", "exec", "ns", "timeout", "9", "env", "A=1", "atftp"],
         ["ip", "timeout", "env", "atftp"]),
        (["busybox", "udhcpc", "-i", "eth0"], ["busybox"]),
        (["/usr/bin/cpio", "-t"], ["/usr/bin/cpio"]),
        ([], []),
    ],
)  # fmt: skip
def test_wrappers_are_unwrapped_to_every_program_they_run(
    argv: list[str], expected: list[str]
) -> None:
    assert programs_of(argv) == expected


def test_sh_c_runs_sh_and_the_first_word_of_each_command_and_what_exec_dollar_at_names() -> None:
    mount = 'mount -t tmpfs -o size=24m tmpfs "$PROVISIONER_DATA_DIR" && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh",
            "/venv/bin/provisioner", "serve"]  # fmt: skip
    assert programs_of(argv) == ["unshare", "sh", "mount", "/venv/bin/provisioner"]


def test_sh_c_skips_builtins_keywords_assignments_and_variables() -> None:
    script = 'set -e; X=1 cpio -t | gzip -c > out\nif test -x "$F"; then exec busybox ls; fi; $CMD'
    assert programs_of(["sh", "-e", "-c", script]) == ["sh", "cpio", "gzip", "busybox"]
    assert programs_of(["sh", "script.sh"]) == ["sh"]  # a script file: not parsed
    assert programs_of(["sh", "-c", "echo 'unterminated"]) == ["sh"]


# -- recording ---------------------------------------------------------------------------


def _fake_bin(tmp_path: Path, *names: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in names:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return bindir


def test_the_recorder_resolves_bare_names_on_the_path_the_process_gets(tmp_path: Path) -> None:
    bindir = _fake_bin(tmp_path, "wrapped", "inner", "timeout")
    rec = programs.Recorder()
    env = {"PATH": str(bindir)}
    rec.on_event("subprocess.Popen", (None, ["wrapped", "x"], None, env))
    # an explicit executable is what runs, whatever argv[0] says
    rec.on_event("subprocess.Popen", ("timeout", ["t", "5", "inner"], None, env))
    rec.on_event("os.posix_spawn", ("./inner", ["inner"], env))
    here = os.path.normpath(os.path.join(os.getcwd(), "inner"))
    assert set(rec.seen) == {str(bindir / n) for n in ("wrapped", "timeout", "inner")} | {here}
    rec.on_event("os.exec", (b"nowhere-to-be-found", [b"nowhere-to-be-found"], env))
    assert "nowhere-to-be-found" in rec.missing


def test_the_recorder_sees_a_real_subprocess_and_never_breaks_one(tmp_path: Path) -> None:
    rec = programs.Recorder()
    rec.on_event("open", ("/etc/passwd", "r", 0))  # not a process: ignored
    rec.on_event("subprocess.Popen", (None, object(), None, 42))  # odd arguments: no error
    rec.on_event("os.system", ("true",))
    assert list(rec.seen) == ["/bin/sh"]
    sys.addaudithook(rec.on_event)  # hooks stay for the process; this one is cheap
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    rec.paused = True
    assert sys.executable in rec.seen
    assert rec.seen[sys.executable].startswith("tests/unit/test_suite_programs.py::")


def test_programs_a_forked_child_starts_reach_the_parent_through_the_spool(
    tmp_path: Path,
) -> None:
    bindir = _fake_bin(tmp_path, "child-prog")
    rec = programs.Recorder(spool=tmp_path / "spool.jsonl")
    pid = os.fork()
    if pid == 0:  # the child records and leaves at once
        rec.on_event("subprocess.Popen", (None, ["child-prog"], None, {"PATH": str(bindir)}))
        os._exit(0)
    os.waitpid(pid, 0)
    assert rec.seen == {}
    rec.collect()
    assert str(bindir / "child-prog") in rec.seen


# -- judging -----------------------------------------------------------------------------

INSTALLED = {
    p.name: p
    for p in (
        Package("dash", "required", True),
        Package("coreutils", "required", True, "libc6 (>= 2.34)"),
        Package("libc6", "required"),
        Package("postgresql", "optional", depends="postgresql-15"),
        Package("postgresql-15", "optional", depends="postgresql-common (>= 241), libc6"),
        Package("postgresql-common", "optional"),
        Package("iproute2", "important", depends="libc6, libbpf1 | libbpf0 [amd64]"),
        Package("libbpf1", "optional"),
        Package("dnsutils", "optional", depends="bind9-dnsutils:any"),
        Package("bind9-dnsutils", "optional"),
        Package("gawk", "optional", provides=("awk",)),
        Package("needs-awk", "optional", depends="awk"),
        Package("cpio", "important"),
        Package("first-alt-absent", "optional", depends="not-installed-here | libbpf1"),
    )
}
LISTS = {
    "packages-test.txt": ["postgresql", "iproute2", "dnsutils", "first-alt-absent", "needs-awk"]
}


def test_dependencies_are_split_into_alternatives_without_versions_or_qualifiers() -> None:
    text = "a (>= 1.2), b:any | c [amd64] <!nocheck>, , d"
    assert programs.parse_depends(text) == [["a"], ["b", "c"], ["d"]]


def test_a_listed_package_what_it_pulls_in_and_a_bare_debians_packages_are_provided() -> None:
    why = provided_packages(LISTS, INSTALLED)
    assert why["postgresql"] == "packages-test.txt"
    assert why["postgresql-15"] == "via postgresql (packages-test.txt)"
    assert why["postgresql-common"] == "via postgresql-15 (packages-test.txt)"
    assert why["bind9-dnsutils"] == "via dnsutils (packages-test.txt)"
    assert why["libbpf1"] == "via iproute2 (packages-test.txt)"  # the first alternative
    assert why["libc6"] == "Debian base"  # required; also pulled in by iproute2
    assert why["gawk"] == "via needs-awk (packages-test.txt)"  # provides the virtual awk
    assert why["dash"] == "Debian base"
    assert why["coreutils"] == "Debian base"
    assert "cpio" not in why  # installed here, but nothing brings it


def test_a_program_from_an_unlisted_package_fails_with_what_to_add() -> None:
    why = provided_packages(LISTS, INSTALLED)
    verdict = judge("/usr/bin/cpio", "cpio", why, VENV, [], test="t.py::test_x")
    assert not verdict.ok
    assert verdict.problem() == (
        "/usr/bin/cpio → cpio → not in scripts/packages-*.txt: "
        "add it to scripts/packages-test.txt (first run by t.py::test_x)"
    )


def test_a_program_from_a_listed_a_pulled_in_or_a_base_package_passes() -> None:
    why = provided_packages(LISTS, INSTALLED)
    assert judge("/usr/sbin/ip", "iproute2", why, VENV, []).ok
    initdb = judge("/usr/lib/postgresql/15/bin/initdb", "postgresql-15", why, VENV, [])
    assert initdb.ok
    assert initdb.why == "via postgresql (packages-test.txt)"
    assert judge("/usr/bin/sh", "dash", why, VENV, []).why == "Debian base"


def test_venv_programs_and_programs_the_tests_built_pass_but_other_unowned_ones_fail(
    tmp_path: Path,
) -> None:
    assert judge(str(VENV / "bin" / "python"), None, {}, VENV, []).ok
    assert judge(str(tmp_path / "a.out"), None, {}, VENV, [tmp_path]).ok
    stray = judge("/opt/vendor/bin/tool", None, {}, VENV, [tmp_path])
    assert not stray.ok
    assert "no Debian package" in stray.problem()
    assert "add it to scripts/packages-test.txt" in stray.problem()


def test_dpkg_is_asked_for_a_program_under_every_name_usr_merge_gives_it() -> None:
    assert programs.path_candidates("/usr/sbin/mke2fs")[:2] == ["/usr/sbin/mke2fs", "/sbin/mke2fs"]
    assert programs.path_candidates("/bin/sh")[:2] == ["/bin/sh", "/usr/bin/sh"]


def test_programs_map_to_their_packages_through_usr_merge_and_alternatives() -> None:
    needs_dpkg()
    sh = shutil.which("sh")
    assert sh is not None
    found = programs.owners([sh, "/no/such/program"])
    assert found[sh] == "dash"
    assert "/no/such/program" not in found
    awk = shutil.which("awk")  # /usr/bin/awk -> /etc/alternatives/awk -> mawk (or gawk)
    assert awk is not None
    assert programs.owners([awk])[awk] in {"mawk", "gawk", "original-awk"}


# -- the whole run -----------------------------------------------------------------------


def _inner_run(tmp_path: Path, listed: str) -> subprocess.CompletedProcess[str]:
    """A pytest run whose one test starts ``ip -V``, with a package list of its own."""
    needs_dpkg()
    if shutil.which("ip") is None:
        pytest.skip("iproute2 not installed")
    (tmp_path / "list.txt").write_text(listed)
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(f"""
            from pathlib import Path
            from tests.support import programs

            REC = programs.Recorder()
            REC.install()

            def pytest_configure(config):
                lists = (Path({str(tmp_path / "list.txt")!r}),)
                config.pluginmanager.register(programs.ProgramCheck(REC, lists), "progs")
        """)
    )
    (tmp_path / "test_inner.py").write_text(
        "import subprocess\n\n"
        "def test_it():\n"
        "    subprocess.run(['ip', '-V'], check=True, capture_output=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_program_from_an_unlisted_package_fails_the_run(tmp_path: Path) -> None:
    result = _inner_run(tmp_path, "curl  # not iproute2\n")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "/usr/sbin/ip → iproute2 → not in scripts/packages-*.txt: " in result.stdout
    assert "add it to scripts/packages-test.txt (first run by test_inner.py::test_it)" in (
        result.stdout
    )


def test_a_run_whose_programs_are_all_listed_passes(tmp_path: Path) -> None:
    result = _inner_run(tmp_path, "iproute2\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "external programs: 1 run, 0 not provided" in result.stdout


# -- the lists and the boot environment's host files -------------------------------------


def test_the_lists_are_read_as_scripts_lib_sh_reads_them(tmp_path: Path) -> None:
    f = tmp_path / "l.txt"
    f.write_text("# heading\na   # comment\n\n  b c\n#d\n")
    assert programs.read_package_list(f) == ["a", "b", "c"]
    assert "cpio" in programs.read_package_list(TEST_LIST)


@pytest.mark.parametrize("listing", [RUN_LIST, TEST_LIST], ids=lambda p: p.name)
def test_every_listed_package_exists_in_apt(listing: Path) -> None:
    if shutil.which("apt-cache") is None:
        pytest.skip("not a Debian machine (no apt-cache)")
    names = programs.read_package_list(listing)
    assert names
    shown = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", *names],
        capture_output=True, text=True, timeout=300, check=False,
    ).stdout  # fmt: skip
    known = {line.split()[1] for line in shown.splitlines() if line.startswith("Package: ")}
    unknown = sorted(set(names) - known)
    assert unknown == [], f"{listing.name} names packages apt does not know: {unknown}"


def _programs_initrd_runs() -> set[str]:
    """The first word of every argv list literal media/initrd.py and the release boot
    builder (media/releasefacts.py, media/releaseboot.py: ``image add``) run."""
    found: set[str] = set()
    for module in (initrd, releasefacts, releaseboot):
        found |= _programs_run_by(module)
    return found


def _programs_run_by(module: ModuleType) -> set[str]:
    """The first word of every argv list literal ``module`` runs."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = ast.unparse(node.func)
        argv = node.args[0]
        if name in {"_run", "subprocess.run", "subprocess.Popen"} and isinstance(argv, ast.List):
            first = argv.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
            elif isinstance(first, ast.Name):
                found.add(getattr(module, first.id))
    return found


def test_the_boot_environment_takes_host_files_and_programs_from_packages_run_txt() -> None:
    """``scripts/run`` installs packages-run.txt only: what media/initrd.py copies into
    the initramfs (busybox, sfdisk, mke2fs) and the programs it runs must come from it."""
    needs_dpkg()
    ran = _programs_initrd_runs()
    assert {"apt-cache", "apt-get", "dpkg-deb", "depmod", "ldd", initrd.BUSYBOX} <= ran
    assert {"unsquashfs", "zstd"} <= ran
    wanted = {initrd.BUSYBOX, *initrd.TOOLS}
    for name in ran - wanted:
        where = shutil.which(name)
        assert where is not None, f"{name} (run by media/initrd.py) is not installed"
        wanted.add(where)
    owned = programs.owners(wanted)
    provided = provided_packages(
        {RUN_LIST.name: programs.read_package_list(RUN_LIST)}, programs.installed_packages()
    )
    verdicts = [judge(p, owned.get(p), provided, VENV, []) for p in sorted(wanted)]
    bad = [v.problem().replace("packages-test.txt", "packages-run.txt") for v in verdicts
           if not v.ok]  # fmt: skip
    assert bad == []
    by_program = {v.program: v.package for v in verdicts}
    assert by_program[initrd.BUSYBOX] == "busybox-static"


def test_the_disk_loader_is_built_with_programs_from_packages_run_txt() -> None:
    """media/loader.py runs on the server too: grub-mkimage (grub-common, pulled in by
    grub-pc-bin), mformat and mcopy (mtools), and dpkg-query."""
    needs_dpkg()
    ran = _programs_run_by(loader)
    assert ran == {"dpkg-query", "grub-mkimage", "mformat", "mcopy"}
    wanted = {str(shutil.which(name)) for name in ran}
    owned = programs.owners(wanted)
    provided = provided_packages(
        {RUN_LIST.name: programs.read_package_list(RUN_LIST)}, programs.installed_packages()
    )
    verdicts = [judge(p, owned.get(p), provided, VENV, []) for p in sorted(wanted)]
    assert [v.problem() for v in verdicts if not v.ok] == []
    assert {"grub-pc-bin", "grub-efi-amd64-bin"} <= set(
        programs.read_package_list(RUN_LIST)
    )  # their module directories, which grub-mkimage reads
