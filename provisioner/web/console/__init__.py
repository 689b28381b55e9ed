"""The web console: server-rendered pages under ``/ui/`` (docs/web.md).

Every page works without JavaScript (plain links and forms); scripts in
``static/`` only improve one (the rack grid refreshes itself). All assets are
served by the app; templates are Jinja with autoescaping on.

The helper API pages use (each in its own small module):

- ``blueprint``: ``bp`` (the ``console`` blueprint, ``/ui``), ``nav_item`` (a
  menu entry shown when its endpoint exists and the user's role allows it);
- ``auth``: every view needs a logged-in user unless marked ``@public``;
  ``@require_role(Role.OPERATOR)`` / ``Role.ADMIN`` for more; ``current_user()``;
  ``acting_service()`` (the Service whose events name the user);
- ``csrf``: every POST/PUT/PATCH/DELETE is checked (form field ``csrf_token``,
  or header ``X-CSRF-Token``); templates put ``{{ csrf_field() }}`` in each form;
- ``forms``: ``FormErrors`` (field -> message) and the ``field``/``select``
  macros of ``console/_form.html`` (the error beside its field);
- messages: Flask's ``flash(text, "ok" | "error")``; the base template shows them.

How to add a page: a module here with ``from ...blueprint import bp``, views
rendering a template that ``{% extends "console/base.html" %}`` (blocks ``title``,
``content``, ``scripts``), its import in ``PAGES`` below, and a browser test in
``tests/browser/`` using the ``console`` fixtures (tests/browser/conftest.py).
"""

from __future__ import annotations

from flask import Flask

# auth before csrf: their checks run on the blueprint in import order (who, then the token)
from provisioner.web.console import auth, csrf, pages
from provisioner.web.console.blueprint import bp

__all__ = ["auth", "bp", "csrf", "init_app", "pages"]


def init_app(app: Flask) -> None:
    """Cookies, checks and the pages (``GET /``, web/index.py, links here)."""
    auth.init_app(app)
    pages.load()
    app.register_blueprint(bp)
