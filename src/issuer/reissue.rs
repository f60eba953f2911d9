//! One lost certificate issued again (`trustkeep pki reissue`): the relay server's, an
//! agent's, or a workload cluster's Istio intermediate (`cacerts`), under the CA that issued
//! it before, with the same subject and DNS names, so that nothing else must change: the
//! roots stay, and every peer that trusted the old certificate trusts the new one.
//!
//! The CA is found in archives (a birth archive, whose offline material holds the CAs kept out
//! of clusters, or any backup of the management cluster that holds the CA with its key). When
//! an archive of the cluster still holds the old certificate, the CA that issued it is the one
//! used, and its subject, DNS names, secret name, type, labels and annotations are kept;
//! otherwise the profile's defaults are used and the CA is chosen by role: the relay signing CA
//! for relay certificates, the root-trust secret's CA for `cacerts`, else an offline CA
//! annotated for that role.

use chrono::{DateTime, Duration, Utc};
use rcgen::{DistinguishedName, DnType, DnValue};
use serde::Serialize;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

use super::ca::{Ca, Issued};
use super::keys::{Key, KeyType};
use super::profiles::{Profile as CertProfile, Request, Validity};
use super::{records, IssueError};
use crate::archive::Opened;
use crate::gloo::{self, ClusterKind, Role, DEFAULT_NAMESPACE};
use crate::pki::{self, Cert, CertSummary, PublicKeyId, RunCache};
use crate::secret::{
    Manager, SecretId, SecretRecord, ISSUED_BY_ANNOTATION, ISSUES_ANNOTATION, PROVENANCE_ANNOTATION,
};
use crate::select::Selected;
use crate::snapshot::Snapshot;

/// What `pki reissue` issues again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReissueRole {
    /// `relay-server-tls-secret` of the management cluster.
    RelayServer,
    /// `relay-client-tls-secret` of a workload cluster (its agent's certificate).
    RelayClient,
    /// `istio-system/cacerts` of a workload cluster (its Istio intermediate).
    IstioCacerts,
}

impl ReissueRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReissueRole::RelayServer => "relay-server",
            ReissueRole::RelayClient => "relay-client",
            ReissueRole::IstioCacerts => "istio-cacerts",
        }
    }

    fn role(self) -> Role {
        match self {
            ReissueRole::RelayServer => Role::RelayServer,
            ReissueRole::RelayClient => Role::RelayClient,
            ReissueRole::IstioCacerts => Role::IstioCacerts,
        }
    }
}

/// What to issue again.
#[derive(Clone, Debug)]
pub struct ReissueOptions {
    pub role: ReissueRole,
    /// The cluster whose certificate it is (its name as registered in Gloo Mesh).
    pub cluster: String,
    /// The new key's type; default: the old certificate's, else the CA's, else P-256.
    pub key_type: Option<KeyType>,
    pub validity: Validity,
}

/// A Deployment that holds the certificate in memory and must restart to use the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restart {
    pub cluster: String,
    pub namespace: String,
    pub deployment: String,
    pub why: String,
}

/// The certificate issued again, in the snapshot of its cluster.
#[derive(Debug, Serialize)]
pub struct Reissued {
    pub role: ReissueRole,
    pub cluster: String,
    /// `namespace/name` of the secret.
    pub secret: String,
    /// The new certificate.
    pub certificate: CertSummary,
    /// The CA that issued it and where it was found.
    pub issuer: String,
    /// The certificate it replaces, when an archive held it.
    pub replaces: Option<String>,
    /// The roots the new certificate chains to: unchanged.
    pub roots: Vec<String>,
    /// Who must restart to use it.
    pub restart: Restart,
    /// The cluster's snapshot holding only the new secret, for `restore::prepare`.
    #[serde(skip)]
    pub snapshot: Snapshot,
}

/// A CA found in an archive, with its key.
pub(super) struct Found {
    pub(super) archive: String,
    pub(super) secret: SecretId,
    pub(super) role: Role,
    /// The offline CA's `trustkeep.io/issues`.
    pub(super) issues: Vec<String>,
    pub(super) ca: Ca,
}

impl Found {
    pub(super) fn describe(&self) -> String {
        let s = self.ca.cert().summary();
        format!(
            "{} (sha256 {}), secret {} of {}",
            s.subject,
            &s.sha256[..16],
            self.secret,
            self.archive
        )
    }
}

/// Issues `o.role` of `o.cluster` again from the CAs of `archives` (name, opened archive).
pub fn reissue(
    o: &ReissueOptions,
    archives: &[(String, Opened)],
    now: DateTime<Utc>,
) -> Result<Reissued, IssueError> {
    let found = find_cas(archives)?;
    let old = old_record(o, archives);
    let old_cert = old.and_then(|r| first_cert(r, o.role));
    let chosen = choose(&found, o.role, old_cert.as_ref())?;
    let request = request(o, old_cert.as_ref(), now)?;
    let kt = o
        .key_type
        .or_else(|| old_cert.as_ref().and_then(key_type_of))
        .or_else(|| key_type_of(chosen.ca.cert()))
        .unwrap_or_default();
    let issued = chosen.ca.issue(request, &o.validity, kt)?;
    if let Some(old) = &old_cert {
        if old.x509().subject().as_raw() != issued.cert.x509().subject().as_raw() {
            return Err(IssueError::Profile(format!(
                "the subject {} could not be encoded as it was; nothing was issued",
                old.summary().subject
            )));
        }
    }
    let record = new_record(o, old, chosen, &issued);
    let kind = match o.role {
        ReissueRole::RelayServer => ClusterKind::Management,
        _ => ClusterKind::Workload,
    };
    let secret = record.id.to_string();
    let snapshot = Snapshot {
        created: now,
        origin: crate::inventory::Origin::File {
            path: format!("trustkeep pki reissue {}", o.role.as_str()),
        },
        cluster: o.cluster.clone(),
        kind,
        secrets: vec![Selected {
            role: o.role.role(),
            record,
        }],
        findings: Vec::new(),
        relay_mode: None,
        policies: Vec::new(),
    };
    let root = chosen.ca.root_cert().summary();
    Ok(Reissued {
        role: o.role,
        cluster: o.cluster.clone(),
        restart: restart(o, &secret),
        secret,
        certificate: issued.cert.summary(),
        issuer: chosen.describe(),
        replaces: old_cert.map(|c| {
            let s = c.summary();
            format!(
                "{} serial {} expiring {}",
                s.subject,
                s.serial,
                s.not_after.format("%Y-%m-%d")
            )
        }),
        roots: vec![format!("{} (sha256 {})", root.subject, &root.sha256[..16])],
        snapshot,
    })
}

/// The data keys a CA's certificate and key can be found under, with where its chain is.
const FORMS: [(&str, &str, &[&str]); 4] = [
    ("tls.crt", "tls.key", &["tls.crt", "ca.crt"]),
    ("ca.crt", "tls.key", &["ca.crt"]),
    (
        "ca-cert.pem",
        "ca-key.pem",
        &["cert-chain.pem", "root-cert.pem"],
    ),
    ("root-cert.pem", "key.pem", &["root-cert.pem"]),
];

/// Every CA of the archives whose private key is beside it, with its path to its root.
pub(super) fn find_cas(archives: &[(String, Opened)]) -> Result<Vec<Found>, IssueError> {
    let sig = RunCache::default();
    let mut out: Vec<Found> = Vec::new();
    for (name, opened) in archives {
        for s in &opened.snapshot.secrets {
            for (cert_key, key_key, bundle_keys) in FORMS {
                let Some(path) = ca_path(&s.record, cert_key, key_key, bundle_keys, &sig) else {
                    continue;
                };
                let dup = out
                    .iter()
                    .any(|f| f.secret == s.record.id && f.ca.cert() == &path[0]);
                if dup {
                    continue;
                }
                let what = format!("{name}: secret {} {key_key}", s.record.id);
                let key = Key::from_pem(s.record.data[key_key].expose(), &what)?;
                out.push(Found {
                    archive: name.clone(),
                    secret: s.record.id.clone(),
                    role: s.role,
                    issues: (s.record.annotations.get(ISSUES_ANNOTATION))
                        .map(|v| v.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default(),
                    ca: Ca::from_parts(key, path),
                });
            }
        }
    }
    Ok(out)
}

/// The path (the CA first, its root last) of the CA certificate in `cert_key` of `r`, when
/// `key_key` holds its private key and the bundle leads it to a root.
fn ca_path(
    r: &SecretRecord,
    cert_key: &str,
    key_key: &str,
    bundle_keys: &[&str],
    sig: &RunCache,
) -> Option<Vec<Cert>> {
    let ca = pki::parse_certs(r.get(cert_key)?.expose())
        .ok()?
        .into_iter()
        .next()?;
    let key = pki::parse_key(key_key, r.get(key_key)?.expose()).ok()?;
    if !ca.x509().is_ca() || !key.matches(&ca) {
        return None;
    }
    if sig.issued_by(&ca, &ca) {
        return Some(vec![ca]);
    }
    let mut bundle: Vec<Cert> = Vec::new();
    for k in bundle_keys {
        for c in r
            .get(k)
            .and_then(|b| pki::parse_certs(b.expose()).ok())
            .unwrap_or_default()
        {
            if !bundle.contains(&c) && c != ca {
                bundle.push(c);
            }
        }
    }
    let roots: Vec<Cert> = bundle
        .iter()
        .filter(|c| sig.issued_by(c, c))
        .cloned()
        .collect();
    pki::verify_chain(&ca, &bundle, &roots, None)
        .ok()
        .map(|c| c.path)
}

/// The newest archived secret of `o.role` in `o.cluster`'s archives.
fn old_record<'a>(
    o: &ReissueOptions,
    archives: &'a [(String, Opened)],
) -> Option<&'a SecretRecord> {
    archives
        .iter()
        .filter(|(_, a)| a.manifest.cluster.name == o.cluster)
        .max_by_key(|(_, a)| a.manifest.created)
        .and_then(|(_, a)| {
            let role = o.role.role();
            a.snapshot.secrets.iter().find(|s| s.role == role)
        })
        .map(|s| &s.record)
}

/// The certificate of an archived secret of `role`: the relay leaf, or the Istio intermediate.
fn first_cert(r: &SecretRecord, role: ReissueRole) -> Option<Cert> {
    let key = match (role, r.get("ca-cert.pem")) {
        (ReissueRole::IstioCacerts, Some(_)) => "ca-cert.pem",
        _ => "tls.crt",
    };
    pki::parse_certs(r.get(key)?.expose())
        .ok()?
        .into_iter()
        .next()
}

/// The CA to issue with: the one that issued `old`, else the role's CA in the archives.
fn choose<'a>(
    found: &'a [Found],
    role: ReissueRole,
    old: Option<&Cert>,
) -> Result<&'a Found, IssueError> {
    let sig = RunCache::default();
    if let Some(old) = old {
        return found.iter().find(|f| sig.issued_by(old, f.ca.cert())).ok_or_else(|| {
            let s = old.summary();
            IssueError::NoIssuer(format!("the archived {} certificate {} was issued by {}, and no archive given holds that CA with its private key; pass the archive that does (--from: a birth archive of the management cluster, or a backup of it)", role.as_str(), s.subject, s.issuer))
        });
    }
    let by_role = |r: Role| found.iter().find(|f| f.role == r);
    let offline = |what: &str| found.iter().find(|f| f.issues.iter().any(|i| i == what));
    let pick = match role {
        ReissueRole::RelayClient => by_role(Role::RelaySigning).or_else(|| offline("relay-client")),
        ReissueRole::RelayServer => by_role(Role::RelaySigning)
            .or_else(|| offline("relay-server"))
            .or_else(|| by_role(Role::RelayRoot)),
        ReissueRole::IstioCacerts => by_role(Role::RootTrust).or_else(|| offline("istio-cacerts")),
    };
    pick.ok_or_else(|| {
        let which = match role {
            ReissueRole::IstioCacerts => "the Istio CA (a root-trust secret with its key, or a birth archive's offline Istio CA)",
            _ => "the relay signing CA (relay-tls-signing-secret with its tls.key, or a birth archive's offline relay CA)",
        };
        IssueError::NoIssuer(format!("none of the archives given holds {which}: pass the management cluster's birth archive or a backup of it that holds the CA (--from)"))
    })
}

/// The certificate to issue: the old one's subject and DNS names, or the profile's defaults.
fn request(
    o: &ReissueOptions,
    old: Option<&Cert>,
    now: DateTime<Utc>,
) -> Result<Request, IssueError> {
    let c = o.cluster.clone();
    let profile = match o.role {
        ReissueRole::RelayServer => CertProfile::RelayServer,
        ReissueRole::RelayClient => CertProfile::RelayClient(c),
        ReissueRole::IstioCacerts => CertProfile::IstioCluster(c),
    };
    let (subject, dns_names) = match old {
        Some(old) => {
            let x = old.x509();
            let dns = pki::dns_names(x);
            (Some(dn_of(x.subject())?), (!dns.is_empty()).then_some(dns))
        }
        None => (None, None),
    };
    Ok(Request {
        profile,
        subject,
        dns_names,
        not_before: now - Duration::minutes(5),
        issuer_not_after: None,
    })
}

/// An X.509 name as rcgen writes it again, each value with its string type kept.
fn dn_of(name: &X509Name<'_>) -> Result<DistinguishedName, IssueError> {
    let bad = |why: &str| {
        IssueError::Profile(format!("the subject {name} cannot be issued again: {why}"))
    };
    let mut dn = DistinguishedName::new();
    let mut count = 0;
    for rdn in name.iter() {
        let attrs: Vec<_> = rdn.iter().collect();
        let [attr] = attrs.as_slice() else {
            return Err(bad("a multi-valued RDN"));
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| bad("an OID"))?
            .collect();
        let v = attr.attr_value();
        let s = std::str::from_utf8(v.data).map_err(|_| bad("a value that is not text"))?;
        let value = match v.header.tag() {
            Tag::PrintableString => {
                DnValue::PrintableString(s.try_into().map_err(|_| bad("a PrintableString"))?)
            }
            Tag::Ia5String => DnValue::Ia5String(s.try_into().map_err(|_| bad("an IA5String"))?),
            Tag::Utf8String => DnValue::Utf8String(s.to_string()),
            _ => {
                return Err(bad(
                    "a string type other than UTF8String, PrintableString or IA5String",
                ))
            }
        };
        dn.push(DnType::from_oid(&oid), value);
        count += 1;
    }
    if dn.iter().count() != count {
        return Err(bad("an attribute repeated"));
    }
    Ok(dn)
}

/// The key type of a certificate's key, when trustkeep can make one like it.
pub(super) fn key_type_of(c: &Cert) -> Option<KeyType> {
    match c.public_key().ok()? {
        PublicKeyId::P256(_) => Some(KeyType::P256),
        PublicKeyId::P384(_) => Some(KeyType::P384),
        k @ PublicKeyId::Rsa { .. } if k.bits() >= 4096 => Some(KeyType::Rsa4096),
        PublicKeyId::Rsa { .. } => Some(KeyType::Rsa2048),
        _ => None,
    }
}

/// The new secret: shaped as `pki init` makes it, under the old secret's name, type, labels
/// and annotations when an archive held it.
fn new_record(
    o: &ReissueOptions,
    old: Option<&SecretRecord>,
    by: &Found,
    issued: &Issued,
) -> SecretRecord {
    let note = format!("trustkeep pki reissue {}", o.role.as_str());
    let ns = DEFAULT_NAMESPACE;
    let mut r = match o.role {
        ReissueRole::RelayServer => {
            records::relay_tls(SecretId::new(ns, gloo::RELAY_SERVER), issued, &by.ca, &note)
        }
        ReissueRole::RelayClient => {
            records::relay_tls(SecretId::new(ns, gloo::RELAY_CLIENT), issued, &by.ca, &note)
        }
        ReissueRole::IstioCacerts => {
            let gloo_issued = match old {
                Some(old) => Manager::of(old) == Some(Manager::GlooCertAgent),
                None => by.role == Role::RootTrust,
            };
            records::cacerts(issued, &by.ca, gloo_issued, &note)
        }
    };
    if let Some(old) = old {
        r.id = old.id.clone();
        r.type_ = old.type_.clone();
        r.labels = old.labels.clone();
        r.annotations = old.annotations.clone();
        r.annotations.remove(PROVENANCE_ANNOTATION);
        r.annotations.insert(ISSUED_BY_ANNOTATION.into(), note);
        if old.get("key.pem").is_none() {
            r.data.remove("key.pem");
        }
    }
    r
}

/// Who must restart to use the new certificate.
fn restart(o: &ReissueOptions, secret: &str) -> Restart {
    let ns = secret
        .split('/')
        .next()
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_string();
    let (namespace, deployment, why) = match o.role {
        ReissueRole::RelayServer => (ns, crate::workload::MGMT_SERVER_DEPLOYMENT, "the management server serves the relay with this certificate (it watches the secret; a restart makes sure it is read)"),
        ReissueRole::RelayClient => (ns, crate::workload::AGENT_DEPLOYMENT, "the agent presents this certificate to the relay server"),
        ReissueRole::IstioCacerts => (gloo::ISTIO_NAMESPACE.to_string(), gloo::ISTIOD_DEPLOYMENT, "istiod reads cacerts when it starts; workloads then get certificates from the new intermediate as theirs renew (the root is unchanged, so old and new workload certificates trust each other)"),
    };
    Restart {
        cluster: o.cluster.clone(),
        namespace,
        deployment: deployment.to_string(),
        why: why.to_string(),
    }
}
