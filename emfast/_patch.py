"""Run code written for scikit-learn's mixtures on emfast, unchanged.

``patch_sklearn()`` makes ``sklearn.mixture.GaussianMixture`` (and the same
name in ``sklearn.mixture._gaussian_mixture``) resolve to
:class:`emfast.GaussianMixture` for code that looks it up afterwards, in the
convention of scikit-learn-intelex; ``unpatch_sklearn()`` restores scikit-learn's.
emfast's estimators subclass scikit-learn's, so ``isinstance`` checks against
scikit-learn's classes hold whether or not the patch is applied.

For a script or a module (a test suite, say), without editing it::

    python -m emfast.patch script.py [args...]
    python -m emfast.patch -m pytest path/to/tests [args...]
"""

import runpy
import sys

__all__ = ["patch_sklearn", "unpatch_sklearn"]

_originals = {}


def _replacements():
    """(module, attribute name, emfast class) for every name the patch replaces."""
    import sklearn.mixture
    import sklearn.mixture._gaussian_mixture

    from ._gaussian_mixture import GaussianMixture

    return [
        (sklearn.mixture, "GaussianMixture", GaussianMixture),
        (sklearn.mixture._gaussian_mixture, "GaussianMixture", GaussianMixture),
    ]


def patch_sklearn():
    """Make scikit-learn's mixture classes resolve to emfast's.

    Code that imports ``GaussianMixture`` from ``sklearn.mixture`` after this
    call gets :class:`emfast.GaussianMixture`; names bound before it keep
    scikit-learn's class. Calling it twice is harmless.

    See Also
    --------
    unpatch_sklearn : Restore scikit-learn's classes.

    Examples
    --------
    >>> import emfast
    >>> emfast.patch_sklearn()
    >>> from sklearn.mixture import GaussianMixture
    >>> GaussianMixture is emfast.GaussianMixture
    True
    >>> emfast.unpatch_sklearn()
    >>> from sklearn.mixture import GaussianMixture
    >>> GaussianMixture is emfast.GaussianMixture
    False
    """
    for module, name, ours in _replacements():
        _originals.setdefault((module.__name__, name), getattr(module, name))
        setattr(module, name, ours)


def unpatch_sklearn():
    """Restore scikit-learn's own mixture classes (undo :func:`patch_sklearn`).

    See Also
    --------
    patch_sklearn : Make scikit-learn's mixture classes resolve to emfast's.

    Examples
    --------
    >>> import sklearn.mixture
    >>> import emfast
    >>> emfast.patch_sklearn()
    >>> emfast.unpatch_sklearn()
    >>> sklearn.mixture.GaussianMixture.__module__
    'sklearn.mixture._gaussian_mixture'
    """
    for module, name, _ in _replacements():
        original = _originals.pop((module.__name__, name), None)
        if original is not None:
            setattr(module, name, original)


def main(argv=None):
    """``python -m emfast.patch script.py [args]`` or ``-m module [args]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    patch_sklearn()
    if argv[0] == "-m":
        if len(argv) < 2:
            print("usage: python -m emfast.patch -m module [args...]", file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
    return 0
