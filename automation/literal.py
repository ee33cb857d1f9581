"""Cell text shown literally, on one line: in the terminal, the run log and the emailed report.

A client named `Acme\\r\\n2026-03-09 INFO all paid` must not add a line to the
run log, and an ESC sequence must not repaint the bookkeeper's terminal: line
breaks and other control characters become their visible Unicode pictures.

>>> one_line("Acme\\r\\nForged line\\tand a tab\\x1b[2J")
'Acme␍␊Forged line and a tab␛[2J'
"""

from __future__ import annotations

import logging
import re

#: C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟: the control's own symbol
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\u2424" if code in (0x85, 0x2028, 0x2029) else "\ufffd"  # ␤ for other line breaks


def one_line(text: object) -> str:
    """`text` as one line with every control character visible; a tab is a space."""
    return _CONTROLS.sub(_picture, str(text).replace("\t", " "))


class LogFormatter(logging.Formatter):
    """A run-log formatter under which a record's later lines are marked as its own.

    Every line after the first is indented with `  | `: a summary or a
    traceback stays readable, and nothing in it can start a line that looks
    like an entry of the log.
    """

    def format(self, record: logging.LogRecord) -> str:
        return CONTINUATION.join(_BREAKS.split(super().format(record)))


CONTINUATION = "\n  | "
_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
