"""
==================================
Stacked autoencoders in a Pipeline
==================================

A stacked autoencoder trains its layers one at a time (Bengio et al., 2007):
a first autoencoder compresses the data, a second compresses the first's
codes, and so on. In scikit-learn terms that is a
:class:`~sklearn.pipeline.Pipeline` of autoencoders: ``fit`` trains each on
the output of the previous one, ``transform`` chains the encoders and
``inverse_transform`` chains the decoders in reverse.

Here a 64 -> 32 -> 8 stack is compared with one autoencoder that goes to 8
directly, and with PCA.
"""

# %%
# Three ways down to eight features
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer
from skae.plotting import plot_latent_space, plot_reconstructions

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

common = {"hidden_layer_sizes": (64,), "max_iter": 60, "random_state": 0}
stacked = make_pipeline(
    AutoencoderTransformer(32, **common),
    AutoencoderTransformer(8, **common),
)
models = {
    "stacked AE 64-32-8": stacked,
    "single AE 64-8": AutoencoderTransformer(8, **common),
    "PCA(8)": PCA(8),
}
for name, model in models.items():
    model.fit(X_train)
    X_hat = model.inverse_transform(model.transform(X_test))
    print(f"{name:20s} held-out MSE {np.mean((X_hat - X_test) ** 2):.4f}")

# %%
# The pipeline's steps are ordinary fitted estimators: the first maps the
# 64 pixels to 32 codes, the second those 32 codes to 8.
first, second = stacked.named_steps.values()
print(first.n_features_in_, "->", first.n_components_, "->", second.n_components_)
print(stacked.get_feature_names_out())

# %%
# Here the stack and the single autoencoder reach the same held-out error,
# both well below PCA's. Greedy training optimises each stage for its own
# input, not the whole stack for the pixels, so errors can add up: the
# second autoencoder's error on the first's codes comes on top of the
# first's own. Fine-tuning the whole stack end to end is what a single
# deeper autoencoder does (``hidden_layer_sizes=(64, 32)``).
#
# Reconstructions through the whole stack
# ---------------------------------------
# :func:`~skae.plotting.plot_reconstructions` takes any fitted transformer
# with ``inverse_transform``, a Pipeline included.
axes = plot_reconstructions(stacked, X_test, n=10)
axes[0, 0].figure.suptitle("Stacked autoencoder: test digits and reconstructions")

# %%
# The stacked codes
# -----------------
# The 8 codes of the stack, projected to two dimensions with PCA.
ax = plot_latent_space(stacked, X_test, y_test)
plt.show()
