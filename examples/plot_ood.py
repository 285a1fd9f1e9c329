"""
Out-of-distribution scores and ROC curves
=========================================

A :class:`~emfast.GaussianMixtureClassifier` trained on the handwritten digits 0–4
(half of them; the other half is held out) scores unseen digits 0–4
(in-distribution) and the digits 5–9, which it never saw (out-of-distribution).
Both scores separate the two groups; the log-likelihood does better here.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score, roc_curve

from emfast import GaussianMixtureClassifier

X, y = load_digits(return_X_y=True)
known = np.flatnonzero(y < 5)
rng = np.random.default_rng(0)
rng.shuffle(known)
train, held_out = known[::2], known[1::2]
unseen = np.flatnonzero(y >= 5)

clf = GaussianMixtureClassifier(3, covariance_type="full", reg_covar=1.0, random_state=0)
clf.fit(X[train], y[train])
print(f"accuracy on held-out digits 0-4: {clf.score(X[held_out], y[held_out]):.4f}")

scores = {
    "-score_samples (negative log-likelihood)": lambda Z: -clf.score_samples(Z),
    "mahalanobis_score": clf.mahalanobis_score,
}
is_ood = np.r_[np.zeros(len(held_out)), np.ones(len(unseen))]

fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
for ax, (name, score) in zip(axes[:2], scores.items()):
    s_in, s_out = score(X[held_out]), score(X[unseen])
    bins = np.histogram_bin_edges(np.r_[s_in, s_out], bins=50)
    ax.hist(s_in, bins=bins, alpha=0.6, density=True, label="digits 0–4 (held out)")
    ax.hist(s_out, bins=bins, alpha=0.6, density=True, label="digits 5–9 (unseen)")
    ax.set(title=name, xlabel="score (higher: more out-of-distribution)", ylabel="density")
    ax.legend()
    fpr, tpr, _ = roc_curve(is_ood, np.r_[s_in, s_out])
    auc = roc_auc_score(is_ood, np.r_[s_in, s_out])
    axes[2].plot(fpr, tpr, label=f"{name.split(' ')[0]}: AUROC {auc:.4f}")
axes[2].plot([0, 1], [0, 1], ":", color="grey")
axes[2].set(title="ROC, unseen digits as positives", xlabel="false positive rate",
            ylabel="true positive rate")
axes[2].legend(loc="lower right")
plt.show()
