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

/// Writes the identity to `path` (mode 0600, atomically, refusing to overwrite).
pub fn write(path: &Path, g: &Generated) -> Result<()> {
    // tempfile creates files 0600, and the rename keeps that mode.
    crate::store::write_atomic(path, g.text.as_bytes(), false)
}
