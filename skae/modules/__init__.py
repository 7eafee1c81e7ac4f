"""Pure PyTorch building blocks for skae's autoencoders.

Nothing here knows about scikit-learn or skorch. Every module maps flat
rows ``(n_samples, n_features)`` to flat rows, so the estimators can keep
``X`` two-dimensional; convolutional parts reshape internally.

The two model classes share one protocol:

- ``encode(x)`` returns the code used by ``transform`` (for the VAE, the
  posterior mean);
- ``decode(z)`` returns the reconstruction in data space (output activation
  applied);
- ``forward(x)`` returns a tuple whose first element is the decoder output
  *before* the output activation (logits for a Bernoulli decoder):
  ``(x_pre, z)`` for :class:`Autoencoder`, ``(x_pre, mu, logvar)`` for
  :class:`VariationalAutoencoder`.

:func:`build_autoencoder` and :func:`build_variational_autoencoder` assemble
them from an :class:`Architecture`, the plain-data description of a network
that the estimators make from their parameters.

This module is public: the module classes, :class:`Architecture` and the
builders are for users who take a fitted model's ``net_.module_`` into their
own torch code or build the same network by hand (as the benchmarks do).

The package's modules, each re-exported here: ``_layers`` (activations,
initialisation, the generator of training-time draws, corruption, dropout,
:class:`FillMissing`, the tied layers), ``_columns`` (the column kinds of a
table: input encoding, heads and their losses), ``_models`` (the two
models), ``_targets`` (the heads that predict ``y`` from the code) and
``_builders`` (:class:`Architecture` and the builders).
"""

from ._builders import (
    Architecture,
    build_autoencoder,
    build_variational_autoencoder,
    conv_output_shapes,
)
from ._columns import (
    BINARY,  # noqa: F401  (the kind names, importable from here)
    CATEGORICAL,  # noqa: F401
    COLUMN_KINDS,  # noqa: F401  (importable from here, as in 0.2)
    MAX_ONE_HOT_LEVELS,  # noqa: F401
    NUMERIC,  # noqa: F401
    UNSEEN_LEVEL,  # noqa: F401  (the code of a level unseen in fit)
    TabularInput,
    TabularOutput,
    embedding_dim,
    head_slices,
    unseen_level_probability,
)
from ._layers import (
    ACTIVATIONS,
    NOISE_KINDS,  # noqa: F401
    OUTPUT_ACTIVATIONS,  # noqa: F401
    Corruption,
    Dropout,
    FillMissing,
    TiedConvTranspose2d,
    TiedLinear,
    init_parameters,
    set_generator,
)
from ._models import (
    LOGVAR_MAX,  # noqa: F401
    LOGVAR_MIN,  # noqa: F401
    Autoencoder,
    VariationalAutoencoder,
)
from ._targets import TargetHeads

__all__ = [
    "ACTIVATIONS",
    "Autoencoder",
    "Corruption",
    "Dropout",
    "FillMissing",
    "TabularInput",
    "TabularOutput",
    "TargetHeads",
    "TiedConvTranspose2d",
    "TiedLinear",
    "VariationalAutoencoder",
    "Architecture",
    "build_autoencoder",
    "build_variational_autoencoder",
    "conv_output_shapes",
    "embedding_dim",
    "head_slices",
    "init_parameters",
    "set_generator",
    "unseen_level_probability",
]

