"""AutoencoderTransformer: a (deep, sparse, denoising, tied, conv) autoencoder."""

from dataclasses import replace
from numbers import Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import PCA
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseAutoencoder
from ._docstrings import ATTRIBUTES, params
from .losses import AutoencoderCriterion
from .modules import NUMERIC, FillMissing, build_autoencoder


class AutoencoderTransformer(BaseAutoencoder):
    __doc__ = f"""Autoencoder as a scikit-learn transformer, trained with skorch.

    ``transform`` returns the code of each row, ``inverse_transform`` decodes
    codes back to data space, and ``score_samples`` is the negative
    reconstruction error of each row (an anomaly score). It drops into a
    :class:`~sklearn.pipeline.Pipeline` wherever :class:`~sklearn.decomposition.PCA`
    does.

    One class covers the classic variants: undercomplete (the default), linear
    (``hidden_layer_sizes=(), activation='identity'``: spans the PCA
    subspace), tied weights, sparse (L1 on the codes), denoising (corrupted
    inputs, clean targets), convolutional (``image_shape``), and stacked
    (several in a Pipeline).

    Parameters
    ----------
    {params("n_components", "categorical_features", "hidden_layer_sizes", "activation",
            "output_activation")}
    loss : {{'mse', 'bce', 'mae', 'huber'}}, default='mse'
        Reconstruction loss, averaged over features. ``'bce'`` (binary
        cross-entropy, on logits) is for data in [0, 1] such as pixel
        intensities; ``'mae'`` and ``'huber'`` (delta 1) are robust to
        outliers.
    tied_weights : bool, default=False
        Decoder layers use the transposed encoder weights (transposed
        convolutions share the encoder's kernels): about half the trainable
        parameters.
    sparsity : float, default=0.0
        Weight of an L1 penalty on the codes (mean absolute code): a sparse
        autoencoder.
    noise : {{'gaussian', 'masking', 'salt_and_pepper'}} or None, default=None
        Corrupt the inputs during training (never at inference) and learn
        to reconstruct the clean rows: a denoising autoencoder. Salt and
        pepper uses each feature's training minimum and maximum.
    noise_level : float, default=0.1
        Standard deviation of gaussian noise (in data units), or the
        fraction of entries hit by masking or salt-and-pepper noise.
    init : {{'random', 'pca'}}, default='random'
        ``'pca'`` starts a linear autoencoder (``hidden_layer_sizes=()``, no
        ``image_shape``) at the PCA solution, as t-SNE's ``init='pca'`` does:
        encoder rows are the principal axes, the decoder their transpose,
        the biases centre and restore the mean. Training then refines it
        (e.g. for a non-MSE loss or an output activation). Sparse input
        works; numbers with missing values start at the PCA of the data as
        the model reads it (standardised, gaps at the column means), with no
        weight on the missing-value indicators. Boolean and categorical
        columns are refused: their heads are logits, which have no PCA start.
    {params("batch_norm", "dropout", "image_shape", "conv_channels", "kernel_size",
            "optimizer", "learning_rate", "learning_rate_init", "weight_decay", "max_grad_norm",
            "batch_size",
            "max_iter", "early_stopping", "validation_fraction", "n_iter_no_change", "tol",
            "callbacks", "device", "n_jobs", "random_state", "verbose", "warm_start",
            "target_weight", learning_rate="one_cycle", learning_rate_init="1e-2", max_iter="auto")}

    Attributes
    ----------
    {ATTRIBUTES}

    See Also
    --------
    VAETransformer : Variational autoencoder with the same interface.
    sklearn.decomposition.PCA : The linear baseline.

    Notes
    -----
    Training slices whole batches out of one float32 tensor (moved to the
    device once when it fits). Inference runs in eval mode without autograd,
    in batches; float64 input is computed in float64 and output dtypes
    follow the input.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X = load_digits().data / 16
    >>> ae = AutoencoderTransformer(n_components=8, max_iter=5, random_state=0)
    >>> Z = ae.fit_transform(X)
    >>> Z.shape
    (1797, 8)
    >>> ae.inverse_transform(Z).shape
    (1797, 64)
    >>> ae.get_feature_names_out()[:2]
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "loss": [StrOptions({"mse", "bce", "mae", "huber"})],
        "tied_weights": ["boolean"],
        "sparsity": [Interval(Real, 0, None, closed="left")],
        "noise": [StrOptions({"gaussian", "masking", "salt_and_pepper"}), None],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"random", "pca"})],
    }

    def __init__(
        self,
        n_components=2,
        *,
        categorical_features="from_dtype",
        hidden_layer_sizes=(128, 64),
        activation="relu",
        output_activation="auto",
        loss="mse",
        tied_weights=False,
        sparsity=0.0,
        noise=None,
        noise_level=0.1,
        init="random",
        batch_norm=False,
        dropout=0.0,
        image_shape=None,
        conv_channels=(32, 64),
        kernel_size=3,
        optimizer="adam",
        learning_rate="one_cycle",
        learning_rate_init=1e-2,
        weight_decay=0.0,
        max_grad_norm=None,
        batch_size="auto",
        max_iter="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        target_weight=0.0,
    ):
        self.n_components = n_components
        self.categorical_features = categorical_features
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.tied_weights = tied_weights
        self.sparsity = sparsity
        self.noise = noise
        self.noise_level = noise_level
        self.init = init
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.target_weight = target_weight

    def _builder(self):
        return build_autoencoder

    def _architecture(self, n_features):
        return replace(super()._architecture(n_features), tied_weights=self.tied_weights,
                       noise=self.noise, noise_level=self.noise_level)

    def _check_data(self, X):
        super()._check_data(X)
        if self.init == "pca":
            other = [c.name for c in self._table or () if c.kind != NUMERIC]
            if other:  # their heads are logits: a linear decoder has no PCA start for them
                raise ValueError(
                    f"init='pca' starts from the PCA of numeric columns; columns {other} are "
                    "boolean or categorical. Use init='random', or encode them as numbers "
                    "first (e.g. OneHotEncoder)."
                )
            if self._architecture(X.shape[1]).hidden_layer_sizes or self.image_shape is not None:
                raise ValueError(
                    "init='pca' initialises a linear autoencoder: it needs "
                    "hidden_layer_sizes=() and image_shape=None."
                )
            if self.n_components > min(X.shape):
                raise ValueError(
                    f"init='pca' needs n_components <= min(n_samples, n_features) = "
                    f"{min(X.shape)}, got {self.n_components}."
                )

    def _init_weights(self, X):
        super()._init_weights(X)
        module = self.net_.module_
        if module.corruption is not None:  # salt and pepper uses each feature's range
            low, high = _input_range(module, X)
            with torch.no_grad():
                module.corruption.low.copy_(low)
                module.corruption.high.copy_(high)
        if self.init != "pca":
            return
        if self._table is None:  # the encoder reads X, the decoder predicts it
            inputs = outputs = np.arange(X.shape[1])
            pca = _pca(X, self.n_components)
        else:  # numeric columns: standardised, gaps at the mean; indicators get no weight
            inputs = [module.input.block(j)[0] for j in range(X.shape[1])]
            outputs = [module.output.slices[j][0] for j in range(X.shape[1])]
            training = module.input.training
            with torch.no_grad():
                encoded = module.input.eval()(torch.as_tensor(X)).numpy()
            module.input.train(training)
            pca = _pca(encoded[:, inputs], self.n_components)
        axes = torch.as_tensor(pca.components_, dtype=torch.float32)
        mean = torch.as_tensor(pca.mean_, dtype=torch.float32)
        encoder, decoder = module.encoder[-1], module.decoder[-1]
        with torch.no_grad():
            encoder.weight.zero_()
            encoder.weight[:, inputs] = axes
            encoder.bias.copy_(-axes @ mean)
            if not self.tied_weights:
                decoder.weight.zero_()
                decoder.weight[outputs] = axes.T
            decoder.bias.zero_()
            decoder.bias[outputs] = mean

    def _keeps_better_start(self):
        # PCA's solution is the optimum of a linear MSE autoencoder; a fit
        # that drifts from it (e.g. Adam's first steps on wide data) reverts.
        return self.init == "pca"

    def _criterion(self):
        return AutoencoderCriterion, {"loss": self.loss, "sparsity": self.sparsity}

    def _score_fn(self):
        error = self._reconstruction_error_fn()
        return lambda m, xb: -error(m, xb)


def _pca(X, n_components):
    """PCA of the rows ``X`` (dense or sparse) with ``n_components`` components."""
    if sp.issparse(X) and n_components < min(X.shape):
        # ARPACK finds up to min(X.shape) - 1 components (seeded: its start
        # vector is random).
        pca = PCA(n_components, svd_solver="arpack", random_state=0).fit(X)
    else:  # sparse X with n_components == min(X.shape) rows or columns: small dense
        pca = PCA(n_components, svd_solver="full").fit(X.toarray() if sp.issparse(X) else X)
    # ARPACK's components come out reversed (negative strides), which torch refuses.
    pca.components_ = np.ascontiguousarray(pca.components_)
    return pca


def _input_range(module, X):
    """Per-feature minimum and maximum of the encoder's input for training data ``X``."""
    if sp.issparse(X):
        return (torch.as_tensor(X.min(axis=0).toarray().ravel()),
                torch.as_tensor(X.max(axis=0).toarray().ravel()))
    if isinstance(module.input, FillMissing):  # plain numbers
        return torch.as_tensor(X.min(axis=0)), torch.as_tensor(X.max(axis=0))
    with torch.no_grad():
        encoded = module.input(torch.as_tensor(np.asarray(X, dtype=np.float32)))
    return encoded.amin(dim=0), encoded.amax(dim=0)
