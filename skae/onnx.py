"""Serving with ONNX: fitted skae estimators, alone or inside pipelines.

Importing this module registers skl2onnx converters for
:class:`~skae.AutoencoderTransformer`, :class:`~skae.VAETransformer`,
:class:`~skae.OutlierDetector` and :class:`~skae.AutoencoderImputer` (of
numbers), so that
``skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32))`` converts any
:class:`~sklearn.pipeline.Pipeline` or
:class:`~sklearn.compose.ColumnTransformer` that contains them (a detector,
last in a pipeline, gives skl2onnx's outlier outputs ``label`` and
``scores``, as :class:`~sklearn.ensemble.IsolationForest` does). Their
part of the graph is the fitted torch module exported by
``torch.onnx.export`` (its TorchScript exporter) with a dynamic batch axis,
spliced in with skl2onnx's ``add_onnx_graph``, in the target opset.
:func:`to_onnx` exports one method of one fitted estimator, outlier
detector or imputer. Each estimator states what its graphs compute (its
``_onnx_graph``, see :mod:`skae._export`); this module checks, traces and
registers them. Importing it also registers, with torch's exporter, an ONNX
definition of ``aten::huber_loss`` (which the exporter lacks), used by the
scores of ``loss='huber'`` models.

Needs the ``onnx`` extra: ``pip install 'skae[onnx]'`` (skl2onnx, onnx, and
onnxruntime to run the graphs).
"""

import copy
import io
import warnings

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
from ._imputer import AutoencoderImputer
from ._outliers import OutlierDetector
from ._vae import VAETransformer
from ._version import __version__

__all__ = ["to_onnx"]

# The highest opset torch's TorchScript exporter writes; a higher target is
# reached with onnx's version converter.
_TORCH_MAX_OPSET = getattr(torch.onnx._constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 17)

#: The classes skae exports, and registers skl2onnx converters for (a
#: meta-estimator's estimator_ must be one too). Adding one: its class here,
#: and its _onnx_methods, _onnx_in_pipeline and _onnx_graph (skae._export).
_EXPORTED = (AutoencoderTransformer, VAETransformer, OutlierDetector, AutoencoderImputer)


def _graph(estimator, method, within=""):
    """The :class:`~skae._export.Graph` of ``method`` of the fitted ``estimator``;
    raise unless it exports faithfully."""
    if not isinstance(estimator, _EXPORTED):
        names = [cls.__name__ for cls in _EXPORTED]
        raise TypeError(
            f"skae.onnx exports {', '.join(names[:-1])} and {names[-1]} (around one of the "
            f"first two); got {type(estimator).__name__}{within}. skl2onnx.to_onnx converts "
            "the scikit-learn estimators it has converters for, and pipelines holding skae's."
        )
    check_is_fitted(estimator)
    return estimator._onnx_graph(method, _graph)


def to_onnx(estimator, X, method="transform", *, target_opset=None):
    """Export one method of a fitted skae estimator, outlier detector or imputer as ONNX.

    The graph computes in float32, as skae does for float32 input, on any
    number of rows (a dynamic batch axis). Its input is named ``"X"`` and
    its output after the method. Missing values (NaN) are filled as skae
    fills them: with the training means of a model fitted without them, or
    as the model's table encoding does (with the missing-value indicators)
    for one fitted with them.

    Parameters
    ----------
    estimator : AutoencoderTransformer, VAETransformer, OutlierDetector or AutoencoderImputer
        A fitted estimator, on numeric data (arrays, sparse matrices, or
        DataFrames of numbers with or without missing values), or a fitted
        detector or imputer whose ``estimator_`` is one.
    X : array-like of shape (n_samples, n_features)
        A float32 sample of the method's input (rows, or codes for
        ``inverse_transform``): it fixes the input's type and width.
    method : str, default='transform'
        The method the graph computes: ``'transform'``,
        ``'inverse_transform'`` or ``'score_samples'`` of an estimator;
        ``'score_samples'``, ``'decision_function'`` or ``'predict'`` of a
        detector (``predict``'s output is int64, -1 for outliers and +1 for
        inliers, as skae's); ``'transform'`` of an imputer (its gaps filled
        by the reconstruction, its observed entries kept, the indicator's
        columns appended as 1.0/0.0 with ``add_indicator``).
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
        with boolean or categorical columns, an imputer with
        ``sample_posterior=True``, or ``X`` of the wrong width.
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
    infinities or NaN. A column that had no observed value in fit is
    missing to the graph as it is to skae: its values are ignored, and
    ``inverse_transform`` returns NaN for it.

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
    if str(method).startswith("_"):
        raise ValueError(f"method={method!r} cannot be exported: it is private.")
    graph = _graph(estimator, method)
    X = check_array(X, dtype=None, ensure_all_finite="allow-nan", input_name="X")
    if X.dtype != np.float32:
        raise TypeError(
            f"The graph computes in float32; X has dtype {X.dtype}. Pass "
            "X.astype(np.float32)."
        )
    _check_width(estimator, graph, X.shape[1])
    opset = get_latest_tested_opset_version() if target_opset is None else target_opset
    model = _export(graph, [method], opset)
    model.producer_name, model.producer_version = "skae", __version__
    return model


def _check_width(estimator, graph, width):
    if width is not None and width != graph.n_inputs:
        raise ValueError(
            f"{graph.name} of this {type(estimator).__name__} takes {graph.n_inputs} columns; "
            f"the input has {width}."
        )


class _Served(torch.nn.Module):
    """A graph's function on its fitted module: what torch's exporter traces."""

    def __init__(self, module, fn):
        super().__init__()
        self.module, self.fn = module, fn

    def forward(self, x):
        return self.fn(self.module, x)


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


def _export(graph, outputs, opset):
    """``graph`` as an ONNX model of opset ``opset``, its outputs named ``outputs``."""
    module = copy.deepcopy(graph.module).to("cpu", torch.float32).eval()
    served = _Served(module, graph.fn)
    example = torch.zeros(2, graph.n_inputs)
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
    """skl2onnx shape calculator: float32 rows ``[N, n_features]`` to the outputs the
    estimator's pipeline graph declares (codes, imputed rows, or a detector's labels
    and ``decision_function``)."""
    estimator = operator.raw_operator
    graph = _graph(estimator, estimator._onnx_in_pipeline)
    if len(operator.inputs) != 1:
        raise ValueError(
            f"{type(estimator).__name__} reads one float32 matrix; skl2onnx gives it "
            f"{len(operator.inputs)} inputs (one per column of a DataFrame sample). Convert "
            "with an array sample, e.g. X[:1].to_numpy(np.float32), whose columns are in the "
            "order fit saw."
        )
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=len(graph.outputs))
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
    _check_width(estimator, graph, shape[1])
    n = variable.get_first_dimension()
    for output, (_, kind, width) in zip(operator.outputs, graph.outputs):
        output.type = (Int64TensorType if kind == "int64" else FloatTensorType)([n, width])


def _convert(scope, operator, container):
    """skl2onnx converter: splice the estimator's pipeline graph into the pipeline's."""
    graph = _graph(operator.raw_operator, operator.raw_operator._onnx_in_pipeline)
    model = _export(graph, [name for name, _, _ in graph.outputs], container.target_opset)
    add_onnx_graph(scope, operator, container, model)


for _cls in _EXPORTED:
    update_registered_converter(_cls, f"Skae{_cls.__name__}", _calculate_output_shapes,
                                _convert)
