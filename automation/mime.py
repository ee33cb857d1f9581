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
from email import base64mime, quoprimime
from email.policy import Compat32, EmailPolicy, Policy, compat32

#: The policy `email.mime` messages carry, with SMTP's line ends; lines folded at 76
#: characters, not 78: compat32 cuts an RFC 2047 word to fill the line, and at 78 a
#: word of a subject in Cyrillic came out 76 characters long, over the 75 RFC 2047
#: allows (strict mail programs show such a word undecoded).
COMPAT32_SMTP = compat32.clone(linesep="\r\n", max_line_length=76)
#: A header value's pieces where a fold may go: each piece but the first starts with the
#: spaces or tabs before it (a fold is a line break put before them).
_FOLDABLE = re.compile(r"[ \t]*[^ \t]+|[ \t]+$")
#: Printable ASCII words with single spaces between them: nothing compat32 folding changes.
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
#: Printable ASCII, spaces and tabs: compat32 folds it by its shape (`_SHAPE`).
_ASCII_TEXT = re.compile(r"[\t -~]*")
#: What compat32's folding looks at in ASCII: where the spaces, tabs, ";" and "," are.
_SHAPE = str.maketrans({c: "x" for c in map(chr, range(0x21, 0x7F)) if c not in ";,"})
_WORD = re.compile(r"[^ \t\r\n]+")
#: What compat32's RFC 2047 encoding of a value looks at: how many bytes each character
#: takes in UTF-8 and in the "Q" encoding (1 or 3 for ASCII, 3 a byte beyond it).
_ENCODED_SHAPE = str.maketrans(
    {chr(c): "x" if quoprimime.header_length(bytes([c])) == 1 else "#" for c in range(128)}
)
_UTF8_LENGTHS = (
    (re.compile("[\u0080-\u07ff]"), "\u00e9"),
    (re.compile("[\u0800-\uffff]"), "\u20ac"),
    (re.compile("[\U00010000-\U0010ffff]"), "\U0001f600"),
)
_ENCODED_WORD = re.compile(r"=\?utf-8\?([bq])\?([^?]*)\?=")
#: base64 line length (RFC 2045), as `email.base64mime` and `base64.encodebytes` write it.
_LINE = 76


class Utf8Headers(EmailPolicy):
    """`email.policy.SMTPUTF8` whose header lines are folded (RFC 5322: 78 characters,
    never over 998 octets), for a message with raw UTF-8 headers.

    The email package writes a header value given as text unfolded unless it
    reparses it, and reparsed, Content-Disposition loses its `filename*`. Here
    an ASCII value is folded as compat32 folds it for a message in ASCII (the
    same lines), and one beyond ASCII (an address with a non-ASCII local part,
    a subject) is broken at its spaces, raw, each line as long as fits.

    >>> cc = ", ".join(f"дмитрий.{n}@example.com" for n in range(4))
    >>> SMTPUTF8_SMTP.fold_binary("Cc", cc).decode().splitlines()  # doctest: +NORMALIZE_WHITESPACE
    ['Cc: дмитрий.0@example.com, дмитрий.1@example.com, дмитрий.2@example.com,',
     ' дмитрий.3@example.com']
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if not isinstance(value, str) or not name.isascii() or not _encodable(value):
            return super().fold_binary(name, value)  # what the policy makes of a line break
        if value.isascii():
            return fold(_compat32_for(self.linesep), name, value)
        limit, lines = self.max_line_length or 78, [f"{name}:"]
        for piece in _FOLDABLE.findall(f" {value}"):
            if len(lines[-1]) + len(piece) > limit and piece.strip():
                lines.append(piece)
            else:
                lines[-1] += piece
        return (self.linesep.join(lines) + self.linesep).encode("utf-8")


@functools.lru_cache(maxsize=4)
def _compat32_for(linesep: str) -> Compat32:
    return COMPAT32_SMTP.clone(linesep=linesep)


#: How a message with raw UTF-8 headers is written (`mail.needs_smtputf8`).
SMTPUTF8_SMTP = Utf8Headers(utf8=True, linesep="\r\n")


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

    A value beyond ASCII it encodes whole as RFC 2047 words (base64 or Q,
    whichever is shorter), cut where the next character would overfill the
    line: by what each character costs encoded, not by which it is. So the
    folding of one value of a shape (`_encoded_shape`) is again that of every
    value of that shape, each word encoded anew from the value's own characters.
    """
    if type(policy) is not Compat32 or not policy.max_line_length or not name.isascii():
        return policy.fold_binary(name, value)
    if len(name) + 2 + len(value) <= policy.max_line_length and _PLAIN_VALUE.fullmatch(value):
        return f"{name}: {value}{policy.linesep}".encode("ascii")
    if _ASCII_TEXT.fullmatch(value):
        words = iter(_WORD.findall(value))
        shape = value.translate(_SHAPE)
        folded = _WORD.sub(lambda _: next(words), _folded_shape(policy, name, shape))
        return f"{name}: {folded}".encode("ascii")
    if not value.isascii() and _encodable(value):
        template = _encoded_template(policy, name, _encoded_shape(value))
        if template is not None:
            return _fill(value, *template)
    return policy.fold_binary(name, value)


@functools.lru_cache(maxsize=256)
def _folded_shape(policy: Policy, name: str, shape: str) -> str:
    """compat32's folding of a value of this shape, after the "name: " it starts with."""
    return policy.fold_binary(name, shape).decode("ascii")[len(name) + 2 :]


def _encodable(value: str) -> bool:
    """One line (as `str.splitlines` sees it) that UTF-8 can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return value.splitlines() == [value]


def _encoded_shape(value: str) -> str:
    """`value` with each character replaced by one of the same UTF-8 and Q lengths."""
    shape = value.translate(_ENCODED_SHAPE)
    for pattern, like in _UTF8_LENGTHS:
        shape = pattern.sub(like, shape)
    return shape


_Template = tuple[tuple[str, ...], tuple[tuple[str, int], ...]]


@functools.lru_cache(maxsize=256)
def _encoded_template(policy: Policy, name: str, shape: str) -> _Template | None:
    """compat32's folding of a value of this shape, as the text around its encoded words
    and each word's encoding ("b" or "q") and length in characters."""
    folded = policy.fold_binary(name, shape).decode("ascii")
    words = _ENCODED_WORD.findall(folded)
    lengths = tuple((kind, len(_decoded(kind, text).decode("utf-8"))) for kind, text in words)
    around = tuple(_ENCODED_WORD.split(folded)[::3])
    if sum(length for _, length in lengths) != len(shape):
        return None  # not one run of encoded words: leave it to the policy
    return around, lengths


def _decoded(kind: str, text: str) -> bytes:
    if kind == "b":
        return base64.b64decode(text)
    return quoprimime.header_decode(text).encode("latin-1")


def _fill(value: str, around: tuple[str, ...], lengths: tuple[tuple[str, int], ...]) -> bytes:
    """The template's encoded words made again from `value`'s own characters."""
    out = [around[0]]
    start = 0
    for (kind, length), after in zip(lengths, around[1:], strict=True):
        piece = value[start : start + length].encode("utf-8")
        start += length
        encoder = base64mime.header_encode if kind == "b" else quoprimime.header_encode
        out.append(encoder(piece, "utf-8"))
        out.append(after)
    return "".join(out).encode("ascii")


def base64_body(data: bytes, nl: bytes = b"\r\n") -> bytes:
    """`data` in base64 lines of 76 characters, each ended by `nl`, as the generator writes
    what `base64.encodebytes` made (email.mime.text and email.encoders both use it).

    One `b64encode` and a join: `encodebytes` encodes 57 bytes a call, one line.
    """
    if not data:
        return b""
    text = base64.b64encode(data)
    return nl.join([text[i : i + _LINE] for i in range(0, len(text), _LINE)]) + nl
