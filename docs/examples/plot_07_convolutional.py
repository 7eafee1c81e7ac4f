"""
===================================
Convolutional autoencoder on images
===================================

With ``image_shape=(C, H, W)`` an autoencoder reads each row of ``X`` as a
flattened image and uses stride-2 convolutions in the encoder and
transposed convolutions in the decoder. ``X`` stays two-dimensional, so the
estimator still fits in a Pipeline and under a grid search.

The digits are 8 x 8 grey images, ``image_shape=(1, 8, 8)``. A convolutional
and a dense autoencoder with the same code size are compared.
"""

# %%
# Fit both
# --------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_reconstructions

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

common = {"n_components": 8, "loss": "bce", "max_iter": 40, "random_state": 0}
models = {
    "convolutional": AutoencoderTransformer(
        image_shape=(1, 8, 8), conv_channels=(16, 32), hidden_layer_sizes=(), **common),
    "dense": AutoencoderTransformer(hidden_layer_sizes=(128,), **common),
}
for name, model in models.items():
    model.fit(X_train)
    X_hat = model.inverse_transform(model.transform(X_test))
    n_params = sum(p.numel() for p in model.net_.module_.parameters())
    print(f"{name:14s} held-out MSE {np.mean((X_hat - X_test) ** 2):.4f}  "
          f"parameters {n_params}")

# %%
# The convolutional encoder: two stride-2 convolutions (8 x 8 -> 4 x 4 ->
# 2 x 2) with batch norm, then a linear layer to the code.
print(models["convolutional"].net_.module_.encoder)

# %%
# Originals and reconstructions
# -----------------------------
# :func:`~skae.plotting.plot_reconstructions` reads the image shape from the
# estimator's ``image_shape``.
n = 10
fig, axes = plt.subplots(3, n, figsize=(n, 3.4), layout="constrained")
plot_reconstructions(models["convolutional"], X_test, n=n, axes=axes[:2])
plot_reconstructions(models["dense"], X_test, n=n, axes=axes[[0, 2]])  # redraws row 0
axes[1, 0].set_ylabel("conv")
axes[2, 0].set_ylabel("dense")
fig.suptitle("Test digits, then their convolutional and dense reconstructions")
plt.show()

# %%
# Even on 8 x 8 images the convolutional model reconstructs a little better
# than the dense one, with fewer parameters: its filters are shared across
# the image. The gap grows with the image size, where a dense first layer
# needs ever more weights (``benchmarks/conv_mnist.py`` runs both on
# MNIST's 28 x 28 digits).
