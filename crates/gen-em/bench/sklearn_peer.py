"""EM against scikit-learn's GaussianMixture on the same data and the same start.

Writes the data as .npy and the initial parameters as safetensors, runs
`gen train` (model.init_from) and sklearn.mixture.GaussianMixture (weights_init,
means_init, precisions_init) for the same number of iterations (tol 0, so neither
stops early), and prints both final mean log-likelihoods and fit times.

    python sklearn_peer.py --gen target/release/gen --points 100000 --dim 2 --components 8 --covariance full
    python sklearn_peer.py --gen target/release/gen --mnist ../shared/data/mnist --components 10 --covariance diag

Needs numpy, scikit-learn and safetensors (pip install numpy scikit-learn safetensors).
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import tempfile
import time
import warnings

import numpy as np
from safetensors.numpy import save_file
from sklearn.mixture import GaussianMixture


def known_mixture(n, dim, k, rng):
    """n points from k well-separated Gaussians with random full covariances."""
    means = rng.uniform(-10, 10, size=(k, dim))
    a = rng.normal(size=(k, dim, dim)) * 0.6
    covs = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(dim)
    z = rng.integers(0, k, size=n)
    eps = rng.normal(size=(n, dim))
    return means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[z], eps)


def idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols) / 255.0


def initial_parameters(x, k, covariance, reg, rng):
    """k random data points as means, equal weights, the data's (co)variance."""
    means = x[rng.choice(len(x), size=k, replace=False)]
    weights = np.full(k, 1.0 / k)
    var = x.var(axis=0) + reg
    if covariance == "full":
        cov = np.cov(x, rowvar=False, bias=True) + reg * np.eye(x.shape[1])
        covs = np.repeat(cov[None], k, axis=0)
        precisions = np.repeat(np.linalg.inv(cov)[None], k, axis=0)
    elif covariance == "diag":
        covs = np.repeat(var[None], k, axis=0)
        precisions = 1.0 / covs
    else:
        covs = np.full(k, var.mean())
        precisions = 1.0 / covs
    return weights, means, covs, precisions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True, help="the gen binary (release build)")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--mnist", help="directory with MNIST's IDX .gz files (instead of a synthetic mixture)")
    ap.add_argument("--components", type=int, default=8)
    ap.add_argument("--covariance", default="full", choices=["full", "diag", "spherical"])
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--reg-covar", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each side; medians are reported")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    if args.mnist:
        train = idx_images(os.path.join(args.mnist, "train-images-idx3-ubyte.gz"))
        test = idx_images(os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz"))
        what = "MNIST pixels"
    else:
        both = known_mixture(args.points + args.points // 10, args.dim, args.components, rng)
        train, test = both[: args.points], both[args.points :]
        what = f"{args.points} points, {args.dim}-D"
    k, cov = args.components, args.covariance
    weights, means, covs, precisions = initial_parameters(train, k, cov, args.reg_covar, rng)

    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "train.npy"), train)
        np.save(os.path.join(tmp, "test.npy"), test)
        save_file({"weights": weights, "means": means, "covariances": covs}, os.path.join(tmp, "init.safetensors"))
        config = os.path.join(tmp, "em.yaml")
        with open(config, "w") as f:
            f.write(
                f"model: {{family: em, components: {k}, covariance: {cov}, reg_covar: {args.reg_covar}, "
                f"init_from: {tmp}/init.safetensors, n_init: 1, tol: 0.0, max_iter: {args.iterations}}}\n"
                f"data: {{name: file, train: {tmp}/train.npy, test: {tmp}/test.npy}}\n"
            )
        gen_walls, gen_fits = [], []
        for r in range(args.repeats):
            run = f"{tmp}/run{r}"
            t0 = time.perf_counter()
            out = subprocess.run(
                [args.gen, "train", config, "--run-dir", run], capture_output=True, text=True, check=True
            ).stdout
            gen_walls.append(time.perf_counter() - t0)
            gen_fits.append(float(re.search(r"in ([0-9.]+)s: train loss", out).group(1)))
        gen_wall, gen_fit = float(np.median(gen_walls)), float(np.median(gen_fits))
        subprocess.run([args.gen, "eval", run], capture_output=True, check=True)
        with open(f"{run}/eval.json") as f:
            metrics = json.load(f)["metrics"]
        gen_train = metrics["loglik/train (per sample)"]
        gen_test = metrics["loglik/test (per sample)"]

    sk_fits = []
    for _ in range(args.repeats):
        gm = GaussianMixture(
            n_components=k,
            covariance_type=cov,
            tol=0.0,
            reg_covar=args.reg_covar,
            max_iter=args.iterations,
            weights_init=weights,
            means_init=means,
            precisions_init=precisions,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol 0 never "converges"
            gm.fit(train)
        sk_fits.append(time.perf_counter() - t0)
    sk_fit = float(np.median(sk_fits))
    sk_train, sk_test = gm.score(train), gm.score(test)

    rel = abs(gen_train - sk_train) / abs(sk_train)
    print(f"{what}, {k} {cov} components, {args.iterations} iterations from the same start, median of {args.repeats} runs")
    print(f"  mean log-likelihood train: gen {gen_train:.10f}  sklearn {sk_train:.10f}  rel. diff {rel:.2e}")
    print(f"  mean log-likelihood test:  gen {gen_test:.10f}  sklearn {sk_test:.10f}")
    print(f"  fit time: gen {gen_fit:.3f}s (process {gen_wall:.3f}s)  sklearn {sk_fit:.3f}s  speed-up {sk_fit / gen_fit:.2f}x")


if __name__ == "__main__":
    main()
