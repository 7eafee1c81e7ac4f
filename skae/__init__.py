"""skae: autoencoders as first-class scikit-learn estimators, backed by skorch."""

from ._autoencoder import AutoencoderTransformer
from ._imputer import AutoencoderImputer
from ._interpolate import interpolate
from ._outliers import OutlierDetector
from ._persistence import load, save
from ._scoring import make_reconstruction_scorer
from ._vae import VAETransformer
from ._version import __version__
from .exceptions import TrainingDivergedError

__all__ = [
    "AutoencoderImputer",
    "AutoencoderTransformer",
    "OutlierDetector",
    "TrainingDivergedError",
    "VAETransformer",
    "interpolate",
    "load",
    "make_reconstruction_scorer",
    "save",
    "__version__",
]
