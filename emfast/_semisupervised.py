"""Partially labelled data for GaussianMixtureClassifier: one EM over all rows.

The classes' mixtures form one joint mixture, whose component (c, k) has
weight prior_c pi_ck; class c owns the contiguous components
begin[c]:begin[c + 1]. Each EM iteration is one pass over all rows
(emfast._core.em_pass with groups): a labelled row of class c is shared
among class c's components only (its likelihood is p(x, c)), an unlabelled
row among all components (p(x)). The M-step re-estimates each class's
mixture from its components' statistics and, unless priors are given, the
class priors from the unlabelled rows' responsibilities: a labelled row is
modelled given its label, as the labelling may depend on the class (in
category discovery only the known classes have labelled rows, so priors
counting them would not be those of the unlabelled rows). EM increases

    sum over labelled rows of w log p(x | y)  +  sum over unlabelled rows of w log p(x).
"""

import dataclasses
import types
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._data import ArrayData, Float32Overflow
from ._em import Repairs, Step, fit_em, maximise
from ._stats import Params, Stats
from ._validation import blas_on_one_thread, check_finite_model


def unlabelled_rows(y, value):
    """Rows of y equal to `value` (None: no row is unlabelled)."""
    y = np.asarray(y)
    numbers, strings = y.dtype.kind in "biuf", y.dtype.kind in "US"
    if value is None or (strings and not isinstance(value, str)) or (numbers and isinstance(value, str)):
        return np.zeros(len(y), dtype=bool)  # a string never equals a number
    return np.asarray(y == value, dtype=bool).reshape(len(y))


@dataclasses.dataclass
class ClassModels:
    """The EM state: class priors and each class's mixture (float64 Params)."""

    priors: np.ndarray
    mixtures: list


class JointEM:
    """Batch EM of the classes' joint mixture (the model emfast._em.fit_em runs).

    `groups` = (class index of each row, -1 if unlabelled; begin) restricts
    labelled rows to their class's components; `labelled` is each class's
    labelled weight. 'tied' (one covariance per class) runs its passes as
    'full', each class's matrix repeated.
    """

    def __init__(self, covariance_type, reg_covar, scale, n_samples, groups, labelled, fixed_priors=None):
        self.covariance_type = covariance_type
        self.pass_type = "full" if covariance_type == "tied" else covariance_type
        self.reg_covar, self.scale, self.n_samples = reg_covar, scale, n_samples
        self.groups, self.labelled, self.fixed_priors = groups, labelled, fixed_priors

    def joint(self, state):
        """The joint mixture as one Params (weights prior_c pi_ck). A class without
        unlabelled rows keeps a tiny prior: its labelled rows need its components."""
        parts = []
        for prior, p in zip(np.maximum(state.priors, np.finfo(np.float64).tiny), state.mixtures):
            K = p.n_components
            covs, chol = p.covariances, p.precisions_cholesky
            if self.covariance_type == "tied":
                covs, chol = np.broadcast_to(covs, (K, *covs.shape)), np.broadcast_to(chol, (K, *chol.shape))
            parts.append((prior * p.weights, p.means, covs, chol))
        return Params(*(np.concatenate(a) for a in zip(*parts)))

    def class_stats(self, stats, c):
        """Class c's components' statistics, as its own mixture's M-step takes them."""
        begin = self.groups[1]
        part = slice(begin[c], begin[c + 1])
        s2 = stats.s2[part]
        if self.covariance_type == "tied":  # the sum of the components' own second moments
            s2 = s2.sum(axis=0)
        return Stats(self.covariance_type, stats.s0[part], stats.s1[part], s2, stats.centers[part],
                     weight=stats.weight)

    def step(self, data, state):
        stats = data.em_pass(self.joint(state), self.pass_type, groups=self.groups)
        repairs, mixtures = Repairs(), []
        for c in range(len(state.mixtures)):
            params, fixed, _ = maximise(self.class_stats(stats, c), covariance_type=self.covariance_type,
                                        reg_covar=self.reg_covar, scale=self.scale, n_samples=self.n_samples)
            repairs |= fixed
            mixtures.append(params)
        priors = self.priors(stats) if self.fixed_priors is None else self.fixed_priors
        # the pass's log-likelihood counts log prior_y for every labelled row: taken out
        with np.errstate(divide="ignore"):
            log_priors = np.log(np.maximum(state.priors, np.finfo(np.float64).tiny))
        objective = stats.loglik - self.labelled @ log_priors
        return Step(ClassModels(priors, mixtures), objective / stats.weight, repairs)

    def priors(self, stats):
        """The unlabelled rows' share of each class."""
        mass = np.maximum(np.add.reduceat(stats.s0, self.groups[1][:-1]) - self.labelled, 0.0)
        return mass / mass.sum()


def labelled_weight(data, y_index, n_classes):
    """Each class's total labelled sample weight (0 for new classes)."""
    labelled = y_index >= 0
    w = None if data.sample_weight is None else data.sample_weight[labelled]
    return np.bincount(y_index[labelled], weights=w, minlength=n_classes).astype(np.float64)


def _constrained_kmeans_start(clf, data, y_index, n_new, fixed_priors, random_state, max_iter=100):
    """ClassModels from k-means with the labels as constraints (seeded k-means):
    the known classes' centroids start at their mixtures' means and take only
    their labelled rows, n_new centroids are drawn by k-means++ among the
    unlabelled rows (the known centroids already placed), and Lloyd iterations
    run on the kernels (a hard E-step with unit covariances, the labelled rows
    restricted to their class). The final assignment's statistics, in the
    covariance type, give each class its initial mixture."""
    known = [m._current_parameters() for m in clf.mixtures_]
    centroids = [p.means for p in known]
    free = np.flatnonzero(y_index < 0)
    rows = np.asarray(data.X[free], dtype=np.float64)
    w = np.ones(len(free)) if data.sample_weight is None else data.sample_weight[free]
    closest = np.full(len(free), np.inf)
    for c in np.vstack(centroids):
        np.minimum(closest, ((rows - c) ** 2).sum(axis=1), out=closest)
    for _ in range(n_new):
        p = w * closest
        pick = random_state.choice(len(free), p=p / p.sum()) if p.sum() > 0 else random_state.randint(len(free))
        centroids.append(rows[pick][None])
        np.minimum(closest, ((rows - rows[pick]) ** 2).sum(axis=1), out=closest)
    sizes = [len(c) for c in centroids]
    groups = (np.ascontiguousarray(y_index, dtype=np.int32), np.r_[0, np.cumsum(sizes)].astype(np.int64))
    means = np.vstack(centroids)
    K, D = means.shape
    flat = np.full(K, 1.0 / K)
    previous = -np.inf
    for _ in range(max_iter):
        st = data.em_pass(Params(flat, means, np.ones(K), np.ones(K)), "spherical", hard=True, groups=groups)
        means = st.centers + st.s1 / np.maximum(st.s0, np.finfo(np.float64).tiny)[:, None]
        if st.loglik <= previous + 1e-12 * abs(previous):
            break
        previous = st.loglik
    form = "full" if clf.covariance_type in ("full", "tied") else clf.covariance_type
    unit = {"full": np.broadcast_to(np.eye(D), (K, D, D)), "diag": np.ones((K, D)), "spherical": np.ones(K)}[form]
    stats = data.em_pass(Params.of(flat, means, unit, unit), form, hard=True, groups=groups)
    model = JointEM(clf.covariance_type, clf.reg_covar, data.scale(), data.n_samples, groups,
                    labelled_weight(data, y_index, len(sizes)), fixed_priors)
    mixtures = [maximise(model.class_stats(stats, c), covariance_type=clf.covariance_type, reg_covar=clf.reg_covar,
                         scale=model.scale, n_samples=data.n_samples)[0] for c in range(len(sizes))]
    return ClassModels(model.priors(stats) if fixed_priors is None else fixed_priors, mixtures)


def n_parameters(covariance_type, class_sizes, n_features):
    """Free parameters of the joint mixture: every component's mean and covariance
    (one covariance per class for 'tied'), each class's weights, the priors."""
    D, n_comp = n_features, int(np.sum(class_sizes))
    per_cov = {"full": D * (D + 1) / 2, "tied": D * (D + 1) / 2, "diag": D, "spherical": 1}[covariance_type]
    n_cov = len(class_sizes) if covariance_type == "tied" else n_comp
    return int(n_comp * D + n_cov * per_cov + (n_comp - len(class_sizes)) + len(class_sizes) - 1)


def fit_joint(clf, data, y_index, n_new, fixed_priors, random_state):
    """EM over labelled and unlabelled rows together, with n_new classes beyond
    the known ones (clf.mixtures_, fitted on the labelled rows): the emfast._em
    Fit of the best of 1 + n_init starts (as n_init keeps the best
    initialisation), and the criterion's number of parameters.

    The starts: n_init seeded k-means starts (_constrained_kmeans_start), and
    the known classes as fitted on the labelled rows with the first k-means
    start's new classes. The latter is poor when few rows are labelled (a full
    covariance from a handful of rows), the former when the classes are not
    the clusters k-means finds.
    """
    C = len(clf.mixtures_)
    kmeans = [_constrained_kmeans_start(clf, data, y_index, n_new, fixed_priors, random_state)
              for _ in range(clf.n_init)]
    known = [m._current_parameters() for m in clf.mixtures_]
    supervised = ClassModels(kmeans[0].priors, known + kmeans[0].mixtures[C:])
    starts = iter([supervised] + kmeans)
    sizes = [p.n_components for p in supervised.mixtures]
    groups = (np.ascontiguousarray(y_index, dtype=np.int32), np.r_[0, np.cumsum(sizes)].astype(np.int64))
    settings = types.SimpleNamespace(warm_start=False, n_init=1 + clf.n_init, max_iter=clf.max_iter, tol=clf.tol,
                                     verbose=0)
    model = JointEM(clf.covariance_type, clf.reg_covar, data.scale(), data.n_samples, groups,
                    labelled_weight(data, y_index, len(sizes)), fixed_priors)
    fit = fit_em(settings, data, model, lambda: (next(starts), Repairs()), None)
    return fit, n_parameters(clf.covariance_type, sizes, data.n_features)


def _search_new_classes(clf, data, y_index, candidates, fixed_priors):
    """(best Fit, BIC of every candidate number of new classes)."""
    n = data.total_weight()
    fits, bic = [], []
    random_state = check_random_state(clf.random_state)
    for n_new in candidates:
        fit, p = fit_joint(clf, data, y_index, n_new, fixed_priors, random_state)
        fits.append(fit)
        # the lower bound is the objective per unit weight at the last E-step
        bic.append(-2 * fit.lower_bound * n + p * np.log(n))
    return fits[int(np.argmin(bic))], np.array(bic)


def new_labels(classes, n_new):
    """Labels for discovered classes: max(known) + 1, + 2, ... for numbers, 'new_0',
    'new_1', ... otherwise."""
    if classes.dtype.kind in "iuf":
        return classes.max() + 1 + np.arange(n_new, dtype=classes.dtype)
    return np.array([f"new_{j}" for j in range(n_new)], dtype=object)


def fit_partially_labelled(clf, X, sample_weight, y_index, candidates):
    """Fit clf on all rows, labelled or not (y_index -1), with the number of new
    classes in `candidates` of lowest BIC; sets mixtures_, priors_, classes_,
    n_iter_, n_new_classes_ and new_classes_bic_ (with several candidates)."""
    fixed = None if clf.priors is None else clf.priors_
    data = ArrayData(X, sample_weight)
    with blas_on_one_thread():
        try:
            best, bic = _search_new_classes(clf, data, y_index, candidates, fixed)
        except Float32Overflow:
            data = data.astype(np.float64)
            best, bic = _search_new_classes(clf, data, y_index, candidates, fixed)
    if not best.converged and clf.max_iter > 0:
        warnings.warn("EM over the labelled and unlabelled rows did not converge. Increase max_iter or tol.",
                      ConvergenceWarning, stacklevel=3)
    best.repairs.warn(clf.reg_covar, stacklevel=4)
    C = len(clf.mixtures_)
    n_new = len(best.params.mixtures) - C
    clf.classes_ = np.concatenate([clf.classes_.astype(object) if n_new and clf.classes_.dtype.kind not in "iuf"
                                   else clf.classes_, new_labels(clf.classes_, n_new)])
    clf.n_new_classes_ = n_new
    if len(candidates) > 1:
        clf.new_classes_bic_ = bic
    clf.priors_ = np.array(best.params.priors, dtype=np.float64)
    template = clf.mixtures_[0]
    clf.mixtures_ = clf.mixtures_ + [clone(template) for _ in range(n_new)]
    for mixture, params in zip(clf.mixtures_, best.params.mixtures):
        check_finite_model(params)
        mixture.n_components = params.n_components
        mixture._store_parameters(params, data.dtype)
        mixture.n_iter_, mixture.converged_ = best.n_iter, best.converged
        mixture.lower_bound_, mixture.lower_bounds_ = best.lower_bound, best.lower_bounds
        mixture.n_features_in_ = data.n_features
    clf.n_iter_ = np.full(len(clf.mixtures_), best.n_iter)
