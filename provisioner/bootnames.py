"""Every name a booting box asks for or is told, spelled in one place. Pure.

* the pxelinux config name of a box, ``01-aa-bb-cc-dd-ee-ff``, both ways:
  :func:`config_name` writes it, :func:`mac_from_config_name` reads it back;
* the loader catalogue: client architecture (DHCP option 93) -> the loader's name
  in the boot tree; DHCP offers these names and the TFTP/HTTP boot tree serves
  exactly them (:data:`LOADERS`, :func:`loader_for`, :func:`tree_names`);
* the server's base URL as booting boxes reach it (:func:`server_url`);
* a profile's initrd files as a tuple; the comma form only at the edges
  (:func:`split_initrd`, :func:`join_initrd`, :func:`cmdline_initrd`);
* the boot environment's kernel and initramfs in the boot tree
  (:data:`BOOTENV_KERNEL`, :data:`BOOTENV_INITRD`): what ``media build-initrd`` writes
  and what an agent action (install, wipe, rollback, rescue) boots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioner.bootparams import Options
from provisioner.domain import normalize_mac, validate_boot_path

# -- pxelinux config names ----------------------------------------------------------------------

#: where pxelinux (BIOS) and syslinux.efi (x86-64 UEFI) look for their config
CONFIG_DIRS = ("pxelinux.cfg/", "efi64/pxelinux.cfg/")
_CONFIG_NAME_RE = re.compile(r"01-((?:[0-9a-f]{2}-){5}[0-9a-f]{2})\Z", re.IGNORECASE)


def config_name(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` (any spelling) -> ``01-aa-bb-cc-dd-ee-ff``: the file
    pxelinux asks for under ``pxelinux.cfg/``, and the ``BOOTIF=`` value (ARP
    hardware type 01, Ethernet, first). Raises ValidationError for a bad MAC."""
    return "01-" + normalize_mac(mac).replace(":", "-")


def config_path(mac: str) -> str:
    """``pxelinux.cfg/01-aa-bb-cc-dd-ee-ff``."""
    return CONFIG_DIRS[0] + config_name(mac)


def mac_from_config_name(name: str) -> str | None:
    """``01-aa-bb-cc-dd-ee-ff`` (upper or lower case; bare or under
    ``pxelinux.cfg/`` or ``efi64/pxelinux.cfg/``) -> ``aa:bb:cc:dd:ee:ff``;
    None for any other name (``default``, UUIDs, hex IPs, other files)."""
    for prefix in CONFIG_DIRS:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    match = _CONFIG_NAME_RE.match(name)
    return match.group(1).lower().replace("-", ":") if match else None


#: the installed disk's loader directory in the boot tree (media/loader.py builds it)
LOADER_DIR = "loader"
#: UEFI local boot over the network: GRUB that chainloads the installed ESP's loader
LOCAL_EFI_PATH = f"{LOADER_DIR}/local.efi"


# -- the loader catalogue -----------------------------------------------------------------------

#: client system architectures (RFC 4578 option 93, IANA "Processor Architecture Types")
ARCH_BIOS = 0
ARCH_EFI_IA32 = 6
ARCH_EFI_X64 = 7
ARCH_EFI_BC = 9
ARCH_EFI_ARM64 = 11
ARCH_HTTP_X64 = 16
ARCH_HTTP_ARM64 = 19
#: UEFI HTTP boot clients: offered ``<http>/boot/files/<loader path>``
HTTP_ARCHS = (ARCH_HTTP_X64, ARCH_HTTP_ARM64)

#: loader kinds: what the ``bios_loader`` / ``uefi_loader`` settings choose between
SYSLINUX = "syslinux"
IPXE = "ipxe"

#: directories of the boot tree, one per firmware
BIOS_DIR, EFI64_DIR, ARM64_DIR = "", "efi64/", "arm64/"
TREE_DIRS = (BIOS_DIR, EFI64_DIR, ARM64_DIR)


@dataclass(frozen=True, slots=True)
class Loader:
    """A first-stage loader: its name in the boot tree (a TFTP path, and
    ``/boot/files/<path>`` over HTTP), the architectures it boots, its kind."""

    path: str
    archs: tuple[int, ...]
    kind: str

    @property
    def directory(self) -> str:
        return self.path[: self.path.rfind("/") + 1]

    @property
    def filename(self) -> str:
        return self.path[len(self.directory) :]


#: THE catalogue, shared by DHCP (what a client is offered) and the boot tree (what
#: TFTP and HTTP serve). UEFI HTTP boot clients (16, 19) get ``<http>/boot/files/<path>``.
LOADERS: tuple[Loader, ...] = (
    Loader("pxelinux.0", (ARCH_BIOS,), SYSLINUX),
    Loader("undionly.kpxe", (ARCH_BIOS,), IPXE),
    Loader("efi64/syslinux.efi", (ARCH_EFI_X64, ARCH_EFI_BC), SYSLINUX),
    Loader("snponly.efi", (ARCH_EFI_X64, ARCH_EFI_BC), IPXE),
    Loader("ipxe.efi", (ARCH_HTTP_X64,), IPXE),
    # arm64: syslinux has none; Debian 12 amd64 ships no arm64 iPXE (loaders_dir/arm64/)
    Loader("arm64/snponly.efi", (ARCH_EFI_ARM64,), IPXE),
    Loader("arm64/ipxe.efi", (ARCH_HTTP_ARM64,), IPXE),
)

#: what a first-stage loader fetches after itself (syslinux's modules), per directory
MODULES: dict[str, tuple[str, ...]] = {
    BIOS_DIR: ("lpxelinux.0", "*.c32"),
    EFI64_DIR: ("ldlinux.e64", "*.c32"),
    ARM64_DIR: (),
}


def loader_for(arch: int, kind: str) -> Loader | None:
    """The loader of ``kind`` for ``arch``; where the architecture has only one
    kind (arm64: iPXE) that one; None for an architecture we have none for."""
    for_arch = [lo for lo in LOADERS if arch in lo.archs]
    return next((lo for lo in for_arch if lo.kind == kind), for_arch[0] if for_arch else None)


def tree_names(directory: str) -> tuple[str, ...]:
    """The allow-list of ``directory`` in the boot tree: file names and globs,
    the catalogue's loaders first."""
    loaders = tuple(lo.filename for lo in LOADERS if lo.directory == directory)
    return loaders + MODULES.get(directory, ())


# -- the server's base URL ----------------------------------------------------------------------

_WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 - addresses compared, nothing bound


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (an IPv6 literal in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def server_url(
    server_ip: str, http_port: int, *, host_url: str = "", local_ip: str = ""
) -> str | None:
    """The base URL booting boxes are told (``server.<url>``, iPXE's file URLs).
    One rule for every way a box asks:

    1. the ``server_ip`` setting, with the HTTP port;
    2. else where this request reached us: over HTTP the URL the box used
       (``host_url``, from its Host header), over TFTP the local address the
       datagram arrived on (``local_ip``, IP_PKTINFO), with the HTTP port;
    3. else None: nothing to name (a wildcard address), the file goes without.
    """
    if server_ip:
        return base_url(server_ip, http_port)
    if host_url:
        return host_url.rstrip("/")
    if local_ip not in _WILDCARDS:
        return base_url(local_ip, http_port)
    return None


# -- the boot environment ----------------------------------------------------------------------

#: the installer's kernel and initramfs, as ``provisioner media build-initrd`` names them in
#: the boot tree (``DATA_DIR/boot/``); an agent action boots them unless a profile names
#: another kernel
BOOTENV_KERNEL = "vmlinuz"
BOOTENV_INITRD = "initrd.img"


# -- initrd files -------------------------------------------------------------------------------


def split_initrd(text: str | None, field: str | None = None) -> tuple[str, ...]:
    """``"a.img,b.img"`` -> ``("a.img", "b.img")``, empty parts dropped; with
    ``field`` (input from a user) each part must be a boot path, errors name it."""
    if field is not None and text:
        return tuple(validate_boot_path(p, field) for p in text.split(","))
    return tuple(p for p in (text or "").split(",") if p)


def join_initrd(files: tuple[str, ...]) -> str | None:
    """The comma form for the edges (DB column, API/CLI JSON); None for none."""
    return ",".join(files) or None


def cmdline_initrd(cmdline: Options) -> tuple[str, ...]:
    """The files named by ``initrd=`` words on a command line."""
    return tuple(f for value in cmdline.kernel_values("initrd") for f in split_initrd(value))
