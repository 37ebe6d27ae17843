//! Numeric `.csv` files: one point per line, values separated by commas (or, on lines
//! without a comma, by whitespace). Blank lines and lines starting with `#` are skipped;
//! a first line that is not numeric is taken as a header.

use crate::error::DataError;
use crate::npy::Array2;
use std::path::Path;

pub fn read(path: &Path) -> Result<Array2, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse(&text).map_err(|what| DataError::corrupt(path, what))
}

pub fn parse(text: &str) -> Result<Array2, String> {
    let mut data = Vec::new();
    let mut cols: Option<(usize, usize)> = None; // (columns, line where they were set)
    let mut rows = 0;
    let mut names = vec![];
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if line.contains(',') {
            line.split(',').map(str::trim).collect()
        } else {
            line.split_whitespace().collect()
        };
        let parsed: Result<Vec<f64>, (usize, &str)> = fields
            .iter()
            .enumerate()
            .map(|(c, f)| f.parse::<f64>().map_err(|_| (c, *f)))
            .collect();
        let values = match parsed {
            Ok(v) => v,
            Err(_) if rows == 0 && cols.is_none() => {
                cols = Some((fields.len(), line_no)); // a header names the columns
                names = fields.iter().map(|f| f.to_string()).collect();
                continue;
            }
            Err((c, f)) => {
                return Err(format!(
                    "line {line_no}, column {}: `{f}` is not a number",
                    c + 1
                ))
            }
        };
        match cols {
            Some((n, at)) if n != values.len() => {
                return Err(format!(
                    "line {line_no} has {} values, line {at} has {n}",
                    values.len()
                ))
            }
            None => cols = Some((values.len(), line_no)),
            _ => {}
        }
        data.extend(values);
        rows += 1;
    }
    let cols = cols.map(|c| c.0).unwrap_or(0);
    if rows == 0 {
        return Err("no numeric rows".into());
    }
    Ok(Array2 {
        rows,
        cols,
        data,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn header_comments_and_separators() {
        let a = parse("# made by hand\nx,y\n1, 2\n\n3.5,-4e1\n").unwrap();
        assert_eq!((a.rows, a.cols), (2, 2));
        assert_eq!(a.data, vec![1.0, 2.0, 3.5, -40.0]);
        assert_eq!(a.names, vec!["x", "y"]);
        let b = parse("1 2 3\n4\t5 6\n").unwrap();
        assert_eq!((b.rows, b.cols), (2, 3));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        assert_eq!(
            parse("1,2\n3,x\n").unwrap_err(),
            "line 2, column 2: `x` is not a number"
        );
        assert_eq!(
            parse("1,2\n3,4,5\n").unwrap_err(),
            "line 2 has 3 values, line 1 has 2"
        );
        assert_eq!(parse("a,b\n").unwrap_err(), "no numeric rows");
    }
}
