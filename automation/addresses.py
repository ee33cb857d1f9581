"""Email addresses as a client's cell or the config holds them: split, read, checked.

A cell may list several (`;`, `,` or a line break between them, Alt+Enter in
Excel); each is read with the standard library's RFC 5322 parser, its domain
in IDNA form. Validation reads Clients cells with these, the mail module
builds headers and envelopes with them; neither needs the other.

>>> parse_addresses("ann@example.com; bad, Bob <bob@example.org>")
(('ann@example.com', 'bob@example.org'), ('bad',))
"""

from __future__ import annotations

import email.policy
import functools
import re
from email import errors as email_errors

import idna

#: A dot-atom local part (RFC 5322), letters beyond ASCII allowed (RFC 6531).
_LOCAL_RE = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*", re.UNICODE)
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_ADDRESS = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL_RE.pattern}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
)


def parse_addresses(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a cell of addresses on `;`, `,` and line breaks (Alt+Enter in a cell) into
    (valid addresses, invalid pieces).

    Each piece is read with the standard library's RFC 5322 parser, so a quoted
    display name may hold commas (`"Ann, Accounts" <ann@client.example>`).
    Display names are dropped; domains come back in their IDNA (`xn--`) form;
    duplicates (case-insensitive) are kept once.

    >>> parse_addresses('"Ann, Accounts" <ann@client.example>; info@пример.рф')
    (('ann@client.example', 'info@xn--e1afmkfd.xn--p1ai'), ())
    """
    if not text:  # an empty CC cell, client after client
        return (), ()
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for piece in split_addresses(text):
        address = bare_address(piece)
        if address is None:
            invalid.append(piece)
        elif address.lower() not in seen:
            seen.add(address.lower())
            valid.append(address)
    return tuple(valid), tuple(invalid)


#: What makes a `;` or `,` part of an address rather than a separator, and the separators.
_GROUPING, _SEPARATORS = re.compile(r'["<>()]'), re.compile(r"[;,\r\n]")


def split_addresses(text: str) -> list[str]:
    """Pieces between `;`, `,` and line breaks outside quotes, <angle brackets> and
    (comments)."""
    if not _GROUPING.search(text):  # most cells: plain addresses, split without the walk
        return [p.strip() for p in _SEPARATORS.split(text) if p.strip()]
    return walk_addresses(text)


def walk_addresses(text: str) -> list[str]:
    """`split_addresses` a character at a time, minding quotes, brackets and comments."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = {"<": 0, "(": 0}
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<(":
            depth[char] += 1
        elif not quoted and char in ">)":
            opener = "<" if char == ">" else "("
            depth[opener] = max(0, depth[opener] - 1)
        elif not quoted and not any(depth.values()) and char in ";,\r\n":
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


@functools.lru_cache(maxsize=4096)
def bare_address(piece: str) -> str | None:
    """The address in one piece, its domain in IDNA form, or None when it is not one.

    Cached: the same sender is parsed for every Message-ID and every message
    (the email package's header parser costs about half a millisecond). A
    plain address (most of them) needs no parser.
    """
    plain = plain_address(piece)
    return plain if plain is not None else parsed_address(piece)


def plain_address(piece: str) -> str | None:
    """`local@domain` in ASCII that `parsed_address` returns as it is, the domain
    in lower case (IDNA's mapping of ASCII letters); None for any other piece.

    The local part is a dot-atom; the domain's labels are letters, digits and
    hyphens, never two hyphens together (IDNA has rules for those), the last
    one starting with a letter. A piece starting "=?" is left to the parser: it
    reads an RFC 2047 encoded word there (and refuses the address).
    """
    if not PLAIN_ADDRESS.fullmatch(piece) or piece.startswith("=?"):
        return None
    local, _, domain = piece.rpartition("@")
    if "--" in domain or len(domain) > 253:
        return None
    return f"{local}@{domain.lower()}"


def parsed_address(piece: str) -> str | None:
    """`bare_address` by the email package's RFC 5322 parser and IDNA."""
    if any(c in piece for c in "\r\n\0"):
        return None
    header = email.policy.default.header_factory("To", piece)
    addresses = header.addresses
    tolerated = (email_errors.NonASCIILocalPartDefect,)
    if len(addresses) != 1 or any(not isinstance(d, tolerated) for d in header.defects):
        return None
    local, domain = addresses[0].username, addresses[0].domain
    ascii_domain = idna_domain(domain)
    if not local or ascii_domain is None or not _LOCAL_RE.fullmatch(local):
        return None
    return f"{local}@{ascii_domain}"


def idna_domain(domain: str) -> str | None:
    """The domain as sent over SMTP (IDNA, lower case), or None when it is not a host name.

    >>> idna_domain("Пример.РФ"), idna_domain("xn--e1afmkfd.xn--p1ai"), idna_domain("x")
    ('xn--e1afmkfd.xn--p1ai', 'xn--e1afmkfd.xn--p1ai', None)
    """
    try:
        ascii_domain = idna.encode(domain.strip().rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        return None
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return None
    return None if labels[-1].isdigit() else ascii_domain


def needs_smtputf8(address: str) -> bool:
    """True for an address with letters other than ASCII before the @ (RFC 6531)."""
    return not address.rpartition("@")[0].isascii()
