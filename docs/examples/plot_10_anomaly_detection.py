"""
====================================
Anomaly detection with score_samples
====================================

An autoencoder trained on normal data reconstructs normal rows well and
unusual rows badly. ``score_samples`` turns this into an anomaly score: the
negative reconstruction error of each row for an
:class:`~skae.AutoencoderTransformer`, the ELBO (a lower bound on the
log-likelihood) for a :class:`~skae.VAETransformer`. Higher means more
normal, as for scikit-learn's outlier detectors.

Here digits 0-4 are the normal class. The models are asked to tell held-out
0-4 digits from digits 5-9 (a hard, semantic novelty) and from uniform
noise (an easy one). PCA's reconstruction error is the baseline.
"""

# %%
# Train on digits 0-4 only
# ------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import RocCurveDisplay, roc_auc_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
normal = y < 5
X_train, X_normal_test = train_test_split(X[normal], test_size=0.3, random_state=0)
X_novel = X[~normal][: len(X_normal_test)]
X_noise = np.random.default_rng(0).uniform(0, 1, size=X_normal_test.shape)

models = {
    "autoencoder": AutoencoderTransformer(
        8, hidden_layer_sizes=(128,), max_iter=60, random_state=0),
    "VAE": VAETransformer(
        8, hidden_layer_sizes=(128,), loss="bce", max_iter=60, random_state=0),
    "PCA": PCA(8),
}
for model in models.values():
    model.fit(X_train)


def score(model, X):
    """Higher is more normal: score_samples, or PCA's negative squared error."""
    if isinstance(model, PCA):
        return -np.mean((model.inverse_transform(model.transform(X)) - X) ** 2, axis=1)
    return model.score_samples(X)


# %%
# ROC AUC
# -------
# The area under the ROC curve of each score, for normal test digits
# against each kind of anomaly (1 is a perfect ranking, 0.5 chance).
for anomaly, X_anomaly in [("digits 5-9", X_novel), ("uniform noise", X_noise)]:
    labels = np.r_[np.zeros(len(X_normal_test)), np.ones(len(X_anomaly))]
    for name, model in models.items():
        scores = np.r_[score(model, X_normal_test), score(model, X_anomaly)]
        print(f"{anomaly:14s} {name:12s} ROC AUC {roc_auc_score(labels, -scores):.3f}")

# %%
# Score distributions and ROC curves
# ----------------------------------
# The autoencoder's scores: noise lies far below every digit, and most
# digits 5-9 score below the normal digits, with some overlap: a 9 shares
# strokes with a 4, a 5 with a 3. The VAE's ELBO mixes reconstruction with
# how typical the code is, and ranks these novel digits less well here.
ae = models["autoencoder"]
fig, (ax_hist, ax_roc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
bins = np.linspace(score(ae, X_noise).min(), score(ae, X_normal_test).max(), 60)
for X_part, label in [(X_normal_test, "digits 0-4 (normal)"), (X_novel, "digits 5-9"),
                      (X_noise, "uniform noise")]:
    ax_hist.hist(score(ae, X_part), bins=bins, alpha=0.6, label=label)
ax_hist.set(xlabel="score_samples (negative MSE)", ylabel="rows",
            title="Autoencoder scores of test rows")
ax_hist.legend()

labels = np.r_[np.zeros(len(X_normal_test)), np.ones(len(X_novel))]
for name, model in models.items():
    scores = np.r_[score(model, X_normal_test), score(model, X_novel)]
    RocCurveDisplay.from_predictions(labels, -scores, name=name, ax=ax_roc)
ax_roc.set_title("Normal digits against digits 5-9")
plt.show()

# %%
# A threshold turns scores into decisions, e.g. flag the rows that score
# below the 5th percentile of the training rows' scores. Training rows are
# reconstructed better than unseen ones, so such a threshold flags more
# than 5% of new normal rows: set it on held-out normal data when the false
# alarm rate matters.
threshold = np.percentile(ae.score_samples(X_train), 5)
print(f"flagged: {np.mean(ae.score_samples(X_normal_test) < threshold):.0%} of normal test "
      f"digits, {np.mean(ae.score_samples(X_novel) < threshold):.0%} of digits 5-9, "
      f"{np.mean(ae.score_samples(X_noise) < threshold):.0%} of noise")
