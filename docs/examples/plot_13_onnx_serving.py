"""
=================================
Serving with ONNX
=================================

A fitted pipeline that holds a skae autoencoder can leave Python: importing
:mod:`skae.onnx` teaches skl2onnx to convert
:class:`~skae.AutoencoderTransformer` and :class:`~skae.VAETransformer`, so
``skl2onnx.to_onnx`` turns the whole pipeline into one ONNX graph, which
onnxruntime (or any ONNX runtime, from C++, C#, Java, JavaScript or an
inference server) runs without torch, scikit-learn or skae.

This example trains a digit classifier on autoencoder codes, exports it,
checks that onnxruntime predicts what scikit-learn predicts, exports the
autoencoder's anomaly score on its own with :func:`skae.onnx.to_onnx`, and
times one-row requests both ways. It needs the ``onnx`` extra
(``pip install 'skae[onnx]'``).
"""

# %%
# A pipeline with an autoencoder inside
# -------------------------------------
# ONNX graphs compute in float32 here, as skae does for float32 input: the
# data is float32 from the start.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import skae.onnx
from skae import AutoencoderTransformer

digits = load_digits()
X = (digits.data / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, digits.target, random_state=0)
pipe = make_pipeline(
    AutoencoderTransformer(16, hidden_layer_sizes=(64,), max_iter=20, tol=0, random_state=0),
    LogisticRegression(max_iter=1000),
).fit(X_train, y_train)
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# Convert, save, load and run it
# ------------------------------
# A one-row sample gives the input's type and width; the batch axis is
# dynamic. ``zipmap=False`` returns the probabilities as a matrix.
model = skl2onnx.to_onnx(pipe, X_train[:1], options={"zipmap": False})
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "digits.onnx"
    onnx.save(model, path)
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
print("inputs:", [i.name for i in session.get_inputs()],
      "outputs:", [o.name for o in session.get_outputs()])

labels, proba = session.run(None, {"X": X_test})
print("same labels:", np.array_equal(labels, pipe.predict(X_test)))
print(f"largest probability difference: {np.abs(proba - pipe.predict_proba(X_test)).max():.1e}")

# %%
# One method of one estimator
# ---------------------------
# :func:`skae.onnx.to_onnx` exports ``transform``, ``inverse_transform`` or
# ``score_samples`` of a fitted estimator, e.g. the autoencoder's anomaly
# score (minus each row's reconstruction error). Missing values are filled
# as skae fills them: here with the training means.
autoencoder = pipe[0]
scorer = ort.InferenceSession(
    skae.onnx.to_onnx(autoencoder, X_test[:1], "score_samples").SerializeToString(),
    providers=["CPUExecutionProvider"])
X_gappy = X_test.copy()
X_gappy[::10, 20:30] = np.nan
scores = scorer.run(None, {"X": X_gappy})[0]
print(f"largest score difference: {np.abs(scores - autoencoder.score_samples(X_gappy)).max():.1e}"
      f" (scores range over [{scores.min():.3f}, {scores.max():.3f}])")

# %%
# One request at a time
# ---------------------
# A served model often answers one row per request, where skae's Python work
# per call (validation, the batched inference path) outweighs the network's
# arithmetic; onnxruntime's single call takes tens of microseconds, skae's
# hundreds.
# ``benchmarks/bench_onnx.py`` measures this on larger models.


def per_request(predict, n=200):
    start = time.perf_counter()
    for row in X_test[:n]:
        predict(row[None])
    return (time.perf_counter() - start) / n


latency = {
    "scikit-learn + skae": per_request(pipe.predict_proba),
    "onnxruntime": per_request(lambda row: session.run(None, {"X": row})),
}
for name, seconds in latency.items():
    print(f"{name}: {1e6 * seconds:.0f} us per one-row request")

fig, ax = plt.subplots(figsize=(6, 2))
ax.barh(list(latency), [1e6 * s for s in latency.values()])
ax.set_xlabel("microseconds per one-row request (predict_proba)")
ax.set_title("The same pipeline, served two ways")
fig.tight_layout()
plt.show()
