"""Student-t mixtures: one ECM iteration against the pure-NumPy packages and against
emfast's own Gaussian EM iteration; heavy tails for out-of-distribution scoring.

    python benchmarks/student_t.py speed [--shapes S1 S3] [--scale 1.0] [--repeats 3] [--clock cpu]
    python benchmarks/student_t.py ood
    python benchmarks/student_t.py agree

speed: seconds per iteration, each implementation's own E- and M-step from the
same initial parameters (benchmarks/peers.py's shapes, data and initial model;
nu fitted, starting at 5), medians over repeats in which the implementations
alternate, so that the ratios come from one run. studenttmixture has full
scale matrices only: on the diagonal shape (S3) it is compared with emfast's
full t as well. Peers that are not installed (pip install studenttmixture smm)
are skipped. --clock cpu times the process's CPU time rather than the wall
clock: on a shared machine, with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1, it is
the work of each iteration whatever else runs.

ood: GaussianMixtureClassifier with Gaussian and with Student-t components on
scikit-learn's digits (0-4 in distribution, 5-9 out), AUROC of -log p(x).

agree: studenttmixture's EMStudentMixture fitted on its defaults (K=2, nu fixed
at 4, tol=1e-5, its k-means, scale matrices started at the data's covariance)
and emfast from the same start; it divides the scale matrices by sum r u (Kent,
Tyler & Vardi's variant) where the ECM divides by sum r, so the iterates differ
while the fixed points coincide: the converged models are compared, at its
default tol and at tol=1e-13 (both).
"""

import argparse
import time
import warnings

import numpy as np
from peers import SHAPES, initial_parameters

from emfast import GaussianMixtureClassifier
from emfast._data import ArrayData
from emfast._em import GaussianEM
from emfast._native import core
from emfast._stats import Params
from emfast._student_t import StudentTECM
from asv_bench.common import make_data

DOF_START = 5.0


def emfast_steps(X, init, cov):
    """One Gaussian EM and one Student-t ECM iteration of emfast, as callables."""
    weights, means, covs = init
    covs, prec_chol, _ = core.precision_cholesky(np.array(covs, dtype=np.float64), cov, 1.0)
    gauss = Params.of(weights, means, covs, prec_chol)
    t = Params.of(weights, means, covs, prec_chol, np.full(len(weights), DOF_START))
    data = ArrayData(X)
    scale = data.scale()
    gm = GaussianEM(cov, 1e-6, scale, len(X))
    tm = StudentTECM(cov, 1e-6, scale, len(X), fit_dofs=True)
    return {f"emfast-gm-{cov}": lambda: gm.step(data, gauss), f"emfast-t-{cov}": lambda: tm.step(data, t)}


def studenttmixture_step(X, init):
    """studenttmixture 1.11's Estep + Mstep (full scale matrices; nu fitted)."""
    from studenttmixture import EMStudentMixture

    weights, means, covs = init  # covs: K full matrices
    K = len(weights)
    scale = np.moveaxis(np.asarray(covs, dtype=np.float64), 0, -1).copy()
    chol = np.stack([np.linalg.cholesky(scale[:, :, k]) for k in range(K)], axis=-1)
    model = EMStudentMixture(n_components=K, fixed_df=False, df=DOF_START)
    X = np.asarray(X, dtype=np.float64)

    def step():
        df = np.full(K, DOF_START)
        sq = np.empty((len(X), K))
        resp, gamma, _ = model.Estep(X, df, means, chol, weights, sq)
        model.Mstep(X, resp, gamma, scale, chol, df)

    return step


def smm_step(X, init, cov):
    """smm 0.1.5's _expectation_step + _maximisation_step (nu fitted)."""
    from smm import SMM

    weights, means, covs = init
    model = SMM(len(weights), covariance_type=cov)
    X = np.asarray(X, dtype=np.float64)

    def step():
        model.weights_, model.means_ = weights.copy(), means.copy()
        model.covars_, model.degrees_ = np.array(covs), np.full(len(weights), DOF_START)
        _, resp, gamma = model._expectation_step(X)
        model._maximisation_step(X, resp, gamma)

    return step


def speed(shapes, scale, repeats, clock):
    for shape in shapes:
        n, d, k, cov = SHAPES[shape]
        X = make_data(max(int(n * scale), 10 * k), d, k)
        init = initial_parameters(X, k, cov)
        full = (init[0], init[1], np.stack([np.diag(c) for c in init[2]]) if cov == "diag" else init[2])
        steps = emfast_steps(X, init, cov)
        if cov != "full":
            steps.update(emfast_steps(X, full, "full"))
        for name, make in (("studenttmixture-full", lambda: studenttmixture_step(X, full)),
                           (f"smm-{cov}", lambda: smm_step(X, init, cov))):
            try:
                steps[name] = make()
            except ImportError:
                print(f"{name}: not installed")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step in steps.values():
                step()  # warm up
            times = {name: [] for name in steps}
            for _ in range(repeats):
                for name, step in steps.items():
                    time.sleep(0.3)  # let BLAS threads of the previous call go idle
                    t0 = clock()
                    step()
                    times[name].append(clock() - t0)
        median = {name: float(np.median(v)) for name, v in times.items()}
        print(f"{shape} ({len(X)} x {d}, K={k}, {cov}), seconds per iteration:")
        for name, sec in median.items():
            own = name.replace("studenttmixture-", "emfast-t-").replace("smm-", "emfast-t-")
            ratio = f"  ({sec / median[own]:.1f} x {own})" if own != name else ""
            print(f"  {name:24s} {sec:9.4f}{ratio}")
        for c in {cov, "full"}:
            print(f"  emfast-t-{c} / emfast-gm-{c}: {median[f'emfast-t-{c}'] / median[f'emfast-gm-{c}']:.2f}")


def ood():
    from sklearn.datasets import load_digits
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    ind = y < 5
    X_tr, X_te, y_tr, y_te = train_test_split(X[ind], y[ind], test_size=0.5, stratify=y[ind], random_state=0)
    labels = np.r_[np.zeros(len(X_te)), np.ones(np.count_nonzero(~ind))]
    for cov, reg_covar in (("full", 1.0), ("diag", 0.1)):
        for k in (1, 3):
            for family in ("gaussian", "student_t"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clf = GaussianMixtureClassifier(k, covariance_type=cov, reg_covar=reg_covar, family=family,
                                                    random_state=0).fit(X_tr, y_tr)
                auroc = roc_auc_score(labels, -np.r_[clf.score_samples(X_te), clf.score_samples(X[~ind])])
                nu = "" if family == "gaussian" else f"  nu in [{min(min(m.dofs_) for m in clf.mixtures_):.2g}, " \
                    f"{max(max(m.dofs_) for m in clf.mixtures_):.2g}]"
                print(f"{cov:5s} K={k} {family:10s} accuracy {clf.score(X_te, y_te):.3f}  AUROC {auroc:.4f}{nu}")


def agree():
    from studenttmixture import EMStudentMixture

    from emfast import StudentTMixture

    for seed in range(3):
        rng = np.random.RandomState(seed)
        n, d = 2000, 3
        centres = rng.normal(scale=5, size=(2, d))
        labels = rng.randint(2, size=n)
        X = centres[labels] + rng.standard_t(4, size=(n, d)) @ (np.eye(d) + 0.3 * rng.randn(d, d))
        for fixed_df, tol in ((True, 1e-5), (False, 1e-5), (True, 1e-13), (False, 1e-13)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = EMStudentMixture(fixed_df=fixed_df, tol=tol, max_iter=100_000)
                theirs.fit(X)
                start = EMStudentMixture(fixed_df=fixed_df).initialize_params(X, 123, "kmeans")
                ours = StudentTMixture(
                    2, dof=4.0 if fixed_df else "fit", dof_init=4.0, tol=tol, max_iter=100_000,
                    weights_init=start[2], means_init=start[0],
                    precisions_init=np.linalg.inv(np.moveaxis(start[1], -1, 0)),
                ).fit(X)
            scale = np.moveaxis(theirs.scale_, -1, 0)
            rel = lambda a, b: float(np.max(np.abs(a - b) / np.abs(b).max()))  # noqa: E731
            print(f"seed {seed}, nu {'fixed' if fixed_df else 'fitted'}, tol {tol:.0e}: max relative difference "
                  f"of weights {rel(ours.weights_, theirs.mix_weights_):.1e}, means "
                  f"{rel(ours.means_, theirs.location_):.1e}, scales {rel(ours.covariances_, scale):.1e}, nu "
                  f"{rel(ours.dofs_, theirs.df_):.1e}; mean log-likelihood {ours.score(X):.7f} vs {theirs.score(X):.7f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("what", choices=["speed", "ood", "agree"])
    parser.add_argument("--shapes", nargs="+", default=["S1", "S3"], choices=sorted(SHAPES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply n_samples by this")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    if args.what == "speed":
        speed(args.shapes, args.scale, args.repeats, time.process_time if args.clock == "cpu" else time.perf_counter)
    else:
        {"ood": ood, "agree": agree}[args.what]()


if __name__ == "__main__":
    main()
