"""RESEARCH script (issue #25, goal 3): levers on native table reconstruction's numeric R^2.

Not a benchmark of skae's defaults and not run by ``run_all.py``: it
switches skae's column weighting (and, for one variant, the numeric
columns' loss) by monkeypatching, in this process only, and measures each
variant with ``bench_tabular.py``'s own loading, contenders and scoring.
skae's defaults are not changed by it.

Question: which lever brings ``AutoencoderTransformer(k).fit(df)`` (native)
to at least the one-hot + scaler + autoencoder pipeline (one-hot AE) on
both counts, categorical accuracy >= one-hot AE's and numeric R^2 >=
one-hot AE's - 0.01, on the mean over tables and on each table, at every k?

Variants of native (the one-hot AE trains on plain numbers, which have no
column weights, so only ``max_iter`` changes it):

- ``default``: today's rule, each column's loss divided by its marginal
  loss (numeric: MSE of the mean on standardised data = 1; categorical:
  the entropy of its training level frequencies);
- ``num1.5``, ``num2``, ``num3``, ``num4``: numeric columns' weights
  times 1.5, 2, 3 or 4;
- ``balance``: numeric weights scaled so that the numeric columns' total
  weight equals the other columns' (the marginal rule within each kind);
- ``ones``: no marginal weighting, every weight 1;
- ``logscale``: a learned log-scale ``s`` per numeric column, its loss
  ``(x - mu)^2 exp(-2 s) + 2 s`` (twice the Gaussian negative
  log-likelihood less its constant, so that at ``s = 0`` it is today's
  squared error); ``s`` starts at 0 and trains with the rest;
- ``iter60``: the defaults with ``max_iter=60`` for native and one-hot AE;
- ``num2_iter60``: ``num2`` with ``max_iter=60`` (one-hot AE at 60 too).

Run ``python benchmarks/research_tables_levers.py --half selection`` (or
``report``, with ``--variants``); results are cached per (variant, table,
k, method) in ``results/research_tables_levers<part>.json`` (``--part``
lets two runs go side by side) and every run rewrites
``results/research_tables_levers.md`` from all of them.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import bench_tabular as bt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.modules import _columns

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "research_tables_levers.json"
HALVES = {"selection": list(bt.SELECTION), "report": list(bt.REPORT)}
#: name -> (how the weights change, learned numeric log-scale, max_iter)
VARIANTS = {
    "default": (None, False, 30),
    "num1.5": (("numeric_factor", 1.5), False, 30),
    "num2": (("numeric_factor", 2.0), False, 30),
    "num3": (("numeric_factor", 3.0), False, 30),
    "num4": (("numeric_factor", 4.0), False, 30),
    "balance": (("balance", None), False, 30),
    "ones": (("ones", None), False, 30),
    "logscale": (None, True, 30),
    "iter60": (None, False, 60),
    "num2_iter60": (("numeric_factor", 2.0), False, 60),
}
ACC_MARGIN, R2_MARGIN = 0.0, 0.01

# ------------------------------------------------------------- the switches

_STATE = {"weights": None, "logscale": False}
_original_init_weights = AutoencoderTransformer._init_weights
_original_init = _columns.TabularOutput.__init__
_original_reset = _columns.TabularOutput.reset_parameters
_original_column_losses = _columns.TabularOutput.column_losses


def _init_weights(self, X):
    logscale, _STATE["logscale"] = _STATE["logscale"], False  # the marginal rule as today
    try:
        _original_init_weights(self, X)
    finally:
        _STATE["logscale"] = logscale
    if self._table is None or _STATE["weights"] is None:
        return
    rule, value = _STATE["weights"]
    heads = self.net_.module_.output
    kinds = [kind for kind, _ in heads.columns]
    numeric = torch.tensor([kind == _columns.NUMERIC for kind in kinds])
    with torch.no_grad():
        w = heads.weights
        if rule == "numeric_factor":
            w[numeric] *= value
        elif rule == "balance" and numeric.any() and (~numeric).any():
            w[numeric] *= w[~numeric].sum() / w[numeric].sum()
        elif rule == "ones":
            w.fill_(1.0)


def _init(self, columns):
    _original_init(self, columns)
    self.numeric_log_scale = torch.nn.Parameter(torch.zeros(len(self.columns)))


def _reset(self):
    _original_reset(self)
    with torch.no_grad():
        self.numeric_log_scale.zero_()


def _column_losses(self, h, x, loss="mse"):
    if not _STATE["logscale"]:
        return _original_column_losses(self, h, x, loss)
    raw = self._by_kind(h, x, _columns.ELEMENTWISE_LOSSES[loss])
    s = self.numeric_log_scale.to(raw.dtype)
    numeric = torch.tensor([kind == _columns.NUMERIC for kind, _ in self.columns],
                           device=raw.device)
    observed = ~torch.isnan(x)
    nll = torch.where(observed, raw * torch.exp(-2 * s) + 2 * s, 0.0)
    return torch.where(numeric, nll, raw) * self.weights.to(raw.dtype)


AutoencoderTransformer._init_weights = _init_weights
_columns.TabularOutput.__init__ = _init
_columns.TabularOutput.reset_parameters = _reset
_columns.TabularOutput.column_losses = _column_losses


def set_variant(name):
    weights, logscale, _ = VARIANTS[name]
    _STATE["weights"], _STATE["logscale"] = weights, logscale


# -------------------------------------------------------------------- runs

def load_cache(paths):
    cache = {}
    for path in paths:
        if path.exists():
            cache.update(json.loads(path.read_text()))
    return cache


def all_caches():
    return sorted(RESULTS.glob(f"{CACHE.stem}*.json"))


def run(half, variants, max_rows, cache_path, seed=0, ks=(2, 4, 8), model_seed=0, tables=None):
    cache = load_cache([cache_path])
    tables = [t for t in bt.TABLES if t[1] in HALVES[half] and (not tables or t[1] in tables)]
    tail = f"|s{model_seed}" if model_seed else ""  # the model's seed; the split's stays
    for package, item, drops in tables:
        df, cats, nums, _ = bt.load_table(package, item, drops, max_rows=max_rows, seed=seed)
        train, test = train_test_split(df, test_size=0.25, random_state=seed)
        train, test = train.reset_index(drop=True), test.reset_index(drop=True)
        for variant in variants:
            max_iter = VARIANTS[variant][2]
            args = argparse.Namespace(max_iter=max_iter)
            for k in ks:
                jobs = [("native", f"{variant}|{item}|{k}|native|{max_rows}{tail}"),
                        ("onehot_ae", f"iter{max_iter}|{item}|{k}|onehot_ae|{max_rows}{tail}")]
                for method, key in jobs:
                    if key in cache or key in load_cache(all_caches()):
                        continue  # done here, or by a run beside this one
                    set_variant(variant if method == "native" else "default")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        start = time.perf_counter()
                        model = bt.fit_method(method, train, k, cats, nums, args,
                                              model_seed or seed)
                        seconds = time.perf_counter() - start
                    cat_pred, num_pred = bt.reconstruct(model, test, cats, nums)
                    acc, r2 = bt.scores(test, cats, nums, cat_pred, num_pred)
                    cache[key] = {"acc": float(np.mean(list(acc.values()))),
                                  "r2": float(np.mean(list(r2.values()))),
                                  "fit_s": seconds, "epochs": getattr(model, "n_iter_", None),
                                  "n_train": len(train)}
                    print(f"{key}: acc {cache[key]['acc']:.3f} r2 {cache[key]['r2']:.3f} "
                          f"{seconds:.1f} s {cache[key]['epochs']} epochs", flush=True)
                    cache_path.write_text(json.dumps(cache, indent=1))
            set_variant("default")
    return cache


def meets(native, onehot):
    return (native["acc"] >= onehot["acc"] - ACC_MARGIN
            and native["r2"] >= onehot["r2"] - R2_MARGIN)


def report(cache, max_rows, ks=(2, 4, 8)):
    lines = ["# Levers on native table reconstruction (research_tables_levers.py, issue #25)", "",
             f"bench_tabular's tables, loading, split (75/25, seed 0) and scoring; max_rows "
             f"{max_rows} (bench_tabular uses 20,000), seed 0, one torch thread, a shared "
             "2-core machine. Goal per table and on the mean: native cat acc >= one-hot AE's "
             "and native num R^2 >= one-hot AE's - 0.01. `ok` = tables meeting both; "
             "`misses` names the others (a: accuracy, r: R^2). Fit s: mean fit time of one "
             "run, measured with up to three of these runs side by side on the busy machine: "
             "compare native with one-hot AE only within a row, and only roughly. Made by "
             "`--half selection` (all variants), `--half report --variants default num1.5 "
             "num2`, and `--model-seed 1` / `2` runs of default and num2 for the seed-noise "
             "table at the end.", ""]
    views = {**HALVES, "all 7": [
        t for half in HALVES.values() for t in half]}
    for half, items in views.items():
        for variant in VARIANTS:
            max_iter = VARIANTS[variant][2]
            rows = []
            for k in ks:
                pairs = [(t, cache.get(f"{variant}|{t}|{k}|native|{max_rows}"),
                          cache.get(f"iter{max_iter}|{t}|{k}|onehot_ae|{max_rows}"))
                         for t in items]
                pairs = [p for p in pairs if p[1] and p[2]]
                if len(pairs) < len(items):
                    continue
                mean = {f"{m}_{q}": float(np.mean([p[i][q] for p in pairs]))
                        for i, m in ((1, "nat"), (2, "oh")) for q in ("acc", "r2", "fit_s")}
                misses = [t + "(" + ("a" if n["acc"] < o["acc"] - ACC_MARGIN else "")
                          + ("r" if n["r2"] < o["r2"] - R2_MARGIN else "") + ")"
                          for t, n, o in pairs if not meets(n, o)]
                mean_ok = meets({"acc": mean["nat_acc"], "r2": mean["nat_r2"]},
                                {"acc": mean["oh_acc"], "r2": mean["oh_r2"]})
                rows.append(f"| {k} | {mean['nat_acc']:.3f} | {mean['oh_acc']:.3f} | "
                            f"{mean['nat_r2']:.3f} | {mean['oh_r2']:.3f} | "
                            f"{'yes' if mean_ok else 'no'} | {len(pairs) - len(misses)}/"
                            f"{len(pairs)} | {', '.join(misses) or '-'} | "
                            f"{mean['nat_fit_s']:.1f} | {mean['oh_fit_s']:.1f} |")
            if not rows:
                continue
            where = f"{half} half" if half in HALVES else "all 7 tables"
            lines += [f"## {where} ({', '.join(items)}): {variant} (max_iter {max_iter})", "",
                      "| k | cat acc native | one-hot AE | num R^2 native | one-hot AE | "
                      "mean ok | ok | misses | fit s native | one-hot AE |",
                      "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
        if half not in HALVES:
            continue
        per_table = []
        for t in items:
            for k in ks:
                cells = []
                for variant in VARIANTS:
                    n = cache.get(f"{variant}|{t}|{k}|native|{max_rows}")
                    cells.append(f"{n['acc']:.3f} / {n['r2']:.3f}" if n else "-")
                oh = [cache.get(f"iter{it}|{t}|{k}|onehot_ae|{max_rows}") for it in (30, 60)]
                cells += [f"{o['acc']:.3f} / {o['r2']:.3f}" if o else "-" for o in oh]
                per_table.append(f"| {t} | {k} | " + " | ".join(cells) + " |")
        lines += [f"## {half} half, per table: cat acc / num R^2", "",
                  "| table | k | " + " | ".join(VARIANTS) + " | one-hot AE (30) | "
                  "one-hot AE (60) |",
                  "|---|---|" + "---|" * (len(VARIANTS) + 2), *per_table, ""]
    lines += noise_section(cache, max_rows, ks)
    text = "\n".join(lines)
    (RESULTS / "research_tables_levers.md").write_text(text)
    print(text)


def noise_section(cache, max_rows, ks):
    """Spread over the fits' seeds (0 and every other seed cached), the split fixed."""
    seeds = sorted({int(key.rsplit("|s", 1)[1]) for key in cache if "|s" in key})
    if not seeds:
        return []
    out = ["## Seed noise: the fits' random_state 0 and " + ", ".join(map(str, seeds))
           + " where run (split fixed at seed 0); cat acc / num R^2 min-max over the seeds",
           "",
           "| table | k | seeds | default | num2 | one-hot AE | num2 meets (per seed) |",
           "|---|---|---|---|---|---|---|"]
    def get(variant, item, k, method, seed):
        it = "iter30" if method == "onehot_ae" else variant
        return cache.get(f"{it}|{item}|{k}|{method}|{max_rows}" + (f"|s{seed}" if seed else ""))

    def span(rs):
        a, b = [r["acc"] for r in rs], [r["r2"] for r in rs]
        return f"{min(a):.3f}-{max(a):.3f} / {min(b):.3f}-{max(b):.3f}"

    for item in [t for half in HALVES.values() for t in half]:
        for k in ks:
            which = (("default", "default", "native"), ("num2", "num2", "native"),
                     ("onehot", None, "onehot_ae"))
            done = [s for s in [0, *seeds] if all(get(v, item, k, m, s) for _, v, m in which)]
            if len(done) < 2:
                continue
            runs = {name: [get(v, item, k, m, s) for s in done] for name, v, m in which}
            ok = ["yes" if meets(n, o) else "no" for n, o in zip(runs["num2"], runs["onehot"])]
            out.append(f"| {item} | {k} | {len(done)} | {span(runs['default'])} | "
                       f"{span(runs['num2'])} | {span(runs['onehot'])} | {' '.join(ok)} |")
    return out + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=list(HALVES), default="selection")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--model-seed", type=int, default=0,
                        help="the fits' random_state (0: the split's seed); the split stays")
    parser.add_argument("--tables", nargs="+", default=None, help="a subset of the half")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite the .md from the cache files")
    parser.add_argument("--part", default="",
                        help="suffix of this run's cache file (parallel runs write apart)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.report_only:
        run(args.half, args.variants, args.max_rows,
            CACHE.with_name(f"{CACHE.stem}{args.part}.json"), model_seed=args.model_seed,
            tables=args.tables)
    report(load_cache(all_caches()), args.max_rows)


if __name__ == "__main__":
    main()
