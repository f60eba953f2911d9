//! The trust policy: which keys may sign archives, read from an OpenSSH `allowed_signers`
//! file (the format `ssh-keygen -Y verify -f` reads), and the verdict on an archive's origin
//! ([`Provenance`]) from its `.sig` file. With a policy, an archive that is unsigned (unless
//! `--allow-unsigned`), signed by a key the file does not list, signed in another namespace,
//! signed outside the key's `valid-after`/`valid-before` window, or whose signature is over
//! other bytes is refused *before it is decrypted*. Without one, the origin is reported as
//! unverified and nothing is refused.
//!
//! It owns the file's parsing and the verdict; reading the `.sig` next to an archive is
//! [`crate::catalogue`]'s, the signature format [`crate::signature`]'s. It never reads the
//! clock: the time of the run comes in.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::error::{Error, Result};
use crate::signature::{Signature, SignatureError, NAMESPACE};

/// Largest allowed_signers file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// An `allowed_signers` file: who may sign, for which namespaces, when.
#[derive(Clone, Debug)]
pub struct AllowedSigners {
    /// The file, for messages.
    origin: String,
    entries: Vec<Entry>,
}

/// One line of the file.
#[derive(Clone, Debug)]
struct Entry {
    line: usize,
    /// The principals field as written (`ops@example.com,backup@example.com`).
    principals: String,
    key: KeyData,
    /// `namespaces="…"`: a pattern list the signature's namespace must match.
    namespaces: Option<String>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
}

impl AllowedSigners {
    /// Reads the file; times without `Z` are in `tz`, as `ssh-keygen` reads them in local time.
    pub fn read<Tz: TimeZone>(path: &Path, tz: &Tz) -> Result<AllowedSigners> {
        use std::io::Read;
        let origin = path.display().to_string();
        let fail = |message: String| {
            Error::from(SignatureError::AllowedSigners {
                path: origin.clone(),
                line: None,
                message,
            })
        };
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf))
            .map_err(|e| fail(format!("cannot read it ({e})")))?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(fail(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = String::from_utf8(buf).map_err(|_| fail("not UTF-8 text".into()))?;
        AllowedSigners::parse(&text, &origin, tz)
    }

    /// Parses the text of an allowed_signers file; `origin` names it in errors.
    pub fn parse<Tz: TimeZone>(text: &str, origin: &str, tz: &Tz) -> Result<AllowedSigners> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let entry = parse_line(line, i + 1, tz).map_err(|message| {
                Error::from(SignatureError::AllowedSigners {
                    path: origin.to_string(),
                    line: Some(i + 1),
                    message,
                })
            })?;
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(Error::from(SignatureError::AllowedSigners {
                path: origin.to_string(),
                line: None,
                message: "lists no key; every archive would be refused (one line per key: PRINCIPALS [OPTIONS] KEYTYPE BASE64)".into(),
            }));
        }
        Ok(AllowedSigners {
            origin: origin.to_string(),
            entries,
        })
    }

    /// The principals of the first line that trusts `key` for namespace `trustkeep` at `now`,
    /// or why none does.
    fn trusts(
        &self,
        key: &KeyData,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let mut why = Vec::new();
        for e in self.entries.iter().filter(|e| e.key == *key) {
            let at = format!("line {} ({})", e.line, e.principals);
            if let Some(ns) = &e.namespaces {
                if match_pattern_list(NAMESPACE, ns) != 1 {
                    why.push(format!(
                        "{at} does not allow namespace {NAMESPACE} (namespaces=\"{ns}\")"
                    ));
                    continue;
                }
            }
            if let Some(t) = e.valid_after.filter(|t| now < *t) {
                why.push(format!("{at}: the key is not valid before {}", rfc3339(t)));
                continue;
            }
            if let Some(t) = e.valid_before.filter(|t| now > *t) {
                why.push(format!(
                    "{at}: the key expired at {} (valid-before)",
                    rfc3339(t)
                ));
                continue;
            }
            return Ok(e.principals.clone());
        }
        if why.is_empty() {
            return Err(format!(
                "signed by key {fingerprint}, which {} does not list",
                self.origin
            ));
        }
        Err(format!(
            "signed by key {fingerprint}, which {} does not trust now: {}",
            self.origin,
            why.join("; ")
        ))
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One non-comment line: `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`.
fn parse_line<Tz: TimeZone>(line: &str, n: usize, tz: &Tz) -> Result<Entry, String> {
    let (principals, rest) = principals(line)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let first = rest.split([' ', '\t']).next().unwrap_or("");
    let mut opts = Options::default();
    let key_text = if looks_like_key_type(first) {
        rest
    } else {
        let after = options(rest, &mut opts, tz)?;
        after.trim_start_matches([' ', '\t'])
    };
    let key = key(key_text)?;
    if let (Some(a), Some(b)) = (opts.valid_after, opts.valid_before) {
        if b <= a {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(Entry {
        line: n,
        principals,
        key,
        namespaces: opts.namespaces,
        valid_after: opts.valid_after,
        valid_before: opts.valid_before,
    })
}

/// The options of a line.
#[derive(Default)]
struct Options {
    namespaces: Option<String>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
}

/// The principals field and the rest of the line, delimited as OpenSSH's `strdelimw` does:
/// up to the first blank, or from a double quote to the next one (the quote dropped).
fn principals(line: &str) -> Result<(String, &str), String> {
    let end = line.find([' ', '\t', '"']).unwrap_or(line.len());
    let (p, rest) = if line[end..].starts_with('"') {
        let after = &line[end + 1..];
        let close = after
            .find('"')
            .ok_or("the principals' closing quote is missing")?;
        (
            format!("{}{}", &line[..end], &after[..close]),
            &after[close + 1..],
        )
    } else {
        (line[..end].to_string(), &line[end..])
    };
    if p.is_empty() || rest.trim().is_empty() {
        return Err("expected PRINCIPALS [OPTIONS] KEYTYPE BASE64".into());
    }
    Ok((p, rest))
}

fn looks_like_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-sha2-") || word.starts_with("sk-")
}

/// Reads the comma-separated options into `e` (as `ssh-keygen` reads them: names in any
/// case, values in double quotes); returns the rest of the line.
fn options<'a, Tz: TimeZone>(mut s: &'a str, e: &mut Options, tz: &Tz) -> Result<&'a str, String> {
    loop {
        let name_end = s.find(['=', ',', ' ', '\t']).unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = &s[name_end..];
        match name.as_str() {
            "cert-authority" if !s.starts_with('=') => {
                return Err("cert-authority is not supported: trustkeep checks an archive's signature against the keys listed, not against certificates; list the signing key itself".into());
            }
            "namespaces" | "valid-after" | "valid-before" if s.starts_with('=') => {
                let (value, rest) = dequote(&s[1..])
                    .map_err(|why| format!("option {name}: {why}"))?;
                s = rest;
                match name.as_str() {
                    "namespaces" if e.namespaces.is_some() => {
                        return Err("multiple \"namespaces\" clauses".into())
                    }
                    "namespaces" => e.namespaces = Some(value),
                    "valid-after" if e.valid_after.is_some() => {
                        return Err("multiple \"valid-after\" clauses".into())
                    }
                    "valid-after" => e.valid_after = Some(time(&value, tz)?),
                    "valid-before" if e.valid_before.is_some() => {
                        return Err("multiple \"valid-before\" clauses".into())
                    }
                    _ => e.valid_before = Some(time(&value, tz)?),
                }
            }
            "" => return Err("missing key (expected KEYTYPE BASE64 after the principals)".into()),
            other => {
                return Err(format!(
                    "unsupported option {other:?} (the options are namespaces=\"…\", valid-after=\"…\", valid-before=\"…\"), or an unknown key type"
                ))
            }
        }
        match s.chars().next() {
            None | Some(' ' | '\t') => return Ok(s),
            Some(',') if s.len() > 1 => s = &s[1..],
            Some(',') => return Err("unexpected end of options".into()),
            Some(_) => return Err("unknown key option".into()),
        }
    }
}

/// A double-quoted option value (`\"` stands for `"`) and what follows it.
fn dequote(s: &str) -> Result<(String, &str), &'static str> {
    let mut chars = s
        .strip_prefix('"')
        .ok_or("missing start quote")?
        .char_indices();
    let mut out = String::new();
    let body = &s[1..];
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                chars.next();
                out.push('"');
            }
            c => out.push(c),
        }
    }
    Err("missing end quote")
}

/// `valid-after`/`valid-before`: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in UTC when
/// suffixed `Z` (or `UTC`), else in `tz`.
fn time<Tz: TimeZone>(value: &str, tz: &Tz) -> Result<DateTime<Utc>, String> {
    let bad = || format!("time {value:?}: expected YYYYMMDD[HHMM[SS]], with Z for UTC");
    let upper = value.to_ascii_uppercase();
    let (digits, utc) = if let Some(d) = upper.strip_suffix("UTC") {
        (d, true)
    } else if let Some(d) = upper.strip_suffix('Z') {
        (d, true)
    } else {
        (upper.as_str(), false)
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().map_err(|_| bad());
    let (h, m, s) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        14 => (num(8..10)?, num(10..12)?, num(12..14)?),
        _ => return Err(bad()),
    };
    let date =
        NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?).ok_or_else(bad)?;
    let naive: NaiveDateTime = date.and_hms_opt(h, m, s).ok_or_else(bad)?;
    if utc {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// `KEYTYPE BASE64 [COMMENT]`.
fn key(text: &str) -> Result<KeyData, String> {
    let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
    let (Some(kind), Some(b64)) = (words.next(), words.next()) else {
        return Err("missing key (expected KEYTYPE BASE64 after the principals)".into());
    };
    if kind.contains("-cert-v01@openssh.com") {
        return Err(format!(
            "{kind}: certificates are not supported; list the signing key itself"
        ));
    }
    let key = PublicKey::from_openssh(&format!("{kind} {b64}"))
        .map_err(|e| format!("not a public key of type {kind:?} ({e})"))?;
    Ok(key.key_data().clone())
}

/// `match_pattern_list` of OpenSSH (case-sensitive): 1 when a pattern of the comma-separated
/// list matches, -1 when a negated one (`!pattern`) does, else 0.
fn match_pattern_list(s: &str, list: &str) -> i32 {
    let mut got = 0;
    for p in list.split(',') {
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if match_pattern(s.as_bytes(), p.as_bytes()) {
            if negated {
                return -1;
            }
            got = 1;
        }
    }
    got
}

/// `*` and `?` wildcards.
fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, _) => s.is_empty(),
        (Some(b'*'), _) => {
            match_pattern(s, &p[1..]) || (!s.is_empty() && match_pattern(&s[1..], p))
        }
        (Some(b'?'), Some(_)) => match_pattern(&s[1..], &p[1..]),
        (Some(a), Some(b)) if a == b => match_pattern(&s[1..], &p[1..]),
        _ => false,
    }
}

/// How archives' origins are judged: the allowed signers (none: nothing is refused, the
/// origin is unverified) and whether unsigned archives are admitted anyway.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    pub signers: Option<AllowedSigners>,
    /// `--allow-unsigned`: admit archives without a `.sig` (never one with a bad signature).
    pub allow_unsigned: bool,
}

/// The verdict on an archive's origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Signed by a key the policy trusts, over these bytes, in namespace `trustkeep`.
    Trusted,
    /// Unsigned, admitted by `--allow-unsigned`.
    Unsigned,
    /// No policy was given: nothing is refused, and the origin is not known.
    Unverified,
    /// The policy refuses it: it is not decrypted.
    Refused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Trusted => "trusted",
            Status::Unsigned => "unsigned",
            Status::Unverified => "unverified",
            Status::Refused => "refused",
        }
    }
}

/// Who signed an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The principals of the allowed_signers line that trusts the key; none without a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
    pub key: String,
    /// The key type (`ssh-ed25519`).
    pub algorithm: String,
}

/// An archive's origin: the verdict, the signer when the signature verifies, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// What was found, in one line.
    pub detail: String,
}

impl Provenance {
    /// Whether the archive may be decrypted and used.
    pub fn admitted(&self) -> bool {
        self.status != Status::Refused
    }

    /// The signer in a table cell: `PRINCIPAL (SHA256:…)`, `SHA256:… (unverified)`, or the
    /// status.
    pub fn signer_cell(&self) -> String {
        match (&self.signer, self.status) {
            (
                Some(Signer {
                    principal: Some(p),
                    key,
                    ..
                }),
                _,
            ) => format!("{p} ({key})"),
            (Some(s), _) => format!("{} (unverified)", s.key),
            (None, Status::Unverified) => "unverified".into(),
            (None, s) => s.as_str().into(),
        }
    }
}

impl Trust {
    /// Judges an archive's origin from its bytes and its `.sig` (if any) at `now`.
    pub fn judge(&self, archive: &[u8], sig: Option<&[u8]>, now: DateTime<Utc>) -> Provenance {
        let Some(policy) = &self.signers else {
            return unverified(archive, sig);
        };
        let refused = |detail: String, signer: Option<Signer>| Provenance {
            status: Status::Refused,
            signer,
            detail,
        };
        let Some(sig) = sig else {
            if self.allow_unsigned {
                return Provenance {
                    status: Status::Unsigned,
                    signer: None,
                    detail: "unsigned; admitted by --allow-unsigned".into(),
                };
            }
            return refused(
                format!(
                    "unsigned (no .sig beside it), and {} requires a signature (--allow-unsigned admits unsigned archives)",
                    policy.origin
                ),
                None,
            );
        };
        let sig = match Signature::parse(sig) {
            Ok(s) => s,
            Err(why) => return refused(why, None),
        };
        if sig.namespace() != NAMESPACE {
            return refused(
                format!(
                    "signed in namespace {:?}, not {NAMESPACE:?}: a signature made for something else",
                    sig.namespace()
                ),
                None,
            );
        }
        let fingerprint = sig.fingerprint();
        let principal = match policy.trusts(sig.public_key().key_data(), &fingerprint, now) {
            Ok(p) => p,
            Err(why) => return refused(why, None),
        };
        if let Err(why) = sig.verifies(archive) {
            return refused(why, None);
        }
        let signer = Signer {
            principal: Some(principal),
            key: fingerprint,
            algorithm: sig.algorithm(),
        };
        Provenance {
            status: Status::Trusted,
            detail: format!(
                "signed by {} ({}), trusted by {}",
                signer.principal.as_deref().unwrap_or(""),
                signer.key,
                policy.origin
            ),
            signer: Some(signer),
        }
    }
}

/// Without a policy: who signed, if the signature holds, and that nobody checked who that is.
fn unverified(archive: &[u8], sig: Option<&[u8]>) -> Provenance {
    const NOT_CHECKED: &str = "origin not checked (no --trusted-signers)";
    let (signer, detail) = match sig.map(Signature::parse) {
        None => (None, format!("unsigned; {NOT_CHECKED}")),
        Some(Err(why)) => (None, format!("{why}; {NOT_CHECKED}")),
        Some(Ok(s)) if s.namespace() != NAMESPACE => (
            None,
            format!(
                "signed in namespace {:?}, not {NAMESPACE:?}; {NOT_CHECKED}",
                s.namespace()
            ),
        ),
        Some(Ok(s)) => match s.verifies(archive) {
            Err(why) => (None, format!("{why}; {NOT_CHECKED}")),
            Ok(()) => {
                let signer = Signer {
                    principal: None,
                    key: s.fingerprint(),
                    algorithm: s.algorithm(),
                };
                let detail = format!("signed by {}; {NOT_CHECKED}", signer.key);
                (Some(signer), detail)
            }
        },
    };
    Provenance {
        status: Status::Unverified,
        signer,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::tests::key;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn policy(text: &str) -> Trust {
        Trust {
            signers: Some(AllowedSigners::parse(text, "allowed_signers", &Utc).unwrap()),
            allow_unsigned: false,
        }
    }

    fn refusal(text: &str) -> String {
        AllowedSigners::parse(text, "f", &Utc)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_the_allowed_signers_format() {
        let k = key(1).public_key();
        let text = format!(
            "# ops\n\n  ops@example.com {k} comment here\n\
             \"a b\" NAMESPACES=\"git,trustkeep\",valid-after=\"20260101\",valid-before=\"20270101Z\" {k}\n\
             x valid-before=\"202701011200UTC\" {k}\n"
        );
        let p = AllowedSigners::parse(&text, "f", &Utc).unwrap();
        assert_eq!(p.entries.len(), 3);
        assert_eq!(p.entries[0].principals, "ops@example.com");
        assert_eq!(p.entries[1].principals, "a b");
        assert_eq!(p.entries[1].namespaces.as_deref(), Some("git,trustkeep"));
        assert_eq!(p.entries[1].valid_after, Some(at("2026-01-01T00:00:00Z")));
        assert_eq!(p.entries[1].valid_before, Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(p.entries[2].valid_before, Some(at("2027-01-01T12:00:00Z")));
    }

    #[test]
    fn refuses_what_it_cannot_honour_with_the_line() {
        let k = key(1).public_key();
        for (text, want) in [
            (
                format!("p cert-authority {k}"),
                "line 1: cert-authority is not supported",
            ),
            (format!("p nope=\"x\" {k}"), "unsupported option \"nope\""),
            (format!("p namespaces=trustkeep {k}"), "missing start quote"),
            (format!("p namespaces=\"trustkeep {k}"), "missing end quote"),
            (format!("p valid-after=\"2026\" {k}"), "expected YYYYMMDD"),
            (
                format!("p valid-after=\"20270101\",valid-before=\"20260101\" {k}"),
                "before \"valid-after\"",
            ),
            (
                "p ssh-ed25519 AAAAnotbase64".to_string(),
                "not a public key",
            ),
            ("p".to_string(), "expected PRINCIPALS"),
            ("# nothing\n".to_string(), "lists no key"),
            (
                "p ssh-ed25519-cert-v01@openssh.com AAAA".to_string(),
                "certificates are not supported",
            ),
        ] {
            let e = refusal(&text);
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("trusted signers f"), "{e}");
        }
    }

    #[test]
    fn judges_signatures_against_the_policy() {
        let now = at("2026-12-01T00:00:00Z");
        let (good, other) = (key(1), key(2));
        let bytes = b"ciphertext";
        let sig = good.sign(bytes, "a").unwrap();
        let trust = policy(&format!("ops@example.com {}", good.public_key()));
        let p = trust.judge(bytes, Some(&sig), now);
        assert_eq!(p.status, Status::Trusted, "{p:?}");
        let signer = p.signer.as_ref().unwrap();
        assert_eq!(signer.principal.as_deref(), Some("ops@example.com"));
        assert_eq!(signer.key, good.fingerprint());
        assert_eq!(
            p.signer_cell(),
            format!("ops@example.com ({})", good.fingerprint())
        );

        let refused = |p: Provenance, want: &str| {
            assert_eq!(p.status, Status::Refused, "{p:?}");
            assert!(!p.admitted());
            assert!(p.detail.contains(want), "{} lacks {want}", p.detail);
        };
        // Another key, other bytes, no signature, an empty or truncated one.
        let foreign = other.sign(bytes, "a").unwrap();
        refused(
            trust.judge(bytes, Some(&foreign), now),
            "which allowed_signers does not list",
        );
        refused(
            trust.judge(b"other", Some(&sig), now),
            "not over this archive's bytes",
        );
        refused(trust.judge(bytes, None, now), "unsigned");
        refused(trust.judge(bytes, Some(b""), now), "empty");
        refused(
            trust.judge(bytes, Some(&sig[..sig.len() - 40]), now),
            "not a readable SSH signature",
        );
        // --allow-unsigned admits only the unsigned.
        let lenient = Trust {
            allow_unsigned: true,
            ..trust.clone()
        };
        assert_eq!(lenient.judge(bytes, None, now).status, Status::Unsigned);
        refused(lenient.judge(bytes, Some(&foreign), now), "does not list");
        refused(lenient.judge(bytes, Some(b""), now), "empty");
        // Another namespace (made by hand: the signer only signs in "trustkeep").
        let elsewhere = good
            .key
            .sign("file", ssh_key::HashAlg::Sha512, bytes)
            .unwrap();
        let elsewhere = elsewhere.to_pem(ssh_key::LineEnding::LF).unwrap();
        refused(
            trust.judge(bytes, Some(elsewhere.as_bytes()), now),
            "namespace \"file\"",
        );
        // The key's window and namespaces.
        let k = good.public_key();
        refused(
            policy(&format!("ops valid-before=\"20261130Z\" {k}")).judge(bytes, Some(&sig), now),
            "expired at 2026-11-30T00:00:00Z",
        );
        refused(
            policy(&format!("ops valid-after=\"20261202Z\" {k}")).judge(bytes, Some(&sig), now),
            "not valid before 2026-12-02",
        );
        refused(
            policy(&format!("ops namespaces=\"git,file\" {k}")).judge(bytes, Some(&sig), now),
            "does not allow namespace trustkeep",
        );
        refused(
            policy(&format!("ops namespaces=\"*,!trustkeep\" {k}")).judge(bytes, Some(&sig), now),
            "does not allow namespace trustkeep",
        );
        // An old line expired, a new one for the same key: the new one trusts it.
        let rotated = policy(&format!(
            "old valid-before=\"20260101Z\" {k}\nnew valid-after=\"20260101Z\",namespaces=\"trust*\" {k}"
        ));
        let p = rotated.judge(bytes, Some(&sig), now);
        assert_eq!(p.signer.unwrap().principal.as_deref(), Some("new"));
    }

    #[test]
    fn without_a_policy_nothing_is_refused_and_the_origin_is_unverified() {
        let now = at("2026-12-01T00:00:00Z");
        let k = key(3);
        let sig = k.sign(b"x", "a").unwrap();
        let t = Trust::default();
        let p = t.judge(b"x", Some(&sig), now);
        assert_eq!(p.status, Status::Unverified);
        assert_eq!(p.signer.as_ref().unwrap().principal, None);
        assert_eq!(p.signer_cell(), format!("{} (unverified)", k.fingerprint()));
        let p = t.judge(b"y", Some(&sig), now);
        assert!(p.admitted() && p.signer.is_none(), "{p:?}");
        assert!(p.detail.contains("not over this archive's bytes"));
        assert_eq!(t.judge(b"x", None, now).signer_cell(), "unverified");
    }

    #[test]
    fn local_times_are_read_in_the_given_zone() {
        let plus2 = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            time("20260101", &plus2).unwrap(),
            at("2025-12-31T22:00:00Z")
        );
        assert_eq!(
            time("20260101z", &plus2).unwrap(),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            time("20260101123456", &Utc).unwrap(),
            at("2026-01-01T12:34:56Z")
        );
        assert!(time("20261301", &Utc).is_err());
        assert!(time("2026010", &Utc).is_err());
    }

    /// A small deterministic generator (xorshift), so failures are reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }
    }

    #[test]
    fn property_mangled_policies_and_signatures_are_refused_never_panic() {
        let k = key(5);
        let sig = k.sign(b"x", "a").unwrap();
        let line = format!(
            "\"a b\" namespaces=\"trust*,!git\",valid-after=\"20260101Z\",valid-before=\"202701011200\" {} c",
            k.public_key()
        );
        let trust = policy(&line);
        let now = at("2026-12-01T00:00:00Z");
        let alphabet = b"\" ,=!*?\\\tZ0129aA-#\n\xc3\xa9";
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..3000 {
            let mut l = line.clone().into_bytes();
            let mut g = sig.clone();
            for _ in 0..1 + rng.next(4) {
                let (i, j) = (
                    rng.next(l.len() as u64) as usize,
                    rng.next(g.len() as u64) as usize,
                );
                match rng.next(3) {
                    0 => l[i] = alphabet[rng.next(alphabet.len() as u64) as usize],
                    1 => l.truncate(i),
                    _ => {
                        l.remove(i);
                    }
                }
                match rng.next(3) {
                    0 => g[j] = rng.next(256) as u8,
                    1 => g.truncate(j),
                    _ => g[j] ^= 1 << rng.next(8),
                }
                if l.is_empty() || g.is_empty() {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&l);
            let _ = AllowedSigners::parse(&text, "f", &Utc);
            let p = trust.judge(b"x", Some(&g), now);
            if p.admitted() {
                // Only a mangling that left the signature's meaning intact (base64 padding,
                // line breaks) may still verify, and then it is the same signer.
                assert_eq!(p.signer.unwrap().key, k.fingerprint());
            }
        }
    }

    #[test]
    fn patterns_are_openssh_pattern_lists() {
        assert_eq!(match_pattern_list("trustkeep", "trustkeep"), 1);
        assert_eq!(match_pattern_list("trustkeep", "git,trust*"), 1);
        assert_eq!(match_pattern_list("trustkeep", "t?ustkeep"), 1);
        assert_eq!(match_pattern_list("trustkeep", "git"), 0);
        assert_eq!(match_pattern_list("trustkeep", "*,!trust*"), -1);
        assert_eq!(match_pattern_list("trustkeep", "Trustkeep"), 0);
    }
}
