"""
============
Tied weights
============

With ``tied_weights=True`` each decoder layer uses the transpose of the
matching encoder layer's weight matrix; only the decoder's biases are its
own. The model has about half the parameters, a classic regulariser
(and, for a linear autoencoder, a constraint that pushes the encoder towards
orthonormal rows, as in PCA).

This example compares tied and untied autoencoders of the same shape on
the digits: their parameter counts and their held-out reconstruction
errors for several code sizes.
"""

# %%
# Fit tied and untied models
# --------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)


def n_parameters(ae):
    return sum(p.numel() for p in ae.net_.module_.parameters())


ks = [2, 8, 32]
fitted = {}
for tied in (False, True):
    for k in ks:
        fitted[tied, k] = AutoencoderTransformer(
            k, hidden_layer_sizes=(128,), tied_weights=tied, max_iter=50, random_state=0,
        ).fit(X_train)


def held_out_mse(ae):
    return np.mean((ae.inverse_transform(ae.transform(X_test)) - X_test) ** 2)


print(" k   untied params  tied params   untied MSE  tied MSE")
for k in ks:
    untied, tied = fitted[False, k], fitted[True, k]
    print(f"{k:2d}   {n_parameters(untied):13d}  {n_parameters(tied):11d}   "
          f"{held_out_mse(untied):10.4f}  {held_out_mse(tied):8.4f}")

# %%
# The tied encoder is the decoder's transpose: the decoder's first layer
# holds no weight of its own, only a bias.
ae = fitted[True, 8]
code_layer, first_decoder_layer = ae.net_.module_.encoder[-1], ae.net_.module_.decoder[0]
print(first_decoder_layer, [name for name, _ in first_decoder_layer.named_parameters()])
print("same tensor:", first_decoder_layer.source.weight is code_layer.weight)

# %%
# Parameters and error
# --------------------
fig, (ax_params, ax_err) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
width = 0.35
for offset, tied, color in ((-width / 2, False, "C0"), (width / 2, True, "C1")):
    label = "tied" if tied else "untied"
    ax_params.bar(np.arange(len(ks)) + offset, [n_parameters(fitted[tied, k]) for k in ks],
                  width, color=color, label=label)
    ax_err.plot(range(len(ks)), [held_out_mse(fitted[tied, k]) for k in ks], "o-",
                color=color, label=label)
for ax in (ax_params, ax_err):
    ax.set(xticks=range(len(ks)), xticklabels=[f"k={k}" for k in ks])
ax_params.set(ylabel="trainable parameters", title="Model size")
ax_err.set(ylabel="held-out MSE", yscale="log", title="Reconstruction error")
ax_params.legend()
ax_err.legend()

# %%
# Training curves
# ---------------
# :func:`~skae.plotting.plot_loss_curve` draws into a given Axes, so both
# models share one; their lines are then recoloured and renamed.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for tied in (False, True):
    plot_loss_curve(fitted[tied, 8], ax=ax)
for line, label, color in zip(ax.get_lines(), ["untied", "tied"], ["C0", "C1"]):
    line.set(label=f"{label}, k=8", color=color)
ax.set(yscale="log", title="Training loss, k=8")
ax.legend()
plt.show()

# %%
# At equal shape, the tied model has about half the parameters. Its error
# stays close to the untied model's: somewhat higher for the small codes
# (k=2 and 8), where an independent decoder helps most, and slightly lower
# at k=32.
