//! The certificate profiles, one function each: what the seed document's openssl configs
//! ("Required certificates") say each certificate of a Gloo Mesh setup looks like, as rcgen
//! parameters. Every extension of every certificate trustkeep issues is decided here and
//! nowhere else.
//!
//! Departures from the document's configs, on purpose (docs/operations.md, "Rebuilding
//! trust"): rcgen marks keyUsage and basicConstraints critical on every certificate (RFC 5280
//! asks for it on CAs, and trustkeep's own lint `lint.ca-key-usage-not-critical` wants it; the
//! document's agent signing CA config leaves keyUsage non-critical); the relay certificates
//! get a subject (the document's request configs have an empty one, which would make the SAN
//! extension critical); every CA has a subjectKeyIdentifier and every issued certificate an
//! authorityKeyIdentifier (zlint's rules, trustkeep's `lint.ski-missing`/`lint.aki-missing`).

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose as Eku,
    IsCa, KeyUsagePurpose as Ku, SerialNumber,
};
use serde::Serialize;

use super::IssueError;

/// The relay server's DNS name (the document's `DNS = *.gloo-mesh`).
pub(crate) const RELAY_SERVER_SAN: &str = "*.gloo-mesh";
/// The Istio intermediates' DNS name (the document's `DNS.1 = istiod.istio-system.svc`).
pub(crate) const ISTIOD_SAN: &str = "istiod.istio-system.svc";
/// The relay server certificate's common name.
pub(crate) const RELAY_SERVER_CN: &str = "gloo-mesh-mgmt-server";

/// How long each kind of certificate is valid, in days (`--root-days` ...). A certificate
/// never outlives its issuer: its notAfter is cut to the issuer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Validity {
    /// Root CAs (default 10 years).
    pub root_days: u32,
    /// The intermediate CAs that issue (relay signing CA, Istio issuing CA; default 5 years).
    pub intermediate_days: u32,
    /// Each workload cluster's Istio intermediate in `cacerts` (default 1 year).
    pub cluster_ca_days: u32,
    /// Leaf certificates: relay server and agents (default 1 year).
    pub leaf_days: u32,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            root_days: 3650,
            intermediate_days: 1825,
            cluster_ca_days: 365,
            leaf_days: 365,
        }
    }
}

/// Which profile a certificate follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// A root CA: the document's Istio `root-ca.conf` (`basicConstraints = critical, CA:true`,
    /// `keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign`),
    /// used for the relay root too (the document gives it no config of its own). `relay`:
    /// the relay's own root of the separate-roots architecture (else the Istio or shared root).
    Root { relay: bool },
    /// The CA that signs agents' client certificates: the document's
    /// `gloo-mesh-agent-signing-ca.conf` (CA:TRUE critical; digitalSignature, keyEncipherment,
    /// keyCertSign; EKU clientAuth, serverAuth; DNS `*.gloo-mesh`). Also the shared
    /// intermediate of the one-intermediate architecture (`shared`), which issues Istio
    /// intermediates too.
    RelaySigning { shared: bool },
    /// The Istio intermediate Gloo Mesh (or trustkeep) issues each cluster's intermediate from
    /// (root CA profile, `pathlen:1`): the hybrid and external placements' Istio CA.
    IstioIssuing,
    /// A workload cluster's Istio intermediate: the document's `cluster-ca.conf` (CA:true,
    /// pathlen:0, DNS `istiod.istio-system.svc`, O=Istio CN=Intermediate CA L=<cluster>).
    IstioCluster(String),
    /// The relay server: `gloo-mesh-mgmt-server.conf` (CA:FALSE; digitalSignature,
    /// keyEncipherment; EKU clientAuth, serverAuth; DNS `*.gloo-mesh`).
    RelayServer,
    /// An agent's client certificate: `gloo-mesh-agent-client.conf` (as the server, with DNS
    /// = the cluster's name as registered in Gloo Mesh).
    RelayClient(String),
}

impl Profile {
    /// How long a certificate of this profile is valid.
    fn days(&self, v: &Validity) -> u32 {
        match self {
            Profile::Root { .. } => v.root_days,
            Profile::RelaySigning { .. } | Profile::IstioIssuing => v.intermediate_days,
            Profile::IstioCluster(_) => v.cluster_ca_days,
            Profile::RelayServer | Profile::RelayClient(_) => v.leaf_days,
        }
    }
}

/// The subject of a certificate: `(type, value)` pairs in order, as openssl's `req_dn`.
pub(crate) type Subject = Vec<(DnType, String)>;

/// The default subject of each profile (the document's where it gives one).
pub(crate) fn default_subject(p: &Profile) -> Subject {
    let o = |v: &str| (DnType::OrganizationName, v.to_string());
    let cn = |v: &str| (DnType::CommonName, v.to_string());
    match p {
        Profile::Root { relay: true } => vec![o("Gloo Mesh"), cn("Relay Root CA")],
        Profile::Root { relay: false } => vec![o("Istio"), cn("Root CA")],
        Profile::RelaySigning { shared: true } => vec![o("Gloo Mesh"), cn("Intermediate CA")],
        Profile::RelaySigning { shared: false } => vec![o("Gloo Mesh"), cn("Relay Signing CA")],
        Profile::IstioIssuing => vec![o("Istio"), cn("Issuing CA")],
        Profile::IstioCluster(cluster) => vec![
            o("Istio"),
            cn("Intermediate CA"),
            (DnType::LocalityName, cluster.clone()),
        ],
        Profile::RelayServer => vec![cn(RELAY_SERVER_CN)],
        Profile::RelayClient(cluster) => vec![cn(cluster)],
    }
}

/// What to put in one certificate besides its profile: subject, SANs, validity window.
pub(crate) struct Request {
    pub(crate) profile: Profile,
    /// `None`: the profile's default.
    pub(crate) subject: Option<DistinguishedName>,
    /// `None`: the profile's default.
    pub(crate) dns_names: Option<Vec<String>>,
    pub(crate) not_before: DateTime<Utc>,
    /// The issuer's notAfter, which this certificate must not outlive (none for a root).
    pub(crate) issuer_not_after: Option<DateTime<Utc>>,
}

/// The rcgen parameters of `req` under `validity`: the one place extensions are chosen.
pub(crate) fn params(req: &Request, validity: &Validity) -> Result<CertificateParams, IssueError> {
    let dns = req.dns_names.clone().unwrap_or_else(|| match &req.profile {
        Profile::RelayServer | Profile::RelaySigning { .. } => vec![RELAY_SERVER_SAN.to_string()],
        Profile::RelayClient(c) => vec![c.clone()],
        Profile::IstioCluster(_) => vec![ISTIOD_SAN.to_string()],
        Profile::Root { .. } | Profile::IstioIssuing => Vec::new(),
    });
    let mut p = CertificateParams::new(dns.clone())
        .map_err(|e| IssueError::Profile(format!("DNS names {dns:?}: {e}")))?;
    p.distinguished_name = match &req.subject {
        Some(dn) => dn.clone(),
        None => {
            let mut dn = DistinguishedName::new();
            for (t, v) in default_subject(&req.profile) {
                dn.push(t, v);
            }
            dn
        }
    };
    let mut not_after = req.not_before + Duration::days(i64::from(req.profile.days(validity)));
    if let Some(limit) = req.issuer_not_after {
        not_after = not_after.min(limit);
    }
    p.not_before = to_time(req.not_before)?;
    p.not_after = to_time(not_after)?;
    p.serial_number = Some(serial()?);
    p.use_authority_key_identifier_extension = !matches!(req.profile, Profile::Root { .. });
    let istio_ca = [
        Ku::DigitalSignature,
        Ku::ContentCommitment,
        Ku::KeyEncipherment,
        Ku::KeyCertSign,
    ];
    let relay_leaf = [Ku::DigitalSignature, Ku::KeyEncipherment];
    let (is_ca, ku, eku): (IsCa, &[Ku], &[Eku]) = match &req.profile {
        Profile::Root { .. } => (IsCa::Ca(BasicConstraints::Unconstrained), &istio_ca, &[]),
        Profile::RelaySigning { .. } => (
            IsCa::Ca(BasicConstraints::Unconstrained),
            &[Ku::DigitalSignature, Ku::KeyEncipherment, Ku::KeyCertSign],
            &[Eku::ClientAuth, Eku::ServerAuth],
        ),
        Profile::IstioIssuing => (IsCa::Ca(BasicConstraints::Constrained(1)), &istio_ca, &[]),
        Profile::IstioCluster(_) => (IsCa::Ca(BasicConstraints::Constrained(0)), &istio_ca, &[]),
        Profile::RelayServer | Profile::RelayClient(_) => (
            IsCa::ExplicitNoCa,
            &relay_leaf,
            &[Eku::ClientAuth, Eku::ServerAuth],
        ),
    };
    p.is_ca = is_ca;
    p.key_usages = ku.to_vec();
    p.extended_key_usages = eku.to_vec();
    Ok(p)
}

/// chrono → the `time` crate rcgen takes, to the second.
fn to_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, IssueError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|e| IssueError::Profile(format!("time {t} out of range: {e}")))
}

/// A random positive serial of 16 octets (RFC 5280: positive, at most 20 octets).
fn serial() -> Result<SerialNumber, IssueError> {
    let mut b = [0u8; 16];
    super::random(&mut b)?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(profile: Profile) -> Request {
        Request {
            profile,
            subject: None,
            dns_names: None,
            not_before: DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            issuer_not_after: None,
        }
    }

    #[test]
    fn each_profile_has_the_documents_extensions() {
        let v = Validity::default();
        let p = params(&req(Profile::RelayServer), &v).unwrap();
        assert_eq!(p.is_ca, IsCa::ExplicitNoCa);
        assert_eq!(p.key_usages, [Ku::DigitalSignature, Ku::KeyEncipherment]);
        assert_eq!(p.extended_key_usages, [Eku::ClientAuth, Eku::ServerAuth]);
        assert!(p.use_authority_key_identifier_extension);
        let p = params(&req(Profile::IstioCluster("cluster-1".into())), &v).unwrap();
        assert_eq!(p.is_ca, IsCa::Ca(BasicConstraints::Constrained(0)));
        let l = p.distinguished_name.get(&DnType::LocalityName);
        assert_eq!(l, Some(&rcgen::DnValue::Utf8String("cluster-1".into())));
        let p = params(&req(Profile::Root { relay: false }), &v).unwrap();
        assert!(!p.use_authority_key_identifier_extension);
        assert!(p.key_usages.contains(&Ku::KeyCertSign));
        let s = p.serial_number.unwrap().to_bytes();
        assert_eq!(s.len(), 16);
        assert!(s[0] & 0x80 == 0 && s[0] != 0, "positive, full length");
    }

    #[test]
    fn a_certificate_never_outlives_its_issuer() {
        let v = Validity::default();
        let mut r = req(Profile::RelayClient("c".into()));
        r.issuer_not_after = Some(r.not_before + Duration::days(10));
        let p = params(&r, &v).unwrap();
        assert_eq!(
            p.not_after,
            to_time(r.not_before + Duration::days(10)).unwrap()
        );
        let r = req(Profile::Root { relay: true });
        let p = params(&r, &v).unwrap();
        assert_eq!(
            p.not_after,
            to_time(r.not_before + Duration::days(3650)).unwrap()
        );
    }
}
