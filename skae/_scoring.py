"""A reconstruction scorer that compares models trained with different losses."""

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

_METRICS = {
    "mse": lambda residual: np.square(residual),
    "mae": lambda residual: np.abs(residual),
}


class _ReconstructionScorer:
    """Minus the mean ``metric`` of ``X - inverse_transform(transform(X))``."""

    def __init__(self, metric):
        self.metric = metric

    def __call__(self, estimator, X, y=None):
        X_hat = estimator.inverse_transform(estimator.transform(X))
        residual = np.asarray(X, dtype=np.float64) - np.asarray(X_hat, dtype=np.float64)
        return -float(_METRICS[self.metric](residual).mean())

    def __repr__(self):
        return f"make_reconstruction_scorer(metric={self.metric!r})"


@validate_params({"metric": [StrOptions(set(_METRICS))]}, prefer_skip_nested_validation=True)
def make_reconstruction_scorer(metric="mse"):
    """Make a scorer of reconstruction error in data units, for any loss.

    An estimator's own ``score`` is in the units of the loss it was trained
    with (half-squared error for ``'huber'`` near zero, cross-entropy for
    ``'bce'``, nats for a VAE), so it can only rank models trained with the
    same loss. This scorer measures every model the same way: minus the mean
    ``metric`` between ``X`` and ``inverse_transform(transform(X))``. Pass it
    as ``scoring`` to ``GridSearchCV`` or ``cross_validate`` to compare
    losses, a VAE with an autoencoder, or either with ``PCA``.

    Parameters
    ----------
    metric : {'mse', 'mae'}, default='mse'
        Squared or absolute error per entry, averaged over all entries.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)`` returns the score (higher is
        better) of a fitted transformer with ``inverse_transform``: a skae
        estimator, a ``Pipeline`` of such steps, or ``PCA``.

    See Also
    --------
    AutoencoderTransformer.score : Mean score in the training loss's units.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from skae import make_reconstruction_scorer
    >>> X = load_digits().data / 16
    >>> scorer = make_reconstruction_scorer()
    >>> pca = PCA(8).fit(X)
    >>> round(scorer(pca, X), 4)
    -0.0239
    """
    return _ReconstructionScorer(metric)
