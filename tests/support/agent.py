"""The installer agent's side of an install, as a Flask test client plays it."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient


def build_token(client: FlaskClient, mac: str) -> str:
    """The build token the node's boot file carries (its ``token.`` dot-option)."""
    text = client.get(f"/boot/pxelinux.cfg/01-{mac.replace(':', '-')}").get_data(as_text=True)
    m = re.search(r" token\.(\S+) ", text)
    assert m, text
    return m.group(1)


def post_report(client: FlaskClient, token: str, **form: str) -> Any:
    """``POST /agent/report`` with the build token."""
    return client.post("/agent/report", data=form, headers={"Authorization": f"Bearer {token}"})
