"""Which first-stage loader a network-booting client gets. Pure.

The names come from the loader catalogue (:mod:`provisioner.bootnames`), the same
one the TFTP/HTTP boot tree serves. The client says what it is in three options:
the vendor class (60: ``PXEClient:Arch:00007:UNDI:003016`` or ``HTTPClient:...``),
the client system architecture (93, RFC 4578 / IANA "Processor Architecture
Types") and, for iPXE, the user class (77 = ``iPXE``) or option 175.

=================================  =======================  =========================
client                             bios/uefi_loader default  ``ipxe``
=================================  =======================  =========================
BIOS (arch 0)                      ``pxelinux.0``            ``undionly.kpxe``
x86-64 UEFI (7, 9)                 ``efi64/syslinux.efi``    ``snponly.efi``
arm64 UEFI (11)                    ``arm64/snponly.efi``     (same; syslinux has none)
UEFI HTTP boot, x86-64 (16)        ``<http>/boot/files/ipxe.efi``
UEFI HTTP boot, arm64 (19)         ``<http>/boot/files/arm64/ipxe.efi``
iPXE, any arch                     ``<http>/boot/ipxe?mac=<mac>`` (its own script)
=================================  =======================  =========================

iPXE gets its per-MAC script, never iPXE again: that is what keeps a chainloaded
``undionly.kpxe``/``snponly.efi`` from loading itself in a loop. With the
``ipxe_script`` setting off, an iPXE client (e.g. a NIC's iPXE option ROM) is
treated like any PXE client of its architecture -- pxelinux.0 for BIOS by
default -- unless that loader is iPXE itself or syslinux.efi: syslinux.efi
started by iPXE fails to load ``ldlinux.e64`` (seen on OVMF: HTTP boot hands
over to ``ipxe.efi``, which would then fetch syslinux.efi), so a UEFI iPXE
client always gets its script. That is also what makes a UEFI box whose boot
order still starts with the network reach its disk: every network option it
tries (PXE, then HTTP boot through iPXE) answers ``local`` by returning to the
firmware's boot manager, which goes on to the next entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.bootnames import (
    ARCH_BIOS,
    ARCH_EFI_ARM64,
    ARCH_EFI_BC,
    ARCH_EFI_IA32,
    ARCH_EFI_X64,
    ARCH_HTTP_ARM64,
    ARCH_HTTP_X64,
    HTTP_ARCHS,
    IPXE,
    SYSLINUX,
    loader_for,
)
from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.packet import Packet

__all__ = [
    "ARCH_BIOS",
    "ARCH_EFI_ARM64",
    "ARCH_EFI_BC",
    "ARCH_EFI_IA32",
    "ARCH_EFI_X64",
    "ARCH_HTTP_ARM64",
    "ARCH_HTTP_X64",
    "BootFile",
    "boot_file",
    "client_arch",
    "netboot_class",
]

PXE_CLIENT = "PXEClient"
HTTP_CLIENT = "HTTPClient"


@dataclass(frozen=True, slots=True)
class BootFile:
    #: a TFTP path (relative to the TFTP root) or an http:// URL
    name: str
    #: what the reply says in option 60 ("PXEClient" / "HTTPClient")
    vendor_class: str
    arch: int
    #: what kind of client this is, for the logs: bios, uefi, http, ipxe
    kind: str

    @property
    def bios(self) -> bool:
        return self.arch == ARCH_BIOS and self.kind == "bios"


def client_arch(packet: Packet) -> int:
    """Option 93 (first entry); else the ``Arch:NNNNN`` field of the vendor
    class; else 0 (BIOS): PXE 2.1 clients before RFC 4578 are x86 BIOS."""
    archs = packet.client_archs
    if archs:
        return archs[0]
    parts = packet.vendor_class.split(":")
    if len(parts) >= 3 and parts[1] == "Arch" and parts[2].isdigit():
        return int(parts[2])
    return ARCH_BIOS


def netboot_class(packet: Packet) -> str | None:
    """ "PXEClient", "HTTPClient" or None for a client that does not netboot."""
    vendor = packet.vendor_class
    if vendor.startswith(PXE_CLIENT) or packet.is_ipxe:
        return PXE_CLIENT
    if vendor.startswith(HTTP_CLIENT):
        return HTTP_CLIENT
    return None


def boot_file(packet: Packet, cfg: DhcpConfig, known: bool) -> BootFile | None:
    """The file this client should boot, or None: not a network-boot client, an
    unknown MAC while ``unknown_macs`` is ``ignore``, or an architecture we
    have no loader for."""
    klass = netboot_class(packet)
    if klass is None or (not known and cfg.unknown_macs != "menu"):
        return None
    arch = client_arch(packet)
    script = BootFile(f"{cfg.http_base}/boot/ipxe?mac={packet.mac}", PXE_CLIENT, arch, "ipxe")
    if packet.is_ipxe and cfg.ipxe_script:
        return script
    if (klass == HTTP_CLIENT) != (arch in HTTP_ARCHS):
        return None  # an HTTP client of a PXE architecture, or the other way round
    ipxe_wanted = (cfg.bios_loader if arch == ARCH_BIOS else cfg.uefi_loader) == IPXE
    loader = loader_for(arch, IPXE if ipxe_wanted else SYSLINUX)
    if loader is None:
        return None
    if klass == HTTP_CLIENT:
        return BootFile(f"{cfg.http_base}/boot/files/{loader.path}", HTTP_CLIENT, arch, "http")
    found = BootFile(loader.path, PXE_CLIENT, arch, "bios" if arch == ARCH_BIOS else "uefi")
    # an iPXE client never gets iPXE again (it would load itself in a loop), nor
    # syslinux.efi (which cannot run under iPXE)
    return script if packet.is_ipxe and (loader.kind == IPXE or arch != ARCH_BIOS) else found
