"""sharedStrings.xml, read lazily: only the strings a touched cell refers to.

Cells the tool writes are inline strings, so this part is never rewritten.
"""

from __future__ import annotations

import re

from automation.writeback.xmlscan import (
    MAIN_NS,
    Root,
    Span,
    parse_fragment,
    read_root,
    span_end,
    tag_pattern,
    text_of,
)


class SharedStrings:
    """sharedStrings.xml, read lazily: only the strings a touched cell refers to."""

    def __init__(self, xml: bytes | None) -> None:
        self._xml = xml or b""
        self._spans: list[Span] | None = None
        self._cache: dict[int, str] = {}
        self._root = read_root(self._xml) if xml else Root(b"", MAIN_NS, b"")

    def get(self, index: int) -> str:
        if index in self._cache:
            return self._cache[index]
        if self._spans is None:
            pattern = tag_pattern(self._root.prefix, b"si")
            self._spans = [m.span() for m in pattern.finditer(self._xml)]
        if not 0 <= index < len(self._spans):
            return ""
        span = self._spans[index]
        end = span_end(self._xml, span, self._root.prefix, b"si")
        si = parse_fragment(self._xml[span[0] : end], self._root)[0]
        self._cache[index] = text = text_of(si, self._root.ns)
        return text


_SST_COUNT = re.compile(rb"""(<(?:\w+:)?sst\b[^>]*?\bcount\s*=\s*["'])(\d+)(["'])""")


def recount_shared_strings(xml: bytes, dropped: int) -> bytes:
    """sharedStrings.xml with its `count` (cells referring to it) lowered by `dropped`.

    The strings themselves stay: another cell may still use them, and Excel
    only asks that `uniqueCount` match the list and `count` the references.
    """
    m = _SST_COUNT.search(xml, 0, 2048)
    if not m:
        return xml
    count = max(int(m.group(2)) - dropped, 0)
    return xml[: m.start(2)] + str(count).encode() + xml[m.end(2) :]
