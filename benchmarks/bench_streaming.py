"""Streaming throughput: ``partial_fit`` over chunks against in-memory ``fit``.

Question: what does out-of-core training cost? Each contender makes the same
number of passes (epochs) over the same float32 rows with the same model
(dense ``(64,)`` encoder to an 8-D code, mirrored decoder, Adam, the same
batch size), in one process, interleaved round by round
(``_common.interleaved``), median of ``--repeats``:

- ``fit (in memory)``: ``AutoencoderTransformer(max_iter=E).fit(X)`` with X
  in RAM; one shuffle over all rows per epoch;
- ``memmap partial_fit``: the rows in a ``np.memmap`` file, and for each
  epoch ``partial_fit(X[start:stop])`` over consecutive chunks of
  ``--chunk-rows`` rows; shuffling happens within a chunk;
- ``dask Incremental``: ``dask_ml.wrappers.Incremental`` over
  ``da.from_array(memmap, chunks=chunk_rows)``: ``fit`` for the first pass,
  ``partial_fit`` for the others; dask-ml shuffles the block order, the
  synchronous scheduler runs one block at a time (if dask-ml is installed).

``rows/s`` is rows times epochs over the wall time of the whole run,
building the model included; writing the memmap file (once) and an untimed
warm-up on 1,024 rows are not. The file was just written, so reads come from
the page cache: this measures the partial_fit path, not the disk.
``overhead/call`` is the extra time per ``partial_fit`` call over in-memory
``fit``. ``MSE`` is the mean reconstruction error of the trained model on
the first 10,000 rows.

Run ``python benchmarks/bench_streaming.py`` (200,000 x 100, 2 epochs,
chunks of 5,000 and 50,000 rows) or with ``--quick`` or ``--rows N``; see
``--help``.
"""

import argparse
import tempfile
from pathlib import Path

import _common
import numpy as np

from skae import AutoencoderTransformer

NAME = "bench_streaming"
N_COMPONENTS = 8
HIDDEN = (64,)
EVAL_ROWS = 10_000

NOTES = [
    "Same model, optimizer, batch size and number of passes for every contender; "
    "rows/s counts rows x epochs over the wall time of the whole run.",
    "fit shuffles all rows each epoch; memmap partial_fit shuffles within each chunk and "
    "visits chunks in file order; dask Incremental also shuffles the block order.",
    "The memmap file was written just before the runs, so its pages are in the page cache: "
    "the numbers measure the partial_fit path, not disk reads.",
    "overhead/call = (run time - in-memory fit time) / number of partial_fit calls; with few "
    "calls it is within run-to-run noise (and can come out negative).",
    "dask Incremental runs under dask's synchronous scheduler (one block in memory at a time).",
]


def _model(args, epochs, seed):
    return AutoencoderTransformer(
        N_COMPONENTS, hidden_layer_sizes=HIDDEN, batch_size=args.batch_size,
        learning_rate_init=args.lr, max_iter=epochs, tol=0, random_state=seed,
    )


def fit_in_memory(X, args, seed):
    return _model(args, args.epochs, seed).fit(X)


def fit_memmap(X_file, args, seed, chunk_rows):
    est = _model(args, 1, seed)
    n = len(X_file)
    for _ in range(args.epochs):
        for start in range(0, n, chunk_rows):
            est.partial_fit(X_file[start:start + chunk_rows])
    return est


def fit_dask(X_file, args, seed, chunk_rows):
    import dask
    import dask.array as da
    from dask_ml.wrappers import Incremental

    dX = da.from_array(X_file, chunks=(chunk_rows, X_file.shape[1]))
    inc = Incremental(_model(args, 1, seed), random_state=seed)
    with dask.config.set(scheduler="synchronous"):
        inc.fit(dX)
        for _ in range(args.epochs - 1):
            inc.partial_fit(dX)
    return inc.estimator_


def _dask_versions():
    try:
        import dask
        import dask_ml
    except ImportError:
        print("note: dask-ml is not installed (pip install dask dask-ml); skipping "
              "'dask Incremental'")
        return None
    return {"dask": dask.__version__, "dask-ml": dask_ml.__version__}


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=3)
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of synthetic data (default 200,000; --quick 20,000)")
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the data (default 2; --quick 1)")
    parser.add_argument("--chunk-rows", type=int, nargs="+", default=None,
                        help="rows per partial_fit call (default 5000 50000; --quick 2000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder for the memmap file (default: a temporary folder)")
    args = _common.parse_args(parser, argv)
    args.rows = args.rows or (20_000 if args.quick else 200_000)
    args.epochs = args.epochs or (1 if args.quick else 2)
    args.chunk_rows = args.chunk_rows or ([2000] if args.quick else [5000, 50_000])

    versions = _dask_versions()
    X = _common.manifold(args.rows, args.features, seed=args.seed)
    X_eval = X[:EVAL_ROWS]
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        path = Path(tmp) / "X.f32"
        written = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
        written[:] = X
        written.flush()
        del written
        X_file = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
        print(f"{args.rows} x {args.features} float32 ({X.nbytes / 2**20:.0f} MiB), "
              f"{args.epochs} epoch(s), memmap at {path}", flush=True)

        # name -> (run(repeat), rows per partial_fit call). The memmap is bound as a
        # default argument, so deleting the name below leaves no lambda looking it up.
        contenders = {"fit (in memory)": (lambda r: fit_in_memory(X, args, args.seed + r), None)}
        for chunk in args.chunk_rows:
            contenders[f"memmap partial_fit, {chunk} rows"] = (
                lambda r, c=chunk, data=X_file: fit_memmap(data, args, args.seed + r, c), chunk)
            if versions:
                contenders[f"dask Incremental, {chunk} rows"] = (
                    lambda r, c=chunk, data=X_file: fit_dask(data, args, args.seed + r, c), chunk)

        # Untimed warm-up on a few rows: torch's and dask's first calls pay one-off costs.
        small = argparse.Namespace(**{**vars(args), "epochs": 1})
        fit_in_memory(X[:1024], small, args.seed)
        fit_memmap(X_file[:1024], small, args.seed, 512)
        if versions:
            fit_dask(X_file[:1024], small, args.seed, 512)
        # Each run returns its (small) trained model; it is scored after the clock stops.
        timings = _common.interleaved({k: fn for k, (fn, _) in contenders.items()},
                                      repeats=args.repeats)
        # Drop every reference to the memmap (the lambdas, then the name) so it is
        # closed before its folder is removed; keep only the chunk sizes.
        contenders = {k: chunk for k, (_, chunk) in contenders.items()}
        del X_file

    base = timings["fit (in memory)"].median
    rows = []
    for name, timing in timings.items():
        chunk = contenders[name]
        calls = None if chunk is None else -(-args.rows // chunk) * args.epochs
        rows.append({
            "contender": name,
            "chunk_rows": chunk,
            "partial_fit_calls": calls,
            "run_s": timing.median,
            "run_s_min": timing.min,
            "run_s_max": timing.max,
            "rows_per_s": args.rows * args.epochs / timing.median,
            "vs_fit": base / timing.median,
            "overhead_per_call_ms": None if calls is None else 1e3 * (timing.median - base) / calls,
            "mse": float(np.median([-est.score(X_eval) for est in timing.results])),
            "times_s": timing.times,
        })
    columns = [
        ("contender", "contender"), ("partial_fit_calls", "calls"),
        ("run_s", "run s (median)"), ("rows_per_s", "rows/s"), ("vs_fit", "vs fit", ".2f"),
        ("overhead_per_call_ms", "overhead/call ms", ".1f"), ("mse", "MSE", ".4g"),
    ]
    settings = _common.settings_of(args, n_components=N_COMPONENTS, hidden=HIDDEN)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir, extra_versions=versions)


if __name__ == "__main__":
    main()
