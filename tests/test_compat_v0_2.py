"""Spec: files written by skae 0.2 still load, and compute what they computed then.

``tests/fixtures/v0_2/`` holds tiny models fitted and written by skae 0.2
(``make_fixtures.py``, run at commit a5672ea and kept for the record), with
the outputs 0.2 computed for the data beside them. Each must load with
:func:`skae.load` (the pickles with :mod:`pickle`, which finds classes by
their module path, e.g. ``skae.modules.Autoencoder``) and give the same
outputs.
"""

import importlib
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import skae

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v0_2"

# Each saved model: its data file and the outputs stored for it.
MODELS = {
    "ae": ("X.npy", ("transform", "inverse_transform", "score_samples")),
    "ae_table": ("table.csv", ("transform", "score_samples")),
    "vae": ("X.npy", ("transform", "inverse_transform", "score_samples", "log_likelihood")),
    "vae_table": ("table.csv", ("transform", "score_samples")),
    "conv": ("images.npy", ("transform",)),
    "detector": ("X.npy", ("score_samples",)),
}
PICKLED = ("ae", "ae_table", "vae")

# Names that code written against 0.2 imports, by module.
NAMES_0_2 = {
    "skae": ["TrainingDivergedError"],
    "skae._net": ["TrainingDivergedError"],
    "skae.modules": [
        "ACTIVATIONS", "Architecture", "Autoencoder", "COLUMN_KINDS", "Corruption", "Dropout",
        "FillMissing", "LOGVAR_MAX", "LOGVAR_MIN", "MAX_ONE_HOT_LEVELS", "NOISE_KINDS",
        "OUTPUT_ACTIVATIONS", "TabularInput", "TabularOutput", "TiedConvTranspose2d", "TiedLinear",
        "VariationalAutoencoder", "build_autoencoder", "build_variational_autoencoder",
        "conv_output_shapes", "embedding_dim", "head_slices", "init_parameters", "set_generator",
    ],
}


def data(name):
    path = FIXTURES / name
    return pd.read_csv(path) if path.suffix == ".csv" else np.load(path)


def output(model, name, X):
    if name == "inverse_transform":
        return model.inverse_transform(model.transform(X))
    if name == "log_likelihood":
        return model.log_likelihood(X, n_importance=5, random_state=0)
    return getattr(model, name)(X)


def check_outputs(model, name):
    data_file, outputs = MODELS[name]
    X = data(data_file)
    for out in outputs:
        expected = np.load(FIXTURES / f"{name}.{out}.npy")
        assert_allclose(output(model, out, X), expected, rtol=1e-5, err_msg=f"{name}.{out}")


@pytest.mark.parametrize("name", MODELS)
def test_a_file_saved_by_0_2_loads_and_gives_the_same_outputs(name):
    check_outputs(skae.load(FIXTURES / f"{name}.safetensors"), name)


@pytest.mark.parametrize("name", PICKLED)
def test_a_pickle_of_0_2_loads_and_gives_the_same_outputs(name):
    with open(FIXTURES / f"{name}.pickle", "rb") as f:
        model = pickle.load(f)
    check_outputs(model, name)


@pytest.mark.parametrize("module_name", NAMES_0_2)
def test_names_of_0_2_still_import(module_name):
    module = importlib.import_module(module_name)
    missing = [name for name in NAMES_0_2[module_name] if not hasattr(module, name)]
    assert not missing


def test_the_training_error_is_one_class_wherever_it_is_imported_from():
    from skae._net import TrainingDivergedError  # 0.2's place of it: the thing under test
    from skae.exceptions import TrainingDivergedError as Public

    assert TrainingDivergedError is Public is skae.TrainingDivergedError
