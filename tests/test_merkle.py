"""The Merkle tree against RFC 6962's published vectors and, by property tests, against the
RFC's recursive definitions for every tree size up to a few hundred."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocrr.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference inputs and results, as published with the reference
# verifiers (transparency-dev/merkle, proof/verify_test.go; the same values as
# certificate-transparency-go). Inclusion indices there are 1-based; here they are 0-based.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (0-based leaf index, tree size, path)
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
    (0, 1, []),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 5, [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
    (6, 7, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
]


def _unhex(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


@pytest.fixture(scope="module")
def reference_tree() -> MerkleTree:
    return MerkleTree(leaf_hash(d) for d in LEAVES)


# -- an independent reference: the RFC's recursive definitions, written plainly ------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], complete) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


# -- published vectors ----------------------------------------------------------------------


def test_hashing_primitives_are_rfc6962s() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == ROOTS[0]
    assert leaf_hash(b"\x00").hex() == INCLUSION[0][2][0]
    a, b = leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])
    assert node_hash(a, b).hex() == ROOTS[1]


def test_roots_match_the_published_vectors(reference_tree: MerkleTree) -> None:
    assert reference_tree.root(0) == EMPTY_ROOT
    for size in range(1, 9):
        assert reference_tree.root(size).hex() == ROOTS[size - 1], size


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    reference_tree: MerkleTree, index: int, size: int, path: list[str]
) -> None:
    assert reference_tree.inclusion_proof(index, size) == _unhex(path)
    root = bytes.fromhex(ROOTS[size - 1])
    assert verify_inclusion(reference_tree.leaf(index), index, size, _unhex(path), root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    reference_tree: MerkleTree, old: int, new: int, proof: list[str]
) -> None:
    assert reference_tree.consistency_proof(old, new) == _unhex(proof)
    old_root, new_root = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    assert verify_consistency(old, new, old_root, new_root, _unhex(proof))


def _corruptions(proof: list[bytes]) -> list[list[bytes]]:
    """The reference verifiers' mutations: flipped bits, extra, missing and swapped nodes."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    out = [proof + [b""], proof + [some], [some] + proof, [b""] + proof]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        out.append(flipped)
    if proof:
        out.append(proof[:-1])
    if len(proof) > 1:
        out.append([proof[1], proof[0], *proof[2:]])
    return out


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_corrupted_inclusion_proofs_fail(
    reference_tree: MerkleTree, index: int, size: int, path: list[str]
) -> None:
    proof, leaf = _unhex(path), reference_tree.leaf(index)
    root = bytes.fromhex(ROOTS[size - 1])
    for bad in _corruptions(proof):
        if bad != proof:
            assert not verify_inclusion(leaf, index, size, bad, root)
    for i, n in ((index - 1, size), (index + 1, size), (index ^ 2, size), (index, size * 2),
                 (index, size // 2)):
        if (i, n) != (index, size) and i >= 0:
            assert not verify_inclusion(leaf, i, n, proof, root), (i, n)
    assert not verify_inclusion(b"WrongLeaf", index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[str]) -> None:
    path = _unhex(proof)
    r1, r2 = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    for bad in _corruptions(path):
        assert not verify_consistency(old, new, r1, r2, bad)
    for o, n in ((old - 1, new), (old + 1, new), (old ^ 2, new), (old, new * 2), (old, new // 2)):
        if (o, n) != (old, new):
            assert not verify_consistency(o, n, r1, r2, path), (o, n)
    assert not verify_consistency(old, new, r2, r1, path)
    assert not verify_consistency(old, new, b"WrongRoot", r2, path)
    assert not verify_consistency(old, new, r1, b"WrongRoot", path)
    assert not verify_consistency(old, new, r1, r2, [])


def test_consistency_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert verify_consistency(0, 0, a, a, [])
    assert verify_consistency(0, 5, a, b, [])  # the empty tree is a prefix of any tree
    assert verify_consistency(1, 1, b, b, [])
    assert not verify_consistency(1, 1, a, b, [])
    assert not verify_consistency(2, 1, a, b, [])
    assert not verify_consistency(1, 1, a, a, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, a, a, [EMPTY_ROOT])


def test_out_of_range_requests_are_refused(reference_tree: MerkleTree) -> None:
    with pytest.raises(ProofError):
        reference_tree.root(9)
    with pytest.raises(ProofError):
        reference_tree.inclusion_proof(8, 8)
    with pytest.raises(ProofError):
        reference_tree.consistency_proof(5, 4)
    assert root_from_inclusion(leaf_hash(b"x"), 0, 0, []) is None


# -- every size up to a few hundred, against the recursive definitions ---------------------

N_MAX = 300
ALL_LEAVES = [leaf_hash(i.to_bytes(4, "little")) for i in range(N_MAX)]


@pytest.fixture(scope="module")
def big_tree() -> MerkleTree:
    return MerkleTree(ALL_LEAVES)


def test_every_root_up_to_n_max(big_tree: MerkleTree) -> None:
    incremental = MerkleTree()
    for n in range(N_MAX + 1):
        expected = ref_mth(ALL_LEAVES[:n])
        assert big_tree.root(n) == expected, n
        assert incremental.root() == expected, n
        if n < N_MAX:
            incremental.append(ALL_LEAVES[n])


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_inclusion_proofs_match_the_definition_and_verify(big_tree: MerkleTree, data) -> None:
    size = data.draw(st.integers(1, N_MAX))
    index = data.draw(st.integers(0, size - 1))
    proof = big_tree.inclusion_proof(index, size)
    assert proof == ref_path(index, ALL_LEAVES[:size])
    root = big_tree.root(size)
    assert verify_inclusion(ALL_LEAVES[index], index, size, proof, root)
    other = data.draw(st.integers(0, size - 1))
    if other != index:  # the same path does not prove another leaf, nor another position
        assert not verify_inclusion(ALL_LEAVES[other], index, size, proof, root)
        assert not verify_inclusion(ALL_LEAVES[index], other, size, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_inclusion(ALL_LEAVES[index], index, size, bad, root)
        assert not verify_inclusion(ALL_LEAVES[index], index, size, proof[:-1], root)
    assert not verify_inclusion(ALL_LEAVES[index], index, size, [*proof, proof[-1] if proof
                                                                 else root], root)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_consistency_proofs_match_the_definition_and_verify(big_tree: MerkleTree, data) -> None:
    new = data.draw(st.integers(1, N_MAX))
    old = data.draw(st.integers(1, new))
    proof = big_tree.consistency_proof(old, new)
    expected = [] if old == new else ref_subproof(old, ALL_LEAVES[:new], True)
    assert proof == expected
    r_old, r_new = big_tree.root(old), big_tree.root(new)
    assert verify_consistency(old, new, r_old, r_new, proof)
    if old < new:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_consistency(old, new, r_old, r_new, bad)
        # a different history of the same size is not consistent with the old root
        forked = MerkleTree(ALL_LEAVES[: old - 1] + [leaf_hash(b"forged")]
                            + ALL_LEAVES[old:new])
        assert not verify_consistency(old, new, r_old, forked.root(new),
                                      forked.consistency_proof(old, new))


def test_every_proof_at_every_size_up_to_n_max_verifies(big_tree: MerkleTree) -> None:
    """Exhaustive: every leaf of every tree size, every pair of sizes (the hypothesis tests
    above compare the proofs themselves with the RFC's definitions)."""
    roots = [big_tree.root(n) for n in range(N_MAX + 1)]
    for new in range(1, N_MAX + 1):
        for index in range(new):
            path = big_tree.inclusion_proof(index, new)
            assert verify_inclusion(ALL_LEAVES[index], index, new, path, roots[new]), (index, new)
        for old in range(1, new + 1):
            proof = big_tree.consistency_proof(old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)


def test_every_proof_up_to_64_leaves_is_the_rfc_definition(big_tree: MerkleTree) -> None:
    for new in range(1, 65):
        leaves = ALL_LEAVES[:new]
        for index in range(new):
            assert big_tree.inclusion_proof(index, new) == ref_path(index, leaves)
        for old in range(1, new):
            assert big_tree.consistency_proof(old, new) == ref_subproof(old, leaves, True)
