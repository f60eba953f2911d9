//! Recipients and identities held in hardware through age plugins (`age-plugin-yubikey`,
//! `age-plugin-tpm`, `age-plugin-se`…): recipients `age1NAME1…` and identities
//! `AGE-PLUGIN-NAME-1…`, each run by the binary `age-plugin-NAME` found on PATH, through the
//! age crate's plugin client.
//!
//! A plugin may ask its user something while it works: show a message ("touch your
//! YubiKey"), confirm, or enter a PIN. Who answers is injected as a [`PluginPrompt`] (the CLI's
//! terminal), so this module never touches a terminal. A request nobody answers (an
//! unattended run) fails at once, and the error names the plugin and what it asked for; the
//! answer to a secret request is never logged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use age::secrecy::SecretString;
use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza};

/// A plugin that could not do its part, named; carried through the age crate's errors as the
/// source of an I/O error (the age crate offers no other way to say it), and told apart by
/// [`failure`].
#[derive(Debug, thiserror::Error)]
#[error("{binary} {message}")]
pub(crate) struct PluginFailure {
    binary: String,
    message: String,
}

impl PluginFailure {
    fn io(binary: &str, message: String) -> std::io::Error {
        std::io::Error::other(PluginFailure {
            binary: binary.to_string(),
            message,
        })
    }
}

/// The plugin failure an I/O error of the age crate carries, if it is one.
pub(crate) fn failure(e: &std::io::Error) -> Option<&PluginFailure> {
    e.get_ref()?.downcast_ref::<PluginFailure>()
}

/// Answers what an age plugin asks while it runs. `None`: nobody can answer (no terminal).
pub trait PluginPrompt: Send + Sync {
    /// Shows a message of the plugin `binary` (such as "touch your YubiKey").
    fn message(&self, binary: &str, text: &str);
    /// Asks to choose `yes` or `no` (or a default no).
    fn confirm(&self, binary: &str, text: &str, yes: &str, no: Option<&str>) -> Option<bool>;
    /// Asks for a value that is not secret.
    fn public(&self, binary: &str, text: &str) -> Option<String>;
    /// Asks for a secret, such as a PIN; the answer is never echoed or logged.
    fn secret(&self, binary: &str, text: &str) -> Option<SecretString>;
}

/// Nobody to ask: messages go to the log, every request is left unanswered.
pub struct Unattended;

impl PluginPrompt for Unattended {
    fn message(&self, binary: &str, text: &str) {
        tracing::info!(plugin = binary, message = text, "age plugin message");
    }
    fn confirm(&self, _: &str, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn public(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn secret(&self, _: &str, _: &str) -> Option<SecretString> {
        None
    }
}

/// Who answers plugins' requests, shared by every plugin recipient and identity of a run.
#[derive(Clone)]
pub struct PluginUi(Arc<dyn PluginPrompt>);

impl PluginUi {
    pub fn new(prompt: impl PluginPrompt + 'static) -> Self {
        PluginUi(Arc::new(prompt))
    }

    /// No one to ask (tests, the demo, unattended runs).
    pub fn unattended() -> Self {
        PluginUi::new(Unattended)
    }
}

impl Default for PluginUi {
    fn default() -> Self {
        PluginUi::unattended()
    }
}

/// What plugins asked that nobody answered, per thread (a plugin's requests are answered on
/// the thread that runs it, and `verify` runs several at once).
type Unanswered = Arc<Mutex<Vec<(ThreadId, String)>>>;

/// The age crate's callbacks for one plugin binary: they ask through the [`PluginUi`] and
/// keep what went unanswered.
#[derive(Clone)]
struct Callbacks {
    binary: String,
    ui: PluginUi,
    unanswered: Unanswered,
}

impl Callbacks {
    fn new(plugin: &str, ui: &PluginUi) -> Self {
        Callbacks {
            binary: binary_name(plugin),
            ui: ui.clone(),
            unanswered: Unanswered::default(),
        }
    }

    fn unanswered<T>(&self, answer: Option<T>, what: &str, text: &str) -> Option<T> {
        if answer.is_none() {
            let asked = format!("asked for {what} ({text:?})");
            tracing::debug!(plugin = %self.binary, "{asked}; nobody can answer");
            if let Ok(mut u) = self.unanswered.lock() {
                u.push((std::thread::current().id(), asked));
            }
        }
        answer
    }

    /// What the plugin asked on this thread that went unanswered, taken.
    fn take_unanswered(&self) -> Option<String> {
        let me = std::thread::current().id();
        let mut u = self.unanswered.lock().ok()?;
        let (mine, others): (Vec<_>, Vec<_>) = u.drain(..).partition(|(t, _)| *t == me);
        *u = others;
        let asked: Vec<String> = mine.into_iter().map(|(_, a)| a).collect();
        (!asked.is_empty()).then(|| asked.join(", then "))
    }

    /// The error for a run in which the plugin asked what nobody could answer.
    fn no_answer(&self, asked: &str) -> String {
        format!(
            "{asked}, and nobody can answer: trustkeep runs without a terminal (unattended); run it from a terminal to answer, or use a key that needs no PIN, touch or confirmation for unattended runs (see docs/operations.md, \"Keys held in hardware\")"
        )
    }
}

impl age::Callbacks for Callbacks {
    fn display_message(&self, message: &str) {
        self.ui.0.message(&self.binary, message);
    }
    fn confirm(&self, message: &str, yes: &str, no: Option<&str>) -> Option<bool> {
        let a = self.ui.0.confirm(&self.binary, message, yes, no);
        self.unanswered(a, "a confirmation", message)
    }
    fn request_public_string(&self, description: &str) -> Option<String> {
        let a = self.ui.0.public(&self.binary, description);
        self.unanswered(a, "a value", description)
    }
    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let a = self.ui.0.secret(&self.binary, description);
        self.unanswered(a, "a secret such as a PIN", description)
    }
}

/// The binary that runs plugin `name`.
pub(crate) fn binary_name(name: &str) -> String {
    format!("age-plugin-{name}")
}

/// Why a plugin cannot be used: its binary is not on PATH, or its name is not valid.
fn resolve_error(e: age::plugin::ResolveError, plugin: &str) -> String {
    match e {
        age::plugin::ResolveError::MissingPlugin { binary_name } => format!(
            "needs the age plugin {binary_name}, which is not on PATH; install it (the plugin for your hardware, such as age-plugin-yubikey) or put its directory on PATH, and run again"
        ),
        other => format!("cannot use the age plugin {} ({other})", binary_name(plugin)),
    }
}

/// A recipient `age1NAME1…` of plugin NAME, or `Err` with why it cannot be used.
pub(crate) fn recipient(
    s: &str,
    ui: &PluginUi,
) -> Option<Result<Box<dyn age::Recipient + Send>, String>> {
    let r: age::plugin::Recipient = s.parse().ok()?;
    let callbacks = Callbacks::new(r.plugin(), ui);
    Some(
        age::plugin::RecipientPluginV1::new(
            r.plugin(),
            std::slice::from_ref(&r),
            &[],
            callbacks.clone(),
        )
        .map(|inner| {
            Box::new(PluginRecipient {
                inner,
                recipient: s.to_string(),
                callbacks,
            }) as _
        })
        .map_err(|e| resolve_error(e, r.plugin())),
    )
}

struct PluginRecipient {
    inner: age::plugin::RecipientPluginV1<Callbacks>,
    recipient: String,
    callbacks: Callbacks,
}

impl age::Recipient for PluginRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, std::collections::HashSet<String>), EncryptError> {
        let result = self.inner.wrap_file_key(file_key);
        let asked = self.callbacks.take_unanswered();
        let message = match (&result, asked) {
            (Ok(_), _) => return result,
            (Err(_), Some(asked)) => self.callbacks.no_answer(&asked),
            (Err(EncryptError::Io(e)), None) if failure(e).is_none() => {
                format!("failed for recipient {} ({e})", self.recipient)
            }
            (Err(_), None) => return result,
        };
        Err(EncryptError::Io(PluginFailure::io(
            &self.callbacks.binary,
            message,
        )))
    }
}

/// The plugin identities (`AGE-PLUGIN-NAME-1…` lines) of an identity file: one age
/// identity per plugin, which runs its binary once for all of that plugin's lines.
#[derive(Default)]
pub(crate) struct PluginIdentities(BTreeMap<String, Vec<age::plugin::Identity>>);

impl PluginIdentities {
    /// Takes `line` if it is a plugin identity: `None` when it is not one, `Some(Err)` when it
    /// looks like one but does not parse.
    pub(crate) fn take(&mut self, line: &str) -> Option<Result<(), String>> {
        if !line.starts_with("AGE-PLUGIN-") {
            return None;
        }
        Some(match line.parse::<age::plugin::Identity>() {
            Ok(id) => {
                self.0.entry(id.plugin().to_string()).or_default().push(id);
                Ok(())
            }
            Err(_) => Err("not a valid age plugin identity (AGE-PLUGIN-NAME-1…)".to_string()),
        })
    }

    /// The identities, each plugin's binary found on PATH.
    pub(crate) fn resolve(
        self,
        ui: &PluginUi,
    ) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, String> {
        let mut out: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
        for (plugin, ids) in self.0 {
            let callbacks = Callbacks::new(&plugin, ui);
            let inner = age::plugin::IdentityPluginV1::new(&plugin, &ids, callbacks.clone())
                .map_err(|e| resolve_error(e, &plugin))?;
            out.push(Box::new(PluginIdentity { inner, callbacks }));
        }
        Ok(out)
    }
}

struct PluginIdentity {
    inner: age::plugin::IdentityPluginV1<Callbacks>,
    callbacks: Callbacks,
}

impl age::Identity for PluginIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, DecryptError>> {
        let result = age::Identity::unwrap_stanzas(&self.inner, stanzas);
        let asked = self.callbacks.take_unanswered();
        let message = match (&result, asked) {
            (Some(Ok(_)), _) => return result,
            (_, Some(asked)) => self.callbacks.no_answer(&asked),
            (Some(Err(DecryptError::Io(e))), None) if failure(e).is_none() => {
                format!("failed ({e})")
            }
            (_, None) => return result,
        };
        Some(Err(DecryptError::Io(PluginFailure::io(
            &self.callbacks.binary,
            message,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Answers(Option<&'static str>);

    impl PluginPrompt for Answers {
        fn message(&self, _: &str, _: &str) {}
        fn confirm(&self, _: &str, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
            None
        }
        fn public(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn secret(&self, _: &str, _: &str) -> Option<SecretString> {
            self.0.map(SecretString::from)
        }
    }

    #[test]
    fn an_unanswered_request_is_kept_per_thread_and_names_the_plugin() {
        use age::Callbacks as _;
        let c = Callbacks::new("tktest", &PluginUi::new(Answers(None)));
        assert!(c.request_passphrase("PIN of the token").is_none());
        let other = c.clone();
        let elsewhere = std::thread::spawn(move || other.take_unanswered())
            .join()
            .unwrap();
        assert_eq!(
            elsewhere, None,
            "another thread's request is not this one's"
        );
        let asked = c.take_unanswered().unwrap();
        assert_eq!(
            asked,
            "asked for a secret such as a PIN (\"PIN of the token\")"
        );
        assert_eq!(c.take_unanswered(), None, "taken once");
        let msg = c.no_answer(&asked);
        assert!(msg.contains("without a terminal"), "{msg}");
        let e = PluginFailure::io(&c.binary, msg);
        let f = failure(&e).expect("told apart");
        assert!(
            f.to_string()
                .starts_with("age-plugin-tktest asked for a secret"),
            "{f}"
        );
        assert!(failure(&std::io::Error::other("x")).is_none());
        assert_eq!(c.binary, "age-plugin-tktest");

        let c = Callbacks::new("tktest", &PluginUi::new(Answers(Some("1234"))));
        assert!(c.request_passphrase("PIN").is_some());
        assert_eq!(c.take_unanswered(), None, "an answered request is not kept");
    }

    #[test]
    fn plugin_identity_lines_are_told_apart() {
        let mut p = PluginIdentities::default();
        assert!(p.take("AGE-SECRET-KEY-1QQQQ").is_none());
        assert!(p.take("AGE-PLUGIN-TKTEST-1BROKEN").unwrap().is_err());
        assert_eq!(p.0.len(), 0);
    }
}
