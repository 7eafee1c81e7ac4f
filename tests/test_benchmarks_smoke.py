"""Smoke tests of the benchmark scripts: each runs ``--quick`` on tiny sizes and writes finite JSON.

No speed is asserted: these only keep the scripts runnable.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"

pytestmark = pytest.mark.slow


def run(script, tmp_path, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(BENCH / script), "--quick", "--threads", "1",
           "--output-dir", str(tmp_path), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, \
        f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def load_results(tmp_path, name):
    md, path = tmp_path / f"{name}.md", tmp_path / f"{name}.json"
    assert md.is_file() and "machine:" in md.read_text()
    assert path.is_file()
    result = json.loads(path.read_text())
    assert {"platform", "cpu", "cpu_count", "torch", "skorch", "sklearn", "numpy",
            "torch_threads", "date"} <= set(result["machine"])
    assert result["rows"], "no rows"
    for row in result["rows"]:
        for key, value in row.items():
            for v in (value if isinstance(value, list) else [value]):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert math.isfinite(v), (key, row)
    return result["rows"]


def assert_positive(rows, *keys):
    for row in rows:
        for key in keys:
            assert row.get(key) is not None and row[key] > 0, (key, row)


def test_bench_fit(tmp_path):
    run("bench_fit.py", tmp_path, "--datasets", "digits", "manifold", "--max-rows", "300",
        "--epochs", "1")
    rows = load_results(tmp_path, "bench_fit")
    assert {r["dataset"] for r in rows} == {"digits", "manifold"}
    assert {"skae", "torch loop", "skorch", "sklearn MLP", "PCA"} <= {r["contender"] for r in rows}
    assert_positive(rows, "fit_s", "heldout_mse")
    trained = [r for r in rows if r["contender"] != "PCA"]
    assert_positive(trained, "samples_per_s", "vs_torch")
    assert all(r["vs_torch"] == 1.0 for r in rows if r["contender"] == "torch loop")


def test_bench_inference(tmp_path):
    run("bench_inference.py", tmp_path, "--rows", "3000", "--fit-rows", "1000",
        "--fit-epochs", "1")
    rows = load_results(tmp_path, "bench_inference")
    ops = {(r["op"], r["dtype"], r["contender"]) for r in rows}
    assert len(ops) == 3 * 2 * 3
    assert_positive(rows, "seconds", "rows_per_s", "speed_vs_torch", "speed_vs_pca")
    assert all(r["out_dtype"] == r["dtype"] for r in rows)
    memory = [r for r in rows if r["op"] == "transform"]
    assert all("peak_extra_mb" in r for r in memory)


def test_bench_time_to_quality(tmp_path):
    run("bench_time_to_quality.py", tmp_path, "--ks", "2", "--max-epochs", "2",
        "--recipes", "adam lr=3e-3 (default)", "lbfgs", "init='pca', adam lr=3e-3")
    rows = load_results(tmp_path, "bench_time_to_quality")
    assert [r["recipe"] for r in rows] == [
        "PCA", "adam lr=3e-3 (default)", "lbfgs", "init='pca', adam lr=3e-3"]
    assert_positive(rows, "total_s", "ratio_final")
    assert rows[0]["pca_mse"] > 0
    # init='pca' starts at PCA's solution.
    assert rows[-1]["ratio_initial"] == pytest.approx(1.0, rel=1e-3)


def test_bench_gpu(tmp_path):
    import torch

    if not torch.cuda.is_available():
        proc = run("bench_gpu.py", tmp_path)
        assert "CUDA is not available" in proc.stdout
        assert not (tmp_path / "bench_gpu.json").exists()
    # --device cpu exercises every code path without a GPU.
    run("bench_gpu.py", tmp_path, "--device", "cpu", "--datasets", "manifold",
        "--max-rows", "500", "--rows", "3000", "--batch-sizes", "64", "256")
    rows = load_results(tmp_path, "bench_gpu")
    assert {(r["section"], r["contender"]) for r in rows} == {
        ("fit", "skae"), ("fit", "torch loop"), ("fit", "torch loop (fused Adam)"),
        ("transform", "skae"), ("transform", "torch loop"), ("transform", "torch resident")}
    assert_positive(rows, "seconds", "samples_per_s", "vs_torch")


def test_run_all(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(BENCH / "run_all.py"), "--quick", "--threads", "1",
           "--output-dir", str(tmp_path), "--only", "bench_time_to_quality"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| bench_time_to_quality.py | ok |" in proc.stdout
    load_results(tmp_path, "bench_time_to_quality")
