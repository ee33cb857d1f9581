"""sharedStrings.xml, read lazily: only the strings a touched cell refers to.

Cells the tool writes are inline strings, so this part is never rewritten.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import IO

from automation.writeback.xmlscan import (
    MAIN_NS,
    ROOT_TAG,
    Root,
    Span,
    parse_fragment,
    read_root,
    tag_pattern,
    text_of,
)


class SharedStrings:
    """sharedStrings.xml, read lazily: only the strings a touched cell refers to.

    The part (its bytes, or `opener` to inflate it from the package) is read
    piece by piece only as far as the strings asked for: the header cells a
    write-back reads are among the first strings, and on the 5,000-invoice
    workbook the whole part and its index took 8 MB.
    """

    def __init__(self, xml: bytes | None, opener: Callable[[], IO[bytes]] | None = None) -> None:
        if opener is None and xml:
            data = xml
            opener = lambda: io.BytesIO(data)  # noqa: E731
        self._opener = opener
        self._stream: IO[bytes] | None = None
        self._xml = bytearray()
        self._spans: list[Span] = []  # each <si> element, start to end
        self._scanned = 0  # where the search for the next <si> goes on
        self._cache: dict[int, str] = {}
        self._root: Root | None = None if opener is not None else Root(b"", MAIN_NS, b"")

    def _more(self) -> bool:
        """Read the next piece of the part and index it; False when all of it was read."""
        if self._opener is None:
            return False
        if self._stream is None:
            self._stream = self._opener()
        piece = self._stream.read(READ_PIECE)
        if piece:
            self._xml += piece
        else:
            self.close()
        if self._root is None and (not piece or ROOT_TAG.search(self._xml)):
            self._root = read_root(bytes(self._xml))  # says so when the part is damaged
        if self._root is not None:
            self._scan(self._root.prefix)
        return bool(piece)

    def _scan(self, prefix: bytes) -> None:
        """Index the <si> elements read in full so far."""
        close = b"</" + prefix + b"si>"
        for m in tag_pattern(prefix, b"si").finditer(self._xml, self._scanned):
            if m.group(0).endswith(b"/>"):
                end = m.end()
            else:
                end = self._xml.find(close, m.end())
                if end < 0:
                    return  # the rest of this one is still to be read
                end += len(close)
            self._spans.append((m.start(), end))
            self._scanned = end

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._opener = None

    def get(self, index: int) -> str:
        if index in self._cache:
            return self._cache[index]
        while index >= len(self._spans) and self._more():
            pass
        if not 0 <= index < len(self._spans) or self._root is None:
            return ""
        start, end = self._spans[index]
        si = parse_fragment(bytes(self._xml[start:end]), self._root)[0]
        self._cache[index] = text = text_of(si, self._root.ns)
        return text


#: How much of the part is inflated at a time.
READ_PIECE = 1 << 16


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
