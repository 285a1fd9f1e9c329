"""The two values the EM engine passes around: a mixture's parameters and the
sufficient statistics of a pass over data.

Statistics per component k, centred on c_k (the component's mean when the
pass ran) and accumulated in float64 whatever the data's dtype:

    S0_k = sum w r_k,   S1_k = sum w r_k (x - c_k),   S2_k = sum w r_k (x - c_k)(x - c_k)^T

(S2 is its diagonal for 'diag', its trace for 'spherical', summed over the
components for 'tied'). Passes of a Student-t mixture weight S0, S1 and S2 by
each row's latent scale u = (nu + D) / (nu + delta^2) and add two statistics
per component: resp_k = sum w r_k and log_scale_k = sum w r_k (log u - u + 1). Statistics of disjoint row sets about the same
centres add; ``recentred`` moves them exactly onto other centres and
``blend`` mixes two sets (online EM). Every algorithm of emfast (batch EM,
online EM, Dask, k-means) is a pass that yields these, then an M-step.
"""

import dataclasses
from typing import Optional

import numpy as np

from ._native import core

_ADDITIVE = ("s0", "s1", "s2", "loglik", "weight")
_STUDENT = ("resp", "log_scale")  # additive too, where present


def round_to(v, dtype):
    """v rounded to dtype's precision, returned as float64."""
    return np.ascontiguousarray(np.asarray(v, dtype=dtype), dtype=np.float64)


def nearest_zero(points, dtype):
    """The shift of a pass: per column, the entry of `points` (rows) of smallest
    magnitude, rounded to dtype.

    The kernels subtract it from every row and centre in the working type, so
    (x - shift) must not lose what x - centre keeps: a shift no larger than the
    rows' values never does, where a mean that one far row (1e153 among
    N(0, 1) rows) or a far cluster pulls away would round the other rows' spread
    away. A large common offset (1e8 + N(0, 1)) is still removed.
    """
    shift = core.nearest_zero(np.asarray(points, dtype=np.float64))
    return shift if dtype == np.float64 else round_to(shift, dtype)


@dataclasses.dataclass
class Params:
    """A Gaussian mixture laid out as scikit-learn's attributes: float64 while
    fitting (``Params.of``), the fitted attributes' dtype when scoring. With
    ``dofs`` (degrees of freedom per component), a Student-t mixture whose
    covariances are the scale matrices."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    dofs: Optional[np.ndarray] = None

    @classmethod
    def of(cls, weights, means, covariances, precisions_cholesky, dofs=None):
        f64 = lambda a: np.array(a, dtype=np.float64)  # noqa: E731 (copies: ours to modify)
        return cls(f64(weights), f64(means), f64(covariances), f64(precisions_cholesky),
                   None if dofs is None else f64(dofs))

    @property
    def n_components(self):
        return self.means.shape[0]

    def native(self):
        """(log_weights, means, precisions_cholesky) as the kernels take them; the
        logarithm is the C library's, as in the kernels' own EM loop (core.em_run)."""
        log_weights = core.log(np.ascontiguousarray(self.weights, dtype=np.float64))
        return (
            log_weights,
            np.ascontiguousarray(self.means, dtype=np.float64),
            np.ascontiguousarray(self.precisions_cholesky, dtype=np.float64),
        )

    def shift(self, dtype):
        """A point near the data for this model (see nearest_zero): from the means
        of the components of positive weight."""
        means = np.asarray(self.means)[np.asarray(self.weights) > 0]
        return nearest_zero(means if len(means) else self.means, dtype)


@dataclasses.dataclass
class Stats:
    """Sufficient statistics of a pass (see the module docstring)."""

    covariance_type: str
    s0: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    centers: np.ndarray
    loglik: float = 0.0  # sum of w log p(x) (E-step passes)
    weight: float = 0.0  # sum of w
    # the rows with the lowest log p(x) in the pass, ascending (E-step passes)
    worst_value: Optional[np.ndarray] = None
    worst_row: Optional[np.ndarray] = None
    # Student-t passes only (see the module docstring)
    resp: Optional[np.ndarray] = None
    log_scale: Optional[np.ndarray] = None

    @classmethod
    def from_native(cls, d, covariance_type):
        return cls(covariance_type, d["s0"], d["s1"], d["s2"], d["centers"], float(d["loglik"]),
                   float(d["weight"]), d.get("worst_value"), d.get("worst_row"), d.get("resp"),
                   d.get("log_scale"))

    def replaced(self, **changes):
        """dataclasses.replace(self, **changes) without its per-call field
        introspection, which costs more than an online step's arithmetic on small
        statistics (Stats has no __post_init__ to run)."""
        out = object.__new__(type(self))
        out.__dict__.update(vars(self))
        out.__dict__.update(changes)
        return out

    def _additive(self):
        return _ADDITIVE + (_STUDENT if self.resp is not None else ())

    @classmethod
    def of_params(cls, params, covariance_type, weight=1.0):
        """Statistics that the M-step maps back to params (centred on their means)."""
        w = weight * params.weights
        covs = params.covariances
        K, D = params.means.shape
        s2 = {
            "full": lambda: w[:, None, None] * covs,
            "tied": lambda: w.sum() * covs,
            "diag": lambda: w[:, None] * covs,
            "spherical": lambda: w * covs * D,
        }[covariance_type]()
        return cls(covariance_type, w, np.zeros((K, D)), s2, params.means.copy(), 0.0, float(w.sum()))

    def is_finite(self):
        # centres too: a float32 pass rounds a far centre (a means_init of 1e200) to inf
        return np.isfinite(self.loglik) and all(
            np.isfinite(getattr(self, k)).all() for k in self._additive() + ("centers",))

    def __add__(self, other):
        """Statistics of the union of two row sets (same centres)."""
        out = self.replaced(**{k: getattr(self, k) + getattr(other, k) for k in self._additive()})
        a_rows = self.worst_row if self.worst_row is not None else np.empty(0, np.int64)
        b_rows = other.worst_row if other.worst_row is not None else np.empty(0, np.int64)
        if len(a_rows) or len(b_rows):
            values = np.r_[self.worst_value if len(a_rows) else [], other.worst_value if len(b_rows) else []]
            rows = np.r_[a_rows, b_rows].astype(np.int64)
            order = np.lexsort((rows, values))[: max(len(a_rows), len(b_rows))]
            out.worst_value, out.worst_row = values[order], rows[order]
        return out

    def normalised(self):
        """Statistics per unit of sample weight."""
        w = self.weight
        return self.replaced(**{k: getattr(self, k) / w for k in self._additive()})

    def blend(self, new, rho):
        """(1 - rho) self + rho new, for statistics about the same centres."""
        return new.replaced(**{k: (1 - rho) * getattr(self, k) + rho * getattr(new, k) for k in new._additive()})

    def recentred(self, centers):
        """The same statistics about other centres c' (exact).

        With d = c' - c: S1' = S1 - S0 d and S2' = S2 - S1 d^T - d S1^T + S0 d d^T
        (its diagonal for diag, its trace for spherical, summed over components for tied).
        """
        centers = np.asarray(centers, dtype=np.float64)
        d = centers - self.centers
        s0, s1, s2 = self.s0, self.s1, self.s2
        cov = self.covariance_type
        # S0 d d^T as (S0 d) d^T: a component without weight (S0 = 0) moved across
        # the float range (d^2 beyond it) keeps S2 = 0, not NaN
        s0d = s0[:, None] * d
        if cov in ("full", "tied"):
            cross = s1[:, :, None] * d[:, None, :]
            delta = s0d[:, :, None] * d[:, None, :] - cross - np.swapaxes(cross, 1, 2)
            s2 = s2 + (delta if cov == "full" else delta.sum(axis=0))
        elif cov == "diag":
            s2 = s2 - 2 * s1 * d + s0d * d
        else:
            s2 = s2 - 2 * (s1 * d).sum(axis=1) + (s0d * d).sum(axis=1)
        return self.replaced(s1=s1 - s0d, s2=s2, centers=centers)

    def replace_components(self, components, other):
        """These statistics with the given components' taken from other (same centres)."""
        out = {}
        for name in ("s0", "s1") + (_STUDENT if self.resp is not None else ()):
            out[name] = getattr(self, name).copy()
            out[name][components] = getattr(other, name)[components]
        s2 = self.s2.copy()
        if self.covariance_type != "tied":
            s2[components] = other.s2[components]
        return self.replaced(s2=s2, **out)
