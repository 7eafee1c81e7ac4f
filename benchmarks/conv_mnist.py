"""Convolutional autoencoders against dense ones and PCA on MNIST and Fashion-MNIST.

Question: on 28 x 28 images, how much lower is the held-out reconstruction
error of a convolutional autoencoder (``image_shape=(1, 28, 28)``) than that
of a dense autoencoder of about the same size, and of PCA, at the same code
width k? And how well does a denoising conv autoencoder clean noisy images?

Each model is trained on the 60,000 training images (``--max-train``) and
evaluated on the 10,000 test images (``--max-test``), pixels float32 in
[0, 1], at k = 2 and 16 (``--ks``):

- ``PCA``: ``PCA(k)``;
- ``dense AE``: ``AutoencoderTransformer(k, hidden_layer_sizes=(512, 128))``,
  784 -> 512 -> 128 -> k, mirrored, about 0.93M parameters;
- ``conv AE``: ``AutoencoderTransformer(k, image_shape=(1, 28, 28),
  conv_channels=(32, 64), kernel_size=3, hidden_layer_sizes=(128,))``: two
  stride-2 3x3 convolutions (each with batch norm and ReLU) to 64 x 7 x 7,
  a dense layer of 128, the code; mirrored with transposed convolutions;
  about 0.85M parameters, so the comparison with the dense AE is at equal size.

Both autoencoders use ReLU, a sigmoid output (pixels lie in [0, 1]) and the
MSE loss, the metric reported; Adam at skae's default learning rate (3e-3),
batches of 256 (``--batch-size``), a fixed number of epochs (``--epochs``,
``tol=0``). BCE would suit pixel intensities as well, but MSE trains on the
number the table compares. Test MSE is the mean over pixels and images of
``(inverse_transform(transform(X_test)) - X_test) ** 2``.

Denoising, at k = 16 (the largest of ``--ks``): conv autoencoders of the same
architecture trained with ``noise='gaussian', noise_level=0.3`` (add
0.3 N(0, 1), not clipped) and with ``noise='masking', noise_level=0.3`` (zero
30% of the pixels), each evaluated on the test images corrupted the same way
(fixed seed). Rows: the noisy input itself, the plain conv AE of the first
table reconstructing the noisy input (a baseline that never saw noise), and
the denoising AE. PSNR (data range 1) is ``10 log10(1 / MSE)`` of each image
against its clean version, averaged over images; ``PSNR clean`` is the same
model's PSNR on the clean test images (its ceiling).

Outputs, under ``--output-dir`` (default ``benchmarks/results``):
``conv_mnist.md`` and ``conv_mnist.json`` (both tables, headed by the
machine), ``conv_mnist_reconstructions.png`` (test images, then their PCA,
dense AE and conv AE reconstructions at k = 16) and
``conv_mnist_denoising.png`` (clean, noisy, plain conv AE, denoising conv
AE). The figures need matplotlib.

Full run (GPU; 12 autoencoder fits of 20 epochs on 60,000 images, about
56,000 optimizer steps; expect about 4 to 6 minutes on one H100, an estimate
from ``bench_gpu.py``'s 0.55 s per epoch for a dense MNIST autoencoder at
batch 256 there, the conv layers costing more)::

    python benchmarks/conv_mnist.py --device cuda

A CPU check: ``--max-train 3000 --max-test 1000 --epochs 2`` (far too few
steps to train: it checks that the script runs); ``--quick`` is a smoke run
(1,000 images, 1 epoch). ``--repeats`` is accepted for the common command
line and ignored (one training run per model). MNIST is read from
``--mnist-dir``, else ``$SKAE_MNIST_DIR``, else ``../shared/data/mnist``;
Fashion-MNIST from its ``fashion_mnist/`` subfolder.
"""

import json
import time

import _common
import numpy as np
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer
from skae.datasets import load_mnist

NAME = "conv_mnist"
IMAGE_SHAPE = (1, 28, 28)
DATASETS = {"mnist": "", "fashion": "fashion_mnist"}  # name -> subfolder
TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
NOISES = (("gaussian", 0.3), ("masking", 0.3))
N_SHOW = 10  # images per row of the figures

DEFAULT_EPOCHS, QUICK_EPOCHS = 20, 1
QUICK_TRAIN, QUICK_TEST = 1000, 200

#: The autoencoders compared: name -> (architecture, estimator parameters).
AUTOENCODERS = {
    "dense AE": ("dense 512-128", dict(hidden_layer_sizes=(512, 128))),
    "conv AE": ("conv 32-64 (3x3, s2) + dense 128", dict(
        image_shape=IMAGE_SHAPE, conv_channels=(32, 64), kernel_size=3,
        hidden_layer_sizes=(128,))),
}

COLUMNS = [
    ("dataset", "dataset"),
    ("k", "k"),
    ("model", "model"),
    ("architecture", "architecture"),
    ("params", "params"),
    ("epochs", "epochs"),
    ("fit_s", "fit (s)", ".1f"),
    ("test_mse", "test MSE", ".5f"),
    ("mse_vs_pca", "MSE / PCA", ".3f"),
    ("mse_vs_dense", "MSE / dense AE", ".3f"),
]

DENOISING_COLUMNS = [
    ("dataset", "dataset"),
    ("noise", "noise"),
    ("model", "model"),
    ("epochs", "epochs"),
    ("fit_s", "fit (s)", ".1f"),
    ("mse", "MSE vs clean", ".5f"),
    ("psnr_db", "PSNR (dB)", ".2f"),
    ("gain_db", "gain over noisy (dB)", ".2f"),
    ("psnr_clean_db", "PSNR clean (dB)", ".2f"),
]


def parse_args(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--device", default="auto",
                        help="torch device for the autoencoders: cpu, cuda, auto (default)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per autoencoder (default {DEFAULT_EPOCHS}; "
                             f"--quick {QUICK_EPOCHS})")
    parser.add_argument("--max-train", type=int, default=None,
                        help=f"training images used (default all 60,000; --quick {QUICK_TRAIN})")
    parser.add_argument("--max-test", type=int, default=None,
                        help=f"test images used (default all 10,000; --quick {QUICK_TEST})")
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS),
                        default=list(DATASETS), help="data sets (default: mnist fashion)")
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 16],
                        help="code widths (default: 2 16); the largest is used for the "
                             "denoising runs and the figures")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="training batch size (default 256)")
    args = _common.parse_args(parser, argv)
    if args.epochs is None:
        args.epochs = QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS
    if args.max_train is None and args.quick:
        args.max_train = QUICK_TRAIN
    if args.max_test is None and args.quick:
        args.max_test = QUICK_TEST
    return args


def load(name, args):
    """(X_train, X_test) of data set ``name`` as float32, or None if its files are absent."""
    folder = _common.mnist_dir(args.mnist_dir)
    if DATASETS[name]:
        folder = folder / DATASETS[name]
    try:
        X_train, _ = load_mnist(folder, "train")
        X_test, _ = load_mnist(folder, "test")
    except FileNotFoundError as exc:
        print(f"note: skipping {TITLES[name]}: {exc}. Set --mnist-dir or SKAE_MNIST_DIR.")
        return None
    return (np.ascontiguousarray(X_train[:args.max_train], dtype=np.float32),
            np.ascontiguousarray(X_test[:args.max_test], dtype=np.float32))


def make_autoencoder(params, k, args, **extra):
    return AutoencoderTransformer(
        k, activation="relu", output_activation="sigmoid", loss="mse",
        batch_size=args.batch_size, max_iter=args.epochs, tol=0, device=args.device,
        random_state=args.seed, **params, **extra,
    )


def n_params(est):
    if isinstance(est, PCA):  # what it stores: the axes and the mean
        return int(est.components_.size + est.mean_.size)
    return int(sum(p.numel() for p in est.net_.module_.parameters()))


def reconstruct(est, X):
    return est.inverse_transform(est.transform(X))


def timed_fit(est, X):
    start = time.perf_counter()
    est.fit(X)
    return est, time.perf_counter() - start


def per_image_psnr(X_hat, X):
    """Mean over images of 10 log10(1 / MSE), data range 1."""
    mse = np.mean((np.asarray(X_hat, dtype=np.float64) - X) ** 2, axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def corrupt(X, noise, level, seed):
    """The test-time corruption, as ``skae.modules.Corruption`` applies it in training."""
    rng = np.random.default_rng(seed)
    if noise == "gaussian":
        return (X + level * rng.standard_normal(X.shape, dtype=np.float32)).astype(np.float32)
    return np.where(rng.random(X.shape) < level, np.float32(0), X).astype(np.float32)


def warm_up(args):
    """One untimed tiny fit of each autoencoder: one-time costs stay off the clock.

    The first optimizer of a process imports ``torch._dynamo`` and the first
    convolution on a device loads its kernels; whoever ran first would pay it.
    """
    X = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    for _, params in AUTOENCODERS.values():
        est = make_autoencoder(params, 2, args).set_params(max_iter=1, batch_size=32)
        reconstruct(est.fit(X), X[:8])


def compare(name, X_train, X_test, args, log=print):
    """PCA, dense AE and conv AE at each k: rows, fitted models and shown reconstructions."""
    rows, models, shown = [], {}, {}
    for k in args.ks:
        pca, seconds = timed_fit(PCA(k, random_state=args.seed), X_train)
        contenders = [("PCA", "linear", pca, seconds, None)]
        for model, (architecture, params) in AUTOENCODERS.items():
            est, seconds = timed_fit(make_autoencoder(params, k, args), X_train)
            contenders.append((model, architecture, est, seconds, est.n_iter_))
        for model, architecture, est, seconds, epochs in contenders:
            X_hat = reconstruct(est, X_test)
            row = {
                "dataset": name, "k": k, "model": model, "architecture": architecture,
                "params": n_params(est), "epochs": epochs, "fit_s": seconds,
                "test_mse": float(np.mean((X_hat - X_test) ** 2)),
                "n_train": len(X_train), "n_test": len(X_test),
            }
            rows.append(row)
            models[k, model] = est
            shown[k, model] = X_hat[:N_SHOW]
            log(f"{name} k={k} {model}: test MSE {row['test_mse']:.5f}, "
                f"fit {seconds:.1f} s, {epochs or '-'} epochs")
    by_key = {(r["k"], r["model"]): r["test_mse"] for r in rows}
    for row in rows:
        row["mse_vs_pca"] = row["test_mse"] / by_key[row["k"], "PCA"]
        row["mse_vs_dense"] = row["test_mse"] / by_key[row["k"], "dense AE"]
    return rows, models, shown


def denoise(name, X_train, X_test, plain, args, log=print):
    """Noisy input, plain conv AE and denoising conv AE on corrupted test images."""
    k = max(args.ks)
    _, params = AUTOENCODERS["conv AE"]
    rows, shown = [], {}
    for i, (noise, level) in enumerate(NOISES):
        label = f"{noise} {level:g}"
        X_noisy = corrupt(X_test, noise, level, seed=args.seed + 1000 + i)
        dae, seconds = timed_fit(make_autoencoder(params, k, args, noise=noise,
                                                  noise_level=level), X_train)
        noisy_psnr = per_image_psnr(X_noisy, X_test)
        entries = [("noisy input", None, X_noisy, None, None),
                   ("conv AE", plain, reconstruct(plain, X_noisy), None, plain.n_iter_),
                   ("conv DAE", dae, reconstruct(dae, X_noisy), seconds, dae.n_iter_)]
        for model, est, X_hat, fit_s, epochs in entries:
            psnr = per_image_psnr(X_hat, X_test)
            rows.append({
                "dataset": name, "noise": label, "model": model, "k": k, "epochs": epochs,
                "fit_s": fit_s, "mse": float(np.mean((X_hat - X_test) ** 2)),
                "psnr_db": psnr, "gain_db": psnr - noisy_psnr,
                "psnr_clean_db": None if est is None else per_image_psnr(
                    reconstruct(est, X_test), X_test),
                "n_train": len(X_train), "n_test": len(X_test),
            })
            shown[label, model] = X_hat[:N_SHOW]
            log(f"{name} {label} {model}: PSNR {psnr:.2f} dB")
    return rows, shown


def summary_notes(rows):
    """One line per data set and k: by how much conv beats dense and PCA (measured)."""
    notes = []
    by_key = {(r["dataset"], r["k"], r["model"]): r for r in rows}
    for (dataset, k, model), row in by_key.items():
        if model != "conv AE":
            continue
        dense, pca = by_key[dataset, k, "dense AE"], by_key[dataset, k, "PCA"]
        notes.append(
            f"{TITLES[dataset]}, k={k}: conv AE test MSE {row['test_mse']:.5f} is "
            f"{_percent(row['mse_vs_dense'])} the dense AE's ({dense['test_mse']:.5f}) and "
            f"{_percent(row['mse_vs_pca'])} PCA's ({pca['test_mse']:.5f})."
        )
    return notes


def _percent(ratio):
    change = (1 - ratio) * 100
    return f"{change:.0f}% below" if change >= 0 else f"{-change:.0f}% above"


def plot_reconstructions(data, shown, k, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(shown)
    labels = ["original", f"PCA (k={k})", f"dense AE (k={k})", f"conv AE (k={k})"]
    fig, axes = plt.subplots(len(names) * 4, N_SHOW, figsize=(N_SHOW * 0.9, len(names) * 4 * 0.95),
                             squeeze=False)
    for d, name in enumerate(names):
        X_test = data[name][1]
        images = [X_test[:N_SHOW]] + [shown[name][k, m] for m in ("PCA", "dense AE", "conv AE")]
        for r, (label, block) in enumerate(zip(labels, images)):
            row = axes[d * 4 + r]
            for c, ax in enumerate(row):
                if c < len(block):
                    ax.imshow(np.clip(block[c].reshape(28, 28), 0, 1), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            row[0].set_ylabel(f"{TITLES[name]}\n{label}" if r == 0 else label, fontsize=7,
                              rotation=0, ha="right", va="center")
    fig.suptitle("Test images and their reconstructions", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_denoising(data, shown, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(shown)
    per_dataset = 1 + 3 * len(NOISES)
    fig, axes = plt.subplots(len(names) * per_dataset, N_SHOW,
                             figsize=(N_SHOW * 0.9, len(names) * per_dataset * 0.95),
                             squeeze=False)
    for d, name in enumerate(names):
        blocks = [(f"{TITLES[name]}\nclean", data[name][1][:N_SHOW])]
        for noise, level in NOISES:
            label = f"{noise} {level:g}"
            blocks += [(f"{label}\nnoisy input", shown[name][label, "noisy input"]),
                       ("conv AE", shown[name][label, "conv AE"]),
                       (f"conv DAE ({noise})", shown[name][label, "conv DAE"])]
        for r, (label, block) in enumerate(blocks):
            row = axes[d * per_dataset + r]
            for c, ax in enumerate(row):
                if c < len(block):
                    ax.imshow(np.clip(block[c].reshape(28, 28), 0, 1), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
            row[0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle("Denoising: clean, noisy, reconstructed by a plain and a denoising conv AE",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def append_table(result, output_dir, key, heading, rows, columns, notes=()):
    """Add a second table to ``<name>.md`` and, under ``key``, to ``<name>.json``."""
    table = _common.markdown_table(rows, columns)
    text = f"\n## {heading}\n\n{table}\n"
    if notes:
        text += "\n" + "".join(f"- {n}\n" for n in notes)
    md_path, json_path = output_dir / f"{NAME}.md", output_dir / f"{NAME}.json"
    with open(md_path, "a", encoding="utf-8") as f:
        f.write(text)
    result[key] = {"columns": [c[0] for c in columns], "rows": rows, "notes": list(notes)}
    json_path.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(text)
    return result


def main(argv=None):
    args = parse_args(argv)
    data = {}
    for name in args.datasets:
        split = load(name, args)
        if split is not None:
            data[name] = split
    if not data:
        raise SystemExit("no data set found; see --mnist-dir")
    k_show = max(args.ks)
    warm_up(args)

    rows, denoising, shown, shown_noisy = [], [], {}, {}
    for name, (X_train, X_test) in data.items():
        print(f"{TITLES[name]}: {len(X_train)} training and {len(X_test)} test images")
        r, models, shown[name] = compare(name, X_train, X_test, args)
        rows += r
        d, shown_noisy[name] = denoise(name, X_train, X_test, models[k_show, "conv AE"], args)
        denoising += d

    output_dir = args.output_dir
    settings = _common.settings_of(args, loss="mse", output_activation="sigmoid",
                                   learning_rate_init=3e-3, image_shape=list(IMAGE_SHAPE))
    notes = summary_notes(rows) + [
        "Trained on the training images, evaluated on the test images; test MSE is the mean "
        "squared error of inverse_transform(transform(X_test)) per pixel.",
        "dense AE: hidden (512, 128); conv AE: conv (32, 64), 3x3, stride 2, batch norm, then "
        "dense 128; both ReLU, sigmoid output, MSE loss, Adam 3e-3, fixed epochs (tol=0).",
        "params: trainable parameters; for PCA the stored axes and mean. fit (s): the whole "
        "fit call, after an untimed warm-up fit.",
    ]
    result = _common.write_results(NAME, rows, COLUMNS, notes, settings=settings,
                                   output_dir=output_dir,
                                   title="Convolutional vs dense autoencoders vs PCA on MNIST")
    result = append_table(
        result, output_dir, "denoising", f"Denoising (k={k_show})", denoising, DENOISING_COLUMNS,
        notes=[
            "noise: gaussian adds 0.3 N(0, 1) per pixel (not clipped); masking zeros 30% of the "
            "pixels; the same corruption as the denoising AE's training, fixed seed.",
            "conv AE: the plain conv AE above (trained on clean images) reconstructing the "
            "noisy input; conv DAE: same architecture trained with that noise.",
            "PSNR: 10 log10(1 / MSE) per image against the clean image (data range 1), "
            "averaged; gain: PSNR minus the noisy input's; PSNR clean: the model on clean "
            "test images.",
        ])

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("note: matplotlib is not installed; figures skipped (pip install skae[plot])")
        return result
    figures = (output_dir / f"{NAME}_reconstructions.png", output_dir / f"{NAME}_denoising.png")
    plot_reconstructions(data, shown, k_show, figures[0])
    plot_denoising(data, shown_noisy, figures[1])
    print("wrote " + " and ".join(str(f) for f in figures))
    return result


if __name__ == "__main__":
    main()
