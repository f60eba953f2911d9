//! Role profiles: what the certificates of each Gloo Mesh role must look like (the seed's
//! profiles: CA or leaf, DNS SAN, serverAuth, pathlen:0, self-signed roots) and the per-role
//! checks that put them together with the chains a role needs (relay server, signing CA, relay
//! root, agent, root trust, Istio `cacerts`, identity token). Which secret has which role is
//! [`crate::select`]'s; path validation is [`crate::pki`]'s, the chain checks [`super::chains`].
//! Checks that hold for every certificate whatever its role belong in [`super::cert`].

use super::chains::{
    aki_findings, chain_finding, chain_to_own_ca, chain_to_relay_root, describe_roots,
    rotation_finding, Anchors, Consumer,
};
use super::parse::Parsed;
use super::At;
use crate::check_id::CheckId;
use crate::findings::{Report, Severity};
use crate::gloo::Role;
use crate::pki::{self, Cert};

/// The relay server's DNS name in the seed's profile.
pub(crate) const RELAY_SERVER_SAN: &str = "*.gloo-mesh";

/// The Istio intermediate's DNS name in the seed's profile.
pub(crate) const ISTIOD_SAN: &str = "istiod.istio-system.svc";

/// What a certificate of a Gloo Mesh role must look like (the seed's profiles).
#[derive(Default)]
struct RoleProfile {
    ca: bool,
    dns: Option<String>,
    server_auth: bool,
    pathlen0: bool,
}

impl RoleProfile {
    fn ca() -> Self {
        RoleProfile {
            ca: true,
            ..Default::default()
        }
    }
    fn leaf(dns: &str) -> Self {
        RoleProfile {
            dns: Some(dns.to_string()),
            ..Default::default()
        }
    }
}

fn check_profile(
    at: &At<'_>,
    key: &str,
    c: &Cert,
    want: RoleProfile,
    check: CheckId,
    report: &mut Report,
) {
    let x = c.x509();
    let name = x.subject().to_string();
    let bc = x
        .basic_constraints()
        .ok()
        .flatten()
        .map(|b| b.value.clone());
    let is_ca = bc.as_ref().map(|b| b.ca).unwrap_or(false);
    if want.ca && !is_ca {
        report.push(at.f(
            Severity::Error,
            CheckId::CaConstraints,
            Some(key),
            format!("{name} must be a CA (basicConstraints CA:TRUE) but is not"),
        ));
    }
    if !want.ca && is_ca {
        report.push(at.f(
            Severity::Error,
            CheckId::CaConstraints,
            Some(key),
            format!("{name} is a leaf certificate but has CA:TRUE"),
        ));
    }
    if want.ca {
        let kcs = x
            .key_usage()
            .ok()
            .flatten()
            .map(|k| k.value.key_cert_sign());
        if kcs == Some(false) {
            report.push(at.f(
                Severity::Error,
                CheckId::CaConstraints,
                Some(key),
                format!("{name} is a CA but its keyUsage lacks keyCertSign"),
            ));
        }
    }
    if want.pathlen0 {
        let pl = bc.and_then(|b| b.path_len_constraint);
        if is_ca && pl != Some(0) {
            report.push(at.f(
                Severity::Error,
                check,
                Some(key),
                format!(
                    "{name} must have pathlen:0 (found {})",
                    pl.map(|p| p.to_string()).unwrap_or_else(|| "none".into())
                ),
            ));
        }
    }
    if let Some(dns) = &want.dns {
        let names = pki::dns_names(x);
        if !names.iter().any(|n| n == dns) {
            report.push(at.f(
                Severity::Error,
                check,
                Some(key),
                format!(
                    "{name} must have DNS SAN {dns}, found [{}]",
                    names.join(", ")
                ),
            ));
        }
    }
    if want.server_auth {
        if let Ok(Some(eku)) = x.extended_key_usage() {
            if !eku.value.server_auth && !eku.value.any {
                report.push(at.f(
                    Severity::Error,
                    check,
                    Some(key),
                    format!("{name} lacks extendedKeyUsage serverAuth"),
                ));
            }
        }
    }
}

fn self_signed_ca(
    at: &At<'_>,
    key: &str,
    c: &Cert,
    check: CheckId,
    report: &mut Report,
    sig: &pki::RunCache,
) {
    let x = c.x509();
    if !sig.issued_by(c, c) {
        report.push(at.f(
            Severity::Error,
            check,
            Some(key),
            format!(
                "{} must be a self-signed root but is issued by {}",
                x.subject(),
                x.issuer()
            ),
        ));
    }
    // A version 1 root has no extensions to check: as a trust anchor it is a name and a key
    // (Go, webpki and openssl accept it).
    if x.version() != x509_parser::x509::X509Version::V1 {
        check_profile(at, key, c, RoleProfile::ca(), check, report);
    }
}

/// What the per-role checks read: where findings go, the secret's parsed values, its
/// cluster, the management cluster's anchors and token, and the run's cache of signature
/// and key verdicts.
#[derive(Clone, Copy)]
pub(super) struct RoleCtx<'c> {
    pub(super) at: &'c At<'c>,
    pub(super) p: &'c Parsed,
    pub(super) cluster: &'c str,
    pub(super) a: &'c Anchors,
    pub(super) token: Option<&'c [u8]>,
    pub(super) sig: &'c pki::RunCache,
    /// The name agents dial the relay server by.
    pub(super) authority: &'c str,
    /// The time the checks run at.
    pub(super) now: chrono::DateTime<chrono::Utc>,
}

impl RoleCtx<'_> {
    /// Whether the secret is in the management cluster itself.
    fn same_cluster(&self) -> bool {
        self.a.cluster.as_deref() == Some(self.cluster)
    }
}

/// The checks of the role `role` over one secret.
pub(super) fn check_role(c: &RoleCtx<'_>, role: Role, report: &mut Report) {
    match role {
        Role::RelayServer => relay_server(c, report),
        Role::RelaySigning => relay_signing(c, report),
        Role::RelayRoot => relay_root(c, report),
        Role::RelayClient => relay_client(c, report),
        Role::RootTrust => root_trust(c, report),
        Role::IstioCacerts => istio_cacerts(c, report),
        Role::RelayIdentityToken => relay_identity_token(c, report),
        Role::Included => {}
    }
}

fn relay_server(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let Some(leaf) = p.first("tls.crt") else {
        return;
    };
    // The name is what the agent's TLS client checks (Go's VerifyHostname on the authority it
    // dials); the seed's `*.gloo-mesh` is one SAN that satisfies the default authority.
    check_profile(
        at,
        "tls.crt",
        leaf,
        RoleProfile {
            server_auth: true,
            dns: None,
            ..RoleProfile::leaf(RELAY_SERVER_SAN)
        },
        CheckId::RoleRelayServer,
        report,
    );
    let names = pki::dns_names(leaf.x509());
    if !names.iter().any(|n| go_matches_hostname(n, c.authority)) {
        let name = leaf.summary().subject;
        report.push(at.f(Severity::Error, CheckId::RoleRelayServer, Some("tls.crt"), format!("{name} is not valid for {}, the name agents dial the relay server by (relay.authority; Go's TLS client refuses the handshake): its DNS SANs are [{}]; the seed's profile gives it {RELAY_SERVER_SAN}", c.authority, names.join(", "))));
    }
    chain_to_own_ca(
        at,
        p,
        "tls.crt",
        Consumer::Agent,
        &a.relay_roots,
        report,
        sig,
    );
    if a.relay_roots.len() > 1 {
        let usage = Consumer::Agent.usage();
        let rest = p.rest("tls.crt");
        if let Ok(chain) = pki::verify_chain_cached(leaf, &rest, &a.relay_roots, None, usage, sig) {
            report.push(rotation_finding(
                at,
                "tls.crt",
                "relay",
                &a.relay_roots,
                &chain,
            ));
        }
    }
    if let (false, Some(ca)) = (a.relay_roots.is_empty(), p.first("ca.crt")) {
        if !a.relay_roots.contains(ca) {
            report.push(at.f(Severity::Error, CheckId::TrustRelayRoot, Some("ca.crt"), format!("ca.crt ({}) is not the relay root of relay-root-tls-secret ({}); server and agents must share one root", ca.summary().sha256, describe_roots(&a.relay_roots))));
        }
    }
    let what = "the relay server certificate";
    chain_to_relay_root(at, p, a, what, Consumer::Agent, report, sig);
}

fn relay_signing(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let Some(leaf) = p.first("tls.crt") else {
        return;
    };
    check_profile(
        at,
        "tls.crt",
        leaf,
        RoleProfile::ca(),
        CheckId::RoleRelaySigning,
        report,
    );
    // The signing CA sits in every agent's chain, which the relay server verifies.
    chain_to_own_ca(
        at,
        p,
        "tls.crt",
        Consumer::RelayServer,
        &a.relay_roots,
        report,
        sig,
    );
    let what = "the relay signing CA";
    chain_to_relay_root(at, p, a, what, Consumer::RelayServer, report, sig);
}

fn relay_root(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let same_cluster = c.same_cluster();
    let key = if p.certs.contains_key("ca.crt") {
        "ca.crt"
    } else {
        "tls.crt"
    };
    let Some(root) = p.first(key) else { return };
    self_signed_ca(at, key, root, CheckId::RoleRelayRoot, report, sig);
    // The root's key must match the root certificate, wherever the secret keeps it.
    if let (Some(k), true) = (
        p.keys.get("tls.key"),
        key == "ca.crt" && p.certs.contains_key("tls.crt"),
    ) {
        if !k.matches(root) {
            report.push(at.f(Severity::Error, CheckId::KeyMatch, Some("tls.key"), format!("tls.key ({}) does not match the relay root in ca.crt ({}); the relay root cannot sign with it", k.public.describe(), root.summary().subject)));
        }
    }
    if let (Some(tls), true) = (p.first("tls.crt"), key == "ca.crt") {
        if tls != root {
            report.push(at.f(
                Severity::Warning,
                CheckId::RoleRelayRoot,
                Some("tls.crt"),
                "tls.crt differs from ca.crt in the relay root secret",
            ));
        }
    }
    if !same_cluster && !a.relay_roots.is_empty() && !a.relay_roots.contains(root) {
        report.push(at.f(
            Severity::Error,
            CheckId::TrustRelayRoot,
            Some(key),
            format!(
                "this cluster's relay root ({}, sha256 {}) is not the management cluster's ({})",
                root.summary().subject,
                root.fingerprint(),
                describe_roots(&a.relay_roots)
            ),
        ));
    }
}

fn relay_client(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx {
        at,
        p,
        cluster,
        a,
        sig,
        ..
    } = *c;
    let Some(leaf) = p.first("tls.crt") else {
        return;
    };
    check_profile(
        at,
        "tls.crt",
        leaf,
        RoleProfile::leaf(cluster),
        CheckId::RoleRelayClient,
        report,
    );
    chain_to_own_ca(
        at,
        p,
        "tls.crt",
        Consumer::RelayServer,
        &a.relay_roots,
        report,
        sig,
    );
    if !a.relay_roots.is_empty() {
        let mut inter = p.rest("tls.crt");
        inter.extend(a.relay_signing.iter().cloned());
        let anchors = &a.relay_roots;
        // As the relay server verifies agents: for client authentication.
        let usage = Consumer::RelayServer.usage();
        match pki::verify_chain_cached(leaf, &inter, anchors, None, usage, sig) {
            Err(e) => report.push(chain_finding(
                at,
                "tls.crt",
                CheckId::TrustRelayRoot,
                "the agent certificate does not chain to the management cluster's relay root",
                &e,
                Consumer::RelayServer,
            )),
            Ok(chain) => {
                // During a rotation an agent not yet switched is issued by the old root's
                // signing CA, which the management cluster no longer holds.
                let not_switched = anchors.len() > 1
                    && chain.path.last() != anchors.iter().max_by_key(|r| r.summary().not_before);
                if anchors.len() > 1 {
                    report.push(rotation_finding(at, "tls.crt", "relay", anchors, &chain));
                }
                if !a.relay_signing.is_empty()
                    && !not_switched
                    && !chain.path.iter().any(|c| a.relay_signing.contains(c))
                {
                    report.push(earlier_signing_ca(at, &chain.path));
                }
            }
        }
    }
}

/// An agent certificate that chains to the relay root but not through the signing CA of
/// relay-tls-signing-secret. Through an earlier signing CA under the same root (the signing
/// CA was rotated: `pki rotate relay-signing`) the relay server still accepts it and the next
/// one comes from the current CA: info. Any other way (issued by the root itself) is an error.
fn earlier_signing_ca(at: &super::At<'_>, path: &[Cert]) -> crate::findings::Finding {
    let issuer = path.get(1).filter(|_| path.len() > 2);
    match issuer {
        Some(earlier) => {
            let s = earlier.summary();
            at.f(Severity::Info, CheckId::RoleRelayClient, Some("tls.crt"), format!("the agent certificate is issued by an earlier relay signing CA ({}, sha256 {}), not the one of relay-tls-signing-secret; it still chains to the relay root, so the relay server accepts it, and the agent's next certificate comes from the current signing CA", s.subject, &s.sha256[..16]))
        }
        None => at.f(Severity::Error, CheckId::RoleRelayClient, Some("tls.crt"), "the agent certificate is not issued through the relay signing CA of relay-tls-signing-secret"),
    }
}

/// A root-trust secret: the root (`root-cert.pem` with `key.pem`) Gloo signs Istio
/// intermediates with, or, when the root is kept outside the cluster (the seed's hybrid
/// placement), an intermediate CA in the cacerts keys (`ca-cert.pem`, `ca-key.pem`,
/// `cert-chain.pem`) that must chain to the root in `root-cert.pem`.
fn root_trust(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, sig, .. } = *c;
    let key = if p.certs.contains_key("root-cert.pem") {
        "root-cert.pem"
    } else {
        "ca.crt"
    };
    let Some(root) = p.first(key) else { return };
    self_signed_ca(at, key, root, CheckId::RoleRootTrust, report, sig);
    let Some(ca) = p.first("ca-cert.pem") else {
        return;
    };
    check_profile(
        at,
        "ca-cert.pem",
        ca,
        RoleProfile::ca(),
        CheckId::RoleRootTrust,
        report,
    );
    let roots = p.certs.get(key).map(Vec::as_slice).unwrap_or_default();
    let chain = p.rest("cert-chain.pem");
    let usage = Consumer::Istiod.usage();
    match pki::verify_chain_cached(ca, &chain, roots, None, usage, sig) {
        Err(e) => report.push(chain_finding(
            at,
            "ca-cert.pem",
            CheckId::ChainVerify,
            &format!("ca-cert.pem does not chain to {key}"),
            &e,
            Consumer::Istiod,
        )),
        Ok(chain) => aki_findings(at, "ca-cert.pem", &chain, report),
    }
}

/// The data keys of one of the two `cacerts` forms istiod loads.
struct CacertsForm {
    cert: &'static str,
    root: &'static str,
    /// `cert-chain.pem` of the plug-in form; the `tls.crt` bundle of the other.
    chain: &'static str,
}

/// The plug-in keys when `ca-cert.pem` is there, else `tls.crt`/`tls.key`/`ca.crt` (Istio
/// accepts both); `None` when neither certificate is.
fn cacerts_form(p: &Parsed) -> Option<CacertsForm> {
    if p.has("ca-cert.pem") {
        Some(CacertsForm {
            cert: "ca-cert.pem",
            root: "root-cert.pem",
            chain: "cert-chain.pem",
        })
    } else if p.has("tls.crt") {
        Some(CacertsForm {
            cert: "tls.crt",
            root: "ca.crt",
            chain: "tls.crt",
        })
    } else {
        None
    }
}

/// istiod's own check of plugged-in certificates: the CA certificate is a CA (an end-entity
/// certificate there is named as the mistake), its chain leads to the root, which may be a
/// bundle of several roots (during a rotation); then the federation with the management
/// cluster's root-trust roots.
fn istio_cacerts(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, p, a, sig, .. } = *c;
    let err =
        |key: &str, msg: String| at.f(Severity::Error, CheckId::RoleIstioCacerts, Some(key), msg);
    let Some(form) = cacerts_form(p) else {
        report.push(err(
            "ca-cert.pem",
            "cacerts has neither ca-cert.pem nor tls.crt, the two forms istiod loads".into(),
        ));
        return;
    };
    let Some(ca) = p.first(form.cert) else {
        return; // present but unparsable: pem.parse said so
    };
    if !ca.x509().is_ca() {
        report.push(err(form.cert, format!("{} is an end-entity certificate, not a CA: istiod refuses it (\"certificate is not authorized to sign other certificates\"); put the Istio intermediate CA here, not a workload or server certificate", form.cert)));
    }
    check_profile(
        at,
        form.cert,
        ca,
        RoleProfile {
            ca: true,
            pathlen0: true,
            ..RoleProfile::leaf(ISTIOD_SAN)
        },
        CheckId::RoleIstioCacerts,
        report,
    );
    super::crl::istio_crl(at, p, form.chain, c.now, report);
    let roots: Vec<Cert> = p.certs.get(form.root).cloned().unwrap_or_default();
    let chain_rest = p.rest(form.chain);
    if roots.is_empty() {
        report.push(err(form.root, format!("cacerts has no {}", form.root)));
    } else {
        let usage = Consumer::Istiod.usage();
        match pki::verify_chain_cached(ca, &chain_rest, &roots, None, usage, sig) {
            Err(e) => report.push(chain_finding(
                at,
                form.cert,
                CheckId::ChainVerify,
                &format!("{} does not chain to {}", form.cert, form.root),
                &e,
                Consumer::Istiod,
            )),
            Ok(chain) => {
                aki_findings(at, form.cert, &chain, report);
                // No root-trust secret to read the rotation from (Gloo issues nothing, the
                // external placement): the cluster's own bundle says it.
                if a.root_trust.is_empty() && roots.len() > 1 {
                    report.push(rotation_finding(at, form.cert, "Istio", &roots, &chain));
                }
            }
        }
    }
    if let (Some(chain), "cert-chain.pem") = (p.certs.get(form.chain), form.chain) {
        if chain.first() != Some(ca) {
            report.push(err(
                "cert-chain.pem",
                "cert-chain.pem must start with ca-cert.pem".into(),
            ));
        }
        if !roots.is_empty() && !chain.last().is_some_and(|l| roots.contains(l)) {
            report.push(err(
                "cert-chain.pem",
                "cert-chain.pem must end with a root of root-cert.pem".into(),
            ));
        }
    }
    if !a.root_trust.is_empty() {
        let verified = pki::verify_chain_cached(
            ca,
            &chain_rest,
            &a.root_trust,
            None,
            Consumer::Istiod.usage(),
            sig,
        );
        if let (Ok(chain), true) = (&verified, a.root_trust.len() > 1) {
            report.push(rotation_finding(
                at,
                form.cert,
                "Istio",
                &a.root_trust,
                chain,
            ));
        }
        if let Err(e) = verified {
            let roots = describe_roots(&a.root_trust);
            report.push(chain_finding(at, form.cert, CheckId::TrustIstioRoot, &format!("the Istio intermediate does not chain to the management cluster's root-trust root {roots}; meshes will not trust each other"), &e, Consumer::Istiod));
        }
    }
}

fn relay_identity_token(c: &RoleCtx<'_>, report: &mut Report) {
    let RoleCtx { at, a, token, .. } = *c;
    let same_cluster = c.same_cluster();
    if let (Some(t), Some(mt), false) = (token, &a.token, same_cluster) {
        if t != mt.expose() {
            report.push(at.f(Severity::Error, CheckId::TrustToken, Some("token"), "the relay identity token differs from the management cluster's; the agent cannot register"));
        }
    }
}

/// Go's `matchHostnames` for a DNS SAN `pattern` and the host dialled: case-insensitive,
/// label by label, a `*` only as the whole leftmost label and matching exactly one label.
fn go_matches_hostname(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    if p.len() != h.len() || p.iter().any(|l| l.is_empty()) {
        return false;
    }
    p.iter()
        .zip(&h)
        .enumerate()
        .all(|(i, (p, h))| (i == 0 && *p == "*") || p.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::go_matches_hostname as m;

    #[test]
    fn hostnames_match_as_go_matches_them() {
        assert!(m("*.gloo-mesh", "gloo-mesh-mgmt-server.gloo-mesh"));
        assert!(m(
            "gloo-mesh-mgmt-server.gloo-mesh",
            "GLOO-MESH-MGMT-SERVER.gloo-mesh."
        ));
        assert!(!m("*.gloo-mesh", "gloo-mesh"));
        assert!(!m("*.gloo-mesh", "a.b.gloo-mesh"));
        assert!(!m("a.*.gloo-mesh", "a.b.gloo-mesh"));
        assert!(!m("*.gloo-mesh", "relay.example.com"));
    }
}
