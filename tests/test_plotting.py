"""skae.plotting: what each helper draws, on tiny fitted estimators."""

import importlib
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer, VAETransformer, interpolate

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    from skae import plotting
except ImportError:  # the import guard test still runs
    plt = None

needs_matplotlib = pytest.mark.skipif(plt is None, reason="matplotlib is not installed")

FAST = {"hidden_layer_sizes": (16,), "max_iter": 2, "batch_size": 64, "random_state": 0}


def test_import_without_matplotlib_raises_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.delitem(sys.modules, "skae.plotting", raising=False)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[plot\]'"):
        importlib.import_module("skae.plotting")


# ------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


@pytest.fixture(scope="module")
def ae2(digits):
    return AutoencoderTransformer(2, **FAST).fit(digits[0])


@pytest.fixture(scope="module")
def ae8(digits):
    return AutoencoderTransformer(8, **FAST).fit(digits[0])


@pytest.fixture(scope="module")
def vae(digits):
    return VAETransformer(2, **FAST).fit(digits[0])


def image_data(ax):
    """The array shown by the single image of ``ax``."""
    (image,) = ax.images
    return np.ma.getdata(image.get_array())


# ------------------------------------------------------ plot_loss_curve


@needs_matplotlib
class TestPlotLossCurve:
    def test_autoencoder_draws_the_training_loss_per_epoch(self, ae8):
        ax = plotting.plot_loss_curve(ae8)
        assert isinstance(ax, Axes)
        (line,) = ax.get_lines()
        assert line.get_label() == "training loss"
        assert_allclose(line.get_xdata(), np.arange(1, ae8.n_iter_ + 1))
        assert_allclose(line.get_ydata(), ae8.loss_curve_)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")
        assert "AutoencoderTransformer" in ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss"]

    def test_validation_loss_is_drawn_dashed_with_early_stopping(self, digits):
        est = AutoencoderTransformer(2, early_stopping=True, **FAST).fit(digits[0])
        ax = plotting.plot_loss_curve(est)
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"training loss", "validation loss"}
        assert lines["validation loss"].get_linestyle() == "--"
        assert_allclose(lines["validation loss"].get_ydata(), est.validation_loss_curve_)

    def test_vae_adds_reconstruction_and_kl_lines(self, vae):
        ax = plotting.plot_loss_curve(vae)
        lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        assert list(lines) == ["training loss", "training reconstruction", "training KL"]
        history = vae.net_.history
        assert_allclose(lines["training reconstruction"], history[:, "train_reconstruction"])
        assert_allclose(lines["training KL"], history[:, "train_kl"])
        # beta=1: the loss is the sum of its two terms
        assert_allclose(lines["training loss"],
                        lines["training reconstruction"] + lines["training KL"], rtol=1e-5)

    def test_kl_warmup_weight_goes_on_a_second_y_axis(self, digits):
        est = VAETransformer(2, kl_warmup=2, **{**FAST, "max_iter": 3}).fit(digits[0])
        ax = plotting.plot_loss_curve(est)
        assert len(ax.figure.axes) == 2
        twin = next(other for other in ax.figure.axes if other is not ax)
        (weight,) = twin.get_lines()
        assert_allclose(weight.get_ydata(), [0.0, 0.5, 1.0])
        assert twin.get_ylabel() == "KL weight"
        assert "KL weight" in [t.get_text() for t in ax.get_legend().get_texts()]

    def test_draws_on_the_given_axes(self, ae8):
        _, ax = plt.subplots()
        assert plotting.plot_loss_curve(ae8, ax=ax) is ax

    def test_unfitted_estimator_raises(self):
        with pytest.raises(NotFittedError):
            plotting.plot_loss_curve(AutoencoderTransformer())


# ---------------------------------------------------- plot_latent_space


@needs_matplotlib
class TestPlotLatentSpace:
    def test_two_dimensional_codes_one_collection_per_class(self, ae2, digits):
        X, y = digits
        ax = plotting.plot_latent_space(ae2, X, y)
        assert isinstance(ax, Axes)
        assert len(ax.collections) == 10
        assert sum(len(c.get_offsets()) for c in ax.collections) == len(X)
        first = ax.collections[0].get_offsets()
        assert_allclose(first, ae2.transform(X[y == 0]), rtol=1e-6)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(d) for d in range(10)]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("latent 0", "latent 1")
        assert "AutoencoderTransformer" in ax.get_title()

    def test_without_y_draws_one_collection_and_no_legend(self, ae2, digits):
        ax = plotting.plot_latent_space(ae2, digits[0])
        assert len(ax.collections) == 1
        assert ax.get_legend() is None

    def test_string_labels_name_the_legend_entries(self, ae2, digits):
        X, y = digits
        names = np.where(y % 2 == 0, "even", "odd")
        ax = plotting.plot_latent_space(ae2, X, names)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["even", "odd"]

    def test_continuous_y_gets_one_collection_and_a_colorbar(self, ae2, digits):
        X, _ = digits
        ax = plotting.plot_latent_space(ae2, X, X.mean(axis=1))
        assert len(ax.collections) == 1
        assert len(ax.figure.axes) == 2  # the colorbar's
        assert ax.get_legend() is None

    @pytest.mark.parametrize("method, xlabel", [
        ("pca", "PC 1"), ("tsne", "t-SNE 1"), ("kernel_pca", "kernel PCA 1"),
    ])
    def test_wide_codes_are_projected_by_method(self, ae8, digits, method, xlabel):
        X, y = digits[0][:120], digits[1][:120]
        ax = plotting.plot_latent_space(ae8, X, y, method=method)
        assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, xlabel[:-1] + "2")
        assert "8-dimensional codes" in ax.get_title()
        assert sum(len(c.get_offsets()) for c in ax.collections) == len(X)

    def test_pca_projection_is_pca_of_the_codes(self, ae8, digits):
        X = digits[0]
        ax = plotting.plot_latent_space(ae8, X)
        expected = PCA(n_components=2).fit_transform(ae8.transform(X))
        assert_allclose(ax.collections[0].get_offsets(), expected, rtol=1e-5, atol=1e-6)

    def test_method_may_be_a_transformer(self, ae8, digits):
        ax = plotting.plot_latent_space(ae8, digits[0], method=PCA(2, whiten=True))
        assert ax.get_xlabel() == "PCA 1"
        assert_allclose(ax.collections[0].get_offsets().std(axis=0), 1.0, rtol=0.01)

    def test_one_dimensional_codes_are_drawn_against_the_row_index(self, digits):
        X = digits[0]
        est = AutoencoderTransformer(1, **FAST).fit(X)
        ax = plotting.plot_latent_space(est, X)
        offsets = ax.collections[0].get_offsets()
        assert_allclose(offsets[:, 0], np.arange(len(X)))
        assert_allclose(offsets[:, 1], est.transform(X)[:, 0], rtol=1e-6)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("sample index", "latent 0")

    def test_scatter_kwargs_are_passed_through(self, ae2, digits):
        ax = plotting.plot_latent_space(ae2, digits[0], s=3, marker="x")
        assert_allclose(ax.collections[0].get_sizes(), [3])

    def test_unknown_method_raises(self, ae8, digits):
        with pytest.raises(ValueError, match="method must be one of"):
            plotting.plot_latent_space(ae8, digits[0], method="umap")

    def test_y_of_the_wrong_length_raises(self, ae2, digits):
        with pytest.raises(ValueError, match="y has 3 entries"):
            plotting.plot_latent_space(ae2, digits[0], [0, 1, 2])


# ------------------------------------------------- plot_reconstructions


@needs_matplotlib
class TestPlotReconstructions:
    def test_originals_above_reconstructions_as_8x8_images(self, ae8, digits):
        X = digits[0]
        axes = plotting.plot_reconstructions(ae8, X, n=5)
        assert isinstance(axes, np.ndarray) and axes.shape == (2, 5)
        assert all(isinstance(ax, Axes) for ax in axes.flat)
        reconstructed = ae8.inverse_transform(ae8.transform(X[:5]))
        for i in range(5):
            assert_allclose(image_data(axes[0, i]), X[i].reshape(8, 8))
            assert_allclose(image_data(axes[1, i]), reconstructed[i].reshape(8, 8), rtol=1e-6)
        assert axes[0, 0].get_ylabel() == "original"
        assert axes[1, 0].get_ylabel() == "reconstructed"

    def test_both_rows_share_the_originals_grey_scale(self, ae8, digits):
        axes = plotting.plot_reconstructions(ae8, digits[0], n=3)
        limits = {ax.images[0].get_clim() for ax in axes.flat}
        assert limits == {(0.0, 1.0)}

    def test_image_shape_argument_overrides_the_square_guess(self, ae8, digits):
        axes = plotting.plot_reconstructions(ae8, digits[0], image_shape=(4, 16), n=2)
        assert image_data(axes[0, 0]).shape == (4, 16)

    def test_estimator_image_shape_is_the_default(self, digits):
        est = AutoencoderTransformer(
            2, image_shape=(1, 4, 16), conv_channels=(4,), **FAST).fit(digits[0])
        axes = plotting.plot_reconstructions(est, digits[0], n=2)
        assert image_data(axes[1, 1]).shape == (4, 16)

    def test_three_channels_are_drawn_in_colour(self):
        X = np.random.RandomState(0).uniform(size=(50, 48))
        est = AutoencoderTransformer(2, **FAST).fit(X)
        axes = plotting.plot_reconstructions(est, X, image_shape=(3, 4, 4), n=2)
        assert image_data(axes[0, 0]).shape == (4, 4, 3)
        # colour images are scaled to [0, 1] by the originals' range
        lo, hi = X[:2].min(), X[:2].max()
        assert_allclose(image_data(axes[0, 0])[..., 1], (X[0].reshape(3, 4, 4)[1] - lo) / (hi - lo))

    @pytest.mark.parametrize("n_features, image_shape", [(10, None), (64, False)])
    def test_rows_without_an_image_shape_are_line_plots(self, n_features, image_shape):
        X = np.random.RandomState(0).normal(size=(40, n_features))
        est = AutoencoderTransformer(2, **FAST).fit(X)
        axes = plotting.plot_reconstructions(est, X, image_shape=image_shape, n=3)
        assert axes.shape == (2, 3)
        assert all(len(ax.get_lines()) == 1 and not ax.images for ax in axes.flat)
        assert_allclose(axes[0, 2].get_lines()[0].get_ydata(), X[2])
        assert axes[1, 0].get_xlabel() == "feature"

    def test_works_with_a_pipeline_of_autoencoders(self, digits):
        X = digits[0]
        stacked = make_pipeline(AutoencoderTransformer(16, **FAST),
                                AutoencoderTransformer(4, **FAST)).fit(X)
        axes = plotting.plot_reconstructions(stacked, X, n=4)
        assert_allclose(image_data(axes[1, 3]),
                        stacked.inverse_transform(stacked.transform(X[3:4])).reshape(8, 8),
                        rtol=1e-6)

    def test_draws_on_the_given_axes(self, ae8, digits):
        _, axes = plt.subplots(2, 4)
        assert plotting.plot_reconstructions(ae8, digits[0], n=4, axes=axes) is not None
        assert all(len(ax.images) == 1 for ax in axes.flat)

    def test_axes_of_the_wrong_size_raise(self, ae8, digits):
        _, axes = plt.subplots(2, 3)
        with pytest.raises(ValueError, match="2 x 4 Axes"):
            plotting.plot_reconstructions(ae8, digits[0], n=4, axes=axes)

    def test_image_shape_of_the_wrong_size_raises(self, ae8, digits):
        with pytest.raises(ValueError, match="64 features"):
            plotting.plot_reconstructions(ae8, digits[0], image_shape=(9, 9))


# ----------------------------------------------------- plot_latent_grid


@needs_matplotlib
class TestPlotLatentGrid:
    def test_tiles_an_n_by_n_grid_of_decoded_images(self, vae):
        ax = plotting.plot_latent_grid(vae, n=10)
        assert isinstance(ax, Axes)
        picture = image_data(ax)
        assert picture.shape == (10 * 8 + 9, 10 * 8 + 9)  # 1-pixel gaps
        # top left is (low, high), bottom right (high, low): the second
        # latent dimension grows upwards, as on the axes
        top_left, bottom_right = vae.inverse_transform([[-2.0, 2.0], [2.0, -2.0]])
        assert_allclose(picture[:8, :8], top_left.reshape(8, 8), rtol=1e-5)
        assert_allclose(picture[-8:, -8:], bottom_right.reshape(8, 8), rtol=1e-5)

    def test_axes_are_in_latent_coordinates(self, vae):
        ax = plotting.plot_latent_grid(vae, extent=(-3, 1), n=5)
        # 5 tiles of 8 pixels and 4 gaps span 44 pixels; tile centres sit at
        # pixels 4, 13, ..., 40 (from the left edge) and map to -3, -2, ..., 1
        left, right, bottom, top = ax.images[0].get_extent()
        pixel = (right - left) / 44
        assert_allclose([left + (4 + 9 * j) * pixel for j in range(5)], [-3, -2, -1, 0, 1])
        assert_allclose((bottom, top), (left, right))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("latent 0", "latent 1")
        assert ax.get_title() == "Decoded latent grid"

    def test_other_dimensions_are_zero(self, digits):
        est = VAETransformer(3, **FAST).fit(digits[0])
        ax = plotting.plot_latent_grid(est, n=3, dims=(2, 0))
        (expected,) = est.inverse_transform([[2.0, 0.0, -2.0]])  # top left: dim 2 low, dim 0 high
        assert_allclose(image_data(ax)[:8, :8], expected.reshape(8, 8), rtol=1e-5)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("latent 2", "latent 0")

    @pytest.mark.parametrize("dims", [(0, 0), (0, 2), (0,)])
    def test_bad_dims_raise(self, vae, dims):
        with pytest.raises(ValueError, match="dims must be two different latent dimensions"):
            plotting.plot_latent_grid(vae, dims=dims)

    def test_needs_images(self):
        X = np.random.RandomState(0).normal(size=(40, 10))
        est = AutoencoderTransformer(2, **FAST).fit(X)
        with pytest.raises(ValueError, match="image_shape"):
            plotting.plot_latent_grid(est)


# --------------------------------------------------------- plot_samples


@needs_matplotlib
class TestPlotSamples:
    def test_tiles_the_samples_in_a_near_square_grid(self, vae):
        ax = plotting.plot_samples(vae, n=12, random_state=0)
        assert isinstance(ax, Axes)
        picture = image_data(ax)
        assert picture.shape == (3 * 8 + 2, 4 * 8 + 3)  # 3 x 4 tiles, 1-pixel gaps
        samples = vae.sample(12, random_state=0)
        assert_allclose(picture[9:17, 18:26], samples[6].reshape(8, 8), rtol=1e-6)
        assert np.isnan(picture[8]).all()  # the gap row
        assert ax.get_title() == "12 samples from the prior"

    def test_line_plots_without_image_shape(self, vae):
        ax = plotting.plot_samples(vae, n=5, image_shape=False)
        assert len(ax.get_lines()) == 5 and not ax.images

    def test_needs_a_sample_method(self, ae2):
        with pytest.raises(TypeError, match="sample"):
            plotting.plot_samples(ae2)


# --------------------------------------------------- plot_interpolation


@needs_matplotlib
class TestPlotInterpolation:
    def test_strip_of_decoded_images_with_t_ticks(self, vae, digits):
        X = digits[0]
        ax = plotting.plot_interpolation(vae, X[0], X[1], n_steps=5)
        assert isinstance(ax, Axes)
        picture = image_data(ax)
        assert picture.shape == (8, 5 * 8 + 4)
        path = interpolate(vae, X[0], X[1], n_steps=5)
        assert_allclose(picture[:, 36:44], path[4].reshape(8, 8), rtol=1e-6)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.25", "0.5", "0.75", "1"]
        assert ax.get_xlabel() == "t"
        assert ax.get_title() == "Linear interpolation"

    def test_spherical_method(self, vae, digits):
        X = digits[0]
        ax = plotting.plot_interpolation(vae, X[0], X[1], n_steps=4, method="spherical")
        path = interpolate(vae, X[0], X[1], n_steps=4, method="spherical")
        assert_allclose(image_data(ax)[:, 9:17], path[1].reshape(8, 8), rtol=1e-6)
        assert ax.get_title() == "Spherical interpolation"

    def test_line_plots_without_image_shape(self, ae2, digits):
        X = digits[0]
        ax = plotting.plot_interpolation(ae2, X[0], X[1], n_steps=6, image_shape=False)
        assert len(ax.get_lines()) == 6
        assert len(ax.figure.axes) == 2  # the colorbar of t


@needs_matplotlib
def test_imshow_keywords_override_the_default_scale_and_colour_map(ae8, vae, digits):
    X = digits[0]
    axes = plotting.plot_reconstructions(ae8, X + 5, n=2, vmin=0, vmax=1, cmap="viridis")
    assert {ax.images[0].get_clim() for ax in axes.flat} == {(0, 1)}
    assert axes[1, 1].images[0].get_cmap().name.startswith("viridis")
    ax = plotting.plot_samples(vae, n=4, vmin=-1, vmax=2)
    assert ax.images[0].get_clim() == (-1, 2)
    ax = plotting.plot_latent_grid(vae, n=3, interpolation="bilinear")
    assert ax.images[0].get_interpolation() == "bilinear"
    ax = plotting.plot_interpolation(vae, X[0], X[1], n_steps=3, image_shape=False, lw=3)
    assert all(line.get_linewidth() == 3 for line in ax.get_lines())
