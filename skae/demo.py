"""Demo: autoencoders next to PCA on scikit-learn's digits.

Run it with ``python -m skae.demo`` (``make demo`` does this). On the 8x8
digits bundled with scikit-learn (``load_digits().data / 16``, a stratified
75/25 train/test split) it fits, for latent sizes k = 2, 8 and 16:

* ``PCA(k)``, the linear baseline;
* a linear autoencoder, ``AutoencoderTransformer(k, hidden_layer_sizes=(),
  activation='identity', output_activation='identity', optimizer='lbfgs')``,
  which reaches PCA's subspace (with the default Adam training it gets
  within about 3%);
* the default nonlinear autoencoder, ``AutoencoderTransformer(k)``
  (hidden layers 128 and 64, ReLU);
* the default variational autoencoder, ``VAETransformer(k)`` (same layers,
  Gaussian decoder with a learned scale), with its held-out ELBO per digit
  in nats (``score``; higher is better).

For each model it reports the held-out reconstruction error (mean squared
error of ``inverse_transform(transform(X_test))`` against ``X_test``), that
error relative to PCA's at the same k, the fit time, and the test accuracy of
a ``LogisticRegression`` trained on the latent features of the training split.
A warning raised while a model is fitted and measured (a
``ConvergenceWarning``, say) is printed under that model's line, with its
name and k, and kept in its row of ``results.json`` (``"warnings"``).

It prints the table (markdown) and writes, under ``--output``
(default ``demo_output``):

* ``results.md``: the table, headed by the machine and library versions;
* ``results.json``: the same numbers, machine-readable;
* ``latent_2d.png``: the 2-D latent spaces (k=2) side by side, coloured by
  digit;
* ``reconstructions.png``: test digits and their reconstructions by each
  model at k=8;
* ``vae_samples.png``: digits the VAE generates from the prior (k=8).

The figures need matplotlib (``pip install -e '.[plot]'``); without it the
tables are still written. ``--quick`` runs k=2 only with ``max_iter=20`` (a
smoke test, a few seconds); ``--seed`` sets the train/test split and every
model's ``random_state`` (default 0); ``--threads`` sets torch's intra-op
threads (default 1: the models are small enough that more threads gain
little on an idle machine, and on a busy one they slow training down many
times over).

To compare another model, append a ``(name, factory)`` entry to ``MODELS``,
where ``factory(k)`` returns an unfitted estimator with ``transform`` and
``inverse_transform``. A model-specific number (a VAE's ELBO, say) goes into
``EXTRA_METRICS`` as ``(column, fn)`` with ``fn(estimator, X_test)`` returning
a float, or None where it does not apply.
"""

import argparse
import datetime
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from . import AutoencoderTransformer, VAETransformer
from ._base import BaseAutoencoder

#: Latent sizes compared (``--quick`` keeps only the first).
KS = (2, 8, 16)

#: Epochs per autoencoder with ``--quick``.
QUICK_MAX_ITER = 20

#: The rows of the comparison, in table order: ``(name, factory)`` with
#: ``factory(k)`` an unfitted estimator. The first entry is the baseline
#: that "MSE / PCA" divides by. ``--seed`` sets ``random_state`` on each
#: estimator that has one; ``--quick`` sets ``max_iter`` on skae's.
MODELS = [
    ("PCA", lambda k: PCA(k)),
    ("linear AE", lambda k: AutoencoderTransformer(
        k, hidden_layer_sizes=(), activation="identity", output_activation="identity",
        optimizer="lbfgs", random_state=0)),
    ("AE (128, 64)", lambda k: AutoencoderTransformer(k, random_state=0)),
    ("VAE (128, 64)", lambda k: VAETransformer(k, random_state=0)),
]

#: Extra columns: ``(column, fn)`` with ``fn(fitted_estimator, X_test)``
#: returning a float, or None for models it does not apply to.
EXTRA_METRICS = [
    ("test ELBO", lambda est, X: est.score(X) if isinstance(est, VAETransformer) else None),
]

COLUMNS = [
    ("k", "k", "{}"),
    ("model", "model", "{}"),
    ("test_mse", "test MSE", "{:.5f}"),
    ("mse_vs_pca", "MSE / PCA", "{:.3f}"),
    ("fit_time_s", "fit time (s)", "{:.2f}"),
    ("logreg_accuracy", "LogReg accuracy", "{:.3f}"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skae.demo",
        description="Compare PCA with linear and nonlinear autoencoders on sklearn's digits.",
    )
    parser.add_argument("--output", default="demo_output",
                        help="folder for results.md, results.json and the figures "
                             "(default: demo_output)")
    parser.add_argument("--quick", action="store_true",
                        help=f"k=2 only and max_iter={QUICK_MAX_ITER}: a smoke test")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the train/test split and of every model (default: 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default: 1; 0 keeps torch's default). "
                             "These models are too small to gain from more, and on a busy "
                             "machine extra threads slow training down many times over")
    return parser.parse_args(argv)


def load_data(seed):
    """Digits scaled to [0, 1], split 75/25 stratified by label."""
    digits = load_digits()
    X = digits.data / 16
    return train_test_split(X, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


def make_model(factory, k, seed, quick):
    est = factory(k)
    params = est.get_params()
    if "random_state" in params:
        est.set_params(random_state=seed)
    if quick and isinstance(est, BaseAutoencoder):
        est.set_params(max_iter=QUICK_MAX_ITER)
    return est


def evaluate(est, X_train, X_test, y_train, y_test):
    """Fit ``est`` and measure it; returns the row (without the PCA ratio)."""
    start = time.perf_counter()
    est.fit(X_train)
    fit_time = time.perf_counter() - start
    Z_train, Z_test = est.transform(X_train), est.transform(X_test)
    mse = float(np.mean((est.inverse_transform(Z_test) - X_test) ** 2))
    clf = LogisticRegression(max_iter=2000).fit(Z_train, y_train)
    row = {
        "test_mse": mse,
        "fit_time_s": fit_time,
        "logreg_accuracy": float(clf.score(Z_test, y_test)),
    }
    for column, fn in EXTRA_METRICS:
        value = fn(est, X_test)
        row[column] = None if value is None else float(value)
    if hasattr(est, "n_iter_"):
        row["n_iter"] = int(est.n_iter_)
    return row


def machine_info():
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),  # as set by --threads
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "skorch": skorch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        # Other processes on the machine skew the fit times; this says how busy it was.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def markdown_table(rows):
    columns = COLUMNS + [(c, c, "{:.4f}") for c, _ in EXTRA_METRICS]
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "|".join("---" if key == "model" else "---:" for key, _, _ in columns) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("n/a" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(ks, seed, quick, log=print):
    """Fit every model at every k. Returns (rows, fitted models by (name, k), data)."""
    X_train, X_test, y_train, y_test = load_data(seed)
    rows, fitted = [], {}
    baseline = MODELS[0][0]
    for k in ks:
        for name, factory in MODELS:
            est = make_model(factory, k, seed, quick)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                row = {"k": k, "model": name,
                       **evaluate(est, X_train, X_test, y_train, y_test)}
            row["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
            base = next(r for r in rows + [row] if r["k"] == k and r["model"] == baseline)
            row["mse_vs_pca"] = row["test_mse"] / base["test_mse"]
            rows.append(row)
            fitted[name, k] = est
            log(f"  k={k:<2} {name:<14} test MSE {row['test_mse']:.5f}  "
                f"fit {row['fit_time_s']:.2f} s  accuracy {row['logreg_accuracy']:.3f}")
            for warning in row["warnings"]:
                log(f"    warning from {name} at k={k}: {warning}")
    return rows, fitted, (X_train, X_test, y_train, y_test)


# ------------------------------------------------------------------ figures

def plot_latent_2d(fitted, names, X_test, y_test, path):
    import matplotlib.pyplot as plt

    from .plotting import plot_latent_space

    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.4), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        plot_latent_space(fitted[name, 2], X_test, y_test, ax=ax, s=9, alpha=0.8)
        ax.set_title(name)
        if i < len(names) - 1:  # one legend, right of the last panel
            ax.get_legend().remove()
    fig.suptitle("2-D latent spaces of the held-out digits (k=2)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reconstructions(fitted, names, k, X_test, y_test, path):
    import matplotlib.pyplot as plt

    # One test digit of each class.
    idx = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(10)]
    X = X_test[idx]
    panels = [("original", X)] + [
        (name, np.clip(fitted[name, k].inverse_transform(fitted[name, k].transform(X)), 0, 1))
        for name in names
    ]
    fig, axes = plt.subplots(len(panels), len(idx), figsize=(1.0 * len(idx) + 1.4,
                                                              1.05 * len(panels) + 0.5),
                             squeeze=False)
    for r, (label, images) in enumerate(panels):
        for c in range(len(idx)):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(f"Test digits and their reconstructions (k={k})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_figures(fitted, ks, data, output):
    """Write the PNGs; returns their paths, or None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    _, X_test, _, y_test = data
    names = [name for name, _ in MODELS]
    paths = []
    if 2 in ks:
        paths.append(output / "latent_2d.png")
        plot_latent_2d(fitted, names, X_test, y_test, paths[-1])
    k = 8 if 8 in ks else max(ks)
    paths.append(output / "reconstructions.png")
    plot_reconstructions(fitted, names, k, X_test, y_test, paths[-1])
    vaes = [name for name in names if isinstance(fitted[name, k], VAETransformer)]
    if vaes:
        paths.append(output / "vae_samples.png")
        plot_vae_samples(fitted[vaes[0], k], vaes[0], k, paths[-1])
    return paths


def plot_vae_samples(vae, name, k, path, n=36):
    import matplotlib.pyplot as plt

    from .plotting import plot_samples

    fig, ax = plt.subplots(figsize=(6, 6.3))
    plot_samples(vae, n=n, image_shape=(8, 8), random_state=0, ax=ax,
                 cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{name}, k={k}: digits decoded from\ncodes drawn from the prior N(0, I)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------- main

def main(argv=None):
    """Run the demo with command-line arguments ``argv``; returns the results dict."""
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _main(args)
    finally:
        torch.set_num_threads(threads)


def _main(args):
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    ks = KS[:1] if args.quick else KS
    info = machine_info()
    quick = f" (quick: max_iter={QUICK_MAX_ITER})" if args.quick else ""
    print(f"skae demo on sklearn's digits: k = {', '.join(map(str, ks))}{quick}, seed {args.seed}")

    start = time.perf_counter()
    rows, fitted, data = run(ks, args.seed, args.quick)
    total = time.perf_counter() - start

    table = markdown_table(rows)
    X_train, X_test = data[0], data[1]
    settings = {
        "dataset": "sklearn load_digits, X / 16",
        "n_train": len(X_train),
        "n_test": len(X_test),
        "ks": list(ks),
        "seed": args.seed,
        "quick": args.quick,
        "max_iter": QUICK_MAX_ITER if args.quick else "estimator default",
        "total_time_s": total,
    }
    header = "\n".join([
        "# skae demo: autoencoders vs PCA on sklearn's digits",
        "",
        f"- machine: {info['platform']}, {info['cpu_count']} CPUs "
        f"(torch threads: {info['torch_threads']}), Python {info['python']}"
        + ("" if info["load_average_1min"] is None
           else f", load average {info['load_average_1min']:.2f} at start"),
        f"- versions: torch {info['torch']}, scikit-learn {info['sklearn']}, "
        f"skorch {info['skorch']}",
        f"- date: {info['date']}",
        f"- data: {settings['dataset']}, {len(X_train)} train / {len(X_test)} test rows "
        f"(stratified, seed {args.seed})" + (f"; quick run, max_iter={QUICK_MAX_ITER}"
                                             if args.quick else ""),
        "- test MSE: mean squared error of inverse_transform(transform(X_test)); "
        "LogReg accuracy: LogisticRegression(max_iter=2000) on the latent features",
        f"- total time: {total:.1f} s",
        "",
    ])
    (output / "results.md").write_text(header + "\n" + table + "\n", encoding="utf-8")
    result = {"machine": info, "settings": settings, "results": rows}
    (output / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n",
                                         encoding="utf-8")

    print()
    print(table)
    print(f"\nTotal time: {total:.1f} s on {info['cpu_count']} CPUs.")

    figures = make_figures(fitted, ks, data, output)
    written = [output / "results.md", output / "results.json"] + (figures or [])
    if figures is None:
        print("Figures skipped: they need matplotlib (pip install -e '.[plot]').")
    print("\nWrote:")
    for path in written:
        print(f"  {path}")
    return result


if __name__ == "__main__":
    main()
