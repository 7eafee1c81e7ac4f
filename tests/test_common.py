"""scikit-learn's estimator checks over every skae estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderTransformer, VAETransformer


def _fast(est):
    # Small and quick; the checks exercise the contract, not model quality.
    return est.set_params(hidden_layer_sizes=(8,), max_iter=3, batch_size=16)


ESTIMATORS = [_fast(AutoencoderTransformer()), _fast(VAETransformer())]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):
    check(estimator)
