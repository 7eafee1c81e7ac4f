"""What an estimator exports: one method as a graph computes it (:mod:`skae.onnx` builds it).

Each exportable estimator states its graphs in a method
``_onnx_graph(method, graph_of)`` that returns a :class:`Graph`, or raises
ValueError naming why the method cannot be exported; ``graph_of(estimator,
method, within)`` gives a meta-estimator the graph of its ``estimator_``,
checked as :func:`skae.onnx.to_onnx` checks any estimator. Its class
attributes ``_onnx_methods`` (the methods :func:`~skae.onnx.to_onnx`
exports) and ``_onnx_in_pipeline`` (the graph skl2onnx splices into a
pipeline) name them. This module needs only torch.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import _tabular


@dataclass(frozen=True)
class Graph:
    """One method of a fitted estimator as an ONNX graph computes it.

    Parameters
    ----------
    name : str
        The method whose input the graph reads (named in errors).
    module : torch.nn.Module
        The fitted module the graph runs (exported as a float32 copy on the CPU).
    fn : callable
        ``fn(module, x)``: the method on a float32 batch ``x``, in torch
        operations only (it is traced), constants captured as float32 CPU
        tensors.
    n_inputs : int
        The number of columns the graph reads.
    outputs : tuple of (str, str, int)
        For skl2onnx: each output's name, type (``'float'`` or ``'int64'``)
        and width.
    """

    name: str
    module: torch.nn.Module
    fn: Callable
    n_inputs: int
    outputs: tuple = ()


def constant(values, dtype=torch.float32):
    """``values`` as a tensor a traced graph holds as a constant."""
    return torch.as_tensor(values, dtype=dtype)


def in_data_units(fn, table, codes=False):
    """``fn(module, x)`` of a model fitted on a numeric table, on data units.

    Rows are standardised on the way in or, with ``codes``, the
    reconstructions put back in data units on the way out, by the model's
    own standardisation (:func:`skae._tabular.standardised`): a column
    without observed values in fit enters and leaves as NaN, as skae reads
    and decodes it.
    """
    mean, scale = (constant(v) for v in _tabular.standardisation(table))
    if codes:
        return lambda m, z: _tabular.in_data_units(fn(m, z), mean, scale)
    return lambda m, x: fn(m, _tabular.standardised(x, mean, scale))
