//! A TensorBoard event-file writer.
//!
//! Writes `events.out.tfevents.*` files that TensorBoard reads: TFRecord framing around
//! protobuf `Event` messages (derived with prost; no protoc). Scalars, PNG images (gray or
//! RGB, any aspect), histograms, text and the HParams plugin's sessions. Every write returns a `Result`.

#![forbid(unsafe_code)]

mod hparams;
mod proto;
mod reader;
mod record;
mod writer;

pub use hparams::{HParam, Status};
pub use reader::{read_scalars, wall_time_span};
pub use record::{masked_crc32c, read_records, write_record};
pub use writer::{encode_png, Histogram, SummaryWriter};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("event file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("png encoding: {0}")]
    Png(String),
    #[error("invalid image: {0}")]
    Image(String),
}

pub type Result<T> = std::result::Result<T, Error>;
