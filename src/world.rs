//! The world a command runs in: the time it takes as "now", the store archives live in, and
//! where a passphrase comes from. The CLI builds it from the clock, the environment and the
//! terminal; tests and the demo build their own. Nothing below the CLI reads the clock or asks
//! on a terminal.

use age::secrecy::SecretString;
use chrono::{DateTime, Utc};

use crate::archive::crypto::PassphraseSource;
use crate::store::Store;

/// Asks for a passphrase (environment, terminal) when an archive needs one.
type Asker = Box<dyn Fn() -> Option<SecretString> + Send + Sync>;

/// What a command may use besides its options.
pub struct World {
    /// The time of the run: archive names, snapshot times and the default check time.
    pub now: DateTime<Utc>,
    /// Where archives are read and written (local files and object storage).
    pub store: Store,
    passphrase: Asker,
}

impl World {
    /// A world at `now` with a fresh store and no passphrase.
    pub fn new(now: DateTime<Utc>) -> Self {
        World {
            now,
            store: Store::new(),
            passphrase: Box::new(|| None),
        }
    }

    /// Where a passphrase comes from when an archive asks for one.
    pub(crate) fn with_passphrase(
        mut self,
        ask: impl Fn() -> Option<SecretString> + Send + Sync + 'static,
    ) -> Self {
        self.passphrase = Box::new(ask);
        self
    }

    /// The passphrase asker, as the archive reader takes it.
    pub fn passphrase(&self) -> PassphraseSource<'_> {
        &*self.passphrase
    }
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}
