"""syslinux.cfg labels -> profiles (``provisioner import-syslinux``). Pure: the
parsed file in, profiles and problems out; :mod:`provisioner.service` stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.bootnames import split_initrd
from provisioner.bootparams import Options
from provisioner.domain import Profile, validate_boot_path, validate_name
from provisioner.errors import ValidationError
from pxelinux.syslinux_cfg import Label, Problem, SyslinuxConfig, parse_syslinux

#: What a network-booted profile appends when the file says nothing: BOOTIF, so
#: the installer knows which NIC it booted from.
DEFAULT_IPAPPEND = 2
#: The largest file an import takes, in bytes and in labels (the API refuses a
#: longer body with a 413 before reading past the limit).
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_IMPORT_LABELS = 100_000


@dataclass
class ImportFindings:
    """What reading the file found, told back whatever is then stored."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class ImportPlan(ImportFindings):
    profiles: list[Profile] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def plan_import(text: str, *, join_wrapped: bool = False) -> ImportPlan:
    """Parse ``text`` and turn each label into a profile named after it.

    Wrapped APPEND lines are errors (syslinux drops them) unless
    ``join_wrapped`` says to join them onto the APPEND line as was meant.
    """
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_IMPORT_BYTES:
        raise ValidationError(
            "syslinux.cfg", f"{size} bytes; an import takes at most {MAX_IMPORT_BYTES}"
        )
    cfg = parse_syslinux(text)
    if len(cfg.labels) > MAX_IMPORT_LABELS:
        raise ValidationError(
            "syslinux.cfg", f"{len(cfg.labels)} labels; an import takes at most {MAX_IMPORT_LABELS}"
        )
    plan = ImportPlan()
    wrapped = {n for lb in cfg.labels for n, _ in lb.wrapped}
    for problem in cfg.problems:
        if join_wrapped and problem.severity == "error" and problem.line in wrapped:
            plan.warnings.append(
                f"line {problem.line}: wrapped text joined onto its APPEND line (--join-wrapped)"
            )
            continue
        if problem.severity == "error":
            plan.problems.append(problem)
        else:
            plan.warnings.append(str(problem))
    for label in cfg.labels:
        try:
            profile = _profile(label, cfg, join_wrapped)
        except ValidationError as exc:
            plan.problems.append(Problem(label.line, f"label {label.name!r}: {exc.message}"))
            continue
        if profile is None:
            plan.skipped.append(label.name)
            plan.warnings.append(
                f"line {label.line}: label {label.name!r} boots no Linux kernel "
                "(LOCALBOOT or a module); not a profile, skipped"
            )
            continue
        plan.warnings += [f"label {label.name!r}: {w}" for w in profile.options.warnings()]
        plan.profiles.append(profile)
    return plan


def _profile(label: Label, cfg: SyslinuxConfig, join_wrapped: bool) -> Profile | None:
    name = validate_name(label.name, "label")
    if label.kernel is None or label.localboot is not None:
        return None
    if label.kernel_keyword not in {"kernel", "linux"}:
        return None
    kernel = validate_boot_path(label.kernel.split()[0], f"line {label.line}: KERNEL")
    append = label.append if label.append is not None else (cfg.global_append or "")
    where = f"line {label.append_line or label.line}: APPEND"
    if join_wrapped and label.wrapped:
        append = " ".join([append, *(text for _, text in label.wrapped)])
    options = Options.parse(append, where)
    initrd = split_initrd(label.initrd, "INITRD")
    return Profile(
        name=name,
        kernel=kernel,
        initrd=initrd,
        options=options,
        ipappend=label.ipappend if label.ipappend is not None else DEFAULT_IPAPPEND,
        description=label.menu_label or "",
    )
