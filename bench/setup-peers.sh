#!/usr/bin/env bash
# Runs a JAX peer benchmark in the pinned virtualenv of ../shared/bench/setup-peers.sh
# (default ~/.cache/gen-peers/venv, created here the same way if missing). The script is
# looked up beside this file (the conv VAE's peer), then in the shared peers' directory
# (GEN_SHARED_BENCH, default ../shared/bench beside the project: the MLP VAE and DCGAN peers).
#   bench/setup-peers.sh peer_conv_vae_jax.py --batch 32
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${GEN_SHARED_BENCH:-$here/../../shared/bench}
venv=${PEER_VENV:-$HOME/.cache/gen-peers/venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jax, optax' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q jax==0.10.2 jaxlib==0.10.2 optax==0.2.8 numpy scikit-learn tensorboard >&2
fi
script=$1; shift
for dir in "$here" "$shared"; do
  if [ -f "$dir/$script" ]; then exec "$venv/bin/python" "$dir/$script" "$@"; fi
done
echo "no peer script $script in $here or $shared (set GEN_SHARED_BENCH to the shared peers' directory)" >&2
exit 2
