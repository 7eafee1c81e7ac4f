"""The exceptions skae raises, public as ``skae.<name>``."""

__all__ = ["TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite.

    The estimator keeps the weights of the last completed epoch, so a caller
    that catches this error still holds a usable model; when the first epoch
    of a fresh fit diverges, there is none, and the estimator is left
    unfitted.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer, TrainingDivergedError
    >>> X = np.random.RandomState(0).rand(50, 4) * 1e20  # squares overflow float32
    >>> ae = AutoencoderTransformer(max_iter=3, random_state=0)
    >>> try:
    ...     ae.fit(X)
    ... except TrainingDivergedError as exc:
    ...     print(str(exc)[:26])
    Training diverged: the tra
    """
