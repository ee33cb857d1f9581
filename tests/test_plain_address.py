"""The quick reading of plain addresses says what the RFC 5322 parser and IDNA say.

`parse_addresses` reads a plain `local@host.example` without the standard
library's header parser and the IDNA codec; any piece it is not sure of goes
the full way. Here the quick answer is held to the full one on generated
pieces, near-misses included.
"""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from automation.mail import _bare_address, _plain_address, parse_addresses

full = _bare_address.__wrapped__  # the full reading, without its cache

LOCAL = string.ascii_letters + string.digits + "._%+-!#'=?~"
HOST = string.ascii_letters + string.digits + "-."
labels = st.text(alphabet=HOST.replace(".", ""), min_size=1, max_size=66)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
plainish = st.builds(
    lambda local, host, tail: f"{local}@{host}{tail}",
    st.text(alphabet=LOCAL, min_size=0, max_size=12),
    hosts | st.text(alphabet=HOST, max_size=30),
    st.sampled_from(["", "", ".", " ", "x", "@b.c", ">", ".xn--p1ai", ".123"]),
)
anything = st.text(alphabet=LOCAL + HOST + "@ <>\"(),;:\\[]é\u00a0", max_size=40)


@given(plainish | anything)
def test_the_quick_reading_agrees_with_the_full_one(piece: str) -> None:
    quick = _plain_address(piece)
    if quick is not None:
        assert quick == full(piece)


def test_usual_addresses_take_the_quick_way() -> None:
    for piece in ["client0001@clients.example", "Ann.Lee+billing@Mail.Client-1.kz", "a@b.co"]:
        assert _plain_address(piece) == full(piece) is not None
    for piece in ["Ann <ann@b.example>", "ann@xn--e1afmkfd.xn--p1ai", "ann@пример.рф", "a..b@c.d"]:
        assert _plain_address(piece) is None
    long_host = ".".join(["a" * 63] * 4) + ".example"
    assert _plain_address(f"ann@{long_host}") is None and full(f"ann@{long_host}") is None
    assert parse_addresses("ANN@Client.Example; ann@client.example, bad") == (
        ("ANN@client.example",),
        ("bad",),
    )
