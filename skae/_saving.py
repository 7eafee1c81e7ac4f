"""What a fitted autoencoder stores and exports: its side of skae.save/load and skae.onnx.

:class:`SavingMixin` states, for :class:`~skae._base.BaseAutoencoder`, what
:func:`skae.save` keeps of a fitted estimator and how :func:`skae.load`
rebuilds it (``_save_state``/``_load_state``), and which methods
:mod:`skae.onnx` exports and as what graph (``_onnx_methods``,
``_onnx_graph``). The generic machinery (file format, registries, safety
checks, skl2onnx converters) lives in :mod:`skae._persistence` and
:mod:`skae.onnx`.
"""

import torch

from . import _export, _tabular
from .modules import NUMERIC


class SavingMixin:
    """Persistence and export hooks of the autoencoder estimators."""

    #: Fitted attributes :func:`skae.save` stores besides the network (plain data).
    _saved_attributes = ("n_features_in_", "feature_names_in_", "n_components_", "n_iter_",
                         "loss_curve_", "validation_loss_curve_", "batch_size_",
                         "do_early_stopping_", "max_iter_")

    def _save_state(self):
        """What :func:`skae.save` stores of the fitted estimator, besides its parameters.

        Returns
        -------
        state : dict
            Plain data and tensors: the fitted attributes, the module's and
            the optimizer's ``state_dict()``, the skorch history, the
            table's columns (:meth:`skae._tabular.Column.to_dict`) and the
            description of the code's targets (:func:`skae._targets.describe`).
        """
        net = self.net_
        return {
            "fitted": {attr: getattr(self, attr) for attr in self._saved_attributes
                       if hasattr(self, attr)},
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": net.history.to_list(),
            "table": None if self._table is None else [c.to_dict() for c in self._table],
            "targets": self._target_spec,
        }

    def _load_state(self, state, device):
        """Become the fitted estimator ``state`` (from :meth:`_save_state`) describes.

        Called by :func:`skae.load` on an estimator built from the saved
        parameters, once they are checked. Raises ValueError for a state
        that does not describe a valid network, or weights that do not fit
        it.
        """
        from skorch.history import History

        fitted = {k: v for k, v in state["fitted"].items() if k in self._saved_attributes}
        n_features = int(fitted["n_features_in_"])
        try:
            self._set_table(state.get("table"))
            self._set_targets(state.get("targets"))  # files before target_weight: none
            architecture = self._architecture(n_features)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the file describes an invalid network ({exc}).") from None
        # What fit resolved from batch_size and early_stopping shapes the net; files
        # written before these parameters took 'auto' hold ints and booleans.
        self.batch_size_ = fitted.get("batch_size_", self.batch_size)
        self.do_early_stopping_ = fitted.get("do_early_stopping_", self.early_stopping is True)
        self.max_iter_ = fitted.get("max_iter_", self.max_iter)  # files before 'auto': an int
        # Initial weights are drawn from a throw-away generator: the file's replace them.
        net = self._make_net(architecture, device, torch.Generator(device=device))
        module_state = dict(state["module"])
        if state.get("predates_missing_values") and "input.fill" in net.module_.state_dict():
            # Format 1 predates missing values: its models fill them with zeros.
            module_state.setdefault("input.fill", torch.zeros(n_features))
        try:
            net.module_.load_state_dict(module_state, strict=True)
            net.optimizer_.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"the weights in the file do not fit the architecture its parameters "
                f"describe: {exc}"
            ) from None
        net.history = History(state["history"])
        net.module_.eval()
        self.net_ = net
        for attr, value in fitted.items():
            setattr(self, attr, value)

    #: The methods :func:`skae.onnx.to_onnx` exports, and the graph a pipeline gets.
    _onnx_methods = ("transform", "inverse_transform", "score_samples")
    _onnx_in_pipeline = "transform"

    def _onnx_graph(self, method, graph_of=None):
        """``method`` as an ONNX graph computes it (a :class:`skae._export.Graph`).

        Rows go through the model's own standardisation of a table
        (:func:`skae._tabular.standardised`; a column empty in fit enters
        and leaves as NaN), then the function the batched inference applies.
        Raises ValueError for a method or a table a graph cannot serve.
        """
        if method not in self._onnx_methods:
            raise ValueError(
                f"method={method!r} cannot be exported; exportable: "
                f"{sorted(self._onnx_methods)}. Sampling methods (sample, log_likelihood) "
                "draw random numbers per call, which a graph cannot reproduce: call them in "
                "Python."
            )
        table = self._table
        others = [c.name for c in table or () if c.kind != NUMERIC]
        if others:
            raise ValueError(
                f"{type(self).__name__} was fitted on a table with boolean or categorical "
                f"columns ({others}); its graph would read their levels as numbers, which "
                "ONNX inputs cannot hold faithfully, so skae does not export it. Encode them "
                "before the estimator (e.g. a ColumnTransformer with a OneHotEncoder) and fit "
                "it on the numbers, or serve the model in Python (skae.save, skae.load)."
            )
        rounded = [c.name for c in table or () if c.dtype not in _tabular.FLOAT_DTYPE_NAMES]
        if method == "inverse_transform" and rounded:
            raise ValueError(
                f"inverse_transform rounds the integer columns {rounded} to their dtype, "
                "which a float32 graph cannot return. Export transform or score_samples, or "
                "fit on float columns."
            )
        if method == "inverse_transform":
            # A numeric table's heads (TabularOutput) are the identity; torch's
            # exporter fails on their empty index of flags.
            fn = (lambda m, z: m.decode(z)) if table is None else (lambda m, z: m.decoder(z))
        else:
            fn = (lambda m, x: m.encode(x)) if method == "transform" else self._score_fn()
        width = self.n_components_ if method == "inverse_transform" else self.n_features_in_
        outputs = (("transform", "float", self.n_components_),) if method == "transform" else ()
        if table is not None:
            fn = _export.in_data_units(fn, table, codes=method == "inverse_transform")
        return _export.Graph(method, self.net_.module_, fn, width, outputs)

    def __setstate__(self, state):
        # Pickles of skae 0.2 describe a table as a list of dicts.
        if state.get("_table") is not None:
            state = {**state, "_table": _tabular.as_columns(state["_table"])}
        super().__setstate__(state)
