"""Scores for samples whose distances overflow: the limit, computed without overflow.

The kernels flag a sample so far from every component that its squared
Mahalanobis distances overflow (NaN responsibilities, a non-finite
log-likelihood, label -1); fix_overflowed recomputes those rows here, the
responsibility going to the component of largest log-density, as in the limit.
"""

import numpy as np

from ._native import core


def _factor(pc, covariance_type, k, D):
    """P_k as a dense D x D matrix (precision = P_k P_k^T)."""
    if covariance_type == "full":
        return pc[k]
    if covariance_type == "tied":
        return pc
    if covariance_type == "diag":
        return np.diag(pc[k])
    return np.eye(D) * pc[k]


def overflow_rows(X, params, covariance_type, what):
    """`what` for rows of X that the kernels could not score, without overflow.

    Distances come from log ||(x - m_k) P_k||^2, computed from halved, rescaled
    differences (finite for any finite x). Responsibilities come from the
    differences of the log-densities, expanded about the nearest component's
    mean o: with z = x - o = s u,
        L_k = a_k s^2 + b_k s + c_k,   a_k = -||u P_k||^2 / 2,  b_k = -(u P_k).((o - m_k) P_k),
        c_k = log pi_k + log det P_k - D/2 log 2 pi - ||(o - m_k) P_k||^2 / 2,
    and L_k - L_j is evaluated coefficient by coefficient. Components with the
    same precision (tied) have equal a_k, so their linear terms decide, exactly,
    however far x is (the direct formula loses them beyond float64 resolution).
    Student-t components (params.dofs) need only the logarithms of the distances:
    see student_rows.
    """
    X = np.asarray(X, dtype=np.float64)
    log_weights = params.native()[0]  # the kernels' (a variational mixture's are not log weights_)
    means = np.asarray(params.means, dtype=np.float64)
    pc = np.asarray(params.precisions_cholesky, dtype=np.float64)
    n, D = X.shape
    K = means.shape[0]
    rows = np.arange(n)
    factors = [_factor(pc, covariance_type, k, D) for k in range(K)]
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        cst = np.array(
            [
                log_weights[k] + np.sum(np.log(np.abs(np.diag(factors[k]))))
                - D * core.HALF_LOG_2PI
                for k in range(K)
            ]
        )
        log_maha = np.empty((n, K))
        for k, P in enumerate(factors):
            diff = X * 0.5 - means[k] * 0.5  # halved: cannot overflow
            r = np.max(np.abs(diff), axis=1)
            p = np.max(np.abs(P))
            y = (diff / np.where(r > 0, r, 1.0)[:, None]) @ (P / p)
            log_maha[:, k] = 2 * (np.log(r) + np.log(2.0) + np.log(p)) + np.log(np.sum(y * y, axis=1))
        maha = np.exp(log_maha)
        if what == "mahalanobis":
            return maha
        if params.dofs is not None:
            log_det = np.array([np.sum(np.log(np.diag(P))) for P in factors])
            return student_rows(log_maha, log_weights + log_det, params.dofs, D, what)
        o = means[np.argmin(log_maha, axis=1)]
        diff = X * 0.5 - o * 0.5  # z / 2: finite, where z = x - o may not be
        h = np.max(np.abs(diff), axis=1)  # s / 2
        h = np.where(h > 0, h, 1.0)
        U = diff / h[:, None]
        a, b, c = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        for k, P in enumerate(factors):
            yu, yo = U @ P, (o - means[k]) @ P
            a[:, k] = -0.5 * np.sum(yu * yu, axis=1)
            b[:, k] = -np.sum(yu * yo, axis=1)
            c[:, k] = cst[k] - 0.5 * np.sum(yo * yo, axis=1)
        top = np.lexsort((c, b, a), axis=1)[:, -1]  # the largest L_k for large s
        at, bt, ct = (v[rows, top][:, None] for v in (a, b, c))
        hc = h[:, None]
        # L_k - L_top = (a_k - a_top) s^2 + (b_k - b_top) s + (c_k - c_top), s = 2 h
        delta = hc * (hc * (4 * (a - at)) + 2 * (b - bt)) + (c - ct)
        delta[rows, top] = 0.0
        most = np.max(delta, axis=1, keepdims=True)
        e = np.exp(delta - most)
        total = e.sum(axis=1)
        if what == "proba":
            return e / total[:, None]
        if what == "predict":
            return np.argmax(e, axis=1)
        # log p(x) = L_top + log sum_k exp(L_k - L_top)
        L_top = cst[top] - 0.5 * maha[rows, top]
        return L_top + most[:, 0] + np.log(total)


def student_rows(log_maha, log_weight_det, dofs, D, what):
    """`what` from the log squared distances of Student-t components, with
    log_weight_det_k = log pi_k + log det P_k: the log-densities
    L_k = c_k - (nu_k + D) / 2 log(1 + d^2 / nu_k), finite for any finite log d^2."""
    from scipy.special import gammaln, logsumexp

    nu = np.asarray(dofs, dtype=np.float64)
    c = log_weight_det + gammaln((nu + D) / 2) - gammaln(nu / 2) - D / 2 * np.log(nu * np.pi)
    L = c - (nu + D) / 2 * np.logaddexp(0.0, log_maha - np.log(nu))
    if what == "predict":
        return np.argmax(L, axis=1)
    lse = logsumexp(L, axis=1)
    return lse if what == "log_prob_norm" else np.exp(L - lse[:, None])


def fix_overflowed(X, out, params, covariance_type, what):
    """The kernels' output `out` of a scoring pass over X, with the rows they flagged
    (distances beyond the float range) recomputed by overflow_rows."""
    if what == "predict":
        bad = out < 0
    elif what == "log_prob_norm":
        bad = ~np.isfinite(out)
    elif what == "proba":
        bad = np.isnan(out[:, 0])  # a row with a NaN is NaN throughout
    elif what == "mahalanobis":
        if not np.isnan(out.sum()):  # distances are >= 0: only a NaN makes the sum NaN
            return out
        bad = np.isnan(out).any(axis=1)
    else:
        return out
    if bad.any():
        rows = np.flatnonzero(bad)
        with np.errstate(over="ignore"):  # into float32: beyond its range is +-inf
            out[rows] = overflow_rows(X[rows], params, covariance_type, what)
    return out
