//! The token embedding: candle-nn's `Embedding` on a table from the seeded store.

use crate::vars::{Init, Vb};
use candle_core::{DType, Result, Tensor, Var};

/// A `(vocab, dim)` table looked up by token ids; initialized N(0, 1) as PyTorch's
/// `nn.Embedding` (and Keras' uniform(-0.05, 0.05) would do as well at these sizes).
#[derive(Clone)]
pub struct Embedding {
    pub table: Var,
    inner: candle_nn::Embedding,
}

impl Embedding {
    /// `vb.weight`, `(vocab, dim)`.
    pub fn new(vb: &Vb, vocab: usize, dim: usize) -> Result<Self> {
        let table = vb.var(
            (vocab, dim),
            "weight",
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
        )?;
        let inner = candle_nn::Embedding::new(table.as_tensor().clone(), dim);
        Ok(Embedding { table, inner })
    }

    /// Ids of any shape (integers, or small whole floats as batches carry them) to vectors:
    /// `(..., dim)`.
    pub fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        candle_nn::Module::forward(&self.inner, &ids.to_dtype(DType::U32)?)
    }
}

impl candle_nn::Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.lookup(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use gen_base::Rng;

    #[test]
    fn rows_of_the_table_by_id_and_the_gradient_lands_on_them() {
        let vb = Vb::new(Rng::new(0), DType::F64, &Device::Cpu);
        let e = Embedding::new(&vb.pp("emb"), 5, 3).unwrap();
        let ids = Tensor::new(&[[4f32, 0.0], [4.0, 2.0]], &Device::Cpu).unwrap();
        let v = e.lookup(&ids).unwrap();
        assert_eq!(v.dims(), &[2, 2, 3]);
        let table: Vec<Vec<f64>> = e.table.to_vec2().unwrap();
        let got: Vec<Vec<Vec<f64>>> = v.to_vec3().unwrap();
        assert_eq!(got[0][0], table[4]);
        assert_eq!(got[1][1], table[2]);
        let g = v.sum_all().unwrap().backward().unwrap();
        let g: Vec<Vec<f64>> = g.get(e.table.as_tensor()).unwrap().to_vec2().unwrap();
        assert_eq!(
            g.iter().map(|r| r[0]).collect::<Vec<_>>(),
            [1.0, 0.0, 1.0, 0.0, 2.0]
        );
    }
}
