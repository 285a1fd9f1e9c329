"""The EM step every emfast mixture shares, and scikit-learn's EM loop.

One step is: a pass over the data (statistics, emfast._data), the M-step
(statistics -> parameters, in C++), then the repairs a degenerate fit needs,
returned as a ``Repairs`` record rather than kept on the estimator. Batch EM
(``GaussianEM``) and online EM (emfast._minibatch) call the same pieces; the
loop over initialisations and iterations (``fit_em``) is scikit-learn's
``BaseMixture.fit_predict``, iteration for iteration.
"""

import dataclasses
import warnings
from time import time

import numpy as np

from ._native import core
from ._stats import Params


class DegenerateComponentWarning(UserWarning):
    """A component had to be repaired during fitting.

    Issued when a covariance matrix was not positive definite (the smallest
    sufficient jitter is added to its diagonal), where scikit-learn raises a
    ``ValueError``, or, with ``reseed_empty=True``, when a component lost all
    its samples (it is re-seeded at the worst-explained samples). The fit goes on and returns a valid
    model; turn the warning into an error with
    ``warnings.simplefilter("error", DegenerateComponentWarning)``.

    See Also
    --------
    GaussianMixture : Its ``reg_covar`` adds regularisation that often makes
        repairs unnecessary.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from emfast import DegenerateComponentWarning, GaussianMixture
    >>> X = np.repeat([[0.0, 1.0], [2.0, 3.0]], 5, axis=0)  # two points, repeated
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gm = GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
    >>> any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
    True
    """


@dataclasses.dataclass
class Repairs:
    """What fitting had to repair: the largest jitter added to a covariance's
    diagonal, and how many times a component was re-seeded."""

    jitter: float = 0.0
    reseeded: int = 0

    def __or__(self, other):
        return Repairs(max(self.jitter, other.jitter), self.reseeded + other.reseeded)

    def warn(self, reg_covar, stacklevel=3):
        if self.reseeded:
            warnings.warn(
                f"{self.reseeded} time(s) a component lost all its samples; "
                "it was re-seeded at the worst-explained samples. Consider fewer components.",
                DegenerateComponentWarning,
                stacklevel=stacklevel,
            )
        if self.jitter > 0:
            warnings.warn(
                f"Covariance matrices were not positive definite with reg_covar={reg_covar}; "
                f"added up to {self.jitter:.3g} to their diagonal. "
                "Increase reg_covar, reduce n_components or check for duplicated or collinear "
                "samples.",
                DegenerateComponentWarning,
                stacklevel=stacklevel,
            )


def m_step(stats, covariance_type, reg_covar, scale, n_samples):
    """(Params, jitter per covariance matrix, empty per component) from statistics.

    A component is empty when its weight is below a hundred-millionth of an
    average sample's. Student-t statistics (with ``resp``) give the ECM's
    scale matrices; the degrees of freedom are left to the caller.
    """
    empty_threshold = 1e-8 * stats.weight / max(n_samples, 1)
    r = core.m_step(stats.s0, stats.s1, stats.s2, stats.centers, covariance_type, float(reg_covar),
                    float(empty_threshold), float(scale), stats.resp)
    params = Params(r["weights"], r["means"], r["covariances"], r["precisions_cholesky"])
    return params, r["jitter"], r["empty"]


def reseed(params, empty, data, worst_rows, covariance_type, scale):
    """Move the empty components onto the worst-explained samples (in place);
    returns the largest jitter their new covariances needed."""
    empty = np.flatnonzero(empty)
    alive = np.ones(len(params.weights), dtype=bool)
    alive[empty] = False
    rows, _ = data.take(worst_rows[: len(empty)])
    weights, covs = params.weights, params.covariances
    pooled = covariance_type != "tied" and alive.any()
    if pooled:
        share = weights[alive] / weights[alive].sum()
        average = np.tensordot(share, covs[alive], axes=1)
    for j, k in enumerate(empty):
        if j < len(rows):
            params.means[k] = rows[j]
        if pooled:
            covs[k] = average
        weights[k] = 1.0 / len(weights)
    weights /= weights.sum()
    covs, prec_chol, jitter = core.precision_cholesky(covs, covariance_type, scale)
    params.covariances, params.precisions_cholesky = covs, prec_chol
    return float(np.max(jitter))


def maximise(stats, *, covariance_type, reg_covar, scale, n_samples, data=None, worst_rows=None):
    """The M-step and its repairs: (Params, Repairs, re-seeded components).

    Given the pass's worst-explained rows (`worst_rows`, with `data`), components
    left without samples are re-seeded there; without, they keep scikit-learn's
    M-step (a weight of about 10 eps, reg_covar on the diagonal).
    """
    params, jitter, empty = m_step(stats, covariance_type, reg_covar, scale, n_samples)
    repairs = Repairs(float(np.max(jitter)))
    reseeded = np.flatnonzero(empty) if worst_rows is not None else np.empty(0, dtype=np.int64)
    if len(reseeded):
        repairs |= Repairs(reseed(params, empty, data, worst_rows, covariance_type, scale), len(reseeded))
    return params, repairs, reseeded


@dataclasses.dataclass
class Step:
    """One EM iteration's outcome."""

    params: Params
    lower_bound: float  # as scikit-learn reports it at this iteration
    repairs: Repairs
    repaired_components: bool = False  # a component was re-seeded: not converged yet


class GaussianEM:
    """Batch EM for the Gaussian mixture: one fused pass and an M-step per iteration
    (re-seeding components that lose their samples if `reseed`)."""

    def __init__(self, covariance_type, reg_covar, scale, n_samples, reseed=False):
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.scale = scale
        self.n_samples = n_samples
        self.reseed = reseed

    def pass_and_maximise(self, data, params):
        """The fused pass from params and the M-step: (statistics, new params,
        repairs, re-seeded components)."""
        stats = data.em_pass(params, self.covariance_type, n_worst=params.n_components if self.reseed else 0)
        new, repairs, reseeded = maximise(
            stats, covariance_type=self.covariance_type, reg_covar=self.reg_covar, scale=self.scale,
            n_samples=self.n_samples, data=data, worst_rows=stats.worst_row if self.reseed else None,
        )
        return stats, new, repairs, reseeded

    def step(self, data, params):
        """(new params, lower bound of the old params) and the repairs made."""
        stats, new, repairs, reseeded = self.pass_and_maximise(data, params)
        return Step(new, stats.loglik / stats.weight, repairs, bool(len(reseeded)))

    def run(self, data, params, max_iter, tol, lower_bound, dtype):
        """fit_em's iterations from params in one call where the data has a native
        loop (without re-seeding): (params, lower bounds of type dtype, converged,
        repairs), or None."""
        out = None if self.reseed else data.run_em(
            params, self.covariance_type, self.reg_covar, self.scale, self.n_samples, max_iter, tol, lower_bound,
            dtype == np.float32)
        if out is None:
            return None
        new = Params(out["weights"], out["means"], out["covariances"], out["precisions_cholesky"])
        lower_bounds = [dtype(b) for b in out["lower_bounds"]]
        return new, lower_bounds, bool(out["converged"]), Repairs(float(out["jitter"]))


@dataclasses.dataclass
class Fit:
    """What fit_em found: the best initialisation's parameters and its history."""

    params: Params
    n_iter: int
    lower_bound: float
    lower_bounds: list
    converged: bool
    repairs: Repairs


def fit_em(estimator, data, model, initial, current, progress=None, dtype=None):
    """scikit-learn's BaseMixture.fit_predict loop over data.

    `model.step(data, params)` makes one iteration; `initial()` gives a new
    initialisation's parameters (and the repairs it needed), `current()` the
    fitted ones (warm start). The lower bounds are of `dtype` (the data's by
    default). Verbose messages as scikit-learn prints them; `progress`
    (emfast._progress.Progress) hears of every iteration. Where nothing is to
    be seen between iterations, a model's `run` (if it has one) makes them all
    at once, with the same results.
    """
    do_init = not (estimator.warm_start and hasattr(estimator, "converged_"))
    n_init = estimator.n_init if do_init else 1
    max_lower_bound = -np.inf
    best = None
    repairs = Repairs()
    # the lower bound in `dtype`, else the model's (if it says), else the data's, as scikit-learn's
    dtype = np.dtype(dtype if dtype is not None else getattr(model, "lower_bound_dtype", data.dtype)).type
    verbose = _Verbose(estimator)
    quiet = verbose.level == 0 and (progress is None or not progress.active)
    run = getattr(model, "run", None) if quiet else None
    for init in range(n_init):
        verbose.init_begin(init)
        if progress is not None:
            progress.init = init
        if do_init:
            params, init_repairs = initial()
            repairs |= init_repairs
        else:
            params = current()
        lower_bound = -np.inf if do_init else estimator.lower_bound_
        if estimator.max_iter == 0:
            best = Fit(params, 0, max_lower_bound, [], False, repairs)
            continue
        result = run(data, params, estimator.max_iter, estimator.tol, lower_bound, dtype) if run else None
        if result is None:
            result = _iterate(estimator, data, model, params, lower_bound, verbose, progress, dtype)
        params, lower_bounds, converged, step_repairs = result
        repairs |= step_repairs
        lower_bound, n_iter = lower_bounds[-1], len(lower_bounds)
        verbose.init_end(lower_bound, converged)
        if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
            max_lower_bound = lower_bound
            best = Fit(params, n_iter, lower_bound, lower_bounds, converged, repairs)
    best.repairs = repairs
    return best


def _iterate(estimator, data, model, params, lower_bound, verbose, progress, dtype):
    """At most max_iter EM iterations from params, until the lower bound changes by
    less than tol: (params, lower bounds of type dtype, converged, repairs)."""
    lower_bounds, repairs = [], Repairs()
    for n_iter in range(1, estimator.max_iter + 1):
        previous = lower_bound
        started = time()
        step = model.step(data, params)
        params, lower_bound = step.params, dtype(step.lower_bound)
        repairs |= step.repairs
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        slow = progress is not None and progress.iteration(n_iter, estimator.max_iter, lower_bound, time() - started)
        verbose.iteration_end(n_iter, change, force=slow)
        if abs(change) < estimator.tol and not step.repaired_components:
            return params, lower_bounds, True, repairs
    return params, lower_bounds, False, repairs


class _Verbose:
    """scikit-learn's verbose messages of BaseMixture."""

    def __init__(self, estimator):
        self.level = estimator.verbose
        self.interval = getattr(estimator, "verbose_interval", 10)

    def init_begin(self, n_init):
        if self.level >= 1:
            print("Initialization %d" % n_init)
        if self.level >= 2:
            self.init_time = self.iter_time = time()

    def iteration_end(self, n_iter, diff_ll, force=False):
        if n_iter % self.interval == 0 or force:
            if self.level == 1:
                print("  Iteration %d" % n_iter)
            elif self.level >= 2:
                now = time()
                print("  Iteration %d\t time lapse %.5fs\t ll change %.5f" % (n_iter, now - self.iter_time, diff_ll))
                self.iter_time = now

    def init_end(self, lower_bound, converged):
        msg = "converged" if converged else "did not converge"
        if self.level == 1:
            print(f"Initialization {msg}.")
        elif self.level >= 2:
            t = time() - self.init_time
            print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {lower_bound:.5f}.")
