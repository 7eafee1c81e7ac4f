"""Sparse input: fit and transform a large CSR matrix without densifying it.

Question: skae accepts scipy sparse matrices and densifies them a batch at a
time. On a matrix whose dense copy would not fit in memory (1M x 10k at
density 0.001: 40 GB as float32), does ``fit`` and ``transform`` stay
within the sparse input + the model + a few dense batches, and how long does
an epoch take?

Data: a random CSR matrix, float32 values uniform in [0, 1), exactly
``round(density * n_features)`` stored entries per row at uniform random
columns (int32 indices), built directly in CSR form (never dense).

Each case (fit, transform) runs in a fresh subprocess (this script with
``--case``), which builds the matrix, then measures:

- peak extra resident memory: the process's resident set size (RSS, from
  ``/proc/self/status``) just before the operation is the baseline; the
  kernel's high-water mark ``VmHWM`` is reset (``echo 5 >
  /proc/self/clear_refs``) and read after the operation. RSS counts every
  page the process touched, whoever allocated it (numpy, scipy, torch's CPU
  allocator, Python), so nothing escapes; pages allocated but never written
  do not count (they use no memory). Where ``clear_refs`` cannot be written,
  the peak is ``getrusage``'s ``ru_maxrss`` (the whole life of the process,
  data generation included; the table says which);
- time: the whole call; per epoch from skorch's history (``dur``).

fit: ``AutoencoderTransformer(16, hidden_layer_sizes=(64,), batch_size=1024,
max_iter=E, tol=0)``; transform: a model fitted (1 epoch) on the first 20,000
rows, then ``transform`` of all rows (skae densifies 4,096 rows per inference
batch), output included in the peak.

Run ``python benchmarks/bench_sparse.py`` (full size: 200k x 10k for 2
epochs and 1M x 10k for 1 epoch; about 10 minutes on a 2-core machine with
one thread) or with ``--quick``.
"""

import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import _common
import numpy as np

NAME = "bench_sparse"
MB = 2**20
N_COMPONENTS = 16
HIDDEN = (64,)
TRANSFORM_FIT_ROWS = 20_000


def random_csr(n_rows, n_features, density, seed):
    """A random float32 CSR matrix with the same number of entries in every row."""
    import scipy.sparse as sp

    per_row = max(1, round(density * n_features))
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n_features, size=n_rows * per_row, dtype=np.int32)
    data = rng.random(n_rows * per_row, dtype=np.float32)
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int32 if
                       n_rows * per_row < 2**31 else np.int64)
    X = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_features))
    X.sum_duplicates()  # a column drawn twice in a row: one entry, as CSR expects
    return X


def measure(fn):
    """Run ``fn()``; return (its result, seconds, baseline RSS MB, peak RSS MB, method)."""
    import gc

    gc.collect()
    baseline = _common.proc_status()["VmRSS"] / MB
    reset = _common.reset_peak_rss()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    if reset:
        peak, method = _common.proc_status()["VmHWM"] / MB, "VmHWM reset before the call"
    else:
        peak, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, \
            "ru_maxrss (whole process)"
    return result, seconds, baseline, peak, method


def run_case(args):
    """One case, in this (fresh) process: print a JSON line with its measurements."""
    import torch

    from skae import AutoencoderTransformer
    from skae._inference import INFERENCE_BATCH_SIZE

    X = random_csr(args.rows, args.features, args.density, args.seed)
    csr_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / MB

    def make(max_iter):
        return AutoencoderTransformer(N_COMPONENTS, hidden_layer_sizes=HIDDEN,
                                      batch_size=args.batch_size, max_iter=max_iter, tol=0,
                                      random_state=args.seed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # untimed warm-up: the first torch optimizer of a process imports torch._dynamo
        make(1).fit(X[:256])
        if args.case == "fit":
            model, seconds, base, peak, method = measure(lambda: make(args.epochs).fit(X))
            epochs = [row["dur"] for row in model.net_.history if "train_loss" in row]
            output_mb = 0.0
        else:
            model = make(1).fit(X[:TRANSFORM_FIT_ROWS])
            codes, seconds, base, peak, method = measure(lambda: model.transform(X))
            epochs = []
            output_mb = codes.nbytes / MB
    params = sum(p.numel() * p.element_size() for p in model.net_.module_.parameters())
    batch_rows = args.batch_size if args.case == "fit" else INFERENCE_BATCH_SIZE
    print("RESULT " + json.dumps({
        "case": args.case, "n_rows": args.rows, "n_features": args.features,
        "density": args.density, "nnz": int(X.nnz), "epochs": args.epochs if
        args.case == "fit" else None,
        "seconds": seconds, "s_per_epoch": float(np.median(epochs)) if epochs else None,
        "epoch_s": epochs, "rows_per_s": args.rows * max(1, len(epochs)) / seconds,
        "csr_mb": csr_mb, "dense_mb": args.rows * args.features * 4 / MB,
        "model_mb": params / MB, "adam_state_mb": 2 * params / MB if args.case == "fit" else 0,
        "batch_rows": batch_rows, "dense_batch_mb": batch_rows * args.features * 4 / MB,
        "output_mb": output_mb, "baseline_rss_mb": base, "peak_rss_mb": peak,
        "peak_extra_mb": peak - base, "peak_method": method,
        "torch_threads": torch.get_num_threads(),
    }), flush=True)


def spawn(case, n_rows, epochs, args):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", case,
           "--rows", str(n_rows), "--features", str(args.features),
           "--density", str(args.density), "--epochs", str(epochs),
           "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    what = f", {epochs} epoch(s)" if case == "fit" else ""
    print(f"== {case} {n_rows:,} x {args.features:,}{what}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    row = json.loads(line[len("RESULT "):])
    row["load_1min"] = round(os.getloadavg()[0], 2)
    print(f"   {row['seconds']:.1f} s, peak extra {row['peak_extra_mb']:.0f} MB "
          f"(CSR {row['csr_mb']:.0f} MB, dense would be {row['dense_mb']:,.0f} MB)", flush=True)
    return row


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--sizes", nargs="+", default=None, metavar="ROWS:EPOCHS",
                        help="row counts and fit epochs (default 200000:2 1000000:1; "
                             "--quick 20000:1)")
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=1024)
    # internal: run one case in this process
    parser.add_argument("--case", choices=("fit", "transform"), default=None,
                        help=argparse_suppress())
    parser.add_argument("--rows", type=int, default=None, help=argparse_suppress())
    parser.add_argument("--epochs", type=int, default=1, help=argparse_suppress())
    args = _common.parse_args(parser, argv)
    if args.case is not None:
        return run_case(args)
    sizes = args.sizes or (["20000:1"] if args.quick else ["200000:2", "1000000:1"])
    rows = []
    for size in sizes:
        n_rows, epochs = (int(v) for v in size.split(":"))
        for case in ("fit", "transform"):
            rows.append(spawn(case, n_rows, epochs, args))
    columns = [
        ("case", "op"), ("n_rows", "rows"), ("n_features", "cols"), ("nnz", "stored"),
        ("epochs", "epochs"), ("seconds", "s"), ("s_per_epoch", "s/epoch"),
        ("csr_mb", "CSR MB", ".0f"), ("dense_mb", "dense f32 MB", ",.0f"),
        ("model_mb", "model MB", ".2f"), ("adam_state_mb", "Adam MB", ".2f"),
        ("batch_rows", "batch rows"), ("dense_batch_mb", "dense batch MB", ".1f"),
        ("output_mb", "output MB", ".1f"),
        ("peak_extra_mb", "peak extra MB", ".0f"),
        ("peak_rss_mb", "peak RSS MB", ".0f"), ("load_1min", "load"),
    ]
    notes = [
        ("Each row is one fresh subprocess: it builds the CSR matrix (float32 values, int32 "
         "indices), warms up (a 256-row fit), then runs the operation once. peak extra MB = "
         "peak resident memory during the call minus resident memory just before it "
         f"(method: {rows[0]['peak_method']}); RSS counts numpy, scipy and torch "
         "allocations alike. dense f32 MB = what `X.toarray()` would take (never built)."),
        (f"fit: AutoencoderTransformer({N_COMPONENTS}, hidden_layer_sizes={HIDDEN}, "
         f"batch_size={args.batch_size}, tol=0); the peak includes everything fit builds "
         "(module, Adam state, batches, its checks on a spread of training rows). "
         "s/epoch from skorch's history; s = the whole fit."),
        (f"transform: a model fitted (1 epoch) on the first {TRANSFORM_FIT_ROWS:,} rows, "
         "then `transform` of every row, 4,096 rows densified per inference batch; its "
         "output (rows x 16 float32) is part of the peak."),
        ("load = the 1-minute load average when the case ended (a shared 2-core machine: "
         "times are inflated by other jobs)."),
    ]
    settings = _common.settings_of(args, sizes=sizes, n_components=N_COMPONENTS,
                                   hidden_layer_sizes=list(HIDDEN))
    for key in ("case", "rows", "epochs"):
        settings.pop(key, None)
    import scipy
    return _common.write_results(NAME, rows, columns, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Sparse input without densifying (bench_sparse.py)",
                                 extra_versions={"scipy": scipy.__version__})


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
