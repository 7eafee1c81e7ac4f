"""OutlierDetector: thresholds, sign conventions, inputs, explanations, persistence."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from skae import AutoencoderTransformer, OutlierDetector, VAETransformer, load, save

SMALL = {"hidden_layer_sizes": (16,), "max_iter": 20, "batch_size": 32, "tol": 0}


def structured(n=300, d=6, seed=0):
    """Rows near a 2-D subspace of ``d`` standardised columns."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 2) @ rng.randn(2, d) + 0.1 * rng.randn(n, d)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def with_outliers(seed=0, n_bad=10, column=3):
    X = structured(seed=seed)
    X[:n_bad, column] += 10
    return X


@pytest.fixture(scope="module")
def detector():
    """A detector fitted on data whose first 10 rows are off in column 3."""
    return OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(
        with_outliers())


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25])
def test_contamination_is_the_share_of_training_rows_flagged(contamination):
    X = with_outliers()
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), contamination=contamination,
                          random_state=0)
    labels = est.fit_predict(X)
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1 / len(X))


def test_auto_threshold_rarely_flags_clean_rows():
    """'auto' (modified z-score > 3.5) flags few rows of clean data, seen or new."""
    X = structured(n=2300)
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X[:300])
    assert np.mean(est.predict(X[:300]) == -1) < 0.05
    assert np.mean(est.predict(X[300:]) == -1) < 0.05


def test_auto_threshold_flags_the_planted_outliers(detector):
    X = with_outliers()
    labels = detector.predict(X)
    assert np.mean(labels[:10] == -1) >= 0.6
    assert np.mean(labels[10:] == -1) < 0.1
    truth = np.r_[np.ones(10), np.zeros(len(X) - 10)]
    assert roc_auc_score(truth, -detector.score_samples(X)) > 0.85


def test_sign_conventions(detector):
    X = with_outliers()
    scores = detector.score_samples(X)
    decision = detector.decision_function(X)
    assert_allclose(decision, scores - detector.offset_)
    assert_array_equal(decision < 0, detector.predict(X) == -1)
    assert scores[:10].mean() < np.median(scores[10:])  # normal rows score higher
    assert_array_equal(detector.score_samples(X), detector.estimator_.score_samples(X))


def test_estimator_is_cloned_not_mutated():
    inner = AutoencoderTransformer(2, **SMALL)
    est = OutlierDetector(inner, random_state=0).fit(structured())
    assert est.estimator_ is not inner
    assert not hasattr(inner, "net_")
    assert est.estimator_.random_state == 0


def test_default_estimator():
    est = OutlierDetector(random_state=0).fit(structured(n=80, d=7))
    assert isinstance(est.estimator_, AutoencoderTransformer)
    assert est.estimator_.n_components == 4
    # robust training: huber loss and weight decay (bench_outliers_tune.md)
    assert est.estimator_.loss == "huber" and est.estimator_.weight_decay == 1e-2
    assert est.estimator_.dropout == 0.2 and est.estimator_.max_iter == 10
    assert est.max_samples_ == 80


def test_max_samples_fits_on_a_subsample_and_scores_all():
    X = with_outliers()
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), max_samples=100,
                          contamination=0.1, random_state=0).fit(X)
    assert est.max_samples_ == 100
    assert est.estimator_.net_.history[-1]["batches"] and est.score_samples(X).shape == (300,)
    assert np.mean(est.predict(X) == -1) == pytest.approx(0.1, abs=1 / 300)
    half = OutlierDetector(AutoencoderTransformer(2, **dict(SMALL, max_iter=1)), max_samples=0.5,
                           random_state=0).fit(X)
    assert half.max_samples_ == 150  # a fraction of the rows


def test_vae_inside():
    est = OutlierDetector(VAETransformer(2, **SMALL), contamination=0.05,
                          random_state=0).fit(with_outliers())
    scores = est.score_samples(with_outliers())
    assert scores[:10].mean() < scores[10:].mean()


def test_explain_points_at_the_injected_column(detector):
    X = structured(seed=5)[:20]
    columns = np.arange(20) % X.shape[1]
    X[np.arange(20), columns] += 8
    shares = detector.explain(X)
    assert shares.shape == (20, 6)
    assert (shares >= 0).all()
    assert_allclose(shares.sum(axis=1), 1)
    assert np.mean(shares.argmax(axis=1) == columns) >= 0.9


def test_explain_on_tables_with_gaps_and_sparse_input():
    rng = np.random.RandomState(0)
    t = rng.randn(200)
    frame = pd.DataFrame({
        "x": t + 0.1 * rng.randn(200),
        "y": -t + 0.1 * rng.randn(200),
        "flag": t > 0,
        "color": pd.Categorical(np.where(t > 0, "red", "blue")),
    })
    frame.loc[::17, "x"] = np.nan
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), contamination=0.05,
                          random_state=0).fit(frame)
    assert est.feature_names_in_.tolist() == ["x", "y", "flag", "color"]
    odd = frame.iloc[:3].copy()
    odd["y"] = odd["x"].fillna(0) + 5  # y should be close to -x
    shares = est.explain(odd)
    assert isinstance(shares, pd.DataFrame) and shares.shape == (3, 4)
    assert shares.columns.tolist() == ["x", "y", "flag", "color"]
    assert est.predict(frame).shape == (200,)
    assert (est.score_samples(odd) < np.median(est.score_samples(frame))).all()

    X = sp.random(100, 8, density=0.3, format="csr", random_state=0)
    sparse = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X)
    assert_allclose(sparse.score_samples(X), sparse.score_samples(X.toarray()), rtol=1e-6)
    assert sparse.explain(X[:3]).shape == (3, 8)


def mixed_table(n=400, seed=0):
    """x and y tied to t; 'color' fixed by t (blue, green, red); 'size' independent."""
    rng = np.random.RandomState(seed)
    t = rng.randn(n)
    return pd.DataFrame({
        "x": t + 0.1 * rng.randn(n),
        "y": -t + 0.1 * rng.randn(n),
        "color": pd.Series(np.array(["blue", "green", "red"])[np.digitize(t, [-0.6, 0.6])],
                           dtype=object),
        "size": pd.Series(rng.choice(["S", "M", "L"], n), dtype=object),
    })


def clear_rows(n=20):
    """New rows of ``mixed_table``, far from its colors' boundaries (|t| > 1.2)."""
    rows = mixed_table(seed=1)
    return rows[rows["x"].abs() > 1.2].iloc[:n]


@pytest.fixture(scope="module")
def table_detectors():
    """Detectors of an autoencoder and of a VAE fitted on ``mixed_table()``.

    (The VAE needs longer training to learn the table: with ``SMALL``'s 20
    epochs it predicts each level's frequency whatever the row.)
    """
    X = mixed_table()
    vae = VAETransformer(2, **{**SMALL, "max_iter": 60}, learning_rate_init=0.01)
    return {"ae": OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X),
            "vae": OutlierDetector(vae, random_state=0).fit(X)}


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_a_level_unseen_in_fit_makes_a_row_an_outlier_and_explain_names_it(
        table_detectors, kind):
    # 'size' was S, M or L in fit, each in about 133 of 400 rows: the
    # probability of a new level is 1 / 401, and "XXL" costs log(401) nats
    # (weighted as the column's cross-entropy, for an autoencoder), where a
    # missing value costs nothing.
    detector = table_detectors[kind]
    rows = clear_rows()
    unseen, gap = rows.assign(size="XXL"), rows.assign(size=None)
    scores = detector.score_samples(unseen)
    assert (scores < detector.score_samples(gap)).all()
    assert (scores < detector.score_samples(rows)).all()
    assert (detector.predict(unseen) == -1).all()
    assert (detector.explain(unseen).idxmax(axis=1) == "size").all()
    # The model itself still reads the level as no level, as the transformers do.
    assert_array_equal(detector.estimator_.score_samples(unseen),
                       detector.estimator_.score_samples(gap))


def test_an_unseen_level_costs_what_the_column_s_estimate_says(table_detectors):
    # The autoencoder's score is minus the mean of the weighted column
    # losses: an unseen level adds a scored entry of weight * log(401).
    detector = table_detectors["ae"]
    model = detector.estimator_
    rows = mixed_table(seed=1).iloc[:10]
    unseen, gap = rows.assign(size="XXL"), rows.assign(size=None)
    size = model._table[3]
    assert size.unseen == 1 / 401
    weight = float(model.net_.module_.output.weights[3])
    gap_error = model.reconstruction_error(gap, per_feature=True).sum(axis=1)
    expected = -(gap_error + weight * np.log(401)) / 4
    assert_allclose(detector.score_samples(unseen), expected, rtol=1e-10)


def test_a_saved_detector_scores_unseen_levels_as_before(table_detectors, tmp_path):
    path = tmp_path / "detector.safetensors"
    save(table_detectors["ae"], path)
    twin = load(path)
    unseen = mixed_table(seed=1).iloc[:10].assign(size="XXL")
    assert_array_equal(twin.score_samples(unseen), table_detectors["ae"].score_samples(unseen))


def test_a_table_described_by_0_2_reads_a_new_level_as_no_level():
    # skae 0.2 recorded no probability of a new level: a detector's model
    # loaded from then scores one as the level missing, as it always did.
    fixtures = Path(__file__).resolve().parent / "fixtures" / "v0_2"
    model = load(fixtures / "ae_table.safetensors")
    rows = pd.read_csv(fixtures / "table.csv").iloc[:5]
    assert model._table[2].unseen is None
    assert_array_equal(model._score_samples(rows.assign(color="purple"), unseen_levels=True),
                       model.score_samples(rows.assign(color=None)))


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_explain_names_a_swapped_level(table_detectors, kind):
    # 'color' is fixed by t, which x and y carry: a row far from the
    # boundaries with its color swapped (red for blue, blue for red) breaks
    # the structure in that column alone.
    detector = table_detectors[kind]
    rows = clear_rows()
    swapped = rows.assign(color=np.where(rows["color"] == "red", "blue", "red"))
    assert (detector.score_samples(swapped) < detector.score_samples(rows)).all()
    assert np.mean(detector.explain(swapped).idxmax(axis=1) == "color") >= 0.9


def test_explain_returns_a_dataframe_for_a_dataframe():
    # As set_output(transform="pandas") would: the input's columns and index.
    X = pd.DataFrame(with_outliers(), columns=[f"c{j}" for j in range(6)])
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X)
    rows = X.iloc[[7, 3, 200]]
    shares = est.explain(rows)
    assert isinstance(shares, pd.DataFrame)
    assert shares.columns.equals(X.columns) and shares.index.equals(rows.index)
    on_array = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(
        X.to_numpy())
    assert_array_equal(shares.to_numpy(), on_array.explain(rows.to_numpy()))


def test_nan_in_numeric_arrays():
    X = with_outliers()
    X_gaps = X.copy()
    X_gaps[::7, 1] = np.nan
    est = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X_gaps)
    assert np.isfinite(est.score_samples(X_gaps)).all()
    fitted_clean = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(X)
    assert np.isfinite(fitted_clean.score_samples(X_gaps)).all()


def test_clone_and_pickle(detector):
    params = clone(detector).get_params()
    assert params["contamination"] == "auto" and params["random_state"] == 0
    twin = pickle.loads(pickle.dumps(detector))
    X = with_outliers()
    assert_array_equal(twin.predict(X), detector.predict(X))
    assert_array_equal(twin.score_samples(X), detector.score_samples(X))


def test_save_and_load(detector, tmp_path):
    path = tmp_path / "detector.safetensors"
    save(detector, path)
    twin = load(path)
    assert isinstance(twin, OutlierDetector)
    assert twin.get_params()["contamination"] == detector.contamination
    assert twin.offset_ == detector.offset_
    X = with_outliers()
    assert_array_equal(twin.score_samples(X), detector.score_samples(X))
    assert_array_equal(twin.predict(X), detector.predict(X))
    assert_array_equal(twin.explain(X[:3]), detector.explain(X[:3]))


@pytest.mark.parametrize("params, match", [
    ({"contamination": 0.6}, "contamination"),
    ({"contamination": 0.0}, "contamination"),
    ({"contamination": "high"}, "contamination"),
    ({"max_samples": 0}, "max_samples"),
    ({"estimator": "pca"}, "estimator"),
])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        OutlierDetector(**params).fit(structured())


def test_bad_input(detector):
    with pytest.raises(ValueError, match="6 features"):
        detector.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="infinity|Input X contains infinity"):
        OutlierDetector().fit(np.full((10, 3), np.inf))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        OutlierDetector().explain(structured())


def test_plot_explanation(detector):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skae.plotting import plot_explanation

    X = with_outliers()[:3]
    ax = plot_explanation(detector, X, max_features=4)
    assert len(ax.containers) == 3
    assert len(ax.get_yticklabels()) == 4
    shares = detector.explain(X)
    top = shares.max(axis=0).argmax()
    assert ax.get_yticklabels()[-1].get_text() == f"x{top}"
    _, given = plt.subplots()
    assert plot_explanation(detector, X[0], ax=given) is given
    frame = pd.DataFrame(with_outliers(), columns=[f"c{j}" for j in range(6)])
    named = OutlierDetector(AutoencoderTransformer(2, **SMALL), random_state=0).fit(frame)
    ax = plot_explanation(named, frame.iloc[:3], max_features=4)
    top = named.explain(frame.iloc[:3]).max(axis=0).idxmax()
    assert ax.get_yticklabels()[-1].get_text() == top
    with pytest.raises(ValueError, match="n must be"):
        plot_explanation(detector, X, n=0)
    plt.close("all")
