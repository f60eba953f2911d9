//! The secrets Gloo Mesh and Istio read, built from issued certificates and keys, under the
//! names, types and labels [`crate::gloo`] knows them by (so selection, the checks and a later
//! backup find them as they find Gloo's own): relay TLS secrets (`tls.crt` = the certificate
//! and the intermediates above it, `ca.crt` = the root), the relay root copy, the identity
//! token, the root-trust secret a RootTrustPolicy names, `istio-system/cacerts` with Istio's
//! plug-in keys, and the offline CA material of a birth archive.

use std::collections::BTreeMap;

use base64::Engine;

use super::ca::{pem_of, Ca, Issued};
use super::IssueError;
use crate::gloo::{self, CACERTS, ISTIO_NAMESPACE};
use crate::pki::Cert;
use crate::secret::{
    SecretBytes, SecretId, SecretRecord, ISSUED_BY_ANNOTATION, ISSUES_ANNOTATION, OFFLINE_LABEL,
    OFFLINE_NAMESPACE, OPAQUE, TLS,
};

/// A record of `id` and `type_` holding `data`, annotated with who issued it.
pub(crate) fn record(
    id: SecretId,
    type_: &str,
    data: Vec<(&str, Vec<u8>)>,
    issued_by: &str,
) -> SecretRecord {
    SecretRecord {
        id,
        type_: type_.to_string(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([(ISSUED_BY_ANNOTATION.to_string(), issued_by.to_string())]),
        data: data
            .into_iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::new(v)))
            .collect(),
        immutable: false,
        resource_version: None,
        owner_references: Vec::new(),
    }
}

/// A relay TLS secret (`relay-server-tls-secret`, `relay-client-tls-secret`): `tls.crt` is the
/// certificate then its issuer's chain below the root (Gloo's client-certificate check
/// verifies that bundle against `ca.crt`), `tls.key` its key, `ca.crt` the relay root.
pub(crate) fn relay_tls(id: SecretId, leaf: &Issued, by: &Ca, issued_by: &str) -> SecretRecord {
    let bundle = pem_of(std::iter::once(&leaf.cert).chain(by.chain_below_root()));
    record(
        id,
        TLS,
        vec![
            ("tls.crt", bundle.into_bytes()),
            ("tls.key", leaf.key.pem().as_bytes().to_vec()),
            ("ca.crt", by.root_cert().to_pem().into_bytes()),
        ],
        issued_by,
    )
}

/// `relay-tls-signing-secret`: the CA that signs agents' certificates, with the relay root.
pub(crate) fn relay_signing(ns: &str, ca: &Ca, issued_by: &str) -> SecretRecord {
    record(
        SecretId::new(ns, gloo::RELAY_SIGNING),
        TLS,
        vec![
            ("tls.crt", pem_of(ca.chain_below_root()).into_bytes()),
            ("tls.key", ca.key.pem().as_bytes().to_vec()),
            ("ca.crt", ca.root_cert().to_pem().into_bytes()),
        ],
        issued_by,
    )
}

/// `relay-root-tls-secret`: the relay root's certificate, and with `with_key` (the
/// management-cluster placement only) its key as Gloo's own generated root secret holds it.
pub(crate) fn relay_root(ns: &str, root: &Ca, with_key: bool, issued_by: &str) -> SecretRecord {
    let pem = root.root_cert().to_pem().into_bytes();
    let mut data = vec![("ca.crt", pem.clone())];
    if with_key {
        data.push(("tls.crt", pem));
        data.push(("tls.key", root.key.pem().as_bytes().to_vec()));
    }
    record(SecretId::new(ns, gloo::RELAY_ROOT), OPAQUE, data, issued_by)
}

/// `relay-identity-token-secret` with `token`.
pub(crate) fn token(ns: &str, token: &str, issued_by: &str) -> SecretRecord {
    record(
        SecretId::new(ns, gloo::RELAY_TOKEN),
        OPAQUE,
        vec![("token", token.as_bytes().to_vec())],
        issued_by,
    )
}

/// A new identity token: 32 random bytes, base64url.
pub(crate) fn new_token() -> Result<String, IssueError> {
    let mut b = [0u8; 32];
    super::random(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The root-trust secret a RootTrustPolicy's `secretRef` names: the CA Gloo Mesh issues Istio
/// intermediates from. A root: `root-cert.pem` and `key.pem`; an intermediate (the hybrid
/// placement, or the shared intermediate): Istio's plug-in keys `ca-cert.pem`, `ca-key.pem`,
/// `cert-chain.pem` (it, then up to the root) and `root-cert.pem`.
pub(crate) fn root_trust(id: SecretId, ca: &Ca, issued_by: &str) -> SecretRecord {
    let data = if ca.path.len() == 1 {
        vec![
            ("root-cert.pem", ca.cert().to_pem().into_bytes()),
            ("key.pem", ca.key.pem().as_bytes().to_vec()),
        ]
    } else {
        vec![
            ("ca-cert.pem", ca.cert().to_pem().into_bytes()),
            ("ca-key.pem", ca.key.pem().as_bytes().to_vec()),
            ("cert-chain.pem", pem_of(&ca.path).into_bytes()),
            ("root-cert.pem", ca.root_cert().to_pem().into_bytes()),
        ]
    };
    record(id, OPAQUE, data, issued_by)
}

/// `istio-system/cacerts` with Istio's plug-in keys: `ca-cert.pem` (the cluster's
/// intermediate), `ca-key.pem`, `root-cert.pem`, `cert-chain.pem` (the intermediate, then its
/// issuer's path up to the root). `gloo_issued`: typed and labelled as Gloo Mesh's cert-agent
/// writes it (with its empty `key.pem`), for a setup whose RootTrustPolicy makes Gloo manage
/// Istio's CA; otherwise a plain Opaque secret as Istio's plug-in CA documentation makes it.
pub(crate) fn cacerts(
    cluster_ca: &Issued,
    by: &Ca,
    gloo_issued: bool,
    issued_by: &str,
) -> SecretRecord {
    let chain: Vec<&Cert> = std::iter::once(&cluster_ca.cert).chain(&by.path).collect();
    let mut data = vec![
        ("ca-cert.pem", cluster_ca.cert.to_pem().into_bytes()),
        ("ca-key.pem", cluster_ca.key.pem().as_bytes().to_vec()),
        ("root-cert.pem", by.root_cert().to_pem().into_bytes()),
        ("cert-chain.pem", pem_of(chain).into_bytes()),
    ];
    let id = SecretId::new(ISTIO_NAMESPACE, CACERTS);
    let mut r = if gloo_issued {
        data.push(("key.pem", Vec::new()));
        record(id, gloo::ISSUED_CERTIFICATE, data, issued_by)
    } else {
        record(id, OPAQUE, data, issued_by)
    };
    if gloo_issued {
        for (k, v) in gloo::CACERTS_LABELS {
            r.labels.insert(k.to_string(), v.to_string());
        }
    }
    r
}

/// A CA kept offline: `trustkeep-offline/<name>`, labelled [`OFFLINE_LABEL`] so no restore
/// writes it unless asked by name, with what it issues ([`ISSUES_ANNOTATION`]).
pub(crate) fn offline(name: &str, ca: &Ca, issues: &str, issued_by: &str) -> SecretRecord {
    let mut r = record(
        SecretId::new(OFFLINE_NAMESPACE, name),
        TLS,
        vec![
            (
                "tls.crt",
                pem_of(&ca.path[..ca.path.len().max(2) - 1]).into_bytes(),
            ),
            ("tls.key", ca.key.pem().as_bytes().to_vec()),
            ("ca.crt", ca.root_cert().to_pem().into_bytes()),
        ],
        issued_by,
    );
    r.labels
        .insert(OFFLINE_LABEL.to_string(), "true".to_string());
    r.annotations
        .insert(ISSUES_ANNOTATION.to_string(), issues.to_string());
    r
}
