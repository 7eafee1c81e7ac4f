"""A dense VAE on binarised MNIST: test ELBO and importance-weighted NLL.

Question: does ``VAETransformer`` train a standard MLP VAE on binarised
MNIST to the test log-likelihood the VAE literature reports, and how long
does that take?

Data: the 60,000 MNIST training images (``--max-train`` keeps the first n)
and the 10,000 test images (``--max-test``), read with
``skae.datasets.load_mnist`` and binarised once, before training
(``--binarize``):

- ``stochastic`` (default): each pixel becomes 1 with probability equal to
  its intensity in [0, 1], drawn once with a fixed seed (``--seed``) for the
  training and the test images. This is the stochastically binarised MNIST
  of the VAE literature in its static form; some papers instead redraw the
  training images every epoch ("dynamic binarisation"), and others use the
  fixed binarisation and 50k/10k/10k split of Larochelle & Murray (2011), so
  published numbers come from slightly different data.
- ``threshold``: a pixel is 1 when its intensity is above 0.5 (an easier,
  less noisy data set: its NLL is far lower and not comparable).

Model: ``VAETransformer(20, hidden_layer_sizes=(512, 256), loss='bce')``:
a Gaussian encoder 784 -> 512 -> 256 -> 2 x 20 (means and log-variances),
a Bernoulli decoder 20 -> 256 -> 512 -> 784 (logits), ReLU, a standard
normal prior. Two hidden layers of 512 and 256 are a common modern choice
and a little larger than Kingma & Welling's (2014) one hidden layer of 500
units. Adam, learning rate 1e-3, batches of 128, ``--epochs`` epochs
(``tol=0``: no early stop), no KL warm-up, float32.

Reported, on the test images (the training rows report their ELBO too, to
show over-fitting):

- ``ELBO``: ``score(X)``, the mean evidence lower bound per image in nats,
  as skae computes it (the analytic KL term and the reconstruction term
  averaged over fixed posterior draws shared by all images; see
  ``VAETransformer``'s Notes); ``-ELBO`` is its negative;
- ``-ELBO (MC)``: minus the mean of ``log_likelihood(X, n_importance=1,
  random_state=s)`` over ``--elbo-draws`` seeds s (default 100), an
  independent Monte-Carlo estimate of the same ELBO (its expectation is
  exact), to cross-check the first, with its standard error. Each seed's
  draw is shared by all images, so the error shrinks with the number of
  seeds, not of images: one seed's mean ELBO varied by about 5 nats on
  MNIST after 3 epochs, hence the many seeds;
- ``NLL``: ``-mean(log_likelihood(X, n_importance=K))``, the
  importance-weighted bound of Burda et al. (2016), the usual estimate of
  the test negative log-likelihood, with K = ``--n-importance`` (5000 on a
  GPU, the literature's value, about 3 s on an H100; 200 on a CPU, where the
  cost grows linearly with K: K=20 took 20 to 30 s for the 10,000 test
  images on a busy 2-core machine, so K=5000 would take hours; a smaller K
  gives a larger, looser NLL);
- ``train -ELBO``: the same as ``test -ELBO`` on the first ``n_test``
  training images;
- training time (the whole ``fit``, after an untimed one-epoch warm-up
  fit), seconds per epoch, the NLL's evaluation time and the device.

Full run (GPU; about 4 minutes on an H100: a 3-epoch run there took
1.7 to 1.9 s per epoch, 3 s for the K=5000 NLL and about 20 s for loading,
binarising and the warm-up fit)::

    python benchmarks/vae_mnist.py --device cuda

CPU check: ``--max-train 5000 --epochs 3 --n-importance 20`` (12 minutes on
a 2-core machine shared with other work, two thirds of them evaluating the
10,000 test images; ``--max-test 2000 --elbo-draws 20`` shortens that).
``--quick`` is a smaller smoke run (2,000 training and 1,000 test images,
2 epochs, K=10), not a measurement. ``--repeats`` is accepted for the
common command line and ignored (one training run).
MNIST is read from ``--mnist-dir``, else ``$SKAE_MNIST_DIR``, else
``../shared/data/mnist``. Results go to ``benchmarks/results/vae_mnist.md``
and ``.json`` (or ``--output-dir``).
"""

import time

import _common
import numpy as np
import torch

from skae import VAETransformer
from skae.datasets import load_mnist

NAME = "vae_mnist"

#: Published test NLLs (nats) of comparable MLP VAEs on binarised MNIST.
REFERENCE = (
    "pythae's reproduction (benchmark_VAE, examples/scripts/reproducibility) of a VAE with "
    "one hidden layer of 400 and a 40-D latent on Larochelle & Murray's fixed binarised "
    "MNIST reports a test NLL of 89.78 nats (200 importance samples), against 89.9 in "
    "Rezende & Mohamed (2015)"
)

QUICK = dict(max_train=2000, max_test=1000, epochs=2, n_importance=10, elbo_draws=5)

COLUMNS = [
    ("device", "device"),
    ("n_train", "train images"),
    ("epochs_run", "epochs"),
    ("train_time_s", "train (s)", ".1f"),
    ("seconds_per_epoch", "s / epoch", ".2f"),
    ("train_neg_elbo", "train -ELBO", ".2f"),
    ("test_neg_elbo", "test -ELBO", ".2f"),
    ("test_neg_elbo_mc", "test -ELBO (MC)", ".2f"),
    ("test_neg_elbo_mc_se", "± (MC)", ".2f"),
    ("n_importance", "K"),
    ("test_nll", "test NLL", ".2f"),
    ("nll_time_s", "NLL eval (s)", ".1f"),
]


def parse_args(argv=None):
    parser = _common.make_parser(__doc__, repeats=1)
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default 100; --quick 3)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="use the first n training images (default all 60,000; --quick 5000)")
    parser.add_argument("--max-test", type=int, default=None,
                        help="use the first n test images (default all 10,000)")
    parser.add_argument("--n-importance", type=int, default=None,
                        help="importance samples K of the NLL (default 5000 on a GPU, 200 on a "
                             "CPU; --quick 20)")
    parser.add_argument("--elbo-draws", type=int, default=None,
                        help="posterior draws (seeds) of the Monte-Carlo ELBO (default 100; "
                             "--quick 5)")
    parser.add_argument("--binarize", choices=("stochastic", "threshold"), default="stochastic",
                        help="stochastic: Bernoulli(pixel intensity), drawn once with --seed "
                             "(default); threshold: intensity > 0.5")
    parser.add_argument("--latent", type=int, default=20, help="latent dimensions (default 20)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 256],
                        help="encoder hidden layer sizes, mirrored by the decoder "
                             "(default 512 256)")
    parser.add_argument("--batch-size", type=int, default=128, help="default 128")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default cuda when available, else cpu)")
    parser.add_argument("--verbose", action="store_true", help="print a line per epoch")
    args = _common.parse_args(parser, argv)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    for key, value in QUICK.items():
        if args.quick and getattr(args, key) is None:
            setattr(args, key, value)
    if args.epochs is None:
        args.epochs = 100
    if args.elbo_draws is None:
        args.elbo_draws = 100
    if args.n_importance is None:
        args.n_importance = 5000 if torch.device(args.device).type == "cuda" else 200
    for key in ("epochs", "n_importance", "elbo_draws", "max_train", "max_test"):
        value = getattr(args, key)
        if value is not None and value < 1:
            parser.error(f"--{key.replace('_', '-')} must be a positive integer")
    return args


def binarize(X, how, rng):
    """Binary float32 pixels: Bernoulli(X) drawn from ``rng``, or ``X > 0.5``."""
    if how == "threshold":
        return (X > 0.5).astype(np.float32)
    return (rng.random(X.shape, dtype=np.float32) < X).astype(np.float32)


def load(args):
    """Binarised float32 (X_train, X_test), each binarised before any row is dropped."""
    folder = _common.mnist_dir(args.mnist_dir)
    try:
        X_train, X_test = (load_mnist(folder, subset)[0] for subset in ("train", "test"))
    except FileNotFoundError as exc:
        raise SystemExit(f"{exc}. Set --mnist-dir or SKAE_MNIST_DIR.") from None
    rng = np.random.default_rng(args.seed)
    X_train = binarize(X_train, args.binarize, rng)
    X_test = binarize(X_test, args.binarize, rng)
    return X_train[:args.max_train], X_test[:args.max_test]


def make_vae(args, epochs):
    return VAETransformer(
        args.latent, hidden_layer_sizes=tuple(args.hidden), loss="bce",
        learning_rate_init=args.lr, batch_size=args.batch_size, max_iter=epochs, tol=0,
        device=args.device, random_state=args.seed, verbose=2 if args.verbose else 0,
    )


def timed(fn, device):
    """``(fn(), seconds)``, waiting for queued GPU work before reading the clock."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def evaluate(vae, X_train, X_test, args):
    """The row of the table: ELBOs and NLL in nats per image, and timings."""
    elbo = vae.score(X_test)
    per_seed = np.array([vae.log_likelihood(X_test, 1, random_state=s).mean(dtype=np.float64)
                         for s in range(args.elbo_draws)])
    se = per_seed.std(ddof=1) / np.sqrt(len(per_seed)) if len(per_seed) > 1 else float("nan")
    log_px, nll_time = timed(
        lambda: vae.log_likelihood(X_test, n_importance=args.n_importance,
                                   random_state=args.seed), args.device)
    return {
        "test_elbo": elbo,
        "test_neg_elbo": -elbo,
        "test_neg_elbo_mc": -float(per_seed.mean()),
        "test_neg_elbo_mc_se": float(se),
        "test_nll": -float(np.mean(log_px, dtype=np.float64)),
        "n_importance": args.n_importance,
        "nll_time_s": nll_time,
        "train_neg_elbo": -vae.score(X_train[:len(X_test)]),
    }


def main(argv=None):
    args = parse_args(argv)
    X_train, X_test = load(args)
    print(f"binarised MNIST ({args.binarize}): {len(X_train)} training and {len(X_test)} test "
          f"images; device {args.device}; {args.epochs} epochs; K={args.n_importance}",
          flush=True)

    # Untimed: CUDA context, kernels and allocator warm-up.
    make_vae(args, 1).fit(X_train[:2048])
    vae, train_time = timed(lambda: make_vae(args, args.epochs).fit(X_train), args.device)
    print(f"trained in {train_time:.1f} s; evaluating", flush=True)

    row = {
        "device": str(torch.device(args.device)),
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs_run": vae.n_iter_,
        "train_time_s": train_time,
        "seconds_per_epoch": train_time / vae.n_iter_,
        "final_train_loss": vae.loss_curve_[-1],
        **evaluate(vae, X_train, X_test, args),
    }
    settings = _common.settings_of(
        args, n_train=len(X_train), n_test=len(X_test), loss="bce",
        hidden_layer_sizes=list(args.hidden), n_components=args.latent, optimizer="adam",
    )
    notes = [
        "Data: MNIST binarised "
        + (f"stochastically (each pixel Bernoulli(intensity), drawn once, seed {args.seed})"
           if args.binarize == "stochastic" else "by threshold (intensity > 0.5)")
        + f"; trained on the first {len(X_train)} training images, evaluated on "
        f"{len(X_test)} test images.",
        f"Model: VAETransformer({args.latent}, hidden_layer_sizes={tuple(args.hidden)}, "
        f"loss='bce'), ReLU, Adam lr {args.lr:g}, batch {args.batch_size}, "
        f"{vae.n_iter_} epochs, float32.",
        "-ELBO: -score(X), skae's ELBO (fixed posterior draws shared by all images); "
        f"-ELBO (MC): minus the mean of log_likelihood(X, 1) over {args.elbo_draws} seeds, "
        "an independent estimate of the same quantity, and its standard error over seeds "
        "(each seed's draw is shared by all images). Nats per image; lower is better.",
        f"test NLL: -mean(log_likelihood(X_test, n_importance={args.n_importance})), the IWAE "
        "bound; it over-estimates the NLL, less so as K grows (the literature uses K=5000).",
        f"Literature: {REFERENCE}. Other protocols (dynamic binarisation, the 50k training "
        "split, other sizes) move these numbers by a nat or more; a run with fewer images, "
        "epochs or importance samples is not comparable.",
        "train -ELBO: -score on the first n_test training images. train (s): the whole fit, "
        "after an untimed one-epoch warm-up fit; s / epoch: train (s) / epochs. NLL eval (s): "
        "the log_likelihood call on the test images.",
    ]
    if args.quick or len(X_train) < 60000 or args.epochs < 100:
        notes.append("This is a reduced run (fewer images or epochs than the full benchmark): "
                     "a check that the script works, not a measurement to compare.")
    return _common.write_results(NAME, [row], COLUMNS, notes, settings=settings,
                                 output_dir=args.output_dir,
                                 title="VAE on binarised MNIST: test ELBO and NLL")


if __name__ == "__main__":
    main()
