"""The Flask application: ``create_app(settings, store)``.

``app.py`` calls ``create_app()`` with no arguments; that is the WSGI entry
point, so it is where the settings are read (defaults, file, environment).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from provisioner.accounts import Accounts
from provisioner.config import Settings, load_settings
from provisioner.service import Service
from provisioner.store import Store
from provisioner.web.context import EXTENSION, AppContext


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    if settings is None:
        settings = load_settings(os.environ)
    if store is None:
        from provisioner.db import open_store

        store = open_store(settings)
    app = Flask(
        __name__,
        root_path=str(Path(__file__).parent),
        instance_path=str(settings.data_dir.absolute()),
        static_folder=None,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = Service(store, settings)
    app.extensions[EXTENSION] = AppContext(settings, store, service, Accounts(store, settings))

    from provisioner.web import agent, api, body, boot, errors, index, node_report

    body.init_app(app)  # body limits (JSON, config files; media has its own), early refusals
    errors.register(app)
    app.register_blueprint(index.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(boot.bp)
    app.register_blueprint(agent.bp)
    app.register_blueprint(node_report.bp)

    from provisioner.web import media_api  # images, bundles, uploads, manifest, /media

    media_api.init_app(app)

    from provisioner.web import console  # the web console under /ui/

    console.init_app(app)
    return app
