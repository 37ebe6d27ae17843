//! Backpropagated gradients against central finite differences, for the families' tests:
//! a term's gradient is only as good as this check says (f64 models).

use crate::params::Params;
use candle_core::{Tensor, Var};

/// Checks the gradient of the scalar `loss()` with respect to the entries of `params`
/// whose names start with one of `prefixes` (all with `&[""]`): every element, or
/// `per_tensor` evenly spaced ones of each tensor, to a relative tolerance `tol`. `loss`
/// must be deterministic (fix its noise). Panics naming the element that disagrees;
/// returns how many elements were checked.
pub fn assert_gradients_match(
    params: &Params,
    prefixes: &[&str],
    per_tensor: Option<usize>,
    tol: f64,
    loss: impl Fn() -> Tensor,
) -> usize {
    let vars: Vec<&(String, Var)> = params
        .named()
        .iter()
        .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
        .collect();
    let grads = loss().backward().expect("the loss backpropagates");
    let h = 1e-6;
    let mut checked = 0;
    for (name, var) in vars {
        let g: Vec<f64> = grads
            .get(var)
            .unwrap_or_else(|| panic!("{name} has no gradient"))
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("an f64 gradient");
        let orig = var.as_tensor().copy().expect("a copy of the parameter");
        let flat: Vec<f64> = orig
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("an f64 parameter");
        let stride = per_tensor.map_or(1, |k| flat.len().div_ceil(k));
        for i in (0..flat.len()).step_by(stride) {
            let at = |d: f64| {
                let mut v = flat.clone();
                v[i] += d;
                var.set(&Tensor::from_vec(v, orig.shape(), orig.device()).expect("same shape"))
                    .expect("the parameter is set");
                loss().to_scalar::<f64>().expect("a scalar f64 loss")
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            var.set(&orig).expect("the parameter is restored");
            assert!(
                (fd - g[i]).abs() < tol * (1.0 + fd.abs()),
                "{name}[{i}]: backprop {} vs finite difference {fd}",
                g[i]
            );
            checked += 1;
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars::{Init, Vb};
    use candle_core::{DType, Device};
    use gen_base::Rng;

    /// `sum(w^3)` has gradient `3 w^2`: checked; a wrong "gradient" (a loss whose value
    /// and graph disagree) is caught.
    #[test]
    fn a_right_gradient_passes_and_a_wrong_one_is_caught() {
        let vb = Vb::new(Rng::new(0), DType::F64, &Device::Cpu);
        let w = vb
            .pp("a")
            .var(
                4,
                "w",
                Init::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
            )
            .unwrap();
        let params = vb.params();
        let n = assert_gradients_match(&params, &["a."], None, 1e-6, || {
            w.as_tensor().powf(3.0).unwrap().sum_all().unwrap()
        });
        assert_eq!(n, 4);
        let wrong = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // The value is sum(w^3), the graph's gradient that of sum(w^2): detach hides one.
            assert_gradients_match(&params, &[""], Some(2), 1e-6, || {
                let sq = w.as_tensor().sqr().unwrap();
                let extra = (w.as_tensor().powf(3.0).unwrap() - &sq).unwrap().detach();
                (sq + extra).unwrap().sum_all().unwrap()
            })
        }));
        assert!(wrong.is_err());
    }
}
