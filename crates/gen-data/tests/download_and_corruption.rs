//! The download path against a real HTTP server on 127.0.0.1 serving the repository's
//! MNIST files (and a corrupted copy), and corrupt IDX files on disk.

use flate2::{write::GzEncoder, Compression};
use gen_data::config::{DataConfig, DatasetName, Pixels};
use gen_data::source::{parts, Locator};
use gen_data::{idx, DataError, Dataset};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The official files to serve: `$GEN_DATA_DIR/mnist` (CI points it at ../shared/data),
/// else the repository's copy.
fn repo_mnist() -> PathBuf {
    std::env::var_os("GEN_DATA_DIR")
        .map(|d| PathBuf::from(d).join("mnist"))
        .filter(|d| d.join("train-images-idx3-ubyte.gz").is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist"))
}

/// Serves `/good/<file>` from the repository's MNIST copy and `/bad/<file>` with one byte
/// flipped; anything else is a 404. Returns the base URL.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (kind, file) = path
                .trim_start_matches('/')
                .split_once('/')
                .unwrap_or(("", ""));
            let body = std::fs::read(repo_mnist().join(file))
                .ok()
                .filter(|_| !file.contains(".."));
            let resp = match (kind, body) {
                ("good", Some(b)) => Some(b),
                ("bad", Some(mut b)) => {
                    let mid = b.len() / 2;
                    b[mid] ^= 0xff;
                    Some(b)
                }
                _ => None,
            };
            let _ = match resp {
                Some(b) => s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| s.write_all(&b)),
                None => s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://{addr}")
}

fn locator(cache: &Path, mirrors: Vec<String>) -> Locator {
    Locator {
        search: vec![],
        cache: Some(cache.to_path_buf()),
        mirrors,
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn downloads_verifies_and_falls_back_across_mirrors() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // A corrupt mirror first, then a good one: the bad file is discarded, the good one kept.
    let files = locator(
        &cache,
        vec![format!("{base}/bad/"), format!("{base}/good/")],
    )
    .resolve(DatasetName::Mnist)
    .unwrap();
    assert_eq!(idx::read(&files.train_labels).unwrap().dims, vec![60_000]);
    assert_eq!(
        idx::read(&files.test_images).unwrap().dims,
        vec![10_000, 28, 28]
    );
    let want: Vec<String> = parts(DatasetName::Mnist)
        .unwrap()
        .iter()
        .map(|p| p.gz_name())
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        files_in(&cache),
        want_sorted,
        "only the four verified files, no partial ones"
    );
    for name in &want {
        let bytes = std::fs::read(cache.join(name)).unwrap();
        assert_eq!(bytes, std::fs::read(repo_mnist().join(name)).unwrap());
    }
}

#[test]
fn checksum_mismatch_is_a_clear_error_and_leaves_nothing_in_the_cache() {
    let base = serve();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let err = locator(&cache, vec![format!("{base}/bad/")])
        .resolve(DatasetName::Mnist)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::NotFound { .. }));
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(
        msg.contains("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "{msg}"
    );
    assert!(
        msg.contains("GEN_DATA_DIR") && msg.contains("data.dir"),
        "{msg}"
    );
    assert!(
        files_in(&cache).is_empty(),
        "cache holds {:?}",
        files_in(&cache)
    );
}

#[test]
fn offline_error_names_paths_and_urls() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let loc = Locator {
        search: vec![tmp.path().join("nowhere")],
        cache: Some(tmp.path().join("cache")),
        mirrors: vec![format!("http://{dead}/mnist/")],
    };
    let msg = loc
        .resolve(DatasetName::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("fashion-mnist") && msg.contains("nowhere"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("http://{dead}/mnist/train-images-idx3-ubyte.gz")),
        "{msg}"
    );
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a tiny IDX dataset (4 train, 2 test images of 2x2) into `dir`, then applies `spoil`.
fn tiny_set(dir: &Path, spoil: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    let write = |name: &str, dims: &[usize], data: Vec<u8>| {
        let raw = spoil(name, idx::encode(dims, &data));
        std::fs::write(dir.join(format!("{name}.gz")), gz(&raw)).unwrap();
    };
    write(
        "train-images-idx3-ubyte",
        &[4, 2, 2],
        (0..16).map(|i| i * 16).collect(),
    );
    write("train-labels-idx1-ubyte", &[4], vec![0, 1, 2, 3]);
    write("t10k-images-idx3-ubyte", &[2, 2, 2], vec![255; 8]);
    write("t10k-labels-idx1-ubyte", &[2], vec![4, 5]);
}

fn load(dir: &Path, pixels: Pixels) -> Result<Dataset, DataError> {
    let cfg: DataConfig = gen_base::yaml::from_str(&format!(
        "name: mnist\npixels: {}",
        format!("{pixels:?}").to_lowercase()
    ))
    .unwrap();
    Dataset::load_from(
        &cfg,
        &Locator {
            search: vec![dir.to_path_buf()],
            cache: None,
            mirrors: vec![],
        },
    )
}

#[test]
fn loads_a_valid_set_and_binarizes() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_set(tmp.path(), |_, b| b);
    let d = load(tmp.path(), Pixels::Continuous).unwrap();
    assert_eq!((d.train.n, d.test.n, d.train.dim), (4, 2, 4));
    assert_eq!(
        d.train.row(1),
        &[64.0 / 255.0, 80.0 / 255.0, 96.0 / 255.0, 112.0 / 255.0]
    );
    assert_eq!(d.train.labels.as_ref().unwrap(), &vec![0, 1, 2, 3]);
    let s = load(tmp.path(), Pixels::Static).unwrap();
    assert!(s.train.x.iter().all(|&v| v == 0.0 || v == 1.0));
    assert_eq!(s.train.x[0], 0.0, "intensity 0 never turns on");
    assert_eq!(s.test.x, vec![1.0; 8], "intensity 1 always turns on");
}

/// `pixels: threshold` is `np.where(x > .5, 1, 0)`: gray level 112 (0.44) is off and 128
/// (0.502) on; no randomness, so the training pixels are the same at every draw.
#[test]
fn threshold_binarizes_at_one_half() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_set(tmp.path(), |_, b| b);
    let d = load(tmp.path(), Pixels::Threshold).unwrap();
    let expected: Vec<f32> = (0..16).map(|i| if i >= 8 { 1.0 } else { 0.0 }).collect();
    assert_eq!(d.train.x, expected);
    assert_eq!(d.test.x, vec![1.0; 8]);
    let idx: Vec<usize> = (0..4).collect();
    let mut rng = gen_base::Rng::new(0);
    assert_eq!(d.train_batch(&idx, &mut rng).x, expected);
}

/// Rewrites one file's bytes (by file name) to corrupt it.
type Spoil = dyn Fn(&str, Vec<u8>) -> Vec<u8>;

#[test]
fn dynamic_binarization_redraws_pixels_each_time() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_set(tmp.path(), |_, b| b);
    let d = load(tmp.path(), Pixels::Dynamic).unwrap();
    assert!(
        d.train.x.iter().any(|&v| v > 0.0 && v < 1.0),
        "train keeps intensities"
    );
    assert!(
        d.test.x.iter().all(|&v| v == 0.0 || v == 1.0),
        "test is binarized once"
    );
    let mut rng = gen_base::Rng::new(0);
    let idx: Vec<usize> = (0..4).collect();
    let draws: Vec<Vec<f32>> = (0..20).map(|_| d.train_batch(&idx, &mut rng).x).collect();
    assert!(draws.iter().flatten().all(|&v| v == 0.0 || v == 1.0));
    assert!(
        draws.windows(2).any(|w| w[0] != w[1]),
        "fresh pixels per draw"
    );
    // pixel 0 has intensity 0 and pixel 15 intensity 240/255: never on, nearly always on
    assert!(draws.iter().all(|x| x[0] == 0.0));
    assert!(draws.iter().filter(|x| x[15] == 1.0).count() >= 15);
}

#[test]
fn corrupt_files_give_clear_errors() {
    let cases: Vec<(&str, Box<Spoil>, &str)> = vec![
        (
            "bad magic",
            Box::new(|n, mut b| {
                if n.starts_with("train-images") {
                    b[2] = 0x0d;
                }
                b
            }),
            "bad magic",
        ),
        (
            "truncated",
            Box::new(|n, mut b| {
                if n.starts_with("t10k-images") {
                    b.truncate(b.len() - 3);
                }
                b
            }),
            "truncated",
        ),
        (
            "count mismatch",
            Box::new(|n, mut b| {
                if n.starts_with("train-labels") {
                    b[7] = 3;
                    b.pop();
                }
                b
            }),
            "3 labels for 4 images",
        ),
        (
            "swapped",
            Box::new(|n, b| {
                if n.starts_with("train-images") {
                    idx::encode(&[4], &[0, 1, 2, 3])
                } else {
                    b
                }
            }),
            "swapped",
        ),
        (
            "bad label",
            Box::new(|n, mut b| {
                if n.starts_with("t10k-labels") {
                    b[9] = 42;
                }
                b
            }),
            "label 42",
        ),
    ];
    for (what, spoil, expect) in cases {
        let tmp = tempfile::tempdir().unwrap();
        tiny_set(tmp.path(), spoil);
        let msg = load(tmp.path(), Pixels::Continuous)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expect), "{what}: {msg}");
        assert!(
            msg.contains(&tmp.path().display().to_string()),
            "{what}: the path is named: {msg}"
        );
    }
}
