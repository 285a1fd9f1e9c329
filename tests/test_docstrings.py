"""The public API's docstrings: complete (numpydoc), and their examples run.

The examples run against the installed package (doctests found in its
modules), so that ``pytest tests`` checks them without importing the source
tree. numpydoc's validator checks every public class, method and function for
undocumented, unknown or undescribed parameters, returns and attributes.
"""

import doctest
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import emfast

PUBLIC = [name for name in emfast.__all__ if name != "__version__"]
# left to review: extended summaries; named single returns ("self : ...") are
# scikit-learn's convention; See Also / Examples on every method (each
# estimator's class docstring has both)
IGNORED = {"ES01", "RT02"}
IGNORED_FOR_METHODS = IGNORED | {"SA01", "EX01"}


def _public_methods(cls):
    """Public methods of cls that emfast defines (not those scikit-learn's mixins bring)."""
    for name, member in inspect.getmembers(cls):
        func = getattr(member, "__func__", member)
        if name.startswith("_") or not callable(member):
            continue
        if getattr(func, "__module__", "").startswith("emfast"):
            yield name


def _api_paths():
    for name in PUBLIC:
        obj = getattr(emfast, name)
        yield f"emfast.{name}", IGNORED
        if inspect.isclass(obj) and not issubclass(obj, Warning):
            for method in _public_methods(obj):
                yield f"emfast.{name}.{method}", IGNORED_FOR_METHODS


def _summary_rule_of_old_numpydoc():
    """GL01 before numpydoc 1.10 (the last for Python 3.9 is 1.9) asks for the summary
    on the line after the opening quotes; later versions also accept it on the
    first line, where PEP 257 and emfast's docstrings put it."""
    import numpydoc
    from sklearn.utils.fixes import parse_version

    return {"GL01"} if parse_version(numpydoc.__version__) < parse_version("1.10") else set()


@pytest.mark.parametrize("path, ignored", list(_api_paths()), ids=lambda p: p if isinstance(p, str) else "")
def test_numpydoc_validation(path, ignored):
    validate = pytest.importorskip("numpydoc.validate")
    ignored = ignored | _summary_rule_of_old_numpydoc()
    # the object itself, not its name: numpydoc would try to import "emfast.GaussianMixture"
    # and the like as modules, which costs a rebuild check in an editable install
    obj = emfast
    for part in path.split(".")[1:]:
        obj = getattr(obj, part)
    report = validate.validate(validate.get_doc_object(obj))
    errors = [f"{code}: {msg}" for code, msg in report["errors"] if code not in ignored]
    assert not errors, f"{path}:\n" + "\n".join(errors)


def _fitted(name):
    """A small fitted instance of each public estimator."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    X = rng.normal(size=(120, 3)) + 3.0 * y[:, None]
    bags = np.repeat(np.arange(6), 20)
    counts = np.bincount(bags, weights=y)
    if name == "GaussianMixture":
        return emfast.GaussianMixture(2, random_state=0).fit(X)
    if name == "StudentTMixture":
        return emfast.StudentTMixture(2, random_state=0).fit(X)
    if name == "MiniBatchStudentTMixture":
        return emfast.MiniBatchStudentTMixture(2, batch_size=40, random_state=0).fit(X)
    if name == "BayesianGaussianMixture":
        return emfast.BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    if name == "MiniBatchBayesianGaussianMixture":
        return emfast.MiniBatchBayesianGaussianMixture(n_components=2, batch_size=40, random_state=0).fit(X)
    if name == "GaussianMixtureIC":
        return emfast.GaussianMixtureIC(max_components=3, covariance_type="all", random_state=0).fit(X)
    if name == "MiniBatchGaussianMixture":
        return emfast.MiniBatchGaussianMixture(2, batch_size=40, random_state=0).fit(X)
    if name == "GaussianMixtureClassifier":
        # a third of the rows unlabelled and a search for new classes: every attribute set
        partial = np.where(np.arange(len(y)) % 3 == 0, -1, y)
        clf = emfast.GaussianMixtureClassifier(random_state=0, unlabelled=-1, n_new_classes="auto", max_new_classes=1)
        return clf.fit(X, partial)
    if name == "BeliefPropagationLabeler":
        return emfast.BeliefPropagationLabeler().fit(X, counts[bags] / 20, bags=bags)
    if name == "GaussianMixtureLabeler":
        return emfast.GaussianMixtureLabeler(random_state=0).fit(X, counts[bags] / 20, bags=bags)
    if name == "LLPClassifier":
        return emfast.LLPClassifier(LogisticRegression()).fit(X, counts[bags] / 20, bags=bags)
    raise AssertionError(f"add a small fit of {name} here")


ESTIMATORS = [n for n in PUBLIC if inspect.isclass(getattr(emfast, n)) and hasattr(getattr(emfast, n), "fit")]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_attributes_are_documented(name):
    docscrape = pytest.importorskip("numpydoc.docscrape")
    section = docscrape.ClassDoc(getattr(emfast, name))["Attributes"]
    documented = {n.strip() for entry in section for n in entry.name.split(",")}
    assert all(entry.desc for entry in section), f"{name}: an attribute has no description"
    est = _fitted(name)
    fitted = {a for a in vars(est) if a.endswith("_") and not a.startswith("_")}
    assert fitted - documented == set(), f"{name}: undocumented fitted attributes"
    # feature_names_in_ exists only after a fit on named features, graph_ only with a graph
    optional = {"feature_names_in_"} | ({"graph_"} if name == "GaussianMixtureLabeler" else set())
    assert documented - fitted - optional == set(), f"{name}: documented but not set by fit"


def _doctests():
    finder = doctest.DocTestFinder()
    for info in pkgutil.iter_modules(emfast.__path__):
        if info.name in ("__main__", "demo", "_core") or info.name.startswith("_kernels_"):
            continue  # running the demo, or the extension modules (a variant this CPU lacks must not load)
        module = importlib.import_module(f"emfast.{info.name}")
        for test in finder.find(module):
            if test.examples:
                yield test


DOCTESTS = list(_doctests())


def test_every_public_estimator_has_examples():
    with_examples = {t.name.split(".")[-1] for t in DOCTESTS}
    assert set(PUBLIC) - {"get_config", "show_config"} <= with_examples | {"show_config"}
    assert {"get_config", "show_config"} <= with_examples


@pytest.mark.parametrize("test", DOCTESTS, ids=lambda t: t.name)
def test_docstring_examples(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    with np.printoptions(legacy=False):
        result = runner.run(test, out=lambda s: pytest.fail(s, pytrace=False))
    assert result.failed == 0
