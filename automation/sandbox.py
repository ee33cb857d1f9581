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

import difflib
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import UnusableError

__all__ = [
    "Sandbox", "SecurityError", "TemplateRefusedError", "UnknownCall", "broken", "environment",
    "guarded_names", "refused", "runaway", "time_limit", "unknown_call",
]  # fmt: skip


class TemplateRefusedError(UnusableError):
    """A template reached for something beyond its data: the run stops (exit 2)."""


#: Jinja's globals that show no data of the template's: not offered (cycler and joiner
#: stay: striped rows and joined lists are a template's own business).
NOT_DATA = ("lipsum",)
#: The longest text or list a template may make by repeating one (`'a' * n`), and the
#: most items a range may have: a document or email is far below either.
MAX_MADE = 100_000


#: A width or precision in a %-format (`'%0999999999d' % 1`, `'%(a)09999d'`, `'%*d'`).
_FORMAT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d+))?")
#: A replacement field of str.format with a width or precision (`'{:0200000}'`).
_FIELD_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
#: A replacement field whose format spec takes a field of its own (`'{:>{w}}'`): its width
#: comes from the data.
_NESTED_FIELD = re.compile(r"\{[^{}]*:[^{}]*\{")
#: The longest text a template may join with `~` (a whole document is far below it).
MAX_JOINED = 1_000_000
#: Seconds a template may take to fill in one real document (or email) before it is
#: refused: a loop that only real data sets off must not hold the run for ever.
REAL_SECONDS = 60


def _check_widths(widths: Iterable[str]) -> None:
    """Refuse a format whose widths or precisions (as written) exceed MAX_MADE, or are
    taken from the data (`*`)."""
    for width in widths:
        if width == "*":
            raise SecurityError("a format whose width comes from its data is refused")
        if int(width or 0) > MAX_MADE:
            raise SecurityError("a format that wide is more than a template may make")


def _check_format(text: Any) -> None:
    """Refuse a %-format whose width or precision would make more than MAX_MADE."""
    if isinstance(text, str):
        _check_widths(w for pair in _FORMAT_WIDTH.findall(text) for w in pair)


def _widened(name: str, filter_: Any) -> Any:
    """A filter that pads or repeats (`center`, `indent`), refused past MAX_MADE wide
    (`indent` pads every line: its width times the lines)."""

    def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        lines = str(value).count("\n") + 1 if name == "indent" else 1
        if isinstance(width, int) and width * lines > MAX_MADE:
            raise SecurityError(f"|{name}({width:,}) is more than a template may make")
        return filter_(value, width, *args, **kwargs)

    return bounded


def _bounded_replace(filter_: Any) -> Any:
    """`|replace`, refused when what it would make is longer than MAX_JOINED."""

    def bounded(context: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        text = str(value)
        times = text.count(str(old)) if str(old) else len(text) + 1
        if isinstance(count, int):
            times = min(times, max(count, 0))
        if len(text) + times * max(len(str(new)) - len(str(old)), 0) > MAX_JOINED:
            raise SecurityError("|replace would make more than a template may make")
        return filter_(context, value, old, new, count)

    bounded.jinja_pass_arg = getattr(filter_, "jinja_pass_arg", None)  # type: ignore[attr-defined]
    return bounded


def _range(*args: int) -> range:
    """`range`, refused (not an OverflowError) past MAX_MADE items."""
    made = range(*args)
    if len(made) > MAX_MADE:
        raise SecurityError(f"a range of {len(made):,} numbers is more than a template may make")
    return made


class _BoundedJoins(CodeGenerator):
    """Jinja's code generator, each `a ~ b` handed to `Sandbox.joined` once made."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined(")
        super().visit_Concat(node, frame)
        self.write(")")


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, refusing at the first unsafe access, without NOT_DATA,
    and refusing to make texts or numbers too big for any document (`call_binop`,
    `joined`), or to take in other files (`_parse`)."""

    intercepted_binops = frozenset({"*", "**", "%"})
    code_generator_class = _BoundedJoins

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in NOT_DATA:
            self.globals.pop(name, None)
        self.globals["range"] = _range
        for name in ("center", "indent"):
            self.filters[name] = _widened(name, self.filters[name])
        self.filters["replace"] = _bounded_replace(self.filters["replace"])
        plain_format = self.filters["format"]

        def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
            _check_format(value)
            return plain_format(value, *args, **kwargs)

        self.filters["format"] = format_

    def wrap_str_format(self, value: Any) -> Any:
        """`'...'.format(...)` in a template, refused for a field wider than MAX_MADE, or
        one whose width is given as a field of its own (`'{:>{w}}'`)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            text = str(value.__self__)
            if _NESTED_FIELD.search(text):
                raise SecurityError("a format whose width comes from its data is refused")
            _check_widths(_FIELD_WIDTH.findall(text))
        return wrapped

    def joined(self, value: Any) -> Any:
        """What `a ~ b` made, refused past MAX_JOINED (texts doubled in a loop of `set`)."""
        if len(value) > MAX_JOINED:
            raise SecurityError(
                f"joining texts with ~ into {len(value):,} characters is more than a "
                "template may make"
            )
        return value

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's parse tree; one that takes in another file is refused where there
        are no files to take (a Word template's; the email templates' folder has some)."""
        tree = super()._parse(source, name, filename)
        if self.loader is not None:
            return tree
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            raise TemplateSyntaxError(
                "a template cannot take in another file ({% include %}, {% import %}, "
                "{% extends %}): put what it should show in the template itself",
                node.lineno,
                name,
                filename,
            )
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                made = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if made and len(seq) * times > MAX_MADE:
                    raise SecurityError(
                        f"repeating a text or list {times:,} times makes more than a "
                        "template may make"
                    )
        if operator == "%":
            _check_format(left)
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError(f"a power of {right} is more than a template may work out")
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


#: What a trial render that ran out of memory is told as.
OUT_OF_MEMORY = SecurityError("it makes more than this computer's memory holds")

#: Seconds a template may take to render on sample data before it is refused.
TRIAL_SECONDS = 20


class _TooSlow(Exception):
    pass


@contextmanager
def time_limit(
    template: Path | str, seconds: float | None = None, real: bool = False
) -> Iterator[None]:
    """Refuse a template whose trial render runs past `seconds` (TRIAL_SECONDS by default:
    loops within loops), or whose render of one `real` document runs past REAL_SECONDS.

    A timer signal interrupts the render; where there is none (Windows, a
    thread other than the main one) the trial runs unbounded, as before.
    """
    if seconds is None:
        seconds = REAL_SECONDS if real else TRIAL_SECONDS
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _TooSlow

    # A timer already set (pytest-timeout's, say) is put back afterwards with what is left of
    # it; one due sooner than this limit keeps its time.
    left, interval = signal.getitimer(signal.ITIMER_REAL)
    if left and left <= seconds and signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL:
        yield  # a limit already set (the trial's around a real render) is due first
        return
    previous = signal.signal(signal.SIGALRM, stop)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, min(seconds, left) if left else seconds)
    try:
        yield
    except _TooSlow:
        data = "one document" if real else "sample data"
        raise TemplateRefusedError(
            f"the template {template} takes more than {seconds:g} seconds to fill in {data} "
            "(loops within loops?); a template only lays out its data. Remove that part, "
            "or take a fresh copy from `run-billing init` in a new folder."
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if left:
            remaining = max(left - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)


def guarded_names(trees: Sequence[Any]) -> set[str]:
    """The names a template tests with `is defined` or gives a `|default`: it shows them
    only when they are there."""
    from jinja2 import nodes

    names: set[str] = set()
    for tree in trees:
        for test in tree.find_all(nodes.Test):
            if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name):
                names.add(test.node.name)
        for used in tree.find_all(nodes.Filter):
            if used.name in ("default", "d") and isinstance(used.node, nodes.Name):
                names.add(used.node.name)
    return names


#: Filters that take the name of a test, and which of their arguments it is
#: (`|select('odd')`, `|selectattr('paid', 'defined')`).
_TEST_ARGUMENT = {"select": 0, "reject": 0, "selectattr": 1, "rejectattr": 1}


@dataclass(frozen=True)
class UnknownCall:
    """A filter or test a template uses that templates do not have (`|uper`, `is defind`),
    where it is (`lineno` of the parsed text), and the known one nearest its name."""

    what: str  # "filter" or "test"
    name: str
    lineno: int
    near: str | None

    def written(self, name: str) -> str:
        return f"|{name}" if self.what == "filter" else f"is {name}"

    def refusal(self, template: Path | str, where: str, fix: str) -> UnusableError:
        """What the bookkeeper reads: the template, where in it, the name meant, and `fix`."""
        hint = f" (did you mean {self.written(self.near)}?)" if self.near else ""
        return UnusableError(
            f"the template {template} uses the {self.what} {self.written(self.name)} "
            f"({where}), which templates do not have{hint}: {fix}"
        )


def unknown_call(env: Any, trees: Sequence[nodes.Template]) -> UnknownCall | None:
    """The first filter or test (by line) the trees use that `env` does not have, or None.

    Jinja tells an unknown filter only when it compiles the template, with no
    hint of the name meant, and an unknown test under `{% if %}` only when the
    test is reached with data: every email or document would fail after the
    invoices are numbered. `{% filter x %}` blocks hold a Filter node too; a test
    named in `|select('x')` and its kin is looked up as well.
    """
    found: list[UnknownCall] = []
    for tree in trees:
        for node in tree.find_all((nodes.Filter, nodes.Test)):
            for what, name in _called(node):
                known = env.filters if what == "filter" else env.tests
                if name not in known:
                    near = difflib.get_close_matches(name, sorted(known), n=1)
                    found.append(UnknownCall(what, name, node.lineno, near[0] if near else None))
    return min(found, key=lambda call: call.lineno, default=None)


def _called(node: Any) -> Iterator[tuple[str, str]]:
    """("filter" or "test", name) for what a Filter or Test node calls by its name."""
    if isinstance(node, nodes.Test):
        yield "test", node.name
        return
    yield "filter", node.name
    at = _TEST_ARGUMENT.get(node.name)
    if at is not None and len(node.args) > at:
        argument = node.args[at]
        if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
            yield "test", argument.value


def broken(template: Path | str, exc: TemplateError) -> UnusableError:
    """A template Jinja could not fill in whatever the data (a filter or test it does not
    have, met only now): the run stops naming it and its line, never as an unexpected
    problem."""
    line = _template_line(exc)
    where = f" (line {line})" if line else ""
    told = (exc.message or type(exc).__name__).rstrip(".")
    return UnusableError(
        f"the template {template} cannot be used: {told}{where}; correct it, or take a "
        "fresh copy from `run-billing init` in a new folder."
    )


def _template_line(exc: BaseException) -> int | None:
    """The template's line of a fault: its own, or the last one Jinja's traceback shows
    (Jinja puts the template's file and line in it, in place of its generated code)."""
    line = getattr(exc, "lineno", None)
    trace = exc.__traceback__
    while trace is not None:
        if not trace.tb_frame.f_code.co_filename.endswith(".py"):
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def environment(**options: Any) -> ImmutableSandboxedEnvironment:
    """A Jinja environment whose templates can read their data but not call into Python.

    The immutable sandbox also refuses methods that change a list or dict
    (`append`, `update`), so one invoice's template cannot alter the next one's data.
    """
    return Sandbox(**options)


def runaway(template: Path | str, exc: BaseException) -> TemplateRefusedError | None:
    """The refusal of a template whose filling in ran away (a macro calling itself without
    end, a number too long to show, more than the memory holds), or None for a fault
    of another kind (a value the sample data lacks)."""
    if isinstance(exc, RecursionError):
        return refused(template, SecurityError("a macro that calls itself without end"))
    if isinstance(exc, MemoryError):
        return refused(template, OUT_OF_MEMORY)
    if isinstance(exc, ValueError) and "digits" in str(exc):  # int -> str past its limit
        return refused(template, SecurityError("a number too long to show"))
    return None


def refused(template: Path | str, exc: SecurityError) -> TemplateRefusedError:
    """The error a bookkeeper reads: which template, what it tried, what to do."""
    return TemplateRefusedError(
        f"the template {template} tries to reach beyond the data it is given "
        f"({str(exc).rstrip('.')}). "
        "Templates may only show their data: remove that part of the template, or take a "
        "fresh copy from `run-billing init` in a new folder."
    )
