//! Generator of `fixtures/hostile/`: one archive per way an attacker (or a year in a bucket)
//! can make an archive lie, exhaust memory or disagree with GNU tar.
//!
//! Writes, next to `Cargo.toml`:
//!
//! * `fixtures/hostile/<case>.tar.gz.age`: the case, encrypted to the test-only recipient
//!   `fixtures/identities/test-only-age-recipient.txt` (the passphrase case uses the
//!   passphrase `hostile`); a `.sha256` sidecar only where the case is about the sidecar;
//! * `fixtures/hostile/corpus/<case>.tar.gz`: the plaintext (age's payload) of every case, the
//!   seed corpus of the fuzz targets;
//! * `fixtures/hostile/README.md`: what each case does.
//!
//! Run it from the crate root with `cargo run --example gen-hostile`. The plaintexts are
//! byte-identical on every run; the `.age` files differ (age encrypts with a fresh key).
//! tests/hostile.rs holds the verdict each case must get from trustkeep and from GNU tar.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sha2::Digest;
use trustkeep::archive::{self, crypto};
use trustkeep::select::{self, SelectOptions};
use trustkeep::snapshot::Snapshot;
use trustkeep::source;

const MIB: usize = 1024 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Fmt {
    Ustar,
    Gnu,
    V7,
}

/// A raw 512-byte tar header; `fix` lets a case change bytes before the checksum is set.
fn header(name: &[u8], size: u64, kind: u8, fmt: Fmt, fix: impl Fn(&mut [u8; 512])) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000600\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"15151524000\0");
    h[156] = kind;
    match fmt {
        Fmt::Ustar => h[257..265].copy_from_slice(b"ustar\x0000"),
        Fmt::Gnu => h[257..265].copy_from_slice(b"ustar  \x00"),
        Fmt::V7 => {}
    }
    fix(&mut h);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Appends a header and its data, padded to a block.
fn put(tar: &mut Vec<u8>, h: [u8; 512], data: &[u8]) {
    tar.extend_from_slice(&h);
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn regular(tar: &mut Vec<u8>, name: &str, data: &[u8]) {
    put(
        tar,
        header(name.as_bytes(), data.len() as u64, b'0', Fmt::Ustar, |_| {}),
        data,
    );
}

fn end(tar: &mut Vec<u8>) {
    tar.extend_from_slice(&[0u8; 1024]);
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

/// One PAX record, `<len> <key>=<value>\n`, where `<len>` counts itself.
fn pax(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn snapshot() -> Snapshot {
    let inv = source::read_file("fixtures/sample/mgmt.yaml", "gloo-mesh").unwrap();
    let sel = select::select(&inv, &SelectOptions::default());
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap();
    Snapshot::new(&inv, sel, "mgmt", at.into())
}

/// The entries of a gzip'd tar written by the tar crate (which reads what it wrote).
fn entries_of(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((e.path().unwrap().to_string_lossy().into_owned(), data));
    }
    out
}

/// The genuine sample archive: its gzip stream and its entries.
fn genuine() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let (_, gz) = archive::build(&snapshot()).unwrap();
    let e = entries_of(&gz);
    (gz.to_vec(), e)
}

/// The tar of `entries`, each a plain ustar regular file, with or without the end blocks.
fn tar_of(entries: &[(String, Vec<u8>)], with_end: bool) -> Vec<u8> {
    let mut t = Vec::new();
    for (n, d) in entries {
        regular(&mut t, n, d);
    }
    if with_end {
        end(&mut t);
    }
    t
}

/// The tar of `entries` with `extra` (raw header + data) inserted before entry `at`.
fn with_raw(entries: &[(String, Vec<u8>)], at: usize, extra: &[([u8; 512], Vec<u8>)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (i, (n, d)) in entries.iter().enumerate() {
        if i == at {
            for (h, x) in extra {
                put(&mut t, *h, x);
            }
        }
        regular(&mut t, n, d);
    }
    if at >= entries.len() {
        for (h, x) in extra {
            put(&mut t, *h, x);
        }
    }
    end(&mut t);
    t
}

fn edit_manifest(e: &mut [(String, Vec<u8>)], f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&e[0].1).unwrap();
    f(&mut v);
    e[0].1 = serde_json::to_vec_pretty(&v).unwrap();
}

/// What v1 writers before the ustar-only writer emitted for a path over 100 bytes: GNU
/// headers and a `././@LongLink` entry (tar crate `new_gnu` + `append_data`).
fn legacy_gnu() -> Vec<u8> {
    let mut snap = snapshot();
    let long = format!("relay-server-tls-secret-{}", "x".repeat(80));
    snap.secrets[0].record.id.name = long;
    let (_, gz) = archive::build(&snap).unwrap();
    let entries = entries_of(&gz);
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(1_796_083_200);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

/// A manifest listing 65 data files of 4 MiB each: every entry is within its own limit, and
/// the total crosses 256 MiB.
fn over_total() -> Vec<u8> {
    let (_, mut e) = genuine();
    let blob = vec![0u8; 4 * MIB];
    let digest = sha(&blob);
    let mut names = Vec::new();
    edit_manifest(&mut e, |v| {
        let template = v["secrets"][0].clone();
        let list = v["secrets"].as_array_mut().unwrap();
        for i in 0..65 {
            let mut s = template.clone();
            let name = format!("big-{i:02}");
            let dir = format!("secrets/gloo-mesh/{name}");
            s["name"] = name.clone().into();
            s["manifest"]["path"] = format!("{dir}/secret.yaml").into();
            s["data"] = serde_json::json!([{ "key": "blob", "path": format!("{dir}/blob"),
                "size": blob.len(), "sha256": digest, "certificates": [] }]);
            names.push(format!("{dir}/blob"));
            list.push(s);
        }
    });
    let mut t = Vec::new();
    regular(&mut t, &e[0].0, &e[0].1);
    for n in &names {
        regular(&mut t, n, &blob);
    }
    end(&mut t);
    gzip(&t)
}

type Case = (&'static str, &'static str, Box<dyn Fn() -> Vec<u8>>);

const KEY: &str = "secrets/gloo-mesh/relay-server-tls-secret/tls.key";

fn g() -> Vec<(String, Vec<u8>)> {
    genuine().1
}

fn key_at(e: &[(String, Vec<u8>)]) -> usize {
    e.iter().position(|(n, _)| n == KEY).unwrap()
}

/// A link-like (or device, directory, sparse) entry appended to the genuine entries.
fn link(kind: u8, name: &'static str) -> impl Fn() -> Vec<u8> {
    move || {
        let e = genuine().1;
        let h = header(name.as_bytes(), 0, kind, Fmt::Ustar, |h| {
            h[157..168].copy_from_slice(b"/etc/passwd")
        });
        gzip(&with_raw(&e, e.len(), &[(h, vec![])]))
    }
}

/// Accepted cases and tar header tricks.
fn header_cases() -> Vec<Case> {
    vec![
        ("genuine", "the current writer's archive of the sample cluster (accepted)", Box::new(|| genuine().0)),
        ("legacy-gnu-longname", "a v1 archive as writers before the ustar-only one wrote a 125-byte path: GNU headers and a ././@LongLink entry (accepted)", Box::new(legacy_gnu)),
        ("gnu-longname-64mib", "a GNU long-name entry of 64 MiB in front of manifest.json", Box::new(move || {
            let e = g();
            let h = header(b"././@LongLink", 64 * MIB as u64, b'L', Fmt::Gnu, |_| {});
            gzip(&with_raw(&e, 0, &[(h, vec![b'a'; 64 * MIB])]))
        })),
        ("pax-path", "a PAX header renaming tls.key to tls.crt for tar", Box::new(move || {
            let e = g();
            let rec = pax("path", &KEY.replace("tls.key", "tls.crt"));
            let h = header(b"PaxHeaders/tls.key", rec.len() as u64, b'x', Fmt::Ustar, |_| {});
            gzip(&with_raw(&e, key_at(&e), &[(h, rec.into_bytes())]))
        })),
        ("pax-64mib", "a PAX extended header of 64 MiB", Box::new(move || {
            let e = g();
            let h = header(b"PaxHeaders/x", 64 * MIB as u64, b'x', Fmt::Ustar, |_| {});
            gzip(&with_raw(&e, 1, &[(h, vec![b' '; 64 * MIB])]))
        })),
        ("longname-and-pax", "an entry with both a GNU long name and a PAX path naming different files", Box::new(move || {
            let e = g();
            let a = format!("{KEY}\0");
            let l = header(b"././@LongLink", a.len() as u64, b'L', Fmt::Gnu, |_| {});
            let rec = pax("path", "secrets/gloo-mesh/evil");
            let x = header(b"PaxHeaders/x", rec.len() as u64, b'x', Fmt::Gnu, |_| {});
            gzip(&with_raw(&e, key_at(&e), &[(l, a.into_bytes()), (x, rec.into_bytes())]))
        })),
        ("longname-then-ustar", "a GNU long name followed by a POSIX ustar header", Box::new(move || {
            let e = g();
            let a = format!("{KEY}\0");
            let l = header(b"././@LongLink", a.len() as u64, b'L', Fmt::Gnu, |_| {});
            let mut t = Vec::new();
            for (n, d) in &e {
                if n == KEY {
                    put(&mut t, l, a.as_bytes());
                }
                regular(&mut t, n, d);
            }
            end(&mut t);
            gzip(&t)
        })),
        ("gnu-extension-fields", "a GNU header whose atime/sparse area is set", Box::new(move || {
            let e = g();
            let mut t = Vec::new();
            for (i, (n, d)) in e.iter().enumerate() {
                let h = header(n.as_bytes(), d.len() as u64, b'0', Fmt::Gnu, |h| if i == 2 { h[345..357].copy_from_slice(b"15151524000\0") });
                put(&mut t, h, d);
            }
            end(&mut t);
            gzip(&t)
        })),
    ]
}

/// The gzip and tar stream: members, end blocks, checksums, encodings.
fn stream_cases() -> Vec<Case> {
    vec![
        (
            "trailing-bytes-after-gzip",
            "garbage after the gzip member",
            Box::new(|| [genuine().0, b"garbage after the member".to_vec()].concat()),
        ),
        (
            "second-gzip-member",
            "a second gzip member holding another manifest and secret",
            Box::new(move || {
                let extra = tar_of(
                    &[(
                        "secrets/gloo-mesh/evil/secret.yaml".into(),
                        b"kind: Secret\n".to_vec(),
                    )],
                    true,
                );
                [genuine().0, gzip(&extra)].concat()
            }),
        ),
        (
            "data-after-tar-end",
            "an entry after the end-of-archive blocks",
            Box::new(move || {
                let mut t = tar_of(&g(), true);
                regular(
                    &mut t,
                    "secrets/gloo-mesh/evil/secret.yaml",
                    b"kind: Secret\n",
                );
                end(&mut t);
                gzip(&t)
            }),
        ),
        (
            "no-end-of-archive",
            "the tar stops after its last entry, without the zero blocks",
            Box::new(move || gzip(&tar_of(&g(), false))),
        ),
        (
            "bad-checksum",
            "a header altered after its checksum was computed",
            Box::new(move || {
                let mut t = tar_of(&g(), true);
                t[0] = b'M';
                gzip(&t)
            }),
        ),
        (
            "v7-header",
            "old v7 headers (no ustar magic)",
            Box::new(move || {
                let mut t = Vec::new();
                for (n, d) in &g() {
                    put(
                        &mut t,
                        header(n.as_bytes(), d.len() as u64, b'0', Fmt::V7, |_| {}),
                        d,
                    );
                }
                end(&mut t);
                gzip(&t)
            }),
        ),
        (
            "base256-size",
            "an entry whose size is in GNU base-256",
            Box::new(move || {
                let e = g();
                let mut t = Vec::new();
                for (i, (n, d)) in e.iter().enumerate() {
                    let h = header(n.as_bytes(), d.len() as u64, b'0', Fmt::Ustar, |h| {
                        if i == 1 {
                            h[124..136].fill(0);
                            h[124] = 0x80;
                            h[132..136].copy_from_slice(&(d.len() as u32).to_be_bytes());
                        }
                    });
                    put(&mut t, h, d);
                }
                end(&mut t);
                gzip(&t)
            }),
        ),
        (
            "gzip-fname-256kib",
            "a gzip header carrying a 256 KiB file name",
            Box::new(move || {
                let mut gz = flate2::GzBuilder::new()
                    .filename(vec![b'n'; MIB / 4])
                    .write(Vec::new(), flate2::Compression::default());
                gz.write_all(&tar_of(&g(), true)).unwrap();
                gz.finish().unwrap()
            }),
        ),
    ]
}

/// Entry types, paths, sizes and strings.
fn entry_cases() -> Vec<Case> {
    vec![
        (
            "symlink",
            "a symlink to /etc/passwd",
            Box::new(link(b'2', "secrets/gloo-mesh/link")),
        ),
        (
            "hardlink",
            "a hard link to /etc/passwd",
            Box::new(link(b'1', "secrets/gloo-mesh/hard")),
        ),
        (
            "directory",
            "a directory entry",
            Box::new(link(b'5', "secrets/gloo-mesh/dir")),
        ),
        (
            "char-device",
            "a character device",
            Box::new(link(b'3', "secrets/gloo-mesh/dev")),
        ),
        (
            "gnu-sparse",
            "a GNU sparse file",
            Box::new(link(b'S', "secrets/gloo-mesh/sparse")),
        ),
        (
            "dot-component",
            "a path with a `.` component",
            Box::new(move || {
                let mut e = g();
                let i = key_at(&e);
                e[i].0 = KEY.replace("secrets/", "secrets/./");
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "dot-dot",
            "a path escaping with `..`",
            Box::new(move || {
                let mut e = g();
                e.push(("secrets/../../evil".into(), b"x".to_vec()));
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "absolute",
            "an absolute path",
            Box::new(move || {
                let mut e = g();
                e.push(("/tmp/trustkeep-hostile-evil".into(), b"x".to_vec()));
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "duplicate-entry",
            "tls.key twice: tar keeps the second, altered copy",
            Box::new(move || {
                let mut e = g();
                let i = key_at(&e);
                let mut evil = e[i].clone();
                evil.1 = b"-----BEGIN PRIVATE KEY-----\nnot the key\n-----END PRIVATE KEY-----\n"
                    .to_vec();
                e.insert(i + 1, evil);
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "entry-5mib",
            "a data entry of 5 MiB",
            Box::new(move || {
                let mut e = g();
                e.push(("secrets/gloo-mesh/big".into(), vec![0; 5 * MIB]));
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "manifest-17mib",
            "a manifest of 17 MiB",
            Box::new(move || {
                let mut e = g();
                e[0].1.resize(17 * MIB, b' ');
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "total-over-256mib",
            "65 listed entries of 4 MiB each",
            Box::new(over_total),
        ),
        (
            "ansi-in-manifest",
            "a cluster name that paints a fake \"verified OK\" line",
            Box::new(move || {
                let mut e = g();
                edit_manifest(&mut e, |v| {
                    v["cluster"]["name"] = "mgmt\u{1b}[2K\rmgmt: verified OK\n".into()
                });
                gzip(&tar_of(&e, true))
            }),
        ),
        (
            "ansi-in-entry-name",
            "an entry name carrying escape sequences",
            Box::new(move || {
                let mut e = g();
                e.push((
                    "secrets/\u{1b}[2K\u{1b}[32mOK\u{1b}]0;owned\u{7}".into(),
                    b"x".to_vec(),
                ));
                gzip(&tar_of(&e, true))
            }),
        ),
    ]
}

fn tar_cases() -> Vec<Case> {
    [header_cases(), stream_cases(), entry_cases()]
        .into_iter()
        .flatten()
        .collect()
}

fn recipient() -> String {
    fs::read_to_string("fixtures/identities/test-only-age-recipient.txt")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("age1"))
        .unwrap()
        .to_string()
}

fn encrypt(plain: &[u8]) -> Vec<u8> {
    let enc = archive::Encryption::Recipients(vec![crypto::parse_recipient(&recipient()).unwrap()]);
    crypto::encrypt(plain, &enc, false).unwrap()
}

/// A passphrase archive whose scrypt stanza asks for 2^30 (16 GiB of memory).
fn scrypt_30(plain: &[u8]) -> Vec<u8> {
    let mut r =
        age::scrypt::Recipient::new(age::secrecy::SecretString::from("hostile".to_string()));
    r.set_work_factor(10);
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap();
    let text = String::from_utf8_lossy(&out[..200]).into_owned();
    let at = text.find("-> scrypt ").unwrap();
    let eol = at + text[at..].find('\n').unwrap();
    assert_eq!(&out[eol - 3..eol], b" 10");
    out[eol - 2..eol].copy_from_slice(b"30");
    out
}

fn main() {
    let dir = Path::new("fixtures/hostile");
    fs::create_dir_all(dir.join("corpus")).unwrap();
    let mut readme = String::from(
        "# fixtures/hostile\n\nGenerated by `cargo run --example gen-hostile`; tests/hostile.rs holds the verdict\n\
         each case must get from trustkeep (the exact error kind) and from GNU tar. Every `.age`\n\
         file is encrypted to `fixtures/identities/test-only-age-recipient.txt`; `corpus/` holds\n\
         the plaintexts (age's payload), the seed corpus of the fuzz targets.\n\n| case | what |\n|---|---|\n",
    );
    for (name, what, make) in tar_cases() {
        let plain = make();
        fs::write(dir.join(format!("corpus/{name}.tar.gz")), &plain).unwrap();
        fs::write(dir.join(format!("{name}.tar.gz.age")), encrypt(&plain)).unwrap();
        readme.push_str(&format!("| `{name}` | {what} |\n"));
    }
    let (genuine_gz, _) = genuine();
    fs::write(
        dir.join("scrypt-work-factor-30.tar.gz.age"),
        scrypt_30(&genuine_gz),
    )
    .unwrap();
    readme.push_str("| `scrypt-work-factor-30` | a passphrase (`hostile`) archive whose scrypt stanza was raised to 2^30 (16 GiB) |\n");
    let other = dir.join("sidecar-names-other-file.tar.gz.age");
    let cipher = encrypt(&genuine_gz);
    fs::write(&other, &cipher).unwrap();
    fs::write(
        archive::sidecar_path(&other),
        archive::sidecar_line(&cipher, "mgmt-20261201T000000Z.tar.gz.age"),
    )
    .unwrap();
    readme.push_str("| `sidecar-names-other-file` | a correct sha256 in a sidecar naming another file (`sha256sum -c` checks that one) |\n");
    fs::write(dir.join("README.md"), readme).unwrap();
    println!("wrote {}", dir.display());
}
