"""emfast's scikit-learn k-means (init_params='kmeans'): the same draws and labels
as scikit-learn's KMeans, with less memory.

- The first k-means++ seed is NumPy's ``choice(n, p=w / w.sum())``, computed in
  chunks without its two arrays of n float64: the same index and the same state
  of the random generator afterwards, for any weights, dtype and chunk boundary.
- Empty clusters are relocated as scikit-learn relocates them.
- Seeding and Lloyd skip the rows that the triangle inequality proves cannot
  change (exactly, with a margin for rounding): the seeds and labels stay
  scikit-learn's on data where most rows are skipped.
"""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans

import emfast._kmeans as kmeans
from emfast._data import ArrayData


def _weights(rng, kind, n):
    if kind == "none":
        return None
    if kind == "uniform":
        return rng.uniform(size=n)
    if kind == "heavy-tailed":
        return rng.exponential(size=n) ** 4 * 1e3
    w = (rng.uniform(size=n) < 0.3) * rng.uniform(size=n)  # mostly zeros
    w[rng.randint(n)] = 1.0
    return w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["none", "uniform", "heavy-tailed", "sparse"])
def test_first_seed_is_numpys_choice(dtype, kind):
    dtype = np.dtype(dtype)
    for trial in range(300):
        rng = np.random.RandomState(trial)
        n = rng.randint(1, 60)
        w = _weights(rng, kind, n)
        sw = np.ones(n, dtype=dtype) if w is None else np.asarray(w, dtype=dtype)
        ours, theirs = np.random.RandomState(trial), np.random.RandomState(trial)
        expected = theirs.choice(n, p=sw / sw.sum())
        assert kmeans.first_seed(ours, n, w, dtype) == expected, (trial, n)
        assert ours.random_sample() == theirs.random_sample()


def test_first_seed_on_many_rows():
    n = 300_001
    w = np.random.RandomState(1).exponential(size=n)
    for seed in range(5):
        expected = np.random.RandomState(seed).choice(n, p=w / w.sum())
        assert kmeans.first_seed(np.random.RandomState(seed), n, w, np.dtype(np.float64)) == expected


# (seed, rows, clusters, weighted): data on which k-means leaves clusters empty
# (one, or three at once) and relocates them, without ties between distances
RELOCATING = [(176, 8, 7, False), (306, 8, 4, False), (219, 9, 7, True), (1147, 11, 7, True)]


@pytest.mark.parametrize("seed, n, K, weighted", RELOCATING)
def test_empty_clusters_are_relocated_as_scikit_learn_relocates_them(seed, n, K, weighted, monkeypatch):
    rng = np.random.RandomState(seed)
    assert (rng.randint(8, 40), rng.randint(3, 8)) == (n, K)  # the draws that made the case
    X = np.round(rng.standard_normal((n, 2)) * rng.choice([1, 3]), rng.choice([0, 1]))
    w = rng.choice([0.0, 0.1, 1.0, 5.0], size=n) if weighted else None
    relocated = []
    relocate = kmeans._relocate_empty

    def counting(data, shift, result, labels):
        relocated.append(int(np.sum(result["weights"] == 0)))
        return relocate(data, shift, result, labels)

    monkeypatch.setattr(kmeans, "_relocate_empty", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = kmeans.kmeans_labels(ArrayData(X, w), K, np.random.RandomState(seed))
        expected = KMeans(K, n_init=1, random_state=seed).fit(X, sample_weight=w).labels_
    assert relocated and max(relocated) > 0
    np.testing.assert_array_equal(labels, expected)


# float32: smaller data, where no draw of scikit-learn's seeding (its distances
# computed in float64, emfast's in float32) lands within rounding of a row boundary
@pytest.mark.parametrize(
    "dtype, n, D, K, order, weighted",
    [
        (np.float64, 30_000, 24, 20, "C", False),
        (np.float64, 20_000, 40, 12, "F", True),
        (np.float64, 25_000, 16, 40, "C", True),
        (np.float64, 8_000, 64, 6, "C", False),
        (np.float64, 6_000, 20, 450, "C", False),  # K > 402: seeding's row state in 32 bits
        (np.float64, 12_001, 37, 10, "C", True),  # seeding reads rows in place, features past whole vectors
        (np.float32, 6_000, 32, 8, "C", False),
        (np.float32, 5_000, 48, 10, "F", True),
        (np.float32, 8_000, 40, 6, "C", True),
        (np.float32, 6_001, 70, 24, "C", False),
    ],
)
def test_kmeans_that_skips_rows_is_scikit_learns(dtype, n, D, K, order, weighted):
    rng = np.random.RandomState(D)
    centres = rng.normal(size=(K, D))  # overlapping clusters: Lloyd takes 5 to 50 iterations
    truth = rng.randint(K, size=n)
    X = rng.standard_normal((n, D)) * rng.uniform(0.5, 1.5, size=(K, D))[truth] + centres[truth] + 20.0
    X = np.asarray(X, dtype=dtype, order=order)
    w = rng.uniform(0.5, 2.0, size=n) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = kmeans.kmeans_labels(ArrayData(X, w), K, np.random.RandomState(D))
        theirs = KMeans(K, n_init=1, random_state=D).fit(X, sample_weight=w)
    np.testing.assert_array_equal(labels, theirs.labels_)
    assert theirs.n_iter_ >= 5  # Lloyd ran long enough to skip rows


def _misaligned(X):
    buf = np.zeros(X.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(X.dtype).reshape(X.shape)
    out[...] = X
    assert out.ctypes.data % X.dtype.itemsize
    return out


# Seeding reads rows of at least 256 bytes where they lie (unit column stride,
# aligned), else through a shifted row-major copy; shorter rows through a
# feature-major copy. Every layout of X gives the same seeds (each way computes
# (x - shift) - c in the same order), and scikit-learn's labels.
@pytest.mark.parametrize("dtype, D", [(np.float64, 37), (np.float64, 64), (np.float32, 70), (np.float64, 20)])
def test_seeds_do_not_depend_on_the_layout(dtype, D):
    rng = np.random.RandomState(D)
    n, K = 4_001, 9
    centres = rng.normal(size=(K, D)) * 3.0  # separate clusters: most rows are skipped late on
    X = (rng.standard_normal((n, D)) + centres[rng.randint(K, size=n)] + 50.0).astype(dtype)
    shift = np.asarray(ArrayData(X).column_mean_and_variance()[0], dtype=np.float64)
    layouts = {
        "C": X,
        "F": np.asfortranarray(X),
        "misaligned": _misaligned(X),
        "reversed rows": np.ascontiguousarray(X[::-1])[::-1],
        "every other column": np.repeat(X, 2, axis=1)[:, ::2],
    }
    seeds = {name: list(kmeans.kmeans_plusplus(ArrayData(A), K, np.random.RandomState(0), shift))
             for name, A in layouts.items()}
    for name in layouts:
        assert seeds[name] == seeds["C"], name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = kmeans.kmeans_labels(ArrayData(layouts["misaligned"]), K, np.random.RandomState(1))
        theirs = KMeans(K, n_init=1, random_state=1).fit(X)
    np.testing.assert_array_equal(labels, theirs.labels_)
