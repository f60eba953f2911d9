//! age encryption for archives: parsing recipients and identities, and the two directions of
//! the age stream (with optional ASCII armor).
//!
//! Recipients are age X25519 (`age1…`), age plugin recipients (`age1NAME1…`, held in hardware:
//! see [`super::plugin`]) or SSH public keys (`ssh-ed25519`, `ssh-rsa`); a passphrase (scrypt)
//! is the alternative and cannot be mixed with them. Identities are age identity files (with
//! `AGE-SECRET-KEY-1…` and `AGE-PLUGIN-NAME-1…` lines) or unencrypted SSH private keys.
//! Passphrases are [`SecretString`]s and are asked for through an injected callback, and
//! plugins' requests through an injected [`PluginUi`], so the library never touches a terminal.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;

use super::plugin::{self, PluginIdentities, PluginUi};
use super::ArchiveError;
use crate::error::{Error, Result};

/// How an archive is encrypted.
pub enum Encryption {
    /// To one or more public keys.
    Recipients(Vec<Box<dyn age::Recipient + Send>>),
    /// To a passphrase (scrypt).
    Passphrase(SecretString),
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encryption::Recipients(r) => write!(f, "Recipients({} keys)", r.len()),
            Encryption::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// Parses one recipient: `age1…`, `age1NAME1…` (an age plugin's, whose binary
/// `age-plugin-NAME` must be on PATH), `ssh-ed25519 …` or `ssh-rsa …`. A plugin's requests go
/// unanswered: [`parse_recipient_with`] names who answers them.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>> {
    parse_recipient_with(s, &PluginUi::unattended())
}

/// [`parse_recipient`], a plugin recipient asking through `ui` (the CLI's terminal).
pub fn parse_recipient_with(s: &str, ui: &PluginUi) -> Result<Box<dyn age::Recipient + Send>> {
    let s = s.trim();
    // Public keys are echoed to say which one failed; anything else may be a secret pasted in
    // the wrong place, so only its first characters are shown.
    let shown: String = if s.starts_with("age1") || s.starts_with("ssh-") {
        s.chars().take(80).collect()
    } else {
        format!("{}…", s.chars().take(4).collect::<String>())
    };
    let err = |message: &str| {
        Error::from(ArchiveError::Recipient {
            recipient: shown.clone(),
            message: message.to_string(),
        })
    };
    if s.starts_with("age1") {
        match age::x25519::Recipient::from_str(s) {
            Ok(r) => Ok(Box::new(r) as _),
            Err(e) => match plugin::recipient(s, ui) {
                Some(r) => r.map_err(|m| err(&m)),
                None => Err(err(&format!(
                    "not a valid age X25519 recipient ({e}) nor an age plugin recipient (age1NAME1…)"
                ))),
            },
        }
    } else if s.starts_with("ssh-") {
        age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as _)
            .map_err(|e| err(&format!("not a usable SSH public key ({e:?}); only ssh-ed25519 and ssh-rsa are supported")))
    } else if s.starts_with("AGE-SECRET-KEY-") {
        Err(err(
            "this is a private identity, not a recipient; pass its public key (age1…) with -r, as `trustkeep keygen` prints it",
        ))
    } else {
        Err(err(
            "expected an age recipient (age1…, or age1NAME1… of an age plugin) or an SSH public key (ssh-ed25519 …, ssh-rsa …)",
        ))
    }
}

/// The recipients of a recipients file, as lines: `#` comments and blank lines left out.
pub(crate) fn recipient_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Reads a recipients file: one recipient per line, `#` comments and blank lines ignored.
pub(crate) fn read_recipients_file(
    path: &Path,
    ui: &PluginUi,
) -> Result<Vec<Box<dyn age::Recipient + Send>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_recipient_with(line, ui).map_err(|e| match e {
            Error::Archive(ArchiveError::Recipient { recipient, message }) => {
                Error::from(ArchiveError::Recipient {
                    recipient: format!("{}:{}: {recipient}", path.display(), i + 1),
                    message,
                })
            }
            e => e,
        })?);
    }
    if out.is_empty() {
        return Err(Error::from(ArchiveError::NoKey(format!(
            "recipients file {} holds no recipient",
            path.display()
        ))));
    }
    Ok(out)
}

/// The stanza an age header holds for an SSH recipient (`ssh-ed25519 …`, `ssh-rsa …`): its
/// type and tag (the first four bytes of the SHA-256 of the public key, base64). `None` for
/// anything else: an X25519 stanza names only an ephemeral key, so the header does not tell
/// which `age1…` recipient it is for.
pub(crate) fn ssh_stanza(recipient: &str) -> Option<(String, String)> {
    use base64::Engine;
    use sha2::Digest;
    let mut fields = recipient.split_whitespace();
    let kind = fields.next()?;
    if kind != "ssh-ed25519" && kind != "ssh-rsa" {
        return None;
    }
    let wire = base64::engine::general_purpose::STANDARD
        .decode(fields.next()?)
        .ok()?;
    let tag =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&sha2::Sha256::digest(&wire)[..4]);
    Some((kind.to_string(), tag))
}

/// The stanzas an archive encrypted to exactly `recipients` holds, sorted, when the header
/// can tell (every recipient an SSH key); `None` otherwise.
pub(crate) fn expected_stanzas(recipients: &[String]) -> Option<Vec<(String, String)>> {
    let mut out = recipients
        .iter()
        .map(|r| ssh_stanza(r))
        .collect::<Option<Vec<_>>>()?;
    out.sort();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// The recipient stanzas of an age file's header (binary or armored), as `(type, first
/// argument)` in the header's order, grease left out; `None` when the header cannot be read.
pub(crate) fn header_stanzas(ciphertext: &[u8]) -> Option<Vec<(String, String)>> {
    let mut header = Vec::new();
    ArmoredReader::new(ciphertext)
        .take(64 * 1024)
        .read_to_end(&mut header)
        .ok()?;
    let mut lines = header.split(|b| *b == b'\n');
    if lines.next()? != b"age-encryption.org/v1" {
        return None;
    }
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with(b"---") {
            return Some(out);
        }
        if let Some(stanza) = line.strip_prefix(b"-> ") {
            let text = std::str::from_utf8(stanza).ok()?;
            let mut args = text.split(' ');
            let kind = args.next()?.to_string();
            // Grease stanzas (`<random>-grease`, which age's SSH recipients add) name nobody.
            if kind.ends_with("-grease") {
                continue;
            }
            out.push((kind, args.next().unwrap_or_default().to_string()));
        }
    }
    None
}

/// Identities loaded from `-i` files.
#[derive(Default)]
pub struct Identities {
    pub keys: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Files whose permissions let group or others read them.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} keys)", self.keys.len())
    }
}

/// Loads an age identity file or an unencrypted SSH private key. Plugin identities
/// (`AGE-PLUGIN-NAME-1…`) need `age-plugin-NAME` on PATH; their requests go unanswered:
/// [`load_identity_with`] names who answers them.
pub fn load_identity(path: &Path, ids: &mut Identities) -> Result<()> {
    load_identity_with(path, ids, &PluginUi::unattended())
}

/// [`load_identity`], plugin identities asking through `ui` (the CLI's terminal).
pub fn load_identity_with(path: &Path, ids: &mut Identities, ui: &PluginUi) -> Result<()> {
    let err = |message: String| {
        Error::from(ArchiveError::Identity {
            path: PathBuf::from(path),
            message,
        })
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot read identity", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = file.metadata() {
            if meta.permissions().mode() & 0o077 != 0 {
                ids.warnings.push(format!(
                    "identity {} is readable by group or others (mode {:o}); run chmod 600 on it",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    let mut data = zeroize::Zeroizing::new(Vec::new());
    BufReader::new(file)
        .take(1024 * 1024)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("cannot read identity", path, e))?;
    let text = String::from_utf8_lossy(&data);
    if text.trim_start().starts_with("-----BEGIN") {
        let ident = age::ssh::Identity::from_buffer(&data[..], Some(path.display().to_string()))
            .map_err(|e| err(format!("not a usable SSH private key ({e})")))?;
        match ident {
            age::ssh::Identity::Unencrypted(_) => {
                ids.keys.push(Box::new(ident.with_callbacks(NoCallbacks)));
                Ok(())
            }
            age::ssh::Identity::Encrypted(_) => Err(err(
                "passphrase-protected SSH keys are not supported; use an age identity (trustkeep keygen) or an unencrypted copy of the key".into(),
            )),
            age::ssh::Identity::Unsupported(k) => {
                Err(err(format!("unsupported SSH key type ({k:?})")))
            }
        }
    } else {
        let keys = age_identity_file(&text, ui).map_err(err)?;
        if keys.is_empty() {
            return Err(err(
                "holds no identity (expected a line starting with AGE-SECRET-KEY-1 or AGE-PLUGIN-)"
                    .into(),
            ));
        }
        ids.keys.extend(keys);
        Ok(())
    }
}

/// The identities of an age identity file: native ones read by the age crate, plugin ones
/// (`AGE-PLUGIN-NAME-1…`) one per plugin, its binary found on PATH.
fn age_identity_file(
    text: &str,
    ui: &PluginUi,
) -> std::result::Result<Vec<Box<dyn age::Identity + Send + Sync>>, String> {
    let mut plugins = PluginIdentities::default();
    // What the age crate reads: the file with its plugin lines blanked, so that its line
    // numbers stay the file's.
    let mut native = zeroize::Zeroizing::new(String::with_capacity(text.len()));
    for (i, line) in text.lines().enumerate() {
        match plugins.take(line.trim()) {
            Some(Err(message)) => return Err(format!("line {}: {message}", i + 1)),
            Some(Ok(())) => native.push('#'),
            None => native.push_str(line),
        }
        native.push('\n');
    }
    let file = age::IdentityFile::from_buffer(native.as_bytes())
        .map_err(|e| format!("not an age identity file ({e})"))?;
    let mut keys = file
        .into_identities()
        .map_err(|e| format!("cannot use identity ({e})"))?;
    keys.extend(plugins.resolve(ui)?);
    Ok(keys)
}

#[derive(Clone, Copy)]
struct NoCallbacks;

impl age::Callbacks for NoCallbacks {
    fn display_message(&self, _: &str) {}
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, _: &str) -> Option<SecretString> {
        None
    }
}

/// An age error's words without the Unicode isolation marks (U+2068, U+2069) its localized
/// messages put around each value (a plugin's name, its message), which a terminal does not
/// show and trustkeep's escaping would print as `\u{2068}`.
fn words(e: &impl std::fmt::Display) -> String {
    e.to_string().replace(['\u{2068}', '\u{2069}'], "")
}

/// Encrypts `plaintext` into an age file in memory.
pub fn encrypt(plaintext: &[u8], enc: &Encryption, armor: bool) -> Result<Vec<u8>> {
    let encryptor = match enc {
        Encryption::Recipients(rs) => {
            age::Encryptor::with_recipients(rs.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                .map_err(|e| Error::from(ArchiveError::Encrypt(words(&e))))?
        }
        Encryption::Passphrase(p) => {
            let mut r = age::scrypt::Recipient::new(p.clone());
            r.set_work_factor(SCRYPT_WRITE_LOG_N);
            age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                .map_err(|e| Error::from(ArchiveError::Encrypt(words(&e))))?
        }
    };
    let io_err = |e: std::io::Error| Error::from(ArchiveError::Encrypt(words(&e)));
    let format = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let armored = ArmoredWriter::wrap_output(Vec::new(), format).map_err(io_err)?;
    let mut w = encryptor.wrap_output(armored).map_err(io_err)?;
    w.write_all(plaintext).map_err(io_err)?;
    // finish() writes the last chunk; without it the archive would be silently truncated.
    let armored = w.finish().map_err(io_err)?;
    armored.finish().map_err(io_err)
}

/// The scrypt work factor (log2 N) trustkeep writes: 2^18 needs 256 MiB and about a second.
pub(crate) const SCRYPT_WRITE_LOG_N: u8 = 18;
/// The largest scrypt work factor a reader accepts: 2^20 needs 1 GiB. A header asking for
/// more is refused before any scrypt work is done.
pub(crate) const SCRYPT_MAX_LOG_N: u8 = 20;

/// How to get a passphrase if the archive turns out to need one.
pub type PassphraseSource<'a> = &'a (dyn Fn() -> Option<SecretString> + Sync);

/// Opens an age file (binary or armored) and returns a reader of its plaintext.
pub fn decrypt<'a, R: BufRead + 'a>(
    input: R,
    ids: &Identities,
    passphrase: PassphraseSource<'_>,
    archive: &str,
) -> Result<Box<dyn Read + 'a>> {
    let corrupt = |message: String| {
        Error::from(ArchiveError::Corrupt {
            archive: archive.to_string(),
            message,
        })
    };
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(input)).map_err(|e| {
        corrupt(format!(
            "not an age-encrypted archive or its header is damaged ({e})"
        ))
    })?;
    let map_err = |e: age::DecryptError| match e {
        age::DecryptError::NoMatchingKeys => Error::from(ArchiveError::NoMatchingIdentity {
            archive: archive.to_string(),
        }),
        age::DecryptError::Io(e) if plugin::failure(&e).is_some() => {
            Error::from(ArchiveError::Plugin {
                archive: archive.to_string(),
                message: words(&e),
            })
        }
        e @ age::DecryptError::Plugin(_) => Error::from(ArchiveError::Plugin {
            archive: archive.to_string(),
            message: words(&e),
        }),
        other => corrupt(format!("cannot decrypt ({})", words(&other))),
    };
    if decryptor.is_scrypt() {
        let pass = passphrase().ok_or_else(|| {
            Error::from(ArchiveError::PassphraseNeeded {
                archive: archive.to_string(),
            })
        })?;
        let mut id = age::scrypt::Identity::new(pass);
        id.set_max_work_factor(SCRYPT_MAX_LOG_N);
        let r = decryptor
            .decrypt(std::iter::once(&id as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::ExcessiveWork { required, .. } => corrupt(format!(
                    "the passphrase header asks for scrypt work factor 2^{required}, over trustkeep's cap of 2^{SCRYPT_MAX_LOG_N} (1 GiB); refusing before any work"
                )),
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    corrupt("wrong passphrase, or the archive header is damaged".into())
                }
                other => map_err(other),
            })?;
        return Ok(Box::new(r));
    }
    if ids.keys.is_empty() {
        return Err(Error::from(ArchiveError::NoKey(format!(
            "{archive}: no identity given; pass the key the archive was encrypted to with -i FILE"
        ))));
    }
    let r = decryptor
        .decrypt(ids.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(map_err)?;
    Ok(Box::new(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_recipients_are_told_from_the_header_and_x25519_ones_are_not() {
        let ssh = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/identities/test-only-ssh-ed25519.pub"
        ))
        .unwrap();
        let want = expected_stanzas(std::slice::from_ref(&ssh)).unwrap();
        let enc = Encryption::Recipients(vec![parse_recipient(&ssh).unwrap()]);
        for armor in [false, true] {
            let cipher = encrypt(b"x", &enc, armor).unwrap();
            let mut got = header_stanzas(&cipher).unwrap();
            got.sort();
            assert_eq!(got, want, "armor {armor}");
        }
        let x = age::x25519::Identity::generate().to_public().to_string();
        assert_eq!(expected_stanzas(&[ssh.clone(), x.clone()]), None);
        let enc = Encryption::Recipients(vec![parse_recipient(&x).unwrap()]);
        let got = header_stanzas(&encrypt(b"x", &enc, false).unwrap()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "X25519");
        assert_eq!(header_stanzas(b"not age"), None);
    }

    #[test]
    fn a_secret_key_given_as_recipient_is_not_echoed() {
        let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        let msg = parse_recipient(key).err().unwrap().to_string();
        assert!(!msg.contains("QQQQ"), "{msg}");
        assert!(
            msg.contains("this is a private identity, not a recipient"),
            "{msg}"
        );
        let msg = parse_recipient("hunter2-password")
            .err()
            .unwrap()
            .to_string();
        assert!(
            !msg.contains("hunter2-password") && msg.contains("\"hunt…\""),
            "{msg}"
        );
        let msg = parse_recipient("age1notvalid").err().unwrap().to_string();
        assert!(msg.contains("age1notvalid"), "public keys are named: {msg}");
    }
}
