"""The model search behind GaussianMixtureIC: chains of mixtures grown by splits.

For each covariance type, a chain of fits K = min_components, ..., max_components:

- the first K starts from init_params' initialisations, drawn as
  GaussianMixture(K, covariance_type, random_state=...).fit draws them; the
  k-means labels are computed once and shared by every covariance type;
- each next K starts from the previous model with one component split in two
  (``split_initial``), so it needs no k-means of its own and its EM starts
  close to a fixed point;
- every candidate is then fitted by GaussianMixture's EM (emfast._em.fit_em),
  from that initial model, with the same tol, max_iter and reg_covar.

The chains are independent: they run side by side in Python threads, each
pass with its share of the threads (the kernels release the GIL).
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._data import ArrayData
from ._em import GaussianEM, Repairs, fit_em
from ._gaussian_mixture import GaussianMixture
from ._init import initial_model, initial_stats, params_from_precisions, stats_from_assignment
from ._kmeans import kmeans_labels
from ._native import core
from ._stats import Params
from ._validation import check_finite_model

# the two halves of a Gaussian cut through its mean have their means sqrt(2 / pi)
# standard deviations away from it, and 1 - 2 / pi of its variance
_HALF = 2.0 / math.pi
# the size of X (values) from which n_jobs=None searches covariance types side by side
THREADED_MIN_VALUES = 20_000


def shared_initials(data, n_components, covariance_types, settings, random_state, scale):
    """{covariance type: [(Params, Repairs)] * n_init}: the initial models of
    GaussianMixture(n_components, covariance_type).fit for each type, from the
    same random draws; k-means runs once per initialisation for all types."""
    out = {cov: [] for cov in covariance_types}
    for _ in range(settings["n_init"]):
        state = random_state.get_state()
        labels = None
        if settings["init_params"] == "kmeans":
            labels = kmeans_labels(data, n_components, random_state)
        for cov in covariance_types:
            if labels is not None:
                stats = stats_from_assignment(data, cov, n_components, labels=labels)
            else:  # the same draws for every type; cheap initialisations are redone
                random_state.set_state(state)
                stats = initial_stats(data, n_components=n_components, covariance_type=cov,
                                      init_params=settings["init_params"], random_state=random_state, scale=scale)
            params, jitter = initial_model(stats, data, cov, settings["reg_covar"], scale,
                                           settings["init_params"] in ("k-means++", "random_from_data"))
            out[cov].append((params, Repairs(jitter)))
    return out


def fit_candidate(gm, data, scale, initials):
    """Fit GaussianMixture gm on data from `initials` (a list of (Params, Repairs),
    one per initialisation): its `_fit_data` without the warnings, which the
    search gives once, for the model it selects. Returns (gm, the repairs made)."""
    initial = iter(initials).__next__
    model = GaussianEM(gm.covariance_type, gm.reg_covar, scale, data.n_samples)
    best = fit_em(gm, data, model, initial, None)
    check_finite_model(best.params)
    gm._store_parameters(best.params, data.dtype)
    gm.converged_ = best.converged
    gm.n_iter_, gm.lower_bound_, gm.lower_bounds_ = best.n_iter, best.lower_bound, best.lower_bounds
    return gm, best.repairs


# ----------------------------------------------------------------- splits


def evaluate(gm, data):
    """(sum of w log p(x), scatter) from one E-step pass of fitted gm: scatter[k]
    is the covariance of the rows component k is responsible for
    (responsibility-weighted, about their mean), a (D, D) matrix for 'full' and
    'tied', its diagonal for 'diag' and 'spherical' (the pass then costs what
    one of their own EM iterations costs)."""
    K, D = gm.means_.shape
    pc = np.asarray(gm.precisions_cholesky_, dtype=np.float64)
    form = "full" if gm.covariance_type in ("full", "tied") else "diag"
    factors = {
        "full": lambda: pc,
        "tied": lambda: np.broadcast_to(pc, (K, D, D)),
        "diag": lambda: pc,
        "spherical": lambda: np.repeat(pc[:, None], D, axis=1),
    }[gm.covariance_type]()
    stats = data.em_pass(Params.of(gm.weights_, gm.means_, factors, factors), form)  # covariances unused
    s0 = np.maximum(stats.s0, np.finfo(np.float64).tiny)
    stats = stats.recentred(stats.centers + stats.s1 / s0[:, None])
    return stats.loglik, stats.s2 / (s0[:, None, None] if form == "full" else s0[:, None])


def _principal_axis(S):
    """(largest variance lambda, its unit direction v) of a covariance or its diagonal."""
    if S.ndim == 1:
        i = int(np.argmax(S))
        return max(float(S[i]), 0.0), np.eye(len(S))[i]
    eigenvalues, eigenvectors = np.linalg.eigh(S)
    return max(float(eigenvalues[-1]), 0.0), eigenvectors[:, -1]


def split_order(weights, scatter):
    """Components by decreasing weight x volume, w_k sqrt(det S_k) (the order
    their splits are tried in); components of no volume last, heaviest first."""
    if scatter.ndim == 3:
        sign, logdet = np.linalg.slogdet(scatter)
    else:
        sign = np.where((scatter > 0).all(axis=1), 1.0, 0.0)
        logdet = np.log(np.where(scatter > 0, scatter, 1.0)).sum(axis=1)
    with np.errstate(divide="ignore"):
        size = np.where(sign > 0, np.log(weights) + 0.5 * logdet, -np.inf)
    return np.lexsort((-weights, -size))


def split_initial(gm, scatter, k, scale):
    """(weights, means, precisions, jitter) of gm with component k replaced by
    the two halves of a cut through its mean across its principal axis
    (eigenvalue lambda, direction v; for 'diag' and 'spherical' the axis of
    largest variance): means mu_k +- sqrt(2 lambda / pi) v, covariance
    S_k - (2 lambda / pi) v v^T with reg_covar added, in the form of the
    covariance type ('tied': the shared covariance less w_k (2 lambda / pi) v v^T,
    that of the halves pooled), half the weight each. The second half is
    appended. A covariance that is not positive definite (reg_covar=0 on
    degenerate data) gets the engine's smallest sufficient jitter."""
    cov = gm.covariance_type
    S = scatter[k]
    lam, v = _principal_axis(S)
    offset = math.sqrt(_HALF * lam) * v
    cut = np.outer(v, v) if S.ndim == 2 else v
    half = S - _HALF * lam * cut + gm.reg_covar * (np.eye(len(v)) if S.ndim == 2 else 1.0)
    weights = np.append(np.asarray(gm.weights_, dtype=np.float64), 0.0)
    weights[k] = weights[-1] = weights[k] / 2
    means = np.vstack([gm.means_, gm.means_[k] + offset]).astype(np.float64)
    means[k] -= offset
    covariances = np.array(gm.covariances_, dtype=np.float64)
    if cov == "tied":  # the pooled covariance of the halves: k's share along v taken out
        covariances -= gm.weights_[k] * _HALF * lam * cut
    else:
        part = half.mean() if cov == "spherical" else half
        covariances = np.concatenate([covariances, [part]])
        covariances[k] = part
    _, chol, jitter = core.precision_cholesky(covariances, cov, scale)
    precisions = {
        "full": lambda: np.matmul(chol, np.swapaxes(chol, 1, 2)),
        "tied": lambda: chol @ chol.T,
    }.get(cov, lambda: chol**2)()
    return weights, means, precisions, float(np.max(jitter))


# ----------------------------------------------------------------- chains


class Chain:
    """The fits of one covariance type for K = ks[0], ks[1], ... (see the module
    docstring); `settings` are GaussianMixture's parameters."""

    def __init__(self, covariance_type, ks, settings):
        self.covariance_type, self.ks, self.settings = covariance_type, ks, settings

    def mixture(self, n_components, **changes):
        return GaussianMixture(n_components, covariance_type=self.covariance_type, **{**self.settings, **changes})

    def run(self, data, scale, initials):
        """[(fitted GaussianMixture, repairs, sum of w log p(x))] for every K."""
        gm, repairs = fit_candidate(self.mixture(self.ks[0]), data, scale, initials)
        loglik, scatter = evaluate(gm, data)
        out = [(gm, repairs, loglik)]
        for K in self.ks[1:]:
            gm, repairs = self.grow(gm, scatter, data, scale, K)
            loglik, scatter = evaluate(gm, data)
            out.append((gm, repairs, loglik))
        return out

    def grow(self, gm, scatter, data, scale, K):
        """The best of the n_init splits of gm (the largest components first)."""
        best = None
        for k in split_order(np.asarray(gm.weights_, dtype=np.float64), scatter)[: self.settings["n_init"]]:
            w, m, p, jitter = split_initial(gm, scatter, k, scale)
            grown = self.mixture(K, weights_init=w, means_init=m, precisions_init=p, n_init=1)
            # the initial model GaussianMixture makes of these *_init (they need no validation)
            prec_chol, covariances = params_from_precisions(p, self.covariance_type)
            start = Params.of(w, m, covariances, prec_chol)
            grown, repairs = fit_candidate(grown, data, scale, [(start, Repairs(jitter))])
            if best is None or grown.lower_bound_ > best[0].lower_bound_:
                best = (grown, repairs)
        return best


def run_chains(chains, data, scale, initials, n_jobs):
    """Every chain's results, with up to n_jobs chains at once; the kernels' threads
    are shared out between them (results do not depend on how). By default
    (n_jobs None) small data is searched one chain at a time: its passes take
    microseconds and Python's own work, which threads do not share, dominates."""
    total_threads = max(core.max_threads(), 1)
    if n_jobs is None:
        n_jobs = total_threads if data.n_samples * data.n_features >= THREADED_MIN_VALUES else 1
    at_once = min(len(chains), n_jobs)
    if at_once <= 1 or not isinstance(data, ArrayData):
        return [c.run(data, scale, initials[c.covariance_type]) for c in chains]
    part = data.with_threads(max(1, total_threads // at_once))
    with ThreadPoolExecutor(at_once) as pool:
        futures = [pool.submit(c.run, part, scale, initials[c.covariance_type]) for c in chains]
        return [f.result() for f in futures]
