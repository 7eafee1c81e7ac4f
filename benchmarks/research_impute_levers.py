"""RESEARCH script (issue #25, goal 2): levers on ``AutoencoderImputer``'s RMSE.

Not a benchmark of skae's defaults and not run by ``run_all.py``; skae is
not changed by it. Every variant is built from skae's public API
(``AutoencoderImputer(estimator=AutoencoderTransformer(...))``) or a thin
wrapper here (transform-time refinement, seed ensembles).

Question: which cheap change makes ``AutoencoderImputer()`` (today: an
``AutoencoderTransformer(ceil(d/2), noise='masking', noise_level=0.2)``)
reach an RMSE below ``KNNImputer()``'s and ``IterativeImputer()``'s on
every table at 10, 30 and 50 % MCAR?

Data, masks and scoring are ``bench_impute.py``'s (imported from it:
``load_numeric`` with ``max_rows=7000``, standardised with the full table's
statistics, ``mcar_mask``, RMSE on the masked entries), so the numbers are
comparable with ``results/bench_impute.md``.

Two halves, chosen before any number was seen:

- ``selection`` (every choice is made on these only): ADBench optdigits,
  fault, landsat, yeast, pendigits;
- ``report`` (run once at the end, for the chosen variant, today's default
  and the two sklearn imputers): ADBench Waveform, PageBlocks,
  Cardiotocography, WDBC, letter, magic.gamma, and sklearn's
  ``load_digits`` as pixels / 16 (numeric, all 64 columns, NOT standardised
  further; also at 20 % MCAR).

Variants (``VARIANTS``; ``d`` the number of columns, ``rate`` the missing
rate of the cell):

- ``default``: ``AutoencoderImputer(random_state=seed)``;
- ``refine3`` / ``refine10``: the fitted default, then T rounds of "encode
  the filled rows, decode, replace the gaps only" (``estimator_.
  inverse_transform(estimator_.transform(X_filled))``; the filled rows have
  no NaN, so the network sees no missing-value indicator in these rounds,
  as the imputer would see a filled row);
- ``ens3``: the mean of three default imputers' imputations (seeds
  ``seed``, ``seed + 1000``, ``seed + 2000``); its seconds are the sum;
- ``w3q`` / ``wd``: ``n_components`` ``ceil(3d/4)`` / ``d``;
- ``nl0.3`` / ``nl0.5`` / ``nlrate``: masking ``noise_level`` 0.3, 0.5, or
  the cell's missing rate;
- ``pat20``: ``n_iter_no_change=20`` (today 10; with <= 10,000 rows there is
  no validation split, so training stops when the training loss stalls);
- ``es``: ``early_stopping=True`` (10 % validation split, patience 10);
- ``wide``: ``hidden_layer_sizes=(256, 128)``;
- ``wd1e-4``: ``weight_decay=1e-4``; ``drop0.1``: ``dropout=0.1``;
- ``lr1e-3``: ``learning_rate_init=1e-3``;
- ``adapt``: ``learning_rate='adaptive'`` (rate / 5 after two epochs
  without improvement of the training loss), an annealed fit, added after
  ``ens3`` showed that a single fit's variance costs RMSE;
- combinations named ``a+b`` (``COMBOS``).

Run (one process, single-threaded)::

    PYTHONPATH=$PWD python benchmarks/research_impute_levers.py --half selection \\
        --seeds 0 --variants default ens3 wd ...
    PYTHONPATH=$PWD python benchmarks/research_impute_levers.py --half report \\
        --seeds 0 1 --variants default <chosen>

Add ``--adbench-dir /path/to/adbench`` when the data is not in
``../shared/data/adbench`` next to the repository (a git worktree is not).
Cells are cached per (variant, table, rate, seed) in
``results/research_impute_levers.json`` (a re-run only computes what is
missing); every run rewrites ``results/research_impute_levers.md`` from all
cached cells (``--write-only`` just rewrites it).
"""

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import bench_impute as bi  # noqa: E402  (also imports scipy before the pools are limited)
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.experimental import enable_iterative_imputer  # noqa: E402, F401
from sklearn.impute import IterativeImputer, KNNImputer  # noqa: E402

from skae import AutoencoderImputer, AutoencoderTransformer  # noqa: E402

RESULTS = BENCH / "results"
CACHE = RESULTS / "research_impute_levers.json"
#: bench_impute's tables, split as it reports them (its ``SELECTION`` chooses).
HALVES = {
    "selection": [t for t in bi.TABLES if bi.short_name(t) in bi.SELECTION],
    "report": [t for t in bi.TABLES if bi.short_name(t) not in bi.SELECTION],
}
RATES = [0.1, 0.3, 0.5]
DIGITS_RATES = [0.1, 0.2, 0.3, 0.5]
MAX_ROWS = 7000


def _default(d, rate):
    return {"n_components": max(2, math.ceil(d / 2)), "noise": "masking", "noise_level": 0.2}


#: name -> function (d, rate) -> changes to the default estimator's parameters
LEVERS = {
    "default": lambda d, rate: {},
    "w3q": lambda d, rate: {"n_components": max(2, math.ceil(3 * d / 4))},
    "wd": lambda d, rate: {"n_components": d},
    "nl0.3": lambda d, rate: {"noise_level": 0.3},
    "nl0.5": lambda d, rate: {"noise_level": 0.5},
    "nlrate": lambda d, rate: {"noise_level": rate},
    "pat20": lambda d, rate: {"n_iter_no_change": 20},
    "es": lambda d, rate: {"early_stopping": True},
    "wide": lambda d, rate: {"hidden_layer_sizes": (256, 128)},
    "wd1e-4": lambda d, rate: {"weight_decay": 1e-4},
    "drop0.1": lambda d, rate: {"dropout": 0.1},
    "lr1e-3": lambda d, rate: {"learning_rate_init": 1e-3},
    "adapt": lambda d, rate: {"learning_rate": "adaptive"},
}
#: variants computed from another variant's fit: name -> (base, refinement rounds)
REFINED = {"refine3": ("default", 3), "refine10": ("default", 10)}
ENSEMBLES = {"ens3": ("default", 3)}
BASELINES = {"knn": lambda seed: KNNImputer(),
             "iter": lambda seed: IterativeImputer(random_state=seed)}


def lever_params(name, d, rate):
    """The estimator parameters of variant ``name`` (``a+b`` combines levers)."""
    params = _default(d, rate)
    for part in name.split("+"):
        params.update(LEVERS[part](d, rate))
    return params


def known(name):
    return (name in BASELINES or name in REFINED or name in ENSEMBLES
            or all(p in LEVERS for p in name.split("+")))


# -------------------------------------------------------------------- data

def load(table):
    """``(X, info)``: bench_impute's standardised table, or digits / 16 as is."""
    if table == "digits":
        X = load_digits().data / 16.0
        return X, {"table": "digits", "rows": X.shape[0], "cols": X.shape[1]}
    return bi.load_numeric(table, ARGS.adbench_dir, MAX_ROWS)


def rates_of(table):
    return DIGITS_RATES if table == "digits" else RATES


# -------------------------------------------------------------- imputing

def fit_variant(name, Xm, seed, rate):
    """Fit variant ``name`` (a lever or combination) on ``Xm``: (imputer, filled, seconds)."""
    est = AutoencoderTransformer(**lever_params(name, Xm.shape[1], rate))
    start = time.perf_counter()
    imp = AutoencoderImputer(est, random_state=seed)
    Y = imp.fit_transform(Xm)
    return imp, Y, time.perf_counter() - start


def refine(imp, Y, M, rounds):
    """``rounds`` of re-encoding the filled rows and re-filling only the gaps."""
    Y = Y.copy()
    est = imp.estimator_
    for _ in range(rounds):
        R = est.inverse_transform(est.transform(Y))
        Y[M] = R[M]
    return Y


def compute(table, X, M, rate, seed, names, cache, memo):
    """Compute the missing cells of ``names`` for one (table, rate, seed)."""
    Xm = np.where(M, np.nan, X)
    for name in names:
        key = f"{name}|{table}|{rate}|{seed}"
        if key in cache["cells"]:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name in BASELINES:
                start = time.perf_counter()
                Y = BASELINES[name](seed).fit_transform(Xm)
                seconds = time.perf_counter() - start
            elif name in REFINED or name in ENSEMBLES:
                base, n = REFINED.get(name) or ENSEMBLES[name]
                if base not in memo:
                    memo[base] = fit_variant(base, Xm, seed, rate)
                imp, Y0, seconds = memo[base]
                if name in REFINED:
                    start = time.perf_counter()
                    Y = refine(imp, Y0, M, n)
                    seconds += time.perf_counter() - start
                else:
                    Ys = [Y0]
                    for k in range(1, n):
                        _, Yk, s = fit_variant(base, Xm, seed + 1000 * k, rate)
                        Ys.append(Yk)
                        seconds += s
                    Y = np.mean(Ys, axis=0)
            else:
                memo[name] = fit_variant(name, Xm, seed, rate)
                _, Y, seconds = memo[name]
        Y = np.asarray(Y, dtype=np.float64)
        if np.isnan(Y).any():
            raise RuntimeError(f"{name} left NaNs on {table}")
        cell = {"rmse": bi.rmse(Y[M], X[M]), "seconds": round(seconds, 3),
                "loadavg_1min": round(os.getloadavg()[0], 2)}
        cache["cells"][key] = cell
        save(cache)
        print(f"  {key}: rmse {cell['rmse']:.4f}, {seconds:.1f} s", flush=True)


# -------------------------------------------------------------------- cache

def read_cache():
    try:
        return json.loads(CACHE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"cells": {}}


def save(cache):
    tmp = CACHE.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, CACHE)


# ---------------------------------------------------------------- report

def collect(cache, half):
    """``{(table, rate): {variant: [(seed, rmse, seconds)]}}`` for ``half``'s tables."""
    out = {}
    for key, cell in cache["cells"].items():
        name, table, rate, seed = key.split("|")
        if table not in HALVES[half]:
            continue
        out.setdefault((table, float(rate)), {}).setdefault(name, []).append(
            (int(seed), cell["rmse"], cell["seconds"]))
    return out


def short(table):
    return table if table == "digits" else bi.short_name(table)


def half_section(cache, half):
    """Markdown lines for one half: RMSE, seconds, per-rate means, wins."""
    data = collect(cache, half)
    if not data:
        return [f"## {half} half", "", "(nothing run)", ""]
    names = sorted({n for v in data.values() for n in v},
                   key=lambda n: (n not in BASELINES, n != "default", n))
    lines = [f"## {half} half: " + ", ".join(short(t) for t in HALVES[half]), ""]
    # Each cell compared on the seeds every variant shown in it ran on (a
    # variant only run on seed 0 is compared with KNN/Iter on seed 0).
    cells = sorted(data, key=lambda k: (HALVES[half].index(k[0]), k[1]))
    seeds_of = {k: {n: {s for s, _, _ in data[k][n]} for n in data[k]} for k in cells}

    def mean_on(k, n, seeds, i):
        vals = [r[i] for r in data[k][n] if r[0] in seeds]
        return float(np.mean(vals)) if vals else None

    header = "| table | rate | " + " | ".join(names) + " |"
    sep = "|---|---|" + "---|" * len(names)
    rm = [header, sep]
    sec = [header, sep]
    wins = {n: [0, 0] for n in names if n not in BASELINES}
    losses = {n: [] for n in wins}
    per_rate = {}
    for k in cells:
        row_r, row_s = [], []
        for n in names:
            if n not in data[k]:
                row_r.append("-")
                row_s.append("-")
                continue
            seeds = seeds_of[k][n]
            v = mean_on(k, n, seeds, 1)
            row_r.append(f"{v:.3f}" + ("" if seeds == {0, 1} else " ¹"))
            row_s.append(f"{mean_on(k, n, seeds, 2):.1f}")
            if n in BASELINES:
                continue
            if all(b in data[k] and seeds <= seeds_of[k][b] for b in BASELINES):
                best = min(BASELINES, key=lambda b: mean_on(k, b, seeds, 1))
                gap = v - mean_on(k, best, seeds, 1)
                wins[n][0] += gap < 0
                wins[n][1] += 1
                if gap >= 0:
                    losses[n].append(f"{short(k[0])} {k[1]} (+{gap:.3f} vs {best})")
        rm.append(f"| {short(k[0])} | {k[1]} | " + " | ".join(row_r) + " |")
        sec.append(f"| {short(k[0])} | {k[1]} | " + " | ".join(row_s) + " |")
        for n in names:
            if n in data[k] and k[0] != "digits":  # other units: not in the means
                per_rate.setdefault((k[1], n, "0"), {})[k[0]] = mean_on(k, n, {0}, 1)
                if seeds_of[k][n] >= {0, 1}:
                    per_rate.setdefault((k[1], n, "01"), {})[k[0]] = mean_on(k, n, {0, 1}, 1)
    lines += ["RMSE on the masked entries (mean over the seeds the variant ran; ¹ = seed 0 "
              "only):", "", *rm, "", "Seconds of one fit_transform (mean over seeds; "
              "ens3 = three fits; refineT = the default's fit plus T rounds):", "", *sec, ""]
    # mean over tables per rate: on seed 0 (every variant ran it), and on seeds 0 and 1
    for which, label in (("0", "seed 0 (every variant ran seed 0)"),
                         ("01", "seeds 0 and 1 (variants that ran both)")):
        lines += [f"Mean RMSE over the ADBench tables (digits, in pixel units, left out), "
                  f"per rate, on {label}, over the tables where the variant ran (n):", "",
                  "| rate | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for rate in sorted({k[1] for k in cells if k[0] != "digits"}):
            row = []
            for n in names:
                vals = [v for v in per_rate.get((rate, n, which), {}).values()
                        if v is not None]
                row.append(f"{np.mean(vals):.3f} ({len(vals)})" if vals else "-")
            lines.append(f"| {rate} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["", "Cells (table x rate) where the variant's RMSE is below BOTH KNN's and "
              "Iter's (on the same seeds) / cells compared:", ""]
    lines += [f"- {n}: {w} / {c}" + ("; loses (RMSE above the better of KNN and Iter) on "
                                     + ", ".join(losses[n]) if losses[n] else "")
              for n, (w, c) in wins.items()]
    lines.append("")
    return lines


def write_md(cache):
    m = _common.machine_info()
    lines = [
        "# AutoencoderImputer levers (research_impute_levers.py, issue #25 goal 2)", "",
        _common._machine_line(m), "",
        "Machine: shared 2-core AMD EPYC, torch 1 thread, BLAS 1 thread, another benchmark "
        "running beside it (1-minute load 0.3-3.8 during the runs): seconds are noisy, "
        "often about twice bench_impute.md's.", "",
        "Selection half (every choice made on it): optdigits, fault, landsat, yeast, "
        "pendigits. Report half (run once at the end, chosen variant + default + KNN + "
        "Iter only): Waveform, PageBlocks, Cardiotocography, WDBC, letter, magic.gamma and "
        "sklearn digits (pixels / 16, all 64 columns, NOT standardised further; rates "
        "0.1, 0.2, 0.3, 0.5).", "",
        "ADBench tables: bench_impute.py's load_numeric (max 7,000 rows, constant columns "
        "dropped, standardised with the full table's mean and std) and mcar_mask, so the "
        "masks equal bench_impute.py's. knn = KNNImputer(); iter = IterativeImputer("
        "random_state=seed) (BayesianRidge). Variants: see the script's docstring.", "",
    ]
    for half in ("selection", "report"):
        lines += half_section(cache, half)
    lines += ["## Notes", "", "Written after the selection half, before the report half "
              "ran:", "", *NOTES, "", "Written after the report half ran (once):", "",
              *REPORT_NOTES]
    (RESULTS / "research_impute_levers.md").write_text("\n".join(lines) + "\n",
                                                       encoding="utf-8")


# ------------------------------------------------------------------ main

def main(argv=None):
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=sorted(HALVES), default="selection")
    parser.add_argument("--tables", nargs="*", default=None,
                        help="a subset of the half's tables")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--variants", nargs="*", default=["knn", "iter", "default"])
    parser.add_argument("--adbench-dir", default=str(bi.DEFAULT_ADBENCH_DIR))
    parser.add_argument("--write-only", action="store_true")
    ARGS = parser.parse_args(argv)
    _common.set_threads(1)
    cache = read_cache()
    if not ARGS.write_only:
        for n in ARGS.variants:
            if not known(n):
                parser.error(f"unknown variant {n}")
        tables = ARGS.tables or HALVES[ARGS.half]
        for table in tables:
            if table not in HALVES[ARGS.half]:
                parser.error(f"{table} is not in the {ARGS.half} half")
            X, info = load(table)
            print(f"{table}: {X.shape}", flush=True)
            for seed in ARGS.seeds:
                for rate in rates_of(table):
                    M = bi.mcar_mask(X.shape, rate, seed)
                    compute(table, X, M, rate, seed, ARGS.variants, cache, memo={})
    write_md(cache)


ARGS = None

#: What was decided on the selection half, written before the report half ran.
NOTES = [
    "- Order of work: every lever on the selection half, seed 0; the two best-looking "
    "(w3q, ens3) with default, knn, iter on seed 1 too; the choice (ens3) then run once on "
    "the report half with default, knn, iter. Other variants are seed 0 only (marked ¹), "
    "compared with knn/iter on seed 0 in the win counts.",
    "- Transform-time refinement (refine3, refine10) is worse than default everywhere and "
    "diverges with more rounds (RMSE up to 8.9 on fault at 50 %): a filled row enters the "
    "network without its missing-value indicators, so the network takes its own guesses "
    "as observed, as AutoencoderImputer's docstring says.",
    "- Single-model parameter levers (n_components ceil(3d/4) or d, noise_level 0.3 or "
    "the missing rate, n_iter_no_change=20, learning_rate='adaptive') move "
    "the RMSE by about as much as changing the seed does: w3q looked better than default on "
    "seed 0 (12 vs 11 cells, means 0.496/0.566/0.630 vs 0.504/0.567/0.634) and worse on "
    "seed 1 (optdigits at every rate, fault at 0.1 and 0.5); over both seeds its means are "
    "within 0.003 of default's. noise_level = rate helps landsat at 10 % (0.187 vs 0.199) "
    "and hurts at 50 % (0.284 vs 0.249). n_iter_no_change=20 helps at 10 % and 50 % but "
    "hurts at 30 % and costs about twice the time. None was chosen.",
    "- ens3 (mean of three default imputers seeded seed, seed+1000, seed+2000) is the only "
    "lever better than default in nearly every selection cell (14 of 15 on seeds 0 and 1; "
    "worse only on fault at 10 %), mean RMSE over the five tables 0.511 -> 0.496 (10 %), "
    "0.567 -> 0.543 (30 %), 0.627 -> 0.603 (50 %), at three times the fit time. It was "
    "chosen. It does not close the low-rate gaps on the selection half: landsat, yeast and "
    "pendigits at 10 % still lose (to Iter, Iter, KNN).",
    "- In parameter terms the recommendation is a new imputer parameter (for example "
    "n_models=3: fit three AutoencoderTransformer(ceil(d/2), noise='masking', "
    "noise_level=0.2) with seeds drawn from random_state and average their "
    "reconstructions of the gaps); skae has no such parameter today, so the script builds "
    "it from three AutoencoderImputer fits.",
    "- Defined in the script but not run (time): nl0.5, es, wide, wd1e-4, drop0.1, lr1e-3, "
    "and combinations.",
]

REPORT_NOTES = [
    "- Report half, seeds 0 and 1: ens3 is below both KNN and Iter in 17 of 22 cells "
    "(default: 12 of 22). It still loses on Waveform at 10 % and 30 % (+0.017 and +0.021 "
    "RMSE above Iter), Cardiotocography at 10 % (+0.012 above KNN) and WDBC at 10 % and "
    "30 % (+0.043 and +0.014 above Iter). On digits at 10 % it ties KNN (0.1331 vs 0.1332, "
    "counted as a win by 0.0001; seed 1 alone loses), at 20 % it is 0.141 vs KNN 0.142 "
    "(default 0.157).",
    "- ens3 is below default in 21 of 22 report cells (PageBlocks at 50 %: 0.819 vs 0.816); "
    "mean RMSE over the six ADBench tables 0.619 -> 0.597 (10 %), 0.684 -> 0.621 (30 %, "
    "PageBlocks' 0.940 -> 0.663 carries much of it), 0.728 -> 0.709 (50 %).",
    "- Cost: ens3's fit_transform (three fits one after another) takes 1.9-3.7x default's "
    "in the report cells (3.9-30 s vs 1.4-13 s; noisy machine); Iter takes 0.3-5.4 s and "
    "KNN 0.0-10 s on the same cells.",
]

if __name__ == "__main__":
    main()
