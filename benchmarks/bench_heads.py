"""Categorical heads: does a big categorical column make its small neighbours expensive?

Question: a table's decoder scores each categorical column by a
cross-entropy over its levels. When all categorical columns shared one
cross-entropy padded to the widest column's level count, six 3-level columns
beside one 4,000-level column cost seven 4,000-level columns. Scored each
over its own levels (one segmented log-sum-exp over the categorical logits
side by side), what do the small columns add to the big one's cost?

Method: ``TabularOutput`` heads for three tables of categorical columns:
the big column alone (``--levels`` levels, default 4,000), it and six
3-level columns, the six alone. Per epoch-equivalent (``--rows`` rows,
default 20,480, in batches of ``--batch-size``, default 1,024), random
decoder outputs and level codes go through

- ``loss``: ``column_losses(h, x).sum().backward()``, what training runs;
- ``forward``: the heads' activations (each column's softmax), no autograd;
- ``draw``: one level drawn per column from its softmax (a seeded generator),

by the ``new`` path (skae's ``TabularOutput``) and by the ``old`` one, kept
in this script as the reference: one cross-entropy over the logits padded
with -inf to the widest column (``loss``), a Python loop over columns
(``forward``, ``draw``). Times are medians of ``--repeats`` interleaved
rounds after one warm-up round; ``x big alone`` divides a row's time by the
same path's time for the big column alone (the question's ratio on the
``big + six`` rows), ``old / new`` the old path's time by the new one's.

``--fit`` also times ``AutoencoderTransformer(n_components=8, max_iter=1)``
fitted on a DataFrame of the big and six small columns (``--rows`` rows),
with the heads' old loss and activation patched in and with the new ones:
the whole fit (``fit_s``, which includes ``_init_weights``: each column's
loss of predicting its level frequencies on the training rows) and its one
epoch (``epoch_s``, from the net's history), one run each.

Run ``python benchmarks/bench_heads.py --threads 1 [--fit]`` or with
``--quick``.
"""

import time
import warnings

import _common
import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from skae import AutoencoderTransformer
from skae.modules import TabularOutput

NAME = "bench_heads"
N_SMALL, SMALL_LEVELS = 6, 3


# ------------------------------------------------------------- the old path

def padded_losses(heads, h, x, numeric=None):
    """The categorical columns' losses as one padded cross-entropy (the old path).

    For tables of categorical columns only: each column's logits padded
    with -inf to the widest column's level count, one cross-entropy over
    (..., n_rows, n_columns, max_levels); code -1 adds no loss.
    """
    slices = heads.slices
    width = max(b - a for a, b in slices)
    index = torch.tensor([list(range(a, b)) + [heads.width] * (width - (b - a))
                          for a, b in slices], device=h.device)
    padded = torch.cat([h, torch.full_like(h[..., :1], -torch.inf)], dim=-1)[..., index]
    codes = x.long().expand(padded.shape[:-1])
    losses = F.cross_entropy(padded.reshape(-1, width), codes.reshape(-1), ignore_index=-1,
                             reduction="none")
    return losses.reshape(codes.shape)


def looped_forward(heads, h):
    """Each categorical column's softmax, one column at a time (the old path)."""
    out = h.clone()
    for a, b in heads.slices:
        out[..., a:b] = torch.softmax(h[..., a:b], dim=-1)
    return out


def looped_draw(heads, h, generator=None, loss="mse", log_scale=None):
    """A level per column from its softmax, one column at a time (the old path)."""
    out = h.clone()
    for a, b in heads.slices:
        cumulative = torch.softmax(h[..., a:b], dim=-1).cumsum(-1)
        u = torch.rand(h.shape[:-1] + (1,), generator=generator, dtype=h.dtype, device=h.device)
        codes = (cumulative < u).sum(-1, keepdim=True).clamp(max=b - a - 1)
        out[..., a:b] = torch.zeros_like(h[..., a:b]).scatter_(-1, codes, 1.0)
    return out


# ---------------------------------------------------------------- the runs

def tables(big_levels):
    big, small = [("categorical", big_levels)], [("categorical", SMALL_LEVELS)] * N_SMALL
    return {"big alone": big, "big + six": big + small, "six alone": small}


def batches(columns, args):
    """Random decoder outputs and level codes, batch by batch, for one epoch-equivalent."""
    gen = torch.Generator().manual_seed(args.seed)
    width = sum(n for _, n in columns)
    out = []
    for start in range(0, args.rows, args.batch_size):
        n = min(args.batch_size, args.rows - start)
        h = torch.randn(n, width, generator=gen)
        x = torch.stack([torch.randint(0, k, (n,), generator=gen) for _, k in columns], 1)
        out.append((h, x.float()))
    return out


def epoch(op, path, heads, data):
    """One epoch-equivalent of ``op`` by ``path``; returns a small checksum."""
    total = 0.0
    generator = torch.Generator().manual_seed(0)
    for h, x in data:
        if op == "loss":
            h = h.requires_grad_()
            if path == "old":  # weighted, as column_losses weighs them
                value = (padded_losses(heads, h, x) * heads.weights).sum()
            else:
                value = heads.column_losses(h, x).sum()
            value.backward()
            h.grad = None
            h.requires_grad_(False)
            total += float(value)
        else:
            with torch.no_grad():
                if op == "forward":
                    out = looped_forward(heads, h) if path == "old" else heads(h)
                else:
                    out = (looped_draw(heads, h, generator) if path == "old"
                           else heads.draw(h, generator))
            total += float(out[:, -1].sum())
    return total


def head_rows(args):
    rows = []
    for table, columns in tables(args.levels).items():
        heads, data = TabularOutput(columns), batches(columns, args)
        for op in ("loss", "forward", "draw"):
            print(f"{table}, {op}:", flush=True)
            runs = {path: (lambda r, path=path, op=op, heads=heads, data=data:
                           epoch(op, path, heads, data)) for path in ("old", "new")}
            timings = _common.interleaved(runs, repeats=args.repeats, warmup=1)
            old, new = timings["old"], timings["new"]
            if op != "draw":  # the same numbers (the draws: the same stream, rounding aside)
                assert np.isclose(old.result, new.result, rtol=1e-4), (old.result, new.result)
            for path, timing in timings.items():
                rows.append({
                    "table": table, "op": op, "path": path, "columns": len(columns),
                    "seconds": timing.median, "spread_pct": timing.spread,
                    "old_over_new": old.median / new.median, "times_s": timing.times,
                })
    for row in rows:
        alone = next(r for r in rows if (r["table"], r["op"], r["path"])
                     == ("big alone", row["op"], row["path"]))
        row["vs_big_alone"] = row["seconds"] / alone["seconds"]
    return rows


# ----------------------------------------------------------- the whole fit

def table_frame(args):
    rng = np.random.default_rng(args.seed)
    frame = {"big": pd.Categorical(rng.integers(0, args.levels, args.rows).astype(str))}
    for k in range(N_SMALL):
        frame[f"small{k}"] = pd.Categorical(rng.choice(list("abc"), args.rows))
    return pd.DataFrame(frame)


def fit_rows(args):
    X = table_frame(args)
    new = {"_by_kind": TabularOutput._by_kind, "forward": TabularOutput.forward}
    old = {"_by_kind": padded_losses, "forward": looped_forward}
    rows = []
    for path, methods in (("old", old), ("new", new)):
        for name, method in methods.items():
            setattr(TabularOutput, name, method)
        try:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = AutoencoderTransformer(n_components=8, max_iter=1,
                                             random_state=args.seed).fit(X)
            seconds = time.perf_counter() - start
        finally:
            for name, method in new.items():
                setattr(TabularOutput, name, method)
        rows.append({"table": "big + six", "op": "fit (max_iter=1)", "path": path,
                     "columns": X.shape[1], "seconds": seconds,
                     "epoch_s": est.net_.history[-1]["dur"], "batch_size": est.batch_size_})
        print(f"fit, {path}: {seconds:.2f} s (epoch {rows[-1]['epoch_s']:.2f} s)", flush=True)
    rows[0]["old_over_new"] = rows[1]["old_over_new"] = rows[0]["seconds"] / rows[1]["seconds"]
    return rows


# ------------------------------------------------------------------- main

NOTES = [
    ("s (median): seconds per epoch-equivalent (all rows, batch by batch), median of the "
     "repeats; spread % = (slowest - fastest) / median. x big alone: the row's time over the "
     "same path's time for the big column alone; old / new: the old path's time over the "
     "new one's."),
    ("old: one cross-entropy over the categorical logits padded with -inf to the widest "
     "column (loss), a Python loop over columns (forward, draw); new: TabularOutput, each "
     "column over its own levels (a segmented log-sum-exp), all columns at once."),
    ("The loss and forward rows check that both paths give the same numbers; the draws "
     "follow the same random stream."),
    ("fit rows (with --fit): one run each; seconds = the whole fit (building, the column "
     "weights' baseline losses on the training rows, the epoch), epoch s = its one epoch."),
]


def main(argv=None):
    parser = _common.make_parser(__doc__, repeats=5)
    parser.add_argument("--rows", type=int, default=None,
                        help="rows per epoch-equivalent (default 20,480; --quick 2,048)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--levels", type=int, default=None,
                        help="levels of the big column (default 4,000; --quick 400)")
    parser.add_argument("--fit", action="store_true",
                        help="also time a one-epoch AutoencoderTransformer fit, old and new")
    args = _common.parse_args(parser, argv)
    if args.rows is None:
        args.rows = 2048 if args.quick else 20_480
    if args.levels is None:
        args.levels = 400 if args.quick else 4000
    rows = head_rows(args)
    if args.fit:
        rows += fit_rows(args)
    columns = [("table", "table"), ("op", "op"), ("path", "path"),
               ("seconds", "s (median)"), ("spread_pct", "spread %", ".0f"),
               ("vs_big_alone", "x big alone", ".2f"), ("old_over_new", "old / new", ".2f"),
               ("epoch_s", "epoch s")]
    settings = _common.settings_of(args, small_columns=N_SMALL, small_levels=SMALL_LEVELS)
    return _common.write_results(NAME, rows, columns, NOTES, settings=settings,
                                 output_dir=args.output_dir,
                                 title="Categorical heads (bench_heads.py)")


if __name__ == "__main__":
    main()
