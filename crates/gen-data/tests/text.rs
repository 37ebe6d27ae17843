//! The text sets on small corpora written here: the couplets' extraction, the split by poem
//! (disjoint, decided by the poem's id), the vocabulary's unknown token and the ids' round
//! trip; a user's lines and their errors.

use gen_base::vocab::{END, PAD, UNK};
use gen_data::source::Locator;
use gen_data::text::is_test_poem;
use gen_data::{DataConfig, Dataset};
use std::io::Write;
use std::path::Path;

fn config(yaml: &str) -> DataConfig {
    gen_base::yaml::from_str(yaml).unwrap()
}

fn locator(dir: &Path) -> Locator {
    Locator {
        search: vec![dir.to_path_buf()],
        cache: None,
        mirrors: vec![],
    }
}

/// Poem ids chosen so that both sides get some: ids hashed to the test side and not.
fn ids(test: bool, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("poem-{i}"))
        .filter(|id| is_test_poem(id) == test)
        .take(n)
        .collect()
}

fn poem(id: &str, paragraphs: &[&str]) -> serde_json::Value {
    serde_json::json!({"author": "x", "title": "t", "id": id, "paragraphs": paragraphs})
}

#[test]
fn couplets_split_by_poem_with_an_unknown_token_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("quantangshi");
    std::fs::create_dir(&folder).unwrap();
    let (train_ids, test_ids) = (ids(false, 3), ids(true, 1));
    // 一, 鶴 and 千 occur once on the training side (below min_count 2); the 7+3-character
    // paragraph and the three-line one are not couplets.
    let a = [
        poem(
            &train_ids[0],
            &["秦川雄帝宅，函谷壯皇居。", "秦川一鶴宅，函谷千皇居。"],
        ),
        poem(
            &train_ids[1],
            &[
                "秦川雄帝宅函谷，壯皇居。",
                "白日依山盡，黃河入海流。",
                "白日依山盡，黃河入海流。",
            ],
        ),
    ];
    let b = [
        poem(
            &train_ids[2],
            &[
                "秦川雄帝宅，函谷壯皇居。秦川雄帝宅，",
                "秦川雄帝宅，函谷壯皇居。",
            ],
        ),
        poem(
            &test_ids[0],
            &["秦川雄帝宅，函谷壯皇居。", "欲窮千里目，更上一層樓。"],
        ),
    ];
    std::fs::write(
        folder.join("poet.tang.0.json"),
        serde_json::to_vec(&a).unwrap(),
    )
    .unwrap();
    // The second file gzipped, as the repository ships them.
    let gz = std::fs::File::create(folder.join("poet.tang.1000.json.gz")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
    enc.write_all(&serde_json::to_vec(&b).unwrap()).unwrap();
    enc.finish().unwrap();

    let data = Dataset::load_from(&config("name: tang-couplets"), &locator(dir.path())).unwrap();
    let vocab = data.info.vocab().unwrap();
    let lines = |s: &gen_data::Split| -> Vec<String> {
        (0..s.n).map(|i| vocab.decode_row(s.row(i))).collect()
    };
    assert_eq!((data.train.dim, data.info.dim()), (10, 10));
    assert_eq!(
        lines(&data.train),
        [
            "秦川雄帝宅函谷壯皇居",
            "秦川□□宅函谷□皇居",
            "白日依山盡黃河入海流",
            "白日依山盡黃河入海流",
            "秦川雄帝宅函谷壯皇居"
        ]
    );
    // The test poem's couplets, in order; 欲窮千里目更上一層樓's characters the training side
    // saw fewer than twice (or never): unknown.
    let test = lines(&data.test);
    assert_eq!(test[0], "秦川雄帝宅函谷壯皇居");
    assert_eq!(test.len(), 2);
    assert!(test[1].chars().all(|c| c == '□'), "{test:?}");
    let row: Vec<u32> = data.test.row(1).iter().map(|&v| v as u32).collect();
    assert!(row.iter().all(|&t| t == UNK), "{row:?}");
    // Seen three times before seen twice, ties by code point; 鶴 (once) left out.
    let mut thrice: Vec<char> = "秦川宅函谷皇居".chars().collect();
    thrice.sort();
    assert_eq!(&vocab.chars()[..7], &thrice[..]);
    assert!(vocab.id('秦') < vocab.id('雄'));
    assert!(!vocab.chars().contains(&'鶴'));
    // min_count 1 keeps it.
    let all = Dataset::load_from(
        &config("name: tang-couplets\nmin_count: 1"),
        &locator(dir.path()),
    )
    .unwrap();
    assert!(all.info.vocab().unwrap().chars().contains(&'鶴'));
}

#[test]
fn no_poems_names_the_folders_searched_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::load_from(&config("name: tang-couplets"), &locator(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("GEN_DATA_DIR"), "{err}");
}

#[test]
fn a_users_lines_end_with_the_end_token_and_bad_files_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let train = write("train.txt", "abc\n\nba\r\ncab\n".as_bytes());
    let yaml = |extra: &str| format!("name: text\ntrain: {}\n{extra}", train.display());
    let data = Dataset::load_from(&config(&yaml("")), &locator(dir.path())).unwrap();
    // The longest line has 3 characters: 4 ids, its end token and padding after.
    assert_eq!(data.train.n, 3);
    assert_eq!(data.info.dim(), 4);
    let ids: Vec<u32> = data.train.row(1).iter().map(|&v| v as u32).collect();
    assert_eq!(&ids[2..], &[END, PAD]);
    assert!(data.test_is_train);

    let long = write("long.txt", "abcd\n".as_bytes());
    let cfg = config(&format!(
        "{}test: {}\nmax_len: 3\n",
        yaml(""),
        long.display()
    ));
    let err = Dataset::load_from(&cfg, &locator(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("long.txt") && err.contains("max_len"), "{err}");
    let cut = format!(
        "{}test: {}\nmax_len: 3\ntruncate: true\n",
        yaml(""),
        long.display()
    );
    assert!(Dataset::load_from(&config(&cut), &locator(dir.path())).is_ok());

    let bad = write("bad.txt", b"fine\n\xff\xfe\n");
    let err = Dataset::load_from(
        &config(&format!("name: text\ntrain: {}\n", bad.display())),
        &locator(dir.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");

    let empty = write("empty.txt", b"\n\n");
    let err = Dataset::load_from(
        &config(&format!("name: text\ntrain: {}\n", empty.display())),
        &locator(dir.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no non-empty line"), "{err}");

    let one = write("one.txt", b"aaa\naa\n");
    let err = Dataset::load_from(
        &config(&format!("name: text\ntrain: {}\n", one.display())),
        &locator(dir.path()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("min_count"), "{err}");
}
