"""The RFC 6962 / RFC 9162 Merkle tree of the telemetry ledger (pure, standard library only).

Hashing (RFC 6962 section 2.1, RFC 9162 section 2.1.1), SHA-256 throughout:

* a leaf is ``SHA-256(0x00 || data)`` (:func:`leaf_hash`);
* an inner node is ``SHA-256(0x01 || left || right)`` (:func:`node_hash`);
* the Merkle Tree Hash (MTH) of ``n > 1`` leaves splits them at ``k``, the largest power
  of two smaller than ``n``: ``MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n]))``;
* the MTH of no leaves is ``SHA-256("")`` (:data:`EMPTY_ROOT`).

Roots are computed by :class:`MerkleAccumulator`, an append-only compact range that keeps
one hash per set bit of the tree size (at most 64), so a 10-million-leaf ledger is rooted
in one streaming pass without holding its leaves.

Proofs: :func:`inclusion_proof` / :func:`verify_inclusion` (RFC 9162 sections 2.1.3.1-2)
and :func:`consistency_proof` / :func:`verify_consistency` (sections 2.1.4.1-2).  The
``*_from`` variants build a proof from a callable returning the MTH of any leaf range, so a
store can answer from stored subtree hashes instead of reading every leaf.

Verifiers never raise on what a prover sent: a proof of the wrong shape, hashes of the
wrong type or length, an index outside the tree or an old size above the new one all give
``False``.  Only a caller's own nonsense (negative sizes, non-integers) raises
:class:`~medwarden.errors.UsageError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from medwarden.errors import UsageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "MerkleAccumulator",
    "RangeHash",
    "consistency_proof",
    "consistency_proof_from",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "node_hash",
    "root",
    "root_of_hashes",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree: ``SHA-256("")``."""

RangeHash = Callable[[int, int], bytes]
"""``range_hash(start, end)`` returns the MTH of leaves ``start .. end - 1`` (``end > start``)."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 inner-node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleAccumulator:
    """An append-only compact range over leaves ``0 .. size - 1``.

    It keeps the roots of the perfect subtrees that the binary decomposition of ``size``
    cuts the tree into, left to right and largest first (one per set bit of ``size``), so
    memory is O(log n) however many leaves are appended."""

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def restore(cls, size: int, hashes: Sequence[bytes]) -> MerkleAccumulator:
        """Rebuild an accumulator from a stored :attr:`size` and :attr:`hashes`."""
        _check_size("size", size)
        if len(hashes) != size.bit_count() or not all(_is_hash(h) for h in hashes):
            raise UsageError(
                f"a compact range of size {size} needs {size.bit_count()} hashes of "
                f"{HASH_SIZE} bytes"
            )
        acc = cls()
        acc._size = size
        acc._hashes = list(hashes)
        return acc

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The subtree roots kept (left to right); store them with :attr:`size` to resume."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[bytes]:
        """Append one leaf *hash* (see :func:`leaf_hash`).

        Returns the interior nodes the leaf completed, lowest first: the node at level
        ``l`` (1-based) covers leaves ``(size >> l) - 1`` times ``2**l`` onwards, where
        ``size`` is the size after the append -- what a store keeps to serve proofs."""
        if not _is_hash(leaf):
            raise UsageError(f"a leaf hash must be {HASH_SIZE} bytes")
        current = leaf
        completed: list[bytes] = []
        # Each trailing 1-bit of the old size is a perfect subtree the new one merges with.
        size = self._size
        while size & 1:
            current = node_hash(self._hashes.pop(), current)
            completed.append(current)
            size >>= 1
        self._hashes.append(current)
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The MTH of the leaves appended so far (:data:`EMPTY_ROOT` when there are none)."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result


def root_of_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """The MTH of a stream of leaf hashes, in one pass and O(log n) memory."""
    acc = MerkleAccumulator()
    acc.extend(leaf_hashes)
    return acc.root()


def root(leaves: Iterable[bytes]) -> bytes:
    """The MTH of a stream of leaf *data* (RFC 6962 section 2.1), in O(log n) memory."""
    return root_of_hashes(leaf_hash(data) for data in leaves)


def subtree_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """The MTH of ``leaf_hashes[start:end]`` (a :data:`RangeHash` over an in-memory list)."""
    if not 0 <= start < end <= len(leaf_hashes):
        raise UsageError(f"no leaf range {start}..{end} in a tree of {len(leaf_hashes)}")
    acc = MerkleAccumulator()
    for i in range(start, end):
        acc.append(leaf_hashes[i])
    return acc.root()


def inclusion_proof_from(range_hash: RangeHash, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 PATH).

    ``range_hash(start, end)`` must return the MTH of leaves ``start .. end - 1``.  It is
    called once per proof element, for sibling ranges only: every range asked for is a
    perfect subtree (``end - start`` a power of two, ``start`` a multiple of it) except
    possibly the right-most one, which ends at ``size``.  The proof is ordered from the
    leaf's sibling up to the root's other child."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise UsageError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(range_hash(lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k))
            lo += k
    path.reverse()
    return path


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of the first ``size`` leaf hashes."""
    _check_size("size", size)
    if size > len(leaf_hashes):
        raise UsageError(f"a tree of {size} leaves needs {size} leaf hashes")
    return inclusion_proof_from(
        lambda start, end: subtree_root(leaf_hashes, start, end), index, size
    )


def consistency_proof_from(range_hash: RangeHash, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from the tree of ``old_size`` leaves to ``new_size`` leaves
    (RFC 6962 PROOF / SUBPROOF); empty when ``old_size`` is 0 or equals ``new_size``.

    ``range_hash`` is as for :func:`inclusion_proof_from`."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise UsageError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    lo, hi, m = 0, new_size, old_size
    complete = True  # RFC 6962 SUBPROOF's flag b: is D[lo:lo+m] the whole old tree's root?
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(range_hash(lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(lo, lo + k))
            lo += k
            m -= k
            complete = False
    if not complete:
        proof.append(range_hash(lo, hi))
    proof.reverse()
    return proof


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between the trees of the first ``old_size`` and ``new_size``
    leaf hashes."""
    _check_size("new_size", new_size)
    if new_size > len(leaf_hashes):
        raise UsageError(f"a tree of {new_size} leaves needs {new_size} leaf hashes")
    return consistency_proof_from(
        lambda start, end: subtree_root(leaf_hashes, start, end), old_size, new_size
    )


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` of the tree of ``size``
    leaves with root ``root_hash`` (RFC 9162 section 2.1.3.2)."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size or not _is_hash(leaf) or not _is_hash(root_hash):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or not _is_hash(p):
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``new_size`` leaves with root ``new_root``
    extends the tree of ``old_size`` leaves with root ``old_root`` (RFC 9162 section
    2.1.4.2).  Any tree is consistent with the empty one (the proof must then be empty)."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size or not _is_hash(old_root) or not _is_hash(new_root):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
