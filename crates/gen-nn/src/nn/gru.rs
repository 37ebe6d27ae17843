//! The gated recurrent unit (Cho et al. 2014) in PyTorch's form, gates in the order reset,
//! update, new: `r = s(x W_ir + b_ir + h W_hr + b_hr)`, `u = s(x W_iz + b_iz + h W_hz +
//! b_hz)`, `n = tanh(x W_in + b_in + r * (h W_hn + b_hn))`, `h' = (1 - u) * n + u * h`.
//!
//! The three gates' weights sit side by side in one `(in, 3H)` and one `(H, 3H)` matrix, and
//! a sequence's input projections are one product for all its steps: the step loop is left
//! with one `(B, H) x (H, 3H)` product per step.

use crate::vars::{Init, Vb};
use candle_core::{IndexOp, Result, Tensor, Var};
use candle_nn::ops::sigmoid;

#[derive(Clone)]
pub struct Gru {
    /// `(in, 3H)`: `[W_ir | W_iz | W_in]`.
    pub w_ih: Var,
    /// `(H, 3H)`: `[W_hr | W_hz | W_hn]`.
    pub w_hh: Var,
    pub b_ih: Var,
    pub b_hh: Var,
    hidden: usize,
}

impl Gru {
    /// `vb.{w_ih, w_hh, b_ih, b_hh}`, uniform in ±1/sqrt(H) as PyTorch's.
    pub fn new(vb: &Vb, input: usize, hidden: usize) -> Result<Self> {
        let bound = Init::Uniform(1.0 / (hidden as f64).sqrt());
        Ok(Gru {
            w_ih: vb.var((input, 3 * hidden), "w_ih", bound)?,
            w_hh: vb.var((hidden, 3 * hidden), "w_hh", bound)?,
            b_ih: vb.var(3 * hidden, "b_ih", bound)?,
            b_hh: vb.var(3 * hidden, "b_hh", bound)?,
            hidden,
        })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The input projections `x W_ih + b_ih` of rows `x` `(N, in)`: `(N, 3H)`.
    fn project(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w_ih)?.broadcast_add(&self.b_ih)
    }

    /// One step from the input projection `gx` `(B, 3H)` and the state `h` `(B, H)`.
    fn cell(&self, gx: &Tensor, h: &Tensor) -> Result<Tensor> {
        let hd = self.hidden;
        let gh = h.matmul(&self.w_hh)?.broadcast_add(&self.b_hh)?;
        let r = sigmoid(&(gx.narrow(1, 0, hd)? + gh.narrow(1, 0, hd)?)?)?;
        let u = sigmoid(&(gx.narrow(1, hd, hd)? + gh.narrow(1, hd, hd)?)?)?;
        let n = (gx.narrow(1, 2 * hd, hd)? + (r * gh.narrow(1, 2 * hd, hd)?)?)?.tanh()?;
        // (1 - u) n + u h = n + u (h - n)
        &n + (u * (h - &n)?)?
    }

    /// One step on inputs `x` `(B, in)` from state `h`: the next state.
    pub fn step(&self, x: &Tensor, h: &Tensor) -> Result<Tensor> {
        self.cell(&self.project(x)?, h)
    }

    /// The states after each step of the sequence `x` `(B, L, in)` from `h0` `(B, H)`:
    /// `(B, L, H)`.
    pub fn forward(&self, x: &Tensor, h0: &Tensor) -> Result<Tensor> {
        let (b, l, input) = x.dims3()?;
        let gx = self
            .project(&x.reshape((b * l, input))?)?
            .reshape((b, l, 3 * self.hidden))?;
        let mut h = h0.clone();
        let mut states = Vec::with_capacity(l);
        for t in 0..l {
            h = self.cell(&gx.i((.., t))?, &h)?;
            states.push(h.clone());
        }
        Tensor::stack(&states, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck;
    use candle_core::{DType, Device};
    use gen_base::Rng;

    /// Each gate with its own weight blocks, one step after another, as the equations read.
    fn unfused(g: &Gru, x: &Tensor, h0: &Tensor) -> Tensor {
        let hd = g.hidden;
        let block = |w: &Var, k: usize| w.narrow(w.rank() - 1, k * hd, hd).unwrap();
        let s = |t: Tensor| candle_nn::ops::sigmoid(&t).unwrap();
        let lin = |x: &Tensor, w: &Var, b: &Var, k: usize| {
            x.matmul(&block(w, k))
                .unwrap()
                .broadcast_add(&block(b, k))
                .unwrap()
        };
        let mut h = h0.clone();
        let mut out = vec![];
        for t in 0..x.dim(1).unwrap() {
            let xt = x.i((.., t)).unwrap();
            let r = s((lin(&xt, &g.w_ih, &g.b_ih, 0) + lin(&h, &g.w_hh, &g.b_hh, 0)).unwrap());
            let u = s((lin(&xt, &g.w_ih, &g.b_ih, 1) + lin(&h, &g.w_hh, &g.b_hh, 1)).unwrap());
            let hn = (r * lin(&h, &g.w_hh, &g.b_hh, 2)).unwrap();
            let n = (lin(&xt, &g.w_ih, &g.b_ih, 2) + hn)
                .unwrap()
                .tanh()
                .unwrap();
            let one_minus_u = u.affine(-1.0, 1.0).unwrap();
            h = ((one_minus_u * n).unwrap() + (u * &h).unwrap()).unwrap();
            out.push(h.clone());
        }
        Tensor::stack(&out, 1).unwrap()
    }

    fn setup() -> (Vb, Gru, Tensor, Tensor) {
        let vb = Vb::new(Rng::new(1), DType::F64, &Device::Cpu);
        let g = Gru::new(&vb.pp("gru"), 3, 4).unwrap();
        let mut rng = Rng::new(2);
        let x = rng.randn((2, 5, 3), DType::F64, &Device::Cpu).unwrap();
        let h0 = rng.randn((2, 4), DType::F64, &Device::Cpu).unwrap();
        (vb, g, x, h0)
    }

    #[test]
    fn matches_the_gates_written_out_one_by_one() {
        let (_, g, x, h0) = setup();
        let fused: Vec<Vec<Vec<f64>>> = g.forward(&x, &h0).unwrap().to_vec3().unwrap();
        let plain: Vec<Vec<Vec<f64>>> = unfused(&g, &x, &h0).to_vec3().unwrap();
        for (a, b) in fused
            .iter()
            .flatten()
            .flatten()
            .zip(plain.iter().flatten().flatten())
        {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
        // A step is the sequence of one.
        let one = g.step(&x.i((.., 0)).unwrap(), &h0).unwrap();
        let first: Vec<Vec<f64>> = one.to_vec2().unwrap();
        assert_eq!(first[1], fused[1][0]);
    }

    #[test]
    fn its_gradients_match_finite_differences() {
        let (vb, g, x, h0) = setup();
        let loss = || {
            g.forward(&x, &h0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
        };
        assert!(gradcheck::assert_gradients_match(&vb.params(), &[""], None, 1e-5, loss) > 0);
    }
}
