"""Templates render in Jinja's immutable sandbox: the data they are given, and nothing else.

Bookkeepers exchange template files by email, so a billing folder's own
templates are not trusted: `{{ cycler.__init__.__globals__ }}` and the like
raise `jinja2.exceptions.SecurityError` in the sandbox, which the run turns
into `TemplateRefusedError` (exit 2) naming the template.

>>> environment().from_string("{{ cycler.__init__.__globals__ }}").render()
Traceback (most recent call last):
...
jinja2.exceptions.SecurityError: access to attribute '__init__' of 'type' object is unsafe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import UnusableError

__all__ = ["SecurityError", "TemplateRefusedError", "environment", "refused"]


class TemplateRefusedError(UnusableError):
    """A template reached for something beyond its data: the run stops (exit 2)."""


def environment(**options: Any) -> ImmutableSandboxedEnvironment:
    """A Jinja environment whose templates can read their data but not call into Python.

    The immutable sandbox also refuses methods that change a list or dict
    (`append`, `update`), so one invoice's template cannot alter the next one's data.
    """
    return ImmutableSandboxedEnvironment(**options)


def refused(template: Path | str, exc: SecurityError) -> TemplateRefusedError:
    """The error a bookkeeper reads: which template, what it tried, what to do."""
    return TemplateRefusedError(
        f"the template {template} tries to reach beyond the data it is given ({exc}). "
        "Templates may only show their data: remove that part of the template, or take a "
        "fresh copy from `run-billing init` in a new folder."
    )
