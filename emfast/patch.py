"""``python -m emfast.patch script.py [args...]`` or ``python -m emfast.patch -m module
[args...]``: run a script or a module (a test suite, say) with scikit-learn's
GaussianMixture resolving to emfast's (:func:`emfast.patch_sklearn`).

The functions live in emfast._patch, so that running this module does not find
it already imported by the package (runpy warns then).
"""

import sys

from ._patch import main, patch_sklearn, unpatch_sklearn

__all__ = ["main", "patch_sklearn", "unpatch_sklearn"]

if __name__ == "__main__":
    sys.exit(main())
