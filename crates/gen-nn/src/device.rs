//! Device selection by name, with a clear error when support was not compiled in.

use candle_core::Device;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceName {
    #[default]
    Cpu,
    Cuda,
    Metal,
}

impl DeviceName {
    pub fn open(self) -> Result<Device, String> {
        match self {
            DeviceName::Cpu => Ok(Device::Cpu),
            DeviceName::Cuda if cfg!(feature = "cuda") => {
                Device::new_cuda(0).map_err(|e| format!("cannot open CUDA device 0: {e}"))
            }
            DeviceName::Metal if cfg!(feature = "metal") => {
                Device::new_metal(0).map_err(|e| format!("cannot open Metal device 0: {e}"))
            }
            DeviceName::Cuda | DeviceName::Metal => {
                let f = format!("{self:?}").to_lowercase();
                Err(format!(
                    "`device: {f}` needs a gen built with the `{f}` feature: cargo install --path . --features {f} (or use `device: cpu`)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_opens_and_missing_features_explain_themselves() {
        assert!(DeviceName::Cpu.open().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            let e = DeviceName::Cuda.open().unwrap_err();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
