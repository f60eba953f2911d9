//! A design, in the seed document's words: the certificate architecture (how many roots and
//! intermediates) × where the CAs are kept (the placement). It decides which CAs exist, which
//! CA issues what, and where each CA's private key goes: into a secret of the management
//! cluster, or only into the birth archive's offline material.
//!
//! | | management-cluster | hybrid | external |
//! |---|---|---|---|
//! | root keys | in the cluster (and offline) | offline | offline |
//! | relay signing CA key | `relay-tls-signing-secret` | `relay-tls-signing-secret` | offline |
//! | Istio issuing CA key | root-trust secret (the root itself, or the shared intermediate) | root-trust secret (an intermediate) | offline |
//! | relay mode | mtls-generated (token) | mtls-generated (token) | mtls-byo (no token) |
//! | RootTrustPolicy | `secretRef` to the root-trust secret | `secretRef` to the intermediate | none: Gloo issues nothing |

use serde::Serialize;

use crate::gloo::RelayMode;

/// The seed's three certificate architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// "a single root CA and a single intermediate CA to issue certificates for both Istio and
    /// relay agents".
    SharedRootSharedIntermediate,
    /// "one root CA but two separate intermediate CAs for Istio and relay agents".
    SharedRootSeparateIntermediates,
    /// "separate root CAs for separate intermediate CAs": the relay and the meshes share no
    /// root of trust.
    SeparateRoots,
}

/// The seed's three placements of the CAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// "both the root and intermediate CA certificates within the management cluster, such as
    /// for demo setups".
    ManagementCluster,
    /// "the root CA certificate outside the cluster, but the intermediate CA certificates for
    /// both relay and Istio in the management cluster": Gloo Mesh keeps issuing.
    Hybrid,
    /// "all of the root and intermediate CA certificates outside the cluster": Gloo Mesh does
    /// not issue certificates; you do (`trustkeep pki reissue`).
    External,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::SharedRootSharedIntermediate => "shared-root-shared-intermediate",
            Architecture::SharedRootSeparateIntermediates => "shared-root-separate-intermediates",
            Architecture::SeparateRoots => "separate-roots",
        }
    }
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::ManagementCluster => "management-cluster",
            Placement::Hybrid => "hybrid",
            Placement::External => "external",
        }
    }
}

/// An architecture and a placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Design {
    pub architecture: Architecture,
    pub placement: Placement,
}

impl Design {
    /// `architecture, placement`, as printed and annotated.
    pub fn describe(&self) -> String {
        format!(
            "architecture {}, placement {}",
            self.architecture.as_str(),
            self.placement.as_str()
        )
    }

    /// One root for the relay and Istio.
    pub(crate) fn shared_root(&self) -> bool {
        self.architecture != Architecture::SeparateRoots
    }

    /// One intermediate issues the relay certificates and the Istio intermediates.
    pub(crate) fn shared_intermediate(&self) -> bool {
        self.architecture == Architecture::SharedRootSharedIntermediate
    }

    /// Istio's cluster intermediates are issued by an intermediate CA of Istio's own (the
    /// hybrid and external placements keep the root out of reach); otherwise by the Istio root
    /// or, in the shared-intermediate architecture, by the shared intermediate.
    pub(crate) fn istio_issuing_intermediate(&self) -> bool {
        !self.shared_intermediate() && self.placement != Placement::ManagementCluster
    }

    /// Gloo Mesh issues (agents' certificates, Istio intermediates): a signing CA, a token and a
    /// RootTrustPolicy are in the management cluster.
    pub(crate) fn gloo_issues(&self) -> bool {
        self.placement != Placement::External
    }

    /// Root private keys are kept in the management cluster (the seed's demo placement).
    pub(crate) fn root_keys_in_cluster(&self) -> bool {
        self.placement == Placement::ManagementCluster
    }

    /// The relay mode this design installs Gloo Mesh with.
    pub fn relay_mode(&self) -> RelayMode {
        if self.gloo_issues() {
            RelayMode::MtlsGenerated
        } else {
            RelayMode::MtlsByo
        }
    }
}

impl Design {
    /// Whether the audit's reading of a setup ([`crate::checks::Setup`]) names this design:
    /// what `pki init` makes must be what `audit` then says it is.
    pub fn is_seen_in(&self, s: &crate::checks::Setup) -> bool {
        use crate::checks::{Architecture as A, Placement as P};
        let a = match self.architecture {
            Architecture::SharedRootSharedIntermediate => A::SharedRootSharedIntermediate,
            Architecture::SharedRootSeparateIntermediates => A::SharedRootSeparateIntermediates,
            Architecture::SeparateRoots => A::SeparateRoots,
        };
        let p = match self.placement {
            Placement::ManagementCluster => P::ManagementCluster,
            Placement::Hybrid => P::Hybrid,
            Placement::External => P::External,
        };
        s.architecture == a && s.placement == p
    }
}
