"""
======================
Denoising autoencoders
======================

A denoising autoencoder corrupts its inputs during training and learns to
reconstruct the clean rows (Vincent et al., 2008). With
``noise='gaussian'`` it adds ``noise_level`` times standard normal noise;
with ``noise='masking'`` it sets a fraction ``noise_level`` of the entries
to zero. The corruption happens only in training: ``transform`` and
``inverse_transform`` see the data as given.

We train a plain and two denoising autoencoders on clean digits and ask
each to clean corrupted test digits.
"""

# %%
# Three autoencoders, two kinds of noise
# --------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_reconstructions

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

common = {"n_components": 16, "hidden_layer_sizes": (128,), "loss": "bce", "max_iter": 60,
          "random_state": 0}
models = {
    "plain": AutoencoderTransformer(**common),
    "denoising (gaussian)": AutoencoderTransformer(noise="gaussian", noise_level=0.3, **common),
    "denoising (masking)": AutoencoderTransformer(noise="masking", noise_level=0.3, **common),
}
for model in models.values():
    model.fit(X_train)

# %%
# Corrupt the test digits the same two ways, with numpy.
rng = np.random.default_rng(0)
corrupted = {
    "gaussian noise": X_test + 0.3 * rng.standard_normal(X_test.shape),
    "masking noise": np.where(rng.random(X_test.shape) < 0.3, 0.0, X_test),
}

# %%
# Error against the clean digits
# ------------------------------
# Each bar is the mean squared error between the clean test digits and a
# model's reconstruction of their corrupted version; "no model" is the
# corrupted input itself.
errors = {name: {"no model": np.mean((X_noisy - X_test) ** 2)}
          for name, X_noisy in corrupted.items()}
for noise, X_noisy in corrupted.items():
    for name, model in models.items():
        cleaned = model.inverse_transform(model.transform(X_noisy))
        errors[noise][name] = np.mean((cleaned - X_test) ** 2)
    print(f"{noise}: " + ", ".join(f"{name} {value:.4f}" for name, value in errors[noise].items()))

fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
width = 0.2
for i, name in enumerate(["no model", *models]):
    values = [errors[noise][name] for noise in corrupted]
    ax.bar(np.arange(len(corrupted)) + (i - 1.5) * width, values, width, label=name)
ax.set(xticks=range(len(corrupted)), xticklabels=list(corrupted),
       ylabel="MSE to the clean digits", title="Cleaning corrupted test digits")
ax.legend()

# %%
# Any autoencoder removes some noise, since its output lies near the digits
# it was trained on. Each denoising model does best on the noise it was
# trained on; trained on masking noise, it is worse than the plain model on
# gaussian noise: denoising is learned for a kind of corruption.
#
# What the models see and return
# ------------------------------
# :func:`~skae.plotting.plot_reconstructions` draws inputs above outputs;
# its ``axes`` argument places the pairs of rows in one figure, under the
# clean digits, and ``vmin``/``vmax`` fix the grey scale to the clean range
# (by default it spans the noisy inputs' range).
n = 8
fig, axes = plt.subplots(5, n, figsize=(n, 5.6), layout="constrained")
for ax, image in zip(axes[0], X_test[:n]):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[])
axes[0, 0].set_ylabel("clean")
plot_reconstructions(models["plain"], corrupted["gaussian noise"], n=n, axes=axes[1:3],
                     vmin=0, vmax=1)
plot_reconstructions(models["denoising (gaussian)"], corrupted["gaussian noise"], n=n,
                     axes=axes[3:5], vmin=0, vmax=1)
axes[1, 0].set_ylabel("noisy")
axes[2, 0].set_ylabel("plain AE")
axes[3, 0].set_ylabel("noisy")
axes[4, 0].set_ylabel("denoising AE")
fig.suptitle("Gaussian noise (0.3): plain vs denoising autoencoder")
plt.show()
