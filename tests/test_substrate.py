"""The substrate: learning from one correction, batch = single, explanations, rebuilds, text."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr import Substrate
from ocrr.encoders import CachedEncoder, TfidfEncoder
from ocrr.errors import NotFittedError
from ocrr.ledger import Ledger, LedgerError


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.fixture
def fitted(clusters):
    X, y, centroids = clusters(6, 15, 32, seed=3)
    return Substrate(vote="band").fit(X, y), X, y, centroids


def test_fit_appends_one_unit_entry_per_row_in_order(clusters):
    X, y, _ = clusters(4, 5, 16, seed=1)
    scaled = X * np.linspace(0.5, 3.0, len(X))[:, None]  # not unit: the substrate normalises
    clf = Substrate(vote="band").fit(scaled, y)
    assert len(clf) == len(clf.ledger) == 20
    for i, entry in enumerate(clf.ledger):
        assert entry.seq == i and entry.label == y[i] and entry.kind == "example"
        assert entry.source == "fit" and entry.text is None
        np.testing.assert_allclose(entry.vector, X[i], atol=1e-6)
    assert clf.labels == list(dict.fromkeys(y))  # order of first appearance
    assert clf.ledger.verify().ok
    assert clf.storage_entries() == 20 and clf.storage_bytes() == clf.ledger.nbytes


def test_fit_refuses_mismatched_lengths(clusters):
    X, y, _ = clusters(3, 4, 8)
    with pytest.raises(ValueError):
        Substrate(vote="band").fit(X, y[:-1])


def test_learns_a_new_class_from_one_correction(fitted):
    clf, X, y, centroids = fitted
    rng = np.random.default_rng(9)
    new_centre = unit(rng.standard_normal(32))
    first, second = unit(new_centre + 0.05 * rng.standard_normal((2, 32)))
    before = clf.predict_one(second)
    assert before in set(y)
    entry = clf.correct(first, "brand_new", actor="agent-7")
    assert entry.seq == len(X) and entry.label == "brand_new"
    assert entry.actor == "agent-7" and entry.source == "correction"
    assert clf.predict_one(second) == "brand_new"
    assert clf.predict_many(second[None, :]) == ["brand_new"]
    assert clf.labels[-1] == "brand_new"
    # the known classes are not forgotten
    assert clf.predict_many(X) == list(y)
    assert clf.ledger.verify().ok


def test_learn_one_provenance(fitted):
    clf, X, _, _ = fitted
    entry = clf.learn_one(X[0], "x", source="import", provenance={"ticket": "T-1"})
    assert dict(entry.provenance) == {"source": "import", "ticket": "T-1"}


def test_predict_many_equals_predict_one_row_by_row(fitted, unit_rows):
    clf, X, _, centroids = fitted
    rng = np.random.default_rng(4)
    queries = np.concatenate(
        [
            unit_rows(200, 32, seed=5),  # anywhere
            unit(centroids[rng.integers(0, 6, 200)] + 0.5 * rng.standard_normal((200, 32))),
            X[:20],  # exact matches of entries
        ]
    )
    batch = clf.predict_many(queries)
    assert batch == [clf.predict_one(q) for q in queries]
    assert batch == [clf.predict(q).label for q in queries]
    clf.correct(queries[0], "late")  # and again after the index grew
    assert clf.predict_many(queries) == [clf.predict_one(q) for q in queries]


def test_predict_many_equals_predict_one_with_exact_ties():
    """Ternary vectors make similarities exact, so many neighbours tie exactly."""
    rng = np.random.default_rng(0)
    dim = 12

    def ternary(n):
        out = np.zeros((n, dim), dtype=np.float32)
        for row in out:
            row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
        return out

    X, queries = ternary(400), ternary(300)
    clf = Substrate(vote="band").fit(X, [f"l{i}" for i in rng.integers(0, 8, len(X))])
    assert clf.predict_many(queries) == [clf.predict_one(q) for q in queries]
    for q in queries[:50]:
        clf.correct(q, "corrected")
    assert clf.predict_many(queries) == [clf.predict_one(q) for q in queries]


def test_explanation_lists_the_voting_neighbours(fitted, unit_rows):
    clf, _, _, _ = fitted
    for query in unit_rows(30, 32, seed=6):
        p = clf.predict(query)
        assert len(p.neighbours) == clf.k
        sims = [n.similarity for n in p.neighbours]
        assert sims == sorted(sims, reverse=True)
        for n in p.neighbours:
            entry = clf.ledger[n.seq]
            assert n.label == entry.label
            assert n.similarity == pytest.approx(float(entry.vector @ unit(query)), abs=1e-5)
            assert n.voted == (n.similarity >= sims[0] - clf.margin)
        # the k entries are the k most similar in the whole ledger
        all_sims = np.array([e.vector @ unit(query) for e in clf.ledger])
        assert sorted({n.seq for n in p.neighbours}) == sorted(np.argsort(-all_sims)[: clf.k])
        voters = [n for n in p.neighbours if n.voted]
        assert p.neighbours[0].voted and p.label in {n.label for n in voters}
        assert p.confidence == sum(n.label == p.label for n in voters) / len(voters)


def test_explanation_after_a_correction_names_it():
    X = np.eye(4, dtype=np.float32)
    clf = Substrate(vote="band").fit(X, ["a", "b", "c", "d"])
    query = unit(np.array([1.0, 0.5, 0.0, 0.0]))  # a: 0.89, out of the band
    clf.correct(query, "e", actor="agent-7")
    p = clf.predict(query)
    assert p.label == "e" and p.confidence == 1.0
    assert p.neighbours[0].seq == 4 and p.neighbours[0].voted
    assert p.neighbours[0].similarity == pytest.approx(1.0)
    assert [n.voted for n in p.neighbours[1:]] == [False] * 4


def test_rebuilt_from_the_ledger_predicts_identically(fitted, unit_rows):
    clf, _, _, _ = fitted
    queries = unit_rows(300, 32, seed=7)
    for q in queries[:40]:
        clf.correct(q, f"novel-{int(abs(q[0]) * 10)}")
    rebuilt = Substrate.from_ledger(clf.ledger, vote="band")
    assert rebuilt.labels == clf.labels
    assert rebuilt.predict_many(queries) == clf.predict_many(queries)
    assert [rebuilt.predict_one(q) for q in queries] == [clf.predict_one(q) for q in queries]
    assert rebuilt.predict(queries[50]) == clf.predict(queries[50])
    # a substrate rebuilt from a copy of the ledger keeps learning the same way
    ledger = Ledger()
    for e in clf.ledger:
        ledger.append(e.label, e.vector, text=e.text, provenance=e.provenance, kind=e.kind)
    copy = Substrate.from_ledger(ledger, vote="band")
    extra = unit_rows(20, 32, seed=8)
    for q in extra:
        clf.correct(q, "later")
        copy.correct(q, "later")
    assert copy.predict_many(queries) == clf.predict_many(queries)


def test_from_ledger_keeps_parameters(fitted, unit_rows):
    clf, _, _, _ = fitted
    queries = unit_rows(100, 32, seed=9)
    one = Substrate.from_ledger(clf.ledger, k=1, vote="band")
    assert one.k == 1
    assert one.predict_many(queries) == Substrate(vote="band", k=1).fit(
        np.stack([e.vector for e in clf.ledger]), [e.label for e in clf.ledger]
    ).predict_many(queries)


def test_empty_substrate_refuses_to_predict_and_a_withdrawn_one_answers_none():
    clf = Substrate(vote="band")
    for ask in (clf.predict_one, clf.predict):
        with pytest.raises(NotFittedError, match="call fit"):
            ask(np.ones(3))
    with pytest.raises(NotFittedError):
        clf.predict_many(np.ones((2, 3)))
    clf.fit(np.eye(3)[:1], ["a"])
    clf.revoke(0, "wrong")  # it has been taught, but nothing votes any more
    assert clf.predict_one(np.ones(3)) is None
    assert clf.predict_many(np.ones((2, 3))) == [None, None]
    p = clf.predict(np.ones(3))
    assert p.label is None and p.neighbours == () and p.confidence == 0.0


def test_fewer_entries_than_k():
    clf = Substrate(vote="band", k=5).fit(np.eye(3, dtype=np.float32)[:2], ["a", "b"])
    assert clf.predict_one(np.array([1.0, 0.1, 0.0])) == "a"
    assert len(clf.predict(np.array([1.0, 0.1, 0.0])).neighbours) == 2


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(np.array([1.0, np.nan, 0.0, 0.0]), id="nan"),
        pytest.param(np.array([np.inf, 0.0, 0.0, 0.0]), id="inf"),
        pytest.param(np.zeros(4), id="zeros"),
        pytest.param(np.ones((2, 4)), id="2-d"),
    ],
)
def test_bad_correction_changes_nothing(bad):
    clf = Substrate(vote="band").fit(np.eye(4, dtype=np.float32), list("abcd"))
    head = clf.ledger.head()
    with pytest.raises(ValueError):
        clf.correct(bad, "e")
    assert clf.ledger.head() == head and clf.labels == list("abcd")
    assert clf.predict_one(np.array([1.0, 0, 0, 0])) == "a"


def test_refused_label_leaves_index_and_label_table_unchanged():
    clf = Substrate(vote="band").fit(np.eye(4, dtype=np.float32), list("abcd"))
    query = np.array([0.0, 0.0, 0.1, 1.0])
    with pytest.raises(LedgerError):
        clf.correct(query, "")
    with pytest.raises(LedgerError):
        clf.correct(np.ones(5), "e")  # wrong dimension
    assert len(clf) == 4 and clf.labels == list("abcd")
    assert clf.predict_one(query) == "d"
    assert clf.correct(query, "e").seq == 4  # the index and the ledger still agree
    assert clf.predict_one(query) == "e"
    assert clf.predict(query).neighbours[0].seq == 4


def test_vectors_only_substrate_refuses_text():
    clf = Substrate(vote="band").fit(np.eye(3, dtype=np.float32), list("abc"))
    with pytest.raises(ValueError, match="encoder"):
        clf.predict_one("hello there")
    with pytest.raises(ValueError, match="encoder"):
        clf.correct("hello there", "a")


TRAIN = [
    ("where is my card", "card_arrival"),
    ("my card has not arrived yet", "card_arrival"),
    ("card still not delivered", "card_arrival"),
    ("what is the exchange rate", "exchange_rate"),
    ("how much is a euro in dollars", "exchange_rate"),
    ("exchange rate for dollars to euro", "exchange_rate"),
    ("i forgot my pin code", "pin"),
    ("how do i reset my pin", "pin"),
    ("close my account", "close_account"),
    ("i want to close my account please", "close_account"),
]


def test_text_api_with_the_tfidf_encoder(cache_dir):
    texts, labels = zip(*TRAIN, strict=True)
    encoder = CachedEncoder(TfidfEncoder(dim=32).fit(texts), cache_dir)
    known = [(t, lab) for t, lab in TRAIN if lab != "close_account"]
    clf = Substrate.from_encoder(encoder)
    clf.fit([t for t, _ in known], [lab for _, lab in known])
    assert clf.ledger[0].text == known[0][0]
    assert clf.predict_one("has my card arrived") == "card_arrival"
    assert clf.predict_many(["reset the pin", "euro exchange rate"]) == ["pin", "exchange_rate"]
    assert clf.predict_one("close my account") != "close_account"  # never seen
    entry = clf.correct("close my account", "close_account", actor="agent-7")
    assert entry.text == "close my account" and entry.actor == "agent-7"
    p = clf.predict("please close my account")
    assert p.label == "close_account"
    assert p.neighbours[0].seq == entry.seq
    # text and vectors are interchangeable
    vector = encoder.encode(["please close my account"])[0]
    assert clf.predict_one(vector) == "close_account"
    rebuilt = Substrate.from_ledger(clf.ledger, encoder=encoder)
    assert rebuilt.predict("please close my account") == p
