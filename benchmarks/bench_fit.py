"""Fit throughput: skae against hand-written PyTorch, skorch, scikit-learn and pyod.

Question: how much does training through ``AutoencoderTransformer.fit`` cost
over the same model trained by a hand-written PyTorch loop, and how does it
compare with the other ways a scikit-learn user could train an autoencoder?

Every contender trains the same architecture (dense encoder ``(128, 64)``,
or ``(256, 128)`` for 784-D data, to a 16-D code, mirrored decoder, ReLU,
identity output, MSE) with Adam at the same learning rate and batch size for
the same number of epochs, reshuffling every epoch, in float32, on 90% of the
rows; the other 10% measure held-out reconstruction MSE. In one process,
interleaved round by round (``_common.interleaved``), median of ``--repeats``:

- ``skae``: ``AutoencoderTransformer(16, tol=0, max_iter=E, ...).fit(X)``;
- ``torch loop``: the module of ``skae.modules.build_autoencoder`` trained by
  a plain loop: one tensor, ``randperm`` per epoch, index a batch,
  ``zero_grad``, forward, MSE, backward, step, ``loss.item()``, with torch's
  default Adam (what most hand-written loops use); it is the 1.00 reference;
- ``torch loop (fused Adam)``: the same loop with ``Adam(fused=True)``, the
  optimizer skae uses by default, so the pure framework overhead shows as
  skae's ratio to this row;
- ``skorch``: ``skorch.NeuralNetRegressor`` the documented way (module
  returning the reconstruction, ``criterion=MSELoss``, ``train_split=None``,
  ``fit(X, X)``, so per-row ``Dataset`` + ``DataLoader`` collate);
- ``sklearn MLP``: ``MLPRegressor(hidden_layer_sizes=(h1, h2, 16, h2, h1),
  solver='adam', alpha=0).fit(X, X)``;
- ``pyod``: ``pyod.models.auto_encoder.AutoEncoder`` (if installed);
- ``PCA(16)`` fit, for reference (one pass over the data, not epochs).

Run ``python benchmarks/bench_fit.py`` (full size: digits, manifold 100k x
100, MNIST and Fashion-MNIST 60k x 784, 5 epochs, 5 repeats; long) or with
``--quick``; see ``--help``.
"""

import warnings

import _common
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from torch import nn

from skae import AutoencoderTransformer

NAME = "bench_fit"
N_COMPONENTS = 16
DATASETS = ("digits", "manifold", "mnist", "fashion")
CONTENDERS = ("skae", "torch loop", "torch loop (fused Adam)", "skorch", "sklearn MLP", "pyod",
              "PCA")


# ------------------------------------------------------------- contenders

def fit_skae(X, cfg, seed):
    return AutoencoderTransformer(
        N_COMPONENTS, hidden_layer_sizes=cfg["hidden"], activation="relu",
        output_activation="identity", learning_rate_init=cfg["lr"],
        batch_size=cfg["batch_size"], max_iter=cfg["epochs"], tol=0, random_state=seed,
    ).fit(X)


def fit_torch_loop(X, cfg, seed, **adam):
    """What a hand-written PyTorch training loop does."""
    return _common.fit_torch_loop(X, cfg, seed, N_COMPONENTS, **adam)


class Reconstruction(nn.Module):
    """skae's module, returning only the reconstruction (what skorch's MSELoss wants)."""

    def __init__(self, n_features, n_components, hidden_layer_sizes):
        super().__init__()
        self.ae = _common.build_module(n_features, n_components, hidden_layer_sizes)

    def forward(self, x):
        return self.ae(x)[0]


def fit_skorch(X, cfg, seed):
    from skorch import NeuralNetRegressor

    torch.manual_seed(seed)
    net = NeuralNetRegressor(
        Reconstruction, module__n_features=X.shape[1], module__n_components=N_COMPONENTS,
        module__hidden_layer_sizes=cfg["hidden"], criterion=nn.MSELoss,
        optimizer=torch.optim.Adam, lr=cfg["lr"], batch_size=cfg["batch_size"],
        max_epochs=cfg["epochs"], train_split=None, iterator_train__shuffle=True, verbose=0,
    )
    return net.fit(X, X)


def fit_mlp(X, cfg, seed):
    h1, h2 = cfg["hidden"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPRegressor(
            hidden_layer_sizes=(h1, h2, N_COMPONENTS, h2, h1), activation="relu",
            solver="adam", alpha=0.0, batch_size=cfg["batch_size"],
            learning_rate_init=cfg["lr"], max_iter=cfg["epochs"], tol=0,
            n_iter_no_change=cfg["epochs"] + 1, shuffle=True, random_state=seed,
        ).fit(X, X)


def fit_pyod(X, cfg, seed):
    from pyod.models.auto_encoder import AutoEncoder

    h1, h2 = cfg["hidden"]
    return AutoEncoder(
        preprocessing=False, lr=cfg["lr"], epoch_num=cfg["epochs"],
        batch_size=cfg["batch_size"], optimizer_name="adam", device="cpu",
        random_state=seed, verbose=0, optimizer_params={"weight_decay": 0.0},
        hidden_neuron_list=[h1, h2, N_COMPONENTS], hidden_activation_name="relu",
        batch_norm=False, dropout_rate=0.0,
    ).fit(X)


def fit_pca(X, cfg, seed):
    return PCA(N_COMPONENTS, random_state=seed).fit(X)


FITS = {
    "skae": fit_skae,
    "torch loop": fit_torch_loop,
    "torch loop (fused Adam)": lambda X, cfg, seed: fit_torch_loop(X, cfg, seed, fused=True),
    "skorch": fit_skorch,
    "sklearn MLP": fit_mlp,
    "pyod": fit_pyod,
    "PCA": fit_pca,
}


def reconstruct(name, model, X):
    """Held-out reconstructions of a fitted contender (eval mode, no autograd)."""
    if name in ("skae", "PCA"):
        return model.inverse_transform(model.transform(X))
    if name in ("sklearn MLP", "skorch"):
        return model.predict(X)
    module = model if name.startswith("torch loop") else model.model
    module.eval()
    with torch.inference_mode():
        out = module(torch.from_numpy(X))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def warm_up(contenders, args):
    """One untimed tiny fit per contender: pays one-time costs outside the clock.

    The first ``torch.optim`` optimizer of a process imports ``torch._dynamo``
    (seconds), and libraries import lazily; whoever ran first would pay it.
    """
    X = _common.manifold(256, 20, seed=args.seed)
    cfg = {"hidden": (8, 8), "lr": args.lr, "batch_size": 64, "epochs": 1}
    for name in contenders:
        model = FITS[name](X, cfg, 0)
        reconstruct(name, model, X[:10])


NOTES = [
    ("Same data (float32), same Adam learning rate, batch size and epochs, reshuffled every "
     "epoch; each row is the median of the interleaved repeats; fit time is the whole "
     "`fit` call as a user pays it (validation, model building, training)."),
    ("spread % = (slowest - fastest) / median of the repeats: how noisy the machine was. "
     "samples/s = training rows x epochs / fit time; s/epoch = fit time / epochs; "
     "vs torch = throughput relative to the hand-written loop (higher is faster)."),
    ("held-out MSE: mean squared error of the reconstructions of the 10% held-out rows "
     "(model in eval mode); it is a sanity check that every contender learns, not a "
     "tuned comparison."),
    ("torch loop: the same `build_autoencoder` module as skae, batches gathered from one "
     "tensor with `randperm`, `loss.item()` per batch (skorch and skae read the loss each "
     "batch too), torch's default Adam. skae uses `Adam(fused=True)` by default where the "
     "device supports it; `torch loop (fused Adam)` is the same loop with that optimizer, "
     "so skae's overhead as a framework is its throughput relative to that row."),
    ("skorch: `NeuralNetRegressor(module, criterion=MSELoss, train_split=None).fit(X, X)` "
     "with skorch's default per-row `Dataset` + `DataLoader` collate."),
    ("sklearn MLP: `MLPRegressor(hidden_layer_sizes=(h1, h2, 16, h2, h1), solver='adam', "
     "alpha=0, tol=0, n_iter_no_change=E+1)`; numpy float32; unlike the others it applies "
     "ReLU to the 16-unit code layer too, and uses Glorot initialisation."),
    ("pyod: `AutoEncoder(hidden_neuron_list=[h1, h2, 16], batch_norm=False, dropout_rate=0, "
     "preprocessing=False, optimizer_params={'weight_decay': 0})`; remaining differences: "
     "ReLU on the code layer, Kaiming-uniform init of the hidden layers, `drop_last=True`, "
     "per-row `Dataset` + `DataLoader`, and its `fit` also scores the training rows "
     "(`decision_scores_`, one inference pass, counted in its fit time)."),
    "PCA(16): one `fit`, for scale; epochs and throughput do not apply.",
    ("Before timing, each contender fits once on 256 tiny rows (untimed), so one-time "
     "process costs (the first `torch.optim` optimizer imports `torch._dynamo`; lazy "
     "imports) fall on no contender."),
]


def main(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None,
                        help="data sets to run (default: all; --quick: digits manifold mnist)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--max-rows", type=int, default=None,
                        help="use at most this many rows per data set (--quick: 2000)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 5, --quick 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    args = _common.parse_args(parser, argv)
    if args.quick:
        args.datasets = args.datasets or ["digits", "manifold", "mnist"]
        args.max_rows = args.max_rows or 2000
        args.epochs = args.epochs or 2
    args.datasets = args.datasets or list(DATASETS)
    args.epochs = args.epochs or 5

    contenders = list(args.contenders)
    extra_versions = {}
    if "pyod" in contenders:
        try:
            import pyod
            extra_versions["pyod"] = pyod.__version__
        except ImportError:
            print("note: pyod is not installed (pip install pyod); skipping it")
            contenders.remove("pyod")

    warm_up(contenders, args)
    rows = []
    for dataset, X_train, X_test in _common.heldout_datasets(args):
        cfg = {"hidden": _common.hidden_sizes(X_train.shape[1]), "lr": args.lr,
               "batch_size": args.batch_size, "epochs": args.epochs}
        print(f"{dataset}: {X_train.shape[0]} x {X_train.shape[1]} train, "
              f"{len(X_test)} held out, hidden {cfg['hidden']}", flush=True)
        timings = _common.interleaved(
            {name: (lambda r, f=FITS[name], X=X_train, cfg=cfg: f(X, cfg, args.seed + r))
             for name in contenders},
            repeats=args.repeats,
        )
        base = None
        for name, timing in timings.items():
            mse = [float(np.mean((reconstruct(name, m, X_test) - X_test) ** 2))
                   for m in timing.results]
            timing.results.clear()  # free the fitted models
            epochs = None if name == "PCA" else args.epochs
            row = {
                "dataset": dataset,
                "n_train": len(X_train),
                "n_features": X_train.shape[1],
                "contender": name,
                "fit_s": timing.median,
                "fit_s_min": timing.min,
                "fit_s_max": timing.max,
                "spread_pct": timing.spread,
                "s_per_epoch": timing.median / epochs if epochs else None,
                "samples_per_s": len(X_train) * epochs / timing.median if epochs else None,
                "heldout_mse": float(np.median(mse)),
                "times_s": timing.times,
            }
            if name == "torch loop":
                base = row["samples_per_s"]
            rows.append(row)
        for row in rows:
            if row["dataset"] == dataset:
                row["vs_torch"] = (row["samples_per_s"] / base
                                   if base and row["samples_per_s"] else None)

    columns = [
        ("dataset", "data"), ("n_train", "train rows"), ("contender", "contender"),
        ("fit_s", "fit s (median)"), ("spread_pct", "spread %", ".0f"),
        ("s_per_epoch", "s/epoch"),
        ("samples_per_s", "samples/s"), ("vs_torch", "vs torch", ".2f"),
        ("heldout_mse", "held-out MSE", ".4g"),
    ]
    settings = _common.settings_of(args, n_components=N_COMPONENTS,
                                   contenders=contenders)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Fit throughput (bench_fit.py)",
                                 extra_versions=extra_versions)


if __name__ == "__main__":
    main()
