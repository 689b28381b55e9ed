"""``GET /``: a short page naming the API and the documentation, for whoever
opens the server in a browser (open, read-only), with the way to the web
console (``/ui/``, a login). Everything it links to needs a token or a console
login except the boot endpoints."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, Response

bp = Blueprint("index", __name__)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>provisioner</title></head>
<body>
<h1>provisioner {version}</h1>
<p>A PXE / network provisioning server.</p>
<p><a href="/ui/">Open the web console</a> (a user from
<code>provisioner user add NAME --role admin|operator|viewer</code>), or use the
REST API or the <code>provisioner</code> command.</p>
<h2>API</h2>
<ul>
<li><a href="/api/v1/openapi.json">/api/v1/openapi.json</a>: the OpenAPI document
of every route</li>
<li><a href="/api/v1/nodes">/api/v1/nodes</a>, <a href="/api/v1/profiles">/api/v1/profiles</a>,
<a href="/api/v1/images">/api/v1/images</a>, <a href="/api/v1/bundles">/api/v1/bundles</a>:
the API needs <code>Authorization: Bearer &lt;token&gt;</code>
(<code>provisioner token create --role admin|viewer</code>)</li>
<li><code>/boot/pxelinux.cfg/01-&lt;mac&gt;</code>, <code>/boot/ipxe?mac=&lt;mac&gt;</code>,
<code>/boot/files/&lt;path&gt;</code>, <code>/media/...</code>: what booting boxes fetch
(open, read-only)</li>
</ul>
<h2>Documentation</h2>
<p>In the source tree: <code>README.md</code>; <code>docs/api.md</code> (the REST API,
tokens, the open boot endpoints), <code>docs/configuration.md</code> (settings),
<code>docs/installer.md</code> (installs, A/B slots), <code>docs/media.md</code>
(release images, bundles, uploads).</p>
</body>
</html>
"""


def _version() -> str:
    try:
        return version("provisioner")
    except PackageNotFoundError:  # a checkout that was never installed
        return ""


@bp.get("/")
def index() -> Response:
    return Response(
        PAGE.format(version=_version()),
        mimetype="text/html",
        headers={"Cache-Control": "no-store"},
    )
