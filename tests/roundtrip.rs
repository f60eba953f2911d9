//! Every archive the writer makes, the reader reads: a property test over generated sources
//! whose file names, cluster names, types, labels, annotations and values hold any Unicode,
//! control or bidi character (and data keys any character a data key may hold). Whatever
//! `backup` writes, `inspect`, `verify` and `restore --to-manifests` read, and the restored
//! YAML holds exactly the input's type, labels, annotations and data. Output stays escaped:
//! no escape sequence or bidi control of the input reaches the terminal.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use crate::util::{self, tk, Work};

/// A small deterministic generator (xorshift, as in `retention`'s tests): a failure names
/// its case, and the same case comes back on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.next(from.len() as u64) as usize]
    }

    /// A string of up to `max` characters drawn mostly from the awkward ones: terminal
    /// escapes, line breaks YAML and JSON treat differently, bidi controls, a BOM, YAML
    /// indicators and words YAML would read as another type.
    fn text(&mut self, max: u64) -> String {
        const AWKWARD: &[&str] = &[
            "\u{1b}[31m",
            "\u{1b}]0;t\u{7}",
            "\n",
            "\r",
            "\r\n",
            "\t",
            "\u{0}",
            "\u{7f}",
            "\u{85}",
            "\u{9b}",
            "\u{2028}",
            "\u{2029}",
            "\u{202e}",
            "\u{2066}",
            "\u{200f}",
            "\u{feff}",
            "😀",
            "é",
            "ß",
            "中",
            " ",
            "  ",
            "\"",
            "'",
            "\\",
            ":",
            ": ",
            "#",
            " #",
            "- ",
            "? ",
            "{",
            "}",
            "[",
            "]",
            ",",
            "&a",
            "*a",
            "!",
            "!!str",
            "|",
            ">",
            "%",
            "@",
            "`",
            "---",
            "...",
            "~",
            "null",
            "true",
            "no",
            "0x1f",
            "1e3",
            ".inf",
            "=",
            "a",
            "b",
            "z",
            "0",
            "9",
            "-",
            "_",
            ".",
            "/",
        ];
        let n = self.next(max + 1);
        (0..n).map(|_| self.pick(AWKWARD)).collect()
    }

    /// A data key: any character a Kubernetes data key may hold.
    fn data_key(&mut self, i: usize) -> String {
        const CHARS: &[char] = &['a', 'Z', '0', '-', '_', '.'];
        let n = self.next(12);
        let tail: String = (0..n).map(|_| self.pick(CHARS)).collect();
        format!("k{i}{tail}")
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.next(max + 1);
        (0..n).map(|_| self.next(256) as u8).collect()
    }

    fn map(&mut self, max: u64) -> BTreeMap<String, String> {
        (0..self.next(max + 1))
            .map(|_| (self.text(6), self.text(12)))
            .collect()
    }
}

/// One generated secret, as the source holds it.
#[derive(Debug)]
struct Input {
    name: String,
    type_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    data: BTreeMap<String, Vec<u8>>,
}

fn generate(rng: &mut Rng) -> Vec<Input> {
    (0..1 + rng.next(3) as usize)
        .map(|i| {
            let type_ = match rng.next(3) {
                0 => "Opaque".to_string(),
                1 => format!("example.com/{}", rng.text(8)),
                _ => rng.text(10),
            };
            let data = (0..rng.next(4) as usize)
                .map(|j| (rng.data_key(j), rng.bytes(48)))
                .collect();
            Input {
                name: format!("s{i}"),
                type_,
                labels: rng.map(3),
                annotations: rng.map(3),
                data,
            }
        })
        .collect()
}

/// The source as `kubectl get secret -o json` prints it.
fn source(inputs: &[Input]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<Value> = inputs
        .iter()
        .map(|s| {
            let data: BTreeMap<&String, String> =
                s.data.iter().map(|(k, v)| (k, b64.encode(v))).collect();
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": s.name,
                    "namespace": "gloo-mesh",
                    "labels": s.labels,
                    "annotations": s.annotations,
                },
                "type": s.type_,
                "data": data,
            })
        })
        .collect();
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap()
}

/// A file name (no `/`, no NUL) with awkward characters, or `None` for a plain one.
fn file_name(rng: &mut Rng) -> String {
    let stem: String = rng.text(6).replace(['/', '\0'], "_");
    format!("src{stem}.json")
}

/// Nothing that could drive a terminal: no ESC, no C1 CSI, no bidi control.
fn assert_inert(what: &str, text: &str) {
    let bad = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    assert!(
        !text.chars().any(bad),
        "{what} printed a raw control or bidi character: {text:?}"
    );
}

fn decoded(v: &Value) -> BTreeMap<String, Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), b64.decode(v.as_str().unwrap()).unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

#[test]
fn property_every_archive_the_writer_makes_reads_back() {
    let mut rng = Rng(0x7275_7374_6b65_6570);
    let recipient = util::recipient();
    for case in 0..24 {
        let w = Work::new();
        let inputs = generate(&mut rng);
        let from = w.path(&file_name(&mut rng));
        std::fs::write(&from, source(&inputs)).unwrap();
        let mut args: Vec<String> = vec![
            "backup".into(),
            "--from".into(),
            from.to_str().unwrap().into(),
            "-r".into(),
            recipient.clone(),
            "-o".into(),
            w.path("out/").to_str().unwrap().into(),
            "--output".into(),
            "json".into(),
        ];
        if rng.next(2) == 0 {
            let cluster = rng.text(8).replace('\0', "_");
            if !cluster.is_empty() && !cluster.starts_with('-') {
                args.extend(["--cluster".into(), cluster]);
            }
        }
        for s in &inputs {
            args.extend(["--include".into(), format!("gloo-mesh/{}", s.name)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let b = tk(&args);
        let ctx = format!("case {case}: {inputs:?}");
        // Missing relay secrets are findings (exit 1); the archive is written all the same.
        assert!(b.code == 0 || b.code == 1, "{ctx}: backup: {b:?}");
        let report: Value = serde_json::from_str(&b.stdout).unwrap();
        let archive = std::path::PathBuf::from(report["archive"].as_str().unwrap());

        let i = w.with_id("inspect", &archive, &[]);
        assert_eq!(i.code, 0, "{ctx}: inspect: {i:?}");
        assert_inert("inspect", &i.stdout);
        assert_inert("inspect", &i.stderr);
        let v = w.with_id("verify", &archive, &["--at", util::AT]);
        assert!(v.code == 0 || v.code == 1, "{ctx}: verify: {v:?}");
        assert!(v.stdout.contains("integrity ok"), "{ctx}: {v:?}");
        assert_inert("verify", &v.stdout);
        assert_inert("verify", &v.stderr);

        let dir = w.path("manifests");
        let r = w.with_id(
            "restore",
            &archive,
            &["--to-manifests", dir.to_str().unwrap(), "--allow-invalid"],
        );
        assert_eq!(r.code, 0, "{ctx}: restore: {r:?}");
        assert_inert("restore", &r.stdout);
        for s in &inputs {
            let path = dir.join("gloo-mesh").join(format!("{}.yaml", s.name));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{ctx}: {}: {e}", path.display()));
            let y: Value = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{ctx}: {}: {e}\n{text}", path.display()));
            assert_eq!(y["type"], s.type_.as_str(), "{ctx}: type\n{text}");
            assert_eq!(
                strings(&y["metadata"]["labels"]),
                s.labels,
                "{ctx}: labels\n{text}"
            );
            let mut annotations = strings(&y["metadata"]["annotations"]);
            annotations.remove("trustkeep.io/restored-from");
            assert_eq!(annotations, s.annotations, "{ctx}: annotations\n{text}");
            assert_eq!(decoded(&y["data"]), s.data, "{ctx}: data\n{text}");
        }
    }
}
