"""The ledger's Merkle tree: the published RFC 6962 vectors, corrupted proofs, properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medwarden.errors import UsageError
from medwarden.telemetry.ledger.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    root,
    root_of_hashes,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import FIXTURES

VECTORS: dict[str, Any] = json.loads(
    (FIXTURES / "merkle" / "rfc6962_vectors.json").read_text(encoding="utf-8")
)
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots_by_size"]]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- published vectors -------------------------------------------------------------------


def test_leaf_inputs_are_the_rfc6962_ones() -> None:
    assert [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        bytes(range(0x60, 0x70)),
    ] == LEAVES


def test_leaf_and_node_hashes_match_the_vectors() -> None:
    assert [h.hex() for h in LEAF_HASHES] == VECTORS["leaf_hashes"]
    level1 = [node_hash(LEAF_HASHES[i], LEAF_HASHES[i + 1]) for i in range(0, 8, 2)]
    assert [h.hex() for h in level1] == VECTORS["level1"]
    level2 = [node_hash(level1[i], level1[i + 1]) for i in range(0, 4, 2)]
    assert [h.hex() for h in level2] == VECTORS["level2"]


@pytest.mark.parametrize("size", range(9))
def test_root_per_tree_size(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]
    assert root_of_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    acc = MerkleAccumulator()
    acc.extend(LEAF_HASHES[:size])
    assert acc.size == size
    assert acc.root() == ROOTS[size]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT


def _inclusion_cases() -> list[Any]:
    return [pytest.param(v, id=f"{v['index']}-of-{v['size']}") for v in VECTORS["inclusion"]]


def _consistency_cases() -> list[Any]:
    return [
        pytest.param(v, id=f"{v['old_size']}-to-{v['new_size']}") for v in VECTORS["consistency"]
    ]


@pytest.mark.parametrize("vector", _inclusion_cases())
def test_inclusion_vector(vector: dict[str, Any]) -> None:
    index, size, proof = vector["index"], vector["size"], _hexes(vector["proof"])
    assert inclusion_proof(LEAF_HASHES, index, size) == proof
    assert verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize("vector", _consistency_cases())
def test_consistency_vector(vector: dict[str, Any]) -> None:
    old, new, proof = vector["old_size"], vector["new_size"], _hexes(vector["proof"])
    assert consistency_proof(LEAF_HASHES, old, new) == proof
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


# --- corrupted proofs (after transparency-dev/merkle's probes) ----------------------------


def _corrupt_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_hash: bytes
) -> list[tuple[str, tuple[Any, ...]]]:
    probes: list[tuple[str, tuple[Any, ...]]] = [
        ("index + 1", (leaf, index + 1, size, proof, root_hash)),
        ("index ^ 2", (leaf, index ^ 2, size, proof, root_hash)),
        ("size * 2", (leaf, index, size * 2, proof, root_hash)),
        ("size / 2", (leaf, index, size // 2, proof, root_hash)),
        ("wrong leaf", (b"WrongLeaf", index, size, proof, root_hash)),
        ("wrong leaf hash", (SOME_HASH, index, size, proof, root_hash)),
        ("empty root", (leaf, index, size, proof, EMPTY_ROOT)),
        ("random root", (leaf, index, size, proof, SOME_HASH)),
        ("short root", (leaf, index, size, proof, root_hash[:-1])),
        ("trailing garbage", (leaf, index, size, [*proof, b""], root_hash)),
        ("trailing root", (leaf, index, size, [*proof, root_hash], root_hash)),
        ("preceding garbage", (leaf, index, size, [b"", *proof], root_hash)),
        ("preceding root", (leaf, index, size, [root_hash, *proof], root_hash)),
    ]
    if proof:
        probes.append(("not bytes", (leaf, index, size, [h.hex() for h in proof], root_hash)))
    if index > 0:
        probes.append(("index - 1", (leaf, index - 1, size, proof, root_hash)))
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        probes.append((f"proof[{i}] bit 3", (leaf, index, size, flipped, root_hash)))
    if proof:
        probes.append(("removed component", (leaf, index, size, proof[:-1], root_hash)))
    if len(proof) > 1:
        inserted = [proof[0], SOME_HASH, *proof[1:]]
        probes.append(("inserted component", (leaf, index, size, inserted, root_hash)))
        swapped = [proof[1], proof[0], *proof[2:]]
        probes.append(("swapped siblings", (leaf, index, size, swapped, root_hash)))
    return probes


@pytest.mark.parametrize("vector", _inclusion_cases())
def test_corrupted_inclusion_proofs_fail(vector: dict[str, Any]) -> None:
    index, size, proof = vector["index"], vector["size"], _hexes(vector["proof"])
    probes = _corrupt_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])
    accepted = [name for name, args in probes if verify_inclusion(*args)]
    assert accepted == []


def _corrupt_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[tuple[str, tuple[Any, ...]]]:
    probes: list[tuple[str, tuple[Any, ...]]] = [
        ("old + 1", (old + 1, new, old_root, new_root, proof)),
        ("old ^ 2", (old ^ 2, new, old_root, new_root, proof)),
        ("new * 2", (old, new * 2, old_root, new_root, proof)),
        ("new / 2", (old, new // 2, old_root, new_root, proof)),
        ("wrong old root", (old, new, b"WrongRoot", new_root, proof)),
        ("wrong new root", (old, new, old_root, b"WrongRoot", proof)),
        ("random old root", (old, new, SOME_HASH, new_root, proof)),
        ("random new root", (old, new, old_root, SOME_HASH, proof)),
        ("swapped roots", (old, new, new_root, old_root, proof)),
        ("empty proof", (old, new, old_root, new_root, [])),
        ("trailing garbage", (old, new, old_root, new_root, [*proof, b""])),
        ("trailing old root", (old, new, old_root, new_root, [*proof, old_root])),
        ("trailing new root", (old, new, old_root, new_root, [*proof, new_root])),
        ("preceding garbage", (old, new, old_root, new_root, [b"", *proof])),
        ("preceding old root", (old, new, old_root, new_root, [old_root, *proof])),
        ("preceding new root", (old, new, old_root, new_root, [new_root, *proof])),
        ("preceding proof[0]", (old, new, old_root, new_root, [proof[0], *proof])),
        ("truncated proof", (old, new, old_root, new_root, proof[:-1])),
        ("old > new", (new, old, new_root, old_root, proof)),
    ]
    if old > 0:
        probes.append(("old - 1", (old - 1, new, old_root, new_root, proof)))
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((f"proof[{i}] bit 4", (old, new, old_root, new_root, flipped)))
    if len(proof) > 1:
        swapped = [proof[1], proof[0], *proof[2:]]
        probes.append(("swapped siblings", (old, new, old_root, new_root, swapped)))
    return probes


@pytest.mark.parametrize("vector", [c for c in _consistency_cases() if c.values[0]["proof"]])
def test_corrupted_consistency_proofs_fail(vector: dict[str, Any]) -> None:
    old, new, proof = vector["old_size"], vector["new_size"], _hexes(vector["proof"])
    probes = _corrupt_consistency(old, new, ROOTS[old], ROOTS[new], proof)
    accepted = [name for name, args in probes if verify_consistency(*args)]
    assert accepted == []


def test_single_leaf_inclusion() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1)])
def test_inclusion_outside_the_tree_fails(index: int, size: int) -> None:
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "expected"),
    [
        (0, 0, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (0, 0, SOME_HASH, SOME_HASH, [], True),
        (0, 1, SOME_HASH, EMPTY_ROOT, [], True),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (1, 0, SOME_HASH, EMPTY_ROOT, [], False),
        (2, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 2, SOME_HASH, EMPTY_ROOT, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_trivial_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], expected: bool
) -> None:
    assert verify_consistency(old, new, old_root, new_root, proof) is expected


# --- caller errors -------------------------------------------------------------------------


def test_nonsensical_sizes_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        verify_inclusion(SOME_HASH, -1, 1, [], SOME_HASH)
    with pytest.raises(UsageError):
        verify_consistency(0, -1, SOME_HASH, SOME_HASH, [])
    with pytest.raises(UsageError):
        inclusion_proof(LEAF_HASHES, 8, 8)
    with pytest.raises(UsageError):
        inclusion_proof(LEAF_HASHES, 0, 9)
    with pytest.raises(UsageError):
        consistency_proof(LEAF_HASHES, 5, 4)
    with pytest.raises(UsageError):
        consistency_proof(LEAF_HASHES, 1, 9)
    with pytest.raises(UsageError):
        subtree_root(LEAF_HASHES, 3, 3)
    with pytest.raises(UsageError):
        MerkleAccumulator().append(b"short")
    with pytest.raises(UsageError):
        MerkleAccumulator.restore(3, [SOME_HASH])


def test_accumulator_restores_from_its_state() -> None:
    acc = MerkleAccumulator()
    acc.extend(LEAF_HASHES[:5])
    resumed = MerkleAccumulator.restore(acc.size, acc.hashes)
    resumed.extend(LEAF_HASHES[5:])
    assert resumed.root() == ROOTS[8]
    assert len(acc.hashes) == 2  # 5 = 0b101: one hash per set bit


def test_accumulator_memory_is_logarithmic() -> None:
    acc = MerkleAccumulator()
    for i in range(4097):
        acc.append(leaf_hash(i.to_bytes(4, "big")))
        assert len(acc.hashes) == acc.size.bit_count()
    assert len(acc.hashes) == 2


def test_proofs_from_a_range_callable_ask_only_for_sibling_ranges() -> None:
    asked: list[tuple[int, int]] = []

    def range_hash(start: int, end: int) -> bytes:
        asked.append((start, end))
        return subtree_root(LEAF_HASHES, start, end)

    assert inclusion_proof_from(range_hash, 5, 7) == inclusion_proof(LEAF_HASHES, 5, 7)
    assert consistency_proof_from(range_hash, 3, 7) == consistency_proof(LEAF_HASHES, 3, 7)
    for start, end in asked:
        width = end - start
        perfect = width & (width - 1) == 0 and start % width == 0
        assert perfect or end == 7


# --- properties ---------------------------------------------------------------------------

# Distinct leaves: with equal leaves a proof for one position is also valid for its twin.
leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=40, unique=True)


@given(leaf_lists, st.data())
def test_every_inclusion_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    size = data.draw(st.integers(1, len(hashes)), label="size")
    tree_root = root_of_hashes(hashes[:size])
    for index in range(size):
        proof = inclusion_proof(hashes, index, size)
        assert verify_inclusion(hashes[index], index, size, proof, tree_root)
        if size > 1:
            assert not verify_inclusion(hashes[index], (index + 1) % size, size, proof, tree_root)


@given(leaf_lists, st.data())
def test_every_consistency_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    new = data.draw(st.integers(0, len(hashes)), label="new")
    old = data.draw(st.integers(0, new), label="old")
    proof = consistency_proof(hashes, old, new)
    old_root, new_root = root_of_hashes(hashes[:old]), root_of_hashes(hashes[:new])
    assert verify_consistency(old, new, old_root, new_root, proof)


@given(leaf_lists, st.data())
def test_any_byte_flip_in_an_inclusion_proof_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(hashes, index, size)
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1), label="element")
    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    element = bytearray(proof[i])
    element[pos] ^= mask
    corrupted = [*proof]
    corrupted[i] = bytes(element)
    assert not verify_inclusion(hashes[index], index, size, corrupted, root_of_hashes(hashes))


@given(leaf_lists, st.data())
def test_any_byte_flip_in_a_consistency_proof_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    new = len(hashes)
    old = data.draw(st.integers(1, new), label="old")
    proof = consistency_proof(hashes, old, new)
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1), label="element")
    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    element = bytearray(proof[i])
    element[pos] ^= mask
    corrupted = [*proof]
    corrupted[i] = bytes(element)
    old_root, new_root = root_of_hashes(hashes[:old]), root_of_hashes(hashes)
    assert not verify_consistency(old, new, old_root, new_root, corrupted)


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_accumulator_root_equals_full_tree_root_for_every_prefix(leaves: list[bytes]) -> None:
    acc = MerkleAccumulator()
    assert acc.root() == EMPTY_ROOT
    for n, data in enumerate(leaves, start=1):
        acc.append(leaf_hash(data))
        assert acc.root() == _reference_mth([leaf_hash(x) for x in leaves[:n]])


def _reference_mth(hashes: list[bytes]) -> bytes:
    """RFC 6962's recursive definition, written independently of the module under test."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_mth(hashes[:k]), _reference_mth(hashes[k:]))
