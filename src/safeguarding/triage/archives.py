"""Zip archives of provider reports: members listed from the central directory, read by position.

A day's reports arrive as one archive of hundreds of thousands of small documents. ``zipfile``
builds a ``ZipInfo`` object per member when it opens an archive and a file object per member read,
which cost about as much as parsing a small document; the intake needs only where each member's
data is. So the central directory is read here, each field for all members at once, and
members are read with positioned reads (``os.pread`` keeps no file offset, so forked parse workers
can share a descriptor). Archives this reader does not handle in full (members past 4 GB, a damaged
directory) are listed by ``zipfile`` instead, so the listing is always the one ``zipfile`` gives.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from safeguarding.errors import ValidationError

MAX_ARCHIVE_MEMBERS = 1_000_000

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record
_END64_SIGNATURE = b"PK\x06\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_UTF8_NAME = 0x800
_ENCRYPTED = 0x1
_ZIP64_MARK = 0xFFFFFFFF
_MAX_EXTRACT_VERSION = 63  # zipfile refuses later versions


class MemberEntry(NamedTuple):
    """Where a stored or deflated (unencrypted) member's data is, from the central directory:
    read once by the parent, so that parse workers need no ``ZipFile`` of their own."""

    header_offset: int
    compress_size: int
    file_size: int
    compress_type: int
    crc: int

    @classmethod
    def of(cls, info: zipfile.ZipInfo) -> MemberEntry | None:
        if info.flag_bits & _ENCRYPTED or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            return None
        return cls(
            info.header_offset, info.compress_size, info.file_size, info.compress_type, info.CRC
        )


class Listing(NamedTuple):
    """The file members of an archive, as columns (an archive can hold a million members, and
    an object per member cost more than reading the directory): their names, declared sizes
    and, where positioned reads can read a member, where its data is (None: read it through
    ``zipfile``)."""

    names: list[str]
    sizes: list[int]
    entries: list[MemberEntry | None]


def list_members(path: Path) -> Listing:
    """The file members (not directories) of the archive at ``path``, in directory order, as
    ``zipfile`` lists them; a ValidationError if it is not a readable archive or has more than
    ``MAX_ARCHIVE_MEMBERS`` members."""
    try:
        with open(path, "rb") as handle:
            members = _central_directory(handle.fileno(), os.fstat(handle.fileno()).st_size)
        if members is None:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
            if len(infos) > MAX_ARCHIVE_MEMBERS:
                raise _TooManyMembersError(len(infos))
            infos = [info for info in infos if not info.is_dir()]
            members = Listing(
                [i.filename for i in infos],
                [i.file_size for i in infos],
                [MemberEntry.of(i) for i in infos],
            )
    except (zipfile.BadZipFile, OSError, NotImplementedError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path}: not a readable zip archive ({exc})", rule="bad_archive"
        ) from exc
    except _TooManyMembersError as exc:
        raise ValidationError(
            f"{path}: {exc.count} members, at most {MAX_ARCHIVE_MEMBERS}",
            rule="archive_too_large",
        ) from None
    return members


class _TooManyMembersError(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def _central_directory(descriptor: int, size: int) -> Listing | None:
    """The members, read from the central directory as ``zipfile`` reads it; None where this
    reader leaves the archive to ``zipfile`` (a member with ZIP64 sizes or offset, archives on
    several disks, no end record found where expected, a directory that does not parse), which
    then lists it or says what is wrong."""
    tail_size = min(size, _END.size + 65_535)
    tail = os.pread(descriptor, tail_size, size - tail_size)
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END.size:
        return None
    end_at = size - tail_size + at
    _, disk, _, _, count, directory_size, directory_offset, _ = _END.unpack_from(tail, at)
    if disk != 0:
        return None
    concat = end_at - directory_size - directory_offset  # bytes before the archive itself
    locator_at = end_at - _ZIP64_LOCATOR.size
    locator = os.pread(descriptor, _ZIP64_LOCATOR.size, locator_at) if locator_at >= 0 else b""
    if locator[:4] == _ZIP64_LOCATOR_SIGNATURE:
        # More than 65,535 members or 4 GB: the counts are in the ZIP64 end record, which
        # zipfile expects right before its locator.
        _, record_disk, _, disks = _ZIP64_LOCATOR.unpack(locator)
        record_at = end_at - _ZIP64_LOCATOR.size - _END64.size
        record = os.pread(descriptor, _END64.size, record_at) if record_at >= 0 else b""
        if record_disk != 0 or disks > 1:
            return None
        if len(record) == _END64.size and record[:4] == _END64_SIGNATURE:
            _, _, _, _, disk, _, _, count, directory_size, directory_offset = _END64.unpack(record)
            if disk != 0:
                return None
            concat = record_at - directory_size - directory_offset
    if count > MAX_ARCHIVE_MEMBERS:
        raise _TooManyMembersError(count)
    if concat < 0:
        return None
    directory = os.pread(descriptor, directory_size, directory_offset + concat)
    if len(directory) != directory_size:
        return None
    return _members(directory, concat)


def _members(directory: bytes, concat: int) -> Listing | None:
    """The members of a central directory, its fields read for all entries at once (numpy):
    a loop with one ``struct`` call per entry took 3 us each, 0.8 s for a day's archive. Entries
    are found by their signature and must chain exactly (each ends where the next begins); a
    signature inside a name breaks the chain and leaves the archive to ``zipfile``."""
    size = len(directory)
    if size == 0:
        return Listing([], [], [])
    raw = np.frombuffer(directory, dtype=np.uint8)
    signature = np.frombuffer(_CENTRAL_SIGNATURE, dtype=np.uint8)
    found = raw[: size - 3] == signature[0]
    for shift in (1, 2, 3):
        found &= raw[shift : size - 3 + shift] == signature[shift]
    starts = np.flatnonzero(found)
    starts = starts[starts + _CENTRAL.size <= size].astype(np.int64)
    if not len(starts) or starts[0] != 0:
        return None
    if len(starts) > MAX_ARCHIVE_MEMBERS:
        raise _TooManyMembersError(len(starts))

    def field(offset: int, width: int) -> npt.NDArray[np.int64]:
        value = np.zeros(len(starts), dtype=np.int64)
        for byte in range(width):
            value |= raw[starts + offset + byte].astype(np.int64) << (8 * byte)
        return value

    name_length = field(28, 2)
    ends = starts + _CENTRAL.size + name_length + field(30, 2) + field(32, 2)
    if (ends[:-1] != starts[1:]).any() or ends[-1] != size:
        return None
    compress_size, file_size, header_offset = field(20, 4), field(24, 4), field(42, 4)
    if (
        (raw[starts + 6] > _MAX_EXTRACT_VERSION).any()
        or (compress_size == _ZIP64_MARK).any()
        or (file_size == _ZIP64_MARK).any()
        or (header_offset == _ZIP64_MARK).any()
    ):
        return None
    flags, method = field(8, 2), field(10, 2)
    readable = ((flags & _ENCRYPTED) == 0) & (
        (method == zipfile.ZIP_STORED) | (method == zipfile.ZIP_DEFLATED)
    )
    fields = zip(
        (header_offset + concat).tolist(), compress_size.tolist(), file_size.tolist(),
        method.tolist(), field(16, 4).tolist(), strict=True,
    )  # fmt: skip
    entries = [
        MemberEntry._make(f) if r else None for f, r in zip(fields, readable.tolist(), strict=True)
    ]
    listing = Listing(
        _names(directory, starts + _CENTRAL.size, name_length, flags), file_size.tolist(), entries
    )
    if any(name.endswith("/") for name in listing.names):  # directories: not documents
        kept = [i for i, name in enumerate(listing.names) if not name.endswith("/")]
        names, sizes, entries = listing
        listing = Listing(
            [names[i] for i in kept], [sizes[i] for i in kept], [entries[i] for i in kept]
        )
    return listing


def _names(
    directory: bytes,
    begins: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    flags: npt.NDArray[np.int64],
) -> list[str]:
    """The members' names as ``zipfile`` decodes them: UTF-8 where the entry's flag says so,
    else cp437, cut at a NUL. The directory is decoded as Latin-1 at once (one byte, one
    character) and cut into names: an ASCII name reads the same in all three, and only the
    others are decoded again from their bytes."""
    text = directory.decode("latin-1")
    names = [
        text[begin : begin + length]
        for begin, length in zip(begins.tolist(), lengths.tolist(), strict=True)
    ]
    joined = "".join(names)
    if not joined.isascii():
        names = [
            name
            if name.isascii()
            else directory[begin : begin + len(name)].decode(
                "utf-8" if flag & _UTF8_NAME else "cp437"
            )
            for name, begin, flag in zip(names, begins.tolist(), flags.tolist(), strict=True)
        ]
    if "\x00" in joined:  # the same characters as the names decoded again
        names = [name.partition("\x00")[0] for name in names]
    return names


def member_bytes(descriptor: int, entry: MemberEntry, member: str, limit: int) -> bytes:
    """At most ``limit`` bytes of an archive member, as ``ZipFile.open(member).read(limit)``
    gives them (never more than the member's declared size; the CRC is checked whenever the
    whole member is read), with two positioned reads and one ``zlib`` call."""
    header = os.pread(descriptor, _LOCAL_HEADER.size, entry.header_offset)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{member}: bad local file header")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    start = entry.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    raw = os.pread(descriptor, entry.compress_size, start)
    if len(raw) != entry.compress_size:
        raise zipfile.BadZipFile(f"{member}: archive ends inside the member")
    wanted = min(limit, entry.file_size)
    if wanted <= 0:
        return b""
    if entry.compress_type == zipfile.ZIP_STORED:
        data = raw[:wanted]
    else:
        try:
            data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, wanted)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"{member}: corrupt compressed data ({exc})") from exc
    if len(data) != wanted:
        raise zipfile.BadZipFile(f"{member}: member ends before its declared size")
    if wanted == entry.file_size and zlib.crc32(data) != entry.crc:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {member!r}")
    return data


def member_head(descriptor: int, entry: MemberEntry, size: int) -> bytes:
    """The first ``size`` bytes of a member (fewer if it is shorter), cheaply: one positioned
    read, the start of the data inflated, no CRC. To tell what a document is before reading it;
    b"" where that fails (the local header's name or extra field longer than the room left for
    it, damage): a guess, never a check, the member's full read checks it."""
    compressed = min(entry.compress_size, size + _DEFLATE_SLACK)
    block = os.pread(descriptor, _LOCAL_HEADER.size + _NAME_ROOM + compressed, entry.header_offset)
    if len(block) < _LOCAL_HEADER.size or block[:4] != b"PK\x03\x04":
        return b""
    _, name_length, extra_length = _LOCAL_HEADER.unpack_from(block)
    start = _LOCAL_HEADER.size + name_length + extra_length
    raw = block[start : start + compressed]
    if entry.compress_type == zipfile.ZIP_STORED:
        return raw[: min(size, entry.file_size)]
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, size)
    except zlib.error:
        return b""


# Room read for the local header's name and extra field, and compressed bytes read beyond the
# wanted size: the largest header of a deflate block (its code lengths) is under 300 bytes.
_NAME_ROOM = 1024
_DEFLATE_SLACK = 1024
