//! TEST ONLY: `age-plugin-tktest`, an age plugin for trustkeep's tests of hardware-held keys.
//!
//! It speaks the real age-plugin protocol (through the `age-plugin` crate) on both sides:
//! `recipient-v1` wraps a file key to a recipient `age1tktest1…`, `identity-v1` unwraps it with
//! an identity `AGE-PLUGIN-TKTEST-1…`. Where a YubiKey plugin would ask the token, this one
//! holds an X25519 key in the identity string itself and wraps with age's own X25519 recipient,
//! its stanza retagged `tktest`. The key is generated at run time (`age-plugin-tktest` with no
//! argument prints a new identity and its recipient), and protects nothing: the identity file
//! is the key. It must never guard real data.
//!
//! What a hardware plugin may do is switched on by environment variables, which the plugin
//! inherits from the age client (trustkeep or `age`) that runs it:
//! - `TKTEST_PIN=PIN`: unwrapping asks for a PIN (`request-secret`) and refuses a wrong one,
//!   as a PIN-protected token does;
//! - `TKTEST_FAIL=wrap|unwrap`: that side fails as a token that is not plugged in does;
//! - `TKTEST_MESSAGE=TEXT`: unwrapping first shows TEXT (`msg`), as "touch your key" is shown.

use std::collections::{HashMap, HashSet};
use std::io;

use age::{Identity as _, Recipient as _};
use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{identity, recipient, run_state_machine, Callbacks, PluginHandler};
use bech32::{Bech32, Hrp};
use zeroize::Zeroizing;

/// The plugin's name: recipients `age1tktest1…`, identities `AGE-PLUGIN-TKTEST-1…`.
const NAME: &str = "tktest";
/// The stanza type of a wrapped file key.
const TAG: &str = "tktest";

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrap;
    type IdentityV1 = Unwrap;

    fn recipient_v1(self) -> io::Result<Wrap> {
        Ok(Wrap::default())
    }

    fn identity_v1(self) -> io::Result<Unwrap> {
        Ok(Unwrap::default())
    }
}

/// The X25519 recipient whose public key is `bytes` (32 bytes).
fn x25519_recipient(bytes: &[u8]) -> Option<age::x25519::Recipient> {
    let s = bech32::encode::<Bech32>(Hrp::parse("age").ok()?, bytes).ok()?;
    s.parse().ok()
}

/// The X25519 identity whose secret key is `bytes` (32 bytes).
fn x25519_identity(bytes: &[u8]) -> Option<age::x25519::Identity> {
    let s = Zeroizing::new(
        bech32::encode::<Bech32>(Hrp::parse("age-secret-key-").ok()?, bytes)
            .ok()?
            .to_uppercase(),
    );
    s.parse().ok()
}

/// What the test asked this run to fail at (`TKTEST_FAIL`).
fn fails(side: &str) -> bool {
    std::env::var("TKTEST_FAIL").is_ok_and(|v| v == side)
}

#[derive(Default)]
struct Wrap {
    recipients: Vec<age::x25519::Recipient>,
}

impl recipient::RecipientPluginV1 for Wrap {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match (plugin_name == NAME)
            .then(|| x25519_recipient(bytes))
            .flatten()
        {
            Some(r) => {
                self.recipients.push(r);
                Ok(())
            }
            None => Err(recipient::Error::Recipient {
                index,
                message: "not a tktest recipient (expected 32 bytes of X25519 public key)".into(),
            }),
        }
    }

    fn add_identity(
        &mut self,
        index: usize,
        _plugin_name: &str,
        _bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        Err(recipient::Error::Identity {
            index,
            message: "tktest encrypts to recipients (age1tktest1…) only".into(),
        })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        mut callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        if fails("wrap") {
            let errors = (0..self.recipients.len())
                .map(|index| recipient::Error::Recipient {
                    index,
                    message: "simulated failure: the test token is not plugged in".into(),
                })
                .collect();
            return Ok(Err(errors));
        }
        let mut out = Vec::with_capacity(file_keys.len());
        for key in &file_keys {
            let mut stanzas = Vec::new();
            for (index, r) in self.recipients.iter().enumerate() {
                match r.wrap_file_key(key) {
                    Ok((wrapped, _)) => stanzas.extend(wrapped.into_iter().map(|mut s| {
                        s.tag = TAG.into();
                        s
                    })),
                    Err(e) => {
                        let _ = callbacks.error(recipient::Error::Recipient {
                            index,
                            message: format!("cannot wrap: {e}"),
                        })?;
                        return Ok(Err(vec![]));
                    }
                }
            }
            out.push(stanzas);
        }
        Ok(Ok(out))
    }
}

#[derive(Default)]
struct Unwrap {
    identities: Vec<age::x25519::Identity>,
}

impl identity::IdentityPluginV1 for Unwrap {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        match (plugin_name == NAME)
            .then(|| x25519_identity(bytes))
            .flatten()
        {
            Some(i) => {
                self.identities.push(i);
                Ok(())
            }
            None => Err(identity::Error::Identity {
                index,
                message: "not a tktest identity (expected 32 bytes of X25519 secret key)".into(),
            }),
        }
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut keys = HashMap::new();
        if !files.iter().flatten().any(|s| s.tag == TAG) {
            return Ok(keys);
        }
        if let Some(refusal) = unlock(&mut callbacks)? {
            for i in 0..files.len() {
                keys.insert(i, Err(vec![refusal(0)]));
            }
            return Ok(keys);
        }
        for (file, stanzas) in files.into_iter().enumerate() {
            for s in stanzas.into_iter().filter(|s| s.tag == TAG) {
                let stanza = Stanza {
                    tag: "X25519".into(),
                    args: s.args,
                    body: s.body,
                };
                let key = self
                    .identities
                    .iter()
                    .find_map(|id| id.unwrap_stanza(&stanza).and_then(Result::ok));
                if let Some(key) = key {
                    keys.insert(file, Ok(key));
                    break;
                }
            }
        }
        Ok(keys)
    }
}

type Refusal = Box<dyn Fn(usize) -> identity::Error>;

/// What the "token" needs before it unwraps: a message shown, a PIN, or nothing it can give.
/// `Some(refusal)` when unwrapping must fail, as the error for identity `index`.
fn unlock(callbacks: &mut impl Callbacks<identity::Error>) -> io::Result<Option<Refusal>> {
    let refuse = |message: &'static str| -> Refusal {
        Box::new(move |index| identity::Error::Identity {
            index,
            message: message.into(),
        })
    };
    if fails("unwrap") {
        return Ok(Some(refuse(
            "simulated failure: the test token is not plugged in",
        )));
    }
    if let Ok(text) = std::env::var("TKTEST_MESSAGE") {
        let _ = callbacks.message(&text)?;
    }
    let Ok(pin) = std::env::var("TKTEST_PIN") else {
        return Ok(None);
    };
    Ok(match callbacks.request_secret("PIN of the tktest token")? {
        Ok(given) if given.expose_secret() == pin => None,
        Ok(_) => Some(refuse("wrong PIN")),
        Err(_) => Some(refuse("no PIN was given")),
    })
}

/// A new identity and its recipient, printed as age plugins print them.
fn generate() {
    let id = age::x25519::Identity::generate();
    let secret = Zeroizing::new(id.to_string().expose_secret().to_lowercase());
    let public = id.to_public().to_string();
    let (_, sk) = bech32::decode(&secret).expect("a fresh X25519 identity decodes");
    let sk = Zeroizing::new(sk);
    let (_, pk) = bech32::decode(&public).expect("a fresh X25519 recipient decodes");
    println!("# TEST ONLY: age-plugin-tktest protects nothing; never use it for real data");
    age_plugin::print_new_identity(NAME, &sk, &pk);
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            generate();
            Ok(())
        }
        [flag] if flag.starts_with("--age-plugin=") => {
            run_state_machine(&flag["--age-plugin=".len()..], Handler)
        }
        [flag, machine] if flag == "--age-plugin" => run_state_machine(machine, Handler),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: age-plugin-tktest (prints a new TEST-ONLY identity) | --age-plugin=STATE_MACHINE",
        )),
    }
}
