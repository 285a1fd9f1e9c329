"""What differs between the scikit-learn versions emfast supports.

emfast's GaussianMixture behaves as the installed scikit-learn's does, so
where scikit-learn changed between its versions, so does emfast.
"""

import sklearn
from sklearn.utils.fixes import parse_version

SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)

# scikit-learn >= 1.7 fits float32 data into a float32 model (attributes,
# lower bound and outputs); before, the model and its outputs are float64
FLOAT32_MODELS = SKLEARN_VERSION >= parse_version("1.7")
