"""Spec for serving with ONNX (``skae.onnx``).

onnxruntime computes what skae computes, within 1e-5 of the outputs' scale
in float32, on any batch size, for every architecture and exportable method,
with missing values, and for outlier detectors (their labels exactly, but
where ``decision_function`` is within rounding of 0); skl2onnx converts
pipelines and column transformers holding skae estimators and detectors;
what cannot be exported faithfully is refused with an error that names the
problem.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _helpers import low_rank, make_data, mixed_with_gaps, with_gaps
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderImputer, AutoencoderTransformer, OutlierDetector, VAETransformer

REASON = "skae.onnx needs the onnx extra: pip install 'skae[onnx]'"
ort = pytest.importorskip("onnxruntime", reason=REASON)
skl2onnx = pytest.importorskip("skl2onnx", reason=REASON)
skae_onnx = pytest.importorskip("skae.onnx", reason=REASON)

FAST = dict(max_iter=2, batch_size=32, tol=0, random_state=0)
ARCHITECTURES = {
    "dense": lambda: AutoencoderTransformer(3, hidden_layer_sizes=(8,), activation="tanh",
                                            dropout=0.2, **FAST),
    "tied": lambda: AutoencoderTransformer(3, hidden_layer_sizes=(8,), tied_weights=True,
                                           batch_norm=True, loss="bce", noise="masking",
                                           **FAST),
    "conv": lambda: AutoencoderTransformer(3, hidden_layer_sizes=(), image_shape=(1, 4, 4),
                                           conv_channels=(4,), **FAST),
    "vae": lambda: VAETransformer(3, hidden_layer_sizes=(8,), **FAST),
}
METHODS = ["transform", "inverse_transform", "score_samples"]
BATCH_SIZES = [1, 7, 10_000]


@pytest.fixture(scope="module")
def X():
    """200 float32 rows of 16 features in [0, 1] (4 x 4 images for the conv net)."""
    return make_data(200, 16).astype(np.float32)


@pytest.fixture(scope="module")
def X_big():
    """10,000 rows to serve, a few of their entries missing (the 2nd row and on)."""
    X = np.random.RandomState(1).rand(10_000, 16).astype(np.float32)
    X[1::50, 3] = np.nan
    X[7] = np.nan  # a row with nothing observed
    return X


@pytest.fixture(scope="module")
def fitted(X):
    return {name: make().fit(X) for name, make in ARCHITECTURES.items()}


def run(model, X):
    """The first output of ``model`` on ``X``, computed by onnxruntime on one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def assert_served(got, want):
    """float32 results equal within 1e-5 of their scale, NaN where skae has NaN."""
    assert got.dtype == np.float32 and got.shape == want.shape
    assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.nanmax(np.abs(want)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_onnxruntime_computes_what_skae_computes(fitted, X_big, arch, method):
    est = fitted[arch]
    data = est.transform(X_big) if method == "inverse_transform" else X_big
    model = skae_onnx.to_onnx(est, data[:1], method)
    assert [o.name for o in model.graph.output] == [method]
    for n in BATCH_SIZES:
        assert_served(run(model, data[:n])[0], getattr(est, method)(data[:n]))


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
@pytest.mark.parametrize("method", METHODS)
def test_a_model_fitted_with_missing_values_is_served_with_them(Est, method):
    # Fitted with gaps: a table of numbers, standardised, with missing-value indicators.
    frame = pd.DataFrame(with_gaps(low_rank()).astype(np.float32), columns=list("abcdef"))
    est = Est(2, hidden_layer_sizes=(8,), **FAST).fit(frame)
    data = est.transform(frame) if method == "inverse_transform" else frame
    rows = np.asarray(data, dtype=np.float32)
    want = np.asarray(getattr(est, method)(data))  # inverse_transform: a DataFrame
    assert_served(run(skae_onnx.to_onnx(est, rows[:1], method), rows)[0], want)


def test_huber_scores_take_both_branches_of_the_loss():
    X = 3 * low_rank().astype(np.float32)  # residuals beyond delta=1 too
    est = AutoencoderTransformer(2, hidden_layer_sizes=(8,), loss="huber", **FAST).fit(X)
    assert_served(run(skae_onnx.to_onnx(est, X[:1], "score_samples"), X)[0],
                  est.score_samples(X))


@pytest.mark.parametrize("arch", ["dense", "vae"])
def test_pipeline_with_a_classifier_predicts_as_sklearn(X, X_big, arch):
    y = (X[:, 0] > np.median(X[:, 0])).astype(np.int64)
    pipe = make_pipeline(StandardScaler(), ARCHITECTURES[arch](),
                         LogisticRegression()).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    rows = np.nan_to_num(X_big)  # sklearn's scaler and classifier take no NaN
    for n in BATCH_SIZES:
        labels, proba = run(model, rows[:n])
        assert_array_equal(labels, pipe.predict(rows[:n]))
        assert_served(proba, pipe.predict_proba(rows[:n]).astype(np.float32))


def test_column_transformer_with_skae_inside(X, fitted):
    ct = ColumnTransformer([("ae", ARCHITECTURES["vae"](), slice(0, 12)),
                            ("rest", StandardScaler(), slice(12, 16))]).fit(X)
    model = skl2onnx.to_onnx(ct, X[:1])
    assert_served(run(model, X)[0], ct.transform(X).astype(np.float32))


@pytest.mark.parametrize("opset", [15, 22])
def test_graph_is_in_the_target_opset(X, fitted, opset):
    # The TorchScript exporter writes up to opset 20: 22 is converted up.
    model = skl2onnx.to_onnx(fitted["conv"], X[:1], target_opset=opset)
    assert {o.domain: o.version for o in model.opset_import}[""] == opset
    assert_served(run(model, X)[0], fitted["conv"].transform(X))


def test_a_model_fitted_on_sparse_rows_is_served_dense_rows(X):
    S = sp.csr_matrix(np.where(X > 0.5, X, 0))
    est = ARCHITECTURES["dense"]().fit(S)
    assert_served(run(skae_onnx.to_onnx(est, X[:1], "score_samples"), S.toarray())[0],
                  est.score_samples(S))


# -------------------------------------------------------------- detectors

TINY = dict(hidden_layer_sizes=(8,), max_iter=3, tol=0, random_state=0)
DETECTORS = {
    "ae": lambda: OutlierDetector(AutoencoderTransformer(2, **TINY), contamination=0.1,
                                  random_state=0),
    "vae": lambda: OutlierDetector(VAETransformer(2, **TINY), contamination=0.1,
                                   random_state=0),
    # the default model: batch norm, dropout and a huber score
    "default": lambda: OutlierDetector(contamination=0.1, random_state=0),
}
DETECTOR_METHODS = ["score_samples", "decision_function", "predict"]


@pytest.fixture(scope="module")
def detectors(X):
    return {name: make().fit(X) for name, make in DETECTORS.items()}


def assert_detected(got, det, method, X):
    """Scores within 1e-5 of their scale; labels equal but where the decision is
    within that of 0, on a 1-D output of skae's dtype. Returns skae's."""
    scores = det.score_samples(X)
    want = scores if method == "score_samples" else getattr(det, method)(X)
    tol = 1e-5 * np.nanmax(np.abs(scores))
    assert got.dtype == want.dtype and got.shape == want.shape
    if method != "predict":
        assert_allclose(got, want, rtol=1e-5, atol=tol)
        return want
    sure = np.abs(scores - det.offset_) > tol
    assert_array_equal(got[sure], want[sure])
    return want


@pytest.mark.parametrize("method", DETECTOR_METHODS)
@pytest.mark.parametrize("kind", DETECTORS)
def test_a_detector_is_served_as_skae_serves_it(detectors, X_big, kind, method):
    det = detectors[kind]
    model = skae_onnx.to_onnx(det, X_big[:1], method)
    assert [o.name for o in model.graph.output] == [method]
    for n in BATCH_SIZES:  # X_big's rows with NaN: filled with the training means
        want = assert_detected(run(model, X_big[:n])[0], det, method, X_big[:n])
    if method == "predict":
        assert set(want) == {-1, 1}


def test_a_detector_fitted_with_missing_values_is_served_with_them():
    frame = pd.DataFrame(with_gaps(low_rank()).astype(np.float32), columns=list("abcdef"))
    det = DETECTORS["ae"]().fit(frame)
    rows = frame.to_numpy(np.float32)
    for method in DETECTOR_METHODS:
        assert_detected(run(skae_onnx.to_onnx(det, rows[:1], method), rows)[0], det, method,
                        frame)


@pytest.mark.parametrize("kind", DETECTORS)
def test_pipeline_ending_in_a_detector_gives_labels_and_scores(X, X_big, kind):
    # As skl2onnx's IsolationForest: int64 labels and decision_function, [N, 1].
    pipe = make_pipeline(StandardScaler(), DETECTORS[kind]()).fit(X)
    model = skl2onnx.to_onnx(pipe, X[:1])
    assert [o.name for o in model.graph.output] == ["label", "scores"]
    rows = np.nan_to_num(X_big)  # sklearn's scaler takes no NaN
    for n in BATCH_SIZES:
        labels, scores = run(model, rows[:n])
        assert labels.shape == scores.shape == (n, 1)
        det, Z = pipe[-1], pipe[0].transform(rows[:n])
        assert_detected(scores[:, 0], det, "decision_function", Z)
        assert_detected(labels[:, 0], det, "predict", Z)


# ----------------------------------------------------------------- errors

def test_unfitted_model_raises(X):
    with pytest.raises(NotFittedError):
        skae_onnx.to_onnx(AutoencoderTransformer(), X[:1])
    with pytest.raises(NotFittedError):
        skl2onnx.to_onnx(make_pipeline(StandardScaler().fit(X), VAETransformer()), X[:1])


@pytest.mark.parametrize("method", ["sample", "log_likelihood", "fit", "predict"])
def test_method_that_cannot_be_exported_raises(X, fitted, method):
    with pytest.raises(ValueError, match=f"method='{method}' cannot be exported"):
        skae_onnx.to_onnx(fitted["vae"], X[:1], method)


def test_table_with_levels_is_refused_with_the_alternative():
    frame = mixed_with_gaps()
    est = AutoencoderTransformer(2, hidden_layer_sizes=(8,), **FAST).fit(frame)
    with pytest.raises(ValueError, match=r"boolean or categorical columns \(\['flag', "
                                         r"'level', 'color'\]\).*OneHotEncoder"):
        skae_onnx.to_onnx(est, frame[["x", "y"]].to_numpy(np.float32)[:1])


def test_integer_columns_cannot_be_decoded_by_a_float_graph():
    frame = pd.DataFrame({"n": np.arange(40) % 7, "x": with_gaps(low_rank(40, 1))[:, 0]})
    est = AutoencoderTransformer(1, hidden_layer_sizes=(4,), **FAST).fit(frame)
    row = frame.to_numpy(np.float32)[:1]
    skae_onnx.to_onnx(est, row, "transform")  # reading integers is fine
    with pytest.raises(ValueError, match=r"rounds the integer columns \['n'\]"):
        skae_onnx.to_onnx(est, est.transform(frame.iloc[:1]), "inverse_transform")


def test_input_that_is_not_float32_rows_of_the_right_width_raises(X, fitted):
    est = fitted["dense"]
    with pytest.raises(TypeError, match="computes in float32.*astype"):
        skae_onnx.to_onnx(est, X[:1].astype(np.float64))
    with pytest.raises(TypeError, match="computes in float32.*DoubleTensorType"):
        skl2onnx.to_onnx(est, X[:1].astype(np.float64))
    with pytest.raises(ValueError, match="takes 16 columns; the input has 15"):
        skae_onnx.to_onnx(est, X[:1, :15])
    with pytest.raises(ValueError, match="takes 3 columns; the input has 16"):
        skae_onnx.to_onnx(est, X[:1], "inverse_transform")


def test_a_dataframe_sample_gives_an_input_per_column_which_is_refused(X, fitted):
    frame = pd.DataFrame(X[:1], columns=[f"x{j}" for j in range(16)])
    with pytest.raises(ValueError, match="gives it 16 inputs.*to_numpy"):
        skl2onnx.to_onnx(fitted["dense"], frame)


def test_other_estimators_are_left_to_skl2onnx(X):
    with pytest.raises(TypeError, match="got StandardScaler. skl2onnx.to_onnx converts"):
        skae_onnx.to_onnx(StandardScaler().fit(X), X[:1])


@pytest.mark.parametrize("method", ["transform", "inverse_transform", "explain"])
def test_a_detector_exports_its_scores_only(X, detectors, method):
    with pytest.raises(ValueError, match=rf"method='{method}' of an OutlierDetector cannot "
                                         r"be exported.*to_onnx\(detector.estimator_"):
        skae_onnx.to_onnx(detectors["ae"], X[:1], method)


def test_a_detector_refuses_what_its_estimator_refuses(X, detectors):
    with pytest.raises(NotFittedError):
        skae_onnx.to_onnx(DETECTORS["ae"](), X[:1], "predict")
    with pytest.raises(NotFittedError):
        skl2onnx.to_onnx(make_pipeline(StandardScaler().fit(X), DETECTORS["vae"]()), X[:1])
    frame = mixed_with_gaps()
    det = DETECTORS["ae"]().fit(frame)
    with pytest.raises(ValueError, match=r"boolean or categorical columns \(\['flag', "):
        skae_onnx.to_onnx(det, frame[["x", "y"]].to_numpy(np.float32)[:1], "predict")
    with pytest.raises(TypeError, match="got PCA \\(the detector's estimator_\\)"):
        skae_onnx.to_onnx(OutlierDetector(PCA(2)).fit(X), X[:1], "score_samples")
    with pytest.raises(TypeError, match="computes in float32.*astype"):
        skae_onnx.to_onnx(detectors["ae"], X[:1].astype(np.float64), "predict")
    with pytest.raises(ValueError, match="decision_function of this OutlierDetector takes "
                                         "16 columns; the input has 15"):
        skae_onnx.to_onnx(detectors["ae"], X[:1, :15], "decision_function")


# ------------------------------------------------------------------ imputers


def gappy(n=200, seed=0):
    """float32 rows near a 2-D subspace with a fifth of their entries missing,
    and a column (the 5th) without observed values."""
    X = with_gaps(low_rank(n=n, seed=seed), seed=seed + 1).astype(np.float32)
    X[:, 4] = np.nan
    return X


@pytest.mark.parametrize("settings", [
    {},
    dict(add_indicator=True),
    dict(keep_empty_features=True, add_indicator=True),
    dict(estimator=VAETransformer(2, hidden_layer_sizes=(8,), **FAST)),
], ids=["plain", "add_indicator", "keep_empty_features", "vae"])
def test_an_imputers_transform_is_served(settings):
    settings = {"estimator": AutoencoderTransformer(2, hidden_layer_sizes=(8,), **FAST),
                **settings}
    X, X_new = gappy(), gappy(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs learn little; the empty column skipped
        imputer = AutoencoderImputer(random_state=0, **settings).fit(X)
        model = skae_onnx.to_onnx(imputer, X[:1], "transform")
        for n in BATCH_SIZES[:2] + [len(X_new)]:
            served, want = run(model, X_new[:n])[0], imputer.transform(X_new[:n])
            assert_served(served, want)
            observed = ~np.isnan(X_new[:n][:, ~imputer._empty | imputer.keep_empty_features])
            assert_array_equal(served[:, :observed.shape[1]][observed],
                               want[:, :observed.shape[1]][observed])


def test_an_imputer_with_another_missing_value_and_its_pipeline_are_served():
    X = np.nan_to_num(with_gaps(low_rank()), nan=-1.0).astype(np.float32)
    imputer = AutoencoderImputer(AutoencoderTransformer(2, hidden_layer_sizes=(8,), **FAST),
                                 missing_values=-1.0, add_indicator=True, random_state=0)
    pipe = make_pipeline(imputer, StandardScaler()).fit(X)
    assert_served(run(skae_onnx.to_onnx(pipe[0], X[:1]), X)[0], pipe[0].transform(X))
    model = skl2onnx.to_onnx(pipe, X[:1])
    assert_served(run(model, X)[0], pipe.transform(X).astype(np.float32))


def test_an_imputer_refuses_what_a_graph_cannot_serve():
    X = with_gaps(low_rank()).astype(np.float32)
    posterior = AutoencoderImputer(VAETransformer(2, hidden_layer_sizes=(8,), **FAST),
                                   sample_posterior=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="sample_posterior=True draws .* cannot reproduce"):
        skae_onnx.to_onnx(posterior, X[:1])
    frame = mixed_with_gaps()
    table = AutoencoderImputer(AutoencoderTransformer(2, **FAST)).fit(frame)
    with pytest.raises(ValueError, match=r"boolean or categorical columns \(\['flag', "):
        skae_onnx.to_onnx(table, frame[["x", "y"]].to_numpy(np.float32)[:1])
    with pytest.raises(ValueError, match="method='inverse_transform' of an AutoencoderImputer "
                                         "cannot be exported"):
        skae_onnx.to_onnx(posterior, X[:1], "inverse_transform")
    with pytest.raises(TypeError, match="got PCA \\(the imputer's estimator_\\)"):
        skae_onnx.to_onnx(AutoencoderImputer(PCA(2)).fit(np.nan_to_num(X)), X[:1])


@pytest.mark.parametrize("method", METHODS)
def test_a_column_without_observed_values_in_fit_is_served_as_missing(method):
    # skae ignores its values at transform, and decodes it as NaN: so does the graph.
    X = gappy()
    with pytest.warns(UserWarning, match="no observed values"):
        est = AutoencoderTransformer(2, hidden_layer_sizes=(8,), **FAST).fit(X)
    rows = np.where(np.isnan(X), 3.0, X).astype(np.float32)  # values in the empty column
    data = est.transform(rows) if method == "inverse_transform" else rows
    served, want = run(skae_onnx.to_onnx(est, data[:1], method), data)[0], \
        getattr(est, method)(data)
    assert_served(served, want)
    if method == "inverse_transform":
        assert np.isnan(served[:, 4]).all() and not np.isnan(np.delete(served, 4, 1)).any()
