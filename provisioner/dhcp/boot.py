"""Which first-stage loader a network-booting client gets. Pure.

The client says what it is in three options: the vendor class (60:
``PXEClient:Arch:00007:UNDI:003016`` or ``HTTPClient:...``), the client system
architecture (93, RFC 4578 / IANA "Processor Architecture Types") and, for
iPXE, the user class (77 = ``iPXE``) or option 175.

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
default -- unless that loader is iPXE itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.dhcp.config import DhcpConfig
from provisioner.dhcp.packet import Packet

ARCH_BIOS = 0
ARCH_EFI_IA32 = 6
ARCH_EFI_X64 = 7
ARCH_EFI_BC = 9
ARCH_EFI_ARM64 = 11
ARCH_HTTP_X64 = 16
ARCH_HTTP_ARM64 = 19

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
    if klass == HTTP_CLIENT:
        if arch == ARCH_HTTP_X64:
            return BootFile(f"{cfg.http_base}/boot/files/ipxe.efi", HTTP_CLIENT, arch, "http")
        if arch == ARCH_HTTP_ARM64:
            url = f"{cfg.http_base}/boot/files/arm64/ipxe.efi"
            return BootFile(url, HTTP_CLIENT, arch, "http")
        return None
    if arch == ARCH_BIOS:
        ipxe = cfg.bios_loader == "ipxe"
        found = BootFile("undionly.kpxe" if ipxe else "pxelinux.0", PXE_CLIENT, arch, "bios")
    elif arch in (ARCH_EFI_X64, ARCH_EFI_BC):
        ipxe = cfg.uefi_loader == "ipxe"
        name = "snponly.efi" if ipxe else "efi64/syslinux.efi"
        found = BootFile(name, PXE_CLIENT, arch, "uefi")
    elif arch == ARCH_EFI_ARM64:
        ipxe, found = True, BootFile("arm64/snponly.efi", PXE_CLIENT, arch, "uefi")
    else:
        return None
    # an iPXE client never gets iPXE again (it would load itself in a loop)
    return script if ipxe and packet.is_ipxe else found
