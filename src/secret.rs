//! The in-memory form of one Kubernetes Secret, as trustkeep carries it from a source to an
//! archive and back.
//!
//! [`SecretRecord`] keeps exactly what a restore needs (namespace, name, type, labels,
//! annotations, every data key) and drops what the API server owns (uid, resourceVersion,
//! managedFields, ...). Its data lives in [`SecretBytes`], which zeroizes on drop and never
//! prints its contents: `Debug` shows key names and sizes only.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use serde::Serialize;
use zeroize::Zeroizing;

/// The secret type Kubernetes assumes when none is given.
pub(crate) const OPAQUE: &str = "Opaque";
/// The type of TLS secrets, which must hold `tls.crt` and `tls.key`.
pub const TLS: &str = "kubernetes.io/tls";

/// Bytes of one data key of a Secret: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes; the caller's copy should be dropped (it is moved here).
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The raw bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes (Istio's `cacerts` has an empty `key.pem`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0.len())
    }
}

/// `namespace/name` of a Secret: how every message names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SecretId {
    pub namespace: String,
    pub name: String,
}

impl SecretId {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        SecretId {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `NAME` (in `default_namespace`) or `NAMESPACE/NAME`, as `--include` takes it.
    pub fn parse(spec: &str, default_namespace: &str) -> SecretId {
        match spec.split_once('/') {
            Some((namespace, name)) => SecretId::new(namespace, name),
            None => SecretId::new(default_namespace, spec),
        }
    }

    /// Whether `spec` names this secret, as `--only` takes it: `NAMESPACE/NAME`, or a bare
    /// `NAME` in any namespace.
    pub fn matches(&self, spec: &str) -> bool {
        spec == self.name || spec == self.to_string()
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One Secret, reduced to what can and must be restored. `Debug` shows data keys and
/// annotation keys only (`kubectl.kubernetes.io/last-applied-configuration` holds the data).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub id: SecretId,
    /// The Secret's `type`; `Opaque` when the source did not say.
    pub type_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Every data key, decoded. `stringData` of hand-written manifests is merged in.
    pub data: BTreeMap<String, SecretBytes>,
    /// Whether the object was `immutable: true`.
    pub immutable: bool,
    /// The resourceVersion the source had, for the record (never restored).
    pub resource_version: Option<String>,
    /// Kinds and names of owner references the source had (never restored).
    pub owner_references: Vec<String>,
}

impl fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id.to_string())
            .field("type_", &self.type_)
            .field("labels", &self.labels)
            .field("annotations", &self.annotations.keys().collect::<Vec<_>>())
            .field("data", &self.data)
            .field("immutable", &self.immutable)
            .finish_non_exhaustive()
    }
}

/// The annotation `kubectl apply` adds: a copy of the whole object, data included.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An annotation value as reports may show it: `kubectl apply`'s copy of the object (which
/// holds the data) is replaced by its size.
pub(crate) fn reportable_annotation(key: &str, value: &str) -> String {
    if key == LAST_APPLIED {
        format!("<{} bytes redacted: holds the secret's data>", value.len())
    } else {
        value.to_string()
    }
}

impl SecretRecord {
    /// Builds a record from a Kubernetes Secret; `default_namespace` applies when the object
    /// has none (hand-written manifests).
    pub(crate) fn from_k8s(secret: Secret, default_namespace: &str) -> Self {
        let Secret {
            data,
            immutable,
            metadata,
            string_data,
            type_,
        } = secret;
        let mut map: BTreeMap<String, SecretBytes> = data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, ByteString(v))| (k, SecretBytes::new(v)))
            .collect();
        for (k, v) in string_data.unwrap_or_default() {
            map.insert(k, SecretBytes::new(v.into_bytes()));
        }
        let ObjectMeta {
            name,
            namespace,
            labels,
            annotations,
            resource_version,
            owner_references,
            ..
        } = metadata;
        SecretRecord {
            id: SecretId::new(
                namespace.unwrap_or_else(|| default_namespace.to_string()),
                name.unwrap_or_default(),
            ),
            type_: type_
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| OPAQUE.to_string()),
            labels: labels.unwrap_or_default(),
            annotations: annotations.unwrap_or_default(),
            data: map,
            immutable: immutable.unwrap_or(false),
            resource_version,
            owner_references: owner_references
                .unwrap_or_default()
                .into_iter()
                .map(|o| format!("{}/{}", o.kind, o.name))
                .collect(),
        }
    }

    /// The Kubernetes object to create or apply: name, namespace, type, labels, annotations and
    /// data, nothing the server owns. `extra_annotations` are added (e.g. provenance).
    pub(crate) fn to_k8s(&self, extra_annotations: &BTreeMap<String, String>) -> Secret {
        let mut annotations = self.annotations.clone();
        annotations.extend(extra_annotations.clone());
        Secret {
            data: Some(
                self.data
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
                    .collect(),
            ),
            immutable: self.immutable.then_some(true),
            metadata: ObjectMeta {
                name: Some(self.id.name.clone()),
                namespace: Some(self.id.namespace.clone()),
                labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            string_data: None,
            type_: Some(self.type_.clone()),
        }
    }

    /// Whether this is offline CA material ([`OFFLINE_LABEL`]), never restored unless named.
    pub fn is_offline(&self) -> bool {
        self.labels.get(OFFLINE_LABEL).is_some_and(|v| v == "true")
    }

    /// A data key's bytes, if present.
    pub fn get(&self, key: &str) -> Option<&SecretBytes> {
        self.data.get(key)
    }

    /// The Secret a parsed YAML or JSON document holds, `None` when it holds none (see
    /// [`SecretRecord::from_yaml`] for why).
    pub(crate) fn from_value(doc: serde_json::Value, default_namespace: &str) -> Option<Self> {
        let secret: Secret = serde_json::from_value(doc).ok()?;
        Some(SecretRecord::from_k8s(secret, default_namespace))
    }

    /// Reads the one Secret of a `secret.yaml` (as [`SecretRecord::to_k8s`] renders it).
    /// The error never quotes the input.
    pub fn from_yaml(text: &str, default_namespace: &str) -> Result<Self, String> {
        let secret: Secret = serde_saphyr::from_str(text).map_err(|e| {
            e.render_with_options(serde_saphyr::render_options! {
                formatter: &serde_saphyr::UserMessageFormatter,
                snippets: serde_saphyr::SnippetMode::Off,
            })
        })?;
        Ok(SecretRecord::from_k8s(secret, default_namespace))
    }

    /// What a restore of `self` over `live` would change, `None` when nothing: the type,
    /// immutability, every data key, and each label and annotation of `self` that `live`
    /// lacks or holds otherwise. Metadata that only `live` has (added by controllers) and the
    /// provenance annotation trustkeep adds are not differences.
    pub(crate) fn differences(&self, live: &SecretRecord) -> Option<String> {
        let mut diffs = Vec::new();
        if self.immutable != live.immutable {
            diffs.push(format!(
                "immutable differs (live {}, archived {})",
                live.immutable, self.immutable
            ));
        }
        if self.type_ != live.type_ {
            diffs.push(format!(
                "type differs (live {}, archived {})",
                live.type_, self.type_
            ));
        }
        let keys: std::collections::BTreeSet<&String> =
            self.data.keys().chain(live.data.keys()).collect();
        let changed: Vec<&str> = keys
            .into_iter()
            .filter(|k| self.data.get(*k) != live.data.get(*k))
            .map(|k| k.as_str())
            .collect();
        if !changed.is_empty() {
            diffs.push(format!("data differs in {}", changed.join(", ")));
        }
        diffs.extend(metadata_differences(
            (&self.labels, &live.labels),
            (&self.annotations, &live.annotations),
        ));
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }

    /// The one definition of "the same secret": everything a restore writes is equal
    /// (namespace, name, type, immutability, data, labels, annotations). What the server owns
    /// (resourceVersion, owner references) does not count.
    pub fn identical(&self, other: &SecretRecord) -> bool {
        self.id == other.id
            && self.type_ == other.type_
            && self.immutable == other.immutable
            && self.data == other.data
            && self.labels == other.labels
            && self.annotations == other.annotations
    }
}

/// The labels and annotations of an archived object (first of each pair) that the live one
/// (second) lacks or holds otherwise, as plan reasons. Metadata only the live object has
/// (added by controllers) and the provenance annotation trustkeep adds are not differences.
pub(crate) fn metadata_differences(
    labels: (&BTreeMap<String, String>, &BTreeMap<String, String>),
    annotations: (&BTreeMap<String, String>, &BTreeMap<String, String>),
) -> Vec<String> {
    let missing = |(a, b): (&BTreeMap<String, String>, &BTreeMap<String, String>)| -> Vec<String> {
        a.iter()
            .filter(|(k, v)| k.as_str() != PROVENANCE_ANNOTATION && b.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let mut diffs = Vec::new();
    let l = missing(labels);
    if !l.is_empty() {
        diffs.push(format!("labels missing or different: {}", l.join(", ")));
    }
    let a = missing(annotations);
    if !a.is_empty() {
        diffs.push(format!(
            "annotations missing or different: {}",
            a.join(", ")
        ));
    }
    diffs
}

/// Who keeps a secret up to date besides its backups: a restore over it fights that
/// controller. Derived from what every archive records (type, labels, annotations), so
/// archives written before this existed are understood too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Manager {
    /// cert-manager, from a `Certificate` (its `cert-manager.io/*` annotations).
    CertManager {
        certificate: String,
        /// `Kind/name` of the issuer, when annotated.
        issuer: Option<String>,
    },
    /// Gloo Mesh's cert-agent, which issues `istio-system/cacerts` from an IssuedCertificate.
    GlooCertAgent,
}

/// cert-manager's annotation naming the Certificate a secret was issued for.
const CERT_MANAGER_CERTIFICATE: &str = "cert-manager.io/certificate-name";

impl Manager {
    /// The controller that manages `r`, if any.
    pub fn of(r: &SecretRecord) -> Option<Manager> {
        if let Some(certificate) = r.annotations.get(CERT_MANAGER_CERTIFICATE) {
            let ann = |k: &str| r.annotations.get(&format!("cert-manager.io/issuer-{k}"));
            let issuer = ann("name").map(|name| {
                let kind = ann("kind").map_or("Issuer", String::as_str);
                format!("{kind}/{name}")
            });
            return Some(Manager::CertManager {
                certificate: certificate.clone(),
                issuer,
            });
        }
        let reconciled_by_cert_agent = r
            .labels
            .get("reconciler.mesh.gloo.solo.io/name")
            .is_some_and(|n| n == "cert-agent");
        (r.type_ == crate::gloo::ISSUED_CERTIFICATE || reconciled_by_cert_agent)
            .then_some(Manager::GlooCertAgent)
    }

    /// What restoring over this controller does, for the plan.
    pub fn consequence(&self) -> String {
        match self {
            Manager::CertManager {
                certificate,
                issuer,
            } => format!(
                "managed by cert-manager (Certificate {certificate}{}): cert-manager re-issues it when it is missing or differs, and a restored copy fights the issuer",
                issuer.as_ref().map(|i| format!(", issuer {i}")).unwrap_or_default()
            ),
            Manager::GlooCertAgent => "managed by Gloo Mesh's cert-agent (an IssuedCertificate): it re-issues the Istio CA from the root, and a restored copy may be reconciled away or confuse istiod".into(),
        }
    }
}

/// Annotation a restored or exported object carries to say where it came from.
pub(crate) const PROVENANCE_ANNOTATION: &str = "trustkeep.io/restored-from";

/// The label of CA material an archive keeps *offline* (`trustkeep pki init`'s root keys, and
/// outside the management-cluster placement every CA key that must not be in a cluster): a
/// restore leaves such a record out unless `--only` names it.
pub const OFFLINE_LABEL: &str = "trustkeep.io/offline-ca";
/// The namespace offline CA material is archived under (it is no namespace of a cluster).
pub const OFFLINE_NAMESPACE: &str = "trustkeep-offline";
/// Annotation of an offline CA: the certificates it issues (`relay-server relay-client`,
/// `istio-cacerts`, `intermediate-cas`), for `trustkeep pki reissue`.
pub const ISSUES_ANNOTATION: &str = "trustkeep.io/issues";
/// Annotation of what `trustkeep pki` issued: which command, and the design.
pub const ISSUED_BY_ANNOTATION: &str = "trustkeep.io/issued-by";

/// Checks a data key the way the API server does (`IsConfigMapKey`), so that it is safe as a
/// file name: `[-._a-zA-Z0-9]+`, not `.` or `..`, not starting with `..`, at most 253 bytes.
pub(crate) fn valid_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && key != "."
        && !key.starts_with("..")
}

/// Checks a namespace or Secret name (DNS subdomain: lowercase alphanumerics, `-` and `.`).
pub(crate) fn valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
        && !name.contains("..")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `gloo-mesh/s` of `type_`, label `a=1`, `tls.crt` = `v`.
    pub(crate) fn rec(type_: &str, v: &[u8]) -> SecretRecord {
        SecretRecord {
            id: SecretId::new("gloo-mesh", "s"),
            type_: type_.into(),
            labels: BTreeMap::from([("a".into(), "1".into())]),
            annotations: BTreeMap::new(),
            data: BTreeMap::from([("tls.crt".into(), SecretBytes::new(v.to_vec()))]),
            immutable: false,
            resource_version: None,
            owner_references: vec![],
        }
    }

    #[test]
    fn differences_name_what_differs() {
        let a = rec("kubernetes.io/tls", b"x");
        assert_eq!(a.differences(&a), None);
        let mut live = rec("Opaque", b"y");
        live.labels.clear();
        live.annotations
            .insert(PROVENANCE_ANNOTATION.into(), "old".into());
        let d = a.differences(&live).unwrap();
        assert_eq!(d, "type differs (live Opaque, archived kubernetes.io/tls); data differs in tls.crt; labels missing or different: a");
        // Extra live labels and our own provenance annotation do not count.
        let mut live = a.clone();
        live.labels.insert("extra".into(), "x".into());
        live.annotations
            .insert(PROVENANCE_ANNOTATION.into(), "old".into());
        assert_eq!(a.differences(&live), None);
    }

    #[test]
    fn identical_means_everything_restored_is_equal() {
        let a = rec("kubernetes.io/tls", b"x");
        assert!(a.identical(&a.clone()));
        let mut b = a.clone();
        b.annotations
            .insert(PROVENANCE_ANNOTATION.into(), "x".into());
        assert!(
            !a.identical(&b),
            "exact: an extra annotation is a difference"
        );
        let mut b = a.clone();
        b.resource_version = Some("9".into());
        assert!(a.identical(&b), "server-owned fields do not count");
    }

    #[test]
    fn secret_ids_parse_and_match() {
        assert_eq!(SecretId::parse("x", "gloo-mesh").to_string(), "gloo-mesh/x");
        assert_eq!(SecretId::parse("ns/x", "gloo-mesh").to_string(), "ns/x");
        let id = SecretId::new("gloo-mesh", "relay-server-tls-secret");
        assert!(id.matches("relay-server-tls-secret"));
        assert!(id.matches("gloo-mesh/relay-server-tls-secret"));
        assert!(!id.matches("other/relay-server-tls-secret"));
    }

    #[test]
    fn debug_never_shows_data() {
        let mut s = Secret::default();
        s.metadata.name = Some("relay-server-tls-secret".into());
        s.data = Some(BTreeMap::from([(
            "tls.key".to_string(),
            ByteString(b"SUPER-SECRET-KEY".to_vec()),
        )]));
        s.metadata.annotations = Some(BTreeMap::from([(
            LAST_APPLIED.to_string(),
            "{\"data\":{\"tls.key\":\"U1VQRVItU0VDUkVU\"}}".to_string(),
        )]));
        let rec = SecretRecord::from_k8s(s, "gloo-mesh");
        let dbg = format!("{rec:?}");
        assert!(!dbg.contains("U1VQRVIt"), "{dbg}");
        assert!(!dbg.contains("SUPER-SECRET"), "{dbg}");
        assert!(dbg.contains("16 bytes redacted"), "{dbg}");
        assert_eq!(rec.id.to_string(), "gloo-mesh/relay-server-tls-secret");
        assert_eq!(rec.type_, OPAQUE);
    }

    #[test]
    fn string_data_is_merged_and_round_trips() {
        let mut s = Secret::default();
        s.metadata.name = Some("x".into());
        s.metadata.namespace = Some("ns".into());
        s.string_data = Some(BTreeMap::from([("token".to_string(), "abc".to_string())]));
        s.type_ = Some(TLS.into());
        let rec = SecretRecord::from_k8s(s, "gloo-mesh");
        assert_eq!(rec.get("token").unwrap().expose(), b"abc");
        let back = rec.to_k8s(&BTreeMap::new());
        assert_eq!(back.type_.as_deref(), Some(TLS));
        assert_eq!(back.data.unwrap()["token"].0, b"abc");
    }

    #[test]
    fn managers_come_from_annotations_type_and_labels() {
        let mut r = rec("kubernetes.io/tls", b"x");
        assert_eq!(Manager::of(&r), None);
        r.annotations
            .insert("cert-manager.io/certificate-name".into(), "relay".into());
        r.annotations
            .insert("cert-manager.io/issuer-name".into(), "ca".into());
        assert_eq!(
            Manager::of(&r),
            Some(Manager::CertManager {
                certificate: "relay".into(),
                issuer: Some("Issuer/ca".into()),
            }),
            "an issuer without a kind is a namespaced Issuer"
        );
        let mut c = rec(crate::gloo::ISSUED_CERTIFICATE, b"x");
        assert_eq!(Manager::of(&c), Some(Manager::GlooCertAgent));
        c.type_ = "Opaque".into();
        c.labels.insert(
            "reconciler.mesh.gloo.solo.io/name".into(),
            "cert-agent".into(),
        );
        assert_eq!(Manager::of(&c), Some(Manager::GlooCertAgent));
    }

    #[test]
    fn data_keys_and_names() {
        for ok in ["tls.crt", "ca-cert.pem", "token", "a_b", ".hidden"] {
            assert!(valid_data_key(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "..x", "a b"] {
            assert!(!valid_data_key(bad), "{bad}");
        }
        assert!(valid_object_name("root-trust-policy.gloo-mesh"));
        for bad in ["", "A", "a/b", "..", "-a", "a..b"] {
            assert!(!valid_object_name(bad), "{bad}");
        }
    }
}
