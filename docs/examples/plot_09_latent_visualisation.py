"""
============================
Visualising the latent space
============================

:func:`~skae.plotting.plot_latent_space` scatters the codes of a fitted
estimator, coloured by a label. Two-dimensional codes are drawn as they
are. Wider codes are first projected to two dimensions, with ``method``:
PCA (linear, fast, keeps global distances), t-SNE (keeps neighbourhoods,
separates clusters, distorts distances) or kernel PCA (nonlinear, RBF
kernel).

All four panels show the digits of the test set.
"""

# %%
# Two autoencoders
# ----------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_latent_space

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

common = {"hidden_layer_sizes": (128, 64), "max_iter": 60, "batch_size": 128, "random_state": 0}
ae2 = AutoencoderTransformer(2, **common).fit(X_train)
ae16 = AutoencoderTransformer(16, **common).fit(X_train)

# %%
# Four views
# ----------
# A 2-D code as it is, then the 16-D codes through three projections.
fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
plot_latent_space(ae2, X_test, y_test, ax=axes[0, 0])
axes[0, 0].set_title("2-D codes")
for ax, method in zip(axes.flat[1:], ["pca", "tsne", "kernel_pca"]):
    plot_latent_space(ae16, X_test, y_test, method=method, ax=ax)
    ax.set_title(f"16-D codes, method='{method}'")
for ax in axes.flat[:-1]:
    ax.get_legend().remove()  # one legend is enough
plt.show()

# %%
# A 2-D bottleneck forces the autoencoder to arrange the digits in the plane
# itself, and classes overlap. The 16-D codes hold more, but a linear
# projection (PCA) shows only two directions of them; t-SNE reveals that
# most digits form their own cluster in the 16-D code space. Kernel PCA
# lies in between.
#
# Any transformer with ``fit_transform`` can be the projection, for other
# settings, e.g. ``method=TSNE(perplexity=50)``.
