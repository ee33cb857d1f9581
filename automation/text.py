"""Text from cells and servers, made safe to show on one line.

A line break typed into a cell (Alt+Enter in Excel) or sent in a server's
reply must not start a new line in the terminal, the run log or an Error
cell, where it could pass for a line the tool wrote. It is shown as the
two characters `\\n` instead:

>>> one_line("Acme\\nLtd\\r\\n\\tB")
'Acme\\\\nLtd\\\\r\\\\n\\\\tB'
"""

from __future__ import annotations

import re

#: Every character str.splitlines() breaks on, plus the other C0/C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """`text` with line breaks and control characters written as visible escapes."""
    return _CONTROL.sub(lambda m: _NAMED.get(m[0], _escape(m[0])), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
