"""Serving with ONNX: fitted skae estimators, alone or inside pipelines.

Importing this module registers skl2onnx converters for
:class:`~skae.AutoencoderTransformer` and :class:`~skae.VAETransformer`, so
that ``skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32))`` converts any
:class:`~sklearn.pipeline.Pipeline` or
:class:`~sklearn.compose.ColumnTransformer` that contains them. Their part of
the graph is the fitted torch module exported by ``torch.onnx.export`` (its
TorchScript exporter) with a dynamic batch axis, spliced in with skl2onnx's
``add_onnx_graph``, in the target opset. :func:`to_onnx` exports one method
of one fitted estimator. Importing it also registers, with torch's exporter,
an ONNX definition of ``aten::huber_loss`` (which the exporter lacks), used
by the scores of ``loss='huber'`` models.

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
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.common.utils import check_input_and_output_numbers
    from skl2onnx.helpers.integration import add_onnx_graph
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"skae.onnx needs skl2onnx and onnx ({exc.name} is missing), and onnxruntime to run "
        "the graphs: pip install 'skae[onnx]'."
    ) from exc

from ._autoencoder import AutoencoderTransformer
from ._vae import VAETransformer
from ._version import __version__

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


# Adding a method is one entry here. An outlier detector's decision_function
# is score_samples of its estimator_ minus its offset_, and predict that
# difference's sign: ``_Method("rows", lambda det: <its estimator_'s
# _score_fn, shifted>)``, with :func:`_export` reading the module from
# ``estimator_``.
_METHODS = {
    "transform": _Method("rows", lambda est: _encode),
    "inverse_transform": _Method("codes", lambda est: _decode if est._table is None
                                 else _decode_numeric_table),
    "score_samples": _Method("rows", lambda est: est._score_fn()),
}


def to_onnx(estimator, X, method="transform", *, target_opset=None):
    """Export one method of a fitted skae estimator as an ONNX model.

    The graph computes in float32, as skae does for float32 input, on any
    number of rows (a dynamic batch axis). Its input is named ``"X"`` and
    its output after the method. Missing values (NaN) are filled as skae
    fills them: with the training means of a model fitted without them, or
    as the model's table encoding does (with the missing-value indicators)
    for one fitted with them.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer
        A fitted estimator, on numeric data (arrays, sparse matrices, or
        DataFrames of numbers with or without missing values).
    X : array-like of shape (n_samples, n_features)
        A float32 sample of the method's input (rows, or codes for
        ``inverse_transform``): it fixes the input's type and width.
    method : {'transform', 'inverse_transform', 'score_samples'}, default='transform'
        The method the graph computes.
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
        For an estimator skae does not export or ``X`` not in float32.

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
    to a batch; a method built on them (an outlier detector's
    ``decision_function``, ``score_samples`` minus an offset, and
    ``predict``, its sign) is one more entry in the table of methods.

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
    """
    _check_exportable(estimator, method)
    X = check_array(X, dtype=None, ensure_all_finite="allow-nan", input_name="X")
    if X.dtype != np.float32:
        raise TypeError(
            f"The graph computes in float32; X has dtype {X.dtype}. Pass "
            "X.astype(np.float32)."
        )
    _check_width(estimator, method, X.shape[1])
    opset = get_latest_tested_opset_version() if target_opset is None else target_opset
    model = _export(estimator, method, opset)
    model.producer_name, model.producer_version = "skae", __version__
    return model


def _check_exportable(estimator, method):
    """Raise unless ``method`` of ``estimator`` exports faithfully."""
    if not isinstance(estimator, (AutoencoderTransformer, VAETransformer)):
        raise TypeError(
            "skae.onnx exports AutoencoderTransformer and VAETransformer; got "
            f"{type(estimator).__name__}. skl2onnx.to_onnx converts the scikit-learn "
            "estimators it has converters for, and pipelines holding skae's."
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
    others = [c["name"] for c in table if c["kind"] != "numeric"]
    if others:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on a table with boolean or categorical "
            f"columns ({others}); its graph would read their levels as numbers, which ONNX "
            "inputs cannot hold faithfully, so skae does not export it. Encode them before "
            "the estimator (e.g. a ColumnTransformer with a OneHotEncoder) and fit it on "
            "the numbers, or serve the model in Python (skae.save, skae.load)."
        )
    rounded = [c["name"] for c in table if c["dtype"] not in _FLOAT_DTYPES]
    if method == "inverse_transform" and rounded:
        raise ValueError(
            f"inverse_transform rounds the integer columns {rounded} to their dtype, which "
            "a float32 graph cannot return. Export transform or score_samples, or fit on "
            "float columns."
        )


def _check_width(estimator, method, width):
    expected = estimator.n_components_ if _METHODS[method].reads == "codes" \
        else estimator.n_features_in_
    if width is not None and width != expected:
        raise ValueError(
            f"{method} of this {type(estimator).__name__} takes {expected} columns; the "
            f"input has {width}."
        )


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
            self.register_buffer("mean", torch.tensor([c["mean"] for c in table]))
            self.register_buffer("scale", torch.tensor([c["scale"] for c in table]))

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


def _export(estimator, method, opset):
    """``method`` of the fitted ``estimator`` as an ONNX model of opset ``opset``."""
    spec = _METHODS[method]
    module = copy.deepcopy(estimator.net_.module_).to("cpu", torch.float32).eval()
    served = _Served(module, spec.fn(estimator), spec.reads, estimator._table)
    width = estimator.n_components_ if spec.reads == "codes" else estimator.n_features_in_
    example = torch.zeros(2, width)
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
            input_names=["X"], output_names=[method],
            dynamic_axes={"X": {0: "n_samples"}, method: {0: "n_samples"}},
        )
    model = onnx.load_from_string(buffer.getvalue())
    if opset > _TORCH_MAX_OPSET:
        model = version_converter.convert_version(model, opset)
    return model


# ------------------------------------------------------------- skl2onnx

def _calculate_output_shapes(operator):
    """skl2onnx shape calculator: float32 rows ``[N, n_features]`` to codes ``[N, k]``."""
    estimator = operator.raw_operator
    _check_exportable(estimator, "transform")
    if len(operator.inputs) != 1:
        raise ValueError(
            f"{type(estimator).__name__} reads one float32 matrix; skl2onnx gives it "
            f"{len(operator.inputs)} inputs (one per column of a DataFrame sample). Convert "
            "with an array sample, e.g. X[:1].to_numpy(np.float32), whose columns are in the "
            "order fit saw."
        )
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
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
    _check_width(estimator, "transform", shape[1])
    operator.outputs[0].type = FloatTensorType(
        [variable.get_first_dimension(), estimator.n_components_])


def _convert(scope, operator, container):
    """skl2onnx converter: splice the exported encoder into the pipeline's graph."""
    model = _export(operator.raw_operator, "transform", container.target_opset)
    add_onnx_graph(scope, operator, container, model)


for _cls in (AutoencoderTransformer, VAETransformer):
    update_registered_converter(_cls, f"Skae{_cls.__name__}", _calculate_output_shapes,
                                _convert)
