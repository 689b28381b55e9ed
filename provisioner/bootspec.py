"""What one box boots: the single seam between the store and the boot-file
renderers / network daemons. Pure: domain values in, a :class:`BootSpec` out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.bootnames import BOOTENV_INITRD, BOOTENV_KERNEL, cmdline_initrd, config_name
from provisioner.bootparams import X86_CMDLINE_LIMIT, Options, check_length
from provisioner.domain import AGENT_ACTIONS, Action, Bundle, Node, Profile

#: Room kept on the command line for what loaders append: ``BOOTIF=01-<mac>``
#: (IPAPPEND 2 / our iPXE script) and ``initrd=`` for the EFI stub.
LOADER_RESERVE = len(" BOOTIF=01-aa-bb-cc-dd-ee-ff") + len(f" initrd={BOOTENV_INITRD}")


@dataclass(frozen=True, slots=True)
class BootSpec:
    """Everything a renderer needs to write one box's boot configuration."""

    mac: str
    action: Action
    kernel: str = BOOTENV_KERNEL
    initrd: tuple[str, ...] = ()
    cmdline: Options = field(default_factory=Options)
    ipappend: int = 2
    hostname: str | None = None
    #: initrd files named on the command line (``initrd=``) rather than INITRD
    initrd_in_cmdline: bool = False

    @property
    def label(self) -> str:
        return self.action.value

    @property
    def bootif(self) -> str:
        return f"BOOTIF={config_name(self.mac)}"


def effective_options(node: Node, profile: Profile | None, bundle: Bundle | None) -> Options:
    """profile defaults, then the node's own options, then the bundle's
    ``copyiso``/``copydef``/``copyimg`` -- each overriding key by key."""
    base = profile.options if profile else Options()
    merged = base.merged(node.options)
    return merged.merged(bundle.options()) if bundle else merged


def effective_bundle_name(node: Node, profile: Profile | None) -> str | None:
    return node.bundle or (profile.bundle if profile else None)


def effective_release(node: Node, profile: Profile | None) -> str | None:
    return node.release or (profile.release if profile else None)


def build_bootspec(
    node: Node, profile: Profile | None, bundle: Bundle | None, extra: Options | None = None
) -> BootSpec:
    """``extra`` (the agent's words) goes last and wins. Raises OptionError when
    the merged command line is too long."""
    cmdline = effective_options(node, profile, bundle)
    if extra:
        cmdline = cmdline.merged(extra)
    in_cmdline = cmdline.kernel_values("initrd")
    kernel, initrd = boot_files(node.action, profile, cmdline)
    spec = BootSpec(
        mac=node.mac,
        action=node.action,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
        ipappend=profile.ipappend if profile else 2,
        hostname=node.hostname,
        initrd_in_cmdline=bool(in_cmdline),
    )
    check_cmdline(spec.cmdline)
    return spec


def boot_files(
    action: Action, profile: Profile | None, cmdline: Options
) -> tuple[str, tuple[str, ...]]:
    """The kernel and initrd files a boot loads.

    An agent action (install, wipe, rollback, rescue) boots the server's own boot
    environment (:data:`~provisioner.bootnames.BOOTENV_KERNEL` and its initramfs)
    unless a profile names another kernel or an initrd on purpose, or the command
    line names one (``initrd=``): the boot environment's kernel without its
    initramfs could only panic, and nobody should need its file names to install a box.
    """
    named = cmdline_initrd(cmdline)
    if profile is not None and (profile.kernel != BOOTENV_KERNEL or profile.initrd):
        return profile.kernel, profile.initrd or named
    if action in AGENT_ACTIONS and not named:
        return BOOTENV_KERNEL, (BOOTENV_INITRD,)
    return BOOTENV_KERNEL, named


def check_cmdline(cmdline: Options, field: str = "options") -> None:
    """Fits x86's 2048 bytes with room for what the loader appends."""
    check_length(cmdline.render(), field, X86_CMDLINE_LIMIT - LOADER_RESERVE)
