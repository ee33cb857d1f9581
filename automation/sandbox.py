"""Templates render in Jinja's immutable sandbox: the data they are given, and nothing else.

Bookkeepers exchange template files by email, so a billing folder's own
templates are not trusted: `{{ ''.__class__ }}`, `{{ x|attr('__class__') }}`
and the like raise `jinja2.exceptions.SecurityError` as soon as they are met
(Jinja's own sandbox renders a single one as an empty text, and raises only
when more is asked of it), which the run turns into `TemplateRefusedError`
(exit 2) naming the template. Jinja's `lipsum`, which prints placeholder
text into a document, is not offered.

>>> environment().from_string("{{ ''.__class__ }}").render()
Traceback (most recent call last):
...
jinja2.exceptions.SecurityError: access to attribute '__class__' of 'str' object is unsafe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import UnusableError

__all__ = ["Sandbox", "SecurityError", "TemplateRefusedError", "environment", "refused"]


class TemplateRefusedError(UnusableError):
    """A template reached for something beyond its data: the run stops (exit 2)."""


#: Jinja's globals that show no data of the template's: not offered (cycler and joiner
#: stay: striped rows and joined lists are a template's own business).
NOT_DATA = ("lipsum",)


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing at the first unsafe access, without NOT_DATA."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in NOT_DATA:
            self.globals.pop(name, None)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


def environment(**options: Any) -> ImmutableSandboxedEnvironment:
    """A Jinja environment whose templates can read their data but not call into Python.

    The immutable sandbox also refuses methods that change a list or dict
    (`append`, `update`), so one invoice's template cannot alter the next one's data.
    """
    return Sandbox(**options)


def refused(template: Path | str, exc: SecurityError) -> TemplateRefusedError:
    """The error a bookkeeper reads: which template, what it tried, what to do."""
    return TemplateRefusedError(
        f"the template {template} tries to reach beyond the data it is given "
        f"({str(exc).rstrip('.')}). "
        "Templates may only show their data: remove that part of the template, or take a "
        "fresh copy from `run-billing init` in a new folder."
    )
