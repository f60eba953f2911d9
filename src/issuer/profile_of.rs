//! The profile (`trustkeep.io/v1` Profile, [`crate::profile`]) of each cluster of a design, as
//! `trustkeep discover` would write it for a Gloo Mesh installed that way: which secret each
//! role uses, and which roles are absent by design and why (the external placement has no
//! signing CA, no relay root secret, no token and no RootTrustPolicy on purpose). `backup` and
//! `audit --profile` read it.

use super::birth::{ORIGIN, ROOT_TRUST_POLICY, ROOT_TRUST_SECRET};
use super::design::{Design, Placement};
use crate::gloo::{self, ClusterKind, DEFAULT_NAMESPACE};
use crate::profile::{Discovered, Entry, Profile, ProfileRole as R};
use crate::secret::SecretId;

/// The profile of cluster `name` (of `kind`) in `d`.
pub(crate) fn profile(d: &Design, name: &str, kind: ClusterKind) -> Profile {
    let ns = DEFAULT_NAMESPACE;
    let named = |role, n: &str| Entry::named(role, &SecretId::new(ns, n));
    let external = d.placement == Placement::External;
    let mut e = Vec::new();
    match kind {
        ClusterKind::Management => {
            e.push(named(R::RelayServer, gloo::RELAY_SERVER));
            if external {
                e.push(Entry::absent(R::RelaySigning, "placement external: the CA that signs agent certificates is kept outside the cluster (glooMgmtServer.relay.disableCa: true); trustkeep pki reissue relay-client issues them"));
                e.push(Entry::absent(R::RelayRoot, "placement external: the relay root is kept outside the cluster (disableCaCertGeneration: true); its certificate is the ca.crt of relay-server-tls-secret"));
                e.push(Entry::absent(R::RelayIdentityToken, "placement external: agents authenticate with their own certificates, no token (disableTokenGeneration: true)"));
            } else {
                e.push(named(R::RelaySigning, gloo::RELAY_SIGNING));
                e.push(named(R::RelayRoot, gloo::RELAY_ROOT));
                e.push(named(R::RelayIdentityToken, gloo::RELAY_TOKEN));
            }
            e.push(Entry::absent(
                R::RelayClient,
                "no Gloo agent in the management cluster",
            ));
            if external {
                e.push(Entry::absent(R::RootTrust, "placement external: no RootTrustPolicy; each cluster's Istio intermediate is issued outside the cluster (trustkeep pki reissue istio-cacerts)"));
            } else {
                e.push(named(R::RootTrust, ROOT_TRUST_SECRET));
            }
            e.push(Entry::absent(
                R::IstioCacerts,
                "no Istio mesh in the management cluster",
            ));
        }
        ClusterKind::Workload => {
            e.push(Entry::absent(
                R::RelayServer,
                "no management server in this cluster",
            ));
            e.push(Entry::absent(
                R::RelaySigning,
                "no management server in this cluster",
            ));
            e.push(named(R::RelayRoot, gloo::RELAY_ROOT));
            if external {
                e.push(Entry::absent(R::RelayIdentityToken, "bring-your-own mTLS: agents authenticate with their own certificates, no token"));
            } else {
                e.push(named(R::RelayIdentityToken, gloo::RELAY_TOKEN));
            }
            e.push(named(R::RelayClient, gloo::RELAY_CLIENT));
            e.push(Entry::absent(
                R::RootTrust,
                "workload cluster: roots live in the management cluster",
            ));
            e.push(Entry::named(
                R::IstioCacerts,
                &SecretId::new(gloo::ISTIO_NAMESPACE, gloo::CACERTS),
            ));
        }
    }
    e.push(Entry::absent(
        R::TelemetryGateway,
        "not made by trustkeep pki init",
    ));
    let discovered = Discovered {
        source: format!("{ORIGIN} ({}), cluster {name}", d.describe()),
        root_trust_policies: match (kind, external) {
            (ClusterKind::Management, false) => vec![format!("{ns}/{ROOT_TRUST_POLICY}")],
            _ => Vec::new(),
        },
        notes: vec![format!(
            "written by {ORIGIN} for the design it made, not read from a cluster: run trustkeep discover once Gloo Mesh is installed"
        )],
        ..Discovered::default()
    };
    Profile::new(discovered, kind, d.relay_mode(), ns.to_string(), e)
}
