"""Serving with ONNX: skae's transform against its exported graph on onnxruntime, and PCA.

Question: what does exporting a fitted model to ONNX (``skae.onnx``) buy
at serving time, for one row at a time (an online request) and for 10,000
rows (a batch), and how large is the exported file?

Method: each architecture (``--archs``; dense ``hidden_layer_sizes=(128,
64)``, conv ``image_shape=(1, 10, 10)`` with ``conv_channels=(32, 64)``,
and a VAE of the dense shape, all with 16 codes) is fitted briefly (quality
is beside the point) on the first rows of the synthetic 100-D manifold
(``_common.manifold``), then ``transform`` of float32 rows is timed

- ``skae``: ``est.transform(X)`` (input validation, the one batched
  inference path, torch on ``--threads`` threads);
- ``onnxruntime``: ``skae.onnx.to_onnx(est, X[:1])`` run by an
  ``onnxruntime.InferenceSession`` on the CPU with one intra-op and one
  inter-op thread (``session.run(None, {"X": X})``);
- ``PCA``: ``PCA(16).transform`` fitted on the same rows, for scale.

Single-row latency is the median time, over ``--repeats`` interleaved
rounds (after one warm-up round), of ``--calls`` successive one-row calls,
divided by ``--calls``; batch latency the median time of one call on
``--rows`` rows. The onnxruntime rows also give the export time, the ``.onnx``
file's size and the largest difference from skae's codes on the batch,
relative to the codes' largest magnitude.

Run ``python benchmarks/bench_onnx.py`` (a minute or two) or with ``--quick``.
"""

import time

import _common
import numpy as np
import onnx
import onnxruntime as ort
import skl2onnx
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer, VAETransformer
from skae.onnx import to_onnx

NAME = "bench_onnx"
N_FEATURES = 100
N_COMPONENTS = 16
HIDDEN = (128, 64)
ARCHITECTURES = {
    "dense": lambda seed: AutoencoderTransformer(N_COMPONENTS, hidden_layer_sizes=HIDDEN,
                                                 random_state=seed),
    "conv": lambda seed: AutoencoderTransformer(N_COMPONENTS, hidden_layer_sizes=(),
                                                image_shape=(1, 10, 10),
                                                conv_channels=(32, 64), random_state=seed),
    "vae": lambda seed: VAETransformer(N_COMPONENTS, hidden_layer_sizes=HIDDEN,
                                       random_state=seed),
}
CONTENDERS = ("skae", "onnxruntime", "PCA")


def session(model):
    """An onnxruntime CPU session on one intra-op and one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def transforms(est, sess, pca):
    """``contender -> fn(X)``, each returning the codes of the float32 rows ``X``."""
    return {
        "skae": est.transform,
        "onnxruntime": lambda X: sess.run(None, {"X": X})[0],
        "PCA": pca.transform,
    }


def one_row_calls(fn, X, calls):
    """Call ``fn`` on each of the first ``calls`` rows of ``X``, one row at a time."""
    for i in range(calls):
        fn(X[i:i + 1])


NOTES = [
    ("1 row: seconds per one-row call (a round is `--calls` successive calls; the median "
     "round over `--repeats` interleaved rounds after one warm-up round, divided by "
     "`--calls`); batch: the median seconds of one call on `--rows` rows. spread % = "
     "(slowest - fastest) / median of the rounds. speed vs skae = skae's time / the "
     "contender's (higher is faster)."),
    ("onnxruntime runs on one intra-op and one inter-op thread whatever `--threads` says; "
     "skae's torch and PCA's BLAS use `--threads` (the header's torch threads and BLAS)."),
    ("skae's time includes its input validation (`validate_data`) and its Python work per "
     "call, which dominate a one-row call; the graph holds the network only (and fills "
     "missing values as skae does)."),
    ("export s: `skae.onnx.to_onnx` (torch's TorchScript exporter, then onnx's version "
     "converter to the target opset); file KB: the serialised model (`onnx.save` writes "
     "the same bytes); max rel diff: max |onnxruntime - skae| / max |skae| over the batch's "
     "codes."),
]


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=5)
    parser.add_argument("--archs", nargs="+", choices=sorted(ARCHITECTURES),
                        default=list(ARCHITECTURES))
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the batch call (default 10,000; --quick 1,000)")
    parser.add_argument("--calls", type=int, default=None,
                        help="one-row calls per round (default 1,000; --quick 50)")
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--fit-epochs", type=int, default=2)
    args = _common.parse_args(parser, argv)
    if args.rows is None:
        args.rows = 1_000 if args.quick else 10_000
    if args.calls is None:
        args.calls = 50 if args.quick else 1_000
    if args.quick:
        args.fit_rows = min(args.fit_rows, 1_000)

    X_fit = _common.manifold(args.fit_rows, N_FEATURES, seed=args.seed)
    X = _common.manifold(args.rows, N_FEATURES, seed=args.seed + 1)
    pca = PCA(N_COMPONENTS, random_state=args.seed).fit(X_fit)
    rows = []
    for arch in args.archs:
        print(f"{arch}: fitting on {args.fit_rows} rows", flush=True)
        est = ARCHITECTURES[arch](args.seed).set_params(max_iter=args.fit_epochs, tol=0)
        est.fit(X_fit)
        start = time.perf_counter()
        model = to_onnx(est, X[:1])
        export_s = time.perf_counter() - start
        fns = transforms(est, session(model), pca)
        Z, Z_ort = est.transform(X), fns["onnxruntime"](X)
        max_rel_diff = float(np.abs(Z_ort - Z).max() / np.abs(Z).max())
        kinds = {  # kind -> (rows per call, calls per round, a round)
            "1 row": (1, args.calls, lambda fn: (lambda r: one_row_calls(fn, X, args.calls))),
            "batch": (args.rows, 1, lambda fn: (lambda r: fn(X) is None)),
        }
        for kind, (n_rows, calls, make) in kinds.items():
            print(f"{arch}, {kind}:", flush=True)
            timings = _common.interleaved({name: make(fns[name]) for name in CONTENDERS},
                                          repeats=args.repeats, warmup=1)
            seconds = {name: t.median / calls for name, t in timings.items()}
            for name in CONTENDERS:
                row = {
                    "arch": arch, "kind": kind, "contender": name, "rows": n_rows,
                    "seconds": seconds[name], "spread_pct": timings[name].spread,
                    "us_per_row": 1e6 * seconds[name] / n_rows,
                    "speed_vs_skae": seconds["skae"] / seconds[name],
                    "times_s": timings[name].times,
                }
                if name == "onnxruntime":
                    row.update(export_s=export_s, file_kb=model.ByteSize() / 1024,
                               max_rel_diff=max_rel_diff)
                rows.append(row)

    columns = [
        ("arch", "arch"), ("kind", "call"), ("contender", "contender"), ("rows", "rows"),
        ("seconds", "s per call (median)"), ("spread_pct", "spread %", ".0f"),
        ("us_per_row", "us per row"),
        ("speed_vs_skae", "speed vs skae", ".2f"), ("export_s", "export s"),
        ("file_kb", "file KB", ".0f"), ("max_rel_diff", "max rel diff", ".1e"),
    ]
    settings = _common.settings_of(args, n_features=N_FEATURES, n_components=N_COMPONENTS,
                                   hidden_layer_sizes=HIDDEN)
    versions = {name: module.__version__ for name, module in
                (("onnxruntime", ort), ("onnx", onnx), ("skl2onnx", skl2onnx))}
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Serving with ONNX (bench_onnx.py)",
                                 extra_versions=versions)


if __name__ == "__main__":
    main()
