"""Every external program the test suite runs comes from a package the lists install.

``scripts/test`` installs the Debian packages named in ``scripts/packages-run.txt``
and ``scripts/packages-test.txt``; a program the tests run that neither list brings
(nor a bare Debian 12 always has) works on a developer's machine and fails on a
fresh one. So :class:`Recorder` watches, through an audit hook, every process this
pytest process starts (``subprocess``, ``asyncio`` subprocesses, ``os.exec*``,
``os.posix_spawn*``, ``os.system``), unwraps the wrappers the suite uses (``ip
netns exec``, ``timeout``, ``env``, ``nsenter``, ``unshare``, ``runuser``, ``sh
-c``) and resolves each program on PATH when it starts; :class:`ProgramCheck` (a
pytest plugin) maps each program to its package at the end of the session and
fails the run for one that comes from an unlisted package.

A program is fine when its package is named in a list, or is pulled in by one
named there (Depends/Pre-Depends, as apt would), or belongs to a bare Debian 12
(Priority: required or Essential: yes, and what those depend on); a program inside
the project's ``.venv`` is pip's business; one no package owns is fine only under
the temp dir or the repository (built by a test). Python processes the tests start
run their own programs unseen; the only production code that runs programs is
``media/initrd.py`` and ``media/loader.py``, which ``tests/unit/test_suite_programs.py``
checks statically.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTS = (ROOT / "scripts" / "packages-run.txt", ROOT / "scripts" / "packages-test.txt")
FIX = "add it to scripts/packages-test.txt"

# -- the lists ------------------------------------------------------------------------


def read_package_list(path: Path) -> list[str]:
    """Package names in a list file, as ``scripts/lib.sh`` reads it ('#' comments)."""
    return [w for line in path.read_text().splitlines() for w in line.split("#", 1)[0].split()]


# -- which programs an argv runs ---------------------------------------------------------

#: Options that take a separate argument, per wrapper (the others are flags or attached).
_OPTS_WITH_ARG = {
    "timeout": {"-k", "-s", "--kill-after", "--signal"},
    "env": {"-u", "-C", "--unset", "--chdir"},
    "nsenter": {"-t", "-S", "-G", "--target", "--setuid", "--setgid"},
    "unshare": {
        "-S", "-G", "-R", "-w", "--setuid", "--setgid", "--root", "--wd", "--propagation",
        "--setgroups", "--map-user", "--map-group", "--map-users", "--map-groups",
        "--monotonic", "--boottime",
    },
    "runuser": {"-u", "-g", "-G", "-w", "-s", "--user", "--group", "--supp-group", "--shell"},
    "setsid": set(),
    "nice": {"-n", "--adjustment"},
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-R", "-T", "-U", "--user", "--group"},
}  # fmt: skip
_IP_OPTS_WITH_ARG = {"-n", "-netns", "-b", "-batch", "-rc", "-rcvbuf", "-f", "-family", "-l"}
_SHELLS = {"sh", "dash", "bash"}
#: dash's builtins and the keywords that start a compound command: no program runs.
_BUILTINS = frozenset((
    ":", ".", "[", "alias", "bg", "break", "cd", "command", "continue", "echo", "eval", "exec",
    "exit", "export", "false", "fg", "getopts", "hash", "jobs", "kill", "local", "printf",
    "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true",
    "type", "ulimit", "umask", "unalias", "unset", "wait",
))  # fmt: skip
_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
_OPERATORS = {";", ";;", "&", "&&", "|", "||", "(", ")", "\n"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def programs_of(argv: Sequence[str]) -> list[str]:
    """The programs ``argv`` runs, outermost first: ``["ip", "netns", "exec", "ns",
    "timeout", "5", "dig"]`` runs ip, timeout and dig. Names stay as written."""
    if not argv:
        return []
    found = [argv[0]]
    for inner in _inner_commands(os.path.basename(argv[0]), list(argv[1:])):
        found += programs_of(inner)
    return found


def _skip_options(name: str, args: list[str]) -> list[str]:
    with_arg = _OPTS_WITH_ARG.get(name, set())
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[i + 1 :]
        if name == "env" and (a == "-" or _ASSIGNMENT.match(a)):
            i += 1
            continue
        if not a.startswith("-") or a == "-":
            break
        i += 2 if a in with_arg else 1
    return args[i:]


def _inner_commands(name: str, args: list[str]) -> list[list[str]]:
    if name == "ip":
        i, every = 0, False
        while i < len(args) and args[i].startswith("-"):
            every = every or args[i] in {"-a", "-all"}
            i += 2 if args[i] in _IP_OPTS_WITH_ARG else 1
        if args[i : i + 2] == ["netns", "exec"]:
            cmd = args[i + 2 :] if every else args[i + 3 :]
            return [cmd] if cmd else []
        return []
    if name in _SHELLS:
        return _shell_commands(args)
    if name not in _OPTS_WITH_ARG:
        return []
    cmd = _skip_options(name, args)
    if name == "timeout":
        cmd = cmd[1:]  # the duration
    return [cmd] if cmd else []


def _shell_commands(args: list[str]) -> list[list[str]]:
    """``sh [-opts] -c SCRIPT [NAME [ARG...]]``: the first word of each simple command
    of SCRIPT (a best effort: no case, for, functions or here-documents); ``"$@"``
    stands for the ARGs. ``sh FILE`` runs whatever FILE says, which is not seen."""
    i = 0
    command = False
    while i < len(args) and args[i][:1] in {"-", "+"}:
        command = command or (args[i][0] == "-" and "c" in args[i][1:])
        i += 2 if args[i] in {"-o", "+o"} else 1
    if not command or i >= len(args):
        return []
    script, params = args[i], args[i + 2 :]
    try:
        lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    found: list[list[str]] = []
    for words in commands:
        while words and (words[0] in _KEYWORDS or words[0] in {"exec", "command"}
                         or _ASSIGNMENT.match(words[0])):  # fmt: skip
            words = words[1:]
        if not words or words[0] in {"for", "case"} or words[0] in _BUILTINS:
            continue
        if words[0] in {"$@", "$*"}:
            found.append(params)
        elif "$" not in words[0] and "`" not in words[0]:
            found.append(words)
    return found


# -- recording what runs -----------------------------------------------------------------


def _text(value: Any) -> str:
    return os.fsdecode(value) if isinstance(value, str | bytes | os.PathLike) else str(value)


def resolve(word: str, path: str | None, cwd: str | None) -> str | None:
    """Where ``word`` runs from: relative paths against ``cwd``, bare names on ``path``."""
    if "/" in word:
        return os.path.normpath(os.path.join(cwd or os.getcwd(), word))
    return shutil.which(word, path=path)


@dataclass
class Recorder:
    """Records the programs this process (and its forks, through ``spool``) starts.

    ``seen`` maps a program's path to the first test that ran it; ``missing`` holds
    names that were not on PATH (nothing ran)."""

    spool: Path | None = None
    seen: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    paused: bool = False
    _pid: int = field(default_factory=os.getpid)

    def install(self) -> None:
        sys.addaudithook(self.on_event)

    def on_event(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook. It never raises: a test must not fail because of it."""
        if self.paused or event not in _EVENTS:
            return
        with contextlib.suppress(Exception):
            self._record(*_EVENTS[event](args))

    def _record(self, executable: Any, argv: Any, cwd: Any, env: Any) -> None:
        argv = [_text(a) for a in argv] if isinstance(argv, list | tuple) else [_text(argv)]
        if executable is not None:
            argv = [_text(executable), *argv[1:]]
        path = env.get("PATH") if isinstance(env, Mapping) else os.environ.get("PATH")
        path = _text(path) if path is not None else os.defpath
        cwd = _text(cwd) if cwd is not None else None
        test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
        for word in programs_of(argv):
            where = resolve(word, path, cwd)
            self._add(self.seen if where else self.missing, where or word, test)

    def _add(self, into: dict[str, str], program: str, test: str) -> None:
        if program in into:
            return
        into[program] = test
        if os.getpid() != self._pid and self.spool is not None:  # a forked child
            kind = "seen" if into is self.seen else "missing"
            with self.spool.open("a") as f:
                f.write(json.dumps([kind, program, test]) + "\n")

    def collect(self) -> None:
        """Take in what forked children wrote to the spool."""
        if self.spool is None or not self.spool.exists():
            return
        for line in self.spool.read_text().splitlines():
            kind, program, test = json.loads(line)
            (self.seen if kind == "seen" else self.missing).setdefault(program, test)


_EVENTS = {
    "subprocess.Popen": lambda a: (a[0], a[1], a[2], a[3]),
    "os.exec": lambda a: (a[0], a[1], None, a[2]),
    "os.posix_spawn": lambda a: (a[0], a[1], None, a[2]),
    "os.system": lambda a: ("/bin/sh", ["sh", "-c", _text(a[0])], None, None),
}


# -- packages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    name: str
    priority: str = ""
    essential: bool = False
    depends: str = ""  # Pre-Depends and Depends, as dpkg writes them
    provides: tuple[str, ...] = ()


def parse_depends(text: str) -> list[list[str]]:
    """``a (>= 1) | b:any, c [amd64] <!nocheck>`` -> ``[["a", "b"], ["c"]]``."""
    groups = []
    for group in text.split(","):
        alts = [re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", a).strip() for a in group.split("|")]
        alts = [a.split(":", 1)[0] for a in alts if a]
        if alts:
            groups.append(alts)
    return groups


def provided_packages(
    lists: Mapping[str, Sequence[str]], installed: Mapping[str, Package]
) -> dict[str, str]:
    """Every installed package a fresh machine would have after ``scripts/test`` -> why.

    The named packages, a bare Debian's (Priority required or Essential) and what
    either depends on (from an alternative ``a | b`` the first one, as apt picks it,
    unless only another is installed here). The reason says the closest of them."""
    providers: dict[str, list[str]] = {}
    for pkg in installed.values():
        for virtual in pkg.provides:
            providers.setdefault(virtual, []).append(pkg.name)

    def choose(alts: list[str]) -> list[str]:
        for alt in alts:
            real = [alt] if alt in installed else providers.get(alt, [])
            if real:
                return real
        return []

    why = {name: list_name for list_name, names in lists.items() for name in names}

    def close(roots: Iterable[tuple[str, str]], via: str) -> None:
        todo, seen = list(roots), set()
        while todo:
            name, reason = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            why.setdefault(name, reason)
            pkg = installed.get(name)
            if pkg is not None:
                todo += [(dep, via.format(name)) for g in parse_depends(pkg.depends)
                         for dep in choose(g)]  # fmt: skip

    base = sorted(p.name for p in installed.values() if p.priority == "required" or p.essential)
    close(((n, "Debian base") for n in base), "Debian base (via {})")
    for list_name, names in lists.items():
        close(((n, list_name) for n in names), f"via {{}} ({list_name})")
    return why


def installed_packages() -> dict[str, Package]:
    fields = "${db:Status-Abbrev}\t${Package}\t${Priority}\t${Essential}\t${Pre-Depends}"
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", fields + ", ${Depends}\t${Provides}\n"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    found: dict[str, Package] = {}
    for line in out.splitlines():
        status, name, priority, essential, depends, provides = line.split("\t")
        if status.startswith("ii"):
            virtual = tuple(g[0] for g in parse_depends(provides))
            found[name] = Package(name, priority, essential == "yes", depends, virtual)
    return found


def path_candidates(program: str) -> list[str]:
    """Names dpkg may know ``program`` by: as called, /usr-merged either way, and the
    file it finally resolves to (symlinks, /etc/alternatives)."""
    out: list[str] = []
    for p in (program, os.path.realpath(program)):
        for top in ("/bin/", "/sbin/", "/lib/", "/lib64/"):
            if p.startswith(top):
                out += [p, "/usr" + p]
            elif p.startswith("/usr" + top):
                out += [p, p[4:]]
        out.append(p)
    return list(dict.fromkeys(out))


def owners(programs: Iterable[str]) -> dict[str, str]:
    """program -> the package dpkg says owns it (first candidate name that one owns)."""
    candidates = {p: path_candidates(p) for p in programs}
    names = sorted({c for cs in candidates.values() for c in cs})
    if not names:
        return {}
    out = subprocess.run(
        ["dpkg-query", "-S", *names], capture_output=True, text=True, check=False, timeout=120
    ).stdout
    owner: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        pkgs, path = line.rsplit(": ", 1)
        owner.setdefault(path, pkgs.split(",")[0].strip().split(":")[0])
    return {
        p: next(owner[c] for c in cs if c in owner)
        for p, cs in candidates.items()
        if any(c in owner for c in cs)
    }


@dataclass(frozen=True)
class Verdict:
    program: str
    package: str  # "" when no package owns it
    ok: bool
    why: str
    test: str = ""

    def problem(self) -> str:
        return (
            f"{self.program} → {self.package or 'no Debian package'} → {self.why}"
            f" (first run by {self.test})"
        )


def judge(
    program: str,
    package: str | None,
    provided: Mapping[str, str],
    venv: Path,
    local_roots: Sequence[Path],
    test: str = "",
) -> Verdict:
    """Whether ``program`` (owned by ``package``, or by none) may run in the suite."""
    if Path(program).is_relative_to(venv):
        return Verdict(program, "", True, "the project's .venv (pip)", test)
    if package:
        if package in provided:
            return Verdict(program, package, True, provided[package], test)
        return Verdict(program, package, False, f"not in scripts/packages-*.txt: {FIX}", test)
    real = Path(os.path.realpath(program))
    if any(Path(program).is_relative_to(r) or real.is_relative_to(r) for r in local_roots):
        return Verdict(program, "", True, "built by the tests (temp dir or repository)", test)
    why = f"not from any Debian package: install it from one and {FIX}"
    return Verdict(program, "", False, why, test)


def check(
    programs: Mapping[str, str],
    lists: Sequence[Path] = LISTS,
    venv: Path | None = None,
    local_roots: Sequence[Path] = (),
) -> list[Verdict]:
    """Judge every recorded program (path -> first test) against the lists."""
    venv = venv or Path(sys.prefix)
    named = {p.name: read_package_list(p) for p in lists}
    provided = provided_packages(named, installed_packages())
    owned = owners(p for p in programs if not Path(p).is_relative_to(venv))
    return [
        judge(p, owned.get(p), provided, venv, local_roots, test)
        for p, test in sorted(programs.items())
    ]


# -- the pytest plugin -------------------------------------------------------------------


class ProgramCheck:
    """Fails the session when a program the tests ran comes from an unlisted package."""

    def __init__(self, recorder: Recorder, lists: Sequence[Path] = LISTS) -> None:
        self.recorder = recorder
        self.lists = lists
        self.verdicts: list[Verdict] = []
        self.note = ""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.recorder.paused = True
        self.recorder.collect()
        if not self.recorder.seen:
            return
        if shutil.which("dpkg-query") is None:
            self.note = "external programs: not checked (no dpkg here)"
            if os.environ.get("PROVISIONER_TEST_NO_SKIPS") != "1":
                return
            self._fail(session, [self.note + ", but PROVISIONER_TEST_NO_SKIPS=1"])
            return
        roots = [Path(tempfile.gettempdir()), ROOT]
        if session.config.option.basetemp:
            roots.append(Path(session.config.option.basetemp).resolve())
        self.verdicts = check(self.recorder.seen, self.lists, local_roots=roots)
        bad = [v.problem() for v in self.verdicts if not v.ok]
        self.note = f"external programs: {len(self.verdicts)} run, {len(bad)} not provided"
        if bad:
            self._fail(session, bad)

    def _fail(self, session: pytest.Session, problems: list[str]) -> None:
        text = "\n".join(["programs the tests ran that scripts/test would not install:", *problems])
        report = pytest.TestReport(
            nodeid="tests/support/programs.py::every_program_comes_from_a_listed_package",
            location=("tests/support/programs.py", None, "external programs"),
            keywords={},
            outcome="failed",
            longrepr=text,
            when="call",
        )
        session.config.hook.pytest_runtest_logreport(report=report)
        session.testsfailed += 1
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if not self.note:
            return
        show = config.get_verbosity() > 0 or any(not v.ok for v in self.verdicts)
        if show and self.verdicts:
            terminalreporter.section("external programs")
            for v in self.verdicts:
                mark = "ok " if v.ok else "BAD"
                package = v.package or "-"
                terminalreporter.line(f"{mark} {v.program:40} {package:22} {v.why}")
            for name in sorted(self.recorder.missing):
                terminalreporter.line(f"--  {name:40} {'-':22} not on PATH (nothing ran)")
        terminalreporter.write_line(self.note)
