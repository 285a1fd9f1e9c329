"""emfast: fast EM for Gaussian mixtures on the CPU.

The E and M steps run in C++ (SIMD, OpenMP) behind estimators that follow the
scikit-learn API; ``emfast.GaussianMixture`` is a drop-in for
``sklearn.mixture.GaussianMixture``.
"""

from . import _build_info
from ._base import DegenerateComponentWarning
from ._config import get_config, show_config
from ._gaussian_mixture import GaussianMixture

__version__ = _build_info.version

__all__ = [
    "DegenerateComponentWarning",
    "GaussianMixture",
    "get_config",
    "show_config",
    "__version__",
]
