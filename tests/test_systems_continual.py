"""EWC, A-GEM, LwF and experience replay: each strategy's step against its formula."""

from __future__ import annotations

import numpy as np
import pytest

from ocrr.systems import AGEM, EWC, ExperienceReplay, LwF, SoftmaxHead
from ocrr.systems.linear import _softmax


def _blobs(n_per: int = 12, dim: int = 8, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    X = np.concatenate([c + 0.3 * rng.normal(size=(n_per, dim)) for c in centres])
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    y = [f"c{i}" for i in range(classes) for _ in range(n_per)]
    return X, y


def _head(strategy=None, **params) -> tuple[SoftmaxHead, np.ndarray, list[str]]:
    X, y = _blobs()
    head = SoftmaxHead(epochs=5, seed=0, strategy=strategy, **params).fit(X, y)
    return head, X, y


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_plain_head_step_is_sgd_on_cross_entropy_with_a_zero_row_for_a_new_class():
    head, X, _ = _head(lr=0.5)
    W, b = head.W.copy(), head.b.copy()
    x = X[0]
    head.correct(x, "new")
    assert head.classes[-1] == "new" and head.W.shape[0] == W.shape[0] + 1
    p = _softmax(np.append(W @ x + b, 0.0)[None, :])[0]
    p[-1] -= 1.0  # cross-entropy gradient on the logits for target "new"
    np.testing.assert_allclose(head.W[:-1], W - 0.5 * np.outer(p[:-1], x), atol=1e-6)
    np.testing.assert_allclose(head.W[-1], -0.5 * p[-1] * x, atol=1e-6)
    np.testing.assert_allclose(head.b, np.append(b, 0.0) - 0.5 * p, atol=1e-6)


def test_ewc_fisher_is_the_mean_squared_gradient_of_the_predicted_log_probability():
    X, y = _blobs()
    ewc = EWC(lam=1.0, samples=len(X))  # every row, so the draw does not matter
    head = SoftmaxHead(epochs=5, seed=0, strategy=ewc).fit(X, y)
    F_W = np.zeros_like(head.W, dtype=np.float64)
    F_b = np.zeros_like(head.b, dtype=np.float64)
    for x in X.astype(np.float64):
        p = _softmax((head.W @ x + head.b)[None, :].astype(np.float64))[0]
        g = -p
        g[np.argmax(p)] += 1.0
        F_W += np.outer(g, x) ** 2
        F_b += g**2
    assert ewc.fisher is not None
    np.testing.assert_allclose(ewc.fisher[0], F_W / len(X), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(ewc.fisher[1], F_b / len(X), rtol=1e-4, atol=1e-9)


def test_ewc_step_adds_lambda_fisher_times_the_displacement_from_the_seed_weights():
    ewc = EWC(lam=50.0, samples=1000)
    head, X, _ = _head(ewc, lr=0.1)
    assert ewc.fisher is not None and ewc.anchor is not None
    rng = np.random.default_rng(1)
    head.W = head.W + 0.5 * rng.normal(size=head.W.shape).astype(np.float32)
    head.b = head.b + 0.5 * rng.normal(size=head.b.shape).astype(np.float32)
    W, b = head.W.copy(), head.b.copy()
    x, target = X[0], head.classes[0]
    grad_W, grad_b = head.gradients(x[None, :], np.array([0]))
    head.correct(x, target)
    expected_W = W - 0.1 * (grad_W + 50.0 * ewc.fisher[0] * (W - ewc.anchor[0]))
    expected_b = b - 0.1 * (grad_b + 50.0 * ewc.fisher[1] * (b - ewc.anchor[1]))
    np.testing.assert_allclose(head.W, expected_W, atol=1e-5)
    np.testing.assert_allclose(head.b, expected_b, atol=1e-5)


def test_ewc_leaves_a_new_class_row_unconstrained():
    ewc = EWC(lam=1e6)
    head, X, _ = _head(ewc, lr=0.1)
    head.correct(X[0], "new")
    plain, _, _ = _head(lr=0.1)
    plain.correct(X[0], "new")
    # first step: every weight is at its anchor, so the penalty is zero everywhere
    np.testing.assert_allclose(head.W, plain.W, atol=1e-6)
    assert ewc.fisher is not None and ewc.fisher[0].shape == head.W.shape
    assert not ewc.fisher[0][-1].any()


def test_agem_projects_a_conflicting_gradient_and_keeps_an_agreeing_one():
    X, y = _blobs()
    agem = AGEM(memory_size=len(X), batch_size=len(X))  # memory = every seed row
    head = SoftmaxHead(epochs=5, seed=0, strategy=agem).fit(X, y)
    assert agem.memory is not None and len(agem.memory) == len(X)
    targets = np.array([head.classes.index(label) for label in y])
    ref = head.gradients(X, targets)
    x = X[:1]
    # g = -g_mem conflicts: the projection removes it entirely
    out = agem.gradient(head, x, 0, (-ref[0], -ref[1]))
    assert np.abs(out[0]).max() < 1e-6 and np.abs(out[1]).max() < 1e-6
    # g = g_mem + something orthogonal-ish: agrees, so it is returned unchanged
    out = agem.gradient(head, x, 0, (2 * ref[0], 2 * ref[1]))
    np.testing.assert_allclose(out[0], 2 * ref[0])
    # a generic conflicting gradient ends up orthogonal to the memory gradient
    rng = np.random.default_rng(3)
    g = (rng.normal(size=ref[0].shape) - 5 * ref[0], rng.normal(size=ref[1].shape) - 5 * ref[1])
    out = agem.gradient(head, x, 0, g)
    dot = float(np.vdot(out[0], ref[0]) + np.vdot(out[1], ref[1]))
    assert abs(dot) < 1e-4 * float(np.vdot(ref[0], ref[0]) + np.vdot(ref[1], ref[1]))


def _lwf_loss(W: np.ndarray, b: np.ndarray, W_t, b_t, x, target: int, lam: float, T: float):
    z = W @ x + b
    ce = -np.log(_softmax(z[None, :])[0][target])
    known = len(b_t)
    p_t = _softmax(((W_t @ x + b_t) / T)[None, :])[0]
    q = _softmax((z[:known] / T)[None, :])[0]
    return ce + lam * T * T * float(np.sum(p_t * (np.log(p_t) - np.log(q))))


def test_lwf_gradient_is_that_of_cross_entropy_plus_distillation():
    lwf = LwF(lam=1.0, temperature=2.0)
    head, X, _ = _head(lwf)
    head.correct(X[5], "new")  # the head now has a row the teacher does not know
    rng = np.random.default_rng(2)
    head.W = head.W + 0.3 * rng.normal(size=head.W.shape).astype(np.float32)
    x, target = X[20].astype(np.float64), len(head.classes) - 1
    grads = head.gradients(x[None, :].astype(np.float32), np.array([target]))
    grad_W, grad_b = lwf.gradient(head, x[None, :].astype(np.float32), target, grads)
    W, b = head.W.astype(np.float64), head.b.astype(np.float64)
    assert lwf.teacher is not None
    W_t, b_t = (a.astype(np.float64) for a in lwf.teacher)
    eps = 1e-5
    for i, j in [(0, 0), (1, 3), (2, 7), (len(b) - 1, 2)]:
        up, down = W.copy(), W.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (
            _lwf_loss(up, b, W_t, b_t, x, target, 1.0, 2.0)
            - _lwf_loss(down, b, W_t, b_t, x, target, 1.0, 2.0)
        ) / (2 * eps)
        assert grad_W[i, j] == pytest.approx(numeric, abs=1e-4)
    for i in range(len(b)):
        up, down = b.copy(), b.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (
            _lwf_loss(W, up, W_t, b_t, x, target, 1.0, 2.0)
            - _lwf_loss(W, down, W_t, b_t, x, target, 1.0, 2.0)
        ) / (2 * eps)
        assert grad_b[i] == pytest.approx(numeric, abs=1e-4)


def test_lwf_adds_nothing_while_the_student_equals_the_teacher():
    lwf = LwF()
    head, X, _ = _head(lwf)
    x = X[:1]
    grads = head.gradients(x, np.array([1]))
    out = lwf.gradient(head, x, 1, grads)
    np.testing.assert_allclose(out[0], grads[0], atol=1e-7)


def test_experience_replay_adds_the_replayed_batch_gradient_and_stores_the_correction():
    X, y = _blobs()
    er = ExperienceReplay(memory_size=len(X) + 5, batch_size=len(X))
    head = SoftmaxHead(epochs=5, seed=0, strategy=er).fit(X, y)
    assert er.memory is not None and len(er.memory) == len(X)
    targets = np.array([head.classes.index(label) for label in y])
    replay = head.gradients(X, targets)
    x = _unit(np.ones(X.shape[1]))[None, :]
    grads = head.gradients(x, np.array([2]))
    out = er.gradient(head, x, 2, grads)
    np.testing.assert_allclose(out[0], grads[0] + replay[0], atol=1e-6)
    assert len(er.memory) == len(X) + 1 and er.memory.codes[-1] == 2
    assert head.storage_entries() == len(X) + 1
    assert head.storage_bytes() == head.W.nbytes + head.b.nbytes + er.memory.nbytes


def test_storage_counts_what_each_strategy_keeps():
    plain, _, _ = _head()
    weights = plain.W.nbytes + plain.b.nbytes
    assert plain.storage_bytes() == weights
    ewc_head, _, _ = _head(EWC())
    assert ewc_head.storage_bytes() == 3 * weights  # weights, Fisher, anchor
    lwf_head, _, _ = _head(LwF())
    assert lwf_head.storage_bytes() == 2 * weights  # weights, teacher
    agem_head, X, _ = _head(AGEM(memory_size=10))
    assert agem_head.storage_bytes() == weights + 10 * (4 * X.shape[1] + 16)
    assert agem_head.storage_entries() == 10


def test_strategies_are_deterministic_per_seed():
    def run(seed: int) -> np.ndarray:
        X, y = _blobs()
        head = SoftmaxHead(epochs=3, seed=seed, strategy=AGEM(8, 4, seed=seed)).fit(X, y)
        for i in range(0, len(X), 5):
            head.correct(X[i], "new" if i % 2 else y[i])
        return head.W

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_fit_can_preallocate_rows_for_classes_without_examples():
    X, y = _blobs()
    head = SoftmaxHead(epochs=100, seed=0).fit(X, y, classes=["zz_later"])
    assert head.classes == ["c0", "c1", "c2", "zz_later"] and head.W.shape[0] == 4
    # trained against, never for: the empty class is never predicted on the seed rows
    assert "zz_later" not in head.predict_many(X)
    head.correct(X[0], "zz_later")
    assert head.W.shape[0] == 4  # its row already existed


@pytest.mark.parametrize("strategy", [AGEM, ExperienceReplay])
def test_a_second_fit_replays_as_a_fresh_head_would(strategy):
    """fit starts over: the replay batches a refitted head draws are a fresh head's."""
    X, y = _blobs()

    def corrected(head: SoftmaxHead) -> np.ndarray:
        for i in range(0, len(X), 5):
            head.correct(X[i], "new" if i % 2 else y[i])
        return head.W

    used = SoftmaxHead(epochs=3, seed=1, strategy=strategy(8, 4, seed=1)).fit(X, y)
    corrected(used)
    used.fit(X, y)
    fresh = SoftmaxHead(epochs=3, seed=1, strategy=strategy(8, 4, seed=1)).fit(X, y)
    np.testing.assert_array_equal(corrected(used), corrected(fresh))
