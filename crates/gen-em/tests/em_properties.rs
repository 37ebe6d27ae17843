//! EM's defining properties, checked on data drawn from known mixtures: it recovers
//! the parameters, never lowers the log-likelihood, and its E-step lands exactly on the
//! posterior (computed here independently, from the textbook density).

use gen_core::fit::{FitFamily, FitModel, FitObserver, Iteration, Points};
use gen_core::model::DataInfo;
use gen_core::{Report, Rng};
use gen_em::estep::e_step;
use gen_em::{CovarianceType, EmConfig, GaussianMixtureEm, InitMethod, Mixture};

/// A known 2-D mixture: weights, means, full covariances `[a, b; b, c]`.
struct Truth {
    weights: Vec<f64>,
    means: Vec<[f64; 2]>,
    covs: Vec<[f64; 3]>,
}

fn truth() -> Truth {
    Truth {
        weights: vec![0.5, 0.3, 0.2],
        means: vec![[0.0, 0.0], [8.0, 1.0], [-3.0, 9.0]],
        covs: vec![[1.0, 0.5, 2.0], [0.5, -0.3, 1.0], [2.0, 0.0, 0.3]],
    }
}

/// `n` points from the mixture (Cholesky of each 2x2 covariance by hand).
fn sample(t: &Truth, n: usize, seed: u64) -> Points {
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let u = rng.uniform();
        let mut j = 0;
        let mut acc = t.weights[0];
        while u > acc && j + 1 < t.weights.len() {
            j += 1;
            acc += t.weights[j];
        }
        let [a, b, c] = t.covs[j];
        let (l11, l21) = (a.sqrt(), b / a.sqrt());
        let l22 = (c - l21 * l21).sqrt();
        let (e1, e2) = (rng.normal(), rng.normal());
        x.push(t.means[j][0] + l11 * e1);
        x.push(t.means[j][1] + l21 * e1 + l22 * e2);
    }
    Points {
        x,
        n,
        dim: 2,
        labels: None,
    }
}

fn config(kind: CovarianceType, k: usize, init: InitMethod) -> EmConfig {
    EmConfig {
        family: "em".into(),
        components: k,
        covariance: kind,
        reg_covar: 1e-6,
        init,
        init_from: None,
        n_init: 1,
        tol: 1e-10,
        max_iter: 500,
    }
}

fn info() -> DataInfo {
    DataInfo::points("test", 2, 1000)
}

/// Keeps every iteration's reports.
#[derive(Default)]
struct Record {
    iterations: Vec<Iteration>,
    notes: Vec<String>,
}

impl FitObserver for Record {
    fn iteration(&mut self, it: &Iteration) -> gen_core::Result<()> {
        self.iterations.push(it.clone());
        Ok(())
    }
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_string());
    }
}

fn metric(r: &Report, name: &str) -> Option<f64> {
    r.metrics.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

#[test]
fn recovers_a_known_well_separated_mixture() {
    let t = truth();
    let train = sample(&t, 30_000, 1);
    let test = sample(&t, 3_000, 2);
    let mut em = GaussianMixtureEm::new(
        config(CovarianceType::Full, 3, InitMethod::KmeansPlusPlus),
        &info(),
    );
    let out = em
        .fit(&train, &test, &mut Rng::new(0), &mut Record::default())
        .unwrap();
    assert!(out.converged);
    let m = em.mixture().unwrap();
    // Match fitted components to true ones by nearest mean.
    for (j, mu) in t.means.iter().enumerate() {
        let f = (0..3)
            .min_by(|&a, &b| {
                let da = (m.means[2 * a] - mu[0]).powi(2) + (m.means[2 * a + 1] - mu[1]).powi(2);
                let db = (m.means[2 * b] - mu[0]).powi(2) + (m.means[2 * b + 1] - mu[1]).powi(2);
                da.total_cmp(&db)
            })
            .unwrap();
        // Tolerances: about 5 standard errors at these sample sizes (>= 6,000 points each).
        assert!(
            (m.weights[f] - t.weights[j]).abs() < 0.015,
            "weight {j}: {}",
            m.weights[f]
        );
        let fitted = &m.means[2 * f..2 * f + 2];
        for (got, want) in fitted.iter().zip(mu) {
            assert!((got - want).abs() < 0.1, "mean {j}: {fitted:?}");
        }
        let c = m.cov_2x2(f);
        for (got, want) in c.iter().zip(t.covs[j]) {
            assert!(
                (got - want).abs() < 0.1 * want.abs().max(0.5),
                "covariance {j}: {c:?} vs {:?}",
                t.covs[j]
            );
        }
    }
}

/// Overlapping components and random starts make EM take many small steps; none may
/// lower the training log-likelihood, for any covariance type.
#[test]
fn log_likelihood_never_decreases() {
    let mut t = truth();
    t.means = vec![[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]]; // overlapping
    let train = sample(&t, 5_000, 3);
    for kind in [
        CovarianceType::Full,
        CovarianceType::Diag,
        CovarianceType::Spherical,
    ] {
        for seed in 0..3 {
            let mut em = GaussianMixtureEm::new(config(kind, 4, InitMethod::Random), &info());
            let mut rec = Record::default();
            em.fit(&train, &train, &mut Rng::new(seed), &mut rec)
                .unwrap();
            let lls: Vec<f64> = std::iter::once(
                -rec.iterations[0].phases[0]
                    .1
                    .joint_kl
                    .term("neg_loglik")
                    .unwrap(),
            )
            .chain(
                rec.iterations[1..]
                    .iter()
                    .map(|it| metric(&it.phases[1].1, "loglik/train").unwrap()),
            )
            .collect();
            assert!(
                lls.len() > 5,
                "{kind:?} seed {seed}: only {} iterations",
                lls.len()
            );
            for (i, w) in lls.windows(2).enumerate() {
                assert!(
                    w[1] >= w[0] - 1e-12 * w[0].abs(),
                    "{kind:?} seed {seed}: log-likelihood fell at iteration {}: {} -> {}",
                    i + 1,
                    w[0],
                    w[1]
                );
            }
            // After each M-step the gap KL(p(z|x) || q(z|x)) is >= 0, and positive while
            // the parameters still move; the E-step closes it.
            for it in &rec.iterations[1..] {
                let (e, m) = (&it.phases[0].1, &it.phases[1].1);
                assert_eq!(e.joint_kl.term("posterior_gap"), Some(0.0));
                assert!(m.joint_kl.term("posterior_gap").unwrap() >= -1e-12);
                // the E-step lowers the joint KL to the marginal one: total after the next
                // E-step <= total after this M-step
            }
            assert!(
                rec.iterations[1].phases[1]
                    .1
                    .joint_kl
                    .term("posterior_gap")
                    .unwrap()
                    > 1e-6
            );
            for w in rec.iterations[1..].windows(2) {
                let after_m = w[0].phases[1].1.loss;
                let after_next_e = w[1].phases[0].1.loss;
                assert!(
                    after_next_e <= after_m + 1e-12 * after_m.abs(),
                    "the E-step raised the joint KL"
                );
            }
        }
    }
}

/// log N(x; mu, [a b; b c]) from the explicit inverse and determinant.
fn textbook_log_density(x: [f64; 2], mu: [f64; 2], [a, b, c]: [f64; 3]) -> f64 {
    let det = a * c - b * b;
    let (dx, dy) = (x[0] - mu[0], x[1] - mu[1]);
    let q = (c * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det;
    -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln() - 0.5 * q
}

#[test]
fn the_e_step_lands_exactly_on_the_posterior() {
    let t = truth();
    let pts = sample(&t, 2_000, 4);
    let covs: Vec<f64> = t.covs.iter().flat_map(|&[a, b, c]| [a, b, b, c]).collect();
    let means: Vec<f64> = t.means.iter().flatten().copied().collect();
    let mix = Mixture::new(CovarianceType::Full, 2, t.weights.clone(), means, covs).unwrap();
    let mut resp = vec![1.0 / 3.0; pts.n * 3];
    let pass = e_step(&mix, &pts.x, Some(&mut resp), false);
    let mut gap = 0.0;
    let mut loglik = 0.0;
    for i in 0..pts.n {
        let x = [pts.x[2 * i], pts.x[2 * i + 1]];
        let joint: Vec<f64> = (0..3)
            .map(|j| t.weights[j] * textbook_log_density(x, t.means[j], t.covs[j]).exp())
            .collect();
        let marginal: f64 = joint.iter().sum();
        loglik += marginal.ln();
        for j in 0..3 {
            let posterior = joint[j] / marginal;
            let r = resp[i * 3 + j];
            if r > 0.0 {
                gap += r * (r / posterior).ln();
            }
        }
    }
    assert!(
        gap.abs() / (pts.n as f64) < 1e-12,
        "mean KL(r || posterior) = {}",
        gap / pts.n as f64
    );
    assert!(
        (pass.loglik - loglik).abs() < 1e-9 * loglik.abs(),
        "{} vs {loglik}",
        pass.loglik
    );
}

#[test]
fn fewer_points_than_components_is_a_clear_error() {
    let pts = sample(&truth(), 3, 5);
    let mut em = GaussianMixtureEm::new(
        config(CovarianceType::Diag, 8, InitMethod::KmeansPlusPlus),
        &info(),
    );
    let e = em
        .fit(&pts, &pts, &mut Rng::new(0), &mut Record::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("only 3 training points for 8 components"), "{e}");
}

/// Duplicated points and more components than clusters empty a component; it is
/// re-initialized (and said so), and the fit still finishes with finite values.
#[test]
fn an_emptied_component_is_reinitialized_and_reported() {
    let x: Vec<f64> = (0..400)
        .flat_map(|i| if i % 2 == 0 { [0.0, 0.0] } else { [10.0, 10.0] })
        .collect();
    let mut x = x;
    x.extend([5.0, 5.0]); // one odd point, so k-means can seed a third centre
    let pts = Points {
        n: 401,
        dim: 2,
        x,
        labels: None,
    };
    let mut em = GaussianMixtureEm::new(
        config(CovarianceType::Spherical, 4, InitMethod::KmeansPlusPlus),
        &info(),
    );
    let mut rec = Record::default();
    em.fit(&pts, &pts, &mut Rng::new(0), &mut rec).unwrap();
    assert!(
        rec.notes.iter().any(|n| n.contains("emptied")),
        "notes: {:?}",
        rec.notes
    );
    let m = em.mixture().unwrap();
    assert!(m.covariances.iter().all(|c| c.is_finite() && *c > 0.0));
}
