"""Text from cells and servers, made safe to show on one line.

A line break typed into a cell (Alt+Enter in Excel) or sent in a server's
reply must not start a new line in the terminal, the run log or an Error
cell, where it could pass for a line the tool wrote. It is shown as the
two characters `\\n` instead. An invisible character pasted into a cell (a
zero-width space, a byte order mark, a bidi control) is shown by its code
too, else "Acme\\u200b Ltd" is not in Clients reads as if "Acme Ltd" were not:

>>> one_line("Acme\\nLtd\\r\\n\\tB")
'Acme\\\\nLtd\\\\r\\\\n\\\\tB'
>>> one_line("Acme\\u200b Ltd \\ufeff\\u202eexe"), one_line("Café 東京 Ёлка 👍")
('Acme\\\\u200b Ltd \\\\ufeff\\\\u202eexe', 'Café 東京 Ёлка 👍')
"""

from __future__ import annotations

import hashlib
import re
import sys

#: A flag of a region (🏴 + tag letters + cancel tag) is shown as it is; tags elsewhere
#: are escaped below with the other invisible characters.
_FLAG = "\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
#: Every character str.splitlines() breaks on, plus the other C0/C1 controls.
_BREAKS = "\x00-\x1f\x7f-\x9f\u2028\u2029"
#: The invisible format characters (Unicode category Cf) but the two joiners and the
#: marks that are drawn (Arabic number signs): soft hyphen, Arabic letter mark,
#: Mongolian vowel separator, zero-width space, LRM/RLM, bidi embeddings, overrides and
#: isolates, word joiner and invisible operators, BOM, interlinear annotations, the
#: format controls of hieroglyphs, shorthand and music, and tags.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
#: Zero-width (non-)joiners shape Persian, Indic and emoji sequences between two such
#: characters; beside ASCII, a space or an end, they only hide.
_LONE_JOINER = r"(?<![^\x00-\x7f\s])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f\s])"
_SHOWN = re.compile(f"({_FLAG})|[{_BREAKS}{_INVISIBLE}]|{_LONE_JOINER}")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """`text` with line breaks, control and invisible characters written as visible
    escapes."""
    return _SHOWN.sub(lambda m: m[1] or _NAMED.get(m[0], _escape(m[0])), text)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


#: A secret this long is hidden wherever it appears, even run into other text; a
#: shorter one only where it stands alone (not inside a word), else a password "x"
#: would turn a server's "extension not supported" into "e***tension not supported".
HIDDEN_INSIDE_WORDS = 8


def hide_secrets(text: str, *secrets: str) -> str:
    """`text` with each of `secrets` written as `***` (a server may quote a command back).

    >>> hide_secrets("535 login x refused: AUTH extension not supported", "x")
    '535 login *** refused: AUTH extension not supported'
    >>> hide_secrets("bad token=ya29.a0AfB_token;then", "ya29.a0AfB_token", "")
    'bad token=***;then'
    """
    # The longest first: a secret holding a shorter one is hidden whole.
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        if len(secret) >= HIDDEN_INSIDE_WORDS:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def storable_name(name: str, encoding: str | None = None) -> str:
    """`name` as it is when the file system's `encoding` (this machine's) can hold it;
    else each character it cannot hold as "_", with a digest of the whole name after
    it, so that two clients' names stay two files.

    A machine whose locale is not UTF-8 (LC_ALL=C with UTF-8 mode off) cannot name a
    file "ТОО Ақ Жол": the statement was written after the invoices had gone, and the
    run stopped before the workbook was written.

    >>> storable_name("Café 東京"), storable_name("ТОО Ақ Жол", "ascii")
    ('Café 東京', '___ __ ___-b354c975')
    """
    encoding = encoding or sys.getfilesystemencoding()
    try:
        name.encode(encoding)
    except UnicodeEncodeError:
        kept = name.encode(encoding, errors="replace").decode(encoding).replace("?", "_")
        return f"{kept}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"
    return name


_DIGITS = re.compile(r"(\d+)")


def number_order(number: str) -> tuple[str | int, ...]:
    """A key that sorts document numbers in the order they were issued: the digits in
    them compared as numbers, so that a format without a width sorts N2 before N10.

    >>> sorted(["N10", "N2", "INV-2026-0010", "INV-2025-0099", "INV-2026-0009"], key=number_order)
    ['INV-2025-0099', 'INV-2026-0009', 'INV-2026-0010', 'N2', 'N10']
    """
    parts = _DIGITS.split(number)  # text, digits, text, ...: each place holds one kind
    return tuple(int(part) if k % 2 else part for k, part in enumerate(parts))
