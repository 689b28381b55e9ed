"""WSGI entry point: ``gunicorn app:app``. Settings come from the environment
(``PROVISIONER_*``) and the optional TOML file named by ``PROVISIONER_CONFIG``."""

from provisioner.web import create_app

app = create_app()
