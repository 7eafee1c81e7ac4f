"""scikit-learn's estimator checks over every skae estimator.

The defaults, and configurations that take other code paths (batch norm,
dropout, early stopping, tied weights, input noise, sparsity, PCA
initialisation, L-BFGS, the VAE's KL warm-up, target heads), each small and quick: the
checks exercise the contract, not model quality. A convolutional
configuration is not among them: ``image_shape`` fixes the number of
features, and the checks fit data of many widths (tests/test_conv.py covers
its contract on matching data).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderImputer, AutoencoderTransformer, OutlierDetector, VAETransformer

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, batch_size=16)

ESTIMATORS = [
    AutoencoderTransformer(**FAST),
    VAETransformer(**FAST),
    AutoencoderTransformer(batch_norm=True, dropout=0.2, early_stopping=True,
                           learning_rate="adaptive", **FAST),
    VAETransformer(batch_norm=True, kl_warmup=2, early_stopping=True, **FAST),
    AutoencoderTransformer(tied_weights=True, noise="masking", sparsity=0.1, **FAST),
    # PCA's start (dense, sparse and data with NaN: a table) and L-BFGS's full-batch steps.
    AutoencoderTransformer(init="pca", hidden_layer_sizes=(), activation="identity",
                           max_iter=3, batch_size=16),
    AutoencoderTransformer(optimizer="lbfgs", hidden_layer_sizes=(8,), max_iter=3),
    # Codes that learn y: the checks' fits with y (classes) train target heads, those
    # without warn that y is ignored.
    AutoencoderTransformer(target_weight=0.5, **FAST),
    AutoencoderImputer(AutoencoderTransformer(**FAST), add_indicator=True),
    # One detector, tiny: the checks fit it dozens of times (the 'auto' threshold
    # and a VAE inside are covered in tests/test_outliers.py).
    OutlierDetector(AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=2, batch_size=16),
                    contamination=0.1),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):
    check(estimator)
