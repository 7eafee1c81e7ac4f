"""Inference: skae's transform, inverse_transform and score_samples against plain torch and PCA.

Question: does the estimator's inference path (validation, one batched
eval-mode, no-autograd helper, output in the input's dtype) cost more than a
plain PyTorch inference loop over the same module, and how far is it from
``PCA.transform``? And how much memory does ``transform`` need beyond its
output?

Method: an ``AutoencoderTransformer(16, hidden_layer_sizes=(128, 64))`` is
fitted briefly (quality is beside the point) on the first rows of the
synthetic 100-D manifold (``_common.manifold``); ``--rows`` rows (default
1,000,000) are then pushed through, as float32 and as float64 input, by

- ``skae``: ``transform``, ``inverse_transform`` (of the codes),
  ``score_samples``;
- ``torch loop``: the same module (``net_.module_``), ``eval()``,
  ``torch.inference_mode()``, batches of 4096 rows, outputs concatenated
  with ``torch.cat``; float64 input runs through a float64 copy of the
  module, as skae does;
- ``PCA``: ``PCA(16)`` fitted on the same rows in the same dtype:
  ``transform``, ``inverse_transform``, and the per-row reconstruction
  error ``-mean((inverse_transform(transform(X)) - X) ** 2, axis=1)``
  (the analogue of ``score_samples``).

Times are medians of ``--repeats`` interleaved rounds after one warm-up
round. Memory is measured per contender in a fresh subprocess (see
``measure_memory``).

One row: the latency of each method on a single row, where fixed costs
(validation, the float64 module) are all there is. An
``AutoencoderTransformer(8)`` (default layers) is fitted briefly on the
digits (``load_digits().data / 16``); each timed round makes
``--latency-calls`` calls on its first row, as float32 and as float64,
by skae and by the torch loop (which copies the module to float64 on every
float64 call, as skae did before it kept its copy). ``x float32 s`` divides
a contender's float64 seconds by its float32 seconds.

Run ``python benchmarks/bench_inference.py`` (1M rows; needs about 3 GB of
memory) or with ``--quick``; ``--latency-only`` measures the one-row rows
alone and puts them into the existing results, keeping the other rows.
"""

import copy
import gc
import json
import pickle
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import _common
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer

NAME = "bench_inference"
N_COMPONENTS = 16
N_FEATURES = 100
BATCH = 4096
OPS = ("transform", "inverse_transform", "score_samples")
LATENCY_COMPONENTS = 8
LATENCY_SUFFIX = " (1 row)"


# ------------------------------------------------------------- contenders

def torch_loop(module, X, fn):
    """A plain inference loop: eval, inference_mode, batches, torch.cat."""
    if X.dtype == np.float64:
        module = copy.deepcopy(module).double()
    module.eval()
    outs = []
    with torch.inference_mode():
        for start in range(0, len(X), BATCH):
            outs.append(fn(module, torch.from_numpy(X[start:start + BATCH])))
    return torch.cat(outs).numpy()


def _encode(m, xb):
    return m.encode(xb)


def _decode(m, zb):
    return m.decode(zb)


def _score(m, xb):
    return -(m.output(m(xb)[0]) - xb).square().mean(dim=1)


TORCH_FNS = {"transform": _encode, "inverse_transform": _decode, "score_samples": _score}


def pca_score(pca, X):
    return -np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2, axis=1)


def call(contender, op, models, data):
    """Run ``op`` of ``contender`` on the right input; ``data`` has X and the codes."""
    ae, pca = models["skae"], models.get("pca")
    X = data["X"]
    if contender == "skae":
        if op == "inverse_transform":
            return ae.inverse_transform(data["Z"])
        return getattr(ae, op)(X)
    if contender == "torch loop":
        arg = data["Z"] if op == "inverse_transform" else X
        return torch_loop(ae.net_.module_, arg, TORCH_FNS[op])
    if op == "transform":
        return pca.transform(X)
    if op == "inverse_transform":
        return pca.inverse_transform(data["Z_pca"])
    return pca_score(pca, X)


# ---------------------------------------------------------------- one row

def latency_rows(args):
    """Seconds per call of each method on one row of the digits, float32 and float64."""
    X = load_digits().data / 16
    ae = AutoencoderTransformer(LATENCY_COMPONENTS, max_iter=args.fit_epochs, tol=0,
                                random_state=args.seed).fit(X)
    models = {"skae": ae}
    rows = []
    for op in OPS:
        contenders, data = {}, {}
        for dtype in ("float32", "float64"):
            row = X[:1].astype(dtype)
            data[dtype] = {"X": row, "Z": ae.transform(row)}
            for name in ("skae", "torch loop"):
                def calls(r, name=name, d=data[dtype], op=op):
                    for _ in range(args.latency_calls):
                        out = call(name, op, models, d)
                    return out.dtype
                contenders[f"{name}, {dtype}"] = calls
        print(f"{op}, 1 row:", flush=True)
        timings = _common.interleaved(contenders, repeats=args.repeats,
                                      warmup=0 if args.quick else 1, verbose=False)
        per_call = {key: t.median / args.latency_calls for key, t in timings.items()}
        for key, timing in timings.items():
            name, dtype = key.split(", ")
            seconds = per_call[key]
            rows.append({
                "op": op + LATENCY_SUFFIX, "dtype": dtype, "contender": name, "rows": 1,
                "calls": args.latency_calls, "seconds": seconds,
                "seconds_min": timing.min / args.latency_calls,
                "seconds_max": timing.max / args.latency_calls, "spread_pct": timing.spread,
                "rows_per_s": 1 / seconds,
                "speed_vs_torch": per_call[f"torch loop, {dtype}"] / seconds,
                "vs_float32": seconds / per_call[f"{name}, float32"],
                "out_dtype": str(timing.result),
                "times_s": [t / args.latency_calls for t in timing.times],
            })
            print(f"  {key}: {1e3 * seconds:.3f} ms per call", flush=True)
    return rows


def merged_with_previous(path, latency):
    """The previous results' rows with their one-row rows replaced by ``latency``."""
    previous = json.loads(Path(path).read_text())
    rows = [r for r in previous["rows"] if not r["op"].endswith(LATENCY_SUFFIX)] + latency
    machine = previous["machine"]
    note = (f"The other rows come from the full run of {machine['date']} "
            f"({machine['cpu']}, {machine.get('cpus_usable')} CPUs, load "
            f"{machine.get('loadavg_1min')}, skae {machine.get('skae')}); the one-row rows "
            "were measured alone (`--latency-only`) on the machine in the header. A full "
            "run from before skae kept its float64 module copied it on every float64 call "
            "(some 2 ms of each 1-3 s call at 1M rows).")
    return rows, previous["settings"], note


# ----------------------------------------------------------------- memory

def memory_child(argv):
    """In a fresh process: build the input, run one contender's ``op``, report peak RSS growth."""
    state_path, contender, op, dtype, rows, seed = argv
    rows, seed = int(rows), int(seed)
    with open(state_path, "rb") as f:
        models = pickle.load(f)[dtype]
    X = _common.manifold(rows, N_FEATURES, seed=seed).astype(dtype, copy=False)
    data = {"X": X}
    call(contender, op, models, {"X": X[:10]})  # load lazily built kernels and code
    gc.collect()
    method = "VmHWM" if _common.reset_peak_rss() else "ru_maxrss"
    before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = _common.proc_status().get("VmRSS", before_peak)
    out = call(contender, op, models, data)
    if method == "VmHWM":
        peak = _common.proc_status()["VmHWM"]
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if peak <= before_peak:  # the old high-water mark hides this call's peak
            peak = None
    print(json.dumps({
        "method": method,
        "extra_bytes": None if peak is None else peak - before,
        "output_bytes": out.nbytes,
        "input_bytes": X.nbytes,
    }))


def measure_memory(state_path, contender, op, dtype, rows, seed):
    """Peak extra memory of one call, measured in a fresh subprocess.

    The child builds the input, warms the code path up on 10 rows, then
    resets the kernel's resident-set high-water mark (``VmHWM``, by writing
    5 to ``/proc/self/clear_refs``) and reads it again after the call: the
    peak extra memory is ``VmHWM after - VmRSS before``. It counts every
    allocation that touched memory (numpy, torch's CPU allocator, Python)
    and nothing freed earlier. Where the reset is not allowed it falls back
    to ``ru_maxrss`` (``resource.getrusage``), which is only valid when the
    call sets a new high-water mark.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child",
           str(state_path), contender, op, dtype, str(rows), str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  memory child failed ({contender} {op} {dtype}):\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- main

NOTES = [
    ("spread % = (slowest - fastest) / median of the repeats. "
     "rows/s = rows / median seconds of `--repeats` interleaved rounds (after one warm-up "
     "round); speed vs torch = torch loop seconds / seconds (1.00 = as fast as the plain "
     "loop; higher is faster); speed vs PCA likewise against the PCA row."),
    ("skae's timings include its input validation (`validate_data`) and writing into one "
     "preallocated output; for float64 input it runs a float64 copy of the module, made "
     "once per fitted weights. The torch loop copies the module to float64 on every "
     "float64 call, does no validation, and concatenates batch outputs."),
    ("(1 row) rows: seconds per call on one row of the digits (`load_digits().data / 16`, "
     "`AutoencoderTransformer(8)`, default layers), median of `--repeats` interleaved "
     "rounds of `--latency-calls` calls; x float32 s = the contender's float64 seconds / "
     "its float32 seconds; no PCA row."),
    ("inverse_transform decodes the 16-D codes of the same rows (each contender its own "
     "codes); PCA's score_samples column is its per-row reconstruction error "
     "(`inverse_transform(transform(X))` in numpy), not `PCA.score_samples` (a Gaussian "
     "log-likelihood)."),
    ("peak extra MB: resident-memory growth during one `transform` call in a fresh process "
     "(kernel high-water mark `VmHWM` reset through `/proc/self/clear_refs` just before "
     "the call, minus `VmRSS` then), so it includes the output itself; x output and "
     "x input divide it by the output's and the input's size."),
]


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--memory-child":
        return memory_child(argv[1:])
    parser = _common.make_parser(__doc__)
    parser.add_argument("--rows", type=int, default=None,
                        help="rows pushed through (default 1,000,000; --quick 20,000)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                        default=["float32", "float64"])
    parser.add_argument("--fit-rows", type=int, default=20_000,
                        help="rows the models are fitted on (default 20,000)")
    parser.add_argument("--fit-epochs", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory measurement subprocesses")
    parser.add_argument("--latency-calls", type=int, default=None,
                        help="calls per timed round of the one-row rows (default 500; "
                             "--quick 20)")
    parser.add_argument("--latency-only", action="store_true",
                        help="measure the one-row rows only and put them into the existing "
                             "results in --output-dir, keeping the other rows")
    args = _common.parse_args(parser, argv)
    if args.rows is None:
        args.rows = 20_000 if args.quick else 1_000_000
    if args.latency_calls is None:
        args.latency_calls = 20 if args.quick else 500
    args.fit_rows = min(args.fit_rows, args.rows)
    columns = [
        ("op", "op"), ("dtype", "dtype"), ("contender", "contender"),
        ("seconds", "s (median)"), ("spread_pct", "spread %", ".0f"), ("rows_per_s", "rows/s"),
        ("speed_vs_torch", "speed vs torch", ".2f"), ("speed_vs_pca", "speed vs PCA", ".2f"),
        ("vs_float32", "x float32 s", ".2f"),
        ("peak_extra_mb", "peak extra MB", ".0f"), ("extra_vs_output", "x output", ".2f"),
        ("extra_vs_input", "x input", ".2f"),
    ]
    latency_settings = {"latency_calls": args.latency_calls,
                        "latency_components": LATENCY_COMPONENTS}
    if args.latency_only:
        rows, settings, note = merged_with_previous(
            Path(args.output_dir) / f"{NAME}.json", latency_rows(args))
        settings.update(latency_settings, repeats_latency=args.repeats)
        return _common.write_results(NAME, rows, columns, [*NOTES, note], settings=settings,
                                     output_dir=args.output_dir,
                                     title="Inference (bench_inference.py)")

    X32 = _common.manifold(args.rows, N_FEATURES, seed=args.seed)
    print(f"fitting on {args.fit_rows} rows; timing {args.rows} x {N_FEATURES}", flush=True)
    ae = AutoencoderTransformer(
        N_COMPONENTS, hidden_layer_sizes=(128, 64), max_iter=args.fit_epochs, tol=0,
        random_state=args.seed,
    ).fit(X32[:args.fit_rows])

    rows, states = [], {}
    for dtype in args.dtypes:
        X = X32 if dtype == "float32" else X32.astype(dtype)
        pca = PCA(N_COMPONENTS, random_state=args.seed).fit(X[:args.fit_rows])
        models = {"skae": ae, "pca": pca}
        states[dtype] = models
        data = {"X": X, "Z": ae.transform(X), "Z_pca": pca.transform(X)}
        for op in OPS:
            print(f"{op}, {dtype}:", flush=True)
            timings = _common.interleaved(
                {name: (lambda r, name=name, op=op, models=models, data=data:
                         call(name, op, models, data) is None)
                 for name in ("skae", "torch loop", "PCA")},
                repeats=args.repeats, warmup=0 if args.quick else 1,
            )
            # The three agree on shapes and dtypes (a cheap sanity check).
            outs = {name: call(name, op, models, {k: v[:100] for k, v in data.items()})
                    for name in timings}
            t_torch, t_pca = timings["torch loop"].median, timings["PCA"].median
            for name, timing in timings.items():
                rows.append({
                    "op": op, "dtype": dtype, "contender": name, "rows": args.rows,
                    "seconds": timing.median, "seconds_min": timing.min,
                    "seconds_max": timing.max, "spread_pct": timing.spread,
                    "rows_per_s": args.rows / timing.median,
                    "speed_vs_torch": t_torch / timing.median,
                    "speed_vs_pca": t_pca / timing.median,
                    "out_dtype": str(outs[name].dtype), "times_s": timing.times,
                })
        del data
        if X is not X32:
            del X
        gc.collect()

    if not args.no_memory:
        with tempfile.TemporaryDirectory() as tmp:
            state_path = Path(tmp) / "models.pkl"
            with open(state_path, "wb") as f:
                pickle.dump(states, f)
            for dtype in args.dtypes:
                for name in ("skae", "torch loop", "PCA"):
                    print(f"memory: transform, {dtype}, {name}", flush=True)
                    mem = measure_memory(state_path, name, "transform", dtype, args.rows,
                                         args.seed)
                    row = next(r for r in rows if (r["op"], r["dtype"], r["contender"])
                               == ("transform", dtype, name))
                    if mem and mem["extra_bytes"] is not None:
                        row.update(
                            peak_extra_mb=mem["extra_bytes"] / 2**20,
                            output_mb=mem["output_bytes"] / 2**20,
                            input_mb=mem["input_bytes"] / 2**20,
                            extra_vs_output=mem["extra_bytes"] / mem["output_bytes"],
                            extra_vs_input=mem["extra_bytes"] / mem["input_bytes"],
                            memory_method=mem["method"],
                        )

    rows += latency_rows(args)
    settings = _common.settings_of(args, n_features=N_FEATURES, n_components=N_COMPONENTS,
                                   hidden_layer_sizes=(128, 64), batch=BATCH,
                                   **latency_settings)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Inference (bench_inference.py)")


if __name__ == "__main__":
    main()
