"""GPU: skae's fit and transform on CUDA against a hand-written loop on the same GPU.

Question: on a GPU, where per-batch Python overhead is all that is left to
lose, does ``AutoencoderTransformer(device='cuda').fit`` keep up with a
hand-written PyTorch loop, and does ``transform`` keep up with a plain
inference loop?

Method (needs CUDA; without it the script says so and exits): the manifold
(100k x 100) and MNIST (60k x 784, if found) data sets, 10% held out; the
same module (``build_autoencoder``, hidden ``(128, 64)`` or ``(256, 128)``
for 784-D, code 16, ReLU), Adam at the same learning rate, ``--epochs``
epochs, at batch sizes 64, 256 and 1024:

- ``skae``: ``AutoencoderTransformer(..., device='cuda', tol=0).fit(X)``
  (it moves X to the GPU once and slices batches there);
- ``torch loop``: ``X`` moved to the GPU once, ``randperm`` on the GPU,
  index a batch, ``zero_grad``, forward, MSE, backward, step,
  ``loss.item()`` (a host sync per batch, as skorch does too).

``transform`` of ``--rows`` manifold rows (default 1M, numpy in and out):
skae against a plain loop (batches of 4096 moved to the GPU, encoded,
moved back, concatenated), plus the same loop on data already resident on
the GPU (no transfers: an upper bound). Every timing is bracketed by
``torch.cuda.synchronize()``, after an untimed warm-up; medians of
``--repeats`` (default 3) interleaved rounds.

Run ``python benchmarks/bench_gpu.py`` on a CUDA machine (a few minutes on
one GPU), or with ``--quick``. ``--device cpu`` exercises the script on a
CPU (for its smoke test; those numbers say nothing about GPUs).
"""


import _common
import numpy as np
import torch

from skae import AutoencoderTransformer

NAME = "bench_gpu"
N_COMPONENTS = 16
BATCH = 4096


def fit_skae(X, cfg, seed):
    return AutoencoderTransformer(
        N_COMPONENTS, hidden_layer_sizes=cfg["hidden"], output_activation="identity",
        learning_rate_init=cfg["lr"], batch_size=cfg["batch_size"], max_iter=cfg["epochs"],
        tol=0, device=cfg["device"], random_state=seed,
    ).fit(X)


def fit_torch_loop(X, cfg, seed, **adam):
    return _common.fit_torch_loop(X, cfg, seed, N_COMPONENTS, **adam)


# skae uses Adam(fused=True) where supported; the fused loop isolates its overhead.
FITS = {
    "skae": fit_skae,
    "torch loop": fit_torch_loop,
    "torch loop (fused Adam)": lambda X, cfg, seed: fit_torch_loop(X, cfg, seed, fused=True),
}


def heldout_mse(name, model, X_test, device):
    if name == "skae":
        return float(np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2))
    with torch.inference_mode():
        X = torch.from_numpy(X_test).to(device)
        return float((model(X)[0] - X).square().mean())


def transform_loop(module, X, device):
    outs = []
    with torch.inference_mode():
        for start in range(0, len(X), BATCH):
            xb = torch.from_numpy(X[start:start + BATCH]).to(device)
            outs.append(module.encode(xb).cpu())
    return torch.cat(outs).numpy()


def transform_resident(module, X_dev):
    outs = []
    with torch.inference_mode():
        for start in range(0, len(X_dev), BATCH):
            outs.append(module.encode(X_dev[start:start + BATCH]))
    return torch.cat(outs)


NOTES = [
    ("fit: same module, data, Adam learning rate, batch size and epochs; fit s is the "
     "whole `fit` call (skae) or the whole loop including the copy of X to the GPU "
     "(torch loop), bracketed by `torch.cuda.synchronize()`; median of interleaved "
     "rounds after an untimed 1-epoch warm-up of each contender at that batch size."),
    ("spread % = (slowest - fastest) / median of the repeats. "
     "samples/s = training rows x epochs / fit s; vs torch = throughput relative to the "
     "hand-written loop (higher is faster); held-out MSE on the 10% held-out rows is a "
     "sanity check."),
    ("transform: numpy float32 in, numpy out; `torch loop` moves batches of 4096 to the "
     "GPU and back and concatenates; `torch resident` encodes data already on the GPU "
     "and leaves the codes there (no transfers), an upper bound."),
    "TF32 matmuls stay at torch's default (off), for both contenders.",
]


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=3)
    parser.add_argument("--device", default="cuda",
                        help="torch device (default cuda; 'cpu' only to exercise the script)")
    parser.add_argument("--datasets", nargs="+", choices=("manifold", "mnist"),
                        default=["manifold", "mnist"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256, 1024])
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 3, --quick 1)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-rows", type=int, default=None,
                        help="rows per data set (--quick: 5000)")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows for transform (default 1,000,000; --quick 20,000)")
    args = _common.parse_args(parser, argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: CUDA is not available (torch.cuda.is_available() is False), so "
              "nothing was measured. Run it on a machine with a CUDA GPU and a CUDA build "
              "of torch; `--device cpu` only exercises the script.")
        return None
    if args.quick:
        args.max_rows = args.max_rows or 5000
        args.epochs = args.epochs or 1
        args.rows = args.rows or 20_000
    args.epochs = args.epochs or 3
    args.rows = args.rows or 1_000_000
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    rows = []
    for dataset, X_train, X_test in _common.heldout_datasets(args):
        for batch_size in args.batch_sizes:
            cfg = {"hidden": _common.hidden_sizes(X_train.shape[1]), "lr": args.lr,
                   "device": args.device, "batch_size": batch_size, "epochs": args.epochs}
            print(f"fit {dataset} {X_train.shape}, batch {batch_size}:", flush=True)
            warm = dict(cfg, epochs=1)
            for fit in FITS.values():
                fit(X_train[:2048], warm, 0)
            timings = _common.interleaved(
                {name: (lambda r, f=fit, X=X_train, cfg=cfg: f(X, cfg, args.seed + r))
                 for name, fit in FITS.items()},
                repeats=args.repeats, sync=sync,
            )
            base = len(X_train) * args.epochs / timings["torch loop"].median
            for name, timing in timings.items():
                mse = heldout_mse(name, timing.result, X_test, device)
                timing.results.clear()
                speed = len(X_train) * args.epochs / timing.median
                rows.append({
                    "section": "fit", "dataset": dataset, "batch_size": batch_size,
                    "contender": name, "n_rows": len(X_train), "seconds": timing.median,
                    "seconds_min": timing.min, "seconds_max": timing.max,
                    "spread_pct": timing.spread,
                    "s_per_epoch": timing.median / args.epochs, "samples_per_s": speed,
                    "vs_torch": speed / base, "heldout_mse": mse, "times_s": timing.times,
                })

    # transform throughput
    X = _common.manifold(args.rows, 100, seed=args.seed)
    ae = AutoencoderTransformer(N_COMPONENTS, hidden_layer_sizes=(128, 64), max_iter=1, tol=0,
                                device=args.device, random_state=args.seed).fit(X[:20_000])
    module = ae.net_.module_
    X_dev = torch.from_numpy(X).to(device)
    contenders = {
        "skae": lambda r: ae.transform(X) is None,
        "torch loop": lambda r: transform_loop(module, X, device) is None,
        "torch resident": lambda r: transform_resident(module, X_dev) is None,
    }
    print(f"transform {X.shape}:", flush=True)
    timings = _common.interleaved(contenders, repeats=args.repeats, warmup=1, sync=sync)
    base = timings["torch loop"].median
    for name, timing in timings.items():
        rows.append({
            "section": "transform", "dataset": "manifold", "batch_size": BATCH,
            "contender": name, "n_rows": len(X), "seconds": timing.median,
            "seconds_min": timing.min, "seconds_max": timing.max, "spread_pct": timing.spread,
            "samples_per_s": len(X) / timing.median, "vs_torch": base / timing.median,
            "times_s": timing.times,
        })

    columns = [
        ("section", "what"), ("dataset", "data"), ("batch_size", "batch"),
        ("contender", "contender"), ("seconds", "s (median)"), ("spread_pct", "spread %", ".0f"),
        ("s_per_epoch", "s/epoch"),
        ("samples_per_s", "rows/s"), ("vs_torch", "vs torch", ".2f"),
        ("heldout_mse", "held-out MSE", ".4g"),
    ]
    settings = _common.settings_of(args, n_components=N_COMPONENTS)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir, title="GPU (bench_gpu.py)")


if __name__ == "__main__":
    main()
