#!/usr/bin/env python3
"""Peer benchmark: one training step of configs/vae-conv.yaml's model in JAX (CPU), for
side-by-side throughput comparison with `gen bench --model conv-vae`.

Model (the project's conv VAE, the TensorFlow convolutional-VAE tutorial's shape; NHWC here):
  encoder: conv 1->32 (k3 s2 p1, 28->14) ReLU -> conv 32->64 (k3 s2 p1, 14->7) ReLU -> flatten 3136
           -> two heads 3136 -> latent (mean, log-variance)
  z = mean + exp(0.5 * logvar) * eps,  eps ~ N(0, I)
  decoder: dense latent -> 32*7*7 ReLU -> transposed conv 32->64 (k4 s2 p1, 7->14) ReLU
           -> transposed conv 64->32 (k4 s2 p1, 14->28) ReLU -> conv 32->1 (k3 s1 p1) -> 784 logits
  loss = mean over batch of [ sum_pixels BCE-with-logits(logits, x) + analytic KL(q(z|x) || N(0, I)) ]
  Weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as gen's Conv2d/Linear; Adam lr 1e-4,
  betas (0.9, 0.999), eps 1e-8; float32.
Data: a pool of 10 fixed batches of random 0/1 pixels (throughput does not depend on content).

Prints one line:  peer=jax model=conv-vae batch=B steps=S seconds=T samples_per_s=Y final_loss=L
XLA uses every core it sees; for a one-core figure pin it, e.g. `taskset -c 0`.
Run it through setup-peers.sh:  bench/setup-peers.sh peer_conv_vae_jax.py --batch 32
"""
import argparse, time

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--steps", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
p.add_argument("--latent", type=int, default=2)
a = p.parse_args()

import jax, jax.numpy as jnp, optax  # noqa: E402

def uniform(key, shape, fan_in):
    bound = 1.0 / fan_in ** 0.5
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)

def layer(key, wshape, n_out, fan_in):
    kw, kb = jax.random.split(key)
    return {"w": uniform(kw, wshape, fan_in), "b": uniform(kb, (n_out,), fan_in)}

L = a.latent
k = jax.random.split(jax.random.PRNGKey(0), 10)
params = {
    "conv1": layer(k[0], (3, 3, 1, 32), 32, 1 * 9),
    "conv2": layer(k[1], (3, 3, 32, 64), 64, 32 * 9),
    "mean": layer(k[2], (3136, L), L, 3136),
    "logvar": layer(k[3], (3136, L), L, 3136),
    "project": layer(k[4], (L, 32 * 49), 32 * 49, L),
    "up1": layer(k[5], (4, 4, 64, 32), 64, 64 * 16),  # HWOI; fan-in as gen counts it: out * k * k
    "up2": layer(k[6], (4, 4, 32, 64), 32, 32 * 16),
    "out": layer(k[7], (3, 3, 32, 1), 1, 32 * 9),
}
dense = lambda P, x: x @ P["w"] + P["b"]

def conv(P, x, stride, pad):
    return jax.lax.conv_general_dilated(x, P["w"], (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC")) + P["b"]

def conv_t(P, x):  # kernel 4, stride 2, padding 1: doubles height and width
    return jax.lax.conv_transpose(x, P["w"], (2, 2), ((2, 2), (2, 2)),
                                  dimension_numbers=("NHWC", "HWOI", "NHWC")) + P["b"]

def loss_fn(P, x, key):
    B = x.shape[0]
    h = jax.nn.relu(conv(P["conv1"], x.reshape(B, 28, 28, 1), 2, 1))
    h = jax.nn.relu(conv(P["conv2"], h, 2, 1)).reshape(B, 3136)
    mean, logvar = dense(P["mean"], h), dense(P["logvar"], h)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    h = jax.nn.relu(dense(P["project"], z)).reshape(B, 7, 7, 32)
    h = jax.nn.relu(conv_t(P["up1"], h))
    h = jax.nn.relu(conv_t(P["up2"], h))
    logits = conv(P["out"], h, 1, 1).reshape(B, 784)
    bce = jnp.sum(jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits))), -1)
    kl = -0.5 * jnp.sum(1 + logvar - mean ** 2 - jnp.exp(logvar), -1)
    return jnp.mean(bce + kl)

opt = optax.adam(1e-4, b1=0.9, b2=0.999, eps=1e-8)
state = opt.init(params)

@jax.jit
def step(P, s, x, key):
    loss, grads = jax.value_and_grad(loss_fn)(P, x, key)
    updates, s = opt.update(grads, s, P)
    return optax.apply_updates(P, updates), s, loss

pool = [(jax.random.uniform(kk, (a.batch, 784)) > 0.5).astype(jnp.float32) for kk in jax.random.split(k[8], 10)]
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
print(f"peer=jax model=conv-vae batch={a.batch} steps={a.steps} seconds={dt:.3f} "
      f"samples_per_s={a.steps * a.batch / dt:.1f} final_loss={float(loss):.2f}")
