//! Point sets given by path (`data.name: file`): `.npy` or `.csv`, every value finite.

use crate::error::DataError;
use crate::npy::Array2;
use crate::{csv, npy};
use std::path::Path;

/// Reads a `.npy` or `.csv` file of points and checks every value is finite.
pub fn read(path: &Path) -> Result<Array2, DataError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !path.exists() {
        return Err(DataError::Invalid(format!(
            "data file {} does not exist (relative paths are taken from the current directory, {})",
            path.display(),
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "unknown".into())
        )));
    }
    let a = match ext.as_str() {
        "npy" => npy::read(path)?,
        "csv" | "txt" | "tsv" => csv::read(path)?,
        _ => return Err(DataError::corrupt(
            path,
            "unknown file type: give a .npy (2-D float32/float64 array) or a .csv of numeric rows",
        )),
    };
    if a.rows == 0 || a.cols == 0 {
        return Err(DataError::corrupt(
            path,
            format!("holds no points (shape {}x{})", a.rows, a.cols),
        ));
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        let (row, col) = (i / a.cols, i % a.cols);
        let line = if ext == "npy" {
            String::new()
        } else {
            " (counting data rows only, from 0)".to_string()
        };
        return Err(DataError::corrupt(
            path,
            format!(
                "row {row}{line}, column {col} is {}: every value must be finite; drop or impute that row",
                a.data[i]
            ),
        ));
    }
    Ok(a)
}
