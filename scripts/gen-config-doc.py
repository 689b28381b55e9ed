"""Regenerate the settings table in docs/configuration.md from provisioner.config."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from provisioner.config import env_name, fields

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def table() -> str:
    rows = ["| name | environment | default | meaning |", "|---|---|---|---|"]
    for f in fields():
        if f.default is dataclasses.MISSING:
            default = "`/var/lib/provisioner` (root), `~/.provisioner` (others)"
        else:
            default = f"`{f.default}`" if f.default != "" else "(empty)"
        meaning = f.metadata["help"]
        if f.metadata.get("choices"):
            meaning += " One of: " + ", ".join(f"`{c}`" for c in f.metadata["choices"]) + "."
        rows.append(f"| `{f.name}` | `{env_name(f.name)}` | {default} | {meaning} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    text = DOC.read_text()
    new = re.sub(r"\| name \| environment .*?\n(?=\n)", table(), text, count=1, flags=re.S)
    DOC.write_text(new)


if __name__ == "__main__":
    main()
