"""Spec: ``VAETransformer.sample`` draws synthetic rows from the model of a table.

Levels from each categorical head's softmax, flags from their Bernoulli,
numbers from the decoder's likelihood kept in the training range (whole
where the training values were), gaps at the training rates; the training
columns, order and dtypes; ``conditions`` fixes columns and draws the rest
from the model given them. A model of plain numbers still returns the
decoder's mean (``test_vae.py`` pins that path's numbers).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from pandas.testing import assert_frame_equal
from test_compat_v0_2 import FIXTURES

import skae
from skae import VAETransformer
from skae._tabular import Column
from skae.modules import TabularOutput

N_ROWS = 2000
N_DRAWS = 20_000


def make_table(n=N_ROWS, seed=0):
    """A mixed table with a strong dependence: ``flag`` and ``x`` follow ``size``."""
    rng = np.random.RandomState(seed)
    size = rng.choice(["S", "M", "L"], n, p=[0.6, 0.32, 0.08])  # 'L' rare
    low = size == "S"
    x = np.where(low, 0.0, 4.0) + rng.randn(n)
    gap = rng.randn(n)
    gap[rng.rand(n) < 0.2] = np.nan
    count = pd.array(rng.poisson(3, n), dtype="Int64")
    count[rng.rand(n) < 0.1] = pd.NA
    return pd.DataFrame({
        "size": pd.Categorical(size, categories=["S", "M", "L"], ordered=True),
        "colour": np.array(rng.choice(["red", "blue"], n, p=[0.7, 0.3]), dtype=object),
        "flag": rng.rand(n) < np.where(low, 0.1, 0.9),
        "x": x,
        "age": rng.randint(18, 91, n),
        "gap": gap,
        "count": count,
    })


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture(scope="module")
def vae(table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: fine for these checks
        return VAETransformer(4, max_iter=40, random_state=0).fit(table)


@pytest.fixture(scope="module")
def drawn(vae):
    return vae.sample(N_DRAWS, random_state=0)


# ---------------------------------------------------------------- the frame


def test_the_sample_has_the_training_columns_order_and_dtypes(table, drawn):
    assert list(drawn.columns) == list(table.columns)
    assert drawn.dtypes.to_dict() == table.dtypes.to_dict()
    assert list(drawn["size"].cat.categories) == ["S", "M", "L"]
    assert drawn["size"].cat.ordered
    assert_array_equal(drawn.index, np.arange(N_DRAWS))


def test_numbers_stay_within_the_training_range_and_whole_ones_are_whole(table, drawn):
    for name in ("x", "age", "gap", "count"):
        values = drawn[name].dropna().astype(float)
        assert values.min() >= table[name].min() and values.max() <= table[name].max(), name
    assert (drawn["count"].dropna() >= 0).all()
    age = drawn["age"].to_numpy(dtype=float)
    assert_array_equal(age, np.round(age))


def test_numbers_are_drawn_with_the_likelihoods_noise_not_the_decoders_mean(table, drawn):
    # The decoder's means alone are much narrower than the data.
    for name in ("x", "age"):
        assert drawn[name].std() == pytest.approx(table[name].std(), rel=0.25), name


def test_level_and_flag_frequencies_follow_the_training_ones(table, drawn):
    for name in ("size", "colour", "flag"):
        expected = table[name].value_counts(normalize=True)
        got = drawn[name].value_counts(normalize=True).reindex(expected.index, fill_value=0)
        assert_allclose(got, expected, atol=0.03, err_msg=name)
    assert drawn["size"].value_counts()["L"] > 0.04 * N_DRAWS  # the rare level is drawn
    assert set(drawn["flag"]) == {True, False}


def test_missing_values_come_at_the_training_rates_in_the_columns_that_had_them(table, drawn):
    for name in table.columns:
        assert drawn[name].isna().mean() == pytest.approx(table[name].isna().mean(), abs=0.02)
    assert not drawn[["size", "x", "age"]].isna().any().any()


def test_the_pair_trend_is_kept(drawn):
    small = drawn["size"] == "S"
    assert drawn.loc[small, "flag"].mean() < 0.3 < 0.7 < drawn.loc[~small, "flag"].mean()
    assert drawn.loc[small, "x"].mean() < 2 < drawn.loc[~small, "x"].mean()


# ---------------------------------------------------------------- seeds


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(vae):
    assert_frame_equal(vae.sample(50, random_state=3), vae.sample(50, random_state=3))
    assert not vae.sample(50, random_state=3).equals(vae.sample(50, random_state=4))
    rng = np.random.RandomState(0)
    assert not vae.sample(50, random_state=rng).equals(vae.sample(50, random_state=rng))


def test_a_saved_model_samples_the_same_rows(vae, tmp_path):
    skae.save(vae, tmp_path / "vae.safetensors")
    twin = skae.load(tmp_path / "vae.safetensors")
    assert_frame_equal(twin.sample(200, random_state=0), vae.sample(200, random_state=0))
    given = {"size": "M"}
    assert_frame_equal(twin.sample(20, random_state=0, conditions=given),
                       vae.sample(20, random_state=0, conditions=given))


# ---------------------------------------------------------------- conditions


def test_conditions_hold_in_every_row_and_shift_the_rest(vae):
    small = vae.sample(2000, random_state=0, conditions={"size": "S"})
    large = vae.sample(2000, random_state=0, conditions={"size": "L", "gap": 0.5})
    assert (small["size"] == "S").all() and (large["size"] == "L").all()
    assert (large["gap"] == 0.5).all()  # and never missing
    assert small["flag"].mean() < 0.3 < 0.7 < large["flag"].mean()
    assert small["x"].mean() < 2 < large["x"].mean()
    assert small.dtypes.to_dict() == large.dtypes.to_dict() == vae.sample(1).dtypes.to_dict()


def test_conditions_on_a_flag_and_a_number(vae):
    flagged = vae.sample(1000, random_state=0, conditions={"flag": True, "age": 30})
    assert flagged["flag"].all() and (flagged["age"] == 30).all()
    assert (flagged["size"] != "S").mean() > 0.5  # most flagged rows are M or L


def test_a_condition_the_rows_rest_on_few_codes_for_warns(vae, monkeypatch):
    # The effective sample size of the importance weights is what is checked;
    # here the module reports 3 distinct codes' worth.
    module = vae.net_.module_
    draw = module.conditional_codes
    monkeypatch.setattr(module, "conditional_codes",
                        lambda *args: (draw(*args)[0], torch.tensor(3.0)))
    with pytest.warns(UserWarning, match="rare under the model: the rows rest on about 3 "):
        vae.sample(5, random_state=0, conditions={"size": "L"})


@pytest.mark.parametrize("conditions, match", [
    ({"height": 1.0}, r"column 'height', which the model does not have \(its columns: \["),
    ({"size": "XL"}, r"'size' the value 'XL', which it never had in fit \(its levels: \["),
    ({"flag": "yes"}, "boolean column 'flag' the value 'yes'; give True or False"),
    ({"x": 1e6}, r"numeric column 'x' the value 1000000.0, outside its training range \["),
    ({"x": "big"}, "numeric column 'x' the value 'big'; give a finite number"),
    ({"age": 30.5}, "integer column 'age' the value 30.5; give a whole number"),
])
def test_conditions_the_model_cannot_meet_are_refused_naming_them(vae, conditions, match):
    with pytest.raises(ValueError, match=match):
        vae.sample(5, conditions=conditions)


@pytest.fixture(scope="module")
def array_vae(table):
    """A model of plain numbers (an array without gaps)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(2, max_iter=2, random_state=0).fit(table[["x", "age"]].to_numpy())


def test_conditions_need_a_model_fitted_on_a_dataframe(array_vae):
    with pytest.raises(ValueError, match="conditions needs a model fitted on a DataFrame"):
        array_vae.sample(5, conditions={0: 1.0})


# ---------------------------------------------------------------- other models


def test_a_model_of_plain_numbers_returns_the_decoders_mean_as_before(array_vae):
    S = array_vae.sample(7, random_state=0)
    Z = np.random.RandomState(0).standard_normal((7, 2))
    assert S.dtype == np.float64
    assert_array_equal(S, array_vae.inverse_transform(Z))


def test_a_model_of_an_array_with_gaps_returns_an_array_with_gaps(table):
    X = table[["x", "gap"]].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae = VAETransformer(2, max_iter=5, random_state=0).fit(X)
    S = vae.sample(4000, random_state=0)
    assert isinstance(S, np.ndarray) and S.shape == (4000, 2)
    assert_allclose(np.isnan(S).mean(axis=0), [0, 0.2], atol=0.025)


def test_a_table_saved_by_0_2_samples_without_ranges_or_gaps():
    # 0.2 recorded no ranges, whole numbers or missing rates: draws, no gaps.
    old = skae.load(FIXTURES / "vae_table.safetensors")
    assert old._table[0].low is None and old._table[0].missing_rate is None
    rows = old.sample(300, random_state=0)
    table = pd.read_csv(FIXTURES / "table.csv")
    assert list(rows.columns) == list(table.columns)
    assert not rows.isna().any().any()
    assert rows["color"].nunique() > 1


def test_a_column_description_keeps_what_sampling_needs_and_reads_old_ones():
    column = Column("age", "numeric", "int64", mean=40.0, scale=10.0, missing_rate=0.0,
                    low=18.0, high=90.0, whole=True)
    assert Column.from_dict(column.to_dict()) == column
    old = {"name": "age", "kind": "numeric", "dtype": "int64", "missing": False,
           "mean": 40.0, "scale": 10.0}
    assert Column.from_dict(old) == Column("age", "numeric", "int64", mean=40.0, scale=10.0)
    pet = Column("pet", "categorical", "object", levels=("cat", "dog"), unseen=0.01)
    assert Column.from_dict(pet.to_dict()) == pet


# ---------------------------------------------------------------- the draws per kind


def test_each_head_draws_from_its_distribution():
    heads = TabularOutput([("numeric", 1), ("binary", 1), ("categorical", 3)])
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    h = torch.cat([torch.tensor([2.0, 0.0]), logits]).expand(40_000, 5)
    generator = torch.Generator().manual_seed(0)
    drawn = heads.draw(h, generator, loss="mse", log_scale=torch.tensor(np.log(0.5)))
    assert drawn[:, 0].mean() == pytest.approx(2.0, abs=0.02)
    assert drawn[:, 0].std() == pytest.approx(0.5, rel=0.03)
    assert set(drawn[:, 1].tolist()) == {0.0, 1.0}
    assert drawn[:, 1].mean() == pytest.approx(0.5, abs=0.02)
    assert_array_equal(drawn[:, 2:].sum(1), 1.0)  # one level per row
    assert_allclose(drawn[:, 2:].mean(0), [0.6, 0.3, 0.1], atol=0.01)
    laplace = heads.draw(h, generator, loss="mae", log_scale=torch.tensor(0.0))[:, 0]
    assert (laplace - 2.0).abs().mean() == pytest.approx(1.0, rel=0.03)  # E|x - mu| = b
