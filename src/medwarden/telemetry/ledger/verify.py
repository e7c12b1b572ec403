"""Offline verification of a ledger export: chains, trees, checkpoints (and signatures).

:func:`verify_export` reads the lines of an export (see :mod:`.export`), already decoded,
and re-checks everything without the database:

* each device section's records carry ledger indexes 0, 1, 2, ... without holes;
* each record's hash is recomputed from its canonical bytes; within a boot, a record's
  ``prev_hash`` must name the record one seq before it when that record is in the
  export, and the first record of a later boot must name a record of the device (the
  last one of the previous boot); missing records are *gaps* (reported, not failures,
  unless a later record fills them with content that does not link);
* the tree is rebuilt leaf by leaf; every checkpoint's root must equal the rebuilt root
  at its size and carry a valid signature of a server key (pinned keys, if given, must
  include it); the section's final size must equal its ``tree_size``;
* with ``signatures=True`` every device signature is verified too (under the key the
  record names, which must belong to the device), and every receipt signature.

The first failure stops the section and is reported with the device, ledger index and
record (boot/seq/hash) it concerns: :class:`LedgerVerification.first_failure`.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from medwarden.core import ed25519
from medwarden.core.b64 import b64url_decode
from medwarden.core.digests import canonical_json
from medwarden.errors import InputError, MedwardenError
from medwarden.telemetry.envelope import DOMAIN_PREFIX
from medwarden.telemetry.ledger.checkpoint import Checkpoint, record_leaf_hash
from medwarden.telemetry.ledger.export import EXPORT_FORMAT
from medwarden.telemetry.ledger.merkle import MerkleAccumulator
from medwarden.telemetry.receipts import Receipt
from medwarden.telemetry.records import GENESIS

__all__ = ["LedgerFailure", "LedgerVerification", "verify_export", "verify_export_file"]


@dataclass(frozen=True, slots=True)
class LedgerFailure:
    """The first thing that does not verify in a device section."""

    device_id: str
    ledger_index: int | None
    reason: str
    boot_id: str | None = None
    seq: int | None = None
    record_hash: str | None = None

    def describe(self) -> str:
        """One line naming the record and the reason."""
        where = f"device {self.device_id}"
        if self.ledger_index is not None:
            where += f", ledger index {self.ledger_index}"
        if self.boot_id is not None:
            where += f" (boot {self.boot_id}, seq {self.seq})"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class LedgerVerification:
    """What verification found, per export."""

    devices: int = 0
    records: int = 0
    checkpoints: int = 0
    failures: list[LedgerFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    @property
    def first_failure(self) -> LedgerFailure | None:
        """The first failure found, if any."""
        return self.failures[0] if self.failures else None


def _unb64(text: str) -> bytes:
    return b64url_decode(text)


class _Failed(Exception):
    def __init__(
        self, reason: str, index: int | None = None, rec: Any = None, h: str | None = None
    ):
        super().__init__(reason)
        self.reason, self.index, self.h = reason, index, h
        self.boot = rec.get("boot_id") if isinstance(rec, dict) else None
        self.seq = rec.get("seq") if isinstance(rec, dict) else None


class _Section:
    """One device section being verified."""

    def __init__(
        self,
        header: Mapping[str, Any],
        pinned: Mapping[str, Ed25519PublicKey] | None,
        signatures: bool,
    ) -> None:
        self.device_id = str(header.get("device_id"))
        self.tree_size = header.get("tree_size")
        self.keys = {  # raw bytes, checked to be Ed25519 public keys
            k["key_id"]: Ed25519PublicKey.from_public_bytes(
                _unb64(k["public_key"])
            ).public_bytes_raw()
            for k in header.get("keys", [])
        }
        exported = {
            kid: Ed25519PublicKey.from_public_bytes(_unb64(v))
            for kid, v in dict(header.get("server_keys", {})).items()
        }
        self.server_keys = dict(pinned) if pinned is not None else exported
        self._server_raw = {kid: k.public_bytes_raw() for kid, k in self.server_keys.items()}
        self.signatures = signatures
        self.acc = MerkleAccumulator()
        self.slots: dict[tuple[str, int], str] = {}
        self.heads: dict[str, tuple[int, str]] = {}
        self.all_hashes: set[str] = set()
        self._prev_of: dict[tuple[str, int], str] = {}
        self._pending: list[Checkpoint] = []
        self.records = 0
        self.checkpoints = 0

    def record(self, line: Mapping[str, Any]) -> None:
        index = line.get("ledger_index")
        envelope = line.get("envelope")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("record"), dict):
            raise _Failed("record line has no envelope", index)
        rec = envelope["record"]
        if index != self.acc.size:
            raise _Failed(f"expected ledger index {self.acc.size}, found {index}", index, rec)
        if rec.get("device_id") != self.device_id:
            raise _Failed("record belongs to another device", index, rec)
        signed = DOMAIN_PREFIX + canonical_json(rec)
        h = hashlib.sha256(signed).hexdigest()
        self._link(rec, h, index)
        sig = _unb64(str(envelope.get("sig", "")))
        if self.signatures:
            self._signatures(line, rec, signed, h, sig, index)
        self.acc.append(record_leaf_hash(h, sig))
        self.records += 1

    def _link(self, rec: Mapping[str, Any], h: str, index: int) -> None:
        boot, seq, prev = rec.get("boot_id"), rec.get("seq"), rec.get("prev_hash")
        if not isinstance(boot, str) or not isinstance(seq, int) or not isinstance(prev, str):
            raise _Failed("record lacks boot_id, seq or prev_hash", index, rec, h)
        if (boot, seq) in self.slots:
            raise _Failed("a second record at this boot and seq", index, rec, h)
        if seq > 0:
            before = self.slots.get((boot, seq - 1))
            if before is not None and before != prev:
                raise _Failed(
                    f"prev_hash does not name record {seq - 1} of its boot", index, rec, h
                )
        elif prev != GENESIS and prev not in self.all_hashes:
            raise _Failed("first record of a boot names no earlier record", index, rec, h)
        after = self.slots.get((boot, seq + 1))
        if after is not None and self._prev_of.get((boot, seq + 1)) != h:
            raise _Failed(f"record {seq + 1} of its boot does not name this record", index, rec, h)
        self.slots[(boot, seq)] = h
        self._prev_of[(boot, seq)] = prev
        self.all_hashes.add(h)

    def _signatures(
        self, line: Mapping[str, Any], rec: Any, signed: bytes, h: str, sig: bytes, index: int
    ) -> None:
        key = self.keys.get(str(line.get("key_id")))
        if key is None:
            raise _Failed("record names a key the device does not have", index, rec, h)
        if not ed25519.verify(key, sig, signed):
            raise _Failed("device signature does not verify", index, rec, h)
        receipt = Receipt.from_json(line.get("receipt"))
        server = self._server_raw.get(receipt.key_id)
        if server is None:
            raise _Failed(f"receipt signed by unknown server key {receipt.key_id}", index, rec, h)
        if receipt.record_hash != h or receipt.ledger_index != index:
            raise _Failed("receipt names another record or index", index, rec, h)
        try:
            receipt.verify(server)
        except MedwardenError:
            raise _Failed("receipt signature does not verify", index, rec, h) from None

    def checkpoint(self, line: Mapping[str, Any]) -> None:
        cp = Checkpoint.from_json({k: v for k, v in line.items() if k != "type"})
        if cp.device_id != self.device_id:
            raise _Failed("checkpoint of another device")
        key = self.server_keys.get(cp.key_id)
        if key is None:
            raise _Failed(f"checkpoint at size {cp.tree_size} signed by unknown key {cp.key_id}")
        try:
            cp.verify(key)
        except MedwardenError as exc:
            raise _Failed(exc.message) from None
        self._pending.append(cp)
        self.checkpoints += 1

    def finish(self, roots: Mapping[int, bytes]) -> None:
        for cp in self._pending:
            root = roots.get(cp.tree_size)
            if root is None:
                raise _Failed(f"checkpoint at size {cp.tree_size} is beyond the exported records")
            if root != cp.root_hash:
                raise _Failed(f"checkpoint at size {cp.tree_size} does not match the records")
        if self.tree_size != self.acc.size:
            raise _Failed(f"section declares {self.tree_size} records but holds {self.acc.size}")


def verify_export(
    lines: Iterable[Any],
    *,
    pinned_server_keys: Mapping[str, Ed25519PublicKey] | None = None,
    signatures: bool = False,
) -> LedgerVerification:
    """Verify every device section of an export (see the module docstring)."""
    report = LedgerVerification()
    sections = _sections(lines)
    for header, body in sections:
        report.devices += 1
        _verify_section(header, body, pinned_server_keys, signatures, report)
    return report


def _sections(lines: Iterable[Any]) -> Iterable[tuple[Mapping[str, Any], list[Any]]]:
    header: Mapping[str, Any] | None = None
    body: list[Any] = []
    for line in lines:
        if not isinstance(line, dict):
            raise InputError("every export line must be a JSON object")
        if line.get("type") == "device":
            if header is not None:
                yield header, body
            if line.get("format") != EXPORT_FORMAT:
                raise InputError(f"not a {EXPORT_FORMAT} export")
            header, body = line, []
        elif header is None:
            raise InputError("an export must start with a device line")
        else:
            body.append(line)
    if header is not None:
        yield header, body


def _verify_section(
    header: Mapping[str, Any],
    body: list[Any],
    pinned: Mapping[str, Ed25519PublicKey] | None,
    signatures: bool,
    report: LedgerVerification,
) -> None:
    section = _Section(header, pinned, signatures)
    wanted = {int(line.get("tree_size", -1)) for line in body if line.get("type") == "checkpoint"}
    roots: dict[int, bytes] = {}
    if 0 in wanted:
        roots[0] = section.acc.root()
    try:
        for line in body:
            kind = line.get("type")
            if kind == "record":
                section.record(line)
                if section.acc.size in wanted:
                    roots[section.acc.size] = section.acc.root()
            elif kind == "checkpoint":
                section.checkpoint(line)
            else:
                raise _Failed(f"unknown line type {kind!r}")
        section.finish(roots)
    except (_Failed, InputError, ValueError, KeyError, TypeError) as exc:
        report.failures.append(_failure(section, exc))
    report.records += section.records
    report.checkpoints += section.checkpoints


def _failure(section: _Section, exc: Exception) -> LedgerFailure:
    if isinstance(exc, _Failed):
        return LedgerFailure(section.device_id, exc.index, exc.reason, exc.boot, exc.seq, exc.h)
    reason = exc.message if isinstance(exc, MedwardenError) else f"malformed line: {exc}"
    return LedgerFailure(section.device_id, section.acc.size, reason)


# -- parallel verification of an export file ---------------------------------------------------

_HEADER_PREFIX = b'{"type":"device"'
"""How ``ledger export`` (orjson, keys in insertion order) starts every device line."""

_CHUNK_TARGET = 32 * 1024 * 1024


def _chunk_bounds(path: os.PathLike[str] | str, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of the file, each starting at a device line, of roughly equal size.

    Splits only where a line starts with ``{"type":"device"`` (what ``ledger export``
    writes); a header written otherwise simply stays inside its neighbour's range, where
    :func:`verify_export` handles it as a section of its own.  The first range starts at
    0 whatever that line is, so a file that does not start with a device line fails as it
    would sequentially."""
    size = os.path.getsize(path)
    if size == 0:
        return [(0, 0)]
    step = max(size // parts, 1)
    cuts = [0]
    with open(path, "rb") as f:
        for target in range(step, size, step):
            if target <= cuts[-1]:
                continue
            f.seek(target)
            window = b""
            pos = target
            found = -1
            while found < 0:
                block = f.read(1 << 20)
                if not block:
                    break
                window = window[-len(_HEADER_PREFIX) :] + block
                at = window.find(b"\n" + _HEADER_PREFIX)
                if at >= 0:
                    found = pos - (len(window) - len(block)) + at + 1
                pos += len(block)
            if found < 0:
                break
            if found > cuts[-1]:
                cuts.append(found)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _read_lines(path: str, start: int, end: int) -> Iterator[Any]:
    import orjson

    with open(path, "rb") as f:
        f.seek(start)
        remaining = end - start
        pending = b""
        while remaining > 0:
            block = f.read(min(1 << 22, remaining))
            if not block:
                break
            remaining -= len(block)
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.strip():
                    yield orjson.loads(line)
        if pending.strip():
            yield orjson.loads(pending)


def _verify_chunk(job: tuple[str, int, int, dict[str, bytes] | None, bool]) -> Any:
    path, start, end, pinned_raw, signatures = job
    pinned = (
        None
        if pinned_raw is None
        else {k: Ed25519PublicKey.from_public_bytes(v) for k, v in pinned_raw.items()}
    )
    try:
        report = verify_export(
            _read_lines(path, start, end), pinned_server_keys=pinned, signatures=signatures
        )
    except InputError as exc:
        return exc.message
    except ValueError as exc:  # orjson.JSONDecodeError
        return f"malformed export line: {exc}"
    return report


def verify_export_file(
    path: os.PathLike[str] | str,
    *,
    pinned_server_keys: Mapping[str, Ed25519PublicKey] | None = None,
    signatures: bool = False,
    workers: int | None = None,
) -> LedgerVerification:
    """:func:`verify_export` over a JSON Lines file, device sections spread over processes.

    Device sections are independent (each has its own chain, tree and checkpoints), so
    the file is cut at device lines into ranges verified by ``workers`` processes (default:
    the CPUs available); the reports are merged in file order, so the first failure is
    the same as a sequential run's.  ``workers=1`` verifies in this process."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    count = workers if workers is not None else len(os.sched_getaffinity(0))
    size = os.path.getsize(path)
    parts = max(1, min(count * 4, size // _CHUNK_TARGET + 1)) if count > 1 else 1
    bounds = _chunk_bounds(path, parts) if parts > 1 else [(0, size)]
    pinned_raw = (
        None
        if pinned_server_keys is None
        else {
            k: v.public_bytes(Encoding.Raw, PublicFormat.Raw) for k, v in pinned_server_keys.items()
        }
    )
    jobs = [(os.fspath(path), a, b, pinned_raw, signatures) for a, b in bounds]
    if count <= 1 or len(jobs) == 1:
        results = [_verify_chunk(job) for job in jobs]
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(count, len(jobs))) as pool:
            results = pool.map(_verify_chunk, jobs, chunksize=1)
    merged = LedgerVerification()
    for result in results:
        if isinstance(result, str):
            raise InputError(result)
        merged.devices += result.devices
        merged.records += result.records
        merged.checkpoints += result.checkpoints
        merged.failures.extend(result.failures)
    return merged
