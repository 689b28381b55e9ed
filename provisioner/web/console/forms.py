"""The form-error convention: a view collects ``FormErrors`` (field -> message)
and re-renders its form with them and with what was typed; the ``field`` and
``select`` macros of ``console/_form.html`` print each message beside its field
(``aria-invalid`` and ``aria-describedby`` for screen readers). Nothing is saved
while there is an error."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash

from provisioner.errors import PreflightError, ProvisionerError, ValidationError


class FormErrors(dict[str, str]):
    """Messages by field name; ``""`` holds the ones about no single field."""

    def add(self, field: str, message: str) -> None:
        self[field] = f"{self[field]}; {message}" if field in self else message

    def take(self, exc: ProvisionerError) -> None:
        """An error the service raised: beside its field when it names one; every
        problem of a refused preflight beside its own."""
        if isinstance(exc, PreflightError) and exc.problems:
            for p in exc.problems:
                if p.get("severity", "error") == "error":
                    self.add(str(p.get("field") or ""), str(p.get("message") or exc.message))
        elif isinstance(exc, ValidationError):
            self.add(exc.field, exc.detail)
        else:
            self.add("", exc.message)


def flash_outcome(change: Callable[[], object], done: str, refused: str) -> None:
    """Run ``change``; flash ``done``, or ``refused`` and the service's reason
    (a delete refused while something uses the thing, say)."""
    try:
        change()
    except ProvisionerError as exc:
        flash(f"{refused}: {exc.message}", "error")
    else:
        flash(done, "ok")
