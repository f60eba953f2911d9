//! `trustkeep keygen`: a new age X25519 identity, written 0600 (never over an existing file),
//! with its recipient printed for `backup -r`.

use std::path::Path;

use age::secrecy::ExposeSecret;
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::error::Result;

/// A generated identity: the file text (secret) and its public recipient.
pub struct Generated {
    pub text: Zeroizing<String>,
    pub recipient: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Generated {{ recipient: {} }}", self.recipient)
    }
}

/// Makes an identity in the age identity-file format.
pub fn generate(now: DateTime<Utc>) -> Generated {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        id.to_string().expose_secret()
    ));
    Generated { text, recipient }
}

/// Makes an identity and, with `output`, writes it there (see [`write`]); without, the
/// caller prints the text.
pub fn run(output: Option<&Path>, now: DateTime<Utc>) -> Result<Generated> {
    let g = generate(now);
    if let Some(path) = output {
        write(path, &g)?;
    }
    Ok(g)
}

/// Writes the identity to `path` (mode 0600, atomically, refusing to overwrite).
pub fn write(path: &Path, g: &Generated) -> Result<()> {
    // tempfile creates files 0600, and the rename keeps that mode.
    crate::store::write_atomic(path, g.text.as_bytes(), false)
}

/// Prints the recipient when the identity went to a file (and says where), else the whole
/// identity file text.
pub fn render(
    out: &mut dyn std::io::Write,
    g: &Generated,
    written_to: Option<&Path>,
) -> std::io::Result<()> {
    match written_to {
        Some(path) => {
            eprintln!(
                "trustkeep: wrote identity to {} (keep it secret; mode 0600)",
                path.display()
            );
            writeln!(out, "{}", g.recipient)
        }
        None => out.write_all(g.text.as_bytes()),
    }
}
