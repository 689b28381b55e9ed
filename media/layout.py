"""Where media lives under ``<data_dir>/media`` and the URLs it is served at
(pure: names in, relative paths and URLs out).

::

    media/images/<name>/<version>/<name>-<version>.squashfs   release images
    media/images/<name>/<version>/<name>-<version>.vmlinuz    its boot files (kernel,
                                 .initrd.img, .boot.json)     initramfs, facts)
    media/bundles/<bundle>/<sha256[:16]>/<filename>           bundle files
    media/.uploads/<id>.part, <id>.json                       uploads in progress

A bundle file's directory is named after its content, so its URL never
changes meaning: a new upload is a new URL, and a box half-way through a
download keeps the bytes it started with. Release images are unique by
name, version and content, so their names are enough.

``GET /media/<relative path>`` serves these files (open, read-only); a
manifest hands a box the full URLs.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from provisioner.bootnames import server_url
from provisioner.domain import BundleFile, Release

MEDIA_DIR = "media"
UPLOADS_DIR = ".uploads"
RELEASE_SUFFIX = ".squashfs"
DIGEST_DIR_LEN = 16

#: one path segment of a media URL: no '/', no leading dot (never .uploads)
SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}\Z")
DIGEST_DIR_RE = re.compile(rf"[0-9a-f]{{{DIGEST_DIR_LEN}}}\Z")


def release_filename(name: str, version: str) -> str:
    return f"{name}-{version}{RELEASE_SUFFIX}"


def release_relpath(release: Release) -> str:
    return f"images/{release.name}/{release.version}/{release.filename}"


#: a release's boot files beside its image (built at ``image add``: media/releaseboot.py)
BOOT_SUFFIXES = {"KERNEL": ".vmlinuz", "INITRD": ".initrd.img", "RECORD": ".boot.json"}


def release_boot_relpaths(release: Release) -> dict[str, str]:
    """KERNEL, INITRD, RECORD -> relative media path of the release's boot files."""
    base = release_relpath(release).removesuffix(RELEASE_SUFFIX)
    return {key: base + suffix for key, suffix in BOOT_SUFFIXES.items()}


def bundle_dir(bundle: str) -> str:
    return f"bundles/{bundle}"


def bundle_file_relpath(bundle: str, f: BundleFile) -> str:
    return f"{bundle_dir(bundle)}/{f.sha256[:DIGEST_DIR_LEN]}/{f.filename}"


def media_base_url(media_url: str, server_ip: str, http_port: int, host_url: str) -> str:
    """Base of the download URLs, ending in ``/media/``: the ``media_url``
    setting, else the server's base URL (``http://SERVER_IP:PORT``, else the
    request's host: :func:`provisioner.bootnames.server_url`) + ``/media/``."""
    if media_url:
        return media_url if media_url.endswith("/") else media_url + "/"
    base = server_url(server_ip, http_port, host_url=host_url) or ""
    return f"{base}/{MEDIA_DIR}/"


def media_url(base: str, relpath: str) -> str:
    return base + quote(relpath, safe="/+")
