"""
Covariance types, drawn as ellipses
===================================

The same data — three clusters of different shapes and orientations — fitted with
each ``covariance_type``. Each component is drawn as the ellipses at one and two
standard deviations of its covariance; the title gives the model's BIC (lower is
better), which picks ``'full'`` here, the only type that can follow the clusters'
orientations.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from emfast import GaussianMixture

rng = np.random.default_rng(0)
shapes = [np.array([[2.0, 0.0], [1.2, 0.4]]), np.array([[0.5, 0.0], [0.0, 0.5]]),
          np.array([[0.3, -1.5], [0.6, 0.2]])]
centres = [(0.0, 0.0), (5.0, 4.0), (6.0, -2.0)]
X = np.vstack([rng.standard_normal((600, 2)) @ A + c for A, c in zip(shapes, centres)])


def full_covariances(gm):
    """Each component's (2, 2) covariance, whatever the covariance type."""
    n, d = gm.means_.shape
    if gm.covariance_type == "full":
        return gm.covariances_
    if gm.covariance_type == "tied":
        return np.broadcast_to(gm.covariances_, (n, d, d))
    if gm.covariance_type == "diag":
        return np.array([np.diag(c) for c in gm.covariances_])
    return gm.covariances_[:, None, None] * np.eye(d)


def draw_ellipses(ax, gm, colors):
    for mean, cov, color in zip(gm.means_, full_covariances(gm), colors):
        values, vectors = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
        for n_std in (1, 2):
            width, height = 2 * n_std * np.sqrt(values[::-1])
            ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False,
                                 color=color, lw=2 if n_std == 1 else 1))


colors = plt.cm.tab10.colors
fig, axes = plt.subplots(2, 2, figsize=(9, 8), sharex=True, sharey=True, layout="constrained")
for ax, cov in zip(axes.flat, ("full", "tied", "diag", "spherical")):
    gm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    labels = gm.predict(X)
    ax.scatter(X[:, 0], X[:, 1], s=3, c=[colors[k] for k in labels], alpha=0.4)
    draw_ellipses(ax, gm, colors)
    ax.set_title(f"{cov!r}: BIC {gm.bic(X):.0f}")
    ax.set_aspect("equal")
fig.suptitle("GaussianMixture(3, covariance_type=...)")
plt.show()
