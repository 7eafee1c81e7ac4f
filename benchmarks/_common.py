"""What skae's benchmark scripts share: command line, data, timing, results.

Every script in ``benchmarks/`` is a small runnable program that prints its
table and writes it to ``benchmarks/results/<name>.md`` and ``.json`` (or
under ``--output-dir``), headed by the machine it ran on. A new script
follows the same contract, so that ``run_all.py`` and the smoke tests can
drive it::

    import _common

    def main(argv=None):
        parser = _common.make_parser(__doc__)          # --quick, --repeats, ...
        args = _common.parse_args(parser, argv)        # resolves args.repeats
        X = _common.load_dataset("digits")             # None (with a note) if absent
        timings = _common.interleaved({"a": fit_a, "b": fit_b}, repeats=args.repeats)
        rows = [{"contender": k, "fit_s": t.median} for k, t in timings.items()]
        return _common.write_results("my_bench", rows, ["contender", "fit_s"],
                                     notes=[...], settings=vars(args),
                                     output_dir=args.output_dir)

    if __name__ == "__main__":
        main()

The scripts are run as files (``python benchmarks/bench_fit.py``), so
``import _common`` finds this module next to them.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_MNIST_DIR = REPO_DIR.parent / "shared" / "data" / "mnist"


# --------------------------------------------------------------- command line

def make_parser(description, *, repeats=5):
    """An ``ArgumentParser`` with the options every benchmark takes.

    ``--quick`` (small sizes, a smoke run), ``--repeats`` (interleaved
    repetitions; the median is reported), ``--output-dir`` (where the
    ``.md``/``.json`` go), ``--mnist-dir``, ``--seed`` and ``--threads``.
    ``run_all.py`` passes ``--quick``, ``--output-dir`` and ``--mnist-dir``
    to every script. Parse with :func:`parse_args`.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke run of a few seconds, not a measurement")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"interleaved repetitions, median reported (default {repeats}, "
                             "1 with --quick)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR,
                        help=f"folder for <name>.md and <name>.json (default {RESULTS_DIR})")
    parser.add_argument("--mnist-dir", type=Path, default=None,
                        help="folder with the MNIST IDX files, Fashion-MNIST in its "
                             "fashion_mnist/ subfolder (default: $SKAE_MNIST_DIR, else "
                             f"{DEFAULT_MNIST_DIR})")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and BLAS threads (default: the libraries' own choice, "
                             "shown in the header)")
    parser.set_defaults(_default_repeats=repeats)
    return parser


def parse_args(parser, argv=None):
    """Parse ``argv``, resolve ``--repeats`` and apply ``--threads``.

    ``args.repeats`` becomes the number of rounds: as given, else 1 for
    ``--quick`` runs, else the script's default.
    """
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else args._default_repeats
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None:
        set_threads(args.threads)
    return args


def set_threads(n):
    """Limit torch's and the BLAS/OpenMP pools' threads to ``n``."""
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)


def settings_of(args, **extra):
    """The parsed options as a JSON-friendly dict (for the results header)."""
    out = {k: (str(v) if isinstance(v, Path) else v)
           for k, v in vars(args).items() if not k.startswith("_")}
    out.update(extra)
    return out


# ----------------------------------------------------------------- machine

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:  # not installed: the header says so
        return None
    return getattr(module, "__version__", None)


def _blas_info():
    """numpy's BLAS and its thread count, e.g. ``'openblas 0.3.31 x2'``."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return f"{pool['internal_api']} {pool.get('version')} x{pool['num_threads']}"
    return None


def machine_info():
    """Platform, CPU, library versions, torch threads, GPU and date (UTC)."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "skorch": _version("skorch"),
        "sklearn": _version("sklearn"),
        "numpy": np.__version__,
        "skae": _version("skae"),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    blas = _blas_info()
    if blas:
        info["blas"] = blas
    try:
        info["loadavg_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def _machine_line(info):
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ""
    load = f", load {info['loadavg_1min']}" if "loadavg_1min" in info else ""
    return (
        f"machine: {info['cpu']} ({info['cpus_usable']} of {info['cpu_count']} CPUs usable, "
        f"torch threads {info['torch_threads']}, BLAS {info.get('blas')}{gpu}{load}), "
        f"{info['platform']}, "
        f"Python {info['python']}; torch {info['torch']}, skorch {info['skorch']}, "
        f"scikit-learn {info['sklearn']}, numpy {info['numpy']}, skae {info['skae']}; "
        f"{info['date']}"
    )


# ----------------------------------------------------------------- results

def format_value(value, fmt=None):
    """Render one table cell: ``None`` as a dash, floats to about 3 digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-" if value is None else str(value)
    if fmt is not None:
        return fmt(value) if callable(fmt) else format(value, fmt)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(value)
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1e-3:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _columns(columns):
    """Normalise columns to ``(key, header, fmt)`` triples."""
    out = []
    for col in columns:
        if isinstance(col, str):
            out.append((col, col, None))
        elif len(col) == 2:
            out.append((col[0], col[1], None))
        else:
            out.append(tuple(col))
    return out


def markdown_table(rows, columns):
    """A markdown table of ``rows`` (dicts); ``columns`` as in :func:`write_results`."""
    cols = _columns(columns)
    lines = ["| " + " | ".join(h for _, h, _ in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(k), f) for k, _, f in cols) + " |")
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN or infinity
    return value


def write_results(name, rows, columns, notes=(), *, settings=None, output_dir=None,
                  title=None, extra_versions=None):
    """Print a markdown table and write ``<output_dir>/<name>.md`` and ``.json``.

    Parameters
    ----------
    name : str
        File stem, e.g. ``"bench_fit"``.
    rows : list of dict
        One dict per table row; every value is kept in the JSON, the table
        shows ``columns``.
    columns : list
        Column keys, or ``(key, header)`` or ``(key, header, fmt)`` tuples,
        ``fmt`` a format spec (``".3f"``) or a callable.
    notes : sequence of str
        Printed under the table (methods, caveats, differences between
        contenders).
    settings : dict, optional
        Sizes and options of the run, written in both files.
    output_dir : path, optional
        Default ``benchmarks/results``.
    title : str, optional
        Heading of the markdown file (default ``name``).
    extra_versions : dict, optional
        Versions of contenders outside the usual stack (e.g. ``{"pyod": ...}``).

    Returns
    -------
    result : dict
        What the JSON holds: ``name``, ``machine``, ``settings``, ``notes``,
        ``columns``, ``rows``.
    """
    output_dir = Path(output_dir or RESULTS_DIR)
    output_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    if extra_versions:
        machine.update(extra_versions)
    table = markdown_table(rows, columns)
    settings = dict(settings or {})
    lines = [f"# {title or name}", "", _machine_line(machine)]
    if extra_versions:
        lines[-1] += "; " + ", ".join(f"{k} {v}" for k, v in extra_versions.items())
    if settings:
        lines += ["", "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())]
    lines += ["", table]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    md_path, json_path = output_dir / f"{name}.md", output_dir / f"{name}.json"
    md_path.write_text(text, encoding="utf-8")
    result = _jsonable({
        "name": name,
        "machine": machine,
        "settings": settings,
        "notes": list(notes),
        "columns": [k for k, _, _ in _columns(columns)],
        "rows": rows,
    })
    json_path.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(text)
    print(f"wrote {md_path} and {json_path}")
    sys.stdout.flush()
    return result


# -------------------------------------------------------------------- data

def manifold(n_samples=100_000, n_features=100, *, n_latent=5, n_hidden=64, noise=0.01,
             seed=0, chunk=100_000):
    """Rows on a noisy ``n_latent``-dimensional nonlinear manifold, float32.

    ``X = tanh(tanh(Z W1 + b1) W2 + b2) + noise * E`` with ``Z`` and ``E``
    standard normal and a fixed random map (``W1``, ``b1``, ``W2``,
    ``b2``) drawn from ``seed``. Each part comes from its own generator, so
    ``manifold(n)`` is a prefix of ``manifold(m)`` for ``n < m``; rows are
    computed in chunks to bound the temporary memory.
    """
    map_rng = np.random.default_rng([seed, 0])
    W1 = map_rng.normal(scale=1.5 / np.sqrt(n_latent), size=(n_latent, n_hidden))
    b1 = map_rng.normal(scale=0.5, size=n_hidden)
    W2 = map_rng.normal(scale=1.5 / np.sqrt(n_hidden), size=(n_hidden, n_features))
    b2 = map_rng.normal(scale=0.5, size=n_features)
    W1, b1, W2, b2 = (a.astype(np.float32) for a in (W1, b1, W2, b2))
    z_rng = np.random.default_rng([seed, 1])
    e_rng = np.random.default_rng([seed, 2])
    X = np.empty((n_samples, n_features), dtype=np.float32)
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        Z = z_rng.standard_normal((stop - start, n_latent), dtype=np.float32)
        block = np.tanh(np.tanh(Z @ W1 + b1) @ W2 + b2)
        block += noise * e_rng.standard_normal(block.shape, dtype=np.float32)
        X[start:stop] = block
    return X


def mnist_dir(path=None):
    """The MNIST folder: ``path``, else ``$SKAE_MNIST_DIR``, else the shared one."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("SKAE_MNIST_DIR") or DEFAULT_MNIST_DIR)


def _load_digits(n_rows, seed, mnist_path):
    from sklearn.datasets import load_digits

    return (load_digits().data / 16).astype(np.float32)


def _load_manifold(n_rows, seed, mnist_path):
    return manifold(100_000 if n_rows is None else n_rows, seed=seed)


def _load_mnist_family(sub):
    def load(n_rows, seed, mnist_path):
        from skae.datasets import load_mnist

        folder = mnist_dir(mnist_path)
        folder = folder / sub if sub else folder
        try:
            X, _ = load_mnist(folder, "train")
        except FileNotFoundError as exc:
            print(f"note: skipping {'Fashion-MNIST' if sub else 'MNIST'}: {exc}. "
                  "Set --mnist-dir or SKAE_MNIST_DIR.")
            return None
        return X
    return load


#: Data sets by name: ``loader(n_rows, seed, mnist_path)`` returns float32
#: rows or None (after printing why). Scripts may add their own.
DATASETS = {
    "digits": _load_digits,              # 1797 x 64, in [0, 1]
    "manifold": _load_manifold,          # 100,000 x 100, synthetic (see manifold())
    "mnist": _load_mnist_family(""),     # 60,000 x 784, in [0, 1]
    "fashion": _load_mnist_family("fashion_mnist"),  # 60,000 x 784, in [0, 1]
}


def load_dataset(name, *, max_rows=None, seed=0, mnist_path=None):
    """Rows of data set ``name`` as float32, at most ``max_rows`` of them.

    Returns None, after printing a note, when the files are absent (MNIST
    and Fashion-MNIST). ``max_rows`` keeps the first rows (MNIST's training
    set is already in random order).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    X = DATASETS[name](max_rows, seed, mnist_path)
    if X is None:
        return None
    if max_rows is not None:
        X = X[:max_rows]
    return np.ascontiguousarray(X, dtype=np.float32)


def heldout_split(X, fraction=0.1, seed=0):
    """A random ``(X_train, X_test)`` split holding out ``fraction`` of the rows."""
    perm = np.random.default_rng(seed).permutation(len(X))
    n_test = max(1, round(fraction * len(X)))
    return (np.ascontiguousarray(X[perm[n_test:]]), np.ascontiguousarray(X[perm[:n_test]]))


# ------------------------------------------------------- the reference models


def hidden_sizes(n_features):
    """The hidden layers the speed benchmarks use: wider for wide data."""
    return (256, 128) if n_features > 256 else (128, 64)


def build_module(n_features, n_components, hidden_layer_sizes):
    """skae's dense autoencoder module (ReLU, identity output), outside an estimator."""
    from skae.modules import Architecture, build_autoencoder

    return build_autoencoder(Architecture(n_features, n_components,
                                          hidden_layer_sizes=hidden_layer_sizes,
                                          activation="relu"))


def fit_torch_loop(X, cfg, seed, n_components, *, epoch_times=None, max_epochs=None, **adam):
    """What a hand-written PyTorch training loop does with skae's module.

    Mini-batch Adam (``adam``: extra options, e.g. ``fused=True``) on the MSE
    for ``cfg["epochs"]`` epochs of ``cfg["batch_size"]`` rows, each batch
    gathered from one shuffled index on ``cfg.get("device", "cpu")``. With
    ``cfg["one_cycle"]`` true, torch's ``OneCycleLR`` (``max_lr=cfg["lr"]``,
    torch's other defaults, over ``epochs x batches per epoch + 1`` steps, as
    skae's ``learning_rate='one_cycle'``) is stepped after every batch.
    ``epoch_times``, a list, receives each epoch's seconds; ``max_epochs``
    stops after that many epochs (the schedule still spans ``cfg["epochs"]``:
    a timing run). Returns the module in eval mode.
    """
    import torch

    device = torch.device(cfg.get("device", "cpu"))
    torch.manual_seed(seed)
    X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    module = build_module(X.shape[1], n_components, cfg["hidden"]).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=cfg["lr"], **adam)
    scheduler = None
    if cfg.get("one_cycle"):
        steps = math.ceil(len(X) / cfg["batch_size"]) * cfg["epochs"]
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg["lr"],
                                                        total_steps=steps + 1)
    module.train()
    for _ in range(min(cfg["epochs"], max_epochs or cfg["epochs"])):
        start = time.perf_counter()
        torch_loop_epoch(module, optimizer, X, cfg["batch_size"], scheduler)
        if epoch_times is not None:
            epoch_times.append(time.perf_counter() - start)
    return module.eval()


def torch_loop_epoch(module, optimizer, X, batch_size, scheduler=None):
    """One epoch of :func:`fit_torch_loop`'s loop over the rows of the tensor ``X``.

    One ``randperm`` on ``X``'s device, then per batch: index it, ``zero_grad``,
    forward, MSE, backward, step (and ``scheduler.step()``, if given),
    ``loss.item()``. ``module`` must be in train mode.
    """
    import torch
    from torch.nn import functional as F

    perm = torch.randperm(len(X), device=X.device)
    for start in range(0, len(X), batch_size):
        xb = X.index_select(0, perm[start:start + batch_size])
        optimizer.zero_grad()
        x_hat, _ = module(xb)
        loss = F.mse_loss(x_hat, xb)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss.item()  # what a loop that logs its loss waits for


def heldout_datasets(args, fraction=0.1):
    """``(name, X_train, X_test)`` for each of ``args.datasets`` that is available.

    Loads each with ``args.max_rows``, ``args.seed`` and ``args.mnist_dir`` and
    holds out ``fraction`` of its rows; an absent data set is skipped (with
    the note ``load_dataset`` prints).
    """
    for name in args.datasets:
        X = load_dataset(name, max_rows=args.max_rows, seed=args.seed,
                         mnist_path=args.mnist_dir)
        if X is not None:
            yield (name, *heldout_split(X, fraction, seed=args.seed))


# ------------------------------------------------------------------ timing

@dataclass
class Timing:
    """Wall-clock seconds of repeated runs of one contender, and what each returned."""

    times: list = field(default_factory=list)
    results: list = field(default_factory=list)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def min(self):
        return min(self.times)

    @property
    def max(self):
        return max(self.times)

    @property
    def spread(self):
        """(max - min) / median, in percent: how noisy the repeats were."""
        return 100.0 * (self.max - self.min) / self.median if self.median > 0 else 0.0

    @property
    def result(self):
        """What the last run returned."""
        return self.results[-1]


def interleaved(contenders, repeats=5, *, warmup=0, sync=None, verbose=True):
    """Run contenders round by round and time each call.

    Parameters
    ----------
    contenders : dict
        ``name -> fn(repeat)``; ``repeat`` (0, 1, ...) can seed the run. Each
        call is timed as a whole (``time.perf_counter``); what it returns is
        kept in ``Timing.results`` (return something small).
    repeats : int
        Timed rounds. In round ``r`` the contenders run in their given order
        rotated by ``r``, so none always runs first (or right after a memory
        hungry neighbour); the median over rounds is robust to the odd
        disturbed run on a shared machine.
    warmup : int
        Untimed rounds first (e.g. to load kernels or fill caches).
    sync : callable, optional
        Called before starting and before stopping the clock, e.g.
        ``torch.cuda.synchronize`` so queued GPU work is counted.
    verbose : bool
        Print each timing as it happens.

    Returns
    -------
    timings : dict
        ``name -> Timing``, in the given order.
    """
    names = list(contenders)
    for r in range(warmup):
        for name in names:
            contenders[name](-1 - r)
    out = {name: Timing() for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if sync is not None:
                sync()
            start = time.perf_counter()
            result = contenders[name](r)
            if sync is not None:
                sync()
            seconds = time.perf_counter() - start
            out[name].times.append(seconds)
            out[name].results.append(result)
            if verbose:
                print(f"  [{r + 1}/{repeats}] {name}: {seconds:.3f} s", flush=True)
    return out


# ----------------------------------------------------------- process memory


def proc_status():
    """This process's resident set size now and at its peak, in bytes (Linux /proc)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak_rss():
    """Reset the kernel's peak RSS (VmHWM) to the current RSS; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
