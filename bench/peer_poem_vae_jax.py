#!/usr/bin/env python3
"""Peer benchmark: one training step of configs/poem-vae.yaml's model (Su's CNN poem VAE)
in JAX (CPU), for side-by-side throughput comparison with `gen bench --model poem-vae`.

Model (as gen's text-vae with decoder: conv; positions then channels, NWC):
  encoder: embedding V x 64 -> 2 x residual gated conv (k3 same: conv 64 -> 128, a * sigmoid(b),
           + input) -> mean over the 10 positions -> two heads 64 -> 64 (mean, log-variance)
  z = mean + exp(0.5 * logvar) * eps,  eps ~ N(0, I)
  decoder: dense 64 -> 10 * 64 -> reshape (10, 64) -> residual gated conv -> dense 64 -> V per position
  loss = mean over batch of [ sum_positions cross-entropy(logits, ids) + analytic KL(q(z|x) || N(0, I)) ]
  Embedding N(0, 1); weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as gen's layers;
  Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8; float32. V = 6745 (the couplets' vocabulary
  at min_count 2, special tokens included).
Data: a pool of 10 fixed batches of random character ids.

Prints one line:  peer=jax model=poem-vae batch=B steps=S seconds=T samples_per_s=Y final_loss=L
XLA uses every core it sees; for a one-core figure pin it, e.g. `taskset -c 0`.
Run it through setup-peers.sh:  bench/setup-peers.sh peer_poem_vae_jax.py --batch 64
"""
import argparse, time

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=64)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
p.add_argument("--vocab", type=int, default=6745)
a = p.parse_args()

import jax, jax.numpy as jnp, optax  # noqa: E402

V, E, LAT, LEN = a.vocab, 64, 64, 10

def uniform(key, shape, fan_in):
    bound = 1.0 / fan_in ** 0.5
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)

def layer(key, wshape, n_out, fan_in):
    kw, kb = jax.random.split(key)
    return {"w": uniform(kw, wshape, fan_in), "b": uniform(kb, (n_out,), fan_in)}

k = jax.random.split(jax.random.PRNGKey(0), 12)
params = {
    "embed": jax.random.normal(k[0], (V, E)),
    "conv0": layer(k[1], (3, E, 2 * E), 2 * E, 3 * E),
    "conv1": layer(k[2], (3, E, 2 * E), 2 * E, 3 * E),
    "mean": layer(k[3], (E, LAT), LAT, E),
    "logvar": layer(k[4], (E, LAT), LAT, E),
    "dense": layer(k[5], (LAT, LEN * E), LEN * E, LAT),
    "dconv": layer(k[6], (3, E, 2 * E), 2 * E, 3 * E),
    "out": layer(k[7], (E, V), V, E),
}
dense = lambda P, x: x @ P["w"] + P["b"]

def gcnn(P, x):  # x (B, L, C): same-padded conv k3 to 2C, gated, residual
    h = jax.lax.conv_general_dilated(x, P["w"], (1,), ((1, 1),),
                                     dimension_numbers=("NWC", "WIO", "NWC")) + P["b"]
    return h[..., :E] * jax.nn.sigmoid(h[..., E:]) + x

def loss_fn(P, ids, key):
    B = ids.shape[0]
    h = P["embed"][ids]
    h = gcnn(P["conv1"], gcnn(P["conv0"], h)).mean(axis=1)
    mean, logvar = dense(P["mean"], h), dense(P["logvar"], h)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    h = gcnn(P["dconv"], dense(P["dense"], z).reshape(B, LEN, E))
    logits = dense(P["out"], h)
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, ids).sum(-1)
    kl = -0.5 * jnp.sum(1 + logvar - mean ** 2 - jnp.exp(logvar), -1)
    return jnp.mean(xent + kl)

opt = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
state = opt.init(params)

@jax.jit
def step(P, s, x, key):
    loss, grads = jax.value_and_grad(loss_fn)(P, x, key)
    updates, s = opt.update(grads, s, P)
    return optax.apply_updates(P, updates), s, loss

pool = [jax.random.randint(kk, (a.batch, LEN), 3, V) for kk in jax.random.split(k[8], 10)]
key = jax.random.PRNGKey(1)
for i in range(max(a.warmup, 1)):  # the first call compiles
    key, sub = jax.random.split(key)
    params, state, loss = step(params, state, pool[i % 10], sub)
loss.block_until_ready()
t0 = time.perf_counter()
for i in range(a.steps):
    key, sub = jax.random.split(key)
    params, state, loss = step(params, state, pool[i % 10], sub)
loss.block_until_ready()
dt = time.perf_counter() - t0
print(f"peer=jax model=poem-vae batch={a.batch} steps={a.steps} seconds={dt:.3f} "
      f"samples_per_s={a.steps * a.batch / dt:.1f} final_loss={float(loss):.2f}")
