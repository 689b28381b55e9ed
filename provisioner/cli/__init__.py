"""The ``provisioner`` command (also ``python -m provisioner``).

``root`` holds the group, the settings handling and the shared helpers; each
other module adds its sub-commands to that group when it is imported. This
package imports them all, so ``main`` is the whole command; no sub-command
module imports another's parent, so there is no import circle.
"""

from __future__ import annotations

from provisioner.cli import bootenv, check, media, objects, timeline, users
from provisioner.cli.root import main

__all__ = ["bootenv", "check", "main", "media", "objects", "timeline", "users"]
