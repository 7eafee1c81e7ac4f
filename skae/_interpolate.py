"""interpolate: decode the latent path between two inputs of any skae estimator."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._base import BaseAutoencoder


@validate_params(
    {
        "estimator": [BaseAutoencoder],
        "x_a": ["array-like"],
        "x_b": ["array-like"],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions({"linear", "spherical"})],
    },
    prefer_skip_nested_validation=True,
)
def interpolate(estimator, x_a, x_b, n_steps=10, method="linear"):
    """Decode the path between the codes of two inputs.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer
        A fitted skae estimator.
    x_a, x_b : array-like of shape (n_features,) or (1, n_features)
        The two end points, in data space.
    n_steps : int, default=10
        Number of points on the path, end points included.
    method : {'linear', 'spherical'}, default='linear'
        Straight line between the codes, or spherical interpolation (slerp),
        which keeps the code norm typical of a Gaussian prior.

    Returns
    -------
    path : ndarray of shape (n_steps, n_features)
        Decoded points from ``x_a``'s reconstruction to ``x_b``'s.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer, interpolate
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(max_iter=2, random_state=0).fit(X)
    >>> interpolate(vae, X[0], X[1], n_steps=5).shape
    (5, 64)
    """
    ends = np.vstack([np.asarray(x_a).reshape(1, -1), np.asarray(x_b).reshape(1, -1)])
    if hasattr(estimator, "feature_names_in_"):  # fitted on a DataFrame: keep its names
        ends = pd.DataFrame(ends, columns=estimator.feature_names_in_)
    z_a, z_b = np.asarray(estimator.transform(ends))  # also under set_output("pandas")
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    if method == "linear":
        Z = (1 - t) * z_a + t * z_b
    else:
        cos = np.dot(z_a, z_b) / (np.linalg.norm(z_a) * np.linalg.norm(z_b) + 1e-12)
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega < 1e-6:
            Z = (1 - t) * z_a + t * z_b
        else:
            Z = (np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
    return estimator.inverse_transform(Z.astype(z_a.dtype))
