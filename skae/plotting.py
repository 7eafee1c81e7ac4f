"""Plots of fitted skae estimators: training curves, latent spaces, images.

Every function takes the fitted estimator first, then data, then an
optional Matplotlib ``ax`` (``axes`` for a grid of Axes) to draw on, and
returns what it drew on. When no Axes is given, a new figure is created.

Rows of ``X`` are drawn as images when an image shape is known: the
``image_shape`` argument, else the estimator's ``image_shape`` (C, H, W),
else a square guess for flat rows (64 features -> 8 x 8). One channel is
drawn in grey (dark is high, as for ink on paper), three or four channels
as RGB(A), other channel counts side by side. Pass ``image_shape=False`` to
draw rows as line plots, as is done when no image shape fits.

matplotlib is an optional dependency: ``pip install -e '.[plot]'`` in a clone
of skae.
"""

try:
    import matplotlib.pyplot as plt
except ImportError as exc:
    raise ImportError(
        "skae.plotting needs matplotlib, an optional dependency of skae. "
        "Install it from your clone of skae with: pip install -e '.[plot]'"
    ) from exc

import math
from numbers import Integral

import numpy as np
from sklearn.decomposition import PCA, KernelPCA
from sklearn.manifold import TSNE
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._interpolate import interpolate

__all__ = [
    "plot_explanation",
    "plot_interpolation",
    "plot_latent_grid",
    "plot_latent_space",
    "plot_loss_curve",
    "plot_reconstructions",
    "plot_samples",
]

# Colour map of one-channel images: 0 is white, the maximum black.
IMAGE_CMAP = "gray_r"
# Colour of the one-pixel gaps between tiled images.
GAP_COLOR = "0.8"
# Label sets up to this size get a legend in plot_latent_space; larger or
# continuous targets get a colorbar.
MAX_LEGEND_CLASSES = 20


# --------------------------------------------------------------- helpers


def _new_axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _rows(X, n=None):
    """The first ``n`` rows of ``X`` (DataFrames keep their columns)."""
    if hasattr(X, "iloc"):
        return X.iloc[:n]
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    return X[:n]


def _image_shape(est, image_shape, n_features):
    """Resolve the ``image_shape`` argument to (C, H, W), or None for lines."""
    if image_shape is False:
        return None
    if image_shape is None:
        image_shape = getattr(est, "image_shape", None)
    if image_shape is None:
        side = math.isqrt(n_features)
        return (1, side, side) if side > 1 and side * side == n_features else None
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1 or math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape must be (H, W) or (C, H, W) with as many values as the "
            f"{n_features} features of a row, got {image_shape!r}."
        )
    return shape


def _to_images(X, shape):
    """Flat rows -> (n, H, W) grey images or (n, H, W, C) colour images."""
    c, h, w = shape
    images = np.asarray(X, dtype=float).reshape(len(X), c, h, w)
    if c == 1:
        return images[:, 0]
    if c in (3, 4):
        return images.transpose(0, 2, 3, 1)
    return images.transpose(0, 2, 1, 3).reshape(len(X), h, c * w)  # channels side by side


def _tile(images, n_rows, n_cols, gap=1):
    """Tile ``images`` row by row into one picture, NaN in the gaps."""
    h, w = images.shape[1:3]
    out = np.full((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap, *images.shape[3:]), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return out


def _limits(values):
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _show(ax, picture, limits, **kwargs):
    """Draw one grey or colour picture with ``imshow``.

    Values are scaled to ``limits`` unless ``kwargs`` set ``vmin``/``vmax``;
    other ``kwargs`` (e.g. ``cmap``) go to ``imshow``.
    """
    lo, hi = kwargs.pop("vmin", limits[0]), kwargs.pop("vmax", limits[1])
    if picture.ndim == 3:  # colour: imshow wants values in [0, 1]
        kwargs.pop("cmap", None)
        picture = np.clip((picture - lo) / (hi - lo), 0, 1)
        picture = np.where(np.isnan(picture), 1.0, picture)
        return ax.imshow(picture, **kwargs)
    cmap = plt.get_cmap(kwargs.pop("cmap", IMAGE_CMAP)).with_extremes(bad=GAP_COLOR)
    return ax.imshow(picture, cmap=cmap, vmin=lo, vmax=hi, **kwargs)


def _need_images(shape, what):
    if shape is None:
        raise ValueError(
            f"{what} draws images, but no image shape fits the rows: pass "
            "image_shape=(H, W) or (C, H, W)."
        )


# ------------------------------------------------------------- functions


def plot_loss_curve(est, ax=None):
    """Plot the training (and validation) loss per epoch of a fitted estimator.

    Reads ``est.net_.history``. Validation losses are drawn dashed when
    ``early_stopping`` recorded them. For a :class:`~skae.VAETransformer`,
    the reconstruction and KL terms of the loss are drawn too, in the same
    units (nats per sample), and the KL weight on a second y-axis when
    ``kl_warmup`` recorded it.

    Parameters
    ----------
    est : AutoencoderTransformer or VAETransformer
        A fitted skae estimator.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes with one line per recorded quantity, labelled for the
        legend.

    See Also
    --------
    skae.AutoencoderTransformer.loss_curve_ : The training losses as a list.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> from skae.plotting import plot_loss_curve
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    >>> ax = plot_loss_curve(vae)
    >>> [line.get_label() for line in ax.get_lines()]
    ['training loss', 'training reconstruction', 'training KL']
    """
    check_is_fitted(est, "net_")
    history = est.net_.history
    ax = _new_axes(ax, figsize=(6, 4))
    terms = [("loss", "loss", "C0"), ("reconstruction", "reconstruction", "C1"),
             ("kl", "KL", "C2")]
    for key, name, color in terms:
        for split, label, style in (("train", "training", "-"), ("valid", "validation", "--")):
            rows = [row for row in history if f"{split}_{key}" in row]
            if not rows:
                continue
            epochs = [row["epoch"] for row in rows]
            values = [row[f"{split}_{key}"] for row in rows]
            ax.plot(epochs, values, style, color=color, label=f"{label} {name}",
                    marker="o" if len(rows) == 1 else None)
    handles, labels = ax.get_legend_handles_labels()
    weights = [row for row in history if "kl_weight" in row]
    if weights:
        twin = ax.twinx()
        twin.plot([row["epoch"] for row in weights], [row["kl_weight"] for row in weights],
                  ":", color="0.4", label="KL weight")
        twin.set_ylabel("KL weight")
        twin.set_ylim(bottom=0)
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"{type(est).__name__} training")
    # "best" only avoids this Axes' own lines, not the twin's KL weight
    ax.legend(handles, labels, loc="center right" if weights else "best")
    return ax


_PROJECTIONS = {
    "pca": ("PC", lambda n: PCA(n_components=2)),
    "tsne": ("t-SNE", lambda n: TSNE(
        n_components=2, init="pca", random_state=0, perplexity=min(30.0, (n - 1) / 3))),
    "kernel_pca": ("kernel PCA", lambda n: KernelPCA(n_components=2, kernel="rbf")),
}


def plot_latent_space(est, X, y=None, method="pca", ax=None, **scatter_kwargs):
    """Scatter the codes ``est.transform(X)`` in two dimensions.

    Two-dimensional codes are drawn as they are. Wider codes are projected
    to two dimensions with ``method``; one-dimensional codes are drawn
    against the row index. Points are coloured by ``y``: one colour per
    class and a legend for class labels (up to 20 classes), a colour map and
    a colorbar for continuous values.

    Parameters
    ----------
    est : fitted transformer
        A fitted skae estimator, or any fitted transformer (e.g. a Pipeline).
    X : array-like of shape (n_samples, n_features)
        Data to encode.
    y : array-like of shape (n_samples,), default=None
        Labels or values to colour the points by.
    method : {'pca', 'tsne', 'kernel_pca'} or transformer, default='pca'
        Projection of codes wider than two: scikit-learn's
        :class:`~sklearn.decomposition.PCA`,
        :class:`~sklearn.manifold.TSNE` (``init='pca'``,
        ``random_state=0``) or :class:`~sklearn.decomposition.KernelPCA`
        (RBF kernel), or any transformer with ``fit_transform`` returning
        two columns, for other settings.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.
    **scatter_kwargs : dict
        Passed to :meth:`matplotlib.axes.Axes.scatter` (e.g. ``s``,
        ``alpha``, ``cmap``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes with one scatter collection per class (a single one when
        ``y`` is None or continuous).

    See Also
    --------
    plot_latent_grid : Decode a grid over two latent dimensions.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_latent_space
    >>> X, y = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(32,), max_iter=3,
    ...                             random_state=0).fit(X / 16)
    >>> ax = plot_latent_space(ae, X / 16, y)
    >>> len(ax.collections), ax.get_xlabel()
    (10, 'latent 0')
    """
    if not (isinstance(method, str) and method in _PROJECTIONS) and not hasattr(
            method, "fit_transform"):
        raise ValueError(
            f"method must be one of {sorted(_PROJECTIONS)} or a transformer with "
            f"fit_transform, got {method!r}."
        )
    Z = np.asarray(est.transform(X))
    n, k = Z.shape
    title = f"Latent space of {type(est).__name__}"
    if k == 1:
        points = np.column_stack([np.arange(n), Z[:, 0]])
        xlabel, ylabel = "sample index", "latent 0"
    elif k == 2:
        points = Z
        xlabel, ylabel = "latent 0", "latent 1"
    else:
        if isinstance(method, str):
            prefix, factory = _PROJECTIONS[method]
            projector = factory(n)
        else:
            prefix, projector = type(method).__name__, method
        points = np.asarray(projector.fit_transform(Z))
        xlabel, ylabel = f"{prefix} 1", f"{prefix} 2"
        title += f"\n({prefix} of the {k}-dimensional codes)"

    ax = _new_axes(ax, figsize=(6, 5))
    scatter_kwargs.setdefault("s", 10)
    scatter_kwargs.setdefault("alpha", 0.8)
    scatter_kwargs.setdefault("linewidths", 0)
    if y is None:
        ax.scatter(points[:, 0], points[:, 1], **scatter_kwargs)
    else:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} entries but X has {n} rows.")
        classes = np.unique(y) if type_of_target(y) in ("binary", "multiclass") else None
        if classes is not None and len(classes) <= MAX_LEGEND_CLASSES:
            palette = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for i, label in enumerate(classes):
                mask = y == label
                kwargs = {"color": palette(i), **scatter_kwargs}
                ax.scatter(points[mask, 0], points[mask, 1], label=str(label), **kwargs)
            ax.legend(title="y", loc="center left", bbox_to_anchor=(1.02, 0.5),
                      markerscale=2, frameon=False)
        else:
            scatter_kwargs.setdefault("cmap", "viridis")
            if y.dtype.kind not in "biuf":  # many string labels: colour by class index
                y = np.unique(y, return_inverse=True)[1]
            paths = ax.scatter(points[:, 0], points[:, 1], c=y, **scatter_kwargs)
            ax.figure.colorbar(paths, ax=ax, label="y")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def plot_reconstructions(est, X, image_shape=None, n=8, axes=None, **kwargs):
    """Draw rows of ``X`` (top row) above their reconstructions (bottom row).

    Each reconstruction is ``est.inverse_transform(est.transform(row))``.
    Images of both rows share one grey scale, from the smallest to the
    largest value of the originals (pass ``vmin`` and ``vmax`` to choose
    another, e.g. for noisy inputs).

    Parameters
    ----------
    est : fitted transformer
        A fitted skae estimator, or any fitted transformer with
        ``inverse_transform`` (e.g. a Pipeline of autoencoders).
    X : array-like of shape (n_samples, n_features)
        Data; its first ``n`` rows are drawn.
    image_shape : tuple (H, W) or (C, H, W), None or False, default=None
        Shape of the images. None takes the estimator's ``image_shape``,
        else a square guess; False draws line plots.
    n : int, default=8
        Number of rows of ``X`` to draw.
    axes : array-like of matplotlib.axes.Axes of shape (2, n), default=None
        Axes to draw on; a new figure is created if None.
    **kwargs : dict
        Passed to :meth:`matplotlib.axes.Axes.imshow` for images (e.g.
        ``cmap``, ``vmin``, ``vmax``) or :meth:`matplotlib.axes.Axes.plot`
        for lines.

    Returns
    -------
    axes : ndarray of matplotlib.axes.Axes of shape (2, n)
        Originals in ``axes[0]``, reconstructions in ``axes[1]``.

    See Also
    --------
    plot_latent_grid : Decode a grid over two latent dimensions.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_reconstructions
    >>> X = load_digits().data / 16
    >>> ae = AutoencoderTransformer(n_components=8, hidden_layer_sizes=(32,), max_iter=3,
    ...                             random_state=0).fit(X)
    >>> axes = plot_reconstructions(ae, X, n=5)
    >>> axes.shape, axes[0, 0].images[0].get_array().shape
    ((2, 5), (8, 8))
    """
    if not isinstance(n, Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    rows = _rows(X, n)
    reconstructed = np.asarray(est.inverse_transform(est.transform(rows)), dtype=float)
    originals = np.asarray(rows, dtype=float)
    n = len(originals)
    shape = _image_shape(est, image_shape, originals.shape[1])
    if axes is None:
        size = (1.1 * n, 2.6) if shape is not None else (1.8 * n, 3.4)
        _, axes = plt.subplots(2, n, figsize=size, squeeze=False, layout="constrained")
    axes = np.asarray(axes, dtype=object)
    if axes.shape != (2, n):
        axes = axes.reshape(-1) if axes.size == 2 * n else None
        if axes is None:
            raise ValueError(f"axes must hold 2 x {n} Axes, one per original and reconstruction.")
        axes = axes.reshape(2, n)
    limits = _limits(originals)
    if shape is not None:
        for row, data in zip(axes, (originals, reconstructed)):
            for ax, image in zip(row, _to_images(data, shape)):
                _show(ax, image, limits, **kwargs)
                ax.set_xticks([])
                ax.set_yticks([])
    else:
        pad = 0.05 * (limits[1] - limits[0])
        for row, data, color in zip(axes, (originals, reconstructed), ("C0", "C1")):
            for ax, values in zip(row, data):
                ax.plot(values, **{"color": color, **kwargs})
                ax.set_ylim(limits[0] - pad, limits[1] + pad)
        for ax in axes[1]:
            ax.set_xlabel("feature")
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("reconstructed")
    return axes


def plot_latent_grid(est, extent=(-2, 2), n=10, image_shape=None, dims=(0, 1), ax=None,
                     **kwargs):
    """Decode a regular grid over two latent dimensions into one picture.

    The codes of an ``n`` x ``n`` grid spanning ``extent`` along latent
    dimensions ``dims`` (all other dimensions 0) are decoded and the images
    tiled, the first dimension growing to the right and the second upwards:
    the classic picture of a 2-D VAE's latent space. The axes are labelled
    in latent coordinates.

    Parameters
    ----------
    est : AutoencoderTransformer or VAETransformer
        A fitted skae estimator whose rows are images.
    extent : tuple (low, high), default=(-2, 2)
        Range of both latent coordinates; (-2, 2) covers most of a VAE's
        standard normal prior. A plain autoencoder's codes may need another
        range (see ``est.transform(X).min(axis=0)``).
    n : int, default=10
        Grid points per dimension.
    image_shape : tuple (H, W) or (C, H, W) or None, default=None
        Shape of the images. None takes the estimator's ``image_shape``,
        else a square guess.
    dims : tuple of two int, default=(0, 1)
        The latent dimensions spanned by the grid.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.
    **kwargs : dict
        Passed to :meth:`matplotlib.axes.Axes.imshow` (e.g. ``cmap``,
        ``vmin``, ``vmax``; by default the decoded range).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes holding the tiled picture (one image).

    See Also
    --------
    plot_samples : Decode random draws from a VAE's prior.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> from skae.plotting import plot_latent_grid
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    >>> ax = plot_latent_grid(vae, n=10)
    >>> ax.images[0].get_array().shape  # 10 x 10 tiles of 8 x 8 pixels, 1-pixel gaps
    (89, 89)
    """
    check_is_fitted(est)
    k = est.n_components_
    dims = tuple(dims)
    if (len(dims) != 2 or not all(isinstance(d, Integral) and 0 <= d < k for d in dims)
            or dims[0] == dims[1]):
        raise ValueError(
            f"dims must be two different latent dimensions in [0, {k}), got {dims!r}"
            + (" (the estimator has a single latent dimension)." if k == 1 else ".")
        )
    if not isinstance(n, Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}.")
    low, high = (float(v) for v in extent)
    if not high > low:
        raise ValueError(f"extent must be (low, high) with low < high, got {extent!r}.")
    shape = _image_shape(est, image_shape, est.n_features_in_)
    _need_images(shape, "plot_latent_grid")

    values = np.linspace(low, high, n)
    cols, rows = np.meshgrid(values, values[::-1])  # tile (0, 0) at the top left
    Z = np.zeros((n * n, k))
    Z[:, dims[0]], Z[:, dims[1]] = cols.ravel(), rows.ravel()
    images = _to_images(est.inverse_transform(Z), shape)
    picture = _tile(images, n, n)
    # Put each tile's centre at its grid point: tiles are h x w pixels with
    # a 1-pixel gap, and grid points are `step` apart.
    step = (high - low) / (n - 1)
    h, w = images.shape[1:3]
    x_half, y_half = step * w / 2 / (w + 1), step * h / 2 / (h + 1)
    kwargs.setdefault("extent", (low - x_half, high + x_half, low - y_half, high + y_half))
    ax = _new_axes(ax, figsize=(6, 6))
    _show(ax, picture, _limits(picture), **kwargs)
    ax.set_xlabel(f"latent {dims[0]}")
    ax.set_ylabel(f"latent {dims[1]}")
    ax.set_title("Decoded latent grid")
    return ax


def plot_samples(vae, n=16, image_shape=None, random_state=None, ax=None, **kwargs):
    """Draw a grid of rows generated by ``vae.sample(n)``.

    Parameters
    ----------
    vae : VAETransformer
        A fitted estimator with a ``sample`` method.
    n : int, default=16
        Number of samples, tiled in a near-square grid.
    image_shape : tuple (H, W) or (C, H, W), None or False, default=None
        Shape of the images. None takes the estimator's ``image_shape``,
        else a square guess; False draws line plots.
    random_state : int, RandomState instance or None, default=None
        Seeds the prior draws.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.
    **kwargs : dict
        Passed to :meth:`matplotlib.axes.Axes.imshow` for images (e.g.
        ``cmap``, ``vmin``, ``vmax``; by default the range of the samples) or
        :meth:`matplotlib.axes.Axes.plot` for lines.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes holding the tiled samples (one image), or one line per
        sample.

    See Also
    --------
    skae.VAETransformer.sample : The samples as an array.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> from skae.plotting import plot_samples
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    >>> ax = plot_samples(vae, n=12, random_state=0)
    >>> ax.images[0].get_array().shape  # 3 rows of 4 digits, 1-pixel gaps
    (26, 35)
    """
    if not hasattr(vae, "sample"):
        raise TypeError(f"plot_samples needs an estimator with a sample method, "
                        f"got {type(vae).__name__}.")
    if not isinstance(n, Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    X = vae.sample(n, random_state=random_state)
    shape = _image_shape(vae, image_shape, X.shape[1])
    ax = _new_axes(ax, figsize=(5, 5))
    if shape is None:
        for row in X:
            ax.plot(row, **{"alpha": 0.6, **kwargs})
        ax.set_xlabel("feature")
        ax.set_ylabel("value")
    else:
        n_cols = math.ceil(math.sqrt(n))
        picture = _tile(_to_images(X, shape), math.ceil(n / n_cols), n_cols)
        _show(ax, picture, _limits(picture), **kwargs)
        ax.set_axis_off()
    ax.set_title(f"{n} samples from the prior")
    return ax


def plot_interpolation(est, x_a, x_b, n_steps=8, image_shape=None, method="linear", ax=None,
                       **kwargs):
    """Draw the decoded path between the codes of two rows.

    Uses :func:`skae.interpolate`; the path runs from the reconstruction of
    ``x_a`` (t=0) to that of ``x_b`` (t=1).

    Parameters
    ----------
    est : AutoencoderTransformer or VAETransformer
        A fitted skae estimator.
    x_a, x_b : array-like of shape (n_features,) or (1, n_features)
        The two end points, in data space.
    n_steps : int, default=8
        Number of points on the path, end points included.
    image_shape : tuple (H, W) or (C, H, W), None or False, default=None
        Shape of the images. None takes the estimator's ``image_shape``,
        else a square guess; False draws line plots.
    method : {'linear', 'spherical'}, default='linear'
        Interpolation between the codes (see :func:`skae.interpolate`).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.
    **kwargs : dict
        Passed to :meth:`matplotlib.axes.Axes.imshow` for images (e.g.
        ``cmap``, ``vmin``, ``vmax``; by default the range of the path) or
        :meth:`matplotlib.axes.Axes.plot` for lines.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes holding the strip of decoded images (one image, ticks at
        the values of t), or one line per step.

    See Also
    --------
    skae.interpolate : The decoded path as an array.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> from skae.plotting import plot_interpolation
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X)
    >>> ax = plot_interpolation(vae, X[0], X[1], n_steps=6)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['0', '0.2', '0.4', '0.6', '0.8', '1']
    """
    path = interpolate(est, x_a, x_b, n_steps=n_steps, method=method)
    t = np.linspace(0.0, 1.0, n_steps)
    shape = _image_shape(est, image_shape, path.shape[1])
    if ax is None:
        ax = _new_axes(None, figsize=(1.0 * n_steps + 0.5, 2.0) if shape else (6, 4))
    if shape is None:
        cmap = plt.get_cmap("viridis")
        for value, row in zip(t, path):
            ax.plot(row, **{"color": cmap(value), **kwargs})
        mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
        ax.figure.colorbar(mappable, ax=ax, label="t")
        ax.set_xlabel("feature")
        ax.set_ylabel("value")
    else:
        picture = _tile(_to_images(path, shape), 1, n_steps)
        _show(ax, picture, _limits(picture), **kwargs)
        width = shape[2] if shape[0] in (1, 3, 4) else shape[0] * shape[2]
        ax.set_xticks([(width + 1) * i + (width - 1) / 2 for i in range(n_steps)])
        ax.set_xticklabels([f"{value:.2g}" for value in t])
        ax.set_yticks([])
        ax.set_xlabel("t")
    ax.set_title(f"{method.capitalize()} interpolation")
    return ax


def plot_explanation(detector, X, n=5, max_features=10, ax=None, **barh_kwargs):
    """Bar chart of each column's share of the anomaly of a few rows.

    Draws :meth:`skae.OutlierDetector.explain` for the first ``n`` rows of
    ``X`` (pass the rows of interest, e.g. the most anomalous): one group of
    horizontal bars per column, one bar per row, for the ``max_features``
    columns with the largest share in any of these rows.

    Parameters
    ----------
    detector : OutlierDetector
        A fitted detector.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Rows to explain, in the format ``detector`` was fitted on.
    n : int, default=5
        How many rows (the first ones) to draw.
    max_features : int, default=10
        How many columns to show, the largest shares first.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure is created if None.
    **barh_kwargs
        Passed to :meth:`matplotlib.axes.Axes.barh`.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes with one bar container per row, labelled ``row <i>`` (its
        position in ``X``) and its ``decision_function`` for the legend.

    See Also
    --------
    skae.OutlierDetector.explain : The shares drawn here.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer, OutlierDetector
    >>> from skae.plotting import plot_explanation
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 2) @ rng.randn(2, 5)
    >>> detector = OutlierDetector(AutoencoderTransformer(2, max_iter=5), random_state=0)
    >>> detector = detector.fit(X)
    >>> ax = plot_explanation(detector, X[:3])
    >>> len(ax.containers)
    3
    """
    check_is_fitted(detector, "offset_")
    if not (isinstance(n, Integral) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if not (isinstance(max_features, Integral) and max_features >= 1):
        raise ValueError(f"max_features must be a positive integer, got {max_features!r}.")
    rows = _rows(X, n)
    shares = detector.explain(rows)
    decision = detector.decision_function(rows)
    names = getattr(detector, "feature_names_in_", None)
    if hasattr(shares, "columns"):  # a DataFrame's shares come with its column names
        names, shares = np.asarray(shares.columns), shares.to_numpy()
    elif names is None:
        names = np.array([f"x{j}" for j in range(shares.shape[1])])
    order = np.argsort(-shares.max(axis=0), kind="stable")[:max_features][::-1]
    ax = _new_axes(ax, figsize=(7, 1 + 0.35 * len(order) * max(1, len(rows) / 2)))
    height = 0.8 / len(rows)
    positions = np.arange(len(order))
    for i in range(len(rows)):
        offset = (i - (len(rows) - 1) / 2) * height
        ax.barh(positions - offset, shares[i, order], height=height,
                label=f"row {i} (decision {decision[i]:.3g})", **barh_kwargs)
    ax.set_yticks(positions, [str(names[j]) for j in order])
    ax.set_xlabel("share of the anomaly score")
    ax.set_xlim(0, 1)
    ax.set_title("Which columns make each row anomalous")
    ax.legend(loc="lower right")
    return ax
