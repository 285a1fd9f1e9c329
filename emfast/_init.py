"""Initial parameters of a mixture, computed as scikit-learn computes them.

The initial responsibilities (k-means labels, random ones, one sample per
component) become statistics in a pass, and the M-step turns those into the
initial mixture; weights_init, means_init and precisions_init replace what
they give.
"""

import numpy as np

from ._data import ArrayData
from ._em import m_step
from ._kmeans import kmeans_labels, kmeans_plusplus, kmeans_sample_stats
from ._native import core
from ._stats import Params, nearest_zero

_EPS10 = core.WEIGHT_EPS  # added to every component's weight, as scikit-learn does


def stats_from_assignment(data, covariance_type, n_components, labels=None, resp=None, random_state=None):
    """Statistics for fixed responsibilities, centred on the resulting means.

    Responsibilities are hard `labels`, soft `resp`, or (with random_state)
    scikit-learn's random ones, drawn chunk by chunk. Two passes: the first
    (centred on a point near the data) gives the means, the second centres the
    second-order statistics on them, so that no large common offset cancels.
    """
    shift = data.shift
    centers = np.repeat(shift[np.newaxis], n_components, axis=0)

    def fixed(centers, shift):
        if random_state is None:
            return data.fixed_pass(centers, covariance_type, shift, labels=labels, resp=resp)
        # the same draws in both passes; the second leaves random_state where
        # scikit-learn's one (n_samples, K) draw would
        random_state.set_state(draws)
        return data.random_resp_pass(random_state, n_components, centers, covariance_type, shift)

    if random_state is not None:
        draws = random_state.get_state()
    first = fixed(centers, shift)
    nk = first.s0 + _EPS10
    means = first.centers + first.s1 / nk[:, None]
    return fixed(means, nearest_zero(means, data.dtype))


def _one_sample_per_component(data, n_components, init_params, random_state):
    """The rows that init_params 'random_from_data' or 'k-means++' start from."""
    K = n_components
    if init_params == "k-means++":  # scikit-learn's kmeans_plusplus on X as it is
        return kmeans_plusplus(data, K, random_state, np.zeros(data.n_features))
    sw = data.sample_weight
    p = None if sw is None else sw / sw.sum()
    if p is not None and np.count_nonzero(p) < K:
        # fewer weighted rows than components: every weighted row, then rows of
        # weight 0 (numpy's choice would refuse)
        weighted = random_state.permutation(np.flatnonzero(p))
        rest = random_state.choice(np.flatnonzero(p == 0), size=K - len(weighted), replace=False)
        return np.concatenate([weighted, rest])
    return random_state.choice(data.n_samples, size=K, replace=False, p=p)


def params_from_precisions(precisions, covariance_type):
    """(precisions_cholesky, covariances) from user precisions, in float64."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        mats = precisions if covariance_type == "full" else precisions[None]
        # upper-triangular P with P P^T = precision: Cholesky of the reversed matrix, reversed
        chol = np.stack([np.linalg.cholesky(m[::-1, ::-1])[::-1, ::-1] for m in mats])
        covs = np.linalg.inv(mats)
        covs = (covs + np.swapaxes(covs, 1, 2)) / 2
        if covariance_type == "tied":
            chol, covs = chol[0], covs[0]
        return np.ascontiguousarray(chol), np.ascontiguousarray(covs)
    return np.sqrt(precisions), 1.0 / precisions


def initial_stats(data, *, n_components, covariance_type, init_params, random_state, scale):
    """Statistics of the initial responsibilities that init_params gives, as
    scikit-learn's BaseMixture._initialize_parameters makes them: k-means labels
    ('kmeans', scikit-learn's KMeans), random responsibilities ('random'), or one
    sample per component ('random_from_data', 'k-means++'), drawing the same random
    numbers as scikit-learn; or emfast's k-means on a sample ('kmeans_sample')."""
    K, cov = n_components, covariance_type
    if init_params == "kmeans":
        return stats_from_assignment(data, cov, K, labels=kmeans_labels(data, K, random_state))
    if init_params == "kmeans_sample":
        return kmeans_sample_stats(data, K, cov, random_state, scale)
    if init_params == "random":
        return stats_from_assignment(data, cov, K, random_state=random_state)
    indices = _one_sample_per_component(data, K, init_params, random_state)
    # one sample per component: only those rows carry statistics
    rows, sw = data.take(indices)
    picked = ArrayData(np.ascontiguousarray(rows, dtype=data.dtype), sw)
    return stats_from_assignment(picked, cov, K, labels=np.arange(K, dtype=np.int32))


def _tied_from_one_sample_per_component(data, stats, means, reg_covar, scale):
    """scikit-learn's initial tied covariance when one sample starts each component:
    its tied M-step, sum x x^T over all rows minus sum_k n_k m_k m_k^T over sum n_k,
    assumes every row's responsibilities sum to one, and so counts every row."""
    nk = stats.s0 + _EPS10
    cov = (data.second_moment() - np.einsum("k,ki,kj->ij", nk, means, means)) / nk.sum()
    # where the difference cancels (all weight on the chosen rows) it is rounding
    # noise, which the two triangles round differently (scikit-learn's too): the
    # lower one, which the Cholesky factor reads, mirrored
    cov = np.tril(cov) + np.tril(cov, -1).T
    cov.flat[:: len(cov) + 1] += reg_covar
    cov, prec_chol, jitter = core.precision_cholesky(cov, "tied", scale)
    return cov, prec_chol, float(np.max(jitter))


def initial_model(stats, data, covariance_type, reg_covar, scale, one_sample_per_component=False):
    """(Params, largest jitter) of initial statistics: the M-step as scikit-learn
    makes it at initialisation (weights n_k / n, which sum to K / n when one sample
    starts each component, and then its tied covariance)."""
    fitted, jitters, _ = m_step(stats, covariance_type, reg_covar, scale, data.n_samples)
    jitter = float(np.max(jitters))
    fitted.weights = (stats.s0 + _EPS10) / data.total_weight()
    if (data.dtype == np.float32 or data.sample_weight is not None) and not one_sample_per_component:
        # a float32 pass sums S0 to float32's precision, and the 10 eps per component
        # are not rounding next to a total weight of 1e-9: the weights' total, not
        # n, makes them sum to 1 (where n would, the two agree to rounding)
        fitted.weights = fitted.weights / fitted.weights.sum()
    if covariance_type == "tied" and one_sample_per_component:
        fitted.covariances, fitted.precisions_cholesky, jitter = _tied_from_one_sample_per_component(
            data, stats, fitted.means, reg_covar, scale)
    return fitted, jitter


def initial_parameters(data, *, n_components, covariance_type, init_params, reg_covar, random_state, inits,
                       scale):
    """(initial Params of a Gaussian mixture, largest jitter its covariances needed):
    the M-step of initial_stats, with weights_init, means_init and precisions_init
    (the validated `inits`) in place of what they give."""
    weights_init, means_init, precisions_init = inits
    fitted, jitter = None, 0.0
    if weights_init is None or means_init is None or precisions_init is None:
        stats = initial_stats(data, n_components=n_components, covariance_type=covariance_type,
                              init_params=init_params, random_state=random_state, scale=scale)
        fitted, jitter = initial_model(stats, data, covariance_type, reg_covar, scale,
                                       init_params in ("k-means++", "random_from_data"))

    weights = fitted.weights if weights_init is None else weights_init
    means = fitted.means if means_init is None else means_init
    if precisions_init is None:
        covs, prec_chol = fitted.covariances, fitted.precisions_cholesky
    else:
        prec_chol, covs = params_from_precisions(precisions_init, covariance_type)
    return Params.of(weights, means, covs, prec_chol), jitter
