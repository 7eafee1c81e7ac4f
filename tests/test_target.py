"""Spec for ``target_weight``: codes that also learn to predict ``y``.

Every estimator test runs for both estimators (the ``Est`` fixture). In
order: ``target_weight=0`` ignores ``y``; the kinds of target
(``target_kind_``, ``classes_``) and the unlabeled rows; the loss (the
criteria's target term, pure torch); that labels help a classifier on the
codes; cross-validation refits on each fold's labels only; ``partial_fit``;
bad input; the held-out labeled rows; saving and loading.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import FAST, states_equal
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import EpochScoring

import skae
from skae import AutoencoderTransformer, VAETransformer
from skae.losses import AutoencoderCriterion, VAECriterion, target_loss
from skae.modules import Architecture, build_autoencoder, build_variational_autoencoder

N = 60


@pytest.fixture(scope="module", params=[AutoencoderTransformer, VAETransformer],
                ids=lambda c: c.__name__)
def Est(request):
    return request.param


@pytest.fixture(scope="module")
def labels(X):
    """Two classes that follow the data (the first feature above its median)."""
    return (X[:, 0] > np.median(X[:, 0])).astype(int)


# ------------------------------------------------------- target_weight=0

def test_zero_weight_ignores_y(Est, X, labels):
    plain = Est(**FAST).fit(X)
    with_y = Est(**FAST).fit(X, labels)
    assert_array_equal(with_y.transform(X), plain.transform(X))
    assert with_y.target_kind_ is None
    assert with_y.net_.module_.target is None
    assert not hasattr(with_y, "classes_")


# ----------------------------------------------------- kinds and labels

@pytest.mark.parametrize("y, kind, classes", [
    (np.tile([0, 1, 2], N // 3), "classes", [0, 1, 2]),
    (np.tile(["b", "a"], N // 2), "classes", ["a", "b"]),
    (np.tile([True, False], N // 2), "classes", [False, True]),
    (np.linspace(-5, 5, N), "numbers", None),
], ids=["int", "str", "bool", "float"])
def test_target_kind(Est, X, y, kind, classes):
    est = Est(target_weight=0.5, **FAST).fit(X, y)
    assert est.target_kind_ == kind
    if classes is None:
        assert not hasattr(est, "classes_")
    else:
        assert_array_equal(est.classes_, classes)
    assert est.net_.module_.target.widths == (len(classes) if classes else 1,)


def test_two_dimensional_y_gets_one_head_per_column(Est, X, labels):
    y = pd.DataFrame({"label": np.where(labels == 1, "yes", "no"), "size": X[:, 1]})
    est = Est(target_weight=0.5, **FAST).fit(X, y)
    assert est.target_kind_ == ["classes", "numbers"]
    assert_array_equal(est.classes_[0], ["no", "yes"])
    assert est.classes_[1] is None
    assert est.net_.module_.target.widths == (2, 1)


@pytest.mark.parametrize("unlabeled", [-1, np.nan, None], ids=["-1", "nan", "None"])
def test_unlabeled_rows_are_not_classes(Est, X, labels, unlabeled):
    y = labels.astype(type(unlabeled) if unlabeled is not None else object)
    y[::2] = unlabeled
    est = Est(target_weight=0.5, **FAST).fit(X, y)
    # -1 in integer y, None in object y: classes; NaN in float y: numbers, as sklearn's types.
    assert est.target_kind_ == ("numbers" if unlabeled is np.nan else "classes")
    if unlabeled is not np.nan:
        assert_array_equal(est.classes_, [0, 1])


# ------------------------------------------------------------- the loss

def test_target_loss_sums_labeled_columns():
    pred = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([[0.0, 0.0], [float("nan"), 1.0]])
    expected = [torch.nn.functional.cross_entropy(pred[:1, :2], torch.tensor([0])) + 1.0, 4.0]
    assert_allclose(target_loss(pred, y, (2, 1)), expected, rtol=1e-6)


@pytest.mark.parametrize("Criterion, build", [
    (AutoencoderCriterion, build_autoencoder), (VAECriterion, build_variational_autoencoder)])
def test_criterion_weighs_labeled_rows_by_the_batch(Criterion, build):
    """``(1 - w) * reconstruction + w * (sum over labeled rows) / n``, on the code.

    ``n`` is sqrt(labeled rows * batch rows) by default, the batch's rows with
    ``target_scale='rows'`` and its labeled rows with ``'labeled'``.
    """
    module = build(Architecture(4, 2, targets=(3,))).eval()  # eval: the VAE's code is mu
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([[0.0], [2.0], [float("nan")], [1.0], [float("nan")], [float("nan")]])
    with torch.no_grad():
        y_pred = module(x)
        alone = Criterion()(y_pred, x, module)
        per_row = target_loss(module.target(module.encode(x)), y, (3,))
        combined = Criterion(target_weight=0.25)(y_pred, x, module, y)
        by_rows = Criterion(target_weight=0.25, target_scale="rows")(y_pred, x, module, y)
        by_labeled = Criterion(target_weight=0.25, target_scale="labeled")(y_pred, x, module, y)
    target = per_row.sum()
    assert_allclose(float(combined), float(0.75 * alone + 0.25 * target / 18 ** 0.5), rtol=1e-6)
    assert_allclose(float(by_rows), float(0.75 * alone + 0.25 * target / 6), rtol=1e-6)
    assert_allclose(float(by_labeled), float(0.75 * alone + 0.25 * target / 3), rtol=1e-6)


# ---------------------------------------------------------- labels help

def test_labels_help_a_classifier_on_the_codes(Est):
    """Six independent features, two code dimensions: unsupervised codes keep any two.

    The label follows the last feature, which labels teach the code to keep.
    """
    rng = np.random.RandomState(0)
    X = rng.randn(240, 6)
    y = (X[:, 5] > 0).astype(int)
    train, test = slice(0, 160), slice(160, None)

    def accuracy(target_weight):
        est = Est(2, hidden_layer_sizes=(16,), max_iter=30, batch_size=32, random_state=0,
                  target_weight=target_weight).fit(X[train], y[train])
        clf = LogisticRegression().fit(est.transform(X[train]), y[train])
        return clf.score(est.transform(X[test]), y[test])

    assert accuracy(0.5) > accuracy(0.0) + 0.15


# ------------------------------------------------- cross-validation

def test_each_fold_trains_on_its_own_labels_only(Est, X, labels, monkeypatch):
    seen = []
    fit = Est.fit

    def recording_fit(self, X, y=None):
        seen.append((np.array(X), np.array(y)))
        return fit(self, X, y)

    monkeypatch.setattr(Est, "fit", recording_fit)
    pipe = make_pipeline(Est(target_weight=0.5, **FAST), LogisticRegression())
    cv = KFold(3)
    cross_val_score(pipe, X, labels, cv=cv)
    assert len(seen) == 3  # one refit per fold, by the Pipeline's fit with y
    for (rows, y), (train, _) in zip(seen, cv.split(X)):
        assert_array_equal(rows, X[train])
        assert_array_equal(y, labels[train])  # never a label of the fold it is scored on


# ---------------------------------------------------------- partial_fit

def test_partial_fit_first_call_fixes_the_classes(Est, X, labels):
    est = Est(target_weight=0.5, **FAST).partial_fit(X, labels)
    est.partial_fit(X)  # no labels: reconstruction only
    est.partial_fit(X, np.full(N, -1))
    assert_array_equal(est.classes_, [0, 1])
    with pytest.raises(ValueError, match=r"classes \[2, 3\] that the first fit did not see"):
        est.partial_fit(X, np.where(labels == 1, 2, 3))


def test_partial_fit_after_a_start_without_labels_refuses_them(Est, X, labels):
    est = Est(target_weight=0.5, **FAST)
    with pytest.warns(UserWarning, match="y is ignored"):
        est.partial_fit(X)
    with pytest.raises(ValueError, match="first fitted without labels"):
        est.partial_fit(X, labels)


# ------------------------------------------------------------ bad input

def test_y_of_another_length_raises(Est, X, labels):
    with pytest.raises(ValueError, match=f"y has {N - 1} rows but X has {N}"):
        Est(target_weight=0.5, **FAST).fit(X, labels[1:])


def test_one_class_raises(Est, X):
    y = np.zeros(N, dtype=int)
    y[:5] = -1
    with pytest.raises(ValueError, match=r"y has one class \(\[0\]\) among its labeled rows"):
        Est(target_weight=0.5, **FAST).fit(X, y)


@pytest.mark.parametrize("target_weight", [-0.1, 1.5])
def test_target_weight_outside_zero_one_raises(Est, X, labels, target_weight):
    with pytest.raises(InvalidParameterError, match="target_weight"):
        Est(target_weight=target_weight, **FAST).fit(X, labels)


@pytest.mark.parametrize("y", [None, np.full(N, -1), np.full(N, np.nan)],
                         ids=["none", "all -1", "all nan"])
def test_no_labeled_row_warns_that_y_is_ignored(Est, X, y):
    with pytest.warns(UserWarning, match="y is ignored"):
        est = Est(target_weight=0.5, **FAST).fit(X, y)
    assert est.target_kind_ is None
    assert_array_equal(est.transform(X), Est(**FAST).fit(X).transform(X))


def test_a_reconstruction_metric_callback_is_refused_with_targets(Est, X, labels):
    scoring = EpochScoring("neg_mean_squared_error", name="mse")
    with pytest.raises(ValueError, match="hands it the targets y instead of X"):
        Est(target_weight=0.5, callbacks=[scoring], **FAST).fit(X, labels)


# ---------------------------------------------------- held-out labeled rows

def test_held_out_labels_choose_the_epoch(Est, X, labels):
    est = Est(target_weight=0.5, **{**FAST, "max_iter": 4}).fit(X, labels)
    held_out = est.net_.history[:, "valid_target"]
    assert len(held_out) == 4
    assert dict(est.net_.callbacks_)["target_checkpoint"].best_loss_ == min(held_out)


def test_training_ends_when_the_held_out_labels_stop_improving(Est, X, labels):
    # Noise labels: the held-out target loss stops improving long before max_iter
    # (with a constant rate; a cycle runs all its epochs, below).
    noise = np.random.default_rng(0).permutation(labels)
    est = Est(target_weight=0.5, **{**FAST, "max_iter": 200, "tol": 1e-4, "n_iter_no_change": 3,
                                    "learning_rate": "constant"}).fit(X, noise)
    held_out = est.net_.history[:, "valid_target"]
    assert est.n_iter_ < 200
    # The last three epochs did not beat the earlier best by more than tol.
    assert min(held_out[-3:]) >= min(held_out[:-3]) * (1 - 1e-4)
    stopper = dict(est.net_.callbacks_)["target_checkpoint"]
    assert "target loss (valid_target) has not improved" in stopper.stop_reason_


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_says_the_held_out_labels_stopped_training(Est, X, labels, capsys, verbose):
    noise = np.random.default_rng(0).permutation(labels)
    est = Est(target_weight=0.5, verbose=verbose,
              **{**FAST, "max_iter": 200, "tol": 1e-4, "n_iter_no_change": 3,
                 "learning_rate": "constant"}).fit(X, noise)
    out = capsys.readouterr().out
    reason = ("the held-out labeled rows' target loss (valid_target) has not improved by more "
              "than tol=0.0001 (relative) in the last 3 epochs")
    if verbose == 1:  # one line under the progress bar, as for the tol rule
        assert out == f"Stopped early after {est.n_iter_} of 200 epochs: {reason}.\n"
    else:  # the epoch's table row, then the reason
        assert out.rstrip().endswith(f"Stopping since {reason}.")
        assert out.count("Stopping since") == 1


def test_under_a_cycle_the_held_out_labels_choose_an_epoch_after_its_peak(Est, X, labels):
    # Noise labels stop a constant-rate fit early (above). Under a cycle every
    # epoch runs, and the rate rises over the first 30% of them (6 of 20):
    # those epochs are recorded but cannot be kept.
    noise = np.random.default_rng(0).permutation(labels)
    est = Est(target_weight=0.5, learning_rate="one_cycle",
              **{**FAST, "max_iter": 20, "tol": 1e-4, "n_iter_no_change": 3}).fit(X, noise)
    held_out = est.net_.history[:, "valid_target"]
    assert len(held_out) == est.n_iter_ == 20
    stopper = dict(est.net_.callbacks_)["target_checkpoint"]
    assert stopper.best_loss_ == min(held_out[6:])


def test_tol_zero_keeps_training_to_max_iter_with_labels(Est, X, labels):
    noise = np.random.default_rng(0).permutation(labels)
    est = Est(target_weight=0.5, **{**FAST, "max_iter": 12, "tol": 0,
                                    "n_iter_no_change": 2}).fit(X, noise)
    assert est.n_iter_ == 12


def test_few_labels_hold_none_out(Est, X, labels):
    y = np.full(N, -1)
    y[:9] = labels[:9]
    y[:2] = [0, 1]
    est = Est(target_weight=0.5, **FAST).fit(X, y)
    assert "valid_target" not in est.net_.history[-1]


# ------------------------------------------------------ save and load

def test_save_and_load_keep_the_target(Est, X, labels, tmp_path):
    y = np.where(labels == 1, "yes", "no")
    est = Est(target_weight=0.5, **FAST).fit(X, y)
    skae.save(est, tmp_path / "model.safetensors")
    loaded = skae.load(tmp_path / "model.safetensors")
    assert loaded.target_kind_ == "classes"
    assert_array_equal(loaded.classes_, ["no", "yes"])
    assert states_equal(loaded.net_.module_.state_dict(), est.net_.module_.state_dict())
    assert_array_equal(loaded.transform(X), est.transform(X))
    with pytest.raises(ValueError, match="did not see"):
        loaded.partial_fit(X, np.where(labels == 1, "yes", "maybe"))
