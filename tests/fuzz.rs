//! A stable, deterministic fuzz harness (cargo-fuzz needs a nightly toolchain and a sanitizer
//! build, which CI does not have): seeded mutations of the committed seed corpus
//! (fixtures/hostile/corpus/) through every layer of the reader (age, gzip, tar, manifest,
//! secret.yaml) and through the PEM/X.509 parser. A panic fails the test and names the seed;
//! the number of executions comes from `TRUSTKEEP_FUZZ_EXECS` (CI runs a bounded larger one).

use std::io::Read;

use trustkeep::archive::{self, crypto, Identities};

use crate::util::{fixture, Work};

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four edits: flip a bit, set a byte to a boundary value, truncate, duplicate or
/// delete a range, or overwrite a tar header field with digits.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.push(0);
        }
        let at = rng.below(b.len());
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = [0, 0x7f, 0x80, 0xff, b'/', b'.'][rng.below(6)],
            2 => b.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(1024)).min(b.len());
                let chunk = b[at..end].to_vec();
                b.splice(at..at, chunk);
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                let end = (at + 12).min(b.len());
                for x in &mut b[at..end] {
                    *x = b'0' + rng.below(10) as u8;
                }
            }
        }
    }
    b
}

fn execs() -> usize {
    std::env::var("TRUSTKEEP_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn gunzip(gz: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(2 * 1024 * 1024 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= 2 * 1024 * 1024).then_some(out)
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The seed corpus: (gzip stream, its tar), without the cases that expand past 2 MiB (the
/// hostile suite covers those; here they would only spend the budget decompressing).
fn corpus() -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut files: Vec<_> = std::fs::read_dir(fixture("hostile/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the seed corpus is missing");
    files
        .iter()
        .map(|p| {
            let gz = std::fs::read(p).unwrap();
            let tar = gunzip(&gz);
            (gz, tar)
        })
        .filter(|(_, tar)| tar.is_some())
        .collect()
}

#[test]
fn the_archive_reader_survives_mutations_of_the_seed_corpus() {
    let corpus = corpus();
    let n = execs();
    let mut rng = Rng(0x7275_7374_6b65_6570);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..n {
        let (gz, tar) = &corpus[rng.below(corpus.len())];
        let input = match tar {
            // Mutating the tar and recompressing reaches the tar, manifest and YAML layers.
            Some(t) if rng.below(3) > 0 => gzip(&mutate(&mut rng, t)),
            _ => mutate(&mut rng, gz),
        };
        match archive::open_plaintext(&input, &format!("fuzz-{i}")) {
            Ok(_) => accepted += 1,
            Err(e) => {
                let m = e.to_string();
                assert!(
                    m.starts_with(&format!("fuzz-{i}")) && m.len() < 4096,
                    "exec {i}: {m}"
                );
                refused += 1;
            }
        }
    }
    println!("archive reader: {n} executions, {accepted} accepted, {refused} refused, 0 panics");
}

#[test]
fn the_age_layer_survives_mutations_of_a_ciphertext() {
    let w = Work::new();
    let mut ids = Identities::default();
    crypto::load_identity(&w.id(), &mut ids).unwrap();
    let genuine = std::fs::read(fixture("hostile/genuine.tar.gz.age")).unwrap();
    let n = execs() / 5;
    let mut rng = Rng(0x6167_6531);
    for i in 0..n {
        let input = mutate(&mut rng, &genuine);
        if let Err(e) = archive::open(&input[..], &ids, &|| None, "fuzz.age") {
            assert!(e.to_string().starts_with("fuzz.age"), "exec {i}: {e}");
        }
    }
    println!("age layer: {n} executions, 0 panics");
}

#[test]
fn the_pem_and_x509_parser_survives_mutations_of_real_certificates() {
    let opened = archive::open_plaintext(
        &std::fs::read(fixture("hostile/corpus/genuine.tar.gz")).unwrap(),
        "genuine",
    )
    .unwrap();
    let pems: Vec<Vec<u8>> = opened
        .files
        .iter()
        .filter(|(p, _)| p.ends_with(".crt") || p.ends_with(".key") || p.ends_with(".pem"))
        .map(|(_, b)| b.expose().to_vec())
        .collect();
    assert!(!pems.is_empty());
    let n = execs();
    let mut rng = Rng(0x7065_6d31);
    for _ in 0..n {
        let seed = &pems[rng.below(pems.len())];
        let input = mutate(&mut rng, seed);
        if let Ok(certs) = trustkeep::pki::parse_certs(&input) {
            for c in &certs {
                let _ = c.x509();
            }
        }
    }
    println!("PEM/X.509: {n} executions, 0 panics");
}
