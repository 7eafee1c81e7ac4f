"""
=========================================
Variational autoencoder: sample and morph
=========================================

A :class:`~skae.VAETransformer` learns a latent space without holes: its
encoder outputs a Gaussian posterior for each row, and the KL term of its
loss keeps these posteriors close to a standard normal prior. So codes
drawn from the prior decode to plausible data, and paths between codes pass
through plausible data too.

With a two-dimensional code, the whole latent space fits in one picture.
The pixels of the digits lie in [0, 1], so the decoder is a Bernoulli
(``loss='bce'``). A KL warm-up over the first epochs lets the decoder learn
before the prior pulls on the codes.

Set the environment variable ``SKAE_MNIST_DIR`` to a folder with the MNIST
IDX files to run the example on 10,000 MNIST digits instead.
"""

# %%
# Fit a 2-D VAE
# -------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import VAETransformer
from skae.datasets import load_mnist
from skae.plotting import (
    plot_interpolation,
    plot_latent_grid,
    plot_latent_space,
    plot_loss_curve,
    plot_samples,
)

if os.environ.get("SKAE_MNIST_DIR"):
    X, y = load_mnist(os.environ["SKAE_MNIST_DIR"], subset="train")
    X, y = X[:10_000].astype(np.float64), y[:10_000]
    max_iter = 20
else:
    X, y = load_digits(return_X_y=True)
    X = X / 16
    max_iter = 80
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

vae = VAETransformer(
    n_components=2, hidden_layer_sizes=(256, 128), loss="bce", kl_warmup=10,
    max_iter=max_iter, random_state=0,
).fit(X_train)

# %%
# The loss and its two terms
# --------------------------
# The loss is the negative ELBO: the reconstruction term (the Bernoulli
# negative log-likelihood, in nats) plus the KL weight times the KL term.
# The KL weight (dotted, right axis) grows over the warm-up.
plot_loss_curve(vae)

# %%
# The latent space
# ----------------
# The posterior means of the test digits, coloured by digit.
plot_latent_space(vae, X_test, y_test)

# %%
# Decoding a grid over [-2, 2] x [-2, 2], two standard deviations of the
# prior each way, shows what each region of the latent space stands for.
plot_latent_grid(vae, extent=(-2, 2), n=12)

# %%
# Samples from the prior
# ----------------------
# ``vae.sample(n)`` decodes ``n`` draws from N(0, I): the decoder's mean
# image, without pixel noise.
plot_samples(vae, n=36, random_state=0)

# %%
# Interpolation
# -------------
# Between the codes of two test digits, linearly and along a great circle
# (spherical interpolation keeps the code's norm typical of the prior).
a, b = X_test[y_test == 0][0], X_test[y_test == 7][0]
fig, axes = plt.subplots(2, 1, figsize=(9, 3.2), layout="constrained")
plot_interpolation(vae, a, b, n_steps=10, ax=axes[0])
plot_interpolation(vae, a, b, n_steps=10, method="spherical", ax=axes[1])

# %%
# How likely is the data?
# -----------------------
# ``score`` is the mean ELBO per row, a lower bound on log p(x);
# ``log_likelihood`` tightens it by importance sampling (the IWAE bound,
# here with 100 samples). Both are in nats per digit, and higher is better.
print(f"ELBO           {vae.score(X_test):9.2f} nats")
print(f"log-likelihood {vae.log_likelihood(X_test, n_importance=100).mean():9.2f} nats")
plt.show()
