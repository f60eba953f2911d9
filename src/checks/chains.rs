//! Chains: the management cluster's trust anchors (relay roots, relay signing CA, root-trust
//! roots, token) and the chain checks over them: a certificate to its secret's own `ca.crt`
//! (with the roots it does not use), to the management cluster's relay root, the key
//! identifiers along a verified path, and which root of a rotation a chain ends in. Path
//! validation itself is [`crate::pki`]'s; what each role's certificate must look like is
//! [`super::roles`]. These checks must not decide which secret plays which role.

use super::parse::Parsed;
use super::At;
use crate::check_id::CheckId;
use crate::findings::{Finding, Report, Severity};
use crate::gloo::Role;
use crate::pki::{self, Cert, ChainError};
use crate::secret::SecretBytes;
use crate::snapshot::Snapshot;

/// The trust anchors of the management cluster, used for the cross-cluster checks.
#[derive(Default)]
pub(super) struct Anchors {
    pub(super) cluster: Option<String>,
    /// Every root of the relay root's bundle (several during a relay root rotation).
    pub(super) relay_roots: Vec<Cert>,
    pub(super) relay_signing: Vec<Cert>,
    pub(super) root_trust: Vec<Cert>,
    pub(super) token: Option<SecretBytes>,
}

/// The anchors of management cluster `m` (`parsed`: its secrets, parsed, in order).
pub(super) fn anchors_of(m: &Snapshot, parsed: &[Parsed]) -> Anchors {
    let mut a = Anchors {
        cluster: Some(m.cluster.clone()),
        ..Anchors::default()
    };
    for (s, p) in m.secrets.iter().zip(parsed) {
        match s.role {
            Role::RelayRoot if a.relay_roots.is_empty() => {
                a.relay_roots = p
                    .bundle("ca.crt")
                    .or_else(|| p.bundle("tls.crt").map(|b| b[..1].to_vec()))
                    .unwrap_or_default()
            }
            Role::RelaySigning => a.relay_signing.extend(p.first("tls.crt").cloned()),
            // Every root of the bundle: during a rotation it holds the old and the new.
            Role::RootTrust => {
                let bundle = p
                    .certs
                    .get("root-cert.pem")
                    .or_else(|| p.certs.get("ca.crt"));
                for root in bundle.into_iter().flatten() {
                    if !a.root_trust.contains(root) {
                        a.root_trust.push(root.clone());
                    }
                }
            }
            Role::RelayIdentityToken => a.token = s.record.get("token").cloned(),
            _ => {}
        }
    }
    if a.relay_roots.is_empty() {
        // Without relay-root-tls-secret, the server's ca.crt is the best word on the root.
        if let Some((_, p)) = m
            .secrets
            .iter()
            .zip(parsed)
            .find(|(s, _)| s.role == Role::RelayServer)
        {
            a.relay_roots = p.bundle("ca.crt").unwrap_or_default();
        }
    }
    a
}

/// `subject (sha256 prefix)` of each root, for messages.
pub(super) fn describe_roots(roots: &[Cert]) -> String {
    let names: Vec<String> = roots
        .iter()
        .map(|r| {
            format!(
                "{} (sha256 {})",
                r.summary().subject,
                &r.fingerprint()[..16]
            )
        })
        .collect();
    names.join(", ")
}

/// Who verifies a chain at run time, and so for which usage: Go's `x509.Verify` with the
/// `KeyUsages` each Gloo Mesh or Istio component passes (docs/checks.md, "Who verifies what").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Consumer {
    /// istiod's plug-in check of `cacerts` (keycertbundle `Verify`: only `Roots` and
    /// `Intermediates` set, so Go's default, serverAuth).
    Istiod,
    /// The agent's TLS client verifying the relay server (serverAuth).
    Agent,
    /// The relay server verifying agents' client certificates (clientAuth).
    RelayServer,
}

impl Consumer {
    pub(super) fn usage(self) -> pki::Usage {
        match self {
            Consumer::Istiod | Consumer::Agent => pki::Usage::ServerAuth,
            Consumer::RelayServer => pki::Usage::ClientAuth,
        }
    }

    /// How a finding names it.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Consumer::Istiod => "istiod's plug-in certificate check (x509.Verify for serverAuth)",
            Consumer::Agent => "the agent's TLS client (x509.Verify for serverAuth)",
            Consumer::RelayServer => {
                "the relay server's client verification (x509.Verify for clientAuth)"
            }
        }
    }
}

/// A chain that does not hold, saying which consumer's verification it fails.
pub(super) fn chain_finding(
    at: &At<'_>,
    key: &str,
    check: CheckId,
    what: &str,
    e: &ChainError,
    consumer: Consumer,
) -> Finding {
    let message = format!("{what}: {e}; as {} checks it", consumer.describe());
    at.f(Severity::Error, check, Some(key), message)
}

/// Which of several trusted roots (a rotation of the `what` roots: relay or Istio) a verified
/// chain ends in, and so where this cluster stands: switched (its certificate chains to the
/// newest root, by notBefore) or not yet, with the next step of `trustkeep pki rotate`.
pub(super) fn rotation_finding(
    at: &At<'_>,
    key: &str,
    what: &str,
    roots: &[Cert],
    chain: &pki::Chain,
) -> Finding {
    let newest = roots.iter().max_by_key(|r| r.summary().not_before);
    let used = chain.path.last();
    let describe = |r: &Cert| {
        let s = r.summary();
        format!(
            "{} (sha256 {}, issued {})",
            s.subject,
            &s.sha256[..16],
            s.not_before.format("%Y-%m-%d %H:%M:%S")
        )
    };
    let verb = format!("trustkeep pki rotate {}-root", what.to_lowercase());
    let stands = match (used, newest) {
        (Some(u), Some(n)) if u == n => format!(
            "cluster {} has switched: this certificate chains to the new root {}; once every cluster has switched, drop the old root ({verb} --phase remove)",
            at.cluster,
            describe(u)
        ),
        (Some(u), Some(n)) => format!(
            "cluster {} has not switched: this certificate chains to the old root {}; issue it from the new root {} ({verb} --phase switch --cluster {}) before the old root is removed",
            at.cluster,
            describe(u),
            describe(n),
            at.cluster
        ),
        _ => "this certificate chains to an unknown root".to_string(),
    };
    at.f(
        Severity::Info,
        CheckId::TrustRotation,
        Some(key),
        format!(
            "a rotation of the {what} root is in progress ({} roots trusted): {stands}",
            roots.len()
        ),
    )
}

/// `tls.crt` (with its bundle) must chain to the management cluster's relay root.
pub(super) fn chain_to_relay_root(
    at: &At<'_>,
    p: &Parsed,
    a: &Anchors,
    what: &str,
    consumer: Consumer,
    report: &mut Report,
    sig: &pki::RunCache,
) {
    let Some(leaf) = p.first("tls.crt") else {
        return;
    };
    if a.relay_roots.is_empty() {
        return;
    }
    if let Err(e) = pki::verify_chain_cached(
        leaf,
        &p.rest("tls.crt"),
        &a.relay_roots,
        None,
        consumer.usage(),
        sig,
    ) {
        let msg = format!("{what} does not chain to the relay root");
        report.push(chain_finding(
            at,
            "tls.crt",
            CheckId::TrustRelayRoot,
            &msg,
            &e,
            consumer,
        ));
    }
}

/// The chain of `key` (leaf first, then its bundle) must lead to the secret's own `ca.crt`.
/// `rotation`: the relay roots of the management cluster; when it holds several (a rotation),
/// a `ca.crt` that trusts them all is what the rotation asks for, not a widened trust.
pub(super) fn chain_to_own_ca(
    at: &At<'_>,
    p: &Parsed,
    key: &str,
    consumer: Consumer,
    rotation: &[Cert],
    report: &mut Report,
    sig: &pki::RunCache,
) {
    let (Some(leaf), Some(ca)) = (p.first(key), p.certs.get("ca.crt")) else {
        return;
    };
    match pki::verify_chain_cached(leaf, &p.rest(key), ca, None, consumer.usage(), sig) {
        Err(e) => report.push(chain_finding(
            at,
            key,
            CheckId::ChainVerify,
            &format!("{key} does not chain to ca.crt"),
            &e,
            consumer,
        )),
        Ok(chain) => {
            aki_findings(at, key, &chain, report);
            extra_roots(at, &chain, ca, rotation, report);
        }
    }
}

/// Roots in a `ca.crt` bundle that the verified chain does not use: trust is widened, unless
/// the root is one of a rotation's (`rotation`, several roots).
fn extra_roots(
    at: &At<'_>,
    chain: &pki::Chain,
    ca: &[Cert],
    rotation: &[Cert],
    report: &mut Report,
) {
    for r in ca.iter().filter(|r| !chain.path.contains(r)) {
        if rotation.len() > 1 && rotation.contains(r) {
            report.push(at.f(Severity::Info, CheckId::TrustRotation, Some("ca.crt"), format!("ca.crt also trusts {} (sha256 {}), the other root of the relay root rotation in progress: kept until trustkeep pki rotate relay-root --phase remove", r.summary().subject, &r.fingerprint()[..16])));
            continue;
        }
        report.push(at.f(Severity::Warning, CheckId::ChainExtraRoot, Some("ca.crt"), format!("ca.crt also trusts {} (sha256 {}), which the chain does not use: trust is wider than needed; remove it unless a rotation is under way", r.summary().subject, &r.fingerprint()[..16])));
    }
}

/// A verified path whose key identifiers disagree: Go runs with it, the PKI is broken.
pub(super) fn aki_findings(at: &At<'_>, key: &str, chain: &pki::Chain, report: &mut Report) {
    for (child, issuer) in chain.aki_mismatches() {
        report.push(at.f(Severity::Error, CheckId::ChainAkiMismatch, Some(key), format!("the authorityKeyIdentifier of {child} is not the subjectKeyIdentifier of its issuer {issuer}; Go accepts the chain, openssl and RFC 5280 do not: reissue {child}")));
    }
}
