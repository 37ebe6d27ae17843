//! The importance-sampled log-likelihood: exact on a linear-Gaussian model whose marginal
//! is known in closed form, and above the ELBO, tightening with k, on a trained model.

use candle_core::{DType, Device, Tensor};
use gen_core::model::{Batch, DataInfo};
use gen_core::Family;
use gen_core::Setup;
use gen_core::{Model, Rng};
use gen_nn::optim::OptimizerConfig;
use gen_vae::{DecoderKind, KlEstimator, Vae, VaeConfig};

fn config(hidden: Vec<usize>, latent: usize, sigma: f64) -> VaeConfig {
    VaeConfig {
        family: "vae".into(),
        hidden,
        latent,
        activation: Default::default(),
        decoder: DecoderKind::Gaussian,
        decoder_sigma: sigma,
        kl: KlEstimator::Analytic,
        beta: 1.0,
        samples: 1,
        objective: Default::default(),
        encoder: Default::default(),
        conditional: false,
        decoder_variance: Default::default(),
        network: Default::default(),
        kl_warmup_epochs: 0,
        local_lr: None,
        local_steps: None,
        test_steps: None,
        prior: Default::default(),
    }
}

fn points(dim: usize) -> DataInfo {
    DataInfo::points("points", dim, 1000)
}

fn var(vae: &Vae, name: &str) -> candle_core::Var {
    vae.params()
        .named()
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
        .clone()
}

fn set(vae: &Vae, name: &str, v: Vec<f64>, shape: &[usize]) {
    var(vae, name)
        .set(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
        .unwrap();
}

fn get(vae: &Vae, name: &str) -> Vec<f64> {
    var(vae, name)
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// `log N(x; b, A A^T + s^2 I)` for 3-D x and A of shape 3x2, by Cholesky.
fn exact_log_marginal(x: &[f64], a: &[[f64; 2]; 3], b: &[f64], s: f64) -> f64 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = a[i][0] * a[j][0] + a[i][1] * a[j][1] + if i == j { s * s } else { 0.0 };
        }
    }
    let mut l = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (c[i][i] - sum).sqrt()
            } else {
                (c[i][j] - sum) / l[j][j]
            };
        }
    }
    let mut y = [0.0; 3];
    for i in 0..3 {
        let d = x[i] - b[i];
        y[i] = (d - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let quad: f64 = y.iter().map(|v| v * v).sum();
    let logdet: f64 = (0..3).map(|i| 2.0 * l[i][i].ln()).sum();
    -0.5 * (quad + logdet + 3.0 * (2.0 * std::f64::consts::PI).ln())
}

/// A VAE on `dim`-D points in f64 on the CPU, initialized from `rng`.
fn f64_vae(cfg: VaeConfig, dim: usize, rng: &mut Rng) -> Vae {
    Vae::new(
        cfg,
        &mut Setup {
            data: &points(dim),
            optimizer: &OptimizerConfig::default(),
            device: Device::Cpu,
            dtype: DType::F64,
            rng,
        },
    )
    .unwrap()
}

/// A VAE with linear encoder and decoder from 3-D x to 2-D z, decoder noise `s`.
fn linear_vae(s: f64) -> Vae {
    f64_vae(config(vec![], 2, s), 3, &mut Rng::new(1))
}

/// Linear decoder x = z W + b + N(0, s^2 I) with z ~ N(0, I): the marginal is
/// N(b, W^T W + s^2 I). With the encoder's mean set to the exact posterior mean and its
/// variances to 3x the exact posterior's marginal ones (a 2x2 covariance is at most twice its
/// diagonal, so the proposal is wider than the posterior in every direction and the
/// weights are bounded), the estimate converges to the closed form as k grows.
#[test]
fn importance_estimate_converges_to_the_exact_marginal() {
    let s = 0.5;
    let vae = linear_vae(s);
    // Decoder weight (latent, dim) = W, so A = W^T is 3x2.
    let w = get(&vae, "decoder.0.weight");
    let b = get(&vae, "decoder.0.bias");
    let a = [[w[0], w[3]], [w[1], w[4]], [w[2], w[5]]];
    // Posterior precision M = I + A^T A / s^2, mean = M^-1 A^T (x - b) / s^2.
    let ata = |i: usize, j: usize| (0..3).map(|k| a[k][i] * a[k][j]).sum::<f64>();
    let m = [
        [1.0 + ata(0, 0) / (s * s), ata(0, 1) / (s * s)],
        [ata(1, 0) / (s * s), 1.0 + ata(1, 1) / (s * s)],
    ];
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let minv = [
        [m[1][1] / det, -m[0][1] / det],
        [-m[1][0] / det, m[0][0] / det],
    ];
    // mean_j = sum_i (x_i - b_i) K[i][j] with K = A M^-1 / s^2: a linear head.
    let mut k = [[0.0; 2]; 3];
    for (i, row) in k.iter_mut().enumerate() {
        for (j, kij) in row.iter_mut().enumerate() {
            *kij = (0..2).map(|t| a[i][t] * minv[t][j]).sum::<f64>() / (s * s);
        }
    }
    let head: Vec<f64> = k.iter().flat_map(|r| [r[0], r[1]]).collect();
    let bias: Vec<f64> = (0..2)
        .map(|j| -(0..3).map(|i| b[i] * k[i][j]).sum::<f64>())
        .collect();
    set(&vae, "encoder.mean.weight", head, &[3, 2]);
    set(&vae, "encoder.mean.bias", bias, &[2]);
    set(&vae, "encoder.logvar.weight", vec![0.0; 6], &[3, 2]);
    set(
        &vae,
        "encoder.logvar.bias",
        vec![(3.0 * minv[0][0]).ln(), (3.0 * minv[1][1]).ln()],
        &[2],
    );
    for x in [[0.3, -1.2, 2.0], [1.5, 0.4, -0.7], [-2.0, 2.5, 0.1]] {
        let exact = exact_log_marginal(&x, &a, &b, s);
        let t = Tensor::new(&[x], &Device::Cpu).unwrap();
        let err =
            |k: usize| (vae.log_likelihood_is(&t, k, &mut Rng::new(7)).unwrap()[0] - exact).abs();
        // Monte Carlo error ~ (relative sd of the weights, about 1 here) / sqrt(k).
        let (e1, e200k) = (err(1), err(200_000));
        assert!(
            e200k < 0.01,
            "x {x:?}: exact {exact}, error at k=200000 {e200k}"
        );
        assert!(e200k < e1 / 20.0, "x {x:?}: {e1} -> {e200k}");
    }
}

/// `n` points on two noisy interleaved half circles ("moons").
fn moons(n: usize, rng: &mut Rng) -> Tensor {
    let v: Vec<f64> = (0..n)
        .flat_map(|i| {
            let t = std::f64::consts::PI * rng.uniform();
            let (x, y) = if i % 2 == 0 {
                (t.cos(), t.sin())
            } else {
                (1.0 - t.cos(), 0.5 - t.sin())
            };
            [x + 0.1 * rng.normal(), y + 0.1 * rng.normal()]
        })
        .collect();
    Tensor::from_vec(v, (n, 2), &Device::Cpu).unwrap()
}

/// On a small trained model the mean IS bound at k = 1 is the ELBO, and it rises with k
/// (10, 100, 1000), staying above the ELBO.
#[test]
fn bound_is_above_the_elbo_and_tightens_with_k() {
    let mut rng = Rng::new(2);
    let mut vae = f64_vae(config(vec![32], 2, 0.3), 2, &mut rng);
    for _ in 0..600 {
        let batch = Batch::inputs(moons(128, &mut rng));
        vae.train_step(&batch, &mut rng).unwrap();
    }
    let x = moons(200, &mut Rng::new(3));
    // The ELBO, averaged over 50 draws of the reparameterization noise.
    let mut elbo = 0.0;
    for seed in 0..50 {
        let t = vae.terms(&x, &mut Rng::new(100 + seed)).unwrap();
        elbo -= t.loss().unwrap().to_scalar::<f64>().unwrap() / 50.0;
    }
    let mean_is = |k: usize| {
        let v = vae.log_likelihood_is(&x, k, &mut Rng::new(9)).unwrap();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (l1, l10, l100, l1000) = (mean_is(1), mean_is(10), mean_is(100), mean_is(1000));
    assert!((l1 - elbo).abs() < 0.1, "k = 1 is the ELBO: {l1} vs {elbo}");
    assert!(
        elbo < l10 && l10 < l100 && l100 < l1000,
        "ELBO {elbo}, k=10 {l10}, k=100 {l100}, k=1000 {l1000}"
    );
}

/// `gen eval --refine` on the same linear-Gaussian model, with the decoder's columns made
/// orthogonal so that the exact posterior is a diagonal Gaussian: fitted from the prior, the
/// refined bound reaches `log p(x)` (approximation gap 0), the importance estimate from the
/// fit agrees with the closed form, and the amortized bound of the (untrained) encoder is
/// no better than the refined one.
#[test]
fn refinement_closes_the_gap_on_a_linear_gaussian_model() {
    let s = 0.5;
    let vae = linear_vae(s);
    let a = [[1.6, 0.0], [0.0, 0.9], [1.2, 0.0]];
    let b = [0.2, -0.1, 0.3];
    set(
        &vae,
        "decoder.0.weight",
        vec![1.6, 0.0, 1.2, 0.0, 0.9, 0.0],
        &[2, 3],
    );
    set(&vae, "decoder.0.bias", b.to_vec(), &[3]);
    let xs = [[0.3, -1.2, 2.0], [1.5, 0.4, -0.7], [-2.0, 2.5, 0.1]];
    let batch = Batch::inputs(Tensor::new(&xs, &Device::Cpu).unwrap());
    let mut vi = gen_dist::local_vi::LocalViOptions::new(4000, 0.1);
    (vi.tol, vi.patience) = (1e-3, 20);
    vi.track_samples = 2000; // the reported bounds to about 0.01 nats
    let options = gen_core::RefineOptions {
        vi,
        from: gen_core::RefineStart::Prior,
        importance_samples: 20_000,
    };
    let r = vae
        .refine(&batch, &options, &mut Rng::new(5), &mut |_| {})
        .unwrap()
        .expect("a Gaussian encoder can be refined");
    let amortized = r.amortized.expect("the encoder's bound");
    for (i, x) in xs.iter().enumerate() {
        let exact = -exact_log_marginal(x, &a, &b, s);
        assert!(
            (r.refined[i] - exact).abs() < 0.05,
            "x {x:?}: -ELBO[q*] {} vs -log p(x) {exact}",
            r.refined[i]
        );
        assert!(
            (r.nll[i] - exact).abs() < 0.02,
            "x {x:?}: {} vs {exact}",
            r.nll[i]
        );
        assert!(
            amortized[i] > r.refined[i],
            "x {x:?}: {} vs {}",
            amortized[i],
            r.refined[i]
        );
    }
}

/// Examples go two at a time, one per thread, with the noise drawn first: the estimates
/// for 5 examples (two pairs and one alone) at k = 1,200 (chunks of 500, 500 and 200)
/// equal, bit for bit, those of five one-example calls that share the generator in turn,
/// and the generator ends in the same state.
#[test]
fn pairs_of_examples_draw_as_one_example_after_another() {
    let mut rng = Rng::new(4);
    let vae = f64_vae(config(vec![16], 3, 0.4), 2, &mut rng);
    let x = moons(5, &mut Rng::new(5));
    // One encoder pass for both (its product on 5 rows and on 1 may round differently).
    let post = vae.posterior(&x).unwrap();
    let (mut together, mut alone) = (Rng::new(11), Rng::new(11));
    let all = vae
        .log_likelihood_is_with(&post, &x, None, 1200, &mut together)
        .unwrap();
    let one_by_one: Vec<f64> = (0..5)
        .map(|i| {
            let row = |t: &Tensor| t.narrow(0, i, 1).unwrap();
            let q = gen_dist::dist::DiagGaussian::new(row(&post.mean), row(&post.logvar));
            vae.log_likelihood_is_with(&q, &row(&x), None, 1200, &mut alone)
                .unwrap()[0]
        })
        .collect();
    assert_eq!(all, one_by_one);
    assert_eq!(together.uniform(), alone.uniform());
}
