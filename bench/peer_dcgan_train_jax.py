"""Peer of a whole DCGAN training run in JAX (CPU): the pair of configs/dcgan-small.yaml
(`--arch gen`) or of configs/dcgan.yaml (`--arch infogan`) trained on the real MNIST
training set, its samples written as .npy for `gen score`. It separates gen's code from the
recipe: the same networks, initialization, optimizer, losses and batch order rules, written
independently, scored by the same LeNet features.

Networks (`--arch gen`, the project's pair, NHWC here; see ../shared/bench/peer_dcgan_jax.py):
  G: z(100) -> dense 128*7*7 -> BN -> ReLU -> convT 128->64 (k4 s2 p1) -> BN -> ReLU
     -> convT 64->1 (k4 s2 p1) -> tanh
  D: conv 1->64 (k4 s2 p1) -> LeakyReLU 0.2 -> conv 64->128 (k4 s2 p1) -> LeakyReLU 0.2 -> dense 1
`--arch infogan` (the MNIST pair of Chen et al.'s InfoGAN, which Lucic et al. 2018 used):
  G: z -> dense 1024 -> BN -> ReLU -> dense 128*7*7 -> BN -> ReLU -> convT 128->64 -> BN -> ReLU
     -> convT 64->1 -> tanh
  D: conv 1->64 -> LeakyReLU -> conv 64->128 -> BN -> LeakyReLU -> dense 1024 -> BN -> LeakyReLU
     -> dense 1
Weights N(0, 0.02), BN scales 1 + N(0, 0.02); Adam 2e-4, betas (0.5, 0.999); batch 64.
One iteration: one discriminator step (real + fake, softplus losses), then `--g-steps` generator
steps on -log D(G(z)) + lambda * mean((G(z) - G_old(z))^2) (G_old the generator before them).
Batch norm always on the batch's statistics (sampling too, in chunks of 500: results.md found
the running averages give the same FD to 0.1).

  bench/setup-peers.sh peer_dcgan_train_jax.py --epochs 7 --out /tmp/peer --score-at 3,5,7
writes /tmp/peer/samples-eN.npy (10,000 x 784 in [0, 1]) after the listed epochs (with --ema
also samples-ema-eN.npy, from the generator's moving average); score each
with `gen score /tmp/peer/samples-eN.npy --data mnist`. MNIST from $GEN_DATA_DIR/mnist.
"""
import argparse, gzip, os, sys, time

p = argparse.ArgumentParser()
p.add_argument("--arch", choices=["gen", "infogan"], default="gen")
p.add_argument("--epochs", type=int, default=7)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--lam", type=float, default=0.0, help="old-generator term's weight")
p.add_argument("--g-steps", type=int, default=1)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=2e-4)
p.add_argument("--d-lr", type=float, default=None, help="discriminator's lr (default: --lr)")
p.add_argument("--out", required=True)
p.add_argument("--score-at", default="", help="epochs after which to write samples (default: the last)")
p.add_argument("--samples", type=int, default=10000)
p.add_argument("--ema", type=float, default=0.0,
               help="also keep gen's moving average of G (decay min(ema, (1 + t) / (10 + t)) at step t) and write its samples")
a = p.parse_args()

import numpy as np, jax, jax.numpy as jnp, optax  # noqa: E402

data_dir = os.environ.get("GEN_DATA_DIR")
if not data_dir:
    sys.exit("set GEN_DATA_DIR to the directory holding mnist/train-images-idx3-ubyte.gz")
path = os.path.join(data_dir, "mnist", "train-images-idx3-ubyte.gz")
with gzip.open(path, "rb") as f:
    raw = f.read()
n_img = int.from_bytes(raw[4:8], "big")
X = np.frombuffer(raw, np.uint8, offset=16).reshape(n_img, 28, 28, 1).astype(np.float32) / 127.5 - 1.0
os.makedirs(a.out, exist_ok=True)
score_at = {int(e) for e in a.score_at.split(",") if e} or {a.epochs}

B, Z = a.batch, 100
keys = iter(jax.random.split(jax.random.PRNGKey(a.seed), 64))
n = lambda shape: 0.02 * jax.random.normal(next(keys), shape)
bn_params = lambda c: (1 + n((c,)), jnp.zeros(c))

G = {"w1": n((4, 4, 64, 128)), "b1": jnp.zeros(64), "w2": n((4, 4, 1, 64)), "b2": jnp.zeros(1)}
G["g1"], G["be1"] = bn_params(64)
G["g0"], G["be0"] = bn_params(128)
D = {"w1": n((4, 4, 1, 64)), "b1": jnp.zeros(64), "w2": n((4, 4, 64, 128)), "b2": jnp.zeros(128)}
if a.arch == "gen":
    G["w0"], G["b0"] = n((Z, 6272)), jnp.zeros(6272)
    D["w3"], D["b3"] = n((6272, 1)), jnp.zeros(1)
else:
    G["wf"], G["bf"] = n((Z, 1024)), jnp.zeros(1024)
    G["gf"], G["bef"] = bn_params(1024)
    G["w0"], G["b0"] = n((1024, 6272)), jnp.zeros(6272)
    D["g2"], D["be2"] = bn_params(128)
    D["wf"], D["bf"] = n((6272, 1024)), jnp.zeros(1024)
    D["gf"], D["bef"] = bn_params(1024)
    D["w3"], D["b3"] = n((1024, 1)), jnp.zeros(1)


def bn(x, g, b):
    axes = tuple(range(x.ndim - 1))
    m = x.mean(axes)
    v = ((x - m) ** 2).mean(axes)
    return (x - m) / jnp.sqrt(v + 1e-5) * g + b


def conv_t(x, w, b):  # kernel 4, stride 2, padding 1: doubles height and width
    return jax.lax.conv_transpose(x, w, (2, 2), ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWOI", "NHWC")) + b


def conv(x, w, b):  # kernel 4, stride 2, padding 1: halves height and width
    return jax.lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")) + b


leaky = lambda t: jnp.maximum(t, 0.2 * t)


def generator(P, z):
    h = z
    if a.arch == "infogan":
        h = jax.nn.relu(bn(h @ P["wf"] + P["bf"], P["gf"], P["bef"]))
    h = (h @ P["w0"] + P["b0"]).reshape(-1, 7, 7, 128)
    h = jax.nn.relu(bn(h, P["g0"], P["be0"]))
    h = jax.nn.relu(bn(conv_t(h, P["w1"], P["b1"]), P["g1"], P["be1"]))
    return jnp.tanh(conv_t(h, P["w2"], P["b2"]))


def discriminator(P, x):
    h = leaky(conv(x, P["w1"], P["b1"]))
    h = conv(h, P["w2"], P["b2"])
    if a.arch == "infogan":
        h = leaky(bn(h, P["g2"], P["be2"])).reshape(h.shape[0], -1)
        h = leaky(bn(h @ P["wf"] + P["bf"], P["gf"], P["bef"]))
    else:
        h = leaky(h).reshape(h.shape[0], -1)
    return (h @ P["w3"] + P["b3"])[:, 0]


g_opt = optax.adam(a.lr, b1=0.5, b2=0.999)
d_opt = optax.adam(a.d_lr or a.lr, b1=0.5, b2=0.999)
SG, SD = g_opt.init(G), d_opt.init(D)


@jax.jit
def iteration(G, D, SG, SD, x, key):
    ks = jax.random.split(key, 1 + a.g_steps)
    fake = jax.lax.stop_gradient(generator(G, jax.random.normal(ks[0], (x.shape[0], Z))))
    # Real and fake batches go through D separately (its batch norm sees one kind at a time).
    d_loss = lambda D: (jax.nn.softplus(-discriminator(D, x)).mean() + jax.nn.softplus(discriminator(D, fake)).mean())
    dl, grad = jax.value_and_grad(d_loss)(D)
    u, SD = d_opt.update(grad, SD)
    D = optax.apply_updates(D, u)
    G_old = G
    for kk in ks[1:]:
        z = jax.random.normal(kk, (x.shape[0], Z))
        old = generator(G_old, z)

        def g_loss(G):
            f = generator(G, z)
            return jax.nn.softplus(-discriminator(D, f)).mean() + a.lam * ((f - old) ** 2).mean()

        gl, grad = jax.value_and_grad(g_loss)(G)
        u, SG = g_opt.update(grad, SG)
        G = optax.apply_updates(G, u)
    return G, D, SG, SD, dl, gl


sample_chunk = jax.jit(lambda G, z: generator(G, z))


@jax.jit
def average(avg, G, t):
    d = jnp.minimum(a.ema, (1.0 + t) / (10.0 + t))
    return jax.tree_util.tree_map(lambda e, g: d * e + (1 - d) * g, avg, G)


def write_samples(G, epoch, name="samples"):
    key = jax.random.PRNGKey(10_000 + a.seed)
    out = []
    for i in range(0, a.samples, 500):
        key, k = jax.random.split(key)
        out.append(np.asarray(sample_chunk(G, jax.random.normal(k, (500, Z)))))
    s = (np.concatenate(out)[: a.samples].reshape(a.samples, 784) + 1.0) / 2.0
    path = os.path.join(a.out, f"{name}-e{epoch}.npy")
    np.save(path, s.astype(np.float32))
    print(f"wrote {path}", flush=True)


rng = np.random.default_rng(a.seed)
key = jax.random.PRNGKey(a.seed + 1)
steps = n_img // B  # the last partial batch is dropped: every step sees B examples
start = time.perf_counter()
G_avg, t_step = G, 0
for epoch in range(1, a.epochs + 1):
    order = rng.permutation(n_img)
    t = time.perf_counter()
    for s in range(steps):
        key, k = jax.random.split(key)
        G, D, SG, SD, dl, gl = iteration(G, D, SG, SD, jnp.asarray(X[order[s * B:(s + 1) * B]]), k)
        t_step += 1  # steps trained so far, this one included (gen's WeightAverage::update)
        if a.ema > 0:
            G_avg = average(G_avg, G, t_step)
        if s % 200 == 0:
            print(f"epoch {epoch} step {s}/{steps} d_loss {float(dl):.4f} g_loss {float(gl):.4f} "
                  f"{(s + 1) * B / (time.perf_counter() - t):.0f} samples/s", flush=True)
    print(f"epoch {epoch} done in {time.perf_counter() - t:.0f} s (total {time.perf_counter() - start:.0f} s)", flush=True)
    if epoch in score_at:
        write_samples(G, epoch)
        if a.ema > 0:
            write_samples(G_avg, epoch, "samples-ema")
