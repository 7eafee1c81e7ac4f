"""
===================================================
Feature reduction for tabular data with mixed types
===================================================

Tables mix numbers and categories. A
:class:`~sklearn.compose.ColumnTransformer` one-hot encodes the categories
and standardises the numbers, and an autoencoder compresses the result into
a few dense features, all in one :class:`~sklearn.pipeline.Pipeline`. With
``set_output(transform="pandas")`` the codes come back as a DataFrame with
named columns.

The data are synthetic customers of a made-up subscription service: a few
hidden traits drive five numeric and three categorical columns, and whether
the customer churns.
"""

# %%
# A mixed-type table
# ------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer
from skae.plotting import plot_latent_space

rng = np.random.default_rng(0)
n = 2000
engagement, budget = rng.standard_normal(n), rng.standard_normal(n)
plan = np.select([budget > 0.7, budget > -0.5], ["premium", "standard"], "basic")
data = pd.DataFrame({
    "age": np.round(40 + 10 * budget + 8 * rng.standard_normal(n)).clip(18, 90),
    "monthly_spend": np.exp(3 + 0.5 * budget + 0.2 * rng.standard_normal(n)).round(2),
    "logins_per_week": rng.poisson(np.exp(1 + 0.8 * engagement)),
    "support_tickets": rng.poisson(np.exp(-0.5 - 0.7 * engagement)),
    "tenure_months": np.round(np.exp(2.5 + 0.6 * engagement + 0.5 * rng.standard_normal(n))),
    "plan": plan,
    "device": rng.choice(["android", "ios", "web"], size=n, p=[0.45, 0.35, 0.2]),
    "region": np.where(budget + 0.5 * rng.standard_normal(n) > 0, "urban", "rural"),
})
churn = rng.random(n) < 1 / (1 + np.exp(0.5 + 2.5 * engagement - 0.5 * budget))
data.head()

# %%
# Preprocessing and the autoencoder in one pipeline
# -------------------------------------------------
# ``sparse_output=False``: the autoencoder takes dense arrays. After
# encoding there are 5 + 3 + 3 + 2 = 13 columns; the autoencoder keeps 3.
numeric = ["age", "monthly_spend", "logins_per_week", "support_tickets", "tenure_months"]
categorical = ["plan", "device", "region"]
preprocess = ColumnTransformer([
    ("numbers", StandardScaler(), numeric),
    ("categories", OneHotEncoder(sparse_output=False), categorical),
])
reducer = make_pipeline(
    preprocess,
    AutoencoderTransformer(n_components=3, hidden_layer_sizes=(32,), max_iter=60,
                           random_state=0),
).set_output(transform="pandas")
codes = reducer.fit_transform(data)
codes.head()

# %%
# How much of the preprocessed table the three codes keep, against PCA with
# three components (errors in the standardised, one-hot space):
X_pre = preprocess.fit_transform(data)
ae = reducer[-1]
for name, model in [("autoencoder", ae), ("PCA", PCA(3).fit(X_pre))]:
    X_hat = model.inverse_transform(model.transform(X_pre))
    error = pd.Series(np.mean((np.asarray(X_hat) - np.asarray(X_pre)) ** 2, axis=0),
                      index=preprocess.get_feature_names_out())
    print(f"{name:12s} MSE {error.mean():.3f}  numbers {error.iloc[:5].mean():.3f}  "
          f"categories {error.iloc[5:].mean():.3f}")

# %%
# The codes, coloured by plan
# ---------------------------
# The three codes projected with PCA: the plans, driven by the hidden
# budget, spread along one direction.
plot_latent_space(reducer, data, data["plan"])

# %%
# Codes as features
# -----------------
# Cross-validated ROC AUC of a churn classifier on the 3 codes, on 3 PCA
# components, and on all 13 preprocessed columns.
candidates = {
    "autoencoder (3)": make_pipeline(
        preprocess, AutoencoderTransformer(3, hidden_layer_sizes=(32,), max_iter=60,
                                           random_state=0),
        LogisticRegression()),
    "PCA (3)": make_pipeline(preprocess, PCA(3), LogisticRegression()),
    "all columns (13)": make_pipeline(preprocess, LogisticRegression()),
}
auc = {name: cross_val_score(model, data, churn, cv=3, scoring="roc_auc").mean()
       for name, model in candidates.items()}
print(f"churn rate {churn.mean():.1%}")
for name, value in auc.items():
    print(f"{name:18s} ROC AUC {value:.3f}")

fig, ax = plt.subplots(figsize=(6, 2.6), layout="constrained")
ax.barh(list(auc), list(auc.values()), color=["C0", "C1", "C2"])
ax.set(xlim=(0.5, 1), xlabel="cross-validated ROC AUC", title="Predicting churn")
plt.show()

# %%
# The autoencoder keeps more of the table than PCA, the categories above all,
# yet its codes predict churn no better: the features are learned without
# the label, so they keep what explains the table, not necessarily what
# predicts a particular target. When the target is known, check features
# against it, as here, or tune the autoencoder with the classifier in a
# grid search (see :ref:`sphx_glr_auto_examples_plot_02_classifier_features.py`).
