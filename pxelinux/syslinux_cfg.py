"""A parser for syslinux.cfg / isolinux.cfg / pxelinux.cfg files.

Reads the directives the provisioner cares about (DEFAULT, TIMEOUT, PROMPT,
DISPLAY, LABEL, KERNEL/LINUX, APPEND, INITRD, IPAPPEND, LOCALBOOT, MENU ...),
recognises the rest of syslinux's vocabulary so it is not mistaken for garbage,
and reports every line syslinux itself would ignore -- above all the paper's
trap: dot-options wrapped onto the lines after ``APPEND``, which syslinux
silently drops (``ip.`` and all). Keywords are case-insensitive. Pure: text in,
:class:`SyslinuxConfig` out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Directives that introduce a kernel for the label.
KERNEL_KEYWORDS = frozenset(
    {"kernel", "linux", "boot", "bss", "pxe", "fdimage", "comboot", "com32", "config"}
)
#: Everything else syslinux understands (recognised, not used).
OTHER_KEYWORDS = frozenset(
    {
        "ui",
        "ontimeout",
        "onerror",
        "serial",
        "console",
        "font",
        "kbdmap",
        "noescape",
        "nocomplete",
        "allowoptions",
        "implicit",
        "include",
        "say",
        "path",
        "nohalt",
        "totaltimeout",
        "sysappend",
        "text",
        "endtext",
        "f1",
        "f2",
        "f3",
        "f4",
        "f5",
        "f6",
        "f7",
        "f8",
        "f9",
        "f10",
        "f11",
        "f12",
        "menu",
        "localboot",
        "display",
        "prompt",
        "timeout",
        "default",
        "label",
        "append",
        "initrd",
        "ipappend",
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class Label:
    name: str
    line: int
    kernel: str | None = None
    kernel_keyword: str | None = None
    append: str | None = None
    append_line: int | None = None
    initrd: str | None = None
    ipappend: int | None = None
    localboot: int | None = None
    menu_label: str | None = None
    #: lines after APPEND that syslinux ignores: (line number, text)
    wrapped: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class SyslinuxConfig:
    default: str | None = None
    timeout: int | None = None
    prompt: int | None = None
    display: str | None = None
    ui: str | None = None
    global_append: str | None = None
    labels: list[Label] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: name -> its first label; kept by :func:`parse_syslinux` (a lookup per LABEL
    #: line must not walk every label before it: 100k labels parse in linear time)
    by_name: dict[str, Label] = field(default_factory=dict, repr=False)

    def label(self, name: str) -> Label | None:
        return self.by_name.get(name)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _int(value: str, lineno: int, what: str, problems: list[Problem]) -> int | None:
    try:
        return int(value.split(maxsplit=1)[0], 0) if value else None
    except ValueError:
        problems.append(Problem(lineno, f"{what} {value!r} is not a number"))
        return None


def parse_syslinux(text: str) -> SyslinuxConfig:
    cfg = SyslinuxConfig()
    current: Label | None = None
    last_directive: str | None = None  # keyword of the last real directive
    in_text_block = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if in_text_block:
            if line.lower() == "endtext":
                in_text_block = False
            continue
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.lower()
        rest = rest.strip()
        if keyword not in KERNEL_KEYWORDS and keyword not in OTHER_KEYWORDS:
            _stray(cfg, current, last_directive, lineno, line)
            continue
        last_directive = keyword
        if keyword == "label":
            if not rest:
                cfg.problems.append(Problem(lineno, "LABEL without a name"))
                current = None
                continue
            current = Label(name=rest, line=lineno)
            if rest in cfg.by_name:
                cfg.problems.append(Problem(lineno, f"label {rest!r} is defined twice"))
            else:
                cfg.by_name[rest] = current
            cfg.labels.append(current)
        elif keyword == "default":
            cfg.default = rest or None
        elif keyword == "timeout":
            cfg.timeout = _int(rest, lineno, "TIMEOUT", cfg.problems)
        elif keyword == "prompt":
            cfg.prompt = _int(rest, lineno, "PROMPT", cfg.problems)
        elif keyword == "display":
            cfg.display = rest or None
        elif keyword == "ui":
            cfg.ui = rest or None
        elif keyword == "text":
            in_text_block = rest.lower() == "help"
        elif current is None:
            if keyword == "append":
                cfg.global_append = rest
            elif keyword in KERNEL_KEYWORDS or keyword in {"initrd", "localboot"}:
                cfg.problems.append(
                    Problem(lineno, f"{keyword.upper()} outside a LABEL is ignored", "warning")
                )
        else:
            _label_directive(current, keyword, rest, lineno, cfg.problems)
    if cfg.default and cfg.labels and not cfg.label(cfg.default.split()[0]):
        cfg.problems.append(
            Problem(0, f"DEFAULT {cfg.default!r} names no label in this file", "warning")
        )
    return cfg


def _label_directive(
    label: Label, keyword: str, rest: str, lineno: int, problems: list[Problem]
) -> None:
    if keyword in KERNEL_KEYWORDS:
        label.kernel, label.kernel_keyword = rest, keyword
    elif keyword == "append":
        # "APPEND -" means: no options at all, not even the global ones
        label.append, label.append_line = ("" if rest == "-" else rest), lineno
    elif keyword == "initrd":
        label.initrd = rest or None
    elif keyword in {"ipappend", "sysappend"}:
        label.ipappend = _int(rest, lineno, keyword.upper(), problems)
    elif keyword == "localboot":
        label.localboot = _int(rest, lineno, "LOCALBOOT", problems)
    elif keyword == "menu":
        sub, _, value = rest.partition(" ")
        if sub.lower() == "label":
            label.menu_label = value.strip()


def _stray(
    cfg: SyslinuxConfig, current: Label | None, last: str | None, lineno: int, line: str
) -> None:
    """A line syslinux does not understand and skips."""
    if current is not None and last == "append" and current.append_line is not None:
        current.wrapped.append((lineno, line))
        cfg.problems.append(
            Problem(
                lineno,
                f"{line!r} continues the APPEND of label {current.name!r} (line "
                f"{current.append_line}) on a new line; syslinux reads only the APPEND line "
                "itself and ignores this one, so these options would be lost. Put "
                "everything under APPEND on one line.",
            )
        )
        return
    cfg.problems.append(
        Problem(lineno, f"{line!r} is not a syslinux directive; syslinux ignores it")
    )
