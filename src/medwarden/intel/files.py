"""Load vulnerability intelligence from files: the format is sniffed from content.

:func:`iter_intel` reads a file or a directory tree (sorted, deterministic) of NVD
API pages or records, CVE JSON 5 records, OSV records, OSV ``all.zip`` archives
(members are streamed, never extracted), the KEV catalog (JSON or CSV) and EPSS
CSVs; ``.gz`` files are decompressed on the fly.  Every file is size-checked
before it is read.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from medwarden.errors import InputTooLargeError, IntelParseError, Location
from medwarden.intel.model import IntelRecord, Source
from medwarden.intel.sources import PARSERS, IntelFormat, make_provenance, sniff_json, sniff_text
from medwarden.intel.sources._fields import Ctx, load_json

__all__ = ["LoadLimits", "iter_intel", "iter_intel_bytes", "iter_osv_zip"]

_GIB = 1024**3
_SUFFIXES = (".json", ".csv", ".gz", ".zip")
_SOURCE_OF: dict[IntelFormat, Source] = {
    IntelFormat.NVD: Source.NVD,
    IntelFormat.CVE5: Source.CVE5,
    IntelFormat.OSV: Source.OSV,
    IntelFormat.KEV_JSON: Source.KEV,
    IntelFormat.KEV_CSV: Source.KEV,
    IntelFormat.EPSS_CSV: Source.EPSS,
}


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Size limits, in bytes, that protect the loader from oversized or hostile input."""

    max_zip_bytes: int = 2 * _GIB
    max_file_bytes: int = 1 * _GIB
    max_member_bytes: int = 256 * 1024**2
    max_decompressed_bytes: int = 2 * _GIB


def iter_intel(
    path: Path, *, fetched_at: datetime, limits: LoadLimits = LoadLimits()
) -> Iterator[IntelRecord]:
    """Yield every record in ``path`` (a file or a directory searched recursively).

    Raises IntelParseError naming the file when a file is malformed or of no known
    format, and InputTooLargeError when a file exceeds ``limits``.
    """
    if path.is_dir():
        files = sorted(
            (p for p in path.rglob("*") if p.is_file() and _wanted(p.relative_to(path))),
            key=lambda p: p.relative_to(path).as_posix(),
        )
        for file in files:
            yield from _iter_file(file, fetched_at, limits)
    elif path.is_file():
        yield from _iter_file(path, fetched_at, limits)
    else:
        raise IntelParseError("no such file or directory", location=Location(source=str(path)))


def _wanted(relative: Path) -> bool:
    if any(part.startswith(".") for part in relative.parts):
        return False
    return relative.name.lower().endswith(_SUFFIXES)


def _iter_file(path: Path, fetched_at: datetime, limits: LoadLimits) -> Iterator[IntelRecord]:
    origin = str(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic.startswith(b"PK\x03\x04"):
            _check(size, limits.max_zip_bytes, origin)
            yield from iter_osv_zip(handle, origin=origin, fetched_at=fetched_at, limits=limits)
            return
        _check(size, limits.max_file_bytes, origin)
        data = handle.read()
    yield from iter_intel_bytes(data, origin=origin, fetched_at=fetched_at, limits=limits)


def _check(size: int, limit: int, origin: str) -> None:
    if size > limit:
        raise InputTooLargeError(
            f"{size} bytes is over the limit of {limit} bytes",
            location=Location(source=origin),
            hint="raise the limit in LoadLimits if the file is trusted",
        )


def iter_intel_bytes(
    data: bytes, *, origin: str, fetched_at: datetime, limits: LoadLimits = LoadLimits()
) -> Iterator[IntelRecord]:
    """Yield the records of one document given as bytes (gzip is decompressed first)."""
    raw = data
    if data.startswith(b"\x1f\x8b"):
        data = _gunzip(data, origin, limits.max_decompressed_bytes)
    stripped = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith((b"{", b"[")):
        document = load_json(data, Ctx(origin))
        fmt = sniff_json(document)
    else:
        document, fmt = data, sniff_text(data[:4096])
    if fmt is None:
        raise IntelParseError(
            "not a vulnerability intelligence document medwarden knows",
            location=Location(source=origin),
            hint="expected NVD API 2.0, CVE JSON 5, OSV, KEV JSON/CSV or EPSS CSV",
        )
    provenance = make_provenance(_SOURCE_OF[fmt], raw, fetched_at=fetched_at, origin=origin)
    yield from PARSERS[fmt](document, provenance=provenance)


def _gunzip(data: bytes, origin: str, limit: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IntelParseError(
            f"corrupt gzip stream: {exc}", location=Location(source=origin)
        ) from None
    _check(len(out), limit, origin)
    return out


def iter_osv_zip(
    source: Path | IO[bytes],
    *,
    origin: str,
    fetched_at: datetime,
    limits: LoadLimits = LoadLimits(),
) -> Iterator[IntelRecord]:
    """Yield the records of an OSV ``all.zip``, member by member, without extracting it."""
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise IntelParseError(
            f"not a zip archive: {exc}", location=Location(source=origin)
        ) from None
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            member = f"{origin}!{info.filename}"
            _check(info.file_size, limits.max_member_bytes, member)
            try:
                data = _member_bytes(archive, info, limits.max_member_bytes)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, struct.error) as exc:
                raise IntelParseError(
                    f"corrupt zip member: {exc}", location=Location(source=member)
                ) from None
            _check(len(data), limits.max_member_bytes, member)
            yield from iter_intel_bytes(data, origin=member, fetched_at=fetched_at, limits=limits)


_LOCAL_HEADER = struct.Struct("<4s5HL2L2H")


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read one member; deflated members are inflated directly (3x faster than ``open``)."""
    handle = archive.fp
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 1 or handle is None:
        with archive.open(info) as stream:
            return stream.read(limit + 1)
    handle.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    if fields[0] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    handle.seek(fields[9] + fields[10], io.SEEK_CUR)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(handle.read(info.compress_size), limit + 1)
    if len(data) <= limit and zlib.crc32(data) != info.CRC:
        raise zipfile.BadZipFile(f"CRC mismatch in {info.filename}")
    return data
