"""
=========================================
Outlier detection and its explanations
=========================================

:class:`~skae.OutlierDetector` fits an autoencoder on all the rows of a
table, outliers included and without labels, and flags the rows it
reconstructs badly. ``explain`` then says which columns make each flagged
row anomalous.

The data: ADBench's *Cardiotocography* table (2,126 fetal heart-rate
recordings, 21 measurements each; the pathological ones, 22%, are the
outliers), read from ``../shared/data/adbench`` next to the repository.
Where that folder is absent, this example falls back to scikit-learn's
bundled breast-cancer table, made into an outlier problem the way ADBench
builds its WDBC table: all benign tumours and the first 10 malignant ones
(the outliers). The printed numbers below are for whichever ran.
"""

# %%
# Load a table
# ------------
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from skae import OutlierDetector
from skae.plotting import plot_explanation

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run interactively
    HERE = Path.cwd()
ADBENCH = HERE.parents[1].parent / "shared" / "data" / "adbench" / "7_Cardiotocography.npz"

if ADBENCH.is_file():
    data = np.load(ADBENCH)
    X, y = data["X"], data["y"]
    names = np.array([f"x{j}" for j in range(X.shape[1])])
    print(f"ADBench Cardiotocography: {X.shape[0]} rows, {X.shape[1]} columns")
else:
    cancer = load_breast_cancer()
    malignant = np.flatnonzero(cancer.target == 0)[:10]
    keep = np.r_[np.flatnonzero(cancer.target == 1), malignant]
    X, y = cancer.data[keep], (cancer.target[keep] == 0).astype(int)
    names = cancer.feature_names
    print(f"breast cancer (fallback): {X.shape[0]} rows, {X.shape[1]} columns")
print(f"outliers: {y.mean():.1%}")
X = pd.DataFrame(StandardScaler().fit_transform(X), columns=names)

# %%
# Fit, score, flag
# ----------------
# The default detector needs no labels and no guess of the share of
# outliers: with ``contamination='auto'`` a row is flagged when its score is
# far below the median of the training rows' scores (a modified z-score
# above 3.5). ``score_samples`` is higher for normal rows, as for
# scikit-learn's detectors, so the anomaly score for a ROC AUC is its
# negative. IsolationForest is the usual baseline.
detector = OutlierDetector(random_state=0).fit(X)
forest = IsolationForest(random_state=0).fit(X)
print(f"ROC AUC: autoencoder {roc_auc_score(y, -detector.score_samples(X)):.3f}, "
      f"IsolationForest {roc_auc_score(y, -forest.score_samples(X)):.3f}")

flagged = detector.predict(X) == -1
print(f"flagged {flagged.sum()} rows: {y[flagged].mean():.0%} of them are outliers; "
      f"they hold {flagged[y == 1].mean():.0%} of the outliers")

# %%
# Which columns make a row anomalous?
# -----------------------------------
# ``explain`` gives each column's share of a row's anomaly: how much the
# row's score recovers when that column is treated as missing (a DataFrame
# with the table's columns and index). Here are the three rows the detector
# finds most anomalous.
worst = np.argsort(detector.score_samples(X))[:3]
shares = detector.explain(X.iloc[worst])
for row, share in shares.iterrows():
    print(f"row {row} (label {y[row]}): " + ", ".join(
        f"{name} {value:.0%} (value {X.loc[row, name]:+.1f} sd)"
        for name, value in share.nlargest(3).items()))

# %%
# A value far off in one column also spoils the reconstruction of the other
# columns, so the column with the largest reconstruction error is not
# always the culprit. To check ``explain``, push one column of a normal row
# 12 standard deviations off and ask which column it blames.
rng = np.random.default_rng(0)
rows = rng.choice(np.flatnonzero(y == 0), 10, replace=False)
columns = rng.integers(X.shape[1], size=10)
X_bad = X.iloc[rows].copy()
for i, j in enumerate(columns):
    X_bad.iloc[i, j] += 12
naive = detector.estimator_.reconstruction_error(X_bad.to_numpy(), per_feature=True)
naive = naive.argmax(axis=1)
blamed = detector.explain(X_bad).idxmax(axis=1)
print(f"column found: explain {np.mean(blamed == X.columns[columns]):.0%}, largest reconstruction "
      f"error {np.mean(naive == columns):.0%}")

# %%
# The plot shows the shares of the three most anomalous rows, for the
# columns with the largest shares.
ax = plot_explanation(detector, X.iloc[worst], max_features=8)
plt.show()
