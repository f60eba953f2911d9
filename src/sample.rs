//! A Gloo-Mesh-like trust setup generated on the spot, for `trustkeep demo` and drills: a
//! management cluster (relay root, relay server, relay signing CA, identity token, a
//! RootTrustPolicy and its generated Istio root) and workload clusters (agent client
//! certificate, relay root copy, token, Istio intermediate in `istio-system/cacerts`).
//!
//! Keys are fresh ECDSA P-256 keys made at run time (no key material ships in the binary) and
//! the certificates follow the seed document's profiles. Objects are Kubernetes JSON, ready to
//! load into a sandbox or to print. Not for production: it is sample data.

use base64::Engine;
use chrono::{DateTime, Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::{json, Value};

/// Generated objects for each cluster.
pub struct SampleSetup {
    pub mgmt: Vec<Value>,
    /// `(cluster name, objects)`.
    pub workloads: Vec<(String, Vec<Value>)>,
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn day(t: DateTime<Utc>) -> time_like::Date {
    (t.year(), t.month() as u8, t.day() as u8)
}

mod time_like {
    pub(crate) type Date = (i32, u8, u8);
}

fn params(cn: &str, o: &str, sans: &[&str], now: DateTime<Utc>, days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("valid SANs");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let (y, m, d) = day(now - Duration::days(1));
    p.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = day(now + Duration::days(days));
    p.not_after = rcgen::date_time_ymd(y, m, d);
    p
}

fn key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key generation")
}

fn root(cn: &str, o: &str, now: DateTime<Utc>) -> Ca {
    let mut p = params(cn, o, &[], now, 3650);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let k = key();
    let pem = p.self_signed(&k).expect("self-signed root").pem();
    Ca {
        params: p,
        key: k,
        pem,
    }
}

fn issue(mut p: CertificateParams, by: &Ca) -> Ca {
    p.use_authority_key_identifier_extension = true;
    let k = key();
    let pem = p
        .signed_by(&k, &by.issuer())
        .expect("signed certificate")
        .pem();
    Ca {
        params: p,
        key: k,
        pem,
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn secret(ns: &str, name: &str, type_: &str, labels: Value, data: &[(&str, String)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(b64(v))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "labels": labels}, "type": type_, "data": data})
}

/// Generates a management cluster and `workloads` workload clusters (`cluster-1`, ...).
pub fn generate(now: DateTime<Utc>, workloads: usize) -> SampleSetup {
    const O: &str = "Gloo Mesh (trustkeep sample)";
    let relay_root = root("relay-root-ca", O, now);
    let mut p = params("gloo-mesh-mgmt-server", O, &["*.gloo-mesh"], now, 365);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let server = issue(p, &relay_root);
    let mut p = params("relay-tls-signing-ca", O, &["*.gloo-mesh"], now, 3650);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    let signing = issue(p, &relay_root);
    let istio_root = root("Root CA", "Istio", now);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let labels = json!({"app": "gloo-mesh-mgmt-server"});
    let mgmt = vec![
        secret(
            "gloo-mesh",
            "relay-root-tls-secret",
            "Opaque",
            labels.clone(),
            &[
                ("ca.crt", relay_root.pem.clone()),
                ("tls.crt", relay_root.pem.clone()),
                ("tls.key", relay_root.key.serialize_pem()),
            ],
        ),
        secret(
            "gloo-mesh",
            "relay-server-tls-secret",
            "kubernetes.io/tls",
            labels.clone(),
            &[
                ("tls.crt", server.pem.clone()),
                ("tls.key", server.key.serialize_pem()),
                ("ca.crt", relay_root.pem.clone()),
            ],
        ),
        secret(
            "gloo-mesh",
            "relay-tls-signing-secret",
            "kubernetes.io/tls",
            labels.clone(),
            &[
                ("tls.crt", signing.pem.clone()),
                ("tls.key", signing.key.serialize_pem()),
                ("ca.crt", relay_root.pem.clone()),
            ],
        ),
        secret(
            "gloo-mesh",
            "relay-identity-token-secret",
            "Opaque",
            labels,
            &[("token", token.clone())],
        ),
        secret(
            "gloo-mesh",
            "root-trust-policy.gloo-mesh",
            "certificates.mesh.gloo.solo.io/generated_signing_cert",
            json!({"owner.gloo.solo.io/name": "root-trust-policy"}),
            &[
                ("root-cert.pem", istio_root.pem.clone()),
                ("key.pem", istio_root.key.serialize_pem()),
            ],
        ),
        json!({"apiVersion": "admin.gloo.solo.io/v2", "kind": "RootTrustPolicy", "metadata": {"name": "root-trust-policy", "namespace": "gloo-mesh"}, "spec": {"config": {"autoRestartPods": true, "mgmtServerCa": {"generated": {}}}}}),
    ];
    let workloads = (1..=workloads)
        .map(|i| {
            let name = format!("cluster-{i}");
            let mut p = params(&name, O, &[&name], now, 365);
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth];
            let client = issue(p, &signing);
            let mut p = params("Intermediate CA", "Istio", &["istiod.istio-system.svc"], now, 3650);
            p.distinguished_name.push(DnType::LocalityName, name.as_str());
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
            let inter = issue(p, &istio_root);
            let labels = json!({"app": "gloo-mesh-agent"});
            let objects = vec![
                secret("gloo-mesh", "relay-client-tls-secret", "kubernetes.io/tls", labels.clone(), &[("tls.crt", format!("{}{}", client.pem, signing.pem)), ("tls.key", client.key.serialize_pem()), ("ca.crt", relay_root.pem.clone())]),
                secret("gloo-mesh", "relay-root-tls-secret", "Opaque", labels.clone(), &[("ca.crt", relay_root.pem.clone())]),
                secret("gloo-mesh", "relay-identity-token-secret", "Opaque", labels, &[("token", token.clone())]),
                secret("istio-system", "cacerts", "certificates.mesh.gloo.solo.io/issued_certificate", json!({"agent.certificates.mesh.gloo.solo.io": "gloo-mesh", "cluster.multicluster.solo.io": ""}), &[
                    ("ca-cert.pem", inter.pem.clone()),
                    ("ca-key.pem", inter.key.serialize_pem()),
                    ("root-cert.pem", istio_root.pem.clone()),
                    ("cert-chain.pem", format!("{}{}", inter.pem, istio_root.pem)),
                    ("key.pem", String::new()),
                ]),
            ];
            (name, objects)
        })
        .collect();
    SampleSetup { mgmt, workloads }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{check, CheckOptions};
    use crate::select::{select, SelectOptions};
    use crate::snapshot::Snapshot;
    use crate::source::file::parse_objects;

    #[test]
    fn the_generated_setup_passes_every_check() {
        let now = Utc::now();
        let s = generate(now, 2);
        let mut snaps = Vec::new();
        let all = std::iter::once(("mgmt".to_string(), s.mgmt)).chain(s.workloads);
        for (name, objects) in all {
            let text = serde_json::to_string(&objects).unwrap();
            let inv = parse_objects(text.as_bytes(), &name, "gloo-mesh").unwrap();
            let sel = select(&inv, &SelectOptions::default());
            snaps.push(Snapshot::new(&inv, sel, name, now));
        }
        let r = check(&snaps, &CheckOptions::at(now));
        // Only what the seed says of every default setup: generated roots, kept in the cluster.
        let found: Vec<(&str, Option<&str>)> = r
            .report
            .findings
            .iter()
            .filter(|f| f.check != crate::check_id::CheckId::SetupSummary)
            .map(|f| (f.check.as_str(), f.secret.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "setup.root-key-in-cluster",
                    Some("gloo-mesh/relay-root-tls-secret")
                ),
                (
                    "setup.generated-root",
                    Some("gloo-mesh/root-trust-policy.gloo-mesh")
                ),
            ],
            "{:#?}",
            r.report.findings
        );
        assert_eq!(r.certificates.len(), 23);
    }
}
