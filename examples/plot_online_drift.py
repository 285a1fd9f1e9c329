"""
Online EM on a drifting stream
==============================

A stream of mini-batches from two clusters: one stays put, the other drifts from
left to right. :class:`~emfast.MiniBatchGaussianMixture` makes one ``partial_fit``
step per mini-batch, with step size rho_t = (learning_offset + t) ** -learning_decay.
A smaller ``learning_decay`` forgets old mini-batches faster and follows the drift
closely (below 0.5 the steps shrink too slowly to converge on a stationary stream,
which is what a drifting one needs); ``learning_decay=1.0`` averages over the whole
past and falls behind. A batch model fitted on the first mini-batches stays where
the cluster was.
"""

import matplotlib.pyplot as plt
import numpy as np

from emfast import GaussianMixture, MiniBatchGaussianMixture

rng = np.random.default_rng(0)
n_steps, batch = 300, 256
fixed = np.array([0.0, 5.0])
drifting = np.c_[np.linspace(-6.0, 6.0, n_steps), np.zeros(n_steps)]  # its centre at step t


def mini_batch(t):
    which = rng.random(batch) < 0.5
    centres = np.where(which[:, None], drifting[t], fixed)
    return centres + 0.8 * rng.standard_normal((batch, 2))


stream = [mini_batch(t) for t in range(n_steps)]
decays = (0.3, 0.6, 1.0)
models = [MiniBatchGaussianMixture(2, learning_decay=kappa, random_state=0) for kappa in decays]
static = GaussianMixture(2, random_state=0).fit(np.vstack(stream[:10]))

track = np.empty((len(models), n_steps, 2))  # the mean of the drifting component
for t, Xb in enumerate(stream):
    for m, model in enumerate(models):
        model.partial_fit(Xb)
        track[m, t] = model.means_[np.argmax(np.linalg.norm(model.means_ - fixed, axis=1))]

fig, (ax, xs) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
points = np.vstack(stream[::5])
ax.scatter(*points.T, s=2, c=np.repeat(np.arange(0, n_steps, 5), batch), cmap="Greys", alpha=0.5)
ax.plot(*drifting.T, "k--", lw=1.5, label="true centre of the drifting cluster")
for m, kappa in enumerate(decays):
    ax.plot(*track[m].T, lw=2, label=f"learning_decay={kappa}")
ax.plot(*static.means_.T, "s", color="C3", ms=9, label="batch fit on the first 10 mini-batches")
ax.set(title="The stream (darker: later) and the estimated means", aspect="equal")
ax.legend(loc="upper left", fontsize="small")

xs.plot(drifting[:, 0], "k--", lw=1.5, label="truth")
for m, kappa in enumerate(decays):
    xs.plot(track[m, :, 0], lw=2, label=f"learning_decay={kappa}")
xs.axhline(static.means_[np.argmax(np.linalg.norm(static.means_ - fixed, axis=1)), 0],
           color="C3", lw=1.5, label="batch fit on the first 10")
xs.set(title="Horizontal position of the drifting mean", xlabel="mini-batch t", ylabel="x")
xs.legend(fontsize="small")
for m, kappa in enumerate(decays):
    lag = np.abs(track[m, -50:, 0] - drifting[-50:, 0]).mean()
    print(f"learning_decay={kappa}: mean distance over the last 50 mini-batches {lag:.2f}")
plt.show()
