"""Time to PCA quality: how long a linear autoencoder needs to match PCA.

Question: a linear autoencoder (``hidden_layer_sizes=()``,
``activation='identity'``, ``output_activation='identity'``) spans PCA's
subspace at its optimum. How long does each training recipe take to come
within 1% of PCA's held-out reconstruction error, and does it get there at
all?

Method: scikit-learn's digits scaled to [0, 1] (``data / 16``), a 75/25
train/test split (``random_state=0``), k = 8 (and 2 and 16). ``PCA(k)`` is
fitted (median time of the repeats) and its held-out MSE is the target. Each
autoencoder recipe trains for a fixed number of epochs (``tol=0``) with a
skorch callback (passed through the ``callbacks`` parameter) that, at each
epoch end, records the wall time since just before ``fit`` was called and
the held-out MSE computed through ``net.module_`` in eval mode; the
callback's own evaluation time is subtracted. Time to 1% is the first epoch
end at which the held-out MSE is at most 1.01 x PCA's. Recipes:

- Adam ``learning_rate_init`` 3e-3 (skae's default), 1e-3 and 1e-2, batch 64;
- ``optimizer='lbfgs'`` (full batch, strong-Wolfe line search; one epoch is
  one L-BFGS step of up to 20 iterations);
- ``init='pca'`` (starts at the PCA solution) followed by Adam at 3e-3 and
  1e-3: its MSE after ``max_iter=1`` and after a few epochs.

Each recipe runs ``--repeats`` times with ``random_state`` 0, 1, ...,
interleaved; medians are reported over the runs that reached 1%.

Run ``python benchmarks/bench_time_to_quality.py`` or with ``--quick``.
"""

import time

import _common
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from skae import AutoencoderTransformer

NAME = "bench_time_to_quality"
TARGET = 1.01  # within 1% of PCA's held-out MSE

#: name -> (estimator parameters, epochs cap at full size, at --quick)
RECIPES = {
    "adam lr=3e-3 (default)": ({}, 200, 5),
    "adam lr=1e-3": ({"learning_rate_init": 1e-3}, 200, 5),
    "adam lr=1e-2": ({"learning_rate_init": 1e-2}, 200, 5),
    "lbfgs": ({"optimizer": "lbfgs"}, 50, 3),
    "init='pca', adam lr=3e-3": ({"init": "pca"}, 10, 3),
    "init='pca', adam lr=1e-3": ({"init": "pca", "learning_rate_init": 1e-3}, 10, 3),
}


class HeldOutTrace(Callback):
    """Record (seconds since ``start``, held-out MSE) at each epoch end.

    ``start`` is set by the caller right before ``fit``; the time spent here
    evaluating is subtracted, so the trace shows training time only.
    """

    def __init__(self, X_test):
        self.X_test = torch.as_tensor(X_test, dtype=torch.float32)
        self.start = None
        self.trace = []
        self.eval_s = 0.0

    def mse(self, net):
        module = net.module_
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            X = self.X_test.to(net.device)
            mse = float((module.decode(module.encode(X)) - X).square().mean())
        module.train(was_training)
        return mse

    def on_train_begin(self, net, **kwargs):
        tic = time.perf_counter()
        self.initial_mse = self.mse(net)  # after any init='pca'
        self.eval_s += time.perf_counter() - tic

    def on_epoch_end(self, net, **kwargs):
        tic = time.perf_counter()
        mse = self.mse(net)
        self.trace.append((tic - self.start - self.eval_s, mse))
        self.eval_s += time.perf_counter() - tic


def run_recipe(params, k, epochs, seed, X_train, X_test):
    trace = HeldOutTrace(X_test)
    est = AutoencoderTransformer(
        k, hidden_layer_sizes=(), activation="identity", output_activation="identity",
        max_iter=epochs, tol=0, random_state=seed, callbacks=[("held_out", trace)], **params,
    )
    trace.start = time.perf_counter()
    est.fit(X_train)
    total = time.perf_counter() - trace.start - trace.eval_s
    return {"trace": trace.trace, "initial_mse": trace.initial_mse, "total_s": total}


def summarise(recipe, k, epochs, runs, pca_mse, pca_s):
    """One table row from the runs of one recipe."""
    hits = []
    for run in runs:
        for epoch, (seconds, mse) in enumerate(run["trace"], start=1):
            if mse <= TARGET * pca_mse:
                hits.append((epoch, seconds))
                break
    ratios = np.array([[mse / pca_mse for _, mse in run["trace"]] for run in runs])
    row = {
        "k": k,
        "recipe": recipe,
        "epochs": epochs,
        "reached": len(hits),
        "runs": len(runs),
        "reached_of": f"{len(hits)}/{len(runs)}",
        "epochs_to_1pct": float(np.median([e for e, _ in hits])) if hits else None,
        "seconds_to_1pct": float(np.median([s for _, s in hits])) if hits else None,
        "ratio_initial": float(np.median([r["initial_mse"] for r in runs]) / pca_mse),
        "ratio_epoch1": float(np.median(ratios[:, 0])),
        "ratio_final": float(np.median(ratios[:, -1])),
        "ratio_best": float(np.median(ratios.min(axis=1))),
        "total_s": float(np.median([r["total_s"] for r in runs])),
    }
    row["x_pca_fit"] = row["seconds_to_1pct"] / pca_s if hits else None
    return row


NOTES = [
    ("Data: `load_digits().data / 16`, `train_test_split(test_size=0.25, random_state=0)` "
     "(1347 train, 450 test rows, 64 features). Every autoencoder is linear "
     "(`hidden_layer_sizes=(), activation='identity', output_activation='identity'`), "
     "batch 64 (L-BFGS: full batch), `tol=0` so each run trains its full epoch budget."),
    ("reached: runs (random_state 0, 1, ...) whose held-out MSE came within 1% of PCA's "
     "at some epoch end within the budget; epochs/seconds to 1%: medians over those runs, "
     "seconds counted from just before `fit` (validation, net building and, for "
     "init='pca', the PCA inside it included), evaluation time excluded; x PCA fit = "
     "seconds to 1% / PCA's median fit time."),
    ("MSE / PCA columns: held-out MSE divided by PCA's, median over runs: at the start "
     "of training (after initialisation), after epoch 1 (what `max_iter=1` returns), at "
     "the best epoch, and after the last epoch."),
]


def main(argv=None):
    parser = _common.make_parser(__doc__)
    parser.add_argument("--ks", nargs="+", type=int, default=None,
                        help="latent sizes (default 8 2 16; --quick: 8)")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap every recipe's epoch budget at this many")
    args = _common.parse_args(parser, argv)
    ks = args.ks or ([8] if args.quick else [8, 2, 16])

    X = load_digits().data / 16
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    rows = []
    for k in ks:
        print(f"k={k}:", flush=True)
        pca_timing = _common.interleaved({"PCA": lambda r, k=k: PCA(k).fit(X_train)},
                                         repeats=max(5, args.repeats), warmup=1, verbose=False)
        pca = pca_timing["PCA"].result
        pca_mse = float(np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2))
        pca_s = pca_timing["PCA"].median
        rows.append({"k": k, "recipe": "PCA", "reached": None, "seconds_to_1pct": pca_s,
                     "x_pca_fit": 1.0, "ratio_final": 1.0, "pca_mse": pca_mse,
                     "total_s": pca_s})
        for name in args.recipes:  # untimed: one-time costs (first optimizer, imports)
            run_recipe(RECIPES[name][0], k, 1, 0, X_train[:256], X_test[:64])
        budgets = {}
        for name in args.recipes:
            _, full, quick = RECIPES[name]
            epochs = quick if args.quick else full
            budgets[name] = min(epochs, args.max_epochs) if args.max_epochs else epochs
        timings = _common.interleaved(
            {name: (lambda r, name=name, k=k, epochs=budgets[name]: run_recipe(
                RECIPES[name][0], k, epochs, args.seed + r, X_train, X_test))
             for name in args.recipes},
            repeats=args.repeats,
        )
        for name, timing in timings.items():
            row = summarise(name, k, budgets[name], timing.results, pca_mse, pca_s)
            row["pca_mse"] = pca_mse
            rows.append(row)

    columns = [
        ("k", "k"), ("recipe", "recipe"), ("epochs", "epochs"),
        ("reached_of", "reached 1%"), ("epochs_to_1pct", "epochs to 1%"),
        ("seconds_to_1pct", "s to 1%"), ("x_pca_fit", "x PCA fit", ".0f"),
        ("ratio_initial", "MSE/PCA start", ".3f"), ("ratio_epoch1", "after 1 epoch", ".3f"),
        ("ratio_best", "best", ".4f"), ("ratio_final", "last", ".4f"),
    ]
    settings = _common.settings_of(args, ks=ks, target=TARGET)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Time to PCA quality (bench_time_to_quality.py)")


if __name__ == "__main__":
    main()
