//! The trust graph of a report: every distinct certificate of the audited secrets once (a root
//! shared by many clusters is one node), with where it is kept, and an edge from each issuer
//! to each certificate whose signature it verifies. Signatures are checked by [`crate::pki`];
//! this module only arranges what it says. It never holds secret values: certificates are
//! public, and private keys are not read.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::findings::{Finding, Severity};
use crate::pki::{self, Cert, CertSummary};
use crate::snapshot::Snapshot;

/// What a certificate is in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Self-signed CA: a trust anchor.
    Root,
    /// A CA signed by another.
    Intermediate,
    /// Not a CA.
    Leaf,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Intermediate => "intermediate",
            Kind::Leaf => "leaf",
        }
    }
}

/// Where a certificate is kept: cluster, `namespace/name`, data key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub cluster: String,
    pub secret: String,
    pub key: String,
}

/// One distinct certificate.
#[derive(Clone, Debug)]
pub struct Node {
    pub summary: CertSummary,
    pub kind: Kind,
    pub places: BTreeSet<Place>,
    /// An error finding names a secret and key holding it.
    pub failing: bool,
    /// Not self-signed, and no certificate in the setup verifies as its issuer.
    pub no_issuer: bool,
}

impl Node {
    /// The subject's CN, or the whole subject when it has none.
    pub fn name(&self) -> String {
        common_name(&self.summary.subject)
    }

    /// Days from `at` to notAfter (negative once expired).
    pub fn days_left(&self, at: DateTime<Utc>) -> i64 {
        (self.summary.not_after - at).num_days()
    }

    /// The clusters that hold it.
    pub fn clusters(&self) -> BTreeSet<&str> {
        self.places.iter().map(|p| p.cluster.as_str()).collect()
    }
}

/// An issuer → certificate link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub issuer: usize,
    pub subject: usize,
    /// The signature verifies; false when only the names match.
    pub verified: bool,
}

/// Every certificate and link of the audited secrets.
#[derive(Clone, Debug, Default)]
pub struct TrustGraph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The subject's `CN=` value, or the subject.
pub fn common_name(subject: &str) -> String {
    subject
        .split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(subject)
        .to_string()
}

impl TrustGraph {
    /// Builds the graph of the snapshots; `findings` mark the failing certificates.
    pub fn new(snapshots: &[Snapshot], findings: &[Finding]) -> Self {
        let mut certs: Vec<Cert> = Vec::new();
        let mut by_fp: BTreeMap<String, usize> = BTreeMap::new();
        let mut places: Vec<BTreeSet<Place>> = Vec::new();
        for snap in snapshots {
            for sel in &snap.secrets {
                for (key, value) in &sel.record.data {
                    let Ok(found) = pki::parse_certs(value.expose()) else {
                        continue;
                    };
                    for c in found {
                        let i = *by_fp.entry(c.fingerprint()).or_insert_with(|| {
                            certs.push(c);
                            places.push(BTreeSet::new());
                            certs.len() - 1
                        });
                        places[i].insert(Place {
                            cluster: snap.cluster.clone(),
                            secret: sel.record.id.to_string(),
                            key: key.clone(),
                        });
                    }
                }
            }
        }
        let sig = pki::RunCache::default();
        let summaries: Vec<CertSummary> = certs.iter().map(Cert::summary).collect();
        let mut edges = Vec::new();
        let mut nodes = Vec::new();
        for (i, (cert, summary)) in certs.iter().zip(&summaries).enumerate() {
            let self_signed = summary.subject == summary.issuer && sig.issued_by(cert, cert);
            let mut issued = false;
            if !self_signed {
                for (j, (parent, ps)) in certs.iter().zip(&summaries).enumerate() {
                    if j == i || ps.subject != summary.issuer {
                        continue;
                    }
                    let verified = sig.issued_by(cert, parent);
                    issued |= verified;
                    edges.push(Edge {
                        issuer: j,
                        subject: i,
                        verified,
                    });
                }
            }
            let kind = match (self_signed, summary.is_ca) {
                (true, _) => Kind::Root,
                (false, true) => Kind::Intermediate,
                (false, false) => Kind::Leaf,
            };
            nodes.push(Node {
                failing: places[i].iter().any(|p| names(findings, p)),
                no_issuer: !self_signed && !issued,
                summary: summary.clone(),
                kind,
                places: std::mem::take(&mut places[i]),
            });
        }
        TrustGraph { nodes, edges }
    }
}

/// Whether an error finding names this place (its secret, and its key or no key).
fn names(findings: &[Finding], p: &Place) -> bool {
    findings.iter().any(|f| {
        f.severity == Severity::Error
            && f.cluster.as_deref() == Some(p.cluster.as_str())
            && f.secret.as_deref() == Some(p.secret.as_str())
            && f.key.as_deref().is_none_or(|k| k == p.key)
    })
}
