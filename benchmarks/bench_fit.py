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

**defaults** (``bench_fit_defaults.md``, issues #14 and #26). Question: how
long does a fit with skae's default settings take, in seconds and in epochs
of a hand-written batch-64 loop, and how close does it get to what the same
model reaches when trained long, across table sizes? The sweep (``k`` in
brackets): ``manifold(n, d, noise=0.1)`` (a known 5-D structure, noise floor
MSE 0.01) at 2,000 x 20 and 20,000 x 30 [5] (research_fit_defaults.py's
selection tables, its split: a random 20% held out), a wide 5,000 x 800 one
with a 16-D latent [16] (20% held out), scikit-learn's digits [8] (``data /
16``, 10% held out), a wide-categorical table [8] (``bench_heads.table_frame``:
one 4,000-level and six 3-level categorical columns, plus 4 numeric ones;
20,000 rows, 20% held out), MNIST [16] (60,000 training rows in [0, 1], its
10,000 test rows held out; if the files are present), 220,000 x 50 and
1,050,000 x 20 [5] (their last 20,000 / 50,000 rows held out). Contenders,
one fit each (``--defaults-contenders``):

- ``AutoencoderTransformer(k, random_state=0)``: the estimator as
  constructed with defaults (``batch_size='auto'``, ``early_stopping='auto'``,
  ``learning_rate='one_cycle'``, ``n_jobs=None``); ``VAETransformer(k,
  random_state=0)`` on the tables it had before the sweep (digits, MNIST,
  the 200,000 and 1,000,000-row manifolds) up to ``--vae-max-rows``
  training rows (default 20,000: digits; its fits are long);
- ``hand``: a hand loop (``_common.fit_torch_loop``) on the same module at
  batch 64 with fused Adam and the default's one-cycle schedule (torch's
  ``OneCycleLR``, peak 1e-2, stepped per batch, over the default's
  epochs); its median epoch time is the unit of ``hand-loop epochs`` (above
  ``--hand-max-rows`` training rows it only runs ``--hand-timing-epochs``
  epochs to measure it); not on the categorical table;
- ``PCA(k)``;
- ``MLPRegressor(hidden_layer_sizes=(128, 64, k, 64, 128),
  random_state=0).fit(X, X)``, scikit-learn's defaults (skipped above
  ``--mlp-max-rows`` training rows; on the categorical table
  ``max_iter`` is capped at ``--mlp-categorical-max-iter``).

On the categorical table skae fits the DataFrame (per-column heads) and PCA
and the MLP its one-hot encoding (``OneHotEncoder(handle_unknown='ignore')``
and ``StandardScaler`` on the numeric columns), decoded by each column
block's argmax; quality there is held-out accuracy (the 4,000-level column;
the 3-level ones' mean) and numeric R^2. On the numeric tables it is
held-out MSE over a reference's: up to 20,000 training rows
research_fit_defaults.py's long run (``research_fit_defaults.long_reference``:
batch 64 on every training row, ``tol=0``, 300 epochs, cosine from 3e-3 to
0; its numbers are reused from ``research_fit_defaults.json`` where the table
and split are its own), above that a converged reference: the same class and
architecture with ``batch_size=256, early_stopping=True, tol=0,
n_iter_no_change=20``, a constant base rate (the class's default before skae
0.3: 3e-3, VAE 1e-3), ``max_iter=300`` (``--ref-max-iter``; 100 above
500,000 training rows, ``--ref-max-iter-large``), skorch's
``LRScheduler('ReduceLROnPlateau', monitor='valid_loss', factor=0.3,
patience=3)`` and a callback that stops training once the learning rate
has fallen below 1e-3 x its start. References are cached in
``<output-dir>/bench_fit_defaults_cache.json`` keyed by estimator, data
and every parameter (``--refresh-cache`` recomputes them).

The table reports the wall time of ``fit``, epochs run, the batch size and
early stopping the estimator chose, held-out MSE and its ratios to the
reference (the goal for skae's defaults: at most 1.02) and to PCA, the fit
time in hand-loop epochs (goal: at most 30 on the 2,000 and 20,000-row
tables; 200,000 x 50 in at most 40 s), and the notes say which goals were
met and which tables chose the defaults.

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
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import _common
import joblib
import numpy as np
import pandas as pd
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


def fit_torch_loop(X, cfg, seed, n_components=N_COMPONENTS, **kwargs):
    """What a hand-written PyTorch training loop does (``_common.fit_torch_loop``)."""
    return _common.fit_torch_loop(X, cfg, seed, n_components, **kwargs)


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
#: Numeric columns of the wide-categorical table (see ``categorical_table``).
N_NUMERIC = 4
CATEGORICAL_LEVELS, QUICK_LEVELS = 4_000, 100
#: name -> (label, training rows, held-out rows, columns, k), in the sweep's order
#: (quick sizes in QUICK_ROWS). The tables of SPLIT_TABLES hold out a random
#: SPLIT_FRACTION of their rows (``_common.heldout_split``, as
#: research_fit_defaults.py splits its manifolds), the other manifolds their last
#: rows, digits a random 10%, MNIST its test set.
DEFAULTS_DATA = {
    "manifold-2k": ("manifold 5-D in 20-D", 1_600, 400, 20, 5),
    "manifold-20k": ("manifold 5-D in 30-D", 16_000, 4_000, 30, 5),
    "wide-5k": ("manifold 16-D in 800-D", 4_000, 1_000, 800, 16),
    "digits": ("digits", None, None, 64, 8),
    "categorical-20k": ("wide categorical", 16_000, 4_000, 7 + N_NUMERIC, 8),
    "mnist": ("MNIST", 60_000, 10_000, 784, 16),
    "manifold-200k": ("manifold 5-D in 50-D", 200_000, 20_000, 50, 5),
    "manifold-1m": ("manifold 5-D in 20-D", 1_000_000, 50_000, 20, 5),
}
SPLIT_TABLES, SPLIT_FRACTION = ("manifold-2k", "manifold-20k", "wide-5k", "categorical-20k"), 0.2
N_LATENT = {"wide-5k": 16}  # the manifolds' latent dimension (default 5)
QUICK_ROWS = {"manifold-2k": (400, 100), "manifold-20k": (800, 200), "wide-5k": (400, 100),
              "categorical-20k": (800, 200), "manifold-200k": (2_000, 500),
              "manifold-1m": (4_000, 500), "mnist": (2_000, 500)}
#: This table's data sets that research_fit_defaults.py also used (same data and split
#: at seed 0): its table names.
RESEARCH_TABLES = {"manifold-2k": "manifold 2,000 x 20", "manifold-20k": "manifold 20,000 x 30",
                   "digits": "digits"}
#: Up to this many training rows the reference is research_fit_defaults.py's long run,
#: above it the converged reference.
LONG_REF_MAX_ROWS = 20_000
HAND_BATCH = 64  # the hand loop's batch: the time unit is its epoch
DEFAULTS_CONTENDERS = ("AE", "VAE", "hand", "PCA", "MLP")
#: The tables the VAETransformer default runs on (those of the table before the sweep).
VAE_TABLES = ("digits", "mnist", "manifold-200k", "manifold-1m")
ESTIMATORS = {"AE": AutoencoderTransformer, "VAE": VAETransformer}
LABELS = {"AE": "AutoencoderTransformer defaults", "VAE": "VAETransformer defaults",
          "hand": "hand loop (batch 64, fused Adam, one-cycle)",
          "PCA": "PCA", "MLP": "MLPRegressor defaults"}
#: What makes a fit the converged reference (besides max_iter and the callbacks).
REFERENCE_PARAMS = {"batch_size": 256, "early_stopping": True, "tol": 0.0,
                    "n_iter_no_change": 20}
#: The references' learning rates, pinned: each class's default when the cache was
#: filled (skae 0.3 made the AutoencoderTransformer's default a one-cycle peaking at 1e-2).
REFERENCE_RATES = {"AE": {"learning_rate": "constant", "learning_rate_init": 3e-3},
                   "VAE": {"learning_rate": "constant", "learning_rate_init": 1e-3}}
#: Parameters added to the estimators after the cache was filled, at the values that
#: change nothing: left out of the cache keys, so the older entries stay valid.
KEY_NEUTRAL = {"target_weight": 0.0}
LR_FACTOR, LR_PATIENCE, LR_FLOOR = 0.3, 3, 1e-3
LARGE_ROWS = 500_000


def _research():
    """research_fit_defaults.py (imported late: it imports this module)."""
    import research_fit_defaults

    return research_fit_defaults


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


def categorical_table(n_rows, levels, seed):
    """The wide-categorical table: ``bench_heads.table_frame`` and N_NUMERIC numeric columns.

    bench_heads' columns: one ``levels``-level categorical column and six
    3-level ones, levels drawn uniformly and independently (category
    dtype). The numeric ones: ``tanh(Z W) + 0.1 E`` with a 2-D standard
    normal ``Z``, a standard normal 2 x N_NUMERIC map ``W`` and noise ``E``.
    """
    import bench_heads

    frame = bench_heads.table_frame(SimpleNamespace(seed=seed, levels=levels, rows=n_rows))
    rng = np.random.default_rng([seed, 3])
    Z = rng.standard_normal((n_rows, 2))
    W = rng.standard_normal((2, N_NUMERIC))
    numeric = np.tanh(Z @ W) + 0.1 * rng.standard_normal((n_rows, N_NUMERIC))
    for j in range(N_NUMERIC):
        frame[f"num{j}"] = numeric[:, j].astype(np.float32)
    return frame


def load_defaults_data(name, args):
    """``(label, X_train, X_test, k)`` of a ``defaults`` data set, or None if absent.

    The wide-categorical table comes as two DataFrames, the others as float32 arrays.
    """
    label, n_train, n_test, n_features, k = DEFAULTS_DATA[name]
    if args.quick and name in QUICK_ROWS:
        n_train, n_test = QUICK_ROWS[name]
    if name == "categorical-20k":
        X = categorical_table(n_train + n_test, QUICK_LEVELS if args.quick else CATEGORICAL_LEVELS,
                              args.seed)
        train, test = _common.heldout_split(np.arange(len(X)), SPLIT_FRACTION, seed=args.seed)
        return (label, X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True),
                k)
    if name.startswith(("manifold", "wide")):
        X = _common.manifold(n_train + n_test, n_features, n_latent=N_LATENT.get(name, 5),
                             noise=0.1, seed=args.seed)
        if name in SPLIT_TABLES:
            return (label, *_common.heldout_split(X, SPLIT_FRACTION, seed=args.seed), k)
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
    elif isinstance(model, nn.Module):
        X_hat = reconstruct("torch loop", model, X_test)
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


def default_contender(name, k, args, n_train, mlp_max_iter=None):
    """The estimator of contender ``name`` as a user constructs it, or None if skipped."""
    if name in ESTIMATORS:
        cap = {"max_iter": args.defaults_max_iter} if args.defaults_max_iter else {}
        return ESTIMATORS[name](k, random_state=0, **cap)
    if name == "PCA":
        return PCA(k)
    if n_train > args.mlp_max_rows:
        return None
    mlp_max_iter = mlp_max_iter or args.mlp_max_iter
    cap = {"max_iter": mlp_max_iter} if mlp_max_iter else {}
    return MLPRegressor(hidden_layer_sizes=(128, 64, k, 64, 128), random_state=0, **cap)


def hand_loop(k, X_train, X_test, args):
    """The hand loop on the default's module and schedule: a row (without data fields).

    ``fit_torch_loop`` at batch HAND_BATCH with fused Adam and the default
    ``AutoencoderTransformer``'s epochs, peak rate and schedule; above
    ``--hand-max-rows`` training rows only its first ``--hand-timing-epochs``
    epochs run (a timing run: no held-out MSE).
    """
    default = default_contender("AE", k, args, len(X_train))
    epochs = default.max_iter
    if epochs == "auto":  # what the default's fit resolves it to
        from skae._wiring import auto_batch_size, auto_max_iter

        n = len(X_train)
        epochs = auto_max_iter(n, auto_batch_size(n), default.learning_rate)
    cfg = {"hidden": default.hidden_layer_sizes, "lr": default.learning_rate_init,
           "batch_size": HAND_BATCH, "epochs": epochs,
           "one_cycle": default.learning_rate == "one_cycle"}
    timing_only = len(X_train) > args.hand_max_rows
    times = []
    start = time.perf_counter()
    module = fit_torch_loop(X_train, cfg, 0, n_components=k, fused=True, epoch_times=times,
                            max_epochs=args.hand_timing_epochs if timing_only else None)
    seconds = time.perf_counter() - start
    label = LABELS["hand"] + (f", timing only: {len(times)} of {cfg['epochs']} epochs"
                              if timing_only else "")
    return {"contender": label, "fit_s": None if timing_only else seconds,
            "epochs": len(times), "batch_size": HAND_BATCH, "early_stopping": False,
            "max_iter": cfg["epochs"], "hand_epoch_s": statistics.median(times),
            "hand_epoch_times_s": times, "timing_only": timing_only,
            "heldout_mse": None if timing_only else heldout_mse(module, X_test)}


def reference_estimator(name, k, max_iter):
    """The converged reference of estimator ``name`` (see the module docstring)."""
    callbacks = [
        ("lr_plateau", LRScheduler("ReduceLROnPlateau", monitor="valid_loss",
                                   factor=LR_FACTOR, patience=LR_PATIENCE)),
        ("lr_floor", StopAtLrFloor(LR_FLOOR)),
    ]
    return ESTIMATORS[name](k, random_state=0, max_iter=max_iter, callbacks=callbacks,
                            **REFERENCE_PARAMS, **REFERENCE_RATES[name])


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

    @staticmethod
    def params(model):
        """``model``'s parameters as a key part: no callbacks, no KEY_NEUTRAL values."""
        return {p: v for p, v in model.get_params(deep=False).items()
                if p != "callbacks" and not (p in KEY_NEUTRAL and v == KEY_NEUTRAL[p])}

    def get(self, key):
        return None if self.refresh else self.data.get(key)

    def put(self, key, value):
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _stamp(record):
    machine = _common.machine_info()
    record.update(date=machine["date"], loadavg_1min=machine.get("loadavg_1min"))
    return record


def converged_reference(name, dataset, k, X_train, X_test, args, cache):
    """Held-out MSE, epochs and time of the converged reference: cached, else fitted."""
    max_iter = args.ref_max_iter_large if len(X_train) > LARGE_ROWS else args.ref_max_iter
    model = reference_estimator(name, k, max_iter)
    key = ResultCache.key(
        estimator=type(model).__name__, dataset=dataset, seed=args.seed,
        shape=[len(X_train), len(X_test), X_train.shape[1]], params=ResultCache.params(model),
        schedule=[LR_FACTOR, LR_PATIENCE, LR_FLOOR],
    )
    record = cache.get(key)
    if record is not None:
        print(f"  {name} converged reference: from the cache", flush=True)
        return dict(record, kind="converged", cached=True)
    print(f"  {name} converged reference: fitting (max_iter={max_iter})...", flush=True)
    seconds = timed_fit(model, X_train)
    stopper = dict(model.net_.callbacks_)["lr_floor"]
    stopped = ("learning rate floor" if stopper.stopped_
               else "max_iter" if model.n_iter_ >= max_iter else "early stopping")
    record = _stamp({
        "fit_s": seconds, "epochs": model.n_iter_, "max_iter": max_iter,
        "batch_size": model.batch_size, "heldout_mse": heldout_mse(model, X_test),
        "final_lr": model.net_.optimizer_.param_groups[0]["lr"], "stopped_by": stopped,
    })
    cache.put(key, record)
    return dict(record, kind="converged", cached=False)


def long_reference(dataset, k, X_train, X_test, args, cache):
    """Held-out MSE of research_fit_defaults.py's long run: its results, the cache, or fitted.

    Its own results serve when this table is one of its tables (RESEARCH_TABLES)
    at seed 0 with the same shape (the same data and split).
    """
    research = _research()
    shape = [len(X_train), len(X_test), X_train.shape[1]]
    path = research.RESULTS / f"{research.NAME}.json"
    if dataset in RESEARCH_TABLES and args.seed == 0 and not args.quick and path.is_file():
        info = json.loads(path.read_text(encoding="utf-8"))["tables"].get(
            RESEARCH_TABLES[dataset], {})
        if ([info.get("n_train"), info.get("n_test"), info.get("n_features"), info.get("k")]
                == [*shape, k] and "reference_long" in info):
            print("  long reference: from research_fit_defaults.json", flush=True)
            return dict(info["reference_long"], kind="long", cached=True,
                        source=f"{research.NAME}.json")
    epochs = min(args.ref_max_iter, research.LONG_EPOCHS)
    model = research.long_reference(k, epochs)
    key = ResultCache.key(estimator=type(model).__name__, reference="long", dataset=dataset,
                          seed=args.seed, shape=shape, params=ResultCache.params(model),
                          schedule=["CosineAnnealingLR", epochs])
    record = cache.get(key)
    if record is not None:
        print("  long reference: from the cache", flush=True)
        return dict(record, kind="long", cached=True)
    print(f"  long reference: fitting ({epochs} epochs)...", flush=True)
    seconds = timed_fit(model, X_train)
    record = _stamp({"fit_s": seconds, "epochs": model.n_iter_, "batch_size": model.batch_size,
                     "heldout_mse": heldout_mse(model, X_test)})
    cache.put(key, record)
    return dict(record, kind="long", cached=False)


def warm_up_defaults():
    """Untimed tiny fits, so one-time process costs fall on no contender."""
    X = _common.manifold(256, 20, seed=0)
    for cls in ESTIMATORS.values():
        timed_fit(cls(2, max_iter=1, random_state=0), X)
    timed_fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=1), X, X)
    fit_torch_loop(X, {"hidden": (8, 8), "lr": 1e-2, "batch_size": 64, "epochs": 1,
                       "one_cycle": True}, 0, n_components=2, fused=True)


def _fitted_row(name, model, seconds, n_train):
    """The fields of a contender's row that its fitted estimator tells."""
    row = {"contender": LABELS[name], "fit_s": seconds}
    if name in ESTIMATORS:
        row.update(epochs=model.n_iter_, batch_size=getattr(model, "batch_size_", None),
                   early_stopping=bool(getattr(model, "do_early_stopping_",
                                               model.early_stopping)),
                   max_iter=model.max_iter)
    elif name == "MLP":
        row.update(epochs=model.n_iter_, batch_size=min(200, n_train),
                   early_stopping=model.early_stopping, max_iter=model.max_iter)
    return row


def numeric_rows(dataset, label, X_train, X_test, k, contenders, args, cache, skipped):
    """The rows of one numeric table."""
    if len(X_train) <= LONG_REF_MAX_ROWS:
        refs = {"AE": long_reference(dataset, k, X_train, X_test, args, cache)}
    else:
        refs = {"AE": converged_reference("AE", dataset, k, X_train, X_test, args, cache)}
    if "VAE" in contenders and dataset in VAE_TABLES:
        if len(X_train) <= args.vae_max_rows:
            refs["VAE"] = converged_reference("VAE", dataset, k, X_train, X_test, args, cache)
        else:
            skipped.append(f"{LABELS['VAE']} on {label} ({len(X_train):,} rows > "
                           f"--vae-max-rows {args.vae_max_rows:,})")
    found = []
    for name in contenders:
        if name == "VAE" and "VAE" not in refs:
            continue
        if name == "hand":
            row = hand_loop(k, X_train, X_test, args)
        else:
            model = default_contender(name, k, args, len(X_train))
            if model is None:
                skipped.append(f"{LABELS[name]} on {label} ({len(X_train):,} rows > "
                               f"--mlp-max-rows {args.mlp_max_rows:,})")
                continue
            seconds = timed_fit(model, X_train, X_train if name == "MLP" else None)
            row = dict(_fitted_row(name, model, seconds, len(X_train)),
                       heldout_mse=heldout_mse(model, X_test))
        row["load"] = round(os.getloadavg()[0], 2)
        print(f"  {row['contender']}: {row['fit_s'] or 0:.2f} s, held-out MSE "
              f"{row['heldout_mse'] or float('nan'):.4g}", flush=True)
        found.append((name, row))
    for name, ref in refs.items():
        what = ("long run (reference)" if ref["kind"] == "long"
                else "converged (reference)")
        found.append((f"{name} ref", {
            "contender": f"{ESTIMATORS[name].__name__} {what}", "fit_s": ref["fit_s"],
            "epochs": ref["epochs"], "batch_size": ref.get("batch_size", 64),
            "early_stopping": ref["kind"] == "converged", "heldout_mse": ref["heldout_mse"],
            "max_iter": ref.get("max_iter"), "stopped_by": ref.get("stopped_by"),
            "from_cache": ref["cached"], "source": ref.get("source", "cache"),
            "ref_date": ref.get("date")}))
    pca = next((row["heldout_mse"] for name, row in found if name == "PCA"), None)
    hand = next((row["hand_epoch_s"] for name, row in found if name == "hand"), None)
    rows = []
    for name, row in found:
        ref = refs["VAE" if name.startswith("VAE") else "AE"]
        mse = row["heldout_mse"]
        row.update(
            dataset=label, key=dataset, shape=f"{len(X_train):,} x {X_train.shape[1]}",
            n_test=len(X_test), k=k, reference=ref["kind"],
            vs_converged=mse / ref["heldout_mse"] if mse is not None else None,
            vs_pca=mse / pca if mse is not None and pca else None,
            hand_epochs=(row["fit_s"] / hand if hand and row["fit_s"] is not None
                         and not name.endswith(" ref") else None))
        rows.append(row)
    return rows


def one_hot_encoder(X):
    """One-hot categorical columns (unknown levels: all zeros), standardised numeric ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    num = [c for c in X.columns if c not in cat]
    return ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
         ("num", StandardScaler(), num)], sparse_threshold=0).fit(X)


def one_hot_decode(encoder, Z):
    """A DataFrame from encoded rows ``Z``: each column block's argmax, numeric unscaled."""
    ohe, scaler = encoder.named_transformers_["cat"], encoder.named_transformers_["num"]
    (_, _, cat), (_, _, num) = encoder.transformers_[:2]
    out, start = {}, 0
    for column, levels in zip(cat, ohe.categories_):
        out[column] = levels[Z[:, start:start + len(levels)].argmax(1)]
        start += len(levels)
    out.update(zip(num, scaler.inverse_transform(Z[:, start:]).T))
    return pd.DataFrame(out)


def table_quality(X_hat, X_test):
    """Held-out accuracy of the big and (mean) small categorical columns, numeric R^2."""
    from sklearn.metrics import r2_score

    cat = [c for c in X_test.columns if isinstance(X_test[c].dtype, pd.CategoricalDtype)]
    num = [c for c in X_test.columns if c not in cat]
    acc = {c: float(np.mean(np.asarray(X_hat[c], dtype=object)
                            == np.asarray(X_test[c], dtype=object))) for c in cat}
    return {"acc_big": acc[cat[0]], "acc_small": float(np.mean([acc[c] for c in cat[1:]])),
            "r2_numeric": float(r2_score(X_test[num].to_numpy(np.float64),
                                         np.asarray(X_hat[num], dtype=np.float64)))}


def categorical_rows(label, X_train, X_test, k, contenders, args, skipped):
    """The rows of the wide-categorical table: skae's heads against one-hot encodings."""
    encoder = Z_train = Z_test = None
    rows = []
    for name in contenders:
        if name == "VAE":  # not on this table (VAE_TABLES)
            continue
        if name == "hand":
            skipped.append(f"{LABELS[name]} on {label} (numeric tables only)")
            continue
        if name == "AE":
            model = default_contender(name, k, args, len(X_train))
            seconds = timed_fit(model, X_train)
            X_hat = model.inverse_transform(model.transform(X_test))
        else:
            if encoder is None:
                start = time.perf_counter()
                encoder = one_hot_encoder(X_train)
                Z_train = encoder.transform(X_train).astype(np.float32)
                Z_test = encoder.transform(X_test).astype(np.float32)
                encode_s = time.perf_counter() - start
            model = default_contender(name, k, args, len(X_train),
                                      mlp_max_iter=args.mlp_categorical_max_iter)
            if model is None:
                skipped.append(f"{LABELS[name]} on {label} ({len(X_train):,} rows > "
                               f"--mlp-max-rows {args.mlp_max_rows:,})")
                continue
            seconds = timed_fit(model, Z_train, Z_train if name == "MLP" else None)
            Z_hat = (model.predict(Z_test) if name == "MLP"
                     else model.inverse_transform(model.transform(Z_test)))
            X_hat = one_hot_decode(encoder, np.asarray(Z_hat))
        row = dict(_fitted_row(name, model, seconds, len(X_train)),
                   **table_quality(X_hat, X_test), dataset=label, key="categorical-20k",
                   shape=f"{len(X_train):,} x {X_train.shape[1]}", n_test=len(X_test), k=k,
                   load=round(os.getloadavg()[0], 2))
        if name != "AE":
            row.update(input_columns=Z_train.shape[1], encode_s=encode_s)
        print(f"  {row['contender']}: {seconds:.2f} s, accuracy {row['acc_big']:.3f} / "
              f"{row['acc_small']:.3f}, R^2 {row['r2_numeric']:.3f}", flush=True)
        rows.append(row)
    return rows


#: The issue's goals for skae's defaults (issue #26): table -> (limit name, limit).
GOALS = {"manifold-2k": ("hand_epochs", 30), "manifold-20k": ("hand_epochs", 30),
         "manifold-200k": ("fit_s", 40)}
GOAL_QUALITY = 1.02


def goal_notes(rows):
    """One note per goal of GOALS whose table ran: met or missed, with the numbers."""
    out = []
    for key, (measure, limit) in GOALS.items():
        row = next((r for r in rows if r.get("key") == key
                    and r["contender"] == LABELS["AE"]), None)
        if row is None:
            continue
        time_ok = row[measure] is not None and row[measure] <= limit
        quality_ok = row["vs_converged"] <= GOAL_QUALITY
        what = (f"{row['hand_epochs']:.1f} hand-loop epochs (goal <= {limit})"
                if measure == "hand_epochs" else f"{row['fit_s']:.1f} s (goal <= {limit} s; "
                f"{row['hand_epochs']:.1f} hand-loop epochs)")
        out.append(
            f"Goal, {row['dataset']} ({row['shape']}): time {'met' if time_ok else 'missed'}, "
            f"{what}; quality {'met' if quality_ok else 'missed'}, held-out MSE "
            f"{row['vs_converged']:.3f} x the {row['reference']} reference's (goal <= "
            f"{GOAL_QUALITY})."
        )
    return out


def provenance_note(datasets):
    """Where the defaults were chosen, and which tables of this run chose nothing."""
    research = _research()
    by_name = {name: key for key, name in RESEARCH_TABLES.items()}
    labels = {key: f"{DEFAULTS_DATA[key][0]} ({key})" for key in datasets}
    selection = [labels[by_name[n]] for n in research.SELECTION if by_name.get(n) in labels]
    report = [labels[by_name[n]] for n in research.REPORT if by_name.get(n) in labels]
    others = [labels[key] for key in datasets if key not in RESEARCH_TABLES]
    return (
        "Where the defaults were chosen: research_fit_defaults.py chose the one-cycle "
        f"schedule, its peak and max_iter on its selection set, {', '.join(research.SELECTION)}"
        f" (here: {', '.join(selection) or 'not run'}; the same data and split, so "
        f"in-sample); its report set was {', '.join(research.REPORT)} (here: "
        f"{', '.join(report) or 'not run'}), looked at before the choice was final; digits'"
        " demo (k = 2, 8, 16) then set max_iter='auto''s floor of 2,500 steps, so digits is "
        "in-sample for it. Every "
        f"other table of this sweep chose nothing (out of sample): {', '.join(others)}."
    )


DEFAULTS_NOTES = [
    ("Each contender is fitted once per data set (the ratios are what to read, not the "
     "second digit of a time); fit s is the whole `fit` call. skae's estimators are "
     "constructed with only `n_components` and `random_state` given (`n_jobs=None`: skae's "
     "thread policy within torch's thread count in the header), so `batch_size_` and "
     "`early stopping` are what `batch_size='auto'` and `early_stopping='auto'` resolved to; "
     "`learning_rate='one_cycle'` (peak 1e-2) holds no rows out; `epochs` is what "
     "`max_iter='auto'` resolved to (60, more below about 2,700 training rows so that the "
     "cycle has 2,500 steps)."),
    ("Data: manifolds of `_common.manifold(n, d, noise=0.1, seed=0)` (5-D latent; the 800-D "
     "one 16-D), so no model goes much below MSE 0.01. Held-out rows: a random 20% "
     "(`_common.heldout_split(X, 0.2, seed=0)`, as research_fit_defaults.py) for the 2,000, "
     "20,000 and 5,000-row tables and the wide-categorical one, the last 20,000 / 50,000 "
     "rows of the 220,000 / 1,050,000-row manifolds, 10% of digits (`data / 16`), MNIST's "
     "test set. held-out MSE: of the reconstructions (`inverse_transform(transform(X))`; "
     "`predict` for the MLP)."),
    ("/ reference: held-out MSE / the reference's, of the same estimator class. Up to "
     "20,000 training rows the reference is research_fit_defaults.py's long run "
     "(`research_fit_defaults.long_reference`: batch 64 on every training row, tol=0, 300 "
     "epochs, cosine from 3e-3 to 0; its held-out MSE from research_fit_defaults.json "
     "where this is one of its tables with the same split, else fitted and cached); above, "
     "the converged reference: batch_size=256, early_stopping=True (10% validation, best "
     "epoch restored), tol=0, n_iter_no_change=20, constant base rate 3e-3 (VAE 1e-3) under "
     "skorch's LRScheduler('ReduceLROnPlateau', monitor='valid_loss', factor=0.3, "
     "patience=3), ended once the rate is below 1e-3 x its start; max_iter={ref_max_iter}, "
     "{ref_max_iter_large} above 500,000 training rows. References come from "
     "benchmarks/results/bench_fit_defaults_cache.json when there (their time: the run that "
     "filled it, possibly another day; `ref_date` in the JSON). / PCA: divided by PCA(k)'s."),
    ("hand loop: skae's module (`_common.build_module`, the default's hidden sizes) "
     "trained by `_common.fit_torch_loop`: batch 64 from one `randperm` per epoch, "
     "fused Adam, torch's `OneCycleLR(max_lr=1e-2)` stepped after every batch over the "
     "default's epochs (skae's own one-cycle settings), `loss.item()` per batch. "
     "hand-loop epochs = a row's fit s / the hand loop's median epoch time on the same "
     "training rows (the issue's time unit; hand-loop s/epoch on its row); above "
     "--hand-max-rows ({hand_max_rows:,}) training rows it runs only its first "
     "--hand-timing-epochs ({hand_timing_epochs}) epochs, to measure that unit (no "
     "held-out MSE)."),
    ("VAETransformer defaults (VAE_TABLES, up to --vae-max-rows = {vae_max_rows:,} "
     "training rows): its constant rate 1e-3, 200 epochs, early stopping above 10,000 "
     "rows; / reference divides by its own converged reference."),
    ("MLPRegressor: scikit-learn's defaults (adam, lr 1e-3, batch min(200, n), "
     "max_iter=200, tol=1e-4 on the training loss, alpha=1e-4) with "
     "hidden_layer_sizes=(128, 64, k, 64, 128), fitted as `fit(X, X)`; ReLU on its k-unit "
     "code layer too."),
    ("Wide categorical: `bench_heads.table_frame` (one 4,000-level column and six 3-level "
     "ones, category dtype, levels uniform and independent: a row's level can only be "
     "reconstructed if the code stores it; chance accuracy 1/4,000 and 1/3) plus 4 numeric "
     "columns (`tanh` of a 2-D Gaussian latent mapped linearly, noise 0.1); 16,000 rows to "
     "fit, 4,000 held out (levels unseen in fit count as misses). skae fits the DataFrame "
     "(per-column heads); PCA and the MLP fit its encoding by "
     "`OneHotEncoder(handle_unknown='ignore')` + `StandardScaler` on the numeric columns "
     "(dense float32; encoding time not in fit s), decoded by the argmax of each column's "
     "block and the scaler's inverse; the MLP's max_iter capped at "
     "--mlp-categorical-max-iter ({mlp_categorical_max_iter}). acc.: held-out accuracy of "
     "the 4,000-level column and the mean over the 3-level ones; numeric R^2: "
     "`r2_score` over the numeric columns (uniform average)."),
    ("load: 1-minute load average after the fit (the machine is shared: other benchmarks "
     "ran beside this one process, one torch thread)."),
]
DEFAULTS_COLUMNS = [
    ("dataset", "data"), ("shape", "train rows x cols"), ("k", "k"),
    ("contender", "contender"), ("fit_s", "fit s"), ("epochs", "epochs"),
    ("batch_size", "batch_size_"), ("early_stopping", "early stopping"),
    ("heldout_mse", "held-out MSE", ".4g"), ("reference", "reference"),
    ("vs_converged", "/ reference", ".3f"), ("vs_pca", "/ PCA", ".3f"),
    ("hand_epochs", "hand-loop epochs", ".1f"), ("hand_epoch_s", "hand-loop s/epoch", ".3g"),
    ("acc_big", "acc. 4,000-level", ".3f"),
    ("acc_small", "acc. 3-level", ".3f"), ("r2_numeric", "numeric R^2", ".3f"),
    ("load", "load", ".1f"),
]


def run_defaults(args):
    """The defaults table: default-settings fits of the size sweep against references."""
    datasets = args.defaults_datasets or (
        [d for d in DEFAULTS_DATA if d != "mnist"] if args.quick else list(DEFAULTS_DATA))
    contenders = args.defaults_contenders
    if args.quick:
        args.defaults_max_iter = args.defaults_max_iter or 3
        args.mlp_max_iter = args.mlp_max_iter or 3
        args.mlp_categorical_max_iter = min(args.mlp_categorical_max_iter, 3)
        args.ref_max_iter = min(args.ref_max_iter, 4)
        args.ref_max_iter_large = min(args.ref_max_iter_large, 4)
    cache = ResultCache(args.cache or Path(args.output_dir) / f"{DEFAULTS_NAME}_cache.json",
                        refresh=args.refresh_cache)
    warm_up_defaults()
    rows, skipped, ran = [], [], []
    for dataset in datasets:
        data = load_defaults_data(dataset, args)
        if data is None:
            continue
        label, X_train, X_test, k = data
        ran.append(dataset)
        print(f"{label}: {len(X_train):,} x {X_train.shape[1]} train, {len(X_test):,} held "
              f"out, k={k}", flush=True)
        if dataset == "categorical-20k":
            rows += categorical_rows(label, X_train, X_test, k, contenders, args, skipped)
        else:
            rows += numeric_rows(dataset, label, X_train, X_test, k, contenders, args, cache,
                                 skipped)

    notes = [note.format(**vars(args)) for note in DEFAULTS_NOTES]
    reduced = args.quick or args.defaults_max_iter or args.mlp_max_iter
    notes += [provenance_note(ran)] + ([] if reduced else goal_notes(rows))
    if reduced:
        notes.append(f"Reduced run: max_iter of the default contenders capped at "
                     f"{args.defaults_max_iter}, of the MLP at {args.mlp_max_iter}, of the "
                     f"references at {args.ref_max_iter} / {args.ref_max_iter_large}"
                     f"{'; data of a few hundred to a few thousand rows' if args.quick else ''}"
                     "; not the defaults' behaviour.")
    if skipped:
        notes.append("Skipped: " + "; ".join(skipped) + ".")
    settings = _settings(args, ["quick", "seed", "threads", "defaults_datasets",
                                "defaults_contenders", "vae_max_rows", "defaults_max_iter",
                                "mlp_max_iter",
                                "mlp_max_rows", "mlp_categorical_max_iter", "hand_max_rows",
                                "hand_timing_epochs", "ref_max_iter", "ref_max_iter_large",
                                "refresh_cache"],
                         reference=dict(REFERENCE_PARAMS, lr_factor=LR_FACTOR,
                                        lr_patience=LR_PATIENCE, lr_floor=LR_FLOOR))
    return _common.write_results(DEFAULTS_NAME, rows, DEFAULTS_COLUMNS, notes,
                                 settings=settings, output_dir=args.output_dir,
                                 title="Default settings: time to quality, size sweep "
                                       "(bench_fit.py)")


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
                                          "a few hundred to a few thousand rows)")
    group.add_argument("--defaults-contenders", nargs="+", choices=DEFAULTS_CONTENDERS,
                       default=list(DEFAULTS_CONTENDERS),
                       help="contenders (default: all; VAE: VAETransformer defaults against "
                            "its converged reference, only on "
                            f"{', '.join(VAE_TABLES)})")
    group.add_argument("--vae-max-rows", type=int, default=20_000,
                       help="skip the VAE above this many training rows (default 20000)")
    group.add_argument("--defaults-max-iter", type=int, default=None,
                       help="cap max_iter of skae's default contenders (default: none, the "
                            "estimators' own; --quick: 3)")
    group.add_argument("--mlp-max-iter", type=int, default=None,
                       help="cap MLPRegressor's max_iter (default: none, its own 200)")
    group.add_argument("--mlp-max-rows", type=int, default=300_000,
                       help="skip MLPRegressor above this many training rows (default 300000)")
    group.add_argument("--mlp-categorical-max-iter", type=int, default=20,
                       help="cap MLPRegressor's max_iter on the wide-categorical table's "
                            "one-hot encoding (default 20)")
    group.add_argument("--hand-max-rows", type=int, default=20_000,
                       help="above this many training rows the hand loop only times its "
                            "first --hand-timing-epochs epochs (default 20000)")
    group.add_argument("--hand-timing-epochs", type=int, default=3,
                       help="epochs of a timing-only hand loop (default 3)")
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
