//! Reading scalars back from an event file (for tests and tools; TensorBoard itself is
//! the reference reader).

use crate::proto::{Event, Kind, What};
use crate::record::read_records;
use prost::Message;
use std::io;
use std::path::Path;

/// Every scalar in the file as (step, tag, value), in file order.
pub fn read_scalars(path: &Path) -> io::Result<Vec<(i64, String, f32)>> {
    let file = std::fs::File::open(path)?;
    let mut out = vec![];
    for rec in read_records(io::BufReader::new(file))? {
        let ev =
            Event::decode(&rec[..]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if let Some(What::Summary(s)) = ev.what {
            for v in s.value {
                if let Some(Kind::SimpleValue(x)) = v.kind {
                    out.push((ev.step, v.tag, x));
                }
            }
        }
    }
    Ok(out)
}

/// The wall times of the file's first and last events (seconds since the epoch), `None`
/// for a file without events: how long the session that wrote it ran.
pub fn wall_time_span(path: &Path) -> io::Result<Option<(f64, f64)>> {
    let file = std::fs::File::open(path)?;
    let mut span: Option<(f64, f64)> = None;
    for rec in read_records(io::BufReader::new(file))? {
        let ev =
            Event::decode(&rec[..]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        span = Some(match span {
            None => (ev.wall_time, ev.wall_time),
            Some((a, b)) => (a.min(ev.wall_time), b.max(ev.wall_time)),
        });
    }
    Ok(span)
}
