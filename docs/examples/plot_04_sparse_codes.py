"""
===================
Sparse autoencoders
===================

``sparsity`` adds an L1 penalty on the codes to the training loss:
``sparsity`` times the mean absolute code of each row. The hope is codes in
which each row uses only a few units.

An L1 penalty has a cheap way out, though: shrinking every code and growing
the decoder's weights to match lowers it without making anything sparse.
So this example measures sparsity in ways the scale does not change: the
fraction of each row's codes under 5% of the row's largest one in
magnitude, and the number of *active units* per row, the participation
ratio ``(sum |z|)^2 / sum z^2`` (k when all k codes are equal, 1 when one
code carries the row).
"""

# %%
# A sweep over the penalty
# ------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

sparsities = [0.0, 0.1, 0.3, 1.0]
results = {}
for sparsity in sparsities:
    ae = AutoencoderTransformer(
        n_components=32, hidden_layer_sizes=(128,), sparsity=sparsity, max_iter=40,
        random_state=0,
    ).fit(X_train)
    Z = ae.transform(X_test)
    magnitude = np.abs(Z)
    relative = magnitude / magnitude.max(axis=1, keepdims=True)
    results[sparsity] = {
        "relative": relative,
        "near zero": np.mean(relative < 0.05),
        "active units": np.mean(magnitude.sum(axis=1) ** 2 / (Z**2).sum(axis=1)),
        "mean |code|": magnitude.mean(),
        "MSE": np.mean((ae.inverse_transform(Z) - X_test) ** 2),
    }
    r = results[sparsity]
    print(f"sparsity={sparsity:<4} MSE {r['MSE']:.4f}  mean |code| {r['mean |code|']:.3f}  "
          f"active units {r['active units']:4.1f} of 32  near zero {r['near zero']:.0%}")

# %%
# A mild penalty (0.1) mostly shrinks the codes: their mean magnitude drops
# more than tenfold, the reconstruction error rises by about a third, and
# the number of active units hardly changes (from about 21 to 19 of 32).
# Only a strong penalty makes the codes sparse, and it costs reconstruction
# quality. When tuning ``sparsity``, judge it by a measure that ignores the
# scale, as here, not by the codes' mean magnitude.
#
# Code histograms
# ---------------
# The magnitude of each code relative to its row's largest: with a strong
# penalty, the mass piles up near zero and a few units carry each row.
fig, axes = plt.subplots(1, len(sparsities), figsize=(12, 3), sharey=True,
                         layout="constrained")
bins = np.linspace(0, 1, 21)
for ax, sparsity in zip(axes, sparsities):
    ax.hist(results[sparsity]["relative"].ravel(), bins=bins, color="C0")
    ax.axvline(0.05, color="k", ls=":")
    ax.set(title=f"sparsity={sparsity}", xlabel="|code| / row's largest |code|")
axes[0].set_ylabel("number of codes")

# %%
# The trade-off
# -------------
fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
ax.plot([results[s]["active units"] for s in sparsities], [results[s]["MSE"] for s in sparsities],
        "o-")
for s in sparsities:
    ax.annotate(f"{s}", (results[s]["active units"], results[s]["MSE"]),
                textcoords="offset points", xytext=(8, -4))
ax.set(xlabel="active units per row (participation ratio)", ylabel="held-out MSE",
       yscale="log", title="Sparsity against reconstruction error\n(labels: sparsity)")
ax.margins(0.15)
ax.invert_xaxis()
plt.show()
