//! `SummaryWriter`: one event file per run directory.

use crate::hparams::{self, HParam, Status};
use crate::proto::{self, Event, Kind, Summary, Value, What};
use crate::record::write_record;
use crate::{Error, Result};
use prost::Message;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct SummaryWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl SummaryWriter {
    /// Creates `dir/events.out.tfevents.<time>.<host>.gen` and writes the version record.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let path = dir.join(format!("events.out.tfevents.{}.{host}.gen", now() as u64));
        let file = File::create(&path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut w = SummaryWriter {
            path,
            out: BufWriter::new(file),
        };
        w.write_event(0, Some(What::FileVersion("brain.Event:2".into())))?;
        w.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn write_event(&mut self, step: i64, what: Option<What>) -> Result<()> {
        let ev = Event {
            wall_time: now(),
            step,
            what,
        };
        let r = write_record(&mut self.out, &ev.encode_to_vec());
        r.map_err(|e| self.io(e))
    }

    fn write_value(&mut self, step: u64, value: Value) -> Result<()> {
        self.write_event(
            step as i64,
            Some(What::Summary(Summary { value: vec![value] })),
        )
    }

    pub fn add_scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<()> {
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(Kind::SimpleValue(value as f32)),
            },
        )
    }

    /// An 8-bit image, `channels` = 1 (gray) or 3 (RGB), row-major interleaved.
    pub fn add_image(
        &mut self,
        tag: &str,
        width: usize,
        height: usize,
        channels: usize,
        pixels: &[u8],
        step: u64,
    ) -> Result<()> {
        let png = encode_png(width, height, channels, pixels)?;
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(Kind::Image(proto::Image {
                    height: height as i32,
                    width: width as i32,
                    colorspace: channels as i32,
                    encoded_image_string: png,
                })),
            },
        )
    }

    pub fn add_histogram(&mut self, tag: &str, h: &Histogram, step: u64) -> Result<()> {
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: None,
                kind: Some(Kind::Histo(h.to_proto())),
            },
        )
    }

    /// Markdown text, shown in TensorBoard's Text tab.
    pub fn add_text(&mut self, tag: &str, text: &str, step: u64) -> Result<()> {
        self.write_value(
            step,
            Value {
                tag: tag.into(),
                metadata: Some(proto::SummaryMetadata {
                    plugin_data: Some(proto::PluginData {
                        plugin_name: "text".into(),
                        content: vec![],
                    }),
                }),
                kind: Some(Kind::Tensor(proto::TensorProto {
                    dtype: proto::DT_STRING,
                    tensor_shape: Some(proto::TensorShapeProto { dim: vec![] }),
                    string_val: vec![text.as_bytes().to_vec()],
                })),
            },
        )
    }

    /// The HParams plugin's session start: the run's hyperparameters (e.g. its flattened
    /// config), under `group` (runs of one group are one row of TensorBoard's table).
    pub fn add_hparams_start(
        &mut self,
        hparams: impl IntoIterator<Item = (String, HParam)>,
        group: &str,
    ) -> Result<()> {
        let info = hparams::SessionStartInfo {
            hparams: hparams
                .into_iter()
                .map(|(k, v)| (k, hparams::ProtoValue { kind: Some(v) }))
                .collect(),
            group_name: group.into(),
            start_time_secs: now(),
        };
        self.add_hparams(
            hparams::SESSION_START_TAG,
            hparams::Data::SessionStartInfo(info),
        )
    }

    /// The HParams plugin's session end.
    pub fn add_hparams_end(&mut self, status: Status) -> Result<()> {
        let info = hparams::SessionEndInfo {
            status: status as i32,
            end_time_secs: now(),
        };
        self.add_hparams(
            hparams::SESSION_END_TAG,
            hparams::Data::SessionEndInfo(info),
        )
    }

    fn add_hparams(&mut self, tag: &str, data: hparams::Data) -> Result<()> {
        let content = hparams::PluginData {
            version: 0,
            data: Some(data),
        };
        self.write_value(
            0,
            Value {
                tag: tag.into(),
                metadata: Some(proto::SummaryMetadata {
                    plugin_data: Some(proto::PluginData {
                        plugin_name: "hparams".into(),
                        content: content.encode_to_vec(),
                    }),
                }),
                // The plugin's null tensor: an empty float vector.
                kind: Some(Kind::Tensor(proto::TensorProto {
                    dtype: proto::DT_FLOAT,
                    tensor_shape: Some(proto::TensorShapeProto {
                        dim: vec![proto::Dim { size: 0 }],
                    }),
                    string_val: vec![],
                })),
            },
        )
    }

    /// Pushes buffered events to disk and syncs the file.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| self.io(e))?;
        let r = self.out.get_ref().sync_data();
        r.map_err(|e| self.io(e))
    }
}

impl Drop for SummaryWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Encodes 8-bit gray (1 channel) or RGB (3 channels) pixels as PNG.
pub fn encode_png(width: usize, height: usize, channels: usize, pixels: &[u8]) -> Result<Vec<u8>> {
    use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};
    let color = match channels {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        4 => ExtendedColorType::Rgba8,
        c => return Err(Error::Image(format!("{c} channels; expected 1, 3 or 4"))),
    };
    if pixels.len() != width * height * channels {
        return Err(Error::Image(format!(
            "{} bytes for a {width}x{height}x{channels} image",
            pixels.len()
        )));
    }
    let mut out = vec![];
    PngEncoder::new(&mut out)
        .write_image(pixels, width as u32, height as u32, color)
        .map_err(|e| Error::Png(e.to_string()))?;
    Ok(out)
}

/// A histogram with TensorBoard's default exponential bucket edges (±1e-12 · 1.1^k).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    pub num: f64,
    pub sum: f64,
    pub sum_squares: f64,
    pub bucket_limit: Vec<f64>,
    pub bucket: Vec<f64>,
}

fn default_edges() -> Vec<f64> {
    let mut pos = vec![];
    let mut v = 1e-12;
    while v < 1e20 {
        pos.push(v);
        v *= 1.1;
    }
    let mut edges: Vec<f64> = pos.iter().rev().map(|x| -x).collect();
    edges.push(0.0);
    edges.extend(pos);
    edges.push(f64::MAX);
    edges
}

impl Histogram {
    /// Buckets the finite values of `values`; empty buckets are dropped (TensorBoard's
    /// own compaction), keeping the limits of the non-empty ones.
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let edges = default_edges();
        let mut counts = vec![0f64; edges.len()];
        let (mut min, mut max, mut num, mut sum, mut sq) =
            (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0.0);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let i = edges.partition_point(|&e| e < v).min(edges.len() - 1);
            counts[i] += 1.0;
            min = min.min(v);
            max = max.max(v);
            num += 1.0;
            sum += v;
            sq += v * v;
        }
        if num == 0.0 {
            min = 0.0;
            max = 0.0;
        }
        let (mut bucket_limit, mut bucket) = (vec![], vec![]);
        for (i, &c) in counts.iter().enumerate() {
            if c > 0.0 {
                bucket_limit.push(edges[i]);
                bucket.push(c);
            }
        }
        Histogram {
            min,
            max,
            num,
            sum,
            sum_squares: sq,
            bucket_limit,
            bucket,
        }
    }

    fn to_proto(&self) -> proto::HistogramProto {
        proto::HistogramProto {
            min: self.min,
            max: self.max,
            num: self.num,
            sum: self.sum,
            sum_squares: self.sum_squares,
            bucket_limit: self.bucket_limit.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::read_records;

    #[test]
    fn histogram_statistics_and_buckets() {
        let h = Histogram::from_values([1.0, 2.0, 2.0, -3.0, f64::NAN]);
        assert_eq!(
            (h.min, h.max, h.num, h.sum, h.sum_squares),
            (-3.0, 2.0, 4.0, 2.0, 18.0)
        );
        assert_eq!(h.bucket.iter().sum::<f64>(), 4.0);
        // each value lies at or below its bucket's limit
        assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
        assert!(h.bucket_limit[0] >= -3.0 && h.bucket_limit[0] < -2.7);
    }

    #[test]
    fn writes_decodable_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SummaryWriter::create(dir.path()).unwrap();
        w.add_scalar("loss", 1.5, 3).unwrap();
        w.add_image("img", 3, 2, 1, &[0, 50, 100, 150, 200, 250], 3)
            .unwrap();
        w.add_text("notes", "hello", 3).unwrap();
        w.flush().unwrap();
        let recs = read_records(File::open(w.path()).unwrap()).unwrap();
        assert_eq!(recs.len(), 4);
        let ev = Event::decode(&recs[1][..]).unwrap();
        assert_eq!(ev.step, 3);
        let Some(What::Summary(s)) = ev.what else {
            panic!()
        };
        assert_eq!(s.value[0].kind, Some(Kind::SimpleValue(1.5)));
        let Some(What::Summary(s)) = Event::decode(&recs[2][..]).unwrap().what else {
            panic!()
        };
        let Some(Kind::Image(img)) = &s.value[0].kind else {
            panic!()
        };
        let decoded = image::load_from_memory(&img.encoded_image_string)
            .unwrap()
            .to_luma8();
        assert_eq!((decoded.width(), decoded.height()), (3, 2));
        assert_eq!(decoded.into_raw(), vec![0, 50, 100, 150, 200, 250]);
        assert!(encode_png(2, 2, 1, &[0; 3]).is_err());
    }
}
