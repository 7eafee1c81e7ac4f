"""Spec for skae.save / skae.load: a weights-only file that is safe to load.

Read top to bottom: every architecture round-trips exactly and keeps
training where it stopped; what is and is not stored; what the file looks
like; every kind of bad file is refused with a ValueError before anything is
built, and loading runs no pickle; devices (CUDA -> CPU); and the pickle and
joblib round trips that keep working next to it.
"""

import copy
import doctest
import hashlib
import importlib
import io
import json
import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import assert_same_weights, low_rank, mixed_with_gaps, with_gaps
from numpy.testing import assert_array_equal
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from torch import nn

import skae
from skae import (
    AutoencoderImputer,
    AutoencoderTransformer,
    OutlierDetector,
    VAETransformer,
    load,
    save,
)
from skae.modules import TiedConvTranspose2d, TiedLinear

N_SAMPLES, N_FEATURES = 60, 16  # 16 features are also a (1, 4, 4) image

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=16, random_state=0)
CONV = dict(hidden_layer_sizes=(), image_shape=(1, 4, 4), conv_channels=(2,))

# Every architecture, each with state of its own to get right: tied weights
# (stored once), buffers (noise bounds, batch-norm running statistics), a
# convolutional stack (always batch norm), the VAE's learned log_scale, and
# each optimizer's state (Adam moments, SGD momentum, the whole LBFGS memory).
ARCHITECTURES = {
    "dense": (AutoencoderTransformer, {}),
    "tied": (AutoencoderTransformer, dict(tied_weights=True)),
    "noise-salt-and-pepper": (AutoencoderTransformer, dict(noise="salt_and_pepper")),
    "batch-norm-dropout": (AutoencoderTransformer, dict(batch_norm=True, dropout=0.2)),
    "linear-pca-init": (AutoencoderTransformer, dict(
        hidden_layer_sizes=(), activation="identity", init="pca")),
    "conv": (AutoencoderTransformer, CONV),
    "conv-tied": (AutoencoderTransformer, dict(CONV, tied_weights=True, conv_channels=(2, 3))),
    "early-stopping": (AutoencoderTransformer, dict(early_stopping=True, max_iter=3)),
    "sgd": (AutoencoderTransformer, dict(optimizer="sgd", weight_decay=1e-3)),
    "lbfgs": (AutoencoderTransformer, dict(optimizer="lbfgs")),
    "optimizer-class": (AutoencoderTransformer, dict(optimizer=torch.optim.RMSprop)),
    "vae": (VAETransformer, {}),
    "vae-bce": (VAETransformer, dict(loss="bce")),
    "vae-laplace-batch-norm": (VAETransformer, dict(loss="mae", batch_norm=True)),
    "vae-conv": (VAETransformer, CONV),
    "vae-kl-warmup": (VAETransformer, dict(kl_warmup=3, beta=0.5)),
}


@pytest.fixture
def X():
    """Uniform noise in 16 features (this module's data, not conftest's)."""
    return np.random.RandomState(0).rand(N_SAMPLES, N_FEATURES)


def make(name, **extra):
    Est, params = ARCHITECTURES[name]
    return Est(**{**FAST, **params, **extra})


def round_trip(est, tmp_path, **load_kwargs):
    path = tmp_path / "model.safetensors"
    save(est, path)
    return load(path, **load_kwargs)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_round_trip_is_exact_and_training_continues_exactly(name, X, tmp_path):
    est = make(name).fit(X)
    twin = round_trip(est, tmp_path)
    assert type(twin) is type(est)
    assert_same_weights(twin, est)
    assert not twin.net_.module_.training
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        Z = est.transform(Xd)
        assert_array_equal(twin.transform(Xd), Z)
        assert_array_equal(twin.inverse_transform(Z), est.inverse_transform(Z))
        assert_array_equal(twin.score_samples(Xd), est.score_samples(Xd))
    # Same weights, buffers, optimizer state, history and seed: the next
    # epoch of the loaded estimator is bit for bit the original's next epoch.
    est.partial_fit(X)
    twin.partial_fit(X)
    assert twin.n_iter_ == est.n_iter_ == len(est.net_.history)
    assert twin.loss_curve_ == est.loss_curve_
    assert_same_weights(twin, est)
    assert_array_equal(twin.transform(X), est.transform(X))


@pytest.mark.parametrize("name", ["vae", "vae-conv"])
def test_vae_sampling_and_likelihood_survive(name, X, tmp_path):
    vae = make(name).fit(X)
    twin = round_trip(vae, tmp_path)
    assert_array_equal(twin.sample(5, random_state=0), vae.sample(5, random_state=0))
    assert_array_equal(twin.log_likelihood(X[:5], n_importance=4),
                       vae.log_likelihood(X[:5], n_importance=4))
    assert twin.net_.module_.log_scale.item() == vae.net_.module_.log_scale.item()


def test_interpolate_works_on_a_loaded_model(X, tmp_path):
    twin = round_trip(make("vae").fit(X), tmp_path)
    assert skae.interpolate(twin, X[0], X[1], n_steps=4).shape == (4, N_FEATURES)


def test_fitted_attributes_and_history_survive(X, tmp_path):
    est = make("early-stopping").fit(X)
    twin = round_trip(est, tmp_path)
    for attr in ("n_features_in_", "n_components_", "n_iter_", "loss_curve_",
                 "validation_loss_curve_", "batch_size_", "do_early_stopping_"):
        assert getattr(twin, attr) == getattr(est, attr), attr
    assert twin.validation_loss_curve_ is not None and twin.do_early_stopping_
    assert twin.net_.history.to_list() == json.loads(json.dumps(est.net_.history.to_list()))
    assert twin.net_.history[-1, "valid_loss"] == est.net_.history[-1, "valid_loss"]
    assert not hasattr(twin, "feature_names_in_")


def test_feature_names_survive(X, tmp_path):
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEATURES)])
    est = make("dense").fit(df)
    twin = round_trip(est, tmp_path)
    assert_array_equal(twin.feature_names_in_, est.feature_names_in_)
    assert twin.feature_names_in_.dtype == object
    assert_array_equal(twin.transform(df), est.transform(df))
    with pytest.raises(ValueError, match="feature names"):
        twin.transform(df.rename(columns={"f0": "other"}))
    assert_array_equal(twin.set_output(transform="pandas").transform(df).columns,
                       est.get_feature_names_out())


def test_parameters_survive_with_their_types(X, tmp_path):
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=[8, 4], image_shape=None, conv_channels=(2, 3),
        optimizer=torch.optim.AdamW, learning_rate_init=0.01, max_grad_norm=1.0,
        device=torch.device("cpu"), max_iter=1, random_state=np.int64(7),
    ).fit(X)
    params = round_trip(est, tmp_path).get_params()
    expected = dict(est.get_params(), device="cpu", random_state=7)
    assert params == expected
    assert isinstance(params["hidden_layer_sizes"], list)  # a list stays a list
    assert isinstance(params["conv_channels"], tuple)  # a tuple stays a tuple
    assert params["optimizer"] is torch.optim.AdamW


def test_tied_weights_are_stored_once_and_stay_tied(X, tmp_path):
    est = make("tied").fit(X)
    path = tmp_path / "tied.safetensors"
    save(est, path)
    names = [k for k in load_file(path) if k.startswith("module.")]
    # Two encoder layers (weight + bias), two decoder biases: no decoder weights.
    assert sorted(names) == sorted(
        ["module.input.fill", "module.encoder.0.weight", "module.encoder.0.bias",
         "module.encoder.2.weight", "module.encoder.2.bias", "module.decoder.0.bias",
         "module.decoder.2.bias"])
    module = load(path).net_.module_
    assert module.decoder[0].source is module.encoder[2]
    assert module.decoder[2].source is module.encoder[0]


def test_buffers_are_stored(X, tmp_path):
    est = make("batch-norm-dropout").fit(X)
    running_mean = est.net_.module_.encoder[1].running_mean
    assert not torch.equal(running_mean, torch.zeros_like(running_mean))
    twin = round_trip(est, tmp_path)
    assert torch.equal(twin.net_.module_.encoder[1].running_mean, running_mean)
    assert twin.net_.module_.encoder[1].num_batches_tracked.item() == \
        est.net_.module_.encoder[1].num_batches_tracked.item()
    noisy = make("noise-salt-and-pepper").fit(X * 5 - 1)
    corruption = round_trip(noisy, tmp_path).net_.module_.corruption
    assert torch.equal(corruption.low, torch.from_numpy((X * 5 - 1).min(0)).float())
    assert torch.equal(corruption.high, torch.from_numpy((X * 5 - 1).max(0)).float())


def test_optimizer_state_is_restored(X, tmp_path):
    est = make("dense").fit(X)
    twin = round_trip(est, tmp_path)
    a, b = est.net_.optimizer_.state_dict(), twin.net_.optimizer_.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i, state in a["state"].items():
        for key, value in state.items():
            assert torch.equal(b["state"][i][key], value), (i, key)


def test_loading_does_not_touch_the_global_torch_generator(X, tmp_path):
    path = tmp_path / "m.safetensors"
    save(make("dense").fit(X), path)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load(path)
    assert torch.equal(torch.rand(3), expected)


def test_save_and_load_are_the_public_functions():
    assert {"save", "load"} <= set(skae.__all__)


def test_module_docstring_examples_run():
    # The docstring of the module that defines skae.save documents the format.
    module = importlib.import_module(save.__module__)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0


# ------------------------------------------------------------ meta-estimators


def gappy_numbers():
    """Numbers with gaps, and a column without observed values."""
    X = with_gaps(low_rank(n=80))
    X[:, 4] = np.nan
    return X


def assert_same_output(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    else:
        assert_array_equal(a, b)


@pytest.mark.parametrize("data", [gappy_numbers, mixed_with_gaps], ids=["numbers", "table"])
@pytest.mark.parametrize("settings", [
    {},
    dict(add_indicator=True),
    dict(keep_empty_features=True, add_indicator=True),
    dict(estimator=VAETransformer(2, **FAST), sample_posterior=True),
], ids=["plain", "add_indicator", "keep_empty_features", "vae-sample_posterior"])
def test_imputer_round_trip_transforms_identically(data, settings, tmp_path):
    settings = {"estimator": AutoencoderTransformer(2, **FAST), **settings}
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty column's
        imputer = AutoencoderImputer(random_state=0, **settings).fit(X)
        twin = round_trip(imputer, tmp_path)
        assert_same_output(twin.transform(X), imputer.transform(X))
    assert type(twin) is AutoencoderImputer
    assert twin.get_params(deep=False).keys() == imputer.get_params(deep=False).keys()
    assert repr(twin.estimator) == repr(imputer.estimator)
    assert_same_weights(twin.estimator_, imputer.estimator_)
    assert_array_equal(twin._empty, imputer._empty)
    if imputer.add_indicator:
        assert_array_equal(twin.indicator_.features_, imputer.indicator_.features_)
    else:
        assert twin.indicator_ is None
    assert_array_equal(twin.get_feature_names_out(), imputer.get_feature_names_out())


def test_imputer_with_its_default_estimator_and_another_missing_value(tmp_path):
    X = np.nan_to_num(with_gaps(low_rank(n=80)), nan=-1.0)
    imputer = AutoencoderImputer(missing_values=-1.0, random_state=0).fit(X)
    twin = round_trip(imputer, tmp_path)
    assert twin.estimator is None and twin.missing_values == -1.0
    assert_array_equal(twin.transform(X), imputer.transform(X))


def test_detector_round_trip_keeps_its_estimator_parameter(X, tmp_path):
    detector = OutlierDetector(AutoencoderTransformer(2, **FAST), random_state=0).fit(X)
    twin = round_trip(detector, tmp_path)
    assert repr(twin.estimator) == repr(detector.estimator)
    assert twin.offset_ == detector.offset_
    assert_array_equal(twin.predict(X), detector.predict(X))


def test_a_meta_estimators_file_nests_its_estimator(X, tmp_path):
    path = tmp_path / "m.safetensors"
    save(AutoencoderImputer(AutoencoderTransformer(2, **FAST), add_indicator=True).fit(
        with_gaps(X)), path)
    with safe_open(path, framework="pt") as f:
        meta = json.loads(f.metadata()["skae"])
        names = set(f.keys())
    assert meta["class"] == "AutoencoderImputer"
    assert meta["params"]["estimator"]["__estimator__"]["class"] == "AutoencoderTransformer"
    inner = meta["fitted"]["estimator_"]["__estimator__"]
    assert inner["class"] == "AutoencoderTransformer" and inner["fitted"]["n_iter_"] == 2
    assert names == {n for n in names if n.startswith("fitted.estimator_.")}


def test_save_refuses_a_meta_estimator_around_an_estimator_it_cannot_build(X, tmp_path):
    class MyAutoencoder(AutoencoderTransformer):
        pass

    detector = OutlierDetector(MyAutoencoder(2, **FAST)).fit(X)
    with pytest.raises(TypeError, match="save\\(\\) stores .*, got .*MyAutoencoder"):
        save(detector, tmp_path / "m.safetensors")


# ------------------------------------------------------------ what is not stored


class Noop(Callback):
    pass


@pytest.mark.parametrize("callbacks, names", [
    ([Noop()], "Noop"),
    ([("my_noop", Noop()), Noop()], "my_noop"),
])
def test_callbacks_are_not_stored_and_a_warning_names_them(X, tmp_path, callbacks, names):
    est = make("dense", callbacks=callbacks).fit(X)
    with pytest.warns(UserWarning, match=rf"callbacks \[.*{names}.*\] are code and are not saved"):
        save(est, tmp_path / "m.safetensors")
    twin = load(tmp_path / "m.safetensors")
    assert twin.callbacks is None
    assert_array_equal(twin.transform(X), est.transform(X))


def test_random_state_instance_is_not_stored(X, tmp_path):
    est = make("dense", random_state=np.random.RandomState(0)).fit(X)
    with pytest.warns(UserWarning, match="RandomState instance.*random_state=None"):
        save(est, tmp_path / "m.safetensors")
    assert load(tmp_path / "m.safetensors").random_state is None


def test_no_warning_without_callbacks(X, tmp_path):
    est = make("dense").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        save(est, tmp_path / "m.safetensors")
        loaded = load(tmp_path / "m.safetensors")
    assert loaded.n_iter_ == est.n_iter_


# ------------------------------------------------------------------ save errors


def test_save_needs_a_fitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        save(AutoencoderTransformer(), tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


class MyAutoencoder(AutoencoderTransformer):
    pass


class MyAdam(torch.optim.Adam):
    pass


@pytest.mark.parametrize("make_est, exc, match", [
    (lambda X: object(), TypeError,
     "AutoencoderTransformer, VAETransformer, OutlierDetector and AutoencoderImputer"),
    (lambda X: MyAutoencoder(**FAST).fit(X), TypeError, "MyAutoencoder"),
    (lambda X: AutoencoderTransformer(optimizer=MyAdam, **FAST).fit(X), TypeError,
     "only optimizer names and classes of torch.optim"),
])
def test_save_refuses_what_it_cannot_store_as_data(X, tmp_path, make_est, exc, match):
    with pytest.raises(exc, match=match):
        save(make_est(X), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_a_file_atomically(X, tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    save(make("dense").fit(X), path)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    load(path)


# ---------------------------------------------------------------- file format


def test_file_is_safetensors_with_json_metadata(X, tmp_path):
    est = make("vae").fit(X)
    path = tmp_path / "m.safetensors"
    save(est, path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        names = set(f.keys())
    meta = json.loads(metadata["skae"])
    assert meta["format"] == "skae"
    assert meta["format_version"] == 4
    assert meta["table"] is None  # plain numbers: no column descriptions
    assert meta["skae_version"] == skae.__version__
    assert meta["class"] == "VAETransformer"
    assert meta["params"]["hidden_layer_sizes"] == {"__tuple__": [8]}
    assert meta["fitted"]["n_iter_"] == 2
    assert len(metadata["skae_sha256"]) == 64
    assert {f"module.{k}" for k in est.net_.module_.state_dict()} <= names
    assert "module.log_scale" in names
    assert any(n.startswith("optimizer.state.") and n.endswith(".exp_avg") for n in names)
    assert names == {n for n in names if n.startswith(("module.", "optimizer."))}


# ---------------------------------------------------------------- bad files


def file_digest(meta_json, tensors):
    """The file's ``skae_sha256``: SHA-256 over the JSON and every tensor, in name order.

    Part of the format (files of 0.2 carry it), so written out here, not
    borrowed from skae.
    """
    h = hashlib.sha256(meta_json.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def rewrite(path, edit=None, fix_digest=False, drop=None):
    """Rewrite a saved file with its metadata edited; optionally re-sign it.

    Re-signing shows what a forger can do: the digest detects corruption,
    it does not authenticate. What makes the format safe is that nothing in
    it is executed, which the forged-file tests check.
    """
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    meta = json.loads(metadata["skae"])
    if edit is not None:
        edit(meta)
    for name in drop or ():
        del tensors[name]
    metadata["skae"] = json.dumps(meta)
    if fix_digest:
        metadata["skae_sha256"] = file_digest(metadata["skae"], tensors)
    save_file(tensors, path, metadata=metadata)


@pytest.fixture
def saved(X, tmp_path):
    path = tmp_path / "model.safetensors"
    save(make("dense").fit(X), path)
    return path


def test_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(b"This is a text file, not a model.\n" * 10)
    with pytest.raises(ValueError, match="not a readable skae file.*not in safetensors format"):
        load(path)


def test_rejects_a_pickle(X, tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(make("dense").fit(X)))
    with pytest.raises(ValueError, match="not a readable skae file"):
        load(path)


def test_rejects_a_safetensors_file_of_someone_else(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not one written by skae.save"):
        load(path)


def test_rejects_a_file_without_the_format_marker(saved):
    rewrite(saved, lambda meta: meta.update(format="other"), fix_digest=True)
    with pytest.raises(ValueError, match="lacks the skae format marker"):
        load(saved)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.9, -1])
def test_rejects_a_truncated_file(saved, keep):
    data = saved.read_bytes()
    n = len(data) - 1 if keep == -1 else int(len(data) * keep)
    saved.write_bytes(data[:n])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load(saved)


def test_rejects_a_file_with_bytes_appended(saved):
    saved.write_bytes(saved.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load(saved)


@pytest.mark.parametrize("where", [-1, -100])
def test_rejects_altered_tensor_bytes(saved, where):
    data = bytearray(saved.read_bytes())
    data[where] ^= 0x01  # one bit of the last tensors' data
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="failed its integrity check.*altered or corrupted"):
        load(saved)


@pytest.mark.parametrize("edit", [
    lambda meta: meta["fitted"].update(n_iter_=99),
    lambda meta: meta["params"].update(learning_rate_init=10.0),
    lambda meta: meta["optimizer"]["param_groups"][0].update(lr=10.0),
    lambda meta: meta["history"].pop(),
], ids=["fitted", "params", "optimizer", "history"])
def test_rejects_altered_metadata(saved, edit):
    rewrite(saved, edit)
    with pytest.raises(ValueError, match="failed its integrity check"):
        load(saved)


def test_rejects_renamed_or_removed_tensors(saved):
    rewrite(saved, drop=["module.encoder.0.bias"])
    with pytest.raises(ValueError, match="failed its integrity check"):
        load(saved)


def test_rejects_a_newer_format_version(X, tmp_path):
    path = tmp_path / "future.safetensors"
    save(make("dense").fit(X), path)
    rewrite(path, lambda meta: meta.update(format_version=5), fix_digest=True)
    with pytest.raises(ValueError, match="format version 5.*reads versions 1 to 4.*Upgrade"):
        load(path)


@pytest.mark.parametrize("version", ["99.0.0", "1.0.0"])
def test_rejects_another_major_skae_version(X, tmp_path, version):
    path = tmp_path / "other.safetensors"
    save(make("dense").fit(X), path)
    rewrite(path, lambda meta: meta.update(skae_version=version), fix_digest=True)
    with pytest.raises(ValueError, match=f"written by skae {version}.*major version"):
        load(path)


def test_accepts_another_minor_skae_version(X, tmp_path):
    path = tmp_path / "minor.safetensors"
    major = skae.__version__.split(".")[0]
    save(make("dense").fit(X), path)
    rewrite(path, lambda meta: meta.update(skae_version=f"{major}.999.0"), fix_digest=True)
    assert load(path).n_iter_ == 2


# Forged files: valid digest, hostile content. Nothing in them is imported or run.


def test_refuses_a_forged_class_name(saved):
    rewrite(saved, lambda meta: meta.update({"class": "os.system"}), fix_digest=True)
    with pytest.raises(ValueError, match="class 'os.system'.*builds only"):
        load(saved)


def test_refuses_a_forged_class_name_inside_a_meta_estimator(X, tmp_path):
    path = tmp_path / "m.safetensors"
    save(OutlierDetector(AutoencoderTransformer(2, **FAST)).fit(X), path)
    rewrite(path, lambda meta: meta["fitted"]["estimator_"]["__estimator__"].update(
        {"class": "os.system"}), fix_digest=True)
    with pytest.raises(ValueError, match="class 'os.system'.*builds only"):
        load(path)


@pytest.mark.parametrize("name", ["system", "Optimizer", "lr_scheduler", "__class__"])
def test_refuses_a_forged_optimizer_name(saved, name):
    rewrite(saved, lambda meta: meta["params"].update(optimizer={"__torch_optim__": name}),
            fix_digest=True)
    with pytest.raises(ValueError, match="not an optimizer class of torch.optim"):
        load(saved)


def test_refuses_unknown_parameters(saved):
    rewrite(saved, lambda meta: meta["params"].update(evil=1), fix_digest=True)
    with pytest.raises(ValueError, match=r"parameters \['evil'\].*incompatible"):
        load(saved)


@pytest.mark.parametrize("name, value", [
    ("activation", "os.system"),
    ("n_components", {"__tuple__": [1]}),
    ("learning_rate_init", -1),
])
def test_refuses_invalid_parameter_values(saved, name, value):
    rewrite(saved, lambda meta: meta["params"].update({name: value}), fix_digest=True)
    with pytest.raises(ValueError, match=f"The '{name}' parameter"):
        load(saved)


def test_refuses_weights_that_do_not_fit_the_architecture(saved):
    rewrite(saved, lambda meta: meta["params"].update(hidden_layer_sizes={"__tuple__": [5]}),
            fix_digest=True)
    with pytest.raises(ValueError, match="do not fit the architecture"):
        load(saved)


def test_refuses_a_missing_tensor_even_when_re_signed(saved):
    rewrite(saved, lambda meta: meta["module"].pop("encoder.0.bias"),
            drop=["module.encoder.0.bias"], fix_digest=True)
    with pytest.raises(ValueError,
                       match=r"(?s)do not fit the architecture.*Missing.*encoder\.0\.bias"):
        load(saved)


def test_refuses_a_tensor_the_metadata_names_but_the_file_lacks(saved):
    rewrite(saved, drop=["module.encoder.0.bias"], fix_digest=True)
    with pytest.raises(ValueError, match="refers to a tensor 'module.encoder.0.bias' it lacks"):
        load(saved)


def test_load_runs_no_pickle_and_no_torch_load(saved, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load() must not unpickle")

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)
    assert load(saved).n_iter_ == 2


# -------------------------------------------------------------------- devices


def test_load_on_an_explicit_device(X, tmp_path):
    est = make("dense").fit(X)
    twin = round_trip(est, tmp_path, device="cpu")
    assert twin.device == "cpu" and twin.net_.device.type == "cpu"
    twin = round_trip(est, tmp_path, device=torch.device("cpu"))
    assert twin.device == "cpu"


def test_auto_device_stays_auto(X, tmp_path):
    twin = round_trip(make("dense", device="auto").fit(X), tmp_path)
    assert twin.device == "auto"
    assert twin.net_.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
@pytest.mark.parametrize("name", ["dense", "vae", "batch-norm-dropout"])
def test_cuda_saved_model_loads_on_cpu_with_a_warning(name, X, tmp_path):
    # save() always writes CPU tensors, so a file saved from a CUDA model
    # differs from a CPU one only in its device parameter: this is the exact
    # file a CUDA machine writes, not an approximation.
    est = make(name).fit(X)
    Z = est.transform(X)
    est.set_params(device="cuda")
    path = tmp_path / "cuda.safetensors"
    save(est, path)
    with pytest.warns(UserWarning, match="saved with device='cuda'.*loading it on the CPU"):
        twin = load(path)
    assert twin.device == "cpu" and twin.net_.device.type == "cpu"
    assert_array_equal(twin.transform(X), Z)
    twin.partial_fit(X)  # trains on the CPU
    assert twin.n_iter_ == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_cuda_device_without_cuda_raises(saved):
    with pytest.raises(ValueError, match="CUDA is not available"):
        load(saved, device="cuda")


def _tag_storages_as_cuda(monkeypatch):
    # torch.save writes each storage with a location tag; a CUDA tensor's is
    # 'cuda:0'. Tag CPU storages the same way while pickling.
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_simulated_cuda_tags_really_need_cuda(monkeypatch):
    # The control for the next test: a tensor pickled with a CUDA tag cannot
    # be unpickled here without skorch's device mapping.
    _tag_storages_as_cuda(monkeypatch)
    blob = pickle.dumps(torch.ones(3))
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="CUDA"):
        pickle.loads(blob)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
@pytest.mark.parametrize("name", ["dense", "vae"])
def test_simulated_cuda_pickle_unpickles_on_cpu(name, X, monkeypatch):
    """CUDA->CPU through pickle, simulated on a CPU-only machine.

    Every storage in the pickle carries the location tag a CUDA tensor has
    and the net says device='cuda', so unpickling goes through skorch's
    ``__setstate__`` exactly as for a CUDA-trained model: its unpickler maps
    the tagged storages of ``module_``, ``optimizer_`` and ``criterion_`` to
    the CPU. Anything outside those attributes fails as it would for real.
    """
    est = make(name).fit(X)
    Z = est.transform(X)
    est.set_params(device="cuda")
    est.net_.device = torch.device("cuda")
    _tag_storages_as_cuda(monkeypatch)
    blob = pickle.dumps(est)
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch's DeviceWarning
        twin = pickle.loads(blob)
    assert twin.net_.device.type == "cpu"
    assert_array_equal(twin.transform(X), Z)
    # The device parameter is the user's and stays 'cuda': training again
    # on this machine needs it set to the CPU (skae.load does that itself).
    assert twin.device == "cuda"
    with pytest.raises(ValueError, match="CUDA is not available"):
        twin.partial_fit(X)
    twin.set_params(device="cpu").partial_fit(X)
    assert twin.n_iter_ == 3


_CPU_ONLY_SCRIPT = """
import pickle, sys, warnings
import numpy as np, torch
from numpy.testing import assert_allclose
from skae import load
assert not torch.cuda.is_available()
d = sys.argv[1]
X, Z = np.load(d + "/X.npy"), np.load(d + "/Z.npy")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est = pickle.loads(open(d + "/model.pkl", "rb").read())
assert_allclose(est.transform(X), Z, rtol=1e-4, atol=1e-5)
print("pickle ok", est.net_.device)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    twin = load(d + "/model.safetensors")
assert any("loading it on the CPU" in str(w.message) for w in caught)
assert twin.device == "cpu"
assert_allclose(twin.transform(X), Z, rtol=1e-4, atol=1e-5)
twin.partial_fit(X)
print("safetensors ok", twin.net_.device)
"""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["dense", "vae", "early-stopping"])
def test_cuda_model_unpickles_and_loads_without_cuda(name, X, tmp_path):
    est = make(name, device="cuda", max_iter=3).fit(X.astype(np.float32))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(est))
    save(est, tmp_path / "model.safetensors")
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "Z.npy", est.transform(X.astype(np.float32)))
    result = subprocess.run(
        [sys.executable, "-c", _CPU_ONLY_SCRIPT, str(tmp_path)],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pickle ok cpu" in result.stdout
    assert "safetensors ok cpu" in result.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_file_loads_onto_cuda(X, tmp_path):
    est = make("vae").fit(X)
    twin = round_trip(est, tmp_path, device="cuda")
    assert twin.device == "cuda" and twin.net_.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in twin.net_.module_.parameters())
    np.testing.assert_allclose(twin.transform(X), est.transform(X), rtol=1e-5, atol=1e-6)
    twin.partial_fit(X.astype(np.float32))
    assert twin.n_iter_ == 3


# -------------------------------------------------- pickle and joblib still work


def _pickle(est):
    return pickle.loads(pickle.dumps(est))


def _joblib(est):
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("how", [_pickle, _joblib, copy.deepcopy],
                         ids=["pickle", "joblib", "deepcopy"])
@pytest.mark.parametrize(
    "name", ["dense", "tied", "batch-norm-dropout", "conv", "conv-tied", "vae", "vae-conv"])
def test_pickle_joblib_and_deepcopy_round_trips(name, how, X):
    est = make(name).fit(X)
    twin = how(est)
    Z = est.transform(X)
    assert_array_equal(twin.transform(X), Z)
    assert_array_equal(twin.inverse_transform(Z), est.inverse_transform(Z))
    assert_array_equal(twin.score_samples(X), est.score_samples(X))
    assert twin.loss_curve_ == est.loss_curve_
    if isinstance(est, VAETransformer):
        assert_array_equal(twin.sample(4, random_state=0), est.sample(4, random_state=0))
        assert_array_equal(twin.log_likelihood(X, 8), est.log_likelihood(X, 8))
    if getattr(est, "tied_weights", False):  # still tied to the encoder's layers, not copies
        module = twin.net_.module_
        sources = [m.source for m in module.decoder
                   if isinstance(m, (TiedLinear, TiedConvTranspose2d))]
        assert sources == [m for m in module.encoder
                           if isinstance(m, (nn.Linear, nn.Conv2d))][::-1]
    est.partial_fit(X)
    twin.partial_fit(X)
    assert_array_equal(twin.transform(X), est.transform(X))


def test_pickled_lbfgs_estimator_keeps_training(X):
    # torch's LBFGS does not restore its private parameter list when
    # unpickled; the net puts it back.
    est = make("lbfgs").fit(X)
    twin = _pickle(est)
    est.partial_fit(X)
    twin.partial_fit(X)
    assert twin.n_iter_ == 3
    assert_array_equal(twin.transform(X), est.transform(X))


def test_saved_file_has_the_permissions_of_a_normal_file(X, tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "model.safetensors"
    save(make("dense").fit(X), path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_files_from_before_auto_settings_load_with_their_int_and_bool(X, tmp_path):
    # 0.2.0.dev files written before batch_size/early_stopping took 'auto' hold
    # no batch_size_ / do_early_stopping_: they come from the parameters.
    saved = tmp_path / "old.safetensors"
    save(make("early-stopping").set_params(batch_size=16).fit(X), saved)

    def as_before(meta):
        for attr in ("batch_size_", "do_early_stopping_"):
            del meta["fitted"][attr]

    rewrite(saved, as_before, fix_digest=True)
    twin = load(saved)
    assert (twin.batch_size_, twin.do_early_stopping_) == (16, True)
    assert twin.partial_fit(X).n_iter_ == 4
