"""Smoke test of ``python -m skae.demo --quick``: it runs and writes its files."""

import json
import math
import warnings

import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import demo


def test_demo_quick(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    threads = torch.get_num_threads()
    result = demo.main(["--quick", "--output", str(tmp_path)])
    # --threads defaults to 1 during the run; the process's setting comes back.
    assert torch.get_num_threads() == threads
    assert result["machine"]["torch_threads"] == 1

    for name in ("results.md", "results.json", "latent_2d.png", "reconstructions.png"):
        path = tmp_path / name
        assert path.is_file() and path.stat().st_size > 0, name
    assert (tmp_path / "latent_2d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"] == result["results"]
    assert {"platform", "cpu_count", "torch", "sklearn", "skorch", "date"} <= set(saved["machine"])
    assert saved["settings"]["ks"] == [2] and saved["settings"]["quick"] is True

    rows = saved["results"]
    assert [(r["model"], r["k"]) for r in rows] == [(name, 2) for name, _ in demo.MODELS]
    for row in rows:
        for key in ("test_mse", "mse_vs_pca", "fit_time_s", "logreg_accuracy"):
            assert isinstance(row[key], float) and math.isfinite(row[key]), (row["model"], key)
        assert row["test_mse"] > 0 and 0 <= row["logreg_accuracy"] <= 1
    assert rows[0]["mse_vs_pca"] == 1.0
    # The linear autoencoder (L-BFGS) reaches PCA's subspace even in the quick run.
    assert rows[1]["mse_vs_pca"] < 1.05

    table = (tmp_path / "results.md").read_text()
    assert "| k | model | test MSE |" in table and "machine:" in table
    out = capsys.readouterr().out
    assert "| k | model |" in out and str(tmp_path) in out


class _WarningPCA(PCA):
    def fit(self, X, y=None):
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=2)
        return super().fit(X, y)


def test_warnings_are_reported_with_the_model_they_are_about(monkeypatch, recwarn):
    monkeypatch.setattr(demo, "MODELS", [("PCA", PCA), ("restless PCA", _WarningPCA)])
    lines = []
    rows, _, _ = demo.run([2], seed=0, quick=True, log=lines.append)
    assert [row["warnings"] for row in rows] == [
        [], ["ConvergenceWarning: did not converge"]]
    assert any("restless PCA" in line and "ConvergenceWarning: did not converge" in line
               for line in lines)
    assert not recwarn.list  # said once, with its model, not again by Python
