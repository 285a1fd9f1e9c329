"""
Label proportions: marginals against the hidden labels
======================================================

2000 rows come in 40 bags of 50; only each bag's number of positives is known.
:class:`~emfast.BeliefPropagationLabeler` combines those counts with the rows'
nearest-neighbour graph and gives each row a marginal P(y = 1). Left: the
marginals of the rows whose hidden label is 0 and 1. Middle: each bag's mean
marginal equals its known proportion. Right: ranking rows by their marginal beats
ranking them by their bag's proportion (the best one can do without the features).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from emfast import BeliefPropagationLabeler

# Features from 4 latent factors, labels from a logistic model on them, and bags
# formed by sorting the rows on a noisy copy of the label score, so that the
# bags' proportions vary.
rng = np.random.default_rng(0)
n, n_features, bag_size = 2000, 20, 50
Z = rng.standard_normal((n, 4))
X = Z @ rng.standard_normal((4, n_features)) / np.sqrt(n_features)
X += 0.02 * rng.standard_normal((n, n_features))
w = rng.standard_normal(4)
score = Z @ w / np.linalg.norm(w)
y = (rng.random(n) < 1.0 / (1.0 + np.exp(-10.0 * score))).astype(int)  # hidden
bags = np.empty(n, dtype=int)
bags[np.argsort(score + rng.standard_normal(n))] = np.arange(n) // bag_size
bag_counts = np.bincount(bags, weights=y)  # all that is known of y
proportions = bag_counts / np.bincount(bags)

labeler = BeliefPropagationLabeler(n_neighbors=5).fit(X, bags=bags, bag_counts=bag_counts)
marginals = labeler.marginals_
print(f"sweeps: {labeler.n_iter_}, pseudo-labels right: {(labeler.labels_ == y).mean():.3f}")

fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
bins = np.linspace(0, 1, 26)
axes[0].hist(marginals[y == 0], bins=bins, alpha=0.6, label="hidden label 0")
axes[0].hist(marginals[y == 1], bins=bins, alpha=0.6, label="hidden label 1")
axes[0].set(title="Marginals by hidden label", xlabel="marginal P(y = 1)", ylabel="rows")
axes[0].legend()

mean_marginal = np.bincount(bags, weights=marginals) / np.bincount(bags)
axes[1].plot([0, 1], [0, 1], ":", color="grey")
axes[1].plot(proportions, mean_marginal, "o")
axes[1].set(title="Per bag", xlabel="known proportion of positives",
            ylabel="mean marginal of its rows")

for name, s in (("marginals", marginals), ("bag proportion", proportions[bags])):
    fpr, tpr, _ = roc_curve(y, s)
    axes[2].plot(fpr, tpr, label=f"{name}: AUC {roc_auc_score(y, s):.3f}")
axes[2].plot([0, 1], [0, 1], ":", color="grey")
axes[2].set(title="Recovering the hidden labels", xlabel="false positive rate",
            ylabel="true positive rate")
axes[2].legend(loc="lower right")
plt.show()
