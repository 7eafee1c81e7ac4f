"""Serving with ONNX: fitted skae estimators, alone or inside pipelines.

Importing this module registers skl2onnx converters for
:class:`~skae.AutoencoderTransformer`, :class:`~skae.VAETransformer` and
:class:`~skae.OutlierDetector`, so that
``skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32))`` converts any
:class:`~sklearn.pipeline.Pipeline` or
:class:`~sklearn.compose.ColumnTransformer` that contains them (a detector,
last in a pipeline, gives skl2onnx's outlier outputs ``label`` and
``scores``, as :class:`~sklearn.ensemble.IsolationForest` does). Their
part of the graph is the fitted torch module exported by
``torch.onnx.export`` (its TorchScript exporter) with a dynamic batch axis,
spliced in with skl2onnx's ``add_onnx_graph``, in the target opset.
:func:`to_onnx` exports one method of one fitted estimator or outlier
detector. Importing it also registers, with torch's exporter, an ONNX
definition of ``aten::huber_loss`` (which the exporter lacks), used by the
scores of ``loss='huber'`` models.

Needs the ``onnx`` extra: ``pip install 'skae[onnx]'`` (skl2onnx, onnx, and
onnxruntime to run the graphs).
"""

import copy
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted
from torch.onnx import symbolic_helper

try:
    import onnx
    from onnx import version_converter
    from skl2onnx import get_latest_tested_opset_version, update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
    from skl2onnx.common.utils import check_input_and_output_numbers
    from skl2onnx.helpers.integration import add_onnx_graph
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"skae.onnx needs skl2onnx and onnx ({exc.name} is missing), and onnxruntime to run "
        "the graphs: pip install 'skae[onnx]'."
    ) from exc

from ._autoencoder import AutoencoderTransformer
from ._outliers import OutlierDetector
from ._vae import VAETransformer
from ._version import __version__
from .modules import NUMERIC

__all__ = ["to_onnx"]

# The highest opset torch's TorchScript exporter writes; a higher target is
# reached with onnx's version converter.
_TORCH_MAX_OPSET = getattr(torch.onnx._constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 17)

# Numeric columns of these dtypes decode to floats; others (integers) are rounded.
_FLOAT_DTYPES = {"float32", "float64", "Float32", "Float64"}


@dataclass(frozen=True)
class _Method:
    """An exportable method: what it reads and what it computes on one batch.

    ``fn(estimator)`` returns the ``fn(module, batch)`` that
    ``BaseAutoencoder._batched`` applies for the method, so the graph
    computes what skae computes, by the same code.
    """

    reads: str  # "rows" (the estimator's input) or "codes" (inverse_transform's)
    fn: Callable


def _encode(m, x):
    return m.encode(x)


def _decode(m, z):
    return m.decode(z)


def _decode_numeric_table(m, z):
    # The heads of a table of numbers (TabularOutput) are the identity: they
    # activate flags and levels only, and torch's exporter fails on their
    # empty index of flags.
    return m.decoder(z)


def _shifted(detector):
    """``decision_function``: the model's score minus the detector's ``offset_``."""
    score = detector.estimator_._score_fn()
    offset = torch.tensor(detector.offset_, dtype=torch.float32)
    return lambda m, x: score(m, x) - offset


def _sign(decision):
    """``predict`` from ``decision_function``: int64 -1 where negative, else +1, as skae."""
    return 1 - 2 * (decision < 0).to(torch.int64)


def _predict(detector):
    decision = _shifted(detector)
    return lambda m, x: _sign(decision(m, x))


def _label_and_scores(detector):
    """skl2onnx's outputs for outlier detectors (as IsolationForest's): labels and
    ``decision_function``, each of shape [N, 1]."""
    decision = _shifted(detector)

    def fn(m, x):
        scores = decision(m, x).unsqueeze(1)
        return _sign(scores), scores
    return fn


# Adding a method is one entry here.
_METHODS = {
    "transform": _Method("rows", lambda est: _encode),
    "inverse_transform": _Method("codes", lambda est: _decode if est._table is None
                                 else _decode_numeric_table),
    "score_samples": _Method("rows", lambda est: est._score_fn()),
}
# An outlier detector's methods: its estimator_'s score, shifted, and its sign.
_DETECTOR_METHODS = {
    "score_samples": _Method("rows", lambda det: det.estimator_._score_fn()),
    "decision_function": _Method("rows", _shifted),
    "predict": _Method("rows", _predict),
}
# A detector in a pipeline converted by skl2onnx: its outlier outputs.
_LABEL_AND_SCORES = _Method("rows", _label_and_scores)


def _model(estimator):
    """The skae estimator whose module the graph runs."""
    return estimator.estimator_ if isinstance(estimator, OutlierDetector) else estimator


def _methods(estimator):
    return _DETECTOR_METHODS if isinstance(estimator, OutlierDetector) else _METHODS


def to_onnx(estimator, X, method="transform", *, target_opset=None):
    """Export one method of a fitted skae estimator or outlier detector as an ONNX model.

    The graph computes in float32, as skae does for float32 input, on any
    number of rows (a dynamic batch axis). Its input is named ``"X"`` and
    its output after the method. Missing values (NaN) are filled as skae
    fills them: with the training means of a model fitted without them, or
    as the model's table encoding does (with the missing-value indicators)
    for one fitted with them.

    Parameters
    ----------
    estimator : AutoencoderTransformer, VAETransformer or OutlierDetector
        A fitted estimator, on numeric data (arrays, sparse matrices, or
        DataFrames of numbers with or without missing values), or a fitted
        detector whose ``estimator_`` is one.
    X : array-like of shape (n_samples, n_features)
        A float32 sample of the method's input (rows, or codes for
        ``inverse_transform``): it fixes the input's type and width.
    method : str, default='transform'
        The method the graph computes: ``'transform'``,
        ``'inverse_transform'`` or ``'score_samples'`` of an estimator;
        ``'score_samples'``, ``'decision_function'`` or ``'predict'`` of a
        detector (``predict``'s output is int64, -1 for outliers and +1 for
        inliers, as skae's).
    target_opset : int, optional
        The ONNX opset of the graph; skl2onnx's latest tested opset by
        default.

    Returns
    -------
    model : onnx.ModelProto
        The model; run it with ``onnxruntime.InferenceSession(
        model.SerializeToString())``, save it with ``onnx.save``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        For a method that cannot be exported, a model fitted on a table
        with boolean or categorical columns, or ``X`` of the wrong width.
    TypeError
        For an estimator skae does not export (a detector's ``estimator_``
        included) or ``X`` not in float32.

    See Also
    --------
    skl2onnx.to_onnx : Converts whole pipelines once this module is imported.

    Notes
    -----
    ``score_samples`` of the VAE uses the same 64 fixed quasi-random
    posterior draws as skae, held as constants in the graph, and decodes
    them for all rows at once: its memory grows as 64 x rows x features
    floats (200 MB for 1,000 rows of 784 features), so feed it large inputs
    in batches. The graph does not validate its input: where skae raises
    (infinite values, scores beyond the float32 range), it returns
    infinities or NaN.

    Each exportable method is the function that skae's inference applies
    to a batch. A detector's graph is its ``estimator_``'s score graph,
    minus ``offset_`` (a float32 constant) for ``decision_function``, and
    that difference's sign for ``predict``: a row whose
    ``decision_function`` is within float32 rounding of 0 may be labelled
    differently by skae and by the graph.

    The TorchScript exporter writes at most opset 20; a higher
    ``target_opset`` is reached with ``onnx.version_converter``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skae import AutoencoderTransformer
    >>> from skae.onnx import to_onnx
    >>> X = np.random.RandomState(0).rand(50, 4).astype(np.float32)
    >>> ae = AutoencoderTransformer(2, max_iter=3, tol=0, random_state=0).fit(X)
    >>> model = to_onnx(ae, X[:1], "score_samples")
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> scores = session.run(None, {"X": X})[0]
    >>> np.allclose(scores, ae.score_samples(X), rtol=1e-5)
    True

    An outlier detector's labels:

    >>> from skae import OutlierDetector
    >>> detector = OutlierDetector(ae, contamination=0.1, random_state=0).fit(X)
    >>> session = ort.InferenceSession(to_onnx(detector, X[:1], "predict").SerializeToString())
    >>> labels = session.run(None, {"X": X})[0]
    >>> labels.dtype, bool((labels == detector.predict(X)).all())
    (dtype('int64'), True)
    """
    _check_exportable(estimator, method)
    X = check_array(X, dtype=None, ensure_all_finite="allow-nan", input_name="X")
    if X.dtype != np.float32:
        raise TypeError(
            f"The graph computes in float32; X has dtype {X.dtype}. Pass "
            "X.astype(np.float32)."
        )
    _check_width(estimator, method, X.shape[1])
    spec = _methods(estimator)[method]
    opset = get_latest_tested_opset_version() if target_opset is None else target_opset
    model = _export(estimator, spec, [method], opset)
    model.producer_name, model.producer_version = "skae", __version__
    return model


def _check_exportable(estimator, method):
    """Raise unless ``method`` of ``estimator`` exports faithfully."""
    if isinstance(estimator, OutlierDetector):
        check_is_fitted(estimator)
        if method not in _DETECTOR_METHODS:
            raise ValueError(
                f"method={method!r} of an OutlierDetector cannot be exported; exportable: "
                f"{sorted(_DETECTOR_METHODS)}. To export its model's transform or "
                "inverse_transform, pass its estimator_: to_onnx(detector.estimator_, X, "
                f"{method!r})."
            )
        _check_model(estimator.estimator_, "score_samples", within=" (the detector's estimator_)")
        return
    _check_model(estimator, method)


def _check_model(estimator, method, within=""):
    """Raise unless ``method`` of the skae ``estimator`` exports faithfully."""
    if not isinstance(estimator, (AutoencoderTransformer, VAETransformer)):
        raise TypeError(
            "skae.onnx exports AutoencoderTransformer and VAETransformer, and "
            f"OutlierDetectors of them; got {type(estimator).__name__}{within}. "
            "skl2onnx.to_onnx converts the scikit-learn estimators it has converters for, "
            "and pipelines holding skae's."
        )
    check_is_fitted(estimator)
    if method not in _METHODS:
        raise ValueError(
            f"method={method!r} cannot be exported; exportable: {sorted(_METHODS)}. "
            "Sampling methods (sample, log_likelihood) draw random numbers per call, "
            "which a graph cannot reproduce: call them in Python."
        )
    table = estimator._table
    if table is None:
        return
    others = [c.name for c in table if c.kind != NUMERIC]
    if others:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on a table with boolean or categorical "
            f"columns ({others}); its graph would read their levels as numbers, which ONNX "
            "inputs cannot hold faithfully, so skae does not export it. Encode them before "
            "the estimator (e.g. a ColumnTransformer with a OneHotEncoder) and fit it on "
            "the numbers, or serve the model in Python (skae.save, skae.load)."
        )
    rounded = [c.name for c in table if c.dtype not in _FLOAT_DTYPES]
    if method == "inverse_transform" and rounded:
        raise ValueError(
            f"inverse_transform rounds the integer columns {rounded} to their dtype, which "
            "a float32 graph cannot return. Export transform or score_samples, or fit on "
            "float columns."
        )


def _check_width(estimator, method, width):
    expected = _width(estimator, _methods(estimator)[method])
    if width is not None and width != expected:
        raise ValueError(
            f"{method} of this {type(estimator).__name__} takes {expected} columns; the "
            f"input has {width}."
        )


def _width(estimator, spec):
    """The number of columns ``spec`` reads."""
    return _model(estimator).n_components_ if spec.reads == "codes" \
        else estimator.n_features_in_


class _Served(torch.nn.Module):
    """One method of a fitted module on float32 batches: what the graph computes.

    For a table (numeric columns with missing values in training), rows
    are standardised on the way in, and reconstructions back to data units
    on the way out, as :mod:`skae._tabular` does.
    """

    def __init__(self, module, fn, reads, table):
        super().__init__()
        self.module, self.fn, self.reads = module, fn, reads
        self.table = table is not None
        if self.table:
            self.register_buffer("mean", torch.tensor([c.mean for c in table]))
            self.register_buffer("scale", torch.tensor([c.scale for c in table]))

    def forward(self, x):
        if self.table and self.reads == "rows":
            x = (x - self.mean) / self.scale
        out = self.fn(self.module, x)
        if self.table and self.reads == "codes":
            out = out * self.scale + self.mean
        return out


@symbolic_helper.parse_args("v", "v", "i", "f")
def _huber_loss(g, x, target, reduction, delta):
    """ONNX symbolic of ``aten::huber_loss`` (unreduced), which torch's exporter lacks."""
    if reduction != 0:  # skae's scores use reduction="none" only
        return symbolic_helper._unimplemented("huber_loss", "reduction other than 'none'", x)
    diff = g.op("Abs", g.op("Sub", x, target))
    half, delta = (g.op("Constant", value_t=torch.tensor(v)) for v in (0.5, delta))
    quadratic = g.op("Mul", half, g.op("Mul", diff, diff))
    linear = g.op("Mul", delta, g.op("Sub", diff, g.op("Mul", half, delta)))
    return g.op("Where", g.op("Less", diff, delta), quadratic, linear)


# Registered for every opset the exporter writes (Where needs 9).
torch.onnx.register_custom_op_symbolic("aten::huber_loss", _huber_loss, 9)


def _export(estimator, spec, outputs, opset):
    """The method ``spec`` of the fitted ``estimator`` as an ONNX model of opset
    ``opset``, its outputs named ``outputs``."""
    model = _model(estimator)
    module = copy.deepcopy(model.net_.module_).to("cpu", torch.float32).eval()
    served = _Served(module, spec.fn(estimator), spec.reads, model._table)
    example = torch.zeros(2, _width(estimator, spec))
    if spec.reads == "rows":
        # A missing value in the example: code that takes a shortcut for rows
        # without gaps (reconstruction_error) is traced on its general path.
        example[0, 0] = torch.nan
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter
        torch.onnx.export(
            served, (example,), buffer, dynamo=False,
            opset_version=min(opset, _TORCH_MAX_OPSET),
            input_names=["X"], output_names=outputs,
            dynamic_axes={name: {0: "n_samples"} for name in ["X", *outputs]},
        )
    model = onnx.load_from_string(buffer.getvalue())
    for node in model.graph.node:
        # Omitted trailing optional inputs (a clamp's max: Clip(x, min, "")),
        # which skl2onnx's add_onnx_graph cannot rename.
        while node.input and not node.input[-1]:
            node.input.pop()
    if opset > _TORCH_MAX_OPSET:
        model = version_converter.convert_version(model, opset)
    return model


# ------------------------------------------------------------- skl2onnx

def _calculate_output_shapes(operator):
    """skl2onnx shape calculator: float32 rows ``[N, n_features]`` to codes ``[N, k]``,
    or, for a detector, to labels (int64) and ``decision_function``, both ``[N, 1]``."""
    estimator = operator.raw_operator
    detector = isinstance(estimator, OutlierDetector)
    method = "decision_function" if detector else "transform"
    _check_exportable(estimator, method)
    if len(operator.inputs) != 1:
        raise ValueError(
            f"{type(estimator).__name__} reads one float32 matrix; skl2onnx gives it "
            f"{len(operator.inputs)} inputs (one per column of a DataFrame sample). Convert "
            "with an array sample, e.g. X[:1].to_numpy(np.float32), whose columns are in the "
            "order fit saw."
        )
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=2 if detector else 1)
    variable = operator.inputs[0]
    if not isinstance(variable.type, FloatTensorType):
        raise TypeError(
            f"{type(estimator).__name__}'s graph computes in float32; its input "
            f"{variable.onnx_name!r} is {type(variable.type).__name__}. Convert the pipeline "
            "with a float32 sample, e.g. skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))."
        )
    shape = variable.type.shape
    if len(shape) != 2:
        raise ValueError(f"{type(estimator).__name__} takes 2-D input; got shape {shape}.")
    _check_width(estimator, method, shape[1])
    n = variable.get_first_dimension()
    if detector:
        operator.outputs[0].type = Int64TensorType([n, 1])
        operator.outputs[1].type = FloatTensorType([n, 1])
    else:
        operator.outputs[0].type = FloatTensorType([n, estimator.n_components_])


def _convert(scope, operator, container):
    """skl2onnx converter: splice the exported encoder, or detector, into the graph."""
    estimator = operator.raw_operator
    if isinstance(estimator, OutlierDetector):
        model = _export(estimator, _LABEL_AND_SCORES, ["label", "scores"],
                        container.target_opset)
    else:
        model = _export(estimator, _METHODS["transform"], ["transform"],
                        container.target_opset)
    add_onnx_graph(scope, operator, container, model)


for _cls in (AutoencoderTransformer, VAETransformer, OutlierDetector):
    update_registered_converter(_cls, f"Skae{_cls.__name__}", _calculate_output_shapes,
                                _convert)
