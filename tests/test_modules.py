"""Spec for skae.modules: the pure PyTorch building blocks."""

import itertools
import math

import pytest
import torch
from _helpers import dense_shapes
from torch import nn
from torch.nn import functional as F

from skae.losses import elbo, iwae_bound, iwae_log_weights, kl_normal, negative_log_likelihood
from skae.modules import (
    ACTIVATIONS,
    LOGVAR_MAX,
    LOGVAR_MIN,
    UNSEEN_LEVEL,
    Architecture,
    Autoencoder,
    Corruption,
    Dropout,
    TabularInput,
    TabularOutput,
    TiedConvTranspose2d,
    TiedLinear,
    VariationalAutoencoder,
    build_autoencoder,
    build_variational_autoencoder,
    conv_output_shapes,
    unseen_level_probability,
)
from skae.modules._columns import WIDE_LEVELS


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------
# Dense autoencoders
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_features, n_components, hidden",
    [(6, 2, ()), (10, 3, (8,)), (10, 3, (8, 4)), (5, 7, (16, 2))],
)
def test_dense_shapes(n_features, n_components, hidden):
    ae = build_autoencoder(Architecture(n_features, n_components, hidden_layer_sizes=hidden))
    assert isinstance(ae, Autoencoder)
    sizes = [n_features, *hidden, n_components]
    assert dense_shapes(ae.encoder) == list(itertools.pairwise(sizes))
    assert dense_shapes(ae.decoder) == list(zip(sizes[::-1][:-1], sizes[::-1][1:]))
    x = torch.randn(4, n_features)
    x_pre, z = ae(x)
    assert z.shape == (4, n_components)
    assert x_pre.shape == (4, n_features)
    assert ae.encode(x).shape == (4, n_components)
    assert ae.decode(z).shape == (4, n_features)


def test_linear_autoencoder_is_one_layer_each_way():
    ae = build_autoencoder(Architecture(6, 2, activation="identity"))
    assert [type(m) for m in ae.encoder] == [nn.Linear]
    assert [type(m) for m in ae.decoder] == [nn.Linear]
    assert n_params(ae) == (6 * 2 + 2) + (2 * 6 + 6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_follows_each_hidden_layer(name):
    ae = build_autoencoder(Architecture(6, 2, hidden_layer_sizes=(5, 4), activation=name))
    kind = ACTIVATIONS[name]
    assert sum(type(m) is kind for m in ae.encoder) == 2
    assert sum(type(m) is kind for m in ae.decoder) == 2
    # None after the code layer or the output layer.
    assert isinstance(ae.encoder[-1], nn.Linear)
    assert isinstance(ae.decoder[-1], nn.Linear)


@pytest.mark.parametrize(
    "name, kind", [("identity", nn.Identity), ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh)]
)
def test_output_activation_applies_in_decode_not_forward(name, kind):
    ae = build_autoencoder(Architecture(6, 2, hidden_layer_sizes=(4,), output_activation=name))
    assert type(ae.output) is kind
    x = torch.randn(3, 6)
    x_pre, z = ae(x)
    torch.testing.assert_close(ae.decode(z), kind()(x_pre))


def test_batch_norm_and_dropout_follow_each_hidden_layer():
    ae = build_autoencoder(Architecture(6, 2, hidden_layer_sizes=(5, 4), batch_norm=True,
                                        dropout=0.3))
    for part in (ae.encoder, ae.decoder):
        assert sum(isinstance(m, nn.BatchNorm1d) for m in part) == 2
        drops = [m for m in part if isinstance(m, nn.Dropout)]
        assert len(drops) == 2 and all(m.p == 0.3 for m in drops)
    # Order in a block: linear, batch norm, activation, dropout.
    assert [type(m) for m in ae.encoder[:4]] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, Dropout]


# --------------------------------------------------------------------------
# Tied weights
# --------------------------------------------------------------------------


def test_tied_linear_parameters_and_output():
    enc = nn.Linear(5, 2)
    dec = TiedLinear(enc)
    assert n_params(dec) == 5  # only the bias
    assert [name for name, _ in dec.named_parameters()] == ["bias"]
    assert "source" not in dict(dec.named_modules())  # not registered twice
    z = torch.randn(3, 2)
    torch.testing.assert_close(dec(z), z @ enc.weight + dec.bias)
    # The weight is shared, not copied: changing the encoder changes the decoder.
    with torch.no_grad():
        enc.weight.mul_(2)
    torch.testing.assert_close(dec(z), z @ enc.weight + dec.bias)


def test_tied_linear_gradient_reaches_the_encoder_weight():
    enc = nn.Linear(5, 2)
    dec = TiedLinear(enc)
    dec(torch.randn(3, 2)).square().sum().backward()
    assert enc.weight.grad is not None
    assert enc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_tied_autoencoder_has_fewer_parameters(hidden):
    untied = build_autoencoder(Architecture(10, 3, hidden_layer_sizes=hidden))
    tied = build_autoencoder(Architecture(10, 3, hidden_layer_sizes=hidden, tied_weights=True))
    enc_weights = sum(m.weight.numel() for m in tied.encoder if isinstance(m, nn.Linear))
    assert n_params(tied) == n_params(untied) - enc_weights
    # Each decoder layer mirrors an encoder layer, last first.
    encs = [m for m in tied.encoder if isinstance(m, nn.Linear)]
    decs = [m for m in tied.decoder if isinstance(m, TiedLinear)]
    assert all(d.source is e for d, e in zip(decs, encs[::-1]))
    # The state dict holds each shared weight once.
    assert not any(key.startswith("decoder") and key.endswith("weight")
                   for key in tied.state_dict())
    x_pre, z = tied(torch.randn(4, 10))
    assert x_pre.shape == (4, 10) and z.shape == (4, 3)


# --------------------------------------------------------------------------
# Variational autoencoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", [(), (8,)])
def test_vae_shapes(hidden):
    built = build_variational_autoencoder(Architecture(7, 3, hidden_layer_sizes=hidden))
    vae = VariationalAutoencoder(built.encoder, built.decoder, log_scale=-1.0)
    assert isinstance(vae, VariationalAutoencoder)
    assert dense_shapes(vae.encoder)[-1] == ((hidden or (7,))[-1], 6)  # means and log-variances
    assert dense_shapes(vae.decoder)[0] == (3, (hidden or (7,))[-1])
    assert vae.log_scale.item() == -1.0
    x = torch.randn(5, 7)
    x_pre, mu, logvar = vae(x)
    assert x_pre.shape == (5, 7)
    assert mu.shape == logvar.shape == (5, 3)
    assert vae.encode(x).shape == (5, 3)
    assert vae.decode(mu).shape == (5, 7)


def test_vae_samples_in_training_and_uses_the_mean_in_eval():
    vae = build_variational_autoencoder(Architecture(7, 3, hidden_layer_sizes=(8,)))
    x = torch.randn(5, 7)
    vae.eval()
    x_pre, mu, _ = vae(x)
    torch.testing.assert_close(x_pre, vae.decoder(mu))
    torch.testing.assert_close(vae(x)[0], x_pre)
    torch.testing.assert_close(vae.encode(x), mu)
    vae.train()
    assert not torch.allclose(vae(x)[0], vae(x)[0])


def test_vae_log_variances_are_clamped():
    vae = build_variational_autoencoder(Architecture(4, 2))
    with torch.no_grad():
        vae.encoder[-1].bias[2:] = torch.tensor([1e4, -1e4])
    _, logvar = vae.posterior(torch.zeros(3, 4))
    assert (logvar[:, 0] == LOGVAR_MAX).all()
    assert (logvar[:, 1] == LOGVAR_MIN).all()


def test_vae_monte_carlo_estimates_are_the_losses_maths_over_the_draws():
    vae = build_variational_autoencoder(Architecture(4, 2, hidden_layer_sizes=(8,))).eval()
    x, eps = torch.randn(5, 4), VariationalAutoencoder.random_draws(6, 2, seed=0)
    mu, logvar = vae.posterior(x)
    x_pre, z = vae.decode_draws(mu, logvar, eps.float()[:, None, :])
    log_px = -negative_log_likelihood(x_pre, x, "mae", vae.log_scale, vae.output)
    torch.testing.assert_close(vae.elbo(x, eps, "mae"),
                               elbo(log_px.mean(dim=0), kl_normal(mu, logvar)))
    log_weights = iwae_log_weights(log_px, z, eps.float()[:, None, :], logvar)
    torch.testing.assert_close(vae.iwae_bound(x, eps, "mae"), iwae_bound(log_weights))


def test_vae_draws_are_standard_normal_and_repeatable():
    eps = VariationalAutoencoder.quasi_random_draws(64, 3)
    torch.testing.assert_close(eps.mean(dim=0), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(eps.T @ eps / 64, torch.eye(3, dtype=torch.float64))
    assert torch.equal(VariationalAutoencoder.quasi_random_draws(64, 3), eps)
    assert torch.equal(VariationalAutoencoder.random_draws(4, 3, seed=1),
                       VariationalAutoencoder.random_draws(4, 3, seed=1))


def test_vae_sample_posterior_decodes_one_draw_per_row():
    vae = build_variational_autoencoder(Architecture(4, 2)).eval()
    x = torch.randn(5, 4)
    mu, logvar = vae.posterior(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    drawn = vae.sample_posterior(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn, vae.decode(mu + torch.exp(0.5 * logvar) * eps))


@pytest.mark.parametrize("kwargs", [{"tied_weights": True}, {"noise": "gaussian"}])
def test_vae_refuses_tied_weights_and_noise(kwargs):
    with pytest.raises(ValueError, match="variational"):
        build_variational_autoencoder(Architecture(4, 2, **kwargs))


# --------------------------------------------------------------------------
# Convolutional autoencoders
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image_shape, channels, kernel_size",
    [
        ((1, 28, 28), (4, 8), 3),
        ((1, 8, 8), (4,), 3),
        ((3, 32, 32), (4, 8), 3),
        ((2, 15, 9), (4, 8), 3),
        ((2, 15, 9), (4, 8), 5),
        ((1, 7, 7), (2, 3, 4), 3),
        ((1, 1, 1), (2,), 3),
        ((1, 10, 13), (4,), 4),
    ],
)
@pytest.mark.parametrize("tied", [False, True])
def test_conv_autoencoder_round_trips_the_image_shape(image_shape, channels, kernel_size, tied):
    d = image_shape[0] * image_shape[1] * image_shape[2]
    ae = build_autoencoder(Architecture(
        d, 3, hidden_layer_sizes=(8,), image_shape=image_shape, conv_channels=channels,
        kernel_size=kernel_size, tied_weights=tied,
    ))
    convs = [m for m in ae.encoder if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(channels)
    assert all(c.stride == (2, 2) for c in convs)
    ups = [m for m in ae.decoder if isinstance(m, (nn.ConvTranspose2d, TiedConvTranspose2d))]
    assert len(ups) == len(channels)
    if tied:
        assert all(isinstance(u, TiedConvTranspose2d) for u in ups)
        assert [u.source for u in ups] == convs[::-1]
    x = torch.randn(2, d)
    x_pre, z = ae.eval()(x)
    assert z.shape == (2, 3)
    assert x_pre.shape == (2, d)
    assert ae.decode(z).shape == (2, d)


def test_tied_conv_transpose_shares_the_kernel():
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1)
    up = TiedConvTranspose2d(conv, output_padding=1)
    assert n_params(up) == 2  # one bias per output channel
    h = torch.randn(1, 4, 5, 5)
    ref = nn.functional.conv_transpose2d(h, conv.weight, up.bias, stride=2, padding=1,
                                         output_padding=1)
    torch.testing.assert_close(up(h), ref)
    assert up(h).shape == (1, 2, 10, 10)


def test_tied_conv_autoencoder_has_fewer_parameters():
    kwargs = {"hidden_layer_sizes": (8,), "image_shape": (1, 8, 8), "conv_channels": (4, 8)}
    untied = build_autoencoder(Architecture(64, 2, **kwargs))
    tied = build_autoencoder(Architecture(64, 2, tied_weights=True, **kwargs))
    assert n_params(tied) < n_params(untied)


@pytest.mark.parametrize(
    "size, n_layers, kernel_size, expected",
    [
        ((28, 28), 2, 3, [(28, 28), (14, 14), (7, 7)]),
        ((15, 9), 2, 3, [(15, 9), (8, 5), (4, 3)]),
        ((8, 8), 1, 5, [(8, 8), (4, 4)]),
        ((1, 1), 2, 3, [(1, 1), (1, 1), (1, 1)]),
    ],
)
def test_conv_output_shapes(size, n_layers, kernel_size, expected):
    assert conv_output_shapes(*size, n_layers, kernel_size) == expected
    # They are what the encoder's convolutions produce.
    convs = [nn.Conv2d(1, 1, kernel_size, stride=2, padding=kernel_size // 2)
             for _ in range(n_layers)]
    h = torch.zeros(1, 1, *size)
    for conv, shape in zip(convs, expected[1:]):
        h = conv(h)
        assert tuple(h.shape[-2:]) == shape


# --------------------------------------------------------------------------
# Corruption
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_and_pepper"])
def test_corruption_is_identity_in_eval_mode(kind):
    layer = Corruption(kind, 0.5).eval()
    x = torch.rand(50, 8)
    assert layer(x) is x


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_and_pepper"])
def test_corruption_changes_input_in_train_mode_without_touching_it(kind):
    layer = Corruption(kind, 0.5).train()
    x = torch.rand(200, 8) * 0.8 + 0.1  # away from 0 and 1
    before = x.clone()
    out = layer(x)
    assert torch.equal(x, before)  # not in place
    assert out.shape == x.shape
    assert not torch.equal(out, x)


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_and_pepper"])
def test_corruption_level_zero_is_identity(kind):
    x = torch.rand(20, 4)
    assert torch.equal(Corruption(kind, 0.0).train()(x), x)


def test_gaussian_corruption_has_the_level_as_standard_deviation():
    x = torch.zeros(20000, 4)
    noise = Corruption("gaussian", 0.3).train()(x)
    assert abs(float(noise.std()) - 0.3) < 0.01
    assert abs(float(noise.mean())) < 0.01


def test_masking_zeroes_the_level_fraction_and_keeps_the_rest():
    x = torch.rand(20000, 4) + 1.0
    out = Corruption("masking", 0.3).train()(x)
    hit = out == 0
    assert abs(float(hit.float().mean()) - 0.3) < 0.01
    assert torch.equal(out[~hit], x[~hit])


def test_salt_and_pepper_uses_per_feature_bounds():
    low, high = torch.tensor([-1.0, 0.0, 5.0]), torch.tensor([1.0, 2.0, 9.0])
    x = torch.full((20000, 3), 0.5)
    layer = Corruption("salt_and_pepper", 0.4, n_features=3)
    layer.low.copy_(low)
    layer.high.copy_(high)
    out = layer.train()(x)
    changed = out != x
    assert abs(float(changed.float().mean()) - 0.4) < 0.01
    for j in range(3):
        values = out[changed[:, j], j]
        assert set(values.unique().tolist()) == {low[j].item(), high[j].item()}
        assert abs(float((values == high[j]).float().mean()) - 0.5) < 0.03


def test_salt_and_pepper_defaults_to_zero_and_one():
    out = Corruption("salt_and_pepper", 1.0).train()(torch.full((100, 2), 0.5))
    assert set(out.unique().tolist()) == {0.0, 1.0}


def test_corruption_buffers_follow_dtype_and_state_dict():
    layer = Corruption("salt_and_pepper", 0.2, n_features=3)
    assert set(layer.state_dict()) == {"low", "high"}
    assert layer.low.shape == layer.high.shape == (3,)
    assert layer.double().low.dtype == torch.float64


def test_unknown_corruption_raises():
    with pytest.raises(ValueError, match="corruption"):
        Corruption("pink", 0.1)


def test_build_autoencoder_without_noise_has_no_corruption():
    assert build_autoencoder(Architecture(6, 2)).corruption is None


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_build_autoencoder_adds_the_corruption_layer(noise):
    ae = build_autoencoder(Architecture(3, 2, noise=noise, noise_level=0.25))
    assert isinstance(ae.corruption, Corruption)
    assert (ae.corruption.kind, ae.corruption.level) == (noise, 0.25)
    # Per-feature bounds, 0 and 1 until an estimator sets them from the data.
    torch.testing.assert_close(ae.corruption.low, torch.zeros(3))
    torch.testing.assert_close(ae.corruption.high, torch.ones(3))


def test_autoencoder_corrupts_only_in_training():
    ae = build_autoencoder(Architecture(6, 2, noise="masking", noise_level=0.9))
    x = torch.rand(10, 6) + 1
    ae.eval()
    _x_pre, z = ae(x)
    torch.testing.assert_close(z, ae.encode(x))
    ae.train()
    _, z_train = ae(x)
    assert not torch.allclose(z_train, ae.encode(x))
    # encode never corrupts, in either mode.
    torch.testing.assert_close(ae.encode(x), ae.eval().encode(x))


# --------------------------------------------------------------------------
# A table's heads
# --------------------------------------------------------------------------

# Kinds interleaved, categorical columns of different widths: one of one level,
# one wider than WIDE_LEVELS between narrower ones (which share a pass).
TABLE = [("numeric", 1), ("categorical", 3), ("binary", 1), ("categorical", WIDE_LEVELS + 1),
         ("categorical", 1), ("categorical", 2), ("categorical", 5)]
CATEGORICAL_COLUMNS = [1, 3, 4, 5, 6]


def table_rows(n_rows, dtype=torch.float32, n_draws=None):
    """Decoder outputs ``h`` (with ``n_draws`` leading draws) and columns ``x`` with gaps."""
    heads = TabularOutput(TABLE)
    shape = (n_rows, heads.width) if n_draws is None else (n_draws, n_rows, heads.width)
    h = (3 * torch.randn(shape, dtype=dtype)).requires_grad_()
    x = torch.stack([torch.randn(n_rows, dtype=dtype)]
                    + [torch.randint(-1, n, (n_rows,)).to(dtype) if kind == "categorical"
                       else torch.randint(0, 2, (n_rows,)).to(dtype) for kind, n in TABLE[1:]],
                    dim=1)
    x[0, 0] = torch.nan
    return heads, h, x


def padded_cross_entropies(h, x, heads):
    """The categorical columns' losses as one padded cross-entropy (as skae once did).

    Each column's logits are padded to the widest column's with -inf, which
    the softmax gives no weight; code -1 adds no loss.
    """
    slices = [heads.slices[j] for j in CATEGORICAL_COLUMNS]
    width = max(b - a for a, b in slices)
    index = torch.tensor([list(range(a, b)) + [heads.width] * (width - (b - a))
                          for a, b in slices])
    padded = torch.cat([h, torch.full_like(h[..., :1], -torch.inf)], dim=-1)[..., index]
    codes = x[:, CATEGORICAL_COLUMNS].long().expand(padded.shape[:-1])
    losses = F.cross_entropy(padded.reshape(-1, width), codes.reshape(-1), ignore_index=-1,
                             reduction="none")
    return losses.reshape(codes.shape)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_draws", [None, 3])
def test_table_heads_score_each_categorical_column_over_its_own_levels(dtype, n_draws):
    heads, h, x = table_rows(50, dtype, n_draws)
    expected = padded_cross_entropies(h, x, heads)
    losses = heads.column_losses(h, x)[..., CATEGORICAL_COLUMNS]
    torch.testing.assert_close(losses, expected)
    grad, = torch.autograd.grad(losses.sum(), h)
    expected_grad, = torch.autograd.grad(expected.sum(), h)
    torch.testing.assert_close(grad, expected_grad)
    categorical_only = TabularOutput([TABLE[j] for j in CATEGORICAL_COLUMNS])
    x_codes, h_codes = x[:, CATEGORICAL_COLUMNS], h[..., 2:]
    torch.testing.assert_close(categorical_only.negative_log_likelihood(h_codes, x_codes),
                               expected.sum(-1))


@pytest.mark.parametrize("n_draws", [None, 3])
def test_table_heads_give_each_categorical_column_its_softmax(n_draws):
    heads, h, _ = table_rows(20, n_draws=n_draws)
    out = heads(h)
    for j in CATEGORICAL_COLUMNS:
        a, b = heads.slices[j]
        torch.testing.assert_close(out[..., a:b], torch.softmax(h[..., a:b], dim=-1))
    torch.testing.assert_close(out[..., 0], h[..., 0])
    torch.testing.assert_close(out[..., 1], torch.sigmoid(h[..., 1]))


def test_a_missing_level_adds_no_loss_and_no_gradient():
    heads, h, x = table_rows(30)
    x[:, CATEGORICAL_COLUMNS] = -1.0
    losses = heads.column_losses(h, x)[:, CATEGORICAL_COLUMNS]
    assert torch.equal(losses, torch.zeros_like(losses))
    grad, = torch.autograd.grad(heads.column_losses(h, x).sum(), h)
    assert torch.equal(grad[:, 2:], torch.zeros_like(grad[:, 2:]))


def test_a_level_unseen_in_fit_costs_minus_the_log_of_its_columns_probability():
    # In nats, as a seen level's cross-entropy, and weighted as it is; it
    # takes no gradient, and counts as a scored entry. A column without a
    # probability (NaN) scores it as no level, as code -1.
    heads, h, x = table_rows(30)
    probabilities = [float("nan")] * len(TABLE)
    probabilities[1], probabilities[3] = 0.01, 0.5
    heads.set_unseen(probabilities)
    with torch.no_grad():
        heads.weights[1] = 3.0
    x[:, CATEGORICAL_COLUMNS] = UNSEEN_LEVEL
    losses = heads.column_losses(h, x)[:, CATEGORICAL_COLUMNS]
    expected = torch.tensor([3 * -math.log(0.01), -math.log(0.5), 0.0, 0.0, 0.0])
    torch.testing.assert_close(losses, expected.expand(30, -1))
    nll = heads.negative_log_likelihood(h, x) - heads.negative_log_likelihood(
        h, torch.where(x == UNSEEN_LEVEL, -1.0, x))
    torch.testing.assert_close(nll, torch.full((30,), -math.log(0.01) - math.log(0.5)))
    grad, = torch.autograd.grad(heads.column_losses(h, x).sum(), h)
    assert torch.equal(grad[:, 2:], torch.zeros_like(grad[:, 2:]))
    assert heads.observed(x)[:, CATEGORICAL_COLUMNS].all()
    # The network reads it as no level, as a missing value.
    inputs = TabularInput(TABLE)
    torch.testing.assert_close(inputs(x), inputs(torch.where(x == UNSEEN_LEVEL, -1.0, x)))
    with pytest.raises(ValueError, match="7 probabilities, one per column; got 2"):
        heads.set_unseen([0.5, 0.5])


@pytest.mark.parametrize("counts, expected", [
    ([500, 300, 199], 1 / 1000),  # no level seen once: as if the next were a new one
    ([3, 1, 1, 1, 0], 4 / 7),  # Good-Turing: the share seen once, (3 + 1) / (6 + 1)
    ([1] * 99, 1.0),  # an identifier: every value a new level
])
def test_the_probability_of_an_unseen_level_is_good_turings_smoothed(counts, expected):
    assert math.isclose(unseen_level_probability(counts), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_logits_keep_the_categorical_heads_finite(dtype):
    heads, h, x = table_rows(20, dtype)
    h = (1e4 * h.detach()).requires_grad_()  # exp overflows without a shift
    losses = heads.column_losses(h, x)
    torch.testing.assert_close(losses[:, CATEGORICAL_COLUMNS], padded_cross_entropies(h, x, heads))
    grad, = torch.autograd.grad(losses.sum(), h)
    assert torch.isfinite(grad).all()
    out = heads(h)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 2:5].sum(-1), torch.ones(20, dtype=dtype))


def test_table_heads_draw_each_categorical_column_in_turn_from_one_stream():
    # One uniform per row for each categorical column, in column order, after
    # the one-wide kinds' draws: a seeded generator draws what it always drew.
    heads, h, _ = table_rows(200)
    h = h.detach()
    drawn = heads.draw(h, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    torch.rand((200, 1), generator=generator)  # the binary column's draws (no noise on numbers)
    for j in CATEGORICAL_COLUMNS:
        a, b = heads.slices[j]
        cumulative = torch.softmax(h[:, a:b], dim=-1).cumsum(-1)
        u = torch.rand((200, 1), generator=generator)
        codes = (cumulative < u).sum(-1).clamp(max=b - a - 1)
        assert torch.equal(drawn[:, a:b], F.one_hot(codes, b - a).float())
