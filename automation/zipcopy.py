"""Write a zip package copying untouched members' compressed bytes as they are.

`zipfile` can only add a member by compressing it again. Both the write-back
(an .xlsx whose 35 MB sheet must not be recompressed when one row changes,
and whose other parts must stay byte for byte) and the renderer (a .docx
template whose styles.xml, up to 350 kB from Word, is the same in every invoice) copy members
through unchanged and replace only a few:

    with zipfile.ZipFile(src) as zf:
        data = src.read_bytes()
        out = ZipCopier(fp)
        for info in zf.infolist():
            out.copy(info, raw_member(data, info))
        out.close(zf.comment)
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

_LOCAL = struct.Struct("<4s2B4HL2L2H")
#: A central directory record up to its offset field, which `_OFFSET` packs.
_CENTRAL_HEAD = struct.Struct("<4s4B4HL2L5HL")
_OFFSET = struct.Struct("<L")
_END = struct.Struct("<4s4H2LH")
_UTF8_NAME = 0x800
_DEFLATE_OPTIONS = 0x6


class ZipCopyError(ValueError):
    """The source is damaged or encrypted, or the result would need ZIP64."""


def raw_member(data: bytes | memoryview, info: zipfile.ZipInfo) -> memoryview:
    """The stored (compressed) bytes of a member, straight from the source archive."""
    at = info.header_offset
    view = memoryview(data)
    if bytes(view[at : at + 4]) != b"PK\x03\x04" or info.flag_bits & 0x1:
        raise ZipCopyError("the zip structure is damaged or encrypted")
    name_len, extra_len = struct.unpack("<HH", view[at + 26 : at + 30])
    start = at + 30 + name_len + extra_len
    return view[start : start + info.compress_size]


def deflate(content: bytes, level: int = 6) -> bytes:
    """Raw deflate, as stored in a zip member."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(content) + packer.flush()


@dataclass(frozen=True)
class Packed:
    """A member's new content, deflated.

    Attributes:
      raw: the deflated bytes as stored in the zip, in pieces (not joined:
        a big sheet's would be held twice).
      crc: CRC-32 of the content.
      size: length of the content.
    """

    raw: tuple[bytes, ...]
    crc: int
    size: int


#: Content is deflated in blocks of about this size, two at a time (see `pack`).
PACK_BLOCK = 4 << 20
_WINDOW = 32 << 10  # how far back deflate looks


def pack(pieces: Iterable[bytes | memoryview], level: int = 6) -> Packed:
    """Deflate content given in pieces (slices of a big part need not be joined first).

    Content over two blocks is deflated as pigz does: block by block on two
    threads (zlib lets go of the GIL), each block primed with the 32 kB
    before it and ended with a sync flush, so the blocks join into one
    deflate stream. The stream is the same whatever the machine's cores.
    """
    crc = size = 0
    blocks: list[list[bytes | memoryview]] = [[]]
    filled = 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        size += len(piece)
        view = memoryview(piece)
        while len(view):
            take = view[: PACK_BLOCK - filled]
            blocks[-1].append(take)
            filled += len(take)
            view = view[len(take) :]
            if filled == PACK_BLOCK:
                blocks.append([])
                filled = 0
    if not blocks[-1]:
        blocks.pop()
    if len(blocks) <= 2:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = [packer.compress(piece) for block in blocks for piece in block]
        return Packed((*out, packer.flush()), crc, size)
    jobs = [(block, _tail(blocks[i - 1]) if i else b"", i == len(blocks) - 1, level)
            for i, block in enumerate(blocks)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        return Packed(tuple(pool.map(_deflate_block, jobs)), crc, size)


def _tail(block: list[bytes | memoryview]) -> bytes:
    """The last 32 kB of a block's content (a block is far longer)."""
    out: list[bytes | memoryview] = []
    need = _WINDOW
    for piece in reversed(block):
        out.append(piece[max(len(piece) - need, 0) :])
        need -= len(out[-1])
        if need <= 0:
            break
    return b"".join(reversed(out))


def _deflate_block(job: tuple[list[bytes | memoryview], bytes, bool, int]) -> bytes:
    block, before, last, level = job
    if before:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=before)
    else:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = [packer.compress(piece) for piece in block]
    out.append(packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
    return b"".join(out)


@dataclass(frozen=True)
class Entry:
    """A member ready to write: its local header and stored bytes, and its central
    directory record but for the member's offset (known only once it is written).

    Made once, an unchanged member goes into any number of packages without its
    headers being packed again (the renderer's template members: one per invoice).

    Attributes:
      local: the local header (with the name) and the stored bytes, in pieces.
      central: the central directory record up to its offset field.
      name: the encoded name, which follows the offset.
    """

    local: tuple[bytes | memoryview, ...]
    central: bytes
    name: bytes


def entry(
    info: zipfile.ZipInfo,
    raw: tuple[bytes | memoryview, ...],
    crc: int,
    size: int,
    method: int,
) -> Entry:
    """The member `info` holding `raw` (stored bytes, `method`-compressed from `size` bytes)."""
    stored = sum(len(piece) for piece in raw)
    if max(stored, size) >= 0xFFFFFFFF:
        raise ZipCopyError("the package is too large for a plain zip")
    utf8 = _UTF8_NAME if info.flag_bits & _UTF8_NAME or not info.filename.isascii() else 0
    name = info.filename.encode("utf-8" if utf8 else "cp437")
    y, mo, d, h, mi, s = info.date_time
    dos_time = (h << 11) | (mi << 5) | (s // 2)
    dos_date = (max(y, 1980) - 1980) << 9 | (mo << 5) | d
    # Sizes go in the local header, so no data descriptor follows (bit 3 off).
    flags = utf8 | (info.flag_bits & _DEFLATE_OPTIONS if method == zipfile.ZIP_DEFLATED else 0)
    version = 20
    fixed = (flags, method, dos_time, dos_date, crc, stored, size, len(name))
    central = _CENTRAL_HEAD.pack(
        b"PK\x01\x02",
        info.create_version,
        info.create_system,
        version,
        0,
        *fixed,
        0,
        0,
        0,
        info.internal_attr,
        info.external_attr,
    )
    return Entry((_LOCAL.pack(b"PK\x03\x04", version, 0, *fixed, 0) + name, *raw), central, name)


class ZipCopier:
    """A minimal zip writer: members go in as stored bytes, in the order added."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self._central: list[bytes] = []
        self._offset = 0

    def _write(self, data: bytes | memoryview) -> None:
        self._fp.write(data)
        self._offset += len(data)

    def copy(self, info: zipfile.ZipInfo, raw: bytes | memoryview) -> None:
        """An unchanged member: its stored bytes, CRC and sizes as in the source."""
        self.add(entry(info, (raw,), info.CRC, info.file_size, info.compress_type))

    def replace(self, info: zipfile.ZipInfo, content: bytes, level: int = 6) -> None:
        """A member with new content (deflated), keeping its name, date and attributes."""
        raw = (deflate(content, level),)
        self.add(entry(info, raw, zlib.crc32(content), len(content), zipfile.ZIP_DEFLATED))

    def add_packed(self, info: zipfile.ZipInfo, packed: Packed) -> None:
        """A member with new content deflated beforehand (see `pack`)."""
        self.add(entry(info, packed.raw, packed.crc, packed.size, zipfile.ZIP_DEFLATED))

    def add(self, member: Entry) -> None:
        """A member made by `entry`, at the end of the package so far."""
        if self._offset >= 0xFFFFFFFF or len(self._central) >= 0xFFFF:
            raise ZipCopyError("the package is too large for a plain zip")
        offset = self._offset
        for piece in member.local:
            self._write(piece)
        self._central.append(member.central + _OFFSET.pack(offset) + member.name)

    def close(self, comment: bytes = b"") -> None:
        start = self._offset
        for entry in self._central:
            self._write(entry)
        count = len(self._central)
        self._write(
            _END.pack(b"PK\x05\x06", 0, 0, count, count, self._offset - start, start, len(comment))
            + comment
        )
