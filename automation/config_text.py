"""billing.toml problems said in words, at their line: what is wrong and what to type.

billing.toml, line 3: curly quotes (“ ”) pasted from Word or Mail; type straight quotes "...".
billing.toml, line 2: [email] has an unknown option 'moed' (did you mean 'mode'?); ...
"""

from __future__ import annotations

import difflib
import re

CURLY = "\u201c\u201d\u2018\u2019\u00ab\u00bb"
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def toml_lines(text: str) -> list[str]:
    """billing.toml's lines as TOML counts them: ended by LF (or CRLF) only. A line
    separator (U+2028) or NEL typed inside a string is no line break there, as
    str.splitlines() would take it, which put every line number after it one off.
    """
    return text.split("\n")


def toml_problem(name: str, text: str, message: str) -> str:
    """A TOML syntax error, with the line and the likely cause named."""
    found = _AT_LINE.search(message)
    number = int(found[1]) if found else 0
    lines = toml_lines(text)
    line = lines[number - 1] if 0 < number <= len(lines) else ""
    where = f"{name}, line {number}" if number else name
    if any(ch in line for ch in CURLY):
        return (
            f"{where}: curly quotes (“ ” or ‘ ’), as Word or a mail program types them; "
            f"TOML needs straight quotes: {_straightened(line.strip())}"
        )
    if message.startswith("Cannot overwrite a value") and "=" in line:
        key = line.split("=", 1)[0].strip()
        return f"{where}: {key} is set twice in its section; keep one ({line.strip()})."
    if message.startswith("Cannot declare"):
        return f"{where}: the section {line.strip()} appears twice; put its options under one."
    key, equals, value = line.partition("=")
    value = value if equals else line
    if value.count('"') % 2 or value.count("'") % 2:
        return f"{where}: the quote is not closed; end the text with the same quote it starts with."
    said = f"{where}: {_AT_LINE.sub('', message).strip()} ({line.strip()})"
    text = value.split(" #", 1)[0].strip()  # a comment after the value is not part of it
    if text in ("True", "False", "TRUE", "FALSE"):
        small = f"{key.strip()} = {text.lower()}"
        return f"{said}: true and false are written in small letters: {small}."
    if text.startswith('"') and "\\" in text:  # "C:\Users\anna\log.xlsx"
        return f"{said}: {windows_path(text.strip(chr(34)))}"
    if equals and text and text[0] not in "\"'[{+-.0123456789" and not _BARE_VALUE.fullmatch(text):
        return f'{said}: text needs quotes: {key.strip()} = "{text}".'
    if equals and " " in key.strip() and key.strip()[:1] not in "\"'":
        return f'{said}: a name with a space needs quotes: "{key.strip()}" = {text}.'
    return f"{said}."


def windows_path(path: str, harm: str = "") -> str:
    """How to write a Windows path TOML took apart: `harm` says what its escapes did."""
    return (
        f"a backslash starts an escape inside double quotes{harm}; write a Windows path in "
        f"single quotes ('{path}') or with forward slashes."
    )


#: A TOML value written without quotes that is not text: a number, true/false, a date.
_BARE_VALUE = re.compile(r"[+-]?[\d_.eE+-]+|true|false|inf|nan|\d{4}-\d{2}-\d{2}[T ]?[\d:.+-Z]*")


def _straightened(line: str) -> str:
    return line.translate(str.maketrans("\u201c\u201d\u00ab\u00bb\u2018\u2019", '""""\'\''))


def unknown_option(
    section: str,
    key: str,
    known: list[str],
    what: str = "an unknown option",
    listed: str = "known options",
) -> str:
    """`[email] has an unknown option 'moed' (did you mean 'mode'?); known options: ...`
    (`what` and `listed` name something else than options: a sheet, a column)."""
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"[{section}] has {what} {key!r}{hint}; {listed}: {', '.join(sorted(known))}."


def at_line(name: str, text: str, message: str) -> str:
    """Prefix a config error that names an option with the line where that option is.

    The option is the one `unknown_option` names ("[email] has an unknown option 'moed'",
    "[columns] has no sheet 'Servicez'"), or the key after the section ("[billing]
    default_terms: ...", '[columns.Invoices] "Paid Amount" = ...'); it is looked for
    in that section, as `key = ...` or as a table of its own (`[columns.Servicez]`).

    >>> at_line("billing.toml", "[billing]\\nterms = 1\\n[columns.servicez]\\n",
    ...         "[columns] has no sheet 'servicez'; sheets: ...")
    "billing.toml, line 3: [columns] has no sheet 'servicez'; sheets: ..."
    """
    option = _option_named(message)
    section = re.search(r"section \[([^\]]+)\]", message)
    if option:  # "unknown option 'moed'", "[billing] bill_after_days must be ..."
        pattern = rf"\s*[\"']?{re.escape(option)}[\"']?\s*="
    elif section:  # "unknown section [biling]"
        pattern = rf"\s*\[\s*{re.escape(section[1])}\s*\]"
    else:
        return f"{name}: {message}"
    named = re.match(r"\[([\w.]+)\]", message)  # the section the message is about, if any
    within = named[1].casefold() if named and option else None
    table = f"{within}.{option}".casefold() if within and option else None
    current = ""
    for number, line in enumerate(toml_lines(text), start=1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if header and not re.match(pattern, line):
            current = re.sub(r"[\"'\s]", "", header[1]).casefold()  # [columns."Services"]
            if current == table:  # the option as a table of its own: [columns.Servicez]
                return f"{name}, line {number}: {message}"
        if re.match(pattern, line) and (within is None or current == within):
            return f"{name}, line {number}: {message}"
    return f"{name}: {message}"


def _option_named(message: str) -> str | None:
    """The option a config error is about: the one `unknown_option` names, else the key
    after the section ("[billing] default_terms: ...", '[columns.Invoices] "Paid Amount"
    = ...'); None when it names none."""
    found = re.match(r"\[[\w.]+\] has [\w ]+? '([^']+)'", message) or re.search(
        r"option '([^']+)'", message
    )
    if found:
        return found[1]
    found = re.match(r'\[[\w.]+\] (?:"([^"]+)"|(\w+))[ :]', message)
    return (found[1] or found[2]) if found else None
