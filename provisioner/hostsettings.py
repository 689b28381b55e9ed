"""The node's settings as files of the installed system. Pure.

What the paper's USB stick took from its APPEND line -- host name, ``ip.``
``submask.`` ``gw.`` ``dns.`` (or DHCP when there is no ``ip.``), ``keyboard.``,
``lang.`` -- becomes files in the standard Debian places. The install puts them
on the data partition (``/provisioner/root``), and the slot's initramfs copies
them over the root file system at every boot, so they survive updates and follow
the node's record at its next install (docs/installer.md).

:data:`KEYBOARDS` and :data:`LANGUAGES` are the one table from a dot-option
value to XKB layout/variant and locale; a value not in them is an error.
"""

from __future__ import annotations

import io
import ipaddress
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from provisioner.bootparams import Options
from provisioner.errors import ValidationError

#: ``keyboard.<value>`` -> (XKBLAYOUT, XKBVARIANT); console keymap names too
KEYBOARDS: Mapping[str, tuple[str, str]] = {
    "us": ("us", ""),
    "en_US": ("us", ""),
    "us-dvorak": ("us", "dvorak"),
    "uk": ("gb", ""),
    "gb": ("gb", ""),
    "en_GB": ("gb", ""),
    "de": ("de", ""),
    "de_DE": ("de", ""),
    "de-latin1": ("de", ""),
    "de_AT": ("at", ""),
    "de_CH": ("ch", "de"),
    "de_CH-latin1": ("ch", "de"),
    "sg": ("ch", "de"),
    "fr": ("fr", ""),
    "fr_FR": ("fr", ""),
    "fr-latin1": ("fr", ""),
    "fr_CH": ("ch", "fr"),
    "fr_CH-latin1": ("ch", "fr"),
    "sf": ("ch", "fr"),
    "fr_BE": ("be", ""),
    "be": ("be", ""),
    "fr_CA": ("ca", ""),
    "it": ("it", ""),
    "it_IT": ("it", ""),
    "es": ("es", ""),
    "es_ES": ("es", ""),
    "pt": ("pt", ""),
    "pt_PT": ("pt", ""),
    "pt_BR": ("br", ""),
    "nl": ("nl", ""),
    "nl_NL": ("nl", ""),
    "dk": ("dk", ""),
    "da_DK": ("dk", ""),
    "se": ("se", ""),
    "sv_SE": ("se", ""),
    "no": ("no", ""),
    "nb_NO": ("no", ""),
    "fi": ("fi", ""),
    "fi_FI": ("fi", ""),
    "pl": ("pl", ""),
    "pl_PL": ("pl", ""),
    "cz": ("cz", ""),
    "cs_CZ": ("cz", ""),
}

#: ``lang.<value>`` -> locale (LANG)
LANGUAGES: Mapping[str, str] = {
    "C": "C.UTF-8",
    "en": "en_US.UTF-8",
    "en_US": "en_US.UTF-8",
    "en_GB": "en_GB.UTF-8",
    "de": "de_DE.UTF-8",
    "de_DE": "de_DE.UTF-8",
    "de_AT": "de_AT.UTF-8",
    "de_CH": "de_CH.UTF-8",
    "fr": "fr_FR.UTF-8",
    "fr_FR": "fr_FR.UTF-8",
    "fr_CH": "fr_CH.UTF-8",
    "fr_BE": "fr_BE.UTF-8",
    "fr_CA": "fr_CA.UTF-8",
    "it": "it_IT.UTF-8",
    "it_IT": "it_IT.UTF-8",
    "it_CH": "it_CH.UTF-8",
    "es": "es_ES.UTF-8",
    "es_ES": "es_ES.UTF-8",
    "pt": "pt_PT.UTF-8",
    "pt_BR": "pt_BR.UTF-8",
    "nl": "nl_NL.UTF-8",
    "da": "da_DK.UTF-8",
    "sv": "sv_SE.UTF-8",
    "nb": "nb_NO.UTF-8",
    "fi": "fi_FI.UTF-8",
    "pl": "pl_PL.UTF-8",
    "cs": "cs_CZ.UTF-8",
}


_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class HostSettings:
    hostname: str
    mac: str
    address: str | None  # CIDR (ip.<a> with submask.<m>), None: DHCP
    gateway: str | None
    dns: tuple[str, ...]
    xkb: tuple[str, str] | None  # layout, variant
    locale: str | None


def keyboard(value: str) -> tuple[str, str]:
    try:
        return KEYBOARDS[value]
    except KeyError:
        raise ValidationError(
            "options.keyboard",
            f"{value!r} is not a keyboard this server knows ({', '.join(sorted(KEYBOARDS))})",
        ) from None


def language(value: str) -> str:
    try:
        return LANGUAGES[value]
    except KeyError:
        raise ValidationError(
            "options.lang",
            f"{value!r} is not a language this server knows ({', '.join(sorted(LANGUAGES))})",
        ) from None


def host_settings(mac: str, hostname: str | None, cmdline: Options) -> HostSettings:
    """The settings of one node from its effective command line (profile ⊕ node ⊕
    bundle). Raises :class:`ValidationError` naming the option that cannot apply."""
    ip, mask = cmdline.get("ip"), cmdline.get("submask") or "255.255.255.0"
    address = None
    if ip:
        try:
            address = str(ipaddress.IPv4Interface(f"{ip}/{mask}"))
        except ValueError:
            raise ValidationError("options.submask", f"{mask!r} is not a netmask") from None
    dns = tuple(d for d in (cmdline.get("dns") or "").split(",") if d)
    kb, lang = cmdline.get("keyboard"), cmdline.get("lang")
    name = (cmdline.get("hostname") or hostname or "box-" + mac.replace(":", "")).split(".")[0]
    if not _LABEL.fullmatch(name):
        raise ValidationError("options.hostname", f"{name!r} is not a host name (RFC 1123 label)")
    return HostSettings(
        hostname=name,
        mac=mac,
        address=address,
        gateway=cmdline.get("gw") if address else None,
        dns=dns,
        xkb=keyboard(kb) if kb else None,
        locale=language(lang) if lang else None,
    )


def settings_files(
    hs: HostSettings, *, networkd: bool = True, node_conf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Path (relative to /) -> content. ``networkd``: the release runs
    systemd-networkd (else an ifupdown ``/etc/network/interfaces`` for ``eth0``);
    ``node_conf``: the reporter's ``/etc/provisioner/node.conf`` lines."""
    files = {
        "etc/hostname": f"{hs.hostname}\n",
        "etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{hs.hostname}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
    }
    if networkd:
        net = ["[Match]", f"MACAddress={hs.mac}", "", "[Network]"]
        if hs.address:
            net.append(f"Address={hs.address}")
            net += [f"Gateway={hs.gateway}"] if hs.gateway else []
            net += [f"DNS={d}" for d in hs.dns]
        else:
            net.append("DHCP=ipv4")
        files["etc/systemd/network/10-provisioner.network"] = "\n".join(net) + "\n"
    else:
        iface = ["auto lo", "iface lo inet loopback", "", "auto eth0"]
        if hs.address:
            itf = ipaddress.IPv4Interface(hs.address)
            iface += ["iface eth0 inet static", f"    address {itf.ip}",
                      f"    netmask {itf.netmask}"]  # fmt: skip
            iface += [f"    gateway {hs.gateway}"] if hs.gateway else []
        else:
            iface.append("iface eth0 inet dhcp")
        files["etc/network/interfaces"] = "\n".join(iface) + "\n"
    if hs.address and hs.dns:
        files["etc/resolv.conf"] = "".join(f"nameserver {d}\n" for d in hs.dns)
    if hs.xkb:
        layout, variant = hs.xkb
        files["etc/default/keyboard"] = (
            f'XKBMODEL="pc105"\nXKBLAYOUT="{layout}"\nXKBVARIANT="{variant}"\n'
            'XKBOPTIONS=""\nBACKSPACE="guess"\n'
        )
    if hs.locale:
        files["etc/default/locale"] = f"LANG={hs.locale}\n"
    if node_conf:
        files["etc/provisioner/node.conf"] = "".join(f"{k}={v}\n" for k, v in node_conf.items())
    return files


def settings_tar(files: Mapping[str, str]) -> bytes:
    """A deterministic tar (uid 0, mtime 0, sorted) the agent unpacks with busybox."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs = sorted({"/".join(p.split("/")[:i]) for p in files for i in
                       range(1, p.count("/") + 1)})  # fmt: skip
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
