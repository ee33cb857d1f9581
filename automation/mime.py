"""A MIME tree written to the very bytes `email.generator` writes for it, in a few joins.

The generator flattens a message a part at a time, every header through the
policy's folding and every base64 body line by line: some 900 small writes
for a 40 kB attachment, two thirds of the time a message takes to build. The
messages `mail.build_message` makes hold only multiparts and base64 leaves,
and for those the generator's output is simple to state:

    headers, a blank line, then for a leaf its base64 text in 76-character
    lines; for a multipart "--B", each part, "--B" between parts, "--B--".

>>> leaf = Leaf((("Content-Type", "text/plain"),), b"hi")
>>> top = Multipart((("Content-Type", 'multipart/mixed; boundary="B"'),), "B", (leaf,))
>>> flatten(top, COMPAT32_SMTP).split(b"\\r\\n")  # doctest: +NORMALIZE_WHITESPACE
[b'Content-Type: multipart/mixed; boundary="B"', b'', b'--B', b'Content-Type: text/plain',
 b'', b'aGk=', b'', b'--B--', b'']

tests/test_mail_fast.py holds this module to the email package's own output.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from email.policy import Compat32, Policy, compat32

#: The policy `email.mime` messages carry, with SMTP's line ends.
COMPAT32_SMTP = compat32.clone(linesep="\r\n")
#: Printable ASCII words with single spaces between them: nothing compat32 folding changes.
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
#: Printable ASCII, spaces and tabs: compat32 folds it by its shape (`_SHAPE`).
_ASCII_TEXT = re.compile(r"[\t -~]*")
#: What compat32's folding looks at in ASCII: where the spaces, tabs, ";" and "," are.
_SHAPE = str.maketrans({c: "x" for c in map(chr, range(0x21, 0x7F)) if c not in ";,"})
_WORD = re.compile(r"[^ \t\r\n]+")
#: base64 line length (RFC 2045), as `email.base64mime` and `base64.encodebytes` write it.
_LINE = 76


@dataclass(frozen=True)
class Leaf:
    """A part whose content is written in base64.

    Attributes:
      headers: (name, value) in the order they are written.
      data: the content, not yet encoded.
    """

    headers: tuple[tuple[str, str], ...]
    data: bytes


@dataclass(frozen=True)
class Multipart:
    headers: tuple[tuple[str, str], ...]
    boundary: str
    parts: tuple[Leaf | Multipart, ...]


def flatten(part: Leaf | Multipart, policy: Policy) -> bytes:
    """What `Message.as_bytes(policy=policy)` returns for the same tree."""
    chunks: list[bytes] = []
    _write(part, policy, policy.linesep.encode("ascii"), chunks)
    return b"".join(chunks)


def _write(part: Leaf | Multipart, policy: Policy, nl: bytes, out: list[bytes]) -> None:
    out.extend(fold(policy, name, value) for name, value in part.headers)
    out.append(nl)
    if isinstance(part, Leaf):
        out.append(base64_body(part.data, nl))
        return
    boundary = part.boundary.encode("ascii")
    for i, sub in enumerate(part.parts):
        out.append(b"--" + boundary + nl if i == 0 else nl + b"--" + boundary + nl)
        _write(sub, policy, nl, out)
    if not part.parts:
        out.append(b"--" + boundary + nl)
    out.append(nl + b"--" + boundary + b"--" + nl)


def fold(policy: Policy, name: str, value: str) -> bytes:
    """`policy.fold_binary(name, value)`, with compat32's Header machinery run less often.

    compat32 writes a value of printable ASCII words with single spaces that
    fits on the line (78 characters with the name) as it is. A longer ASCII
    value it breaks at spaces and tabs, preferring those after a ";" or ",",
    by the lengths of the words alone; the words come through whole. So the
    folding of one value of a shape (each word character made "x") is the
    folding of every value of that shape, its words put back in order.
    """
    if type(policy) is not Compat32 or not policy.max_line_length or not name.isascii():
        return policy.fold_binary(name, value)
    if len(name) + 2 + len(value) <= policy.max_line_length and _PLAIN_VALUE.fullmatch(value):
        return f"{name}: {value}{policy.linesep}".encode("ascii")
    if not _ASCII_TEXT.fullmatch(value):
        return policy.fold_binary(name, value)
    words = iter(_WORD.findall(value))
    folded = _WORD.sub(lambda _: next(words), _folded_shape(policy, name, value.translate(_SHAPE)))
    return f"{name}: {folded}".encode("ascii")


@functools.lru_cache(maxsize=256)
def _folded_shape(policy: Policy, name: str, shape: str) -> str:
    """compat32's folding of a value of this shape, after the "name: " it starts with."""
    return policy.fold_binary(name, shape).decode("ascii")[len(name) + 2 :]


def base64_body(data: bytes, nl: bytes = b"\r\n") -> bytes:
    """`data` in base64 lines of 76 characters, each ended by `nl`, as the generator writes
    what `base64.encodebytes` made (email.mime.text and email.encoders both use it).

    One `b64encode` and a join: `encodebytes` encodes 57 bytes a call, one line.
    """
    text = base64.b64encode(data)
    return b"".join([text[i : i + _LINE] + nl for i in range(0, len(text), _LINE)])
