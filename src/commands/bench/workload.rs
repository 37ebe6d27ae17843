//! What `gen bench --model` times: the training step of one model, built by the registry
//! exactly as `gen train` builds it, on a pool of random batches (throughput does not
//! depend on the pixels), and the operations each step's products run.

use crate::registry;
use crate::run::config::RunConfig;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use gen_base::config::ConfigSource;
use gen_core::kernels::flops;
use gen_core::model::{Batch, BuildContext, DataInfo};
use gen_core::Rng;
use gen_core::Setup;
use std::time::Instant;

/// The reference MLP VAE step's model, as a config the registry builds (the default
/// optimizer, Adam 1e-3, is the peer's).
const REFERENCE_VAE: &str = "model:\n  family: vae\n  hidden: [400]\n  latent: 20\n  decoder: bernoulli\n  kl: analytic\ndata:\n  name: mnist\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The reference step: 784-400-20 MLP VAE, BCE + analytic KL, Adam.
    Vae,
    /// One step of `configs/vae-conv.yaml`'s model.
    ConvVae,
    /// One iteration of `configs/dcgan-small.yaml` (1 discriminator step, 2 generator steps).
    Dcgan,
    /// One step of `configs/poem-vae.yaml`'s model (Su's CNN poem VAE) over the couplets'
    /// vocabulary.
    PoemVae,
}

/// The couplets' vocabulary at `min_count: 2`, special tokens included (what
/// `configs/poem-vae.yaml` trains on; the peer uses the same).
const POEM_VOCAB: usize = 6745;

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Vae,
        Workload::ConvVae,
        Workload::Dcgan,
        Workload::PoemVae,
    ];

    pub fn parse(s: &str) -> Result<Workload> {
        match Workload::ALL.iter().find(|w| w.name() == s) {
            Some(w) => Ok(*w),
            None => bail!("--model {s}: not a benchmark; one of vae, conv-vae, dcgan, poem-vae"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Vae => "vae",
            Workload::ConvVae => "conv-vae",
            Workload::Dcgan => "dcgan",
            Workload::PoemVae => "poem-vae",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Workload::Vae => "reference VAE step (784-400-20 MLP, BCE + analytic KL, Adam 1e-3)",
            Workload::ConvVae => "conv VAE step of configs/vae-conv.yaml (2 convs down, 2 transposed up, BCE + analytic KL, Adam)",
            Workload::Dcgan => "DCGAN iteration of configs/dcgan-small.yaml (1 D step + 2 G steps)",
            Workload::PoemVae => "poem VAE step of configs/poem-vae.yaml (Su's CNN + gated-conv decoder, 10 characters over 6,745, cross-entropy + analytic KL, Adam)",
        }
    }

    /// (batch, timed steps per run, warm-up steps) when not given.
    pub fn defaults(self) -> (usize, usize, usize) {
        match self {
            Workload::Vae => (128, 200, 20),
            Workload::ConvVae => (32, 60, 5),
            Workload::Dcgan => (64, 20, 2),
            Workload::PoemVae => (64, 100, 10),
        }
    }

    /// The JAX peer's script and its arguments for `steps` timed steps after `warmup`.
    pub fn peer(self, batch: usize, steps: usize, warmup: usize) -> (&'static str, Vec<String>) {
        let (b, s, w) = (batch.to_string(), steps.to_string(), warmup.to_string());
        match self {
            Workload::Vae => (
                "peer_vae_jax.py",
                vec![
                    "--batch".into(),
                    b,
                    "--steps".into(),
                    s,
                    "--warmup".into(),
                    w,
                ],
            ),
            Workload::PoemVae => (
                "peer_poem_vae_jax.py",
                vec![
                    "--batch".into(),
                    b,
                    "--steps".into(),
                    s,
                    "--warmup".into(),
                    w,
                    "--vocab".into(),
                    POEM_VOCAB.to_string(),
                ],
            ),
            Workload::ConvVae => (
                "peer_conv_vae_jax.py",
                vec![
                    "--batch".into(),
                    b,
                    "--steps".into(),
                    s,
                    "--warmup".into(),
                    w,
                ],
            ),
            // Its warm-up is the compiling call.
            Workload::Dcgan => (
                "peer_dcgan_jax.py",
                vec![
                    "--batch".into(),
                    b,
                    "--iterations".into(),
                    s,
                    "--runs".into(),
                    "1".into(),
                ],
            ),
        }
    }

    /// The family whose registry entry builds the model.
    fn config_family(self) -> &'static str {
        match self {
            Workload::Vae | Workload::ConvVae => "vae",
            Workload::Dcgan => "gan",
            Workload::PoemVae => "text-vae",
        }
    }

    fn config(self) -> &'static str {
        match self {
            Workload::Vae => REFERENCE_VAE,
            Workload::ConvVae => include_str!("../../../configs/vae-conv.yaml"),
            Workload::Dcgan => include_str!("../../../configs/dcgan-small.yaml"),
            Workload::PoemVae => include_str!("../../../configs/poem-vae.yaml"),
        }
    }

    fn data(self) -> DataInfo {
        match self {
            Workload::PoemVae => {
                // Any characters will do: the ids, not their meaning, are timed.
                let chars = (0..POEM_VOCAB - gen_base::vocab::SPECIALS)
                    .map(|i| char::from_u32(0x4e00 + i as u32).unwrap_or('?'))
                    .collect();
                let vocab = gen_base::Vocabulary::from_chars(chars);
                DataInfo::text("random", (10, false), vocab, 1000)
            }
            _ => DataInfo::images("random", (1, 28, 28), 1000),
        }
    }

    /// A value of an example: 0/1 for the Bernoulli VAEs, uniform in [0, 1] for the GAN, a
    /// character id (not a special token) for the poem VAE.
    fn value(self, rng: &mut Rng) -> f32 {
        match self {
            Workload::Dcgan => rng.uniform() as f32,
            Workload::PoemVae => {
                let specials = gen_base::vocab::SPECIALS;
                (specials + rng.below(POEM_VOCAB - specials)) as f32
            }
            _ => (rng.uniform() > 0.5) as u8 as f32,
        }
    }
}

/// One timed run: samples/s and the products' operations per sample.
pub struct Timed {
    pub samples_per_s: f64,
    pub flops_per_sample: f64,
}

/// Builds the model, takes `warmup` steps, then times `steps` steps at batch `b` on this
/// process's threads.
pub fn time(w: Workload, b: usize, steps: usize, warmup: usize) -> Result<Timed> {
    if b == 0 {
        bail!("--batch sizes must be at least 1");
    }
    let entry = registry::find(w.config_family()).context("the family is not registered")?;
    let src = ConfigSource::new(format!("<{} benchmark>", w.name()), w.config());
    let run = RunConfig::parse(&src).map_err(|e| anyhow::anyhow!("{e}"))?;
    let gen_core::Build::Steps(build) = entry.build else {
        bail!("{} is not a step-trained family", w.name());
    };
    let mut rng = Rng::new(0);
    let mut model = build(BuildContext {
        config: &src,
        setup: Setup {
            data: &w.data(),
            device: Device::Cpu,
            dtype: DType::F32,
            optimizer: &run.train.optimizer,
            rng: &mut rng,
        },
    })?;
    let dim = w.data().dim();
    let pool: Vec<Batch> = (0..10)
        .map(|_| {
            let x: Vec<f32> = (0..b * dim).map(|_| w.value(&mut rng)).collect();
            Ok(Batch::inputs(Tensor::from_vec(x, (b, dim), &Device::Cpu)?))
        })
        .collect::<Result<_>>()?;
    let mut noise = Rng::new(1);
    let mut step = 0usize;
    let mut go = |n: usize| -> Result<()> {
        for _ in 0..n {
            model.train_step(&pool[step % pool.len()], &mut noise)?;
            step += 1;
        }
        Ok(())
    };
    go(warmup)?;
    let t0 = Instant::now();
    let (ops, done) = flops::counted(|| go(steps));
    done?;
    let secs = t0.elapsed().as_secs_f64();
    let samples = (steps * b) as f64;
    Ok(Timed {
        samples_per_s: samples / secs,
        flops_per_sample: ops as f64 / samples,
    })
}

/// The machine's matrix-product rate in GFLOP/s on this process's threads: the best of
/// five 1536^3 f32 products on the fused gemm (the ceiling a model's products can reach).
pub fn gemm_peak() -> Result<f64> {
    let n = 1536;
    let mut rng = Rng::new(2);
    let mut matrix = || -> Result<Tensor> {
        let v: Vec<f32> = (0..n * n).map(|_| rng.uniform() as f32 - 0.5).collect();
        Ok(Tensor::from_vec(v, (n, n), &Device::Cpu)?)
    };
    let (a, b) = (matrix()?, matrix()?);
    let mut best = 0f64;
    for _ in 0..5 {
        let t0 = Instant::now();
        let (ops, c) = flops::counted(|| gen_core::kernels::fused::matmul(&a, &b, false, false));
        c?;
        best = best.max(ops as f64 / t0.elapsed().as_secs_f64() / 1e9);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference VAE step's products against a hand count. Per example, forward:
    /// 784x400 (encoder), 2 x 400x20 (heads), 20x400, 400x784 (decoder); backward: every
    /// weight's gradient (the same multiply-adds again) and every input's gradient but the
    /// data's (the encoder's 784x400 is not repeated). Two operations per multiply-add.
    #[test]
    fn the_vae_step_runs_the_hand_counted_products() {
        let fwd = 784 * 400 + 2 * 400 * 20 + 20 * 400 + 400 * 784;
        let per_example = 2.0 * (3 * fwd - 784 * 400) as f64;
        let t = time(Workload::Vae, 8, 3, 1).unwrap();
        assert_eq!(t.flops_per_sample, per_example);
    }

    /// The conv VAE by hand: each convolution's multiply-adds are output positions x
    /// output channels x input channels x k^2 (a transposed one: input positions x ...).
    #[test]
    fn the_conv_vae_step_runs_the_hand_counted_products() {
        let conv1 = 14 * 14 * 32 * 9; // 1 -> 32, k3, 28 -> 14 (its input is data)
        let conv2 = 7 * 7 * 64 * 32 * 9; // 32 -> 64, k3, 14 -> 7
        let heads = 2 * 3136 * 2; // 3136 -> latent 2, twice
        let project = 2 * 32 * 49;
        let up1 = 7 * 7 * 32 * 64 * 16; // 32 -> 64, k4, on a 7x7 input
        let up2 = 14 * 14 * 64 * 32 * 16; // 64 -> 32, k4, on a 14x14 input
        let out = 28 * 28 * 32 * 9; // 32 -> 1, k3
        let fwd = conv1 + conv2 + heads + project + up1 + up2 + out;
        let per_example = 2.0 * (3 * fwd - conv1) as f64;
        let t = time(Workload::ConvVae, 4, 2, 1).unwrap();
        assert_eq!(t.flops_per_sample, per_example);
    }

    /// The DCGAN iteration by hand: G is 100x6272 + up 128->64 on 7x7 + up 64->1 on 14x14,
    /// D is down 1->64 to 14x14 + down 64->128 to 7x7 + 6272x1. A D step runs G forward
    /// (its output detached) and D forward and backward on real and fake batches, but
    /// no input gradient of D's first layer; each of the two G steps runs the old G
    /// forward, G forward and backward (no gradient for the noise), and D forward and
    /// its input gradients only (D is held fixed there: no weight gradients).
    #[test]
    fn the_dcgan_iteration_runs_the_hand_counted_products() {
        let g_dense = 100 * 6272;
        let g = g_dense + 7 * 7 * 128 * 64 * 16 + 14 * 14 * 64 * 16;
        let d1 = 14 * 14 * 64 * 16;
        let d = d1 + 7 * 7 * 128 * 64 * 16 + 6272;
        let d_step = g + 2 * (3 * d - d1);
        let g_step = g + (3 * g - g_dense) + 2 * d;
        let per_example = 2.0 * (d_step + 2 * g_step) as f64;
        let t = time(Workload::Dcgan, 4, 1, 0).unwrap();
        assert_eq!(t.flops_per_sample, per_example);
    }
}
