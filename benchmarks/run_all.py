"""Run every benchmark script, one after another, each in its own process.

``make bench`` runs this. It runs ``benchmarks/bench_*.py`` and the other
scripts listed in ``OTHER_SCRIPTS`` (those that exist), passing ``--quick``,
``--output-dir``, ``--mnist-dir`` and ``--threads`` when given. Every script
takes these options (``_common.make_parser``) and writes
``<output-dir>/<name>.md`` and ``.json``. A script that needs CUDA is
skipped, with a note, on a machine without it. A summary of what ran, how
long it took and what failed closes the run; the exit status is 1 if any
script failed.

Usage::

    python benchmarks/run_all.py             # full sizes: long; run on a quiet machine
    python benchmarks/run_all.py --quick     # small sizes: a smoke run
    python benchmarks/run_all.py --only bench_fit bench_inference
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, like every script here, so its folder is on sys.path.
import _common

BENCH_DIR = Path(__file__).resolve().parent

#: Benchmark scripts not named ``bench_*.py``, run after those when present.
OTHER_SCRIPTS = ["vae_mnist.py", "conv_mnist.py"]

#: Scripts that measure nothing without CUDA.
NEEDS_CUDA = {"bench_gpu.py"}


def scripts():
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    found += [BENCH_DIR / name for name in OTHER_SCRIPTS if (BENCH_DIR / name).is_file()]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--output-dir", type=Path, default=_common.RESULTS_DIR)
    parser.add_argument("--mnist-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="run only these scripts (names with or without .py)")
    parser.add_argument("--skip", nargs="+", default=(), metavar="NAME")
    args = parser.parse_args(argv)

    def wanted(path):
        names = {path.name, path.stem}
        if args.only is not None and not names & set(args.only):
            return False
        return not names & set(args.skip)

    selected = [p for p in scripts() if wanted(p)]
    if not selected:
        parser.error(f"no script selected; available: {[p.stem for p in scripts()]}")
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False

    summary = []
    for path in selected:
        if path.name in NEEDS_CUDA and not has_cuda:
            print(f"== {path.name}: skipped (needs CUDA, torch.cuda.is_available() is False)\n",
                  flush=True)
            summary.append((path.name, "skipped: no CUDA", 0.0))
            continue
        cmd = [sys.executable, str(path), "--output-dir", str(args.output_dir)]
        if args.quick:
            cmd.append("--quick")
        if args.mnist_dir is not None:
            cmd += ["--mnist-dir", str(args.mnist_dir)]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        print(f"== {path.name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(cmd)
        seconds = time.perf_counter() - start
        summary.append((path.name, "ok" if code == 0 else f"FAILED (exit {code})", seconds))
        print(flush=True)

    print("| script | status | wall s |\n|---|---|---|")
    for name, status, seconds in summary:
        print(f"| {name} | {status} | {seconds:.0f} |")
    return 1 if any(s.startswith("FAILED") for _, s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
