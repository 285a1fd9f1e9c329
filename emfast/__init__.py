"""emfast: fast EM for Gaussian mixtures on the CPU.

The E and M steps run in C++ (SIMD, OpenMP) behind estimators that follow the
scikit-learn API; ``emfast.GaussianMixture`` is a drop-in for
``sklearn.mixture.GaussianMixture``.
"""

try:
    from . import _build_info
except ImportError as exc:  # importing a source checkout that was never built
    raise ImportError(
        f"emfast at {__path__[0]} is not built: install it with `pip install .` and "
        "import it from outside the source tree (the `pytest` command does this)."
    ) from exc
from ._bayesian_mixture import BayesianGaussianMixture
from ._em import DegenerateComponentWarning
from ._classifier import GaussianMixtureClassifier
from ._config import get_config, show_config
from ._gaussian_mixture import GaussianMixture
from ._llp import BeliefPropagationLabeler
from ._llp_classifier import LLPClassifier
from ._llp_em import GaussianMixtureLabeler
from ._minibatch import MiniBatchGaussianMixture
from ._patch import patch_sklearn, unpatch_sklearn
from ._student_t import MiniBatchStudentTMixture, StudentTMixture
from ._selection import GaussianMixtureIC
from ._online_bayesian import MiniBatchBayesianGaussianMixture

__version__ = _build_info.version

__all__ = [
    "BayesianGaussianMixture",
    "BeliefPropagationLabeler",
    "DegenerateComponentWarning",
    "GaussianMixture",
    "GaussianMixtureClassifier",
    "GaussianMixtureLabeler",
    "GaussianMixtureIC",
    "LLPClassifier",
    "MiniBatchBayesianGaussianMixture",
    "MiniBatchGaussianMixture",
    "MiniBatchStudentTMixture",
    "StudentTMixture",
    "get_config",
    "patch_sklearn",
    "show_config",
    "unpatch_sklearn",
    "__version__",
]
