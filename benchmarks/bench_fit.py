"""Fit: throughput against PyTorch and peers, default settings' time to quality, busy machines.

One script, four tables (``--tables``, default all four), each written to
``benchmarks/results/`` under its own name with the machine it ran on.

**throughput** (``bench_fit.md``). Question: how much does training through
``AutoencoderTransformer.fit`` cost over the same model trained by a
hand-written PyTorch loop, and how does it compare with the other ways a
scikit-learn user could train an autoencoder?

Every contender trains the same architecture (dense encoder ``(128, 64)``,
or ``(256, 128)`` for 784-D data, to a 16-D code, mirrored decoder, ReLU,
identity output, MSE) with Adam at the same learning rate and batch size for
the same number of epochs, reshuffling every epoch, in float32, on 90% of the
rows; the other 10% measure held-out reconstruction MSE. In one process,
interleaved round by round (``_common.interleaved``), median of ``--repeats``:

- ``skae``: ``AutoencoderTransformer(16, tol=0, max_iter=E, early_stopping=False,
  ...).fit(X)``;
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

**defaults** (``bench_fit_defaults.md``, issue #14). Question: how long
does a fit with skae's default settings take, and how close does it get to
what the same model reaches when trained to convergence? Data:
``manifold(220_000, 50, noise=0.1)`` (a known 5-D structure, noise floor
MSE 0.01; its last 20,000 rows held out), ``manifold(1_050_000, 20,
noise=0.1)`` (last 50,000 held out), scikit-learn's digits (``data / 16``,
10% held out) and MNIST (60,000 training rows in [0, 1], its 10,000 test
rows held out; if the files are present). ``k`` = 5, 5, 8, 16. Contenders,
one fit each (long fits: one is enough to read the ratios):

- ``AutoencoderTransformer(k, random_state=0)`` and ``VAETransformer(k,
  random_state=0)``: the estimators as constructed with defaults
  (``batch_size='auto'``, ``early_stopping='auto'``, ``n_jobs=None``);
- ``PCA(k)``;
- ``MLPRegressor(hidden_layer_sizes=(128, 64, k, 64, 128),
  random_state=0).fit(X, X)``, scikit-learn's defaults (skipped above
  ``--mlp-max-rows`` training rows, where it would run for an hour);
- a converged reference per estimator and data set: the same class and
  architecture with ``batch_size=256, early_stopping=True, tol=0,
  n_iter_no_change=20``, ``max_iter=300`` (``--ref-max-iter``; 100 above
  500,000 training rows, ``--ref-max-iter-large``), skorch's
  ``LRScheduler('ReduceLROnPlateau', monitor='valid_loss', factor=0.3,
  patience=3)`` and a callback that stops training once the learning rate
  has fallen below 1e-3 x its start. References are cached in
  ``<output-dir>/bench_fit_defaults_cache.json`` keyed by estimator, data
  and every parameter (``--refresh-cache`` recomputes them).

The table reports the wall time of ``fit``, epochs run, the batch size and
early stopping the estimator chose, held-out MSE and its ratios to the
converged reference (the goal for skae's defaults: at most 1.02) and to PCA.

**busy** (``bench_fit_busy.md``, issue #14). Question: does skae's thread
policy (``n_jobs=None``) protect a fit from a machine whose cores are all
busy, without slowing it on a quiet one? Four fits: a tiny one (500 x 20,
``AutoencoderTransformer(2, max_iter=20, tol=0)``), digits with defaults,
``manifold(20_000, 100)`` with ``AutoencoderTransformer(16, max_iter=10,
tol=0, batch_size=256)``, and a wide one (20,000 MNIST rows, else
``manifold(20_000, 784)``, ``hidden_layer_sizes=(256, 128)``, 3 epochs of
512 rows), each with ``n_jobs`` = torch's default thread count, 1, and None
(skae's policy), timed quiet and then with one CPU-bound competing process
(``python -c "while True: pass"``) per usable CPU; median of ``--repeats``
interleaved rounds. torch's global thread count stays at its default for
this table (``--threads`` does not apply), so the policy's ceiling is the
default.

**loop** (``bench_fit_loop.md``, issue #26). Question: how much does an
epoch through skae's training loop (skorch's ``fit_loop``, skae's callbacks
and criterion) cost over the same epoch of a hand-written loop? Data:
``manifold(20_000, 30)`` (``--loop-rows``, ``--loop-features``); model:
``AutoencoderTransformer``'s default architecture (2-D code, hidden
``(128, 64)``, ReLU, identity output, MSE), batch 64 (``--loop-batch-size``),
Adam at ``--lr``, no hold-out. Each contender keeps its model between calls
and trains one epoch per call; ``--loop-rounds`` interleaved rounds
(``_common.interleaved``, after one untimed epoch each), medians:

- ``torch loop (fused Adam)``: ``_common.torch_loop_epoch`` on the same
  module with ``Adam(fused=True)``, the 1.00 reference;
- ``skae``: ``net_.partial_fit(dataset, epochs=1)`` of a fitted
  ``AutoencoderTransformer(batch_size=64, tol=0, early_stopping=False)``, so
  every callback of a fit runs (the estimator's own ``partial_fit`` adds its
  input checks);
- ``skae, skorch's loop``: the same with skorch's own
  ``NeuralNet.run_single_epoch`` and ``notify`` (skae's loop before #26).

Run ``python benchmarks/bench_fit.py`` (full size, all tables: hours; the
throughput table alone: ``--tables throughput``) or with ``--quick``; see
``--help``.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import _common
import joblib
import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from skorch.callbacks import Callback, LRScheduler
from torch import nn

from skae import AutoencoderTransformer, VAETransformer

#: torch's own thread count, read before ``--threads`` changes it (the
#: ``busy`` table runs at this count).
TORCH_DEFAULT_THREADS = torch.get_num_threads()

NAME = "bench_fit"
TABLES = ("throughput", "defaults", "busy", "loop")
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
        early_stopping=False,  # every contender trains on all rows (no hold-out above 10k)
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


def run_throughput(args):
    """The throughput table: every contender trains the same model for the same epochs."""
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
    settings = _settings(args, ["quick", "repeats", "seed", "threads", "datasets", "max_rows",
                                "epochs", "batch_size", "lr"],
                         n_components=N_COMPONENTS, contenders=contenders)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Fit throughput (bench_fit.py)",
                                 extra_versions=extra_versions)



# ------------------------------------------------------- table: defaults

DEFAULTS_NAME = "bench_fit_defaults"
#: name -> (label, training rows, held-out rows, columns, k); quick sizes in QUICK_ROWS.
DEFAULTS_DATA = {
    "manifold-200k": ("manifold 5-D in 50-D", 200_000, 20_000, 50, 5),
    "manifold-1m": ("manifold 5-D in 20-D", 1_000_000, 50_000, 20, 5),
    "digits": ("digits", None, None, 64, 8),
    "mnist": ("MNIST", 60_000, 10_000, 784, 16),
}
QUICK_ROWS = {"manifold-200k": (2_000, 500), "manifold-1m": (4_000, 500),
              "mnist": (2_000, 500)}
DEFAULTS_CONTENDERS = ("AE", "VAE", "PCA", "MLP")
ESTIMATORS = {"AE": AutoencoderTransformer, "VAE": VAETransformer}
LABELS = {"AE": "AutoencoderTransformer defaults", "VAE": "VAETransformer defaults",
          "PCA": "PCA", "MLP": "MLPRegressor defaults"}
#: What makes a fit the converged reference (besides max_iter and the callbacks).
REFERENCE_PARAMS = {"batch_size": 256, "early_stopping": True, "tol": 0.0,
                    "n_iter_no_change": 20}
LR_FACTOR, LR_PATIENCE, LR_FLOOR = 0.3, 3, 1e-3
LARGE_ROWS = 500_000


class StopAtLrFloor(Callback):
    """Stop training once the learning rate has fallen below ``floor`` x its start.

    Raises ``KeyboardInterrupt`` at the end of an epoch, as skorch's own
    ``EarlyStopping`` does: skorch ends training quietly and runs the
    ``on_train_end`` callbacks. Place it after the ``LRScheduler`` so it sees
    the rate the scheduler set for the next epoch.
    """

    def __init__(self, floor=LR_FLOOR):
        self.floor = floor

    def on_train_begin(self, net, **kwargs):
        self.stopped_ = False

    def on_epoch_end(self, net, **kwargs):
        if net.optimizer_.param_groups[0]["lr"] < self.floor * net.lr:
            self.stopped_ = True
            raise KeyboardInterrupt


def load_defaults_data(name, args):
    """``(label, X_train, X_test, k)`` of a ``defaults`` data set, or None if absent."""
    label, n_train, n_test, n_features, k = DEFAULTS_DATA[name]
    if args.quick and name in QUICK_ROWS:
        n_train, n_test = QUICK_ROWS[name]
    if name.startswith("manifold"):
        X = _common.manifold(n_train + n_test, n_features, noise=0.1, seed=args.seed)
        return label, X[:n_train], X[n_train:], k
    if name == "digits":
        X = _common.load_dataset("digits")
        return (label, *_common.heldout_split(X, 0.1, seed=args.seed), k)
    from skae.datasets import load_mnist

    folder = _common.mnist_dir(args.mnist_dir)
    try:
        X, _ = load_mnist(folder, "train")
    except FileNotFoundError as exc:
        print(f"note: skipping MNIST: {exc}. Set --mnist-dir or SKAE_MNIST_DIR.")
        return None
    try:
        X_test, _ = load_mnist(folder, "test")
    except FileNotFoundError:
        X, X_test = _common.heldout_split(X, 0.1, seed=args.seed)
    return label, np.ascontiguousarray(X[:n_train]), np.ascontiguousarray(X_test[:n_test]), k


def heldout_mse(model, X_test):
    """Mean squared error of the held-out rows' reconstructions, in float64."""
    if isinstance(model, MLPRegressor):
        X_hat = model.predict(X_test)
    else:
        X_hat = model.inverse_transform(model.transform(X_test))
    return float(np.mean((np.asarray(X_hat, dtype=np.float64) - X_test) ** 2))


def timed_fit(model, X, y=None):
    """Fit ``model`` once; return the seconds it took (warnings kept quiet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X) if y is None else model.fit(X, y)
        return time.perf_counter() - start


def default_contender(name, k, args, n_train):
    """The estimator of contender ``name`` as a user constructs it, or None if skipped."""
    if name in ESTIMATORS:
        cap = {"max_iter": args.defaults_max_iter} if args.defaults_max_iter else {}
        return ESTIMATORS[name](k, random_state=0, **cap)
    if name == "PCA":
        return PCA(k)
    if n_train > args.mlp_max_rows:
        return None
    cap = {"max_iter": args.mlp_max_iter} if args.mlp_max_iter else {}
    return MLPRegressor(hidden_layer_sizes=(128, 64, k, 64, 128), random_state=0, **cap)


def reference_estimator(name, k, max_iter):
    """The converged reference of estimator ``name`` (see the module docstring)."""
    callbacks = [
        ("lr_plateau", LRScheduler("ReduceLROnPlateau", monitor="valid_loss",
                                   factor=LR_FACTOR, patience=LR_PATIENCE)),
        ("lr_floor", StopAtLrFloor(LR_FLOOR)),
    ]
    return ESTIMATORS[name](k, random_state=0, max_iter=max_iter, callbacks=callbacks,
                            **REFERENCE_PARAMS)


class ResultCache:
    """Results of slow fits in a JSON file, keyed by a JSON string, written as they come."""

    def __init__(self, path, refresh=False):
        self.path = Path(path)
        self.refresh = refresh
        self.data = {}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))

    @staticmethod
    def key(**parts):
        return json.dumps(parts, sort_keys=True, default=repr)

    def get(self, key):
        return None if self.refresh else self.data.get(key)

    def put(self, key, value):
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def converged_reference(name, dataset, k, X_train, X_test, args, cache):
    """Held-out MSE, epochs and time of the converged reference: cached, else fitted."""
    max_iter = args.ref_max_iter_large if len(X_train) > LARGE_ROWS else args.ref_max_iter
    model = reference_estimator(name, k, max_iter)
    params = {p: v for p, v in model.get_params(deep=False).items() if p != "callbacks"}
    key = ResultCache.key(
        estimator=type(model).__name__, dataset=dataset, seed=args.seed,
        shape=[len(X_train), len(X_test), X_train.shape[1]], params=params,
        schedule=[LR_FACTOR, LR_PATIENCE, LR_FLOOR],
    )
    record = cache.get(key)
    if record is not None:
        print(f"  {name} converged reference: from the cache", flush=True)
        return dict(record, cached=True)
    print(f"  {name} converged reference: fitting (max_iter={max_iter})...", flush=True)
    seconds = timed_fit(model, X_train)
    stopper = dict(model.net_.callbacks_)["lr_floor"]
    stopped = ("learning rate floor" if stopper.stopped_
               else "max_iter" if model.n_iter_ >= max_iter else "early stopping")
    record = {
        "fit_s": seconds, "epochs": model.n_iter_, "max_iter": max_iter,
        "batch_size": model.batch_size, "heldout_mse": heldout_mse(model, X_test),
        "final_lr": model.net_.optimizer_.param_groups[0]["lr"], "stopped_by": stopped,
    }
    machine = _common.machine_info()
    record.update(date=machine["date"], loadavg_1min=machine.get("loadavg_1min"))
    cache.put(key, record)
    return dict(record, cached=False)


def warm_up_defaults():
    """Untimed tiny fits, so one-time process costs fall on no contender."""
    X = _common.manifold(256, 20, seed=0)
    for cls in ESTIMATORS.values():
        timed_fit(cls(2, max_iter=1, random_state=0), X)
    timed_fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=1), X, X)


DEFAULTS_NOTES = [
    ("Each contender is fitted once per data set (these fits are long; the ratios are "
     "what to read, not the second digit of a time); fit s is the whole `fit` call. "
     "skae's estimators are constructed with only `n_components` and `random_state` "
     "given, so `n_jobs=None` (skae's thread policy, within torch's thread count shown in "
     "the header: `--threads` sets that ceiling), and `batch_size_` and `early stopping` "
     "are what `batch_size='auto'` and `early_stopping='auto'` resolved to."),
    ("held-out MSE: mean squared error of the reconstructions "
     "(`inverse_transform(transform(X))`; `predict` for the MLP) of held-out rows: the "
     "manifolds' last 20,000 / 50,000 rows, 10% of digits, MNIST's test set. The "
     "manifolds have noise 0.1, so no model can go much below MSE 0.01 there."),
    ("/ converged: held-out MSE divided by that of the converged reference of the same "
     "estimator class (the VAE rows by the VAE reference, every other row by the "
     "AutoencoderTransformer's); the goal for skae's defaults is at most 1.02. / PCA: "
     "divided by PCA(k)'s held-out MSE."),
    ("converged reference: the same class and architecture with batch_size=256, "
     "early_stopping=True (10% validation, best epoch restored), tol=0, "
     "n_iter_no_change=20, skorch's LRScheduler('ReduceLROnPlateau', "
     "monitor='valid_loss', factor=0.3, patience=3), and a callback that ends training "
     "(by raising KeyboardInterrupt at the end of an epoch, as skorch's EarlyStopping "
     "does) once the learning rate is below 1e-3 x its start; max_iter={ref_max_iter}, "
     "{ref_max_iter_large} on more than 500,000 training rows. Its epochs, stop reason "
     "and time are in the JSON; its time is from the run that filled the cache (benchmarks/results/"
     "bench_fit_defaults_cache.json), possibly on a different day."),
    ("MLPRegressor: scikit-learn's defaults (adam, lr 1e-3, batch min(200, n), "
     "max_iter=200, tol=1e-4 on the training loss, alpha=1e-4) fitted as `fit(X, X)`, "
     "float64 internally; ReLU on its k-unit code layer too."),
]


def run_defaults(args):
    """The defaults table: default-settings fits against converged references."""
    datasets = args.defaults_datasets or (
        ["manifold-200k", "manifold-1m", "digits"] if args.quick else list(DEFAULTS_DATA))
    if args.quick:
        args.defaults_max_iter = args.defaults_max_iter or 3
        args.mlp_max_iter = args.mlp_max_iter or 3
        args.ref_max_iter = min(args.ref_max_iter, 4)
        args.ref_max_iter_large = min(args.ref_max_iter_large, 4)
    cache = ResultCache(args.cache or Path(args.output_dir) / f"{DEFAULTS_NAME}_cache.json",
                        refresh=args.refresh_cache)
    warm_up_defaults()
    rows, skipped = [], []
    for dataset in datasets:
        data = load_defaults_data(dataset, args)
        if data is None:
            continue
        label, X_train, X_test, k = data
        shape = f"{len(X_train):,} x {X_train.shape[1]}"
        print(f"{label}: {shape} train, {len(X_test):,} held out, k={k}", flush=True)
        refs = {name: converged_reference(name, dataset, k, X_train, X_test, args, cache)
                for name in ESTIMATORS}
        found = []
        for name in DEFAULTS_CONTENDERS:
            model = default_contender(name, k, args, len(X_train))
            if model is None:
                skipped.append(f"{LABELS[name]} on {label} ({len(X_train):,} rows > "
                               f"--mlp-max-rows {args.mlp_max_rows:,})")
                continue
            seconds = timed_fit(model, X_train, X_train if name == "MLP" else None)
            row = {"dataset": label, "shape": shape, "n_test": len(X_test), "k": k,
                   "contender": LABELS[name], "fit_s": seconds,
                   "heldout_mse": heldout_mse(model, X_test)}
            if name in ESTIMATORS:
                row.update(epochs=model.n_iter_,
                           batch_size=getattr(model, "batch_size_", model.batch_size),
                           early_stopping=bool(getattr(model, "do_early_stopping_",
                                                       model.early_stopping)),
                           max_iter=model.max_iter)
            elif name == "MLP":
                row.update(epochs=model.n_iter_, batch_size=min(200, len(X_train)),
                           early_stopping=model.early_stopping, max_iter=model.max_iter)
            print(f"  {row['contender']}: {seconds:.2f} s, held-out MSE "
                  f"{row['heldout_mse']:.4g}", flush=True)
            found.append((name, row))
        for name, ref in refs.items():
            found.append((f"{name} ref", {
                "dataset": label, "shape": shape, "n_test": len(X_test), "k": k,
                "contender": f"{ESTIMATORS[name].__name__} converged (reference)",
                "fit_s": ref["fit_s"], "epochs": ref["epochs"],
                "batch_size": ref["batch_size"], "early_stopping": True,
                "heldout_mse": ref["heldout_mse"], "max_iter": ref["max_iter"],
                "stopped_by": ref["stopped_by"], "from_cache": ref["cached"]}))
        pca = next(row["heldout_mse"] for name, row in found if name == "PCA")
        for name, row in found:
            ref = refs["VAE" if name.startswith("VAE") else "AE"]["heldout_mse"]
            row["vs_converged"] = row["heldout_mse"] / ref
            row["vs_pca"] = row["heldout_mse"] / pca
            rows.append(row)

    columns = [
        ("dataset", "data"), ("shape", "train rows x cols"), ("k", "k"),
        ("contender", "contender"), ("fit_s", "fit s"), ("epochs", "epochs"),
        ("batch_size", "batch_size_"), ("early_stopping", "early stopping"),
        ("heldout_mse", "held-out MSE", ".4g"), ("vs_converged", "/ converged", ".3f"),
        ("vs_pca", "/ PCA", ".3f"),
    ]
    notes = [note.format(**vars(args)) for note in DEFAULTS_NOTES]
    if args.quick or args.defaults_max_iter or args.mlp_max_iter:
        notes.append(f"Reduced run: max_iter of the default contenders capped at "
                     f"{args.defaults_max_iter}, of the MLP at {args.mlp_max_iter}, of the "
                     f"references at {args.ref_max_iter} / {args.ref_max_iter_large}"
                     f"{'; data of a few thousand rows' if args.quick else ''}; "
                     "not the defaults' behaviour.")
    if skipped:
        notes.append("Skipped (too slow): " + "; ".join(skipped) + ".")
    settings = _settings(args, ["quick", "seed", "threads", "defaults_datasets",
                                "defaults_max_iter", "mlp_max_iter", "mlp_max_rows",
                                "ref_max_iter", "ref_max_iter_large", "refresh_cache"],
                         reference=dict(REFERENCE_PARAMS, lr_factor=LR_FACTOR,
                                        lr_patience=LR_PATIENCE, lr_floor=LR_FLOOR))
    return _common.write_results(DEFAULTS_NAME, rows, columns, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Default settings: time to quality (bench_fit.py)")


# ---------------------------------------------------------- table: busy

BUSY_NAME = "bench_fit_busy"


class ThreadProbe(Callback):
    """Record the torch threads each epoch trains with (after skae's thread policy set them)."""

    def on_train_begin(self, net, **kwargs):
        self.threads_ = []

    def on_epoch_begin(self, net, **kwargs):
        self.threads_.append(torch.get_num_threads())


def busy_fits(args):
    """``{fit name: (X, estimator parameters)}`` of the ``busy`` table."""
    quick = args.quick
    n = 1_000 if quick else 20_000
    rng = np.random.default_rng(args.seed)
    wide = _common.load_dataset("mnist", max_rows=n, mnist_path=args.mnist_dir)
    wide_name = "MNIST" if wide is not None else "manifold"
    if wide is None:
        wide = _common.manifold(n, 784, seed=args.seed)
    return {
        "tiny (500 x 20)": (
            rng.standard_normal((500, 20), dtype=np.float32),
            {"n_components": 2, "max_iter": 2 if quick else 20, "tol": 0}),
        "digits, defaults": (
            _common.load_dataset("digits"),
            {"n_components": 8, **({"max_iter": 2} if quick else {})}),
        f"manifold ({n:,} x 100)": (
            _common.manifold(n, 100, seed=args.seed),
            {"n_components": 16, "max_iter": 1 if quick else 10, "tol": 0, "batch_size": 256}),
        f"wide: {wide_name} ({n:,} x 784)": (
            wide,
            {"n_components": 16, "hidden_layer_sizes": (256, 128), "max_iter": 1 if quick else 3,
             "tol": 0, "batch_size": 512}),
    }


def fit_threads(X, params, n_jobs):
    """Fit once with ``n_jobs``; return the threads each epoch used."""
    model = AutoencoderTransformer(**params, n_jobs=n_jobs, random_state=0,
                                   callbacks=[("thread_probe", ThreadProbe())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return dict(model.net_.callbacks_)["thread_probe"].threads_


def runnable_tasks():
    """Runnable tasks of the whole system now (Linux ``/proc/loadavg``), else None."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def competitors(n, settle=1.0):
    """Keep ``n`` CPU-bound processes (``python -c "while True: pass"``) running.

    They start ``settle`` seconds before the body runs and are killed (by
    their own ids) when it ends.
    """
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(settle)
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def _threads_used(runs):
    used = sorted({t for threads in runs for t in threads})
    return "-".join(str(t) for t in (used[:1] + used[-1:] if len(used) > 1 else used))


def run_busy(args):
    """The busy table: n_jobs settings timed quiet and with every usable CPU busy."""
    ceiling = torch.get_num_threads()
    torch.set_num_threads(TORCH_DEFAULT_THREADS)  # the policy's ceiling is torch's default
    try:
        return _run_busy(args)
    finally:
        torch.set_num_threads(ceiling)


def _run_busy(args):
    n_competitors = joblib.cpu_count()
    settings_by_label = {f"n_jobs={TORCH_DEFAULT_THREADS} (torch default)": TORCH_DEFAULT_THREADS,
                         "n_jobs=1": 1, "n_jobs=None (skae policy)": None}
    rows, load = [], {"competitors": n_competitors, "runnable_busy": [], "loadavg_busy": []}
    for fit, (X, params) in busy_fits(args).items():
        print(f"{fit}: {X.shape[0]:,} x {X.shape[1]}, {params}", flush=True)
        fits = {label: (lambda r, X=X, p=params, n_jobs=n_jobs: fit_threads(X, p, n_jobs))
                for label, n_jobs in settings_by_label.items()}
        for fn in fits.values():  # untimed: one-time costs outside the clock
            fn(-1)
        print("  quiet", flush=True)
        quiet = _common.interleaved(fits, repeats=args.repeats)
        with competitors(n_competitors):
            load["runnable_busy"].append(runnable_tasks())
            print(f"  busy ({n_competitors} competing processes)", flush=True)
            busy = _common.interleaved(fits, repeats=args.repeats)
            load["loadavg_busy"].append(round(os.getloadavg()[0], 2))
        for label, n_jobs in settings_by_label.items():
            q, b = quiet[label], busy[label]
            rows.append({
                "fit": fit, "shape": f"{X.shape[0]:,} x {X.shape[1]}", "setting": label,
                "n_jobs": n_jobs, "threads_quiet": _threads_used(q.results),
                "threads_busy": _threads_used(b.results),
                "quiet_s": q.median, "busy_s": b.median, "busy_vs_quiet": b.median / q.median,
                "quiet_spread_pct": q.spread, "busy_spread_pct": b.spread,
                "quiet_times_s": q.times, "busy_times_s": b.times,
            })
        policy, one, default = rows[-1], rows[-2], rows[-3]  # settings_by_label's order
        policy["policy_vs_one_busy"] = policy["busy_s"] / one["busy_s"]
        policy["policy_vs_default_quiet"] = policy["quiet_s"] / default["quiet_s"]

    policy_rows = [r for r in rows if r["n_jobs"] is None]
    worst_busy = max(r["policy_vs_one_busy"] for r in policy_rows)
    worst_quiet = max(r["policy_vs_default_quiet"] for r in policy_rows)
    columns = [
        ("fit", "fit"), ("shape", "rows x cols"), ("setting", "setting"),
        ("threads_quiet", "threads quiet"), ("threads_busy", "threads busy"),
        ("quiet_s", "quiet s"), ("busy_s", "busy s"), ("busy_vs_quiet", "busy/quiet", ".2f"),
        ("policy_vs_one_busy", "policy/1 thread, busy", ".2f"),
        ("policy_vs_default_quiet", "policy/torch default, quiet", ".2f"),
    ]
    notes = [
        (f"Busy: {n_competitors} competing CPU-bound processes (`python -c \"while True: "
         f"pass\"`, one per usable CPU, `joblib.cpu_count()`), started 1 s before a fit's "
         f"busy rounds and killed after them; runnable tasks when they had started: "
         f"{load['runnable_busy']}; 1-minute load average at the end of each fit's busy "
         f"rounds: {load['loadavg_busy']} (it lags: the runnable count is the one to "
         "read). Quiet: the same fits without them, just before (the header's load is "
         "the machine's at the end of the run)."),
        (f"Each time is the median of {args.repeats} interleaved rounds (the settings' "
         "order rotates each round) after one untimed fit per setting; quiet s and busy s "
         "are whole `fit` calls. The competitors inherit this process's niceness."),
        (f"torch's global thread count is its default ({TORCH_DEFAULT_THREADS}) for this "
         "table whatever `--threads` says, so it is the ceiling of skae's policy. threads "
         "quiet/busy: the torch threads the epochs trained with (range over epochs and "
         "rounds), read by a callback after skae set them."),
        (f"Summary: policy busy time / one-thread busy time, worst fit {worst_busy:.2f} "
         f"(goal <= 1.2); policy quiet time / torch-default quiet time, worst fit "
         f"{worst_quiet:.2f} (goal <= 1.0)."),
    ]
    if args.quick:
        notes.append("Reduced run (--quick): 1,000-row data, 1-2 epochs; not a measurement.")
    settings = _settings(args, ["quick", "repeats", "seed"],
                         torch_default_threads=TORCH_DEFAULT_THREADS, **load)
    return _common.write_results(BUSY_NAME, rows, columns, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Fits on a busy machine: thread policy (bench_fit.py)")


# ---------------------------------------------------------- table: loop

LOOP_NAME = "bench_fit_loop"


@contextlib.contextmanager
def skorchs_loop():
    """skae's net with skorch's own ``run_single_epoch`` and ``notify`` (before #26)."""
    from skorch import NeuralNet

    from skae._net import AutoencoderNet

    saved = {name: AutoencoderNet.__dict__[name] for name in ("run_single_epoch", "notify")}
    try:
        for name in saved:
            setattr(AutoencoderNet, name, getattr(NeuralNet, name))
        yield
    finally:
        for name, method in saved.items():
            setattr(AutoencoderNet, name, method)


def loop_epochs(X, args):
    """``name -> fn(repeat)``: one training epoch per call, each on its own model."""
    from skae._data import TensorDataset

    batch_size = args.loop_batch_size
    est = AutoencoderTransformer(batch_size=batch_size, learning_rate_init=args.lr, max_iter=1,
                                 tol=0, early_stopping=False, random_state=args.seed).fit(X)
    net, dataset = est.net_, TensorDataset(torch.from_numpy(X))
    torch.manual_seed(args.seed)
    module = _common.build_module(X.shape[1], est.n_components, est.hidden_layer_sizes).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr, fused=True)
    X_torch = torch.from_numpy(X)

    def skae_epoch(r):
        net.partial_fit(dataset, epochs=1)

    def skorchs_epoch(r):
        with skorchs_loop():
            net.partial_fit(dataset, epochs=1)

    return {
        "torch loop (fused Adam)": lambda r: _common.torch_loop_epoch(module, optimizer, X_torch,
                                                                      batch_size),
        "skae": skae_epoch,
        "skae, skorch's loop": skorchs_epoch,
    }


def run_loop(args):
    """The loop table: one epoch at a time through skae, skorch's loop and a hand loop."""
    n_rows, n_features = (2_000, args.loop_features) if args.quick else \
        (args.loop_rows, args.loop_features)
    rounds = 2 if args.quick else args.loop_rounds
    X = _common.manifold(n_rows, n_features, seed=args.seed)
    print(f"loop: {n_rows:,} x {n_features}, batch {args.loop_batch_size}", flush=True)
    epochs = loop_epochs(X, args)
    timings = _common.interleaved(epochs, repeats=rounds, warmup=1)
    hand = timings["torch loop (fused Adam)"]
    rows = []
    for name, timing in timings.items():
        rows.append({
            "contender": name, "rows": n_rows, "features": n_features,
            "batch_size": args.loop_batch_size, "s_per_epoch": timing.median,
            "spread_pct": timing.spread, "vs_torch": hand.median / timing.median,
            "vs_torch_paired": float(np.median(np.array(hand.times) / np.array(timing.times))),
            "times_s": timing.times,
        })
    columns = [
        ("contender", "contender"), ("s_per_epoch", "s/epoch (median)", ".4f"),
        ("spread_pct", "spread %", ".0f"), ("vs_torch", "vs torch", ".3f"),
        ("vs_torch_paired", "vs torch, paired", ".3f"),
    ]
    notes = [
        (f"One training epoch per call ({n_rows:,} x {n_features} rows of "
         f"`manifold`, batch {args.loop_batch_size}, Adam lr={args.lr:g}), each contender "
         f"on its own model kept between calls; median of {rounds} interleaved rounds "
         "(the order rotates each round) after one untimed epoch each."),
        ("vs torch = the hand loop's median epoch time / the contender's (higher is "
         "faster; goal for skae: >= 0.95); paired = the median over rounds of the same "
         "ratio within a round, steadier on a busy machine."),
        ("skae: `net_.partial_fit(dataset, epochs=1)` of a fitted "
         "`AutoencoderTransformer(batch_size=64, tol=0, early_stopping=False)` (default "
         "architecture): skorch's `fit_loop` with every callback of a fit (the training "
         "guard's snapshot, the thread policy, the epoch's scoring). skae, skorch's loop: the "
         "same net with `NeuralNet.run_single_epoch` and `NeuralNet.notify`, as skae trained "
         "before issue #26 (a `.item()` per batch and every callback called every batch)."),
        ("torch loop (fused Adam): `_common.torch_loop_epoch`, the loop of the throughput "
         "table's `torch loop` rows (with `loss.item()` per batch), on the same "
         "architecture with `Adam(fused=True)`, skae's optimizer."),
    ]
    if args.quick:
        notes.append("Reduced run (--quick): 2,000 rows, 2 rounds; not a measurement.")
    settings = _settings(args, ["quick", "seed", "threads", "lr", "loop_rows", "loop_features",
                                "loop_batch_size", "loop_rounds"])
    return _common.write_results(LOOP_NAME, rows, columns, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Training loop per epoch (bench_fit.py)")


# ------------------------------------------------------------------ main

def _settings(args, names, **extra):
    """The options of ``args`` named in ``names`` (and ``extra``), for a table's header."""
    every = _common.settings_of(args)
    return {**{name: every.get(name) for name in names}, **extra}


def main(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES),
                        help="tables to run (default: all four)")
    group = parser.add_argument_group("throughput table")
    group.add_argument("--datasets", nargs="+", choices=DATASETS, default=None,
                       help="data sets to run (default: all; --quick: digits manifold mnist)")
    group.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    group.add_argument("--max-rows", type=int, default=None,
                       help="use at most this many rows per data set (--quick: 2000)")
    group.add_argument("--epochs", type=int, default=None, help="epochs (default 5, --quick 2)")
    group.add_argument("--batch-size", type=int, default=64)
    group.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    group = parser.add_argument_group("defaults table")
    group.add_argument("--defaults-datasets", nargs="+", choices=list(DEFAULTS_DATA),
                       default=None, help="data sets (default: all; --quick: all but mnist, "
                                          "manifolds of a few thousand rows)")
    group.add_argument("--defaults-max-iter", type=int, default=None,
                       help="cap max_iter of skae's default contenders (default: none, the "
                            "estimators' own; --quick: 3)")
    group.add_argument("--mlp-max-iter", type=int, default=None,
                       help="cap MLPRegressor's max_iter (default: none, its own 200)")
    group.add_argument("--mlp-max-rows", type=int, default=300_000,
                       help="skip MLPRegressor above this many training rows (default 300000)")
    group.add_argument("--ref-max-iter", type=int, default=300,
                       help="max_iter of the converged references (default 300)")
    group.add_argument("--ref-max-iter-large", type=int, default=100,
                       help=f"the same above {LARGE_ROWS:,} training rows (default 100)")
    group.add_argument("--cache", type=Path, default=None,
                       help="cache of the references (default "
                            "<output-dir>/bench_fit_defaults_cache.json)")
    group.add_argument("--refresh-cache", action="store_true",
                       help="refit the references and overwrite their cache entries")
    group = parser.add_argument_group("loop table")
    group.add_argument("--loop-rows", type=int, default=20_000)
    group.add_argument("--loop-features", type=int, default=30)
    group.add_argument("--loop-batch-size", type=int, default=64)
    group.add_argument("--loop-rounds", type=int, default=15,
                       help="interleaved rounds of one epoch each (default 15; --quick 2)")
    args = _common.parse_args(parser, argv)

    runners = {"throughput": run_throughput, "defaults": run_defaults, "busy": run_busy,
               "loop": run_loop}
    return {table: runners[table](args) for table in TABLES if table in args.tables}


if __name__ == "__main__":
    main()
