//! The shape of a setup, as the seed document describes it: the relay mode, the certificate
//! architecture (which roots and intermediates; one root shared by relay and Istio, or separate
//! roots) and the placement of the CAs (all in the management cluster, hybrid, all external),
//! read off the certificates and keys the checks already parsed. It also flags, as warnings with
//! the seed's advice, what the seed calls demo setups: roots Gloo Mesh generated itself, a root
//! CA's private key kept in the management cluster, an insecure relay.
//!
//! It reads no secret value beyond what [`super::check`] parsed, prints names and fingerprints
//! only, and does no I/O. The relay mode comes from the `--profile` when there is one (see
//! [`crate::profile`]); without one it is inferred from the secrets present, and says so.

use serde::Serialize;

use super::cert::PAIRS;
use super::parse::Parsed;
use super::At;
use crate::check_id::CheckId;
use crate::findings::{Finding, Severity};
use crate::gloo::RelayMode;
use crate::gloo::{Role, GENERATED_SIGNING_CERT};
use crate::pki::{self, Cert};
use crate::snapshot::Snapshot;

/// Which roots and intermediates the relay and Istio use (the seed's three architectures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// One root and one intermediate CA issue both the relay agents' and Istio's certificates.
    SharedRootSharedIntermediate,
    /// One root, with an intermediate for the relay and others for Istio.
    SharedRootSeparateIntermediates,
    /// Separate roots for the relay and for Istio (no common root of trust).
    SeparateRoots,
    /// Only relay certificates were seen.
    RelayOnly,
    /// Only Istio certificates were seen.
    IstioOnly,
    /// No root was seen.
    Unknown,
}

impl Architecture {
    /// The seed's words for it.
    pub fn describe(self) -> &'static str {
        match self {
            Architecture::SharedRootSharedIntermediate => {
                "one root and one intermediate CA for both the relay and Istio"
            }
            Architecture::SharedRootSeparateIntermediates => {
                "one root with separate intermediate CAs for the relay and Istio"
            }
            Architecture::SeparateRoots => "separate root CAs for the relay and Istio",
            Architecture::RelayOnly => "relay certificates only (no Istio root seen)",
            Architecture::IstioOnly => "Istio certificates only (no relay root seen)",
            Architecture::Unknown => "unknown (no root certificate seen)",
        }
    }
}

/// Where the CA private keys live (the seed's three placements).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// A root CA's key is in the management cluster (with the intermediates'): "such as for
    /// demo setups".
    ManagementCluster,
    /// Roots outside, intermediate CA keys in the management cluster: Gloo keeps issuing.
    Hybrid,
    /// No CA key in the management cluster: Gloo issues nothing itself.
    External,
    /// No management cluster was read.
    Unknown,
}

impl Placement {
    pub fn describe(self) -> &'static str {
        match self {
            Placement::ManagementCluster => {
                "root and intermediate CAs in the management cluster (the seed: \"such as for demo setups\")"
            }
            Placement::Hybrid => {
                "hybrid: roots outside the cluster, intermediate CA keys in the management cluster"
            }
            Placement::External => {
                "external: no CA private key in the management cluster"
            }
            Placement::Unknown => "unknown (no management cluster read)",
        }
    }
}

/// Where the relay mode was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeSource {
    /// The `--profile` that `trustkeep discover` wrote.
    Profile,
    /// The secrets present (no profile given).
    Inferred,
}

/// One CA private key found in the management cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaKey {
    /// `namespace/name` of the secret.
    pub secret: String,
    /// The data key holding the private key.
    pub key: String,
    /// The CA certificate's subject.
    pub subject: String,
    /// A self-signed root (else an intermediate).
    pub root: bool,
}

/// The shape of the setup the checks saw.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    /// `None` when neither a profile nor the secrets tell.
    pub relay_mode: Option<RelayMode>,
    pub relay_mode_source: ModeSource,
    pub architecture: Architecture,
    pub placement: Placement,
    /// `subject (sha256 …)` of each relay root.
    pub relay_roots: Vec<String>,
    /// `subject (sha256 …)` of each Istio root.
    pub istio_roots: Vec<String>,
    /// The CA private keys kept in the management cluster.
    pub ca_keys_in_management_cluster: Vec<CaKey>,
}

impl Setup {
    /// The one-line summary: mode, architecture, placement.
    pub fn summary(&self) -> String {
        let mode = match (self.relay_mode, self.relay_mode_source) {
            (Some(m), ModeSource::Profile) => format!("{} (from the profile)", m.as_str()),
            (Some(m), ModeSource::Inferred) => {
                format!("{} (inferred from the secrets present)", m.as_str())
            }
            (None, _) => "unknown (no relay secret seen and no --profile: an insecure relay, or missing relay secrets; trustkeep discover tells which)".to_string(),
        };
        format!(
            "relay mode {mode}; architecture: {}; placement: {}",
            self.architecture.describe(),
            self.placement.describe()
        )
    }
}

/// The roots and intermediates the checks found, for [`analyse`].
pub(super) struct Seen<'a> {
    pub relay_roots: &'a [Cert],
    pub istio_roots: &'a [Cert],
    pub relay_signing: &'a [Cert],
}

/// Works out the setup's shape and its demo-only warnings. `mgmt` is the index of the
/// management cluster in `clusters` (and `parsed`), if one was read; the relay mode is the
/// profile's that a snapshot carries, else inferred.
pub(super) fn analyse(
    clusters: &[Snapshot],
    parsed: &[Vec<Parsed>],
    mgmt: Option<usize>,
    seen: Seen<'_>,
    sig: &pki::RunCache,
) -> (Setup, Vec<Finding>) {
    let mut findings = Vec::new();
    let profile_mode = clusters.iter().find_map(|c| c.relay_mode);
    let (relay_mode, relay_mode_source) = match profile_mode {
        Some(m) => (Some(m), ModeSource::Profile),
        None => (infer_mode(clusters), ModeSource::Inferred),
    };
    // Istio roots: the management cluster's root-trust roots, else what the workloads trust.
    let mut istio_roots: Vec<Cert> = seen.istio_roots.to_vec();
    let mut istio_inter: Vec<Cert> = Vec::new();
    for (c, per) in clusters.iter().zip(parsed) {
        for (s, p) in c.secrets.iter().zip(per) {
            if s.role != Role::IstioCacerts {
                continue;
            }
            let (cert, root, chain) = if p.certs.contains_key("ca-cert.pem") {
                ("ca-cert.pem", "root-cert.pem", "cert-chain.pem")
            } else {
                ("tls.crt", "ca.crt", "tls.crt")
            };
            istio_inter.extend(p.certs.get(cert).and_then(|v| v.first()).cloned());
            istio_inter.extend(p.certs.get(chain).into_iter().flatten().cloned());
            if seen.istio_roots.is_empty() {
                for r in p.certs.get(root).into_iter().flatten() {
                    if !istio_roots.contains(r) {
                        istio_roots.push(r.clone());
                    }
                }
            }
        }
    }
    istio_inter.retain(|c| !istio_roots.contains(c));
    let relay_inter = relay_intermediates(clusters, parsed, seen.relay_signing);
    let shared_root = seen.relay_roots.iter().any(|r| istio_roots.contains(r));
    let architecture = match (seen.relay_roots.is_empty(), istio_roots.is_empty()) {
        (true, true) => Architecture::Unknown,
        (false, true) => Architecture::RelayOnly,
        (true, false) => Architecture::IstioOnly,
        _ if !shared_root => Architecture::SeparateRoots,
        _ if relay_inter.iter().any(|i| istio_inter.contains(i)) => {
            Architecture::SharedRootSharedIntermediate
        }
        _ => Architecture::SharedRootSeparateIntermediates,
    };
    let keys = mgmt
        .map(|i| ca_keys(&clusters[i], &parsed[i], sig))
        .unwrap_or_default();
    let placement = match mgmt {
        None => Placement::Unknown,
        Some(_) if keys.iter().any(|(k, _)| k.root) => Placement::ManagementCluster,
        Some(_) if !keys.is_empty() => Placement::Hybrid,
        Some(_) => Placement::External,
    };
    if let Some(i) = mgmt {
        let c = &clusters[i];
        for (k, generated) in &keys {
            let at = At {
                cluster: &c.cluster,
                secret: k.secret.clone(),
            };
            if *generated {
                findings.push(at.f(Severity::Warning, CheckId::SetupGeneratedRoot, Some(&k.key), format!("{} is a root Gloo Mesh generated itself, with its private key unencrypted in this secret; the seed: autogenerated certificates are \"not recommended for production use\": bring your own root CA (a RootTrustPolicy mgmtServerCa.secretRef to an intermediate signed by a root kept outside the cluster)", k.subject)));
            } else if k.root {
                findings.push(at.f(Severity::Warning, CheckId::SetupRootKeyInCluster, Some(&k.key), format!("the private key of root CA {} is kept in this secret in the management cluster, which the seed calls a demo setup; keep the root outside the cluster and only intermediate CAs inside (the hybrid placement), and restrict access to the management cluster", k.subject)));
            }
        }
    }
    if relay_mode == Some(RelayMode::Insecure) && relay_mode_source == ModeSource::Profile {
        findings.push(Finding::warning(CheckId::SetupInsecure, "the relay is insecure: agents and the management server talk plain HTTP, with no relay certificates; the seed offers insecure mode \"for quick demonstrations\": install with relay mTLS for anything else"));
    }
    let describe = |roots: &[Cert]| roots.iter().map(describe_cert).collect();
    let setup = Setup {
        relay_mode,
        relay_mode_source,
        architecture,
        placement,
        relay_roots: describe(seen.relay_roots),
        istio_roots: describe(&istio_roots),
        ca_keys_in_management_cluster: keys.into_iter().map(|(k, _)| k).collect(),
    };
    let mut summary = Finding::info(CheckId::SetupSummary, setup.summary());
    if let Some(i) = mgmt {
        summary = summary.cluster(clusters[i].cluster.clone());
    }
    findings.insert(0, summary);
    (setup, findings)
}

/// The relay's intermediates: the signing CA, and those the server's and agents' `tls.crt`
/// bundles carry after their leaf (with the signing CA kept outside the cluster, the external
/// placement, the bundles are where the relay's intermediate shows).
fn relay_intermediates(
    clusters: &[Snapshot],
    parsed: &[Vec<Parsed>],
    signing: &[Cert],
) -> Vec<Cert> {
    let mut out = signing.to_vec();
    for (c, per) in clusters.iter().zip(parsed) {
        for (s, p) in c.secrets.iter().zip(per) {
            if matches!(s.role, Role::RelayServer | Role::RelayClient) {
                out.extend(p.rest("tls.crt"));
            }
        }
    }
    out
}

fn describe_cert(c: &Cert) -> String {
    format!(
        "{} (sha256 {})",
        c.summary().subject,
        &c.fingerprint()[..16]
    )
}

/// The relay mode the secrets suggest, when they suggest one: a signing CA means Gloo signs
/// agent certificates; a server without one means agents bring their own (or a token only).
fn infer_mode(clusters: &[Snapshot]) -> Option<RelayMode> {
    let has = |role: Role| {
        clusters
            .iter()
            .any(|c| c.secrets.iter().any(|s| s.role == role))
    };
    if has(Role::RelaySigning) {
        Some(RelayMode::MtlsGenerated)
    } else if has(Role::RelayServer) {
        if !has(Role::RelayClient) && has(Role::RelayIdentityToken) {
            Some(RelayMode::TlsToken)
        } else {
            Some(RelayMode::MtlsByo)
        }
    } else {
        None
    }
}

/// The CA private keys of a cluster's secrets (a key beside a CA certificate it matches),
/// with whether the secret is a root Gloo generated (its type says so). Istio's own
/// `cacerts` key is not counted: every workload cluster has one by design; nor is an archive's
/// offline CA material, which no restore puts in a cluster unless named.
fn ca_keys(c: &Snapshot, parsed: &[Parsed], sig: &pki::RunCache) -> Vec<(CaKey, bool)> {
    let mut out = Vec::new();
    for (s, p) in c.secrets.iter().zip(parsed) {
        // Offline CA material (a birth archive's) is kept out of every cluster by design.
        if s.role == Role::IstioCacerts || s.record.is_offline() {
            continue;
        }
        for (key_name, certs) in PAIRS {
            let Some(key) = p.keys.get(*key_name) else {
                continue;
            };
            let Some(cert) = certs
                .iter()
                .filter_map(|k| p.certs.get(*k).and_then(|v| v.first()))
                .find(|c| c.public_key().ok().as_ref() == Some(&key.public))
            else {
                continue;
            };
            if !cert.x509().is_ca() {
                continue;
            }
            let key = CaKey {
                secret: s.record.id.to_string(),
                key: key_name.to_string(),
                subject: cert.summary().subject,
                root: sig.issued_by(cert, cert),
            };
            let generated = key.root && s.record.type_ == GENERATED_SIGNING_CERT;
            if !out
                .iter()
                .any(|(k, _): &(CaKey, bool)| k.secret == key.secret)
            {
                out.push((key, generated));
            }
        }
    }
    out
}
