//! Gloo Mesh's vocabulary, shared by every stage: the roles a secret can play, the two kinds
//! of cluster, the relay modes, and the well-known names and types Gloo gives its secrets.
//! A leaf: it imports nothing from the rest of trustkeep, so any module can use it without
//! importing another mid-level module. Facts only, no logic beyond spelling them.

use serde::{Deserialize, Serialize};

pub const RELAY_SERVER: &str = "relay-server-tls-secret";
pub const RELAY_SIGNING: &str = "relay-tls-signing-secret";
pub const RELAY_ROOT: &str = "relay-root-tls-secret";
pub const RELAY_TOKEN: &str = "relay-identity-token-secret";
pub const RELAY_CLIENT: &str = "relay-client-tls-secret";
pub const ISTIO_NAMESPACE: &str = "istio-system";
pub const CACERTS: &str = "cacerts";
/// The type Gloo Mesh gives the root-trust secrets it generates.
pub const GENERATED_SIGNING_CERT: &str = "certificates.mesh.gloo.solo.io/generated_signing_cert";
/// The type Gloo Mesh gives `istio-system/cacerts`.
pub const ISSUED_CERTIFICATE: &str = "certificates.mesh.gloo.solo.io/issued_certificate";
/// The name agents dial and verify the relay server's certificate for (the agent charts'
/// `relay.authority` default, Go's `tls.Config.ServerName`).
pub const DEFAULT_RELAY_AUTHORITY: &str = "gloo-mesh-mgmt-server.gloo-mesh";
/// Gloo Mesh's default namespace.
pub const DEFAULT_NAMESPACE: &str = "gloo-mesh";
/// The labels Gloo Mesh's cert-agent gives the `cacerts` it issues: istiod, under Gloo Mesh,
/// looks for them (a `cacerts` without them sent istiod into a restart loop,
/// "agent.certificates.mesh.gloo.solo.io=gloo-mesh missing on Secret cacerts").
pub const CACERTS_LABELS: [(&str, &str); 2] = [
    ("agent.certificates.mesh.gloo.solo.io", DEFAULT_NAMESPACE),
    ("cluster.multicluster.solo.io", ""),
];
/// Istio's control plane Deployment (namespace `istio-system`): it reads `cacerts` when it
/// starts, so a new `cacerts` takes effect when it restarts.
pub const ISTIOD_DEPLOYMENT: &str = "istiod";

/// What a secret is for in a Gloo Mesh trust setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `relay-server-tls-secret`: the management server's TLS certificate.
    RelayServer,
    /// `relay-tls-signing-secret`: the CA that signs agents' client certificates.
    RelaySigning,
    /// `relay-root-tls-secret`: the relay root CA (or a copy of its certificate).
    RelayRoot,
    /// `relay-identity-token-secret`: the shared registration token. Archives spell it
    /// `relay-identity-token`; `relay-token` (once printed and documented) is read too.
    #[serde(alias = "relay-token")]
    RelayIdentityToken,
    /// `relay-client-tls-secret`: an agent's client certificate.
    RelayClient,
    /// The Istio root CA made or used by a RootTrustPolicy.
    RootTrust,
    /// `istio-system/cacerts`: a workload cluster's Istio intermediate CA.
    IstioCacerts,
    /// Added by `--include`.
    Included,
}

impl Role {
    /// The one spelling of the role: printed, and written to archives by serde.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::RelayServer => "relay-server",
            Role::RelaySigning => "relay-signing",
            Role::RelayRoot => "relay-root",
            Role::RelayIdentityToken => "relay-identity-token",
            Role::RelayClient => "relay-client",
            Role::RootTrust => "root-trust",
            Role::IstioCacerts => "istio-cacerts",
            Role::Included => "included",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of Gloo Mesh a cluster is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterKind {
    /// Runs gloo-mesh-mgmt-server: relay server, signing CA, roots.
    Management,
    /// Runs gloo-mesh-agent and Istio: relay client, `cacerts`.
    Workload,
}

impl ClusterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Management => "management",
            ClusterKind::Workload => "workload",
        }
    }
}

/// How agents and the management server talk (the seed's four relay modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayMode {
    /// Plain relay, no relay certificates at all.
    Insecure,
    /// Server TLS, agents authenticated by the identity token only.
    #[serde(rename = "tls+token")]
    TlsToken,
    /// mTLS with certificates Gloo generates (the default install).
    MtlsGenerated,
    /// mTLS with your own CA (cert-manager, Vault, AWS Private CA): no signing CA in the cluster.
    MtlsByo,
}

impl RelayMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayMode::Insecure => "insecure",
            RelayMode::TlsToken => "tls+token",
            RelayMode::MtlsGenerated => "mtls-generated",
            RelayMode::MtlsByo => "mtls-byo",
        }
    }
}
