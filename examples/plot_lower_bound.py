"""
The lower bound, iteration by iteration
========================================

EM never decreases the lower bound (the mean log-likelihood of the training data).
Left: from the same initialisation, emfast's curve is scikit-learn's, point for
point. Right: different initialisations climb to different local maxima, which is
why ``n_init`` keeps the best of several starts.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emfast import GaussianMixture

rng = np.random.default_rng(1)
centres = rng.normal(scale=4.0, size=(8, 5))
X = np.vstack([c + rng.standard_normal((800, 5)) @ rng.normal(size=(5, 5)) / 2 for c in centres])

params = dict(n_components=8, init_params="random", max_iter=40, tol=1e-6, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    em = GaussianMixture(**params).fit(X)
    sk = SkGaussianMixture(**params).fit(X)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
left.plot(np.arange(1, len(sk.lower_bounds_) + 1), sk.lower_bounds_, "o", ms=7,
          mfc="none", label="scikit-learn")
left.plot(np.arange(1, len(em.lower_bounds_) + 1), em.lower_bounds_, ".-", label="emfast")
left.set(xlabel="EM iteration", ylabel="lower bound (mean log-likelihood)",
         title="Same initialisation (init_params='random')")
left.legend()

finals = []
for seed in range(6):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(8, init_params="random_from_data", max_iter=40, tol=1e-6,
                             random_state=seed).fit(X)
    # from the third iteration: the first ones start far below (one row per component)
    right.plot(np.arange(3, gm.n_iter_ + 1), gm.lower_bounds_[2:],
               label=f"random_state={seed}: {gm.lower_bound_:.3f}")
    finals.append(gm.lower_bound_)
right.set(xlabel="EM iteration", title="Six initialisations (init_params='random_from_data')",
          ylim=(min(finals) - 0.5, max(finals) + 0.1))
right.legend(fontsize="small", title="final lower bound")

print(f"largest difference between the two curves: "
      f"{np.max(np.abs(np.array(em.lower_bounds_) - np.array(sk.lower_bounds_))):.2e}")
plt.show()
