"""The 2-D mode-collapse study: configurations x data sets x seeds, through `gen train`
and `gen eval` (2,500 samples; PacGAN/VEEGAN protocol). Prints mean and standard
deviation of modes captured, % high quality and KL to uniform, and the wall time per run.

    python crates/gen-gan/bench/mode_study.py --gen target/release/gen --seeds 5 --jobs 2
    python crates/gen-gan/bench/mode_study.py --family ali --data grid --gen target/release/gen

Each run is `gen train configs/<family>-<data>.yaml --set ...` with RAYON_NUM_THREADS=1.
Only the Python standard library is needed.
"""

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import tempfile
import time

# ALI/BiGAN (configs/ali-grid.yaml): the two encoder/generator loss forms.
ALI_VARIANTS = {
    "standard": ["model.loss=standard"],
    "joint_kl": ["model.loss=joint_kl"],
}

VARIANTS = {
    "plain GAN (lambda 0)": ["model.lambda=0"],
    "lambda 5 (default)": ["model.lambda=5"],
    "lambda 50": ["model.lambda=50"],
    "pack 4 + lambda 0": ["model.pack=4", "model.lambda=0"],
    "pack 4 + lambda 5": ["model.pack=4", "model.lambda=5"],
    "pack 4 + lambda 50": ["model.pack=4", "model.lambda=50"],
    # the recipe of configs/gan-grid-pacgan.yaml
    "pack 4 + lambda 5, lr 1e-3 cosine, 200 epochs": [
        "model.pack=4",
        "model.lambda=5",
        "train.optimizer.lr=1.0e-3",
        "train.lr_schedule=cosine",
        "train.epochs=200",
    ],
}


def run(gen, family, data, variant, sets, seed, out, extra):
    slug = "".join(c if c.isalnum() else "_" for c in variant)
    run_dir = os.path.join(out, f"{family}-{data}-{slug}-s{seed}")
    done = os.path.join(run_dir, "eval.json")
    if os.path.exists(done):  # kept from an earlier, interrupted study
        with open(done) as f:
            m = json.load(f)["metrics"]
        return data, variant, seed, m["modes/captured"], 100 * m["modes/high_quality"], m["modes/kl_to_uniform"], float("nan")
    args = [gen, "train", f"configs/{family}-{data}.yaml", "--run-dir", run_dir, "--set", f"train.seed={seed}"]
    for s in sets + extra:
        args += ["--set", s]
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    subprocess.run([gen, "eval", run_dir], check=True, capture_output=True, env=env)
    with open(os.path.join(run_dir, "eval.json")) as f:
        m = json.load(f)["metrics"]
    return data, variant, seed, m["modes/captured"], 100 * m["modes/high_quality"], m["modes/kl_to_uniform"], wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", default="ring,grid")
    ap.add_argument("--family", default="gan", choices=["gan", "ali"])
    ap.add_argument("--variants", default=None, help="names from VARIANTS (ALI_VARIANTS for --family ali), separated by ';'")
    ap.add_argument("--set", action="append", default=[], help="extra --set for every run")
    ap.add_argument("--out", default=None, help="keep the runs here (default: a temporary directory)")
    args = ap.parse_args()
    table = ALI_VARIANTS if args.family == "ali" else VARIANTS
    args.variants = args.variants or ";".join(table)
    out = args.out or tempfile.mkdtemp(prefix=f"{args.family}-study-")
    jobs = [
        (d, v, s)
        for d in args.data.split(",")
        for v in args.variants.split(";")
        for s in range(args.seeds)
    ]
    results = []
    with cf.ThreadPoolExecutor(args.jobs) as ex:
        futs = [ex.submit(run, args.gen, args.family, d, v, table[v], s, out, args.set) for d, v, s in jobs]
        for f in cf.as_completed(futs):
            try:
                r = f.result()
            except subprocess.CalledProcessError as e:
                print("failed:", " ".join(e.cmd), "\n", e.stderr.decode(errors="replace"), flush=True)
                continue
            results.append(r)
            print("run", json.dumps(r), flush=True)
    print(f"\nruns in {out}")
    print(f"{'data':<5} {'variant':<22} {'modes':>12} {'% high quality':>16} {'KL':>14} {'wall s':>7}")
    for d in args.data.split(","):
        for v in args.variants.split(";"):
            rs = [r for r in results if r[0] == d and r[1] == v]
            if not rs:
                continue
            def ms(i):
                xs = [r[i] for r in rs]
                sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
                return f"{statistics.mean(xs):.1f}±{sd:.1f}"
            walls = [r[6] for r in rs if r[6] == r[6]]  # NaN for runs kept from before
            wall = f"{statistics.mean(walls):7.0f}" if walls else "      -"
            print(f"{d:<5} {v:<22} {ms(3):>12} {ms(4):>16} {ms(5):>14} {wall}")


if __name__ == "__main__":
    main()
