"""The shipped nginx config (docs/nginx-provisioner.conf) in front of a real
``provisioner serve``: uploads stream through, downloads come from nginx via
X-Accel-Redirect, with the same bytes for every range."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support.media import make_squashfs
from tests.support.nginx import NGINX, free_tcp_port, nginx, provisioner_conf
from tests.support.server import curl, serve

pytestmark = [
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx not installed"),
    pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="squashfs-tools missing"),
]
OCTETS = "Content-Type: application/octet-stream"


def test_nginx_in_front_serves_the_media_and_passes_everything_else(tmp_path: Path) -> None:
    image = make_squashfs(tmp_path / "avbox.sqfs", "zstd", payload=3 << 20, seed=5)
    data = image.read_bytes()
    port = free_tcp_port()
    front = f"http://127.0.0.1:{port}"
    settings = {"accel_redirect": "/_media/", "media_url": f"{front}/media/"}
    with serve(tmp_path, **settings) as server:
        upstream = int(server.base.rsplit(":", 1)[1])
        conf = provisioner_conf(port, upstream, server.data_dir / "media")
        with nginx(tmp_path / "nginx", conf, port):
            sha = hashlib.sha256(data).hexdigest()
            up = curl(*server.auth, "-T", str(image), "-H", OCTETS, "-X", "POST",
                      f"{front}/api/v1/images?name=avbox&version=2.0&sha256={sha}")  # fmt: skip
            release = json.loads(up.stdout)
            assert release["url"] == f"{front}/media/images/avbox/2.0/avbox-2.0.squashfs"
            url = release["url"]

            whole = curl("-D", str(tmp_path / "h"), url)
            headers = (tmp_path / "h").read_text()
            assert whole.stdout == data
            assert "Server: nginx" in headers
            assert "X-Accel-Redirect" not in headers
            assert "Content-Type: application/octet-stream" in headers
            etag = re.search(r'ETag: ("[^"]+")', headers)
            assert etag is not None

            n = len(data)
            assert curl("-r", "0-0", url).stdout == data[:1]
            assert curl("-r", "-1048576", url).stdout == data[-(1 << 20) :]
            assert (
                curl("-r", "1000-1999", "-H", f"If-Range: {etag.group(1)}", url).stdout
                == (data[1000:2000])
            )
            multi = curl("-r", "0-9,-10", url).stdout
            assert data[:10] in multi
            assert data[-10:] in multi
            assert b"multipart" not in data[:10]
            beyond = curl("-r", f"{n}-", "-o", "/dev/null", "-w", "%{http_code}", url)
            assert beyond.stdout == b"416"
            head = curl("-I", url).stdout.decode()
            assert f"Content-Length: {n}" in head

            hidden = curl("-o", "/dev/null", "-w", "%{http_code}", f"{front}/_media/images/")
            assert hidden.stdout == b"404"
            missing = curl("-o", "/dev/null", "-w", "%{http_code}", url + ".x")
            assert missing.stdout == b"404"
            listed = json.loads(curl(*server.auth, f"{front}/api/v1/images").stdout)
            assert [r["ref"] for r in listed] == ["avbox:2.0"]
    access = server.log.read_text()
    assert "GET /media/images/avbox/2.0/avbox-2.0.squashfs" in access  # asked, then redirected
