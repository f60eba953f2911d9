//! Archives whose origin is proven: `backup --sign-key` writes `<archive>.sig`, and with
//! `--trusted-signers` every reader (`verify`, `list --latest`, `restore`, `restore --latest`,
//! `inspect`, `export`) refuses, before decrypting it, an archive that is unsigned, forged by
//! a stranger who knows only the public age recipient, carries a signature copied from
//! another archive, a truncated or empty one, a re-made sidecar and signature, one made in
//! another namespace, or one by a key whose allowed_signers entry has expired. Refused means
//! exit 1 and nothing written. The stock `ssh-keygen -Y verify|sign` is the peer both ways.
//! No output ever holds a secret value or key bytes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, ext, fixture, tk, tk_env, Run, Work};

/// The principal the tests trust.
pub const PRINCIPAL: &str = "ops@example.com";

/// The test-only keys in a work directory (private ones 0600, as ssh-keygen wants them) and
/// an allowed_signers file trusting the signing key for namespace trustkeep.
pub struct Keys {
    pub trusted: PathBuf,
    pub foreign: PathBuf,
    pub allowed: PathBuf,
    /// `SHA256:…` of the trusted key.
    pub fingerprint: String,
}

pub fn keys(w: &Work) -> Keys {
    let trusted = w.copy_private("signing/test-only-signing-ed25519", "signing-key");
    let foreign = w.copy_private("signing/test-only-foreign-signing-ed25519", "foreign-key");
    let allowed = w.path("allowed_signers");
    let line = format!(
        "# who may sign trustkeep archives\n{PRINCIPAL} namespaces=\"trustkeep\" {}",
        public_key("signing/test-only-signing-ed25519.pub")
    );
    std::fs::write(&allowed, line).unwrap();
    let fingerprint = trustkeep::signature::SigningKey::read(&trusted)
        .unwrap()
        .fingerprint();
    Keys {
        trusted,
        foreign,
        allowed,
        fingerprint,
    }
}

fn public_key(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel))
        .unwrap()
        .trim()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Backs up the sample management cluster into `dir` (signed with `key` when given); returns
/// the archive's path.
fn backup(dir: &Path, key: Option<&Path>) -> PathBuf {
    let mut extra = vec!["--cluster", "mgmt", "--output", "json"];
    if let Some(k) = key {
        extra.extend(["--sign-key", s(k)]);
    }
    let r = util::backup("sample/mgmt.yaml", dir, &extra);
    assert_eq!(r.code, 0, "{r:?}");
    assert_clean(&r);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    PathBuf::from(v["archive"].as_str().unwrap())
}

fn sig_of(archive: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", archive.display()))
}

fn sidecar_of(archive: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sha256", archive.display()))
}

/// `<cluster>-<time>[.N].tar.gz.age` → (time, N): the order of archives.
fn order(p: &Path) -> (String, u32) {
    let n = name(p);
    let stem = n.strip_suffix(".tar.gz.age").unwrap();
    let (time, seq) = match stem.rsplit_once('.') {
        Some((t, n)) => (t, n.parse().unwrap()),
        None => (stem, 0),
    };
    (time.to_string(), seq)
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The test-only secrets no output may show: the age identity, every signing key's private
/// part, and values of the sample cluster (the relay identity token, raw and base64).
fn forbidden() -> Vec<String> {
    let mut out = vec!["AGE-SECRET-KEY".to_string(), "PRIVATE KEY".to_string()];
    for k in [
        "signing/test-only-signing-ed25519",
        "signing/test-only-foreign-signing-ed25519",
        "signing/test-only-encrypted-signing-ed25519",
    ] {
        let text = std::fs::read_to_string(fixture(k)).unwrap();
        out.extend(
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(|l| l[..l.len().min(40)].to_string()),
        );
    }
    let token = "cTdSa1gybVZuOUxjVDR3WjhoSnAzc1liNmZEYTFnVWVLNW9OaVd4MA==";
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    out.push(token.to_string());
    out.push(String::from_utf8(raw).unwrap());
    out
}

/// Nothing secret in a run's output.
pub fn assert_clean(r: &Run) {
    for f in forbidden() {
        assert!(
            !r.stdout.contains(&f) && !r.stderr.contains(&f),
            "output holds secret material {f:?}: {r:?}"
        );
    }
}

/// `trustkeep ARGS… --trusted-signers FILE [-i id] <extra>`, checked clean.
fn with_policy(w: &Work, k: &Keys, args: &[&str], ids: bool) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--trusted-signers", s(&k.allowed)]);
    let id = w.id();
    if ids {
        all.extend(["-i", s(&id)]);
    }
    let r = tk(&all);
    assert_clean(&r);
    r
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

#[test]
fn signed_backups_are_trusted_and_the_signer_shows_everywhere() {
    let w = Work::new();
    let k = keys(&w);
    let dir = w.path("b/");
    let r = util::backup(
        "sample/mgmt.yaml",
        &dir,
        &[
            "--sign-key",
            s(&k.trusted),
            "--output",
            "json",
            "--metrics-file",
            s(&w.path("backup.prom")),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_clean(&r);
    let b = json(&r);
    let a = PathBuf::from(b["archive"].as_str().unwrap());
    assert_eq!(b["signature"], format!("{}.sig", a.display()));
    assert_eq!(b["signer"], k.fingerprint.as_str());
    let sig = std::fs::read_to_string(sig_of(&a)).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----\n"), "{sig}");
    let prom = std::fs::read_to_string(w.path("backup.prom")).unwrap();
    assert!(
        prom.contains("trustkeep_backup_signed{cluster=\"mgmt\"} 1"),
        "{prom}"
    );

    // verify: the origin in JSON and text, the auditor's report, the metrics.
    let report = w.path("report.html");
    let md = w.path("report.md");
    let metrics = w.path("verify.prom");
    let r = with_policy(
        &w,
        &k,
        &[
            "verify",
            s(&dir),
            "--at",
            util::AT,
            "--output",
            "json",
            "--report",
            s(&report),
            "--metrics-file",
            s(&metrics),
        ],
        true,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    let origin = &v["archives"][0]["origin"];
    assert_eq!(origin["status"], "trusted", "{v}");
    assert_eq!(origin["signer"]["principal"], PRINCIPAL);
    assert_eq!(origin["signer"]["key"], k.fingerprint.as_str());
    assert_eq!(origin["signer"]["algorithm"], "ssh-ed25519");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("id=\"origins\"")
            && html.contains(PRINCIPAL)
            && html.contains(&k.fingerprint),
        "the report names the signer"
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let series = format!(
        "trustkeep_verify_archives_signed{{principal=\"{PRINCIPAL}\",key=\"{}\"}} 1",
        k.fingerprint
    );
    assert!(prom.contains(&series), "{prom}");
    assert!(
        prom.contains("trustkeep_verify_archives_refused 0"),
        "{prom}"
    );
    let r = with_policy(
        &w,
        &k,
        &["verify", s(&dir), "--at", util::AT, "--report", s(&md)],
        true,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "integrity ok, signed by {PRINCIPAL} ({})",
            k.fingerprint
        )),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("unverified"), "{}", r.stdout);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("## Origin of the archives") && md.contains(&k.fingerprint));

    // inspect, list, restore name the signer too.
    let r = with_policy(&w, &k, &["inspect", s(&a)], true);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "origin:   trusted: signed by {PRINCIPAL} ({})",
            k.fingerprint
        )),
        "{}",
        r.stdout
    );
    let r = with_policy(&w, &k, &["inspect", s(&a), "--output", "json"], true);
    assert_eq!(json(&r)["origin"]["signer"]["principal"], PRINCIPAL);
    let r = with_policy(&w, &k, &["list", s(&dir)], false);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.lines().next().unwrap().contains("SIGNER"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("{PRINCIPAL} ({})", k.fingerprint)),
        "{}",
        r.stdout
    );
    let r = with_policy(&w, &k, &["list", s(&dir), "--output", "json"], false);
    assert_eq!(
        json(&r)[0]["origin"]["signer"]["key"],
        k.fingerprint.as_str()
    );
    let m = w.path("m");
    let r = with_policy(&w, &k, &["restore", s(&a), "--to-manifests", s(&m)], true);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!("origin: signed by {PRINCIPAL}")),
        "{}",
        r.stdout
    );
    assert!(m.join("gloo-mesh/relay-server-tls-secret.yaml").exists());

    // Without a policy nothing is refused, and verify and restore say the origin is unverified.
    let id = w.id();
    let r = tk(&["verify", s(&dir), "-i", s(&id), "--at", util::AT]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("signed by {} (unverified)", k.fingerprint))
            && r.stdout
                .contains("warning: the origin of 1 archive(s) is unverified"),
        "{}",
        r.stdout
    );
    let r = tk(&[
        "restore",
        s(&a),
        "-i",
        s(&id),
        "--to-manifests",
        s(&w.path("m2")),
        "--dry-run",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("warning: origin unverified"),
        "{}",
        r.stdout
    );
    // The environment variable is the flag for unattended runs.
    let r = tk_env(
        &[
            "verify",
            s(&dir),
            "-i",
            s(&id),
            "--at",
            util::AT,
            "--output",
            "json",
        ],
        &[("TRUSTKEEP_TRUSTED_SIGNERS", s(&k.allowed))],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["archives"][0]["origin"]["status"], "trusted");
}

/// How a newer, bad archive is planted beside a good one.
type Plant = fn(&Work, &Keys, &Path, &Path) -> PathBuf;

/// Each forgery, and what the refusal says.
const FORGERIES: &[(&str, Plant, &str)] = &[
    (
        "a stranger's archive: real age to the real recipient, signed by an unknown key",
        |_, k, dir, _| backup(dir, Some(&k.foreign)),
        "does not list",
    ),
    (
        "a signature copied from another archive",
        |_, _, dir, good| {
            let bad = backup(dir, None);
            std::fs::copy(sig_of(good), sig_of(&bad)).unwrap();
            bad
        },
        "not over this archive's bytes",
    ),
    (
        "a truncated signature",
        |_, k, dir, _| {
            let bad = backup(dir, Some(&k.trusted));
            let sig = std::fs::read(sig_of(&bad)).unwrap();
            std::fs::write(sig_of(&bad), &sig[..sig.len() / 2]).unwrap();
            bad
        },
        "not a readable SSH signature",
    ),
    (
        "an empty signature",
        |_, k, dir, _| {
            let bad = backup(dir, Some(&k.trusted));
            std::fs::write(sig_of(&bad), "").unwrap();
            bad
        },
        "the .sig file is empty",
    ),
    (
        "altered ciphertext with a re-made sidecar and the original signature",
        |_, k, dir, _| altered_with_a_remade_sidecar(dir, &k.trusted).0,
        "not over this archive's bytes",
    ),
    (
        "altered ciphertext with a re-made sidecar and a stranger's signature over it",
        |_, k, dir, _| {
            let (bad, bytes) = altered_with_a_remade_sidecar(dir, &k.trusted);
            let stranger = trustkeep::signature::SigningKey::read(&k.foreign).unwrap();
            std::fs::write(sig_of(&bad), stranger.sign(&bytes, "bad").unwrap()).unwrap();
            bad
        },
        "does not list",
    ),
    (
        "no signature at all",
        |_, _, dir, _| backup(dir, None),
        "unsigned (no .sig beside it)",
    ),
];

/// An archive signed by `key` whose ciphertext is then altered, with a sidecar made anew for
/// the altered bytes (what an attacker with write access can do without the signing key);
/// the path and the altered bytes.
fn altered_with_a_remade_sidecar(dir: &Path, key: &Path) -> (PathBuf, Vec<u8>) {
    let bad = backup(dir, Some(key));
    let mut bytes = std::fs::read(&bad).unwrap();
    let n = bytes.len();
    bytes[n - 30] ^= 0x40;
    std::fs::write(&bad, &bytes).unwrap();
    let line = trustkeep::archive::sidecar_line(&bytes, &name(&bad));
    std::fs::write(sidecar_of(&bad), line).unwrap();
    (bad, bytes)
}

/// A good signed archive and, newer, a bad one, in `b/`.
fn plant(w: &Work, k: &Keys, how: Plant) -> (PathBuf, PathBuf, PathBuf) {
    let dir = w.path("b/");
    let good = backup(&dir, Some(&k.trusted));
    let bad = how(w, k, &dir, &good);
    assert!(order(&bad) > order(&good), "the bad archive is the newer");
    (dir, good, bad)
}

#[test]
fn every_forgery_is_refused_by_every_reader_before_decryption() {
    for (case, how, why) in FORGERIES {
        let w = Work::new();
        let k = keys(&w);
        let (dir, good, bad) = plant(&w, &k, *how);
        let ctx = |r: &Run| format!("{case}: {r:?}");

        // verify: an origin.signature error, not an unreadable archive.
        let r = with_policy(
            &w,
            &k,
            &["verify", s(&bad), "--at", util::AT, "--output", "json"],
            true,
        );
        assert_eq!(r.code, 1, "{}", ctx(&r));
        let v = json(&r);
        let a = &v["archives"][0];
        assert_eq!(a["integrity"], "not checked: origin refused", "{case}: {v}");
        assert_eq!(a["origin"]["status"], "refused", "{case}");
        let f = &a["report"]["findings"][0];
        assert_eq!(f["check"], "origin.signature", "{case}: {v}");
        assert!(f["message"].as_str().unwrap().contains(why), "{case}: {f}");
        assert_eq!(v["unreadable"], 0, "{case}");
        let r = with_policy(
            &w,
            &k,
            &["verify", s(&dir), "--at", util::AT, "--output", "json"],
            true,
        );
        assert_eq!(r.code, 1, "{}", ctx(&r));
        let v = json(&r);
        let statuses: Vec<&str> = v["archives"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["origin"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == "trusted").count(),
            1,
            "{case}: {statuses:?}"
        );

        // list --latest passes over it (with keys or without) and says why.
        for ids in [false, true] {
            let r = with_policy(
                &w,
                &k,
                &["list", s(&dir), "--latest", "--output", "json"],
                ids,
            );
            assert_eq!(r.code, 0, "{}", ctx(&r));
            let v = json(&r);
            assert_eq!(v.as_array().unwrap().len(), 1, "{case}: {v}");
            assert_eq!(v[0]["archive"], s(&good), "{case}");
            assert!(
                r.stderr
                    .contains(&format!("passed over {}: origin refused", s(&bad))),
                "{}",
                ctx(&r)
            );
        }
        // restore --latest takes the good one and names the one it passed over.
        let m = w.path("latest");
        let r = with_policy(
            &w,
            &k,
            &[
                "restore",
                s(&dir),
                "--latest",
                "--dry-run",
                "--to-manifests",
                s(&m),
                "--output",
                "json",
            ],
            true,
        );
        assert_eq!(r.code, 0, "{}", ctx(&r));
        let v = json(&r);
        assert_eq!(v["archive"], name(&good).as_str(), "{case}");
        assert_eq!(v["passed_over"][0]["archive"], s(&bad), "{case}");
        assert_eq!(v["origin"]["status"], "trusted");

        // restore (dry run or not), inspect and export refuse it: exit 1, nothing written.
        let m = w.path("manifests");
        for extra in [&["--dry-run"][..], &[]] {
            let mut args = vec!["restore", s(&bad), "--to-manifests", s(&m)];
            args.extend_from_slice(extra);
            let r = with_policy(&w, &k, &args, true);
            assert_eq!(r.code, 1, "{}", ctx(&r));
            assert!(
                r.stderr.contains("refused before decryption"),
                "{}",
                ctx(&r)
            );
            assert!(r.stderr.contains(why), "{}", ctx(&r));
            assert!(!m.exists(), "{case}: restore wrote {}", m.display());
        }
        let r = with_policy(&w, &k, &["inspect", s(&bad)], true);
        assert_eq!(r.code, 1, "{}", ctx(&r));
        assert!(r.stdout.is_empty(), "{}", ctx(&r));
        let e = w.path("export");
        let r = with_policy(&w, &k, &["export", s(&bad), "--dir", s(&e)], true);
        assert_eq!(r.code, 1, "{}", ctx(&r));
        assert!(!e.exists(), "{case}: export wrote");
    }
}

#[test]
fn import_signs_too() {
    let w = Work::new();
    let k = keys(&w);
    let out = w.path("import.age");
    let r = tk(&[
        "import",
        s(&fixture("seed-manual")),
        "-r",
        &util::recipient(),
        "-o",
        s(&out),
        "--sign-key",
        s(&k.trusted),
    ]);
    assert_eq!(
        r.code, 1,
        "mismatches are problems, the archive is written: {r:?}"
    );
    assert!(sig_of(&out).exists());
    let r = with_policy(&w, &k, &["inspect", s(&out), "--output", "json"], true);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["origin"]["status"], "trusted");
}

#[test]
fn allow_unsigned_admits_the_unsigned_and_never_a_bad_signature() {
    let w = Work::new();
    let k = keys(&w);
    let (dir, _good, unsigned) = plant(&w, &k, |_, _, dir, _| backup(dir, None));
    let lenient = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--allow-unsigned");
        with_policy(&w, &k, &all, true)
    };
    let r = lenient(&["verify", s(&unsigned), "--at", util::AT, "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["archives"][0]["origin"]["status"], "unsigned");
    let r = lenient(&["list", s(&dir), "--latest", "--output", "json"]);
    assert_eq!(
        (r.code, json(&r)[0]["archive"].as_str()),
        (0, Some(s(&unsigned)))
    );
    let m = w.path("m");
    let r = lenient(&["restore", s(&unsigned), "--to-manifests", s(&m)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r
        .stdout
        .contains("warning: origin unverified: unsigned; admitted by --allow-unsigned"));
    // A bad signature stays refused.
    std::fs::write(sig_of(&unsigned), "").unwrap();
    let r = lenient(&["verify", s(&unsigned), "--at", util::AT]);
    assert_eq!(r.code, 1, "{r:?}");
    let r = lenient(&["restore", s(&unsigned), "--to-manifests", s(&w.path("m2"))]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!w.path("m2").exists());
    // --allow-unsigned alone is a mistake, said before anything runs.
    let r = tk(&["verify", s(&unsigned), "-i", s(&w.id()), "--allow-unsigned"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--allow-unsigned admits"), "{r:?}");
}

#[test]
fn an_expired_signer_is_refused_and_a_rotation_trusts_the_new_key() {
    let w = Work::new();
    let k = keys(&w);
    let dir = w.path("b/");
    let old = backup(&dir, Some(&k.trusted));
    let new = backup(&dir, Some(&k.foreign));
    let trusted_pub = public_key("signing/test-only-signing-ed25519.pub");
    let foreign_pub = public_key("signing/test-only-foreign-signing-ed25519.pub");
    // The old key expired (valid-before in the past at the time of the run); the new key is
    // trusted from a past date on.
    std::fs::write(
        &k.allowed,
        format!(
            "{PRINCIPAL} valid-before=\"20200101Z\" {trusted_pub}\n\
             {PRINCIPAL} valid-after=\"20200101Z\",namespaces=\"trustkeep\" {foreign_pub}\n"
        ),
    )
    .unwrap();
    let r = with_policy(
        &w,
        &k,
        &["verify", s(&old), "--at", util::AT, "--output", "json"],
        true,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let msg = json(&r)["archives"][0]["report"]["findings"][0]["message"].clone();
    assert!(
        msg.as_str()
            .unwrap()
            .contains("the key expired at 2020-01-01T00:00:00Z (valid-before)"),
        "{msg}"
    );
    let m = w.path("m");
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = vec!["restore", s(&old), "--to-manifests", s(&m)];
        args.extend_from_slice(extra);
        let r = with_policy(&w, &k, &args, true);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(!m.exists());
    }
    let r = with_policy(&w, &k, &["verify", s(&new), "--at", util::AT], true);
    assert_eq!(r.code, 0, "{r:?}");
    // Only the old key listed, expired: list --latest has nothing good to give.
    std::fs::write(
        &k.allowed,
        format!("{PRINCIPAL} valid-before=\"20200101Z\" {trusted_pub}\n"),
    )
    .unwrap();
    let r = with_policy(
        &w,
        &k,
        &["list", s(&dir), "--latest", "--output", "json"],
        false,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let v = json(&r);
    assert_eq!(
        (v[0]["archive"].as_str(), &v[0]["good"]),
        (Some(s(&new)), &Value::Bool(false))
    );
    assert!(
        r.stderr
            .contains(&format!("passed over {}: origin refused", s(&old))),
        "{r:?}"
    );
    let r = with_policy(
        &w,
        &k,
        &[
            "restore",
            s(&dir),
            "--latest",
            "--dry-run",
            "--to-manifests",
            s(&m),
        ],
        true,
    );
    assert_eq!(r.code, 2, "nothing to restore: {r:?}");
    assert!(r.stderr.contains("--trusted-signers policy"), "{r:?}");
    assert!(!m.exists());
}

#[test]
fn unusable_signing_keys_are_refused_naming_the_file_and_nothing_is_written() {
    let w = Work::new();
    let enc = w.copy_private("signing/test-only-encrypted-signing-ed25519", "enc");
    let rsa = w.copy_private("identities/test-only-ssh-rsa", "rsa");
    let public = fixture("signing/test-only-signing-ed25519.pub");
    let out = w.path("out/");
    for (key, want) in [
        (enc.as_path(), "is encrypted with a passphrase"),
        (rsa.as_path(), "is not an Ed25519 key"),
        (public.as_path(), "is not an OpenSSH private key"),
        (Path::new("/nonexistent/key"), "cannot read it"),
    ] {
        let r = util::backup("sample/mgmt.yaml", &out, &["--sign-key", s(key)]);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(
            r.stderr
                .contains(&format!("signing key {}: {want}", key.display())),
            "{r:?}"
        );
        assert_clean(&r);
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    }
}

#[test]
fn archive_sidecar_and_signature_are_written_all_or_nothing() {
    let w = Work::new();
    let k = keys(&w);
    let a = w.path("out/a.tar.gz.age");
    std::fs::create_dir_all(a.parent().unwrap()).unwrap();
    // Something already holds the signature's name: the backup fails and takes back the
    // archive and sidecar it wrote.
    std::fs::write(sig_of(&a), "not mine").unwrap();
    let r = util::backup("sample/mgmt.yaml", &a, &["--sign-key", s(&k.trusted)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("a.tar.gz.age.sig already exists"),
        "{r:?}"
    );
    assert!(!a.exists() && !sidecar_of(&a).exists());
    assert_eq!(std::fs::read_to_string(sig_of(&a)).unwrap(), "not mine");
    let left: Vec<_> = std::fs::read_dir(a.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    // Retention deletes an archive's signature with it.
    let dir = w.path("b/");
    let first = backup(&dir, Some(&k.trusted));
    let second = backup(&dir, Some(&k.trusted));
    let r = tk(&["prune", s(&dir), "--keep-last", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!first.exists() && !sig_of(&first).exists() && !sidecar_of(&first).exists());
    assert!(second.exists() && sig_of(&second).exists());
}

/// The scenario every store runs: `good` is signed by the trusted key, `forged` (newer) by
/// the stranger; `dir` is their prefix. `run` runs trustkeep with the store's settings.
pub fn check_store(
    w: &Work,
    k: &Keys,
    run: &dyn Fn(&[&str]) -> Run,
    dir: &str,
    good: &str,
    forged: &str,
) {
    let id = w.id();
    let policy = ["--trusted-signers", s(&k.allowed), "-i", s(&id)];
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(policy);
        let r = run(&all);
        assert_clean(&r);
        r
    };
    let r = with(&["verify", dir, "--at", util::AT, "--output", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    for a in json(&r)["archives"].as_array().unwrap() {
        let want = if a["archive"] == good {
            "trusted"
        } else {
            "refused"
        };
        assert_eq!(a["origin"]["status"], want, "{a}");
    }
    let r = with(&["list", dir, "--latest", "--output", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)[0]["archive"], good);
    assert!(
        r.stderr
            .contains(&format!("passed over {forged}: origin refused")),
        "{r:?}"
    );
    let m = w.path("store-manifests");
    let r = with(&["restore", forged, "--to-manifests", s(&m)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!m.exists());
    let r = with(&["restore", dir, "--latest", "--to-manifests", s(&m)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(m.join("gloo-mesh").is_dir());
}

/// Runs a program with `input` on its standard input (`util::run` gives it an empty one).
fn fed(mut cmd: std::process::Command, input: &Path) -> Run {
    cmd.stdin(std::fs::File::open(input).unwrap());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

#[test]
#[ignore = "needs ssh-keygen"]
fn ssh_keygen_verifies_what_trustkeep_signs_and_trustkeep_what_ssh_keygen_signs() {
    let w = Work::new();
    let k = keys(&w);
    let dir = w.path("b/");
    let ours = backup(&dir, Some(&k.trusted));
    // The break-glass check of docs/operations.md, with the stock tool.
    let verify = |archive: &Path, principal: &str, namespace: &str| {
        let mut cmd = std::process::Command::new("ssh-keygen");
        cmd.args([
            "-Y",
            "verify",
            "-f",
            s(&k.allowed),
            "-I",
            principal,
            "-n",
            namespace,
            "-s",
        ])
        .arg(sig_of(archive));
        fed(cmd, archive)
    };
    let r = verify(&ours, PRINCIPAL, "trustkeep");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "Good \"trustkeep\" signature for {PRINCIPAL} with ED25519 key {}",
            k.fingerprint
        )),
        "{r:?}"
    );
    let r = ext(
        "ssh-keygen",
        &[
            "-Y",
            "find-principals",
            "-f",
            s(&k.allowed),
            "-s",
            s(&sig_of(&ours)),
        ],
    );
    assert_eq!((r.code, r.stdout.trim()), (0, PRINCIPAL), "{r:?}");
    // Other bytes, another principal, another namespace: ssh-keygen refuses as trustkeep does.
    let copy = w.path("copy.age");
    std::fs::write(&copy, b"other bytes").unwrap();
    std::fs::copy(sig_of(&ours), sig_of(&copy)).unwrap();
    assert_ne!(verify(&copy, PRINCIPAL, "trustkeep").code, 0);
    assert_ne!(verify(&ours, "mallory@example.com", "trustkeep").code, 0);
    assert_ne!(verify(&ours, PRINCIPAL, "file").code, 0);

    // An archive signed by ssh-keygen -Y sign -n trustkeep is one trustkeep trusts.
    let theirs = backup(&dir, None);
    let r = ext(
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-f",
            s(&k.trusted),
            "-n",
            "trustkeep",
            s(&theirs),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = with_policy(
        &w,
        &k,
        &["verify", s(&theirs), "--at", util::AT, "--output", "json"],
        true,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        json(&r)["archives"][0]["origin"]["signer"]["principal"],
        PRINCIPAL
    );
    let m = w.path("m");
    let r = with_policy(
        &w,
        &k,
        &["restore", s(&theirs), "--to-manifests", s(&m)],
        true,
    );
    assert_eq!(r.code, 0, "{r:?}");

    // Signed by the right key in another namespace: ssh-keygen and trustkeep both refuse.
    let elsewhere = backup(&dir, None);
    let r = ext(
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-f",
            s(&k.trusted),
            "-n",
            "file",
            s(&elsewhere),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(verify(&elsewhere, PRINCIPAL, "trustkeep").code, 0);
    let r = with_policy(
        &w,
        &k,
        &[
            "verify",
            s(&elsewhere),
            "--at",
            util::AT,
            "--output",
            "json",
        ],
        true,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let f = &json(&r)["archives"][0]["report"]["findings"][0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("signed in namespace \"file\""),
        "{f}"
    );
    for extra in [&["--dry-run"][..], &[]] {
        let m = w.path("m-elsewhere");
        let mut args = vec!["restore", s(&elsewhere), "--to-manifests", s(&m)];
        args.extend_from_slice(extra);
        let r = with_policy(&w, &k, &args, true);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(!m.exists());
    }
    let r = with_policy(
        &w,
        &k,
        &["list", s(&dir), "--latest", "--output", "json"],
        false,
    );
    assert_eq!(json(&r)[0]["archive"], s(&theirs), "{r:?}");
    assert!(
        r.stderr.contains(&format!("passed over {}", s(&elsewhere))),
        "{r:?}"
    );

    // An expired entry: ssh-keygen refuses it as trustkeep does.
    let trusted_pub = public_key("signing/test-only-signing-ed25519.pub");
    std::fs::write(
        &k.allowed,
        format!("{PRINCIPAL} valid-before=\"20200101Z\" {trusted_pub}\n"),
    )
    .unwrap();
    let r = verify(&ours, PRINCIPAL, "trustkeep");
    assert_ne!(r.code, 0, "{r:?}");
    let r = with_policy(&w, &k, &["verify", s(&ours), "--at", util::AT], true);
    assert_eq!(r.code, 1, "{r:?}");
    // A namespaces= that excludes trustkeep: both refuse.
    std::fs::write(
        &k.allowed,
        format!("{PRINCIPAL} namespaces=\"git\" {trusted_pub}\n"),
    )
    .unwrap();
    assert_ne!(verify(&ours, PRINCIPAL, "trustkeep").code, 0);
    let r = with_policy(&w, &k, &["verify", s(&ours), "--at", util::AT], true);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
#[ignore = "needs promtool"]
fn promtool_accepts_the_signing_metrics() {
    let w = Work::new();
    let k = keys(&w);
    let dir = w.path("b/");
    let prom = w.path("all.prom");
    let r = util::backup(
        "sample/mgmt.yaml",
        &dir,
        &["--sign-key", s(&k.trusted), "--metrics-file", s(&prom)],
    );
    assert_eq!(r.code, 0, "{r:?}");
    backup(&dir, Some(&k.foreign));
    let vprom = w.path("verify.prom");
    let r = with_policy(
        &w,
        &k,
        &[
            "verify",
            s(&dir),
            "--at",
            util::AT,
            "--metrics-file",
            s(&vprom),
        ],
        true,
    );
    assert_eq!(r.code, 1, "{r:?}");
    for p in [&prom, &vprom] {
        let mut cmd = std::process::Command::new("promtool");
        cmd.args(["check", "metrics"]);
        let c = fed(cmd, p);
        let text = std::fs::read_to_string(p).unwrap();
        assert_eq!(c.code, 0, "promtool check metrics: {c:?}\n{text}");
    }
    let text = std::fs::read_to_string(&vprom).unwrap();
    assert!(
        text.contains("trustkeep_verify_archives_refused 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("key=\"{}\"", k.fingerprint)),
        "{text}"
    );
}
