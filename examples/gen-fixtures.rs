//! Fixture generator for the `trustkeep` tests.
//!
//! Writes, under `fixtures/` (next to `Cargo.toml`):
//!
//! * `keys/test-only-*.pem`: the private keys every certificate below is made from
//!   (PKCS#8 PEM). Missing key files are created with the `openssl` CLI on the first run;
//!   existing files are reused, so a re-run reproduces the same keys and certificates.
//! * `sample/`: a healthy Gloo Mesh Enterprise setup (one management cluster, two workload
//!   clusters) as `kubectl get secret -A -o yaml` / `kubectl get secret -n gloo-mesh -o json`
//!   would print it.
//! * `seed-manual/`: the files the seed document's manual backup procedure leaves behind.
//! * `defects/<case>/{mgmt,cluster-1}.yaml`: complete pairs with exactly one defect each
//!   (see [`DEFECTS`]).
//! * `malformed/`: inputs a parser must reject or handle (broken YAML, bad base64, ...).
//! * `README.md`: what every file is for and what a tool should find in it.
//!
//! Run it from the crate root with:
//!
//! ```text
//! cargo run --example gen-fixtures
//! ```
//!
//! All dates are fixed (no clock is read): CAs are valid 2026-01-01..2036-01-01, leaves
//! 2026-01-01..2031-01-01, and tests are meant to run with "now" = 2026-12-01T00:00:00Z.
//! Serial numbers, UIDs and resource versions are fixed too, and ECDSA signatures use
//! RFC 6979 deterministic nonces, so a re-run writes byte-identical files.
//!
//! EVERY KEY HERE IS TEST-ONLY AND PUBLIC: it is committed to a public repository. Never use
//! these keys, or certificates made from them, for anything but tests.
//!
//! The `openssl` CLI is needed to create missing keys (ring cannot generate RSA keys) and to
//! sign the SHA-1 certificate of the `sha1-signature` case (ring cannot sign with SHA-1).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use pkcs8::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use pkcs8::DecodePrivateKey as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
    SigningKey, SubjectPublicKeyInfo,
};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------
// Fixed inputs
// ---------------------------------------------------------------------------------------

/// Organisation put in every relay certificate subject.
const FIXTURE_ORG: &str = "Gloo Mesh (trustkeep test fixtures)";
/// The workload clusters of the sample setup.
const WORKLOAD_CLUSTERS: [&str; 2] = ["cluster-1", "cluster-2"];
/// Name used for the management cluster in file names and generated UIDs.
const MGMT_CLUSTER: &str = "mgmt";
/// Relay identity token shared by the management and workload clusters (random-looking, fixed).
const RELAY_TOKEN: &str = "q7RkX2mVn9LcT4wZ8hJp3sYb6fDa1gUeK5oNiWx0";
/// Tests run as if "now" were this instant: 2026-12-01T00:00:00Z.
const TEST_NOW: &str = "2026-12-01T00:00:00Z";
const TEST_NOW_EPOCH: i64 = 1_796_083_200;

/// A calendar day, at 00:00:00Z.
#[derive(Clone, Copy)]
struct Day(i32, u8, u8);

const CA_NOT_BEFORE: Day = Day(2026, 1, 1);
const CA_NOT_AFTER: Day = Day(2036, 1, 1);
const LEAF_NOT_BEFORE: Day = Day(2026, 1, 1);
const LEAF_NOT_AFTER: Day = Day(2031, 1, 1);
const EXPIRED_NOT_AFTER: Day = Day(2026, 6, 1);
const NOT_YET_VALID_NOT_BEFORE: Day = Day(2027, 6, 1);
const EXPIRING_SOON_NOT_AFTER: Day = Day(2026, 12, 15);

// Serial numbers of the healthy certificates. Certificates made for a defect case use
// `DEFECT_SERIAL_BASE + 0x10 * case index + n`.
const SERIAL_RELAY_ROOT: u64 = 0x1000;
const SERIAL_RELAY_SIGNING: u64 = 0x1001;
const SERIAL_RELAY_SERVER: u64 = 0x1002;
const SERIAL_RELAY_CLIENT_BASE: u64 = 0x1010; // + 1-based cluster number
const SERIAL_ISTIO_ROOT: u64 = 0x2000;
const SERIAL_ISTIO_INTERMEDIATE_BASE: u64 = 0x2010; // + 1-based cluster number
const DEFECT_SERIAL_BASE: u64 = 0x5000;

// Secret types.
const TYPE_OPAQUE: &str = "Opaque";
const TYPE_TLS: &str = "kubernetes.io/tls";
const TYPE_GENERATED_SIGNING_CERT: &str = "certificates.mesh.gloo.solo.io/generated_signing_cert";
const TYPE_ISSUED_CERTIFICATE: &str = "certificates.mesh.gloo.solo.io/issued_certificate";

const ROOT_TRUST_POLICY_NAME: &str = "root-trust-policy";
const ROOT_TRUST_SECRET_NAME: &str = "root-trust-policy.gloo-mesh";

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    Ed25519,
    Rsa(u32),
}

impl KeyKind {
    fn file_suffix(self) -> String {
        match self {
            KeyKind::P256 => "p256".to_string(),
            KeyKind::P384 => "p384".to_string(),
            KeyKind::Ed25519 => "ed25519".to_string(),
            KeyKind::Rsa(bits) => format!("rsa{bits}"),
        }
    }

    fn describe(self) -> String {
        match self {
            KeyKind::P256 => "ECDSA P-256".to_string(),
            KeyKind::P384 => "ECDSA P-384".to_string(),
            KeyKind::Ed25519 => "Ed25519".to_string(),
            KeyKind::Rsa(bits) => format!("RSA {bits}"),
        }
    }

    fn openssl_genpkey_args(self) -> Vec<String> {
        let args: Vec<&str> = match self {
            KeyKind::P256 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyKind::P384 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyKind::Ed25519 => vec!["-algorithm", "ED25519"],
            KeyKind::Rsa(_) => vec!["-algorithm", "RSA"],
        };
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        if let KeyKind::Rsa(bits) = self {
            args.push("-pkeyopt".to_string());
            args.push(format!("rsa_keygen_bits:{bits}"));
        }
        args
    }
}

/// How a private key is written into a Secret.
#[derive(Clone, Copy)]
enum KeyEncoding {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8), as the key file.
    Pkcs8,
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1) for RSA, `-----BEGIN EC PRIVATE KEY-----`
    /// (SEC1) for ECDSA: what Go's `x509.MarshalPKCS1PrivateKey` / `MarshalECPrivateKey`
    /// (used by Istio and Gloo Mesh for the Istio CA keys) produce. Ed25519 stays PKCS#8.
    Traditional,
}

/// One committed test-only private key.
struct TestKey {
    purpose: &'static str,
    kind: KeyKind,
    used_for: &'static str,
    pkcs8_pem: String,
}

impl TestKey {
    fn file_name(purpose: &str, kind: KeyKind) -> String {
        format!("test-only-{purpose}-{}.pem", kind.file_suffix())
    }

    /// Loads `keys_dir/test-only-<purpose>-<kind>.pem`, creating it with openssl if missing.
    fn load_or_create(
        keys_dir: &Path,
        purpose: &'static str,
        kind: KeyKind,
        used_for: &'static str,
    ) -> TestKey {
        let path = keys_dir.join(Self::file_name(purpose, kind));
        if !path.exists() {
            eprintln!("creating missing key {}", path.display());
            let status = Command::new("openssl")
                .arg("genpkey")
                .args(kind.openssl_genpkey_args())
                .arg("-out")
                .arg(&path)
                .status()
                .expect("running `openssl genpkey` (is the openssl CLI installed?)");
            assert!(
                status.success(),
                "openssl genpkey failed for {}",
                path.display()
            );
        }
        let pkcs8_pem = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading key {}: {e}", path.display()));
        TestKey {
            purpose,
            kind,
            used_for,
            pkcs8_pem,
        }
    }

    fn file(&self) -> String {
        Self::file_name(self.purpose, self.kind)
    }

    fn pkcs8_der(&self) -> Vec<u8> {
        let (label, der) = pkcs8::der::pem::decode_vec(self.pkcs8_pem.as_bytes())
            .unwrap_or_else(|e| panic!("key {} is not PEM: {e}", self.file()));
        assert_eq!(label, "PRIVATE KEY", "key {} must be PKCS#8", self.file());
        der
    }

    /// The key as an rcgen signer. ring refuses RSA keys under 2048 bits: never call this
    /// for the weak 1024-bit key (it is only ever a certificate *subject*).
    fn signer(&self) -> FixtureSigner {
        let pem = self.pkcs8_pem.as_str();
        let context = |e: &dyn std::fmt::Display| format!("loading key {}: {e}", self.file());
        match self.kind {
            KeyKind::P256 => {
                let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .unwrap_or_else(|e| panic!("{}", context(&e)));
                let public = key
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                FixtureSigner::P256 { key, public }
            }
            KeyKind::P384 => {
                let key = p384::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .unwrap_or_else(|e| panic!("{}", context(&e)));
                let public = key
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec();
                FixtureSigner::P384 { key, public }
            }
            KeyKind::Ed25519 | KeyKind::Rsa(_) => FixtureSigner::Ring(
                KeyPair::from_pem(pem).unwrap_or_else(|e| panic!("{}", context(&e))),
            ),
        }
    }

    /// The public key, for any key kind (also the 1024-bit RSA key ring cannot load).
    fn public_key(&self) -> SubjectPublicKeyInfo {
        let spki_der = match self.kind {
            KeyKind::Rsa(_) => rsa_spki_der(&self.pkcs8_der()),
            _ => self.signer().subject_public_key_info(),
        };
        SubjectPublicKeyInfo::from_der(&spki_der)
            .unwrap_or_else(|e| panic!("public key of {}: {e}", self.file()))
    }

    /// The key as it is stored in a Secret.
    fn secret_pem(&self, encoding: KeyEncoding) -> String {
        match (encoding, self.kind) {
            (KeyEncoding::Pkcs8, _) | (KeyEncoding::Traditional, KeyKind::Ed25519) => {
                self.pkcs8_pem.clone()
            }
            (KeyEncoding::Traditional, KeyKind::Rsa(_)) => {
                let der = self.pkcs8_der();
                let info = pkcs8::PrivateKeyInfo::from_der(&der).expect("PKCS#8 RSA key");
                pkcs8::der::pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, info.private_key)
                    .expect("PEM-encoding a PKCS#1 key")
            }
            (KeyEncoding::Traditional, KeyKind::P256 | KeyKind::P384) => {
                pkcs8::der::pem::encode_string(
                    "EC PRIVATE KEY",
                    LineEnding::LF,
                    &sec1_der(&self.pkcs8_der()),
                )
                .expect("PEM-encoding a SEC1 key")
            }
        }
    }
}

/// SEC1 `ECPrivateKey` DER, with the named curve, of an ECDSA key given as PKCS#8 DER.
/// (The SEC1 structure nested in PKCS#8 leaves the curve out: it is in the PKCS#8 header.)
fn sec1_der(pkcs8_der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8_der).expect("PKCS#8 structure");
    let curve = info
        .algorithm
        .parameters_oid()
        .expect("named curve in PKCS#8 header");
    let mut key = sec1::EcPrivateKey::from_der(info.private_key).expect("SEC1 EC key");
    key.parameters = Some(sec1::EcParameters::NamedCurve(curve));
    key.to_der().expect("encoding a SEC1 key")
}

/// SubjectPublicKeyInfo DER of an RSA key given as PKCS#8 DER (pure Rust, any key size).
fn rsa_spki_der(pkcs8_der: &[u8]) -> Vec<u8> {
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8_der).expect("PKCS#8 structure");
    let private = pkcs1::RsaPrivateKey::from_der(info.private_key).expect("PKCS#1 RSA key");
    let public = pkcs1::RsaPublicKey {
        modulus: private.modulus,
        public_exponent: private.public_exponent,
    }
    .to_der()
    .expect("encoding an RSA public key");
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"), // rsaEncryption
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&public).expect("bit string"),
    }
    .to_der()
    .expect("encoding a SubjectPublicKeyInfo")
}

/// An rcgen signing key whose signatures are reproducible: ECDSA keys sign with RFC 6979
/// deterministic nonces (p256/p384 crates; ring would use random nonces), RSA (PKCS#1 v1.5)
/// and Ed25519 signatures from ring are deterministic anyway. So a re-run of the generator
/// writes byte-identical files.
enum FixtureSigner {
    Ring(KeyPair),
    P256 {
        key: p256::ecdsa::SigningKey,
        public: Vec<u8>,
    },
    P384 {
        key: p384::ecdsa::SigningKey,
        public: Vec<u8>,
    },
}

impl PublicKeyData for FixtureSigner {
    fn der_bytes(&self) -> &[u8] {
        match self {
            FixtureSigner::Ring(key) => key.der_bytes(),
            FixtureSigner::P256 { public, .. } | FixtureSigner::P384 { public, .. } => public,
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            FixtureSigner::Ring(key) => key.algorithm(),
            FixtureSigner::P256 { .. } => &rcgen::PKCS_ECDSA_P256_SHA256,
            FixtureSigner::P384 { .. } => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

impl SigningKey for FixtureSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            FixtureSigner::Ring(key) => key.sign(msg),
            FixtureSigner::P256 { key, .. } => {
                let signature: p256::ecdsa::Signature = key.sign(msg); // SHA-256
                Ok(signature.to_der().as_bytes().to_vec())
            }
            FixtureSigner::P384 { key, .. } => {
                let signature: p384::ecdsa::Signature = key.sign(msg); // SHA-384
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }
}

/// Every key the fixtures use.
struct Keys {
    relay_root: TestKey,
    relay_server: TestKey,
    relay_signing: TestKey,
    relay_clients: [TestKey; 2],
    istio_root: TestKey,
    istio_intermediates: [TestKey; 2],
    other_ca: TestKey,
    unrelated_p256: TestKey,
    istio_root_foreign: TestKey,
    weak_rsa1024: TestKey,
    relay_root_rsa: TestKey,
    relay_root_other: TestKey,
}

impl Keys {
    fn load_or_create(dir: &Path) -> Keys {
        fs::create_dir_all(dir).expect("creating fixtures/keys");
        let key = |purpose, kind, used_for| TestKey::load_or_create(dir, purpose, kind, used_for);
        Keys {
            relay_root: key("relay-root", KeyKind::P384, "relay root CA (sample and most defects)"),
            relay_server: key("relay-server", KeyKind::P256, "relay server certificate"),
            relay_signing: key(
                "relay-signing",
                KeyKind::Rsa(2048),
                "relay signing CA (signs agent client certificates)",
            ),
            relay_clients: [
                key("relay-client-cluster-1", KeyKind::P256, "relay agent client cert, cluster-1"),
                key("relay-client-cluster-2", KeyKind::Ed25519, "relay agent client cert, cluster-2"),
            ],
            istio_root: key("istio-root", KeyKind::Rsa(4096), "Istio root CA of the root-trust secret"),
            istio_intermediates: [
                key(
                    "istio-intermediate-cluster-1",
                    KeyKind::Rsa(2048),
                    "Istio intermediate CA (cacerts), cluster-1",
                ),
                key(
                    "istio-intermediate-cluster-2",
                    KeyKind::P256,
                    "Istio intermediate CA (cacerts), cluster-2",
                ),
            ],
            other_ca: key("other-ca", KeyKind::P256, "defect `wrong-issuer`: unrelated CA `other-ca`"),
            unrelated_p256: key(
                "unrelated",
                KeyKind::P256,
                "defect `key-mismatch`: tls.key that matches no certificate",
            ),
            istio_root_foreign: key(
                "istio-root-foreign",
                KeyKind::Rsa(4096),
                "defects `foreign-intermediate` (second Istio root) and `root-trust-key-mismatch` (wrong key.pem)",
            ),
            weak_rsa1024: key(
                "relay-server-weak",
                KeyKind::Rsa(1024),
                "defect `weak-key`: 1024-bit relay server key",
            ),
            relay_root_rsa: key(
                "relay-root-sha1-case",
                KeyKind::Rsa(2048),
                "defect `sha1-signature`: RSA relay root (SHA-1 needs an RSA issuer)",
            ),
            relay_root_other: key(
                "relay-root-other",
                KeyKind::P384,
                "defect `relay-root-mismatch`: a second relay root",
            ),
        }
    }

    fn all(&self) -> Vec<&TestKey> {
        let mut all = vec![&self.relay_root, &self.relay_server, &self.relay_signing];
        all.extend(self.relay_clients.iter());
        all.push(&self.istio_root);
        all.extend(self.istio_intermediates.iter());
        all.extend([
            &self.other_ca,
            &self.unrelated_p256,
            &self.istio_root_foreign,
            &self.weak_rsa1024,
            &self.relay_root_rsa,
            &self.relay_root_other,
        ]);
        all
    }

    fn relay_client(&self, cluster: &str) -> &TestKey {
        &self.relay_clients[cluster_index(cluster)]
    }

    fn istio_intermediate(&self, cluster: &str) -> &TestKey {
        &self.istio_intermediates[cluster_index(cluster)]
    }
}

fn cluster_index(cluster: &str) -> usize {
    WORKLOAD_CLUSTERS
        .iter()
        .position(|c| *c == cluster)
        .unwrap_or_else(|| panic!("unknown workload cluster {cluster}"))
}

// ---------------------------------------------------------------------------------------
// Certificate profiles (from the seed document's openssl configs)
// ---------------------------------------------------------------------------------------

fn serial(n: u64) -> SerialNumber {
    let bytes = n.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut minimal = bytes[first..].to_vec();
    if minimal[0] & 0x80 != 0 {
        minimal.insert(0, 0); // keep the INTEGER positive
    }
    SerialNumber::from_slice(&minimal)
}

fn distinguished_name(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

fn dns_sans(names: &[&str]) -> Vec<SanType> {
    names
        .iter()
        .map(|n| SanType::DnsName((*n).try_into().expect("valid DNS SAN")))
        .collect()
}

fn set_validity(params: &mut CertificateParams, not_before: Day, not_after: Day) {
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
}

/// Common base: fixed serial, subject, validity, and an authority key identifier.
fn base_profile(serial_no: u64, subject: &[(DnType, &str)], ca: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.serial_number = Some(serial(serial_no));
    params.distinguished_name = distinguished_name(subject);
    params.use_authority_key_identifier_extension = true;
    if ca {
        set_validity(&mut params, CA_NOT_BEFORE, CA_NOT_AFTER);
    } else {
        set_validity(&mut params, LEAF_NOT_BEFORE, LEAF_NOT_AFTER);
    }
    params
}

/// Relay root CA: self-signed, CA:TRUE, keyCertSign + cRLSign.
fn relay_root_profile(serial_no: u64) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, FIXTURE_ORG),
            (DnType::CommonName, "relay-root-ca"),
        ],
        true,
    );
    p.use_authority_key_identifier_extension = false; // self-signed
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// Relay server (gloo-mesh-mgmt-server.conf): CA:FALSE, digitalSignature + keyEncipherment,
/// clientAuth + serverAuth, SAN `*.gloo-mesh`.
fn relay_server_profile(serial_no: u64) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, FIXTURE_ORG),
            (DnType::CommonName, "gloo-mesh-mgmt-server"),
        ],
        false,
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    p.subject_alt_names = dns_sans(&["*.gloo-mesh"]);
    p
}

/// Relay agent signing CA (gloo-mesh-agent-signing-ca.conf): critical CA:TRUE,
/// digitalSignature + keyEncipherment + keyCertSign, clientAuth + serverAuth, SAN `*.gloo-mesh`.
fn relay_signing_profile(serial_no: u64) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, FIXTURE_ORG),
            (DnType::CommonName, "relay-tls-signing-ca"),
        ],
        true,
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    p.subject_alt_names = dns_sans(&["*.gloo-mesh"]);
    p
}

/// Relay agent client (gloo-mesh-agent-client.conf): CA:FALSE, digitalSignature +
/// keyEncipherment, clientAuth + serverAuth, SAN DNS = the cluster name.
fn relay_client_profile(serial_no: u64, cluster: &str) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, FIXTURE_ORG),
            (DnType::CommonName, cluster),
        ],
        false,
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    p.subject_alt_names = dns_sans(&[cluster]);
    p
}

fn istio_ca_key_usages() -> Vec<KeyUsagePurpose> {
    vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment, // nonRepudiation
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ]
}

/// Istio root CA (root-ca.conf): O=Istio CN=Root CA, critical CA:true, subjectKeyIdentifier,
/// critical keyUsage digitalSignature, nonRepudiation, keyEncipherment, keyCertSign.
fn istio_root_profile(serial_no: u64) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, "Istio"),
            (DnType::CommonName, "Root CA"),
        ],
        true,
    );
    p.use_authority_key_identifier_extension = false; // self-signed
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = istio_ca_key_usages();
    p
}

/// Istio per-cluster intermediate (cluster-ca.conf): O=Istio CN=Intermediate CA L=<cluster>,
/// critical CA:true pathlen:0, keyUsage as the root, SAN `istiod.istio-system.svc`.
fn istio_intermediate_profile(serial_no: u64, cluster: &str) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (DnType::OrganizationName, "Istio"),
            (DnType::CommonName, "Intermediate CA"),
            (DnType::LocalityName, cluster),
        ],
        true,
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = istio_ca_key_usages();
    p.subject_alt_names = dns_sans(&["istiod.istio-system.svc"]);
    p
}

/// An unrelated CA that appears in no secret (defect `wrong-issuer`).
fn other_ca_profile(serial_no: u64) -> CertificateParams {
    let mut p = base_profile(
        serial_no,
        &[
            (
                DnType::OrganizationName,
                "Unrelated Org (trustkeep test fixtures)",
            ),
            (DnType::CommonName, "other-ca"),
        ],
        true,
    );
    p.use_authority_key_identifier_extension = false;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

// ---------------------------------------------------------------------------------------
// Issuing
// ---------------------------------------------------------------------------------------

/// A certificate that signs others, with its key.
struct Authority {
    params: CertificateParams,
    key: FixtureSigner,
    cert_pem: String,
}

impl Authority {
    fn self_signed(params: CertificateParams, key: &TestKey) -> Authority {
        let signer = key.signer();
        let cert_pem = params
            .self_signed(&signer)
            .expect("self-signing a CA")
            .pem();
        Authority {
            params,
            key: signer,
            cert_pem,
        }
    }

    fn signed_by(params: CertificateParams, key: &TestKey, parent: &Authority) -> Authority {
        let cert_pem = parent.issue(&params, key);
        Authority {
            params,
            key: key.signer(),
            cert_pem,
        }
    }

    fn issuer(&self) -> Issuer<'_, &FixtureSigner> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Signs a certificate for `subject`'s public key and returns it as PEM.
    fn issue(&self, params: &CertificateParams, subject: &TestKey) -> String {
        params
            .signed_by(&subject.public_key(), &self.issuer())
            .expect("signing a certificate")
            .pem()
    }
}

/// Signs a certificate with `ca_key` using sha1WithRSAEncryption (ring cannot sign with
/// SHA-1). `params` must not ask for an authority key identifier: rcgen makes a self-signed
/// template from them, and `openssl x509 -CA ... -preserve_dates` (OpenSSL 3.0 only re-signs
/// self-signed input) replaces its issuer, keeps dates and extensions, and adds the
/// authority key identifier from the CA's subject key identifier.
fn sign_with_sha1(
    params: &CertificateParams,
    subject: &TestKey,
    ca_cert_pem: &str,
    ca_key: &TestKey,
    serial_no: u64,
) -> String {
    assert!(
        !params.use_authority_key_identifier_extension,
        "openssl adds the AKI itself"
    );
    let cert_pem = params
        .self_signed(&subject.signer())
        .expect("self-signing the SHA-1 template")
        .pem();
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let cert = dir.path().join("cert.pem");
    let ca = dir.path().join("ca.pem");
    let key = dir.path().join("ca.key");
    let out = dir.path().join("out.pem");
    fs::write(&cert, &cert_pem).expect("writing a temporary file");
    fs::write(&ca, ca_cert_pem).expect("writing a temporary file");
    fs::write(&key, &ca_key.pkcs8_pem).expect("writing a temporary file");
    let status = Command::new("openssl")
        .args(["x509", "-sha1", "-preserve_dates"])
        .arg("-set_serial")
        .arg(format!("0x{serial_no:x}"))
        .arg("-in")
        .arg(&cert)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&key)
        .arg("-out")
        .arg(&out)
        .status()
        .expect("running `openssl x509` (is the openssl CLI installed?)");
    assert!(status.success(), "openssl x509 -sha1 re-signing failed");
    fs::read_to_string(&out).expect("reading the re-signed certificate")
}

/// Cuts a PEM in the middle of its base64 body: no END line, no trailing newline.
fn truncate_pem(pem: &str) -> String {
    let mut cut = pem.len() / 2;
    while !pem.as_bytes()[cut - 1].is_ascii_alphanumeric() || pem.as_bytes()[cut] == b'\n' {
        cut += 1;
    }
    pem[..cut].to_string()
}

// ---------------------------------------------------------------------------------------
// The material of one setup (what goes into the secrets)
// ---------------------------------------------------------------------------------------

/// Everything stored in the trust secrets of one management cluster and its workload clusters.
/// Defect cases clone the healthy material and change one thing.
#[derive(Clone, Default)]
struct Material {
    relay_root_cert: String,
    relay_root_key: String,
    relay_server_cert: String,
    relay_server_key: String,
    relay_signing_cert: String,
    relay_signing_key: String,
    istio_root_cert: String,
    istio_root_key: String,
    clusters: BTreeMap<String, ClusterMaterial>,
}

#[derive(Clone, Default)]
struct ClusterMaterial {
    /// `ca.crt` of the workload cluster's `relay-root-tls-secret`.
    relay_root_ca: String,
    /// `tls.crt` of `relay-client-tls-secret`: leaf, then the signing CA.
    client_cert_chain: String,
    client_key: String,
    /// `ca.crt` of `relay-client-tls-secret`.
    client_ca: String,
    istio_ca_cert: String,
    istio_ca_key: String,
    /// `root-cert.pem`, also the second half of `cert-chain.pem`.
    istio_root_cert: String,
}

impl Material {
    fn cluster(&mut self, cluster: &str) -> &mut ClusterMaterial {
        self.clusters.entry(cluster.to_string()).or_default()
    }
}

struct RelayPki {
    root: Authority,
    signing: Authority,
}

fn client_serial(cluster: &str) -> u64 {
    SERIAL_RELAY_CLIENT_BASE + cluster_index(cluster) as u64 + 1
}

/// Builds the relay PKI on `root_key` and stores its material (server, signing CA, clients).
fn build_relay(keys: &Keys, root_key: &TestKey, m: &mut Material) -> RelayPki {
    let root = Authority::self_signed(relay_root_profile(SERIAL_RELAY_ROOT), root_key);
    let signing = Authority::signed_by(
        relay_signing_profile(SERIAL_RELAY_SIGNING),
        &keys.relay_signing,
        &root,
    );
    m.relay_root_cert = root.cert_pem.clone();
    m.relay_root_key = root_key.secret_pem(KeyEncoding::Pkcs8);
    m.relay_server_cert = root.issue(
        &relay_server_profile(SERIAL_RELAY_SERVER),
        &keys.relay_server,
    );
    m.relay_server_key = keys.relay_server.secret_pem(KeyEncoding::Pkcs8);
    m.relay_signing_cert = signing.cert_pem.clone();
    m.relay_signing_key = keys.relay_signing.secret_pem(KeyEncoding::Pkcs8);
    for cluster in WORKLOAD_CLUSTERS {
        let key = keys.relay_client(cluster);
        let leaf = signing.issue(&relay_client_profile(client_serial(cluster), cluster), key);
        let c = m.cluster(cluster);
        c.client_cert_chain = format!("{leaf}{}", signing.cert_pem);
        c.client_key = key.secret_pem(KeyEncoding::Pkcs8);
        c.client_ca = root.cert_pem.clone();
        c.relay_root_ca = root.cert_pem.clone();
    }
    RelayPki { root, signing }
}

/// Builds the Istio root and the per-cluster intermediates (cacerts).
fn build_istio(keys: &Keys, m: &mut Material) {
    let root = Authority::self_signed(istio_root_profile(SERIAL_ISTIO_ROOT), &keys.istio_root);
    m.istio_root_cert = root.cert_pem.clone();
    m.istio_root_key = keys.istio_root.secret_pem(KeyEncoding::Traditional);
    for cluster in WORKLOAD_CLUSTERS {
        let serial_no = SERIAL_ISTIO_INTERMEDIATE_BASE + cluster_index(cluster) as u64 + 1;
        let key = keys.istio_intermediate(cluster);
        let cert = root.issue(&istio_intermediate_profile(serial_no, cluster), key);
        let c = m.cluster(cluster);
        c.istio_ca_cert = cert;
        c.istio_ca_key = key.secret_pem(KeyEncoding::Traditional);
        c.istio_root_cert = root.cert_pem.clone();
    }
}

/// What defect builders may reuse from the healthy setup.
struct Ctx<'a> {
    keys: &'a Keys,
    relay: &'a RelayPki,
}

// ---------------------------------------------------------------------------------------
// Defect cases
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Severity {
    Error,
    Warning,
}

/// One `fixtures/defects/<dir>/` pair: healthy material with exactly one change.
struct DefectCase {
    dir: &'static str,
    /// File of the pair that holds the defect.
    file: &'static str,
    /// `namespace/name` of the defective secret.
    secret: &'static str,
    /// Data key(s) of that secret holding the defect.
    data_key: &'static str,
    severity: Severity,
    problem: &'static str,
    /// Turns healthy material into the defective one; `serial` is the first free serial.
    apply: fn(&Ctx, &mut Material, u64),
}

const DEFECTS: &[DefectCase] = &[
    DefectCase {
        dir: "expired",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "relay server certificate expired: notAfter 2026-06-01T00:00:00Z",
        apply: defect_expired,
    },
    DefectCase {
        dir: "not-yet-valid",
        file: "cluster-1.yaml",
        secret: "gloo-mesh/relay-client-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "cluster-1 relay client certificate not yet valid: notBefore 2027-06-01T00:00:00Z",
        apply: defect_not_yet_valid,
    },
    DefectCase {
        dir: "expiring-soon",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Warning,
        problem: "relay server certificate expires within 30 days: notAfter 2026-12-15T00:00:00Z (still valid)",
        apply: defect_expiring_soon,
    },
    DefectCase {
        dir: "wrong-issuer",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "relay server certificate issued by `CN=other-ca` (a CA in no secret), not by the relay root in ca.crt",
        apply: defect_wrong_issuer,
    },
    DefectCase {
        dir: "key-mismatch",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.key",
        severity: Severity::Error,
        problem: "tls.key is another P-256 key: it does not match the public key of tls.crt",
        apply: defect_key_mismatch,
    },
    DefectCase {
        dir: "wrong-san",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "relay server certificate SAN is only `mgmt.example.com` (expected DNS `*.gloo-mesh`)",
        apply: defect_wrong_san,
    },
    DefectCase {
        dir: "signing-not-ca",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-tls-signing-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "relay signing certificate is CA:FALSE without keyCertSign, yet it signed cluster-1's client certificate (so cluster-1's chain is invalid too)",
        apply: defect_signing_not_ca,
    },
    DefectCase {
        dir: "root-trust-key-mismatch",
        file: "mgmt.yaml",
        secret: "gloo-mesh/root-trust-policy.gloo-mesh",
        data_key: "key.pem",
        severity: Severity::Error,
        problem: "key.pem is a different RSA 4096 key: it does not match root-cert.pem",
        apply: defect_root_trust_key_mismatch,
    },
    DefectCase {
        dir: "truncated-pem",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "tls.crt is cut in half in the middle of the base64 body: no END line, not a certificate",
        apply: defect_truncated_pem,
    },
    DefectCase {
        dir: "foreign-intermediate",
        file: "cluster-1.yaml",
        secret: "istio-system/cacerts",
        data_key: "ca-cert.pem, root-cert.pem, cert-chain.pem",
        severity: Severity::Error,
        problem: "cluster-1 Istio intermediate is signed by a second Istio root (same subject `O=Istio, CN=Root CA`, other key). root-cert.pem and cert-chain.pem hold that root, so the cluster-local chain verifies, but it does not chain to mgmt's root-trust root-cert.pem: no federated trust",
        apply: defect_foreign_intermediate,
    },
    DefectCase {
        dir: "agent-san-mismatch",
        file: "cluster-1.yaml",
        secret: "gloo-mesh/relay-client-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "cluster-1 relay client certificate SAN is `cluster-2` (must equal the cluster name `cluster-1`; subject CN is still `cluster-1`)",
        apply: defect_agent_san_mismatch,
    },
    DefectCase {
        dir: "weak-key",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt, tls.key",
        severity: Severity::Error,
        problem: "relay server key is RSA 1024 bits (too weak); the certificate is otherwise valid and signed by the relay root",
        apply: defect_weak_key,
    },
    DefectCase {
        dir: "sha1-signature",
        file: "mgmt.yaml",
        secret: "gloo-mesh/relay-server-tls-secret",
        data_key: "tls.crt",
        severity: Severity::Error,
        problem: "relay server certificate signed with sha1WithRSAEncryption. In this pair the whole relay PKI uses an RSA 2048 root (needed to sign with SHA-1); everything else is SHA-256 and consistent",
        apply: defect_sha1_signature,
    },
    DefectCase {
        dir: "relay-root-mismatch",
        file: "cluster-1.yaml",
        secret: "gloo-mesh/relay-root-tls-secret",
        data_key: "ca.crt",
        severity: Severity::Error,
        problem: "cluster-1's relay root copy is a different root (same subject `CN=relay-root-ca`, other key) than mgmt's relay-root-tls-secret; relay-client-tls-secret's ca.crt is still the right root",
        apply: defect_relay_root_mismatch,
    },
];

fn reissue_server(ctx: &Ctx, m: &mut Material, params: CertificateParams) {
    m.relay_server_cert = ctx.relay.root.issue(&params, &ctx.keys.relay_server);
}

fn reissue_cluster1_client(
    ctx: &Ctx,
    m: &mut Material,
    signing: &Authority,
    params: CertificateParams,
) {
    let leaf = signing.issue(&params, ctx.keys.relay_client("cluster-1"));
    m.cluster("cluster-1").client_cert_chain = format!("{leaf}{}", signing.cert_pem);
}

fn defect_expired(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_server_profile(serial_no);
    set_validity(&mut p, LEAF_NOT_BEFORE, EXPIRED_NOT_AFTER);
    reissue_server(ctx, m, p);
}

fn defect_not_yet_valid(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_client_profile(serial_no, "cluster-1");
    set_validity(&mut p, NOT_YET_VALID_NOT_BEFORE, LEAF_NOT_AFTER);
    reissue_cluster1_client(ctx, m, &ctx.relay.signing, p);
}

fn defect_expiring_soon(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_server_profile(serial_no);
    set_validity(&mut p, LEAF_NOT_BEFORE, EXPIRING_SOON_NOT_AFTER);
    reissue_server(ctx, m, p);
}

fn defect_wrong_issuer(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let other = Authority::self_signed(other_ca_profile(serial_no), &ctx.keys.other_ca);
    m.relay_server_cert = other.issue(&relay_server_profile(serial_no + 1), &ctx.keys.relay_server);
}

fn defect_key_mismatch(ctx: &Ctx, m: &mut Material, _serial_no: u64) {
    m.relay_server_key = ctx.keys.unrelated_p256.secret_pem(KeyEncoding::Pkcs8);
}

fn defect_wrong_san(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_server_profile(serial_no);
    p.subject_alt_names = dns_sans(&["mgmt.example.com"]);
    reissue_server(ctx, m, p);
}

fn defect_signing_not_ca(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_signing_profile(serial_no);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let not_ca = Authority::signed_by(p, &ctx.keys.relay_signing, &ctx.relay.root);
    m.relay_signing_cert = not_ca.cert_pem.clone();
    reissue_cluster1_client(
        ctx,
        m,
        &not_ca,
        relay_client_profile(serial_no + 1, "cluster-1"),
    );
}

fn defect_root_trust_key_mismatch(ctx: &Ctx, m: &mut Material, _serial_no: u64) {
    m.istio_root_key = ctx
        .keys
        .istio_root_foreign
        .secret_pem(KeyEncoding::Traditional);
}

fn defect_truncated_pem(_ctx: &Ctx, m: &mut Material, _serial_no: u64) {
    m.relay_server_cert = truncate_pem(&m.relay_server_cert);
}

fn defect_foreign_intermediate(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let foreign =
        Authority::self_signed(istio_root_profile(serial_no), &ctx.keys.istio_root_foreign);
    let key = ctx.keys.istio_intermediate("cluster-1");
    let cert = foreign.issue(&istio_intermediate_profile(serial_no + 1, "cluster-1"), key);
    let c = m.cluster("cluster-1");
    c.istio_ca_cert = cert;
    c.istio_root_cert = foreign.cert_pem.clone();
}

fn defect_agent_san_mismatch(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let mut p = relay_client_profile(serial_no, "cluster-1");
    p.subject_alt_names = dns_sans(&["cluster-2"]);
    reissue_cluster1_client(ctx, m, &ctx.relay.signing, p);
}

fn defect_weak_key(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    m.relay_server_cert = ctx
        .relay
        .root
        .issue(&relay_server_profile(serial_no), &ctx.keys.weak_rsa1024);
    m.relay_server_key = ctx.keys.weak_rsa1024.secret_pem(KeyEncoding::Pkcs8);
}

fn defect_sha1_signature(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let rsa_relay = build_relay(ctx.keys, &ctx.keys.relay_root_rsa, m);
    let mut p = relay_server_profile(serial_no);
    p.use_authority_key_identifier_extension = false; // added by openssl
    m.relay_server_cert = sign_with_sha1(
        &p,
        &ctx.keys.relay_server,
        &rsa_relay.root.cert_pem,
        &ctx.keys.relay_root_rsa,
        serial_no,
    );
}

fn defect_relay_root_mismatch(ctx: &Ctx, m: &mut Material, serial_no: u64) {
    let other_root =
        Authority::self_signed(relay_root_profile(serial_no), &ctx.keys.relay_root_other);
    m.cluster("cluster-1").relay_root_ca = other_root.cert_pem.clone();
}

// ---------------------------------------------------------------------------------------
// Kubernetes objects
// ---------------------------------------------------------------------------------------

/// A stable pseudo-random UUID (version-4 layout) for an object.
fn uid_for(cluster: &str, kind: &str, namespace: &str, name: &str) -> String {
    let h = Sha256::digest(format!(
        "trustkeep-fixture/{cluster}/{kind}/{namespace}/{name}"
    ));
    let mut b: [u8; 16] = h[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A stable resourceVersion for an object.
fn resource_version_for(uid: &str) -> String {
    let h = Sha256::digest(uid.as_bytes());
    let n = u32::from_be_bytes(h[..4].try_into().expect("4 bytes"));
    (100_000 + n % 900_000).to_string()
}

fn base64(bytes: &[u8]) -> String {
    match serde_json::to_value(ByteString(bytes.to_vec())) {
        Ok(Value::String(s)) => s,
        other => panic!("ByteString did not serialize to a string: {other:?}"),
    }
}

struct OwnerRef {
    api_version: &'static str,
    kind: &'static str,
    name: &'static str,
    uid: String,
}

/// A Secret as the API server returns it.
struct SecretSpec {
    cluster: &'static str,
    namespace: &'static str,
    name: &'static str,
    type_: &'static str,
    data: Vec<(&'static str, Vec<u8>)>,
    labels: Vec<(&'static str, &'static str)>,
    annotations: Vec<(&'static str, &'static str)>,
    owner: Option<OwnerRef>,
    manager: &'static str,
    created: &'static str,
}

impl SecretSpec {
    fn new(
        cluster: &'static str,
        namespace: &'static str,
        name: &'static str,
        type_: &'static str,
        manager: &'static str,
        created: &'static str,
    ) -> SecretSpec {
        SecretSpec {
            cluster,
            namespace,
            name,
            type_,
            data: Vec::new(),
            labels: Vec::new(),
            annotations: Vec::new(),
            owner: None,
            manager,
            created,
        }
    }

    fn data(mut self, key: &'static str, value: impl AsRef<[u8]>) -> Self {
        self.data.push((key, value.as_ref().to_vec()));
        self
    }

    fn label(mut self, key: &'static str, value: &'static str) -> Self {
        self.labels.push((key, value));
        self
    }

    fn annotation(mut self, key: &'static str, value: &'static str) -> Self {
        self.annotations.push((key, value));
        self
    }

    fn helm_managed(self) -> Self {
        self.label("app.kubernetes.io/managed-by", "Helm")
            .annotation("meta.helm.sh/release-name", "gloo-platform")
            .annotation("meta.helm.sh/release-namespace", "gloo-mesh")
    }

    fn owned_by(mut self, owner: OwnerRef) -> Self {
        self.owner = Some(owner);
        self
    }

    fn uid(&self) -> String {
        uid_for(self.cluster, "Secret", self.namespace, self.name)
    }

    /// A short `managedFields` entry listing the fields this object sets.
    fn managed_fields(&self) -> Value {
        let keys = |prefix: &str, names: Vec<String>| -> Value {
            let mut m = Map::new();
            m.insert(".".to_string(), json!({}));
            for n in names {
                m.insert(format!("{prefix}{n}"), json!({}));
            }
            Value::Object(m)
        };
        let mut fields = Map::new();
        if !self.data.is_empty() {
            let names = self.data.iter().map(|(k, _)| k.to_string()).collect();
            fields.insert("f:data".to_string(), keys("f:", names));
        }
        let mut meta = Map::new();
        if !self.labels.is_empty() {
            let names = self.labels.iter().map(|(k, _)| k.to_string()).collect();
            meta.insert("f:labels".to_string(), keys("f:", names));
        }
        if !self.annotations.is_empty() {
            let names = self
                .annotations
                .iter()
                .map(|(k, _)| k.to_string())
                .collect();
            meta.insert("f:annotations".to_string(), keys("f:", names));
        }
        if let Some(owner) = &self.owner {
            let key = format!("k:{{\"uid\":\"{}\"}}", owner.uid);
            meta.insert("f:ownerReferences".to_string(), keys("", vec![key]));
        }
        if !meta.is_empty() {
            fields.insert("f:metadata".to_string(), Value::Object(meta));
        }
        fields.insert("f:type".to_string(), json!({}));
        json!([{
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
            "manager": self.manager,
            "operation": "Update",
            "time": self.created,
        }])
    }

    fn to_value(&self) -> Value {
        let uid = self.uid();
        let mut metadata = json!({
            "creationTimestamp": self.created,
            "managedFields": self.managed_fields(),
            "name": self.name,
            "namespace": self.namespace,
            "resourceVersion": resource_version_for(&uid),
            "uid": uid,
        });
        let meta = metadata.as_object_mut().expect("metadata is an object");
        if !self.labels.is_empty() {
            let labels: Map<String, Value> = self
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            meta.insert("labels".to_string(), Value::Object(labels));
        }
        if !self.annotations.is_empty() {
            let annotations: Map<String, Value> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            meta.insert("annotations".to_string(), Value::Object(annotations));
        }
        if let Some(owner) = &self.owner {
            meta.insert(
                "ownerReferences".to_string(),
                json!([{
                    "apiVersion": owner.api_version,
                    "blockOwnerDeletion": true,
                    "controller": true,
                    "kind": owner.kind,
                    "name": owner.name,
                    "uid": owner.uid,
                }]),
            );
        }
        let data: Map<String, Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(base64(v))))
            .collect();
        json!({
            "apiVersion": "v1",
            "data": data,
            "kind": "Secret",
            "metadata": metadata,
            "type": self.type_,
        })
    }
}

fn root_trust_policy_uid() -> String {
    uid_for(
        MGMT_CLUSTER,
        "RootTrustPolicy",
        "gloo-mesh",
        ROOT_TRUST_POLICY_NAME,
    )
}

/// The RootTrustPolicy of the management cluster (a separate YAML document in mgmt.yaml).
fn root_trust_policy() -> Value {
    let uid = root_trust_policy_uid();
    json!({
        "apiVersion": "admin.gloo.solo.io/v2",
        "kind": "RootTrustPolicy",
        "metadata": {
            "creationTimestamp": "2026-01-01T00:04:00Z",
            "generation": 1,
            "name": ROOT_TRUST_POLICY_NAME,
            "namespace": "gloo-mesh",
            "resourceVersion": resource_version_for(&uid),
            "uid": uid,
        },
        "spec": {
            "config": {
                "autoRestartPods": true,
                "mgmtServerCa": { "generated": {} },
            },
        },
    })
}

/// A Helm v3 release payload: base64(gzip(JSON)), as Helm stores it in `data.release`.
fn helm_release_payload() -> Vec<u8> {
    let release = json!({
        "name": "gloo-platform",
        "namespace": "gloo-mesh",
        "version": 1,
        "info": { "status": "deployed", "description": "Install complete" },
        "chart": { "metadata": { "name": "gloo-platform", "version": "2.7.0" } },
        "config": { "note": "trustkeep test fixture, not a real release" },
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes())
        .expect("gzip in memory");
    base64(&gz.finish().expect("gzip in memory")).into_bytes()
}

/// The licence value in the sample's Helm releases: obviously fake.
const SAMPLE_LICENSE: &str = "FAKE-LICENSE-trustkeep-sample-not-a-real-license-key";

/// The chart defaults a gloo-platform release stores (`chart.values`), reduced to what
/// `trustkeep discover` reads: every component off, the default relay secret names.
fn gloo_platform_defaults() -> Value {
    json!({
        "common": { "cluster": "" },
        "licensing": { "glooMeshLicenseKey": "" },
        "glooMgmtServer": { "enabled": false, "relay": {
            "tlsSecret": { "name": "relay-server-tls-secret" },
            "signingTlsSecret": { "name": "relay-tls-signing-secret" },
            "rootTlsSecret": { "name": "relay-root-tls-secret" },
            "tokenSecret": { "name": "relay-identity-token-secret", "namespace": "", "key": "token" },
            "disableCa": false, "disableCaCertGeneration": false, "disableTokenGeneration": false,
        }},
        "glooAgent": { "enabled": false, "relay": {
            "clientTlsSecret": { "name": "relay-client-tls-secret" },
            "rootTlsSecret": { "name": "relay-root-tls-secret" },
            "tokenSecret": { "name": "relay-identity-token-secret", "namespace": "", "key": "token" },
            "serverAddress": "",
        }},
        "telemetryGateway": { "enabled": false },
    })
}

/// A default-install Helm v3 release of gloo-platform named `release` in `gloo-mesh`, with
/// the user's values `config`: base64(gzip(JSON)), as Helm stores it in `data.release`.
fn sample_release_payload(release: &str, config: Value) -> Vec<u8> {
    let release = json!({
        "name": release,
        "namespace": "gloo-mesh",
        "version": 1,
        "info": { "status": "deployed", "description": "Install complete" },
        "chart": {
            "metadata": { "name": "gloo-platform", "version": "2.7.0" },
            "values": gloo_platform_defaults(),
        },
        "config": config,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes())
        .expect("gzip in memory");
    base64(&gz.finish().expect("gzip in memory")).into_bytes()
}

/// The sample's management cluster: its secrets, with the Helm release holding the values of
/// a default install (`glooMgmtServer.enabled`, the fake licence) instead of the placeholder
/// the defects and malformed fixtures keep.
fn sample_mgmt_secrets(m: &Material) -> Vec<SecretSpec> {
    let config = json!({
        "common": { "cluster": MGMT_CLUSTER },
        "licensing": { "glooMeshLicenseKey": SAMPLE_LICENSE },
        "glooMgmtServer": { "enabled": true },
    });
    mgmt_secrets(m)
        .into_iter()
        .map(|mut s| {
            if s.type_ == "helm.sh/release.v1" {
                s.data = vec![(
                    "release",
                    sample_release_payload("gloo-platform", config.clone()),
                )];
            }
            s
        })
        .collect()
}

/// The sample's workload cluster `cluster`: its secrets and the agent's Helm release
/// `gloo-agent` (default install: `glooAgent.enabled`, the relay server address).
fn sample_cluster_secrets(m: &Material, cluster: &'static str) -> Vec<SecretSpec> {
    let config = json!({
        "common": { "cluster": cluster },
        "licensing": { "glooMeshLicenseKey": SAMPLE_LICENSE },
        "glooAgent": { "enabled": true, "relay": { "serverAddress": "gloo-mesh-mgmt-server.example:9900" } },
    });
    let mut specs = cluster_secrets(m, cluster);
    specs.push(
        SecretSpec::new(
            cluster,
            "gloo-mesh",
            "sh.helm.release.v1.gloo-agent.v1",
            "helm.sh/release.v1",
            "helm",
            "2026-01-01T00:08:30Z",
        )
        .label("modifiedAt", "1767226110")
        .label("name", "gloo-agent")
        .label("owner", "helm")
        .label("status", "deployed")
        .label("version", "1")
        .data("release", sample_release_payload("gloo-agent", config)),
    );
    specs
}

/// A Gloo Deployment as `kubectl get deployment -o yaml` prints it, reduced: its pods' `app`
/// label and, for the management server, the licence secret it reads (no relay secret is
/// referenced from the pod template).
fn gloo_deployment(cluster: &str, name: &str, created: &str, license: bool) -> Value {
    let uid = uid_for(cluster, "Deployment", "gloo-mesh", name);
    let mut container = json!({
        "name": name,
        "image": format!("gcr.io/gloo-mesh/{name}:2.7.0"),
        "args": ["--verbose=false"],
    });
    if license {
        container["env"] = json!([{
            "name": "LICENSE_KEY",
            "valueFrom": { "secretKeyRef": { "name": "gloo-mesh-enterprise-license", "key": "gloo-mesh-license-key" } },
        }]);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "creationTimestamp": created,
            "labels": { "app": name, "app.kubernetes.io/managed-by": "Helm" },
            "name": name,
            "namespace": "gloo-mesh",
            "resourceVersion": resource_version_for(&uid),
            "uid": uid,
        },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [container], "serviceAccountName": name },
            },
        },
    })
}

/// Secrets of the management cluster: the five trust secrets and three unrelated ones.
fn mgmt_secrets(m: &Material) -> Vec<SecretSpec> {
    let mgmt = MGMT_CLUSTER;
    let mgmt_server = "gloo-mesh-mgmt-server";
    vec![
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "relay-root-tls-secret",
            TYPE_OPAQUE,
            mgmt_server,
            "2026-01-01T00:02:10Z",
        )
        .label("app", "gloo-mesh-mgmt-server")
        .annotation("kubernetes.io/description", "Gloo Mesh relay root CA")
        .data("ca.crt", &m.relay_root_cert)
        .data("tls.crt", &m.relay_root_cert)
        .data("tls.key", &m.relay_root_key),
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "relay-server-tls-secret",
            TYPE_TLS,
            mgmt_server,
            "2026-01-01T00:02:11Z",
        )
        .label("app", "gloo-mesh-mgmt-server")
        .data("ca.crt", &m.relay_root_cert)
        .data("tls.crt", &m.relay_server_cert)
        .data("tls.key", &m.relay_server_key),
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "relay-tls-signing-secret",
            TYPE_TLS,
            mgmt_server,
            "2026-01-01T00:02:11Z",
        )
        .label("app", "gloo-mesh-mgmt-server")
        .data("ca.crt", &m.relay_root_cert)
        .data("tls.crt", &m.relay_signing_cert)
        .data("tls.key", &m.relay_signing_key),
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "relay-identity-token-secret",
            TYPE_OPAQUE,
            "helm",
            "2026-01-01T00:01:30Z",
        )
        .helm_managed()
        .data("token", RELAY_TOKEN),
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            ROOT_TRUST_SECRET_NAME,
            TYPE_GENERATED_SIGNING_CERT,
            mgmt_server,
            "2026-01-01T00:04:02Z",
        )
        .label("app", "gloo-mesh-mgmt-server")
        .owned_by(OwnerRef {
            api_version: "admin.gloo.solo.io/v2",
            kind: "RootTrustPolicy",
            name: ROOT_TRUST_POLICY_NAME,
            uid: root_trust_policy_uid(),
        })
        .data("key.pem", &m.istio_root_key)
        .data("root-cert.pem", &m.istio_root_cert),
        // Unrelated secrets: a tool must not select these.
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "gloo-mesh-enterprise-license",
            TYPE_OPAQUE,
            "helm",
            "2026-01-01T00:01:30Z",
        )
        .helm_managed()
        .data(
            "gloo-mesh-license-key",
            "FAKE-LICENSE-trustkeep-test-fixture-not-a-real-license",
        ),
        SecretSpec::new(
            mgmt,
            "gloo-mesh",
            "sh.helm.release.v1.gloo-platform.v1",
            "helm.sh/release.v1",
            "helm",
            "2026-01-01T00:01:29Z",
        )
        .label("modifiedAt", "1767225689")
        .label("name", "gloo-platform")
        .label("owner", "helm")
        .label("status", "deployed")
        .label("version", "1")
        .data("release", helm_release_payload()),
        SecretSpec::new(
            mgmt,
            "default",
            "db-password",
            TYPE_OPAQUE,
            "kubectl-create",
            "2026-01-01T00:00:45Z",
        )
        .label("app", "orders-db")
        .data("password", "not-a-trust-secret-test-only"),
    ]
}

/// Secrets of one workload cluster: the four trust secrets and one unrelated one.
fn cluster_secrets(m: &Material, cluster: &'static str) -> Vec<SecretSpec> {
    let c = m
        .clusters
        .get(cluster)
        .unwrap_or_else(|| panic!("no material for {cluster}"));
    let cert_chain = format!("{}{}", c.istio_ca_cert, c.istio_root_cert);
    let unrelated = match cluster {
        "cluster-1" => SecretSpec::new(
            cluster,
            "default",
            "app-api-key",
            TYPE_OPAQUE,
            "kubectl-create",
            "2026-01-01T00:20:00Z",
        )
        .label("app", "frontend")
        .data("api-key", "not-a-trust-secret-test-only"),
        _ => SecretSpec::new(
            cluster,
            "default",
            "registry-pull-secret",
            "kubernetes.io/dockerconfigjson",
            "kubectl-create",
            "2026-01-01T00:20:00Z",
        )
        .data(
            ".dockerconfigjson",
            r#"{"auths":{"registry.example.com":{"auth":"dGVzdC1vbmx5OnRlc3Qtb25seQ=="}}}"#,
        ),
    };
    vec![
        SecretSpec::new(
            cluster,
            "gloo-mesh",
            "relay-client-tls-secret",
            TYPE_TLS,
            "gloo-mesh-agent",
            "2026-01-01T00:10:05Z",
        )
        .label("app", "gloo-mesh-agent")
        .data("ca.crt", &c.client_ca)
        .data("tls.crt", &c.client_cert_chain)
        .data("tls.key", &c.client_key),
        SecretSpec::new(
            cluster,
            "gloo-mesh",
            "relay-root-tls-secret",
            TYPE_OPAQUE,
            "kubectl-create",
            "2026-01-01T00:09:00Z",
        )
        .data("ca.crt", &c.relay_root_ca),
        SecretSpec::new(
            cluster,
            "gloo-mesh",
            "relay-identity-token-secret",
            TYPE_OPAQUE,
            "kubectl-create",
            "2026-01-01T00:09:01Z",
        )
        .data("token", RELAY_TOKEN),
        SecretSpec::new(
            cluster,
            "istio-system",
            "cacerts",
            TYPE_ISSUED_CERTIFICATE,
            "gloo-mesh-agent",
            "2026-01-01T00:12:30Z",
        )
        .label("agent.certificates.mesh.gloo.solo.io", "gloo-mesh")
        .label("cluster.multicluster.solo.io", "")
        .data("ca-cert.pem", &c.istio_ca_cert)
        .data("ca-key.pem", &c.istio_ca_key)
        .data("cert-chain.pem", cert_chain)
        .data("key.pem", "")
        .data("root-cert.pem", &c.istio_root_cert),
        unrelated,
    ]
}

/// Sorted like `kubectl get secret -A` (namespace, then name).
fn sorted_values(specs: &[SecretSpec]) -> Vec<Value> {
    let mut sorted: Vec<&SecretSpec> = specs.iter().collect();
    sorted.sort_by_key(|s| (s.namespace, s.name));
    sorted.iter().map(|s| s.to_value()).collect()
}

/// What `kubectl get ... -o yaml|json` prints for several objects.
fn kube_list(items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": { "resourceVersion": "" },
    })
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn yaml_docs(docs: &[Value]) -> String {
    // One line per value, like kubectl (no folded `>` blocks for long base64 strings).
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_multiple_with_options(docs, options).expect("serializing YAML")
}

fn kubectl_json(value: &Value) -> String {
    // kubectl indents JSON with four spaces.
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).expect("serializing JSON");
    out.push(b'\n');
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// `mgmt.yaml`: the secret List, then the RootTrustPolicy as a second document.
fn mgmt_yaml(m: &Material) -> String {
    yaml_docs(&[
        kube_list(sorted_values(&mgmt_secrets(m))),
        root_trust_policy(),
    ])
}

fn cluster_yaml(m: &Material, cluster: &'static str) -> String {
    yaml_docs(&[kube_list(sorted_values(&cluster_secrets(m, cluster)))])
}

/// The sample: secrets with real Helm releases, the RootTrustPolicy (management), and the
/// Gloo Deployments as a last document (`kubectl get deployment -n gloo-mesh -o yaml`).
fn write_sample(dir: &Path, m: &Material) {
    let mgmt = yaml_docs(&[
        kube_list(sorted_values(&sample_mgmt_secrets(m))),
        root_trust_policy(),
        kube_list(vec![gloo_deployment(
            MGMT_CLUSTER,
            "gloo-mesh-mgmt-server",
            "2026-01-01T00:01:31Z",
            true,
        )]),
    ]);
    write_file(&dir.join("mgmt.yaml"), mgmt);
    for cluster in WORKLOAD_CLUSTERS {
        let docs = yaml_docs(&[
            kube_list(sorted_values(&sample_cluster_secrets(m, cluster))),
            kube_list(vec![gloo_deployment(
                cluster,
                "gloo-mesh-agent",
                "2026-01-01T00:08:31Z",
                false,
            )]),
        ]);
        write_file(&dir.join(format!("{cluster}.yaml")), docs);
    }
    let gloo_mesh_only: Vec<SecretSpec> = sample_mgmt_secrets(m)
        .into_iter()
        .filter(|s| s.namespace == "gloo-mesh")
        .collect();
    write_file(
        &dir.join("mgmt.json"),
        kubectl_json(&kube_list(sorted_values(&gloo_mesh_only))),
    );
}

/// What the seed's manual procedure (`kubectl get secret -o jsonpath=... | base64 --decode`)
/// writes for the sample management cluster.
fn write_seed_manual(dir: &Path, m: &Material) {
    let files = [
        ("relay-server-tls-secret/ca.crt", &m.relay_root_cert),
        ("relay-server-tls-secret/tls.key", &m.relay_server_key),
        ("relay-tls-signing-secret/ca.crt", &m.relay_root_cert),
        ("relay-tls-signing-secret/tls.key", &m.relay_signing_key),
        ("root-trust.root-trust-policy/ca.crt", &m.istio_root_cert),
        ("root-trust.root-trust-policy/tls.key", &m.istio_root_key),
    ];
    for (path, contents) in files {
        write_file(&dir.join(path), contents);
    }
}

fn write_defects(dir: &Path, ctx: &Ctx, healthy: &Material) {
    for (index, case) in DEFECTS.iter().enumerate() {
        let mut m = healthy.clone();
        (case.apply)(ctx, &mut m, DEFECT_SERIAL_BASE + 0x10 * index as u64);
        let case_dir = dir.join(case.dir);
        write_file(&case_dir.join("mgmt.yaml"), mgmt_yaml(&m));
        write_file(
            &case_dir.join("cluster-1.yaml"),
            cluster_yaml(&m, "cluster-1"),
        );
    }
}

const NOT_YAML: &str = "apiVersion: v1
items:
- apiVersion: v1
  data:
    ca.crt: \"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
  kind: Secret
   metadata: {name: relay-server-tls-secret, namespace: [gloo-mesh
  type: kubernetes.io/tls
kind: List
";

const BAD_PEM: &str = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
const BAD_BASE64: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t!!not*base64%%=";

fn sample_server_secret(m: &Material) -> Value {
    sorted_values(&mgmt_secrets(m))
        .into_iter()
        .find(|s| s["metadata"]["name"] == "relay-server-tls-secret")
        .expect("sample has relay-server-tls-secret")
}

fn server_secret_with_tls_crt(tls_crt: Value, m: &Material) -> Value {
    let mut secret = sample_server_secret(m);
    secret["data"]["tls.crt"] = tls_crt;
    secret
}

fn write_malformed(dir: &Path, m: &Material) {
    write_file(&dir.join("not-yaml.yaml"), NOT_YAML);
    let bad_base64 = server_secret_with_tls_crt(json!(BAD_BASE64), m);
    write_file(
        &dir.join("bad-base64.yaml"),
        yaml_docs(&[kube_list(vec![bad_base64])]),
    );
    let bad_pem = server_secret_with_tls_crt(json!(base64(BAD_PEM.as_bytes())), m);
    write_file(
        &dir.join("bad-pem.yaml"),
        yaml_docs(&[kube_list(vec![bad_pem])]),
    );
    write_file(
        &dir.join("single-secret.yaml"),
        yaml_docs(&[sample_server_secret(m)]),
    );
    write_file(
        &dir.join("multi-doc.yaml"),
        yaml_docs(&sorted_values(&mgmt_secrets(m))),
    );
}

/// Removes the generated directories so renamed or dropped cases leave nothing stale.
/// `keys/` is kept: it is the input.
fn clean_outputs(root: &Path) {
    for sub in ["sample", "seed-manual", "defects", "malformed"] {
        let path = root.join(sub);
        if path.exists() {
            fs::remove_dir_all(&path)
                .unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// README
// ---------------------------------------------------------------------------------------

fn readme(keys: &Keys) -> String {
    let mut s = String::new();
    s.push_str(README_HEAD);

    s.push_str("\n## Keys (`keys/`)\n\n");
    s.push_str("| file | algorithm | used for |\n|---|---|---|\n");
    for key in keys.all() {
        s.push_str(&format!(
            "| `keys/{}` | {} | {} |\n",
            key.file(),
            key.kind.describe(),
            key.used_for
        ));
    }

    s.push_str(README_FILES);

    s.push_str(
        "\n## Defect pairs (`defects/<case>/mgmt.yaml` + `defects/<case>/cluster-1.yaml`)\n\n",
    );
    s.push_str(
        "Each pair is the sample's `mgmt.yaml` and `cluster-1.yaml` with exactly one change; \
         everything else is healthy and byte-identical to the sample (same certificates, \
         keys and metadata). A tool auditing the pair should report exactly the problem \
         below (plus, where noted, its direct consequence) and nothing else.\n\n",
    );
    s.push_str("| case | file | secret | data key | severity | what a tool should find |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for case in DEFECTS {
        let severity = match case.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        s.push_str(&format!(
            "| `{}` | `{}` | `{}` | `{}` | {} | {} |\n",
            case.dir, case.file, case.secret, case.data_key, severity, case.problem,
        ));
    }
    s.push_str(README_TAIL);
    s
}

const README_HEAD: &str = r#"# trustkeep test fixtures

> **Every private key in this directory is TEST-ONLY and PUBLIC.** The keys under `keys/`
> and every `tls.key`, `ca-key.pem`, `key.pem` inside the YAML/JSON files were generated for
> these tests and are committed to a public repository. Never use them, or certificates made
> from them, for anything real.

Everything here except `identities/` and `archives/` is generated by `examples/gen-fixtures.rs` (this
README too: edit the generator, not this file). Regenerate with:

```text
cargo run --example gen-fixtures
```

The generator reuses the committed keys and signs ECDSA with RFC 6979 deterministic nonces,
so a re-run writes byte-identical files (same certificates, serials, UIDs, metadata). Missing key
files are recreated with `openssl genpkey`; the `sha1-signature` case also needs the
`openssl` CLI.

## Time

No file depends on the current time. Tests must use **now = 2026-12-01T00:00:00Z**
(epoch 1796083200, e.g. `openssl verify -attime 1796083200`).

| certificate | notBefore | notAfter |
|---|---|---|
| roots and intermediates (relay root, relay signing CA, Istio root, Istio intermediates) | 2026-01-01T00:00:00Z | 2036-01-01T00:00:00Z |
| leaves (relay server, relay agent clients) | 2026-01-01T00:00:00Z | 2031-01-01T00:00:00Z |
| `expired` relay server | 2026-01-01T00:00:00Z | 2026-06-01T00:00:00Z |
| `not-yet-valid` cluster-1 client | 2027-06-01T00:00:00Z | 2031-01-01T00:00:00Z |
| `expiring-soon` relay server | 2026-01-01T00:00:00Z | 2026-12-15T00:00:00Z |

## Certificates of the sample

| certificate | where | subject | key | issuer | serial | profile |
|---|---|---|---|---|---|---|
| relay root CA | mgmt `gloo-mesh/relay-root-tls-secret` `ca.crt` = `tls.crt`; `ca.crt` of every relay secret; workload `relay-root-tls-secret` `ca.crt` | `O=Gloo Mesh (trustkeep test fixtures), CN=relay-root-ca` | ECDSA P-384 | self | 0x1000 | CA:TRUE (critical), keyCertSign, cRLSign |
| relay signing CA | mgmt `gloo-mesh/relay-tls-signing-secret` `tls.crt`; 2nd cert of each client `tls.crt` | `O=..., CN=relay-tls-signing-ca` | RSA 2048 | relay root | 0x1001 | CA:TRUE (critical); digitalSignature, keyEncipherment, keyCertSign; EKU clientAuth, serverAuth; SAN `*.gloo-mesh` |
| relay server | mgmt `gloo-mesh/relay-server-tls-secret` `tls.crt` | `O=..., CN=gloo-mesh-mgmt-server` | ECDSA P-256 | relay root | 0x1002 | CA:FALSE; digitalSignature, keyEncipherment; EKU clientAuth, serverAuth; SAN `*.gloo-mesh` |
| relay client cluster-1 | cluster-1 `gloo-mesh/relay-client-tls-secret` `tls.crt` (leaf + signing CA) | `O=..., CN=cluster-1` | ECDSA P-256 | relay signing CA | 0x1011 | CA:FALSE; digitalSignature, keyEncipherment; EKU clientAuth, serverAuth; SAN `cluster-1` |
| relay client cluster-2 | cluster-2 `gloo-mesh/relay-client-tls-secret` `tls.crt` (leaf + signing CA) | `O=..., CN=cluster-2` | Ed25519 | relay signing CA | 0x1012 | as cluster-1, SAN `cluster-2` |
| Istio root CA | mgmt `gloo-mesh/root-trust-policy.gloo-mesh` `root-cert.pem`; workload `cacerts` `root-cert.pem` and end of `cert-chain.pem` | `O=Istio, CN=Root CA` | RSA 4096 | self | 0x2000 | CA:true (critical); keyUsage (critical) digitalSignature, nonRepudiation, keyEncipherment, keyCertSign; SKI |
| Istio intermediate cluster-1 | cluster-1 `istio-system/cacerts` `ca-cert.pem`, start of `cert-chain.pem` | `O=Istio, CN=Intermediate CA, L=cluster-1` | RSA 2048 | Istio root | 0x2011 | CA:true (critical) pathlen:0; keyUsage as the root; SAN `istiod.istio-system.svc` |
| Istio intermediate cluster-2 | cluster-2 `istio-system/cacerts` | `O=Istio, CN=Intermediate CA, L=cluster-2` | ECDSA P-256 | Istio root | 0x2012 | as cluster-1 |

All non-root certificates carry an authority key identifier; CA and `CA:FALSE` certificates
carry a subject key identifier (truncated SHA-256 of the key, RFC 7093 method 1). rcgen marks
keyUsage and basicConstraints critical in every certificate (the seed's openssl configs leave
them non-critical on the relay leaves).

Key encodings inside the secrets: relay keys (`tls.key`) are PKCS#8 (`BEGIN PRIVATE KEY`),
byte-identical to the files in `keys/`. Istio CA keys (`key.pem` of the root-trust secret,
`ca-key.pem` of `cacerts`) use the traditional encodings Go's crypto/x509 writes:
`BEGIN RSA PRIVATE KEY` (PKCS#1) for RSA, `BEGIN EC PRIVATE KEY` (SEC1, with the named curve)
for ECDSA. A tool must accept PKCS#8, PKCS#1 and SEC1 keys.

`cacerts` `key.pem` is present and empty (`""`), as Gloo Mesh writes it. The relay identity
token is the same fixed string on every cluster.
"#;

const README_FILES: &str = r#"
## Files

| path | what it is | what a tool should find |
|---|---|---|
| `sample/mgmt.yaml` | Management cluster as `kubectl get secret -A -o yaml` prints it (a `kind: List`), followed by a second YAML document: the `RootTrustPolicy` `gloo-mesh/root-trust-policy` (`mgmtServerCa.generated: {}`, `autoRestartPods: true`), and a third: the `Deployment` `gloo-mesh/gloo-mesh-mgmt-server` (a `kind: List`; its pods read the licence secret only). Its Helm release `sh.helm.release.v1.gloo-platform.v1` is in Helm's storage format with a default install's values (`glooMgmtServer.enabled: true`, licence `FAKE-LICENSE-trustkeep-sample-not-a-real-license-key`, chart defaults for the relay secret names): `trustkeep discover --from` gives the default management profile. | Five trust secrets in `gloo-mesh`: `relay-root-tls-secret` (Opaque: `ca.crt`, `tls.crt`, `tls.key`), `relay-server-tls-secret` and `relay-tls-signing-secret` (kubernetes.io/tls: `ca.crt`, `tls.crt`, `tls.key`), `relay-identity-token-secret` (Opaque: `token`), `root-trust-policy.gloo-mesh` (`certificates.mesh.gloo.solo.io/generated_signing_cert`: `root-cert.pem`, `key.pem`; has an `ownerReferences` entry pointing at the RootTrustPolicy; its name is `<policy>.<namespace>`, discoverable from the policy). Three secrets that must NOT be selected: `gloo-mesh/gloo-mesh-enterprise-license` (Opaque), `gloo-mesh/sh.helm.release.v1.gloo-platform.v1` (`helm.sh/release.v1`), `default/db-password` (Opaque). Audit: no problem. |
| `sample/cluster-1.yaml` | Workload cluster `cluster-1`, `kubectl get secret -A -o yaml`, then the `Deployment` `gloo-mesh/gloo-mesh-agent` (a `kind: List`). The agent's Helm release `gloo-mesh/sh.helm.release.v1.gloo-agent.v1` (default install: `glooAgent.enabled: true`, a relay server address, the fake licence) is not to select either: `trustkeep discover --from` gives the default workload profile. | Trust secrets: `gloo-mesh/relay-client-tls-secret` (kubernetes.io/tls; `tls.crt` = client leaf + relay signing CA; SAN `cluster-1`; ECDSA P-256), `gloo-mesh/relay-root-tls-secret` (Opaque, `ca.crt` only), `gloo-mesh/relay-identity-token-secret` (Opaque, same token as mgmt), `istio-system/cacerts` (`certificates.mesh.gloo.solo.io/issued_certificate`, labels `agent.certificates.mesh.gloo.solo.io: gloo-mesh` and `cluster.multicluster.solo.io: ""`, keys `ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`, `key.pem` (empty), `root-cert.pem`; RSA 2048 intermediate). Not to select: `default/app-api-key`. Audit: no problem. |
| `sample/cluster-2.yaml` | Workload cluster `cluster-2`. | As cluster-1, with an Ed25519 client key (SAN `cluster-2`) and an ECDSA P-256 Istio intermediate (`L=cluster-2`). Not to select: `default/registry-pull-secret` (`kubernetes.io/dockerconfigjson`). Audit: no problem. |
| `sample/mgmt.json` | `kubectl get secret -n gloo-mesh -o json` on the management cluster (a JSON `List`, 4-space indent; no RootTrustPolicy, no `default` namespace). | The same seven `gloo-mesh` secrets as in `sample/mgmt.yaml`, byte-identical data and metadata. |
| `seed-manual/relay-server-tls-secret/ca.crt` | What the seed's step 1 writes: `ca.crt` of `relay-server-tls-secret`, i.e. the **relay root** certificate. | Equal to the relay root in `sample/mgmt.yaml`. It does NOT match `tls.key` next to it: the seed's restore (`kubectl create secret tls --cert=ca.crt --key=tls.key`) fails with "tls: private key does not match public key". `tls.crt` (the server certificate), labels and type are lost. |
| `seed-manual/relay-server-tls-secret/tls.key` | `tls.key` of `relay-server-tls-secret`: the relay **server** key (PKCS#8, P-256). | Matches the server certificate in `sample/mgmt.yaml`, not `ca.crt` beside it. |
| `seed-manual/relay-tls-signing-secret/ca.crt` | `ca.crt` of `relay-tls-signing-secret`: the relay root certificate. | Same flaw: does not match `tls.key` beside it. |
| `seed-manual/relay-tls-signing-secret/tls.key` | `tls.key` of `relay-tls-signing-secret`: the signing CA key (PKCS#8, RSA 2048). | Matches the signing CA certificate in `sample/mgmt.yaml`. |
| `seed-manual/root-trust.root-trust-policy/ca.crt` | `root-cert.pem` of the root-trust secret: the Istio root certificate. (The directory follows the seed's `root-trust.<policy>` naming; the content is that of `gloo-mesh/root-trust-policy.gloo-mesh`.) | Equal to `root-cert.pem` in `sample/mgmt.yaml`. |
| `seed-manual/root-trust.root-trust-policy/tls.key` | `key.pem` of the root-trust secret: the Istio root key (PKCS#1, RSA 4096). | Matches `ca.crt` beside it (this pair is consistent). |
| `defects/<case>/` | See the defect table below. | |
| `archives/v1-mgmt.tar.gz.age` | A version 1 archive of `sample/mgmt.yaml` as the v1 writer made it (no RootTrustPolicies), encrypted to `identities/test-only-age-recipient.txt`. **Frozen, not written by the generator**: it proves v1 archives stay readable. | Opens: 5 secrets, version 1, no policies. |
| `identities/` | Test-only age and SSH identities for the encryption tests. **Not written by the generator** (it neither reads nor deletes them); also test-only and public. `test-only-ssh-ed25519` and `test-only-ssh-rsa` (with their `.pub`) are unencrypted OpenSSH keys, the RSA one made with `ssh-keygen -t rsa -b 2048 -N '' -C trustkeep-test-only -f fixtures/identities/test-only-ssh-rsa`. | An archive encrypted to `test-only-ssh-ed25519.pub` opens with `test-only-ssh-ed25519`; one encrypted to `test-only-ssh-rsa.pub` (an `ssh-rsa` recipient) opens with `test-only-ssh-rsa` and with no other identity here. |
| `signing/` | Test-only OpenSSH Ed25519 keys for archive signatures (`--sign-key`, `--trusted-signers`). **Not written by the generator**; test-only and public, never trust them. `test-only-signing-ed25519` (+ `.pub`, comment `trustkeep-test-only-signing`) is the signer the tests trust; `test-only-foreign-signing-ed25519` (+ `.pub`) is the stranger who plants forged archives; `test-only-encrypted-signing-ed25519` is encrypted with the passphrase `test-only`. Made with `ssh-keygen -t ed25519 [-N test-only] -C … -f …`; copy a private key to mode 0600 before `ssh-keygen -Y sign` uses it. | Archives signed with `test-only-signing-ed25519` verify with `ssh-keygen -Y verify -n trustkeep` against an allowed_signers line of its `.pub` and are trusted by `--trusted-signers`; those signed with the foreign key are refused before decryption; `--sign-key test-only-encrypted-signing-ed25519` is refused naming the file. |
| `malformed/not-yaml.yaml` | Broken YAML syntax (unterminated quoted scalar, bad indentation, unclosed flow sequence). | A parse error naming the file; no panic. |
| `malformed/bad-base64.yaml` | A `kind: List` with one Secret `gloo-mesh/relay-server-tls-secret` whose `data.tls.crt` is not valid base64 (`!`, `*`, `%` and bad padding). Other keys are the sample's. | A base64 decoding error for `gloo-mesh/relay-server-tls-secret`, key `tls.crt`. |
| `malformed/bad-pem.yaml` | A `kind: List` with one Secret `gloo-mesh/relay-server-tls-secret` whose `tls.crt` decodes to `-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n`. | A PEM/certificate parse error for `gloo-mesh/relay-server-tls-secret`, key `tls.crt` (valid base64, not a certificate). |
| `malformed/single-secret.yaml` | One bare Secret (not a List): the sample's `gloo-mesh/relay-server-tls-secret`, unchanged. | Accepted as input holding one secret. Its certificate is healthy (verify it against the sample's relay root). |
| `malformed/multi-doc.yaml` | The eight secrets of `sample/mgmt.yaml` as separate `---` YAML documents (no List, no RootTrustPolicy). | Same eight secrets as `sample/mgmt.yaml`, same data. |
"#;

const README_TAIL: &str = r#"
Notes on the defect pairs:

* Labels, annotations, UIDs and resource versions are the sample's: only data changes.
* Certificates made for a defect case have serial `0x5000 + 0x10 * i` (and `+ 1` for a
  second one), `i` being the case's 0-based row in the table above (`expired` = 0x5000,
  `relay-root-mismatch` = 0x50d0).
* `wrong-issuer`: the unrelated CA `O=Unrelated Org (trustkeep test fixtures), CN=other-ca`
  (ECDSA P-256) is in no file; the server certificate's issuer name and authority key
  identifier point at it.
* `signing-not-ca`: the signing certificate keeps its key, subject and SAN; only
  basicConstraints (now `CA:FALSE`) and keyUsage (digitalSignature, keyEncipherment) change.
  cluster-1's client certificate is re-issued by it (its `tls.crt` chain ends with the
  non-CA certificate) so the pair stays consistent; a verifier rejects that chain
  ("invalid CA certificate"), which is the consequence of the same defect.
* `foreign-intermediate` and `root-trust-key-mismatch` use the same second RSA 4096 key
  (`keys/test-only-istio-root-foreign-rsa4096.pem`).
* `sha1-signature`: the relay root is RSA 2048 (`keys/test-only-relay-root-sha1-case-rsa2048.pem`)
  in both files of the pair (mgmt `relay-root-tls-secret`, every `ca.crt`, cluster-1's
  relay root copy), the signing CA and client certificate are re-made under it with
  SHA-256, and only the server certificate is SHA-1. OpenSSL 3 still accepts SHA-1 at its
  default level; `openssl verify -auth_level 1` rejects it ("CA signature digest algorithm
  too weak").
* `weak-key`: ring cannot use a 1024-bit RSA key, so it is only ever a certificate subject; the
  certificate is signed by the (P-384) relay root. OpenSSL accepts it at its default level;
  `openssl verify -auth_level 2` rejects it ("EE certificate key too weak").
* `truncated-pem`: `tls.crt` decodes (valid base64) to the first half of the PEM text, ending
  in the middle of a base64 line, without newline or END line.

The generator re-reads every file it writes (YAML/JSON parse, every Secret decoded as a
k8s-openapi `Secret`, base64 included) and fails if a file does not parse the way this README
says.

Labels and annotations: the `cacerts` labels come from Gloo Mesh reports; the other labels,
annotations and `managedFields` managers (`gloo-mesh-mgmt-server`, `gloo-mesh-agent`, `helm`,
`kubectl-create`) are plausible, not copied from a real cluster. UIDs and resource versions are
derived from a hash of cluster/kind/namespace/name, so they are stable across runs.

## hostile/

Archives an attacker (or a year in a bucket) could hand to trustkeep, one per class: PAX and
GNU long-name tricks, a second gzip member, trailing bytes, links, devices, oversize entries,
an inflated scrypt work factor, escape sequences in names, a sidecar naming another file.
Built by `cargo run --example gen-hostile` (see hostile/README.md); tests/hostile.rs holds
the verdict each must get from trustkeep and from GNU tar. `hostile/corpus/` holds their
plaintexts, the fuzz seed corpus.
"#;

// ---------------------------------------------------------------------------------------
// Self-check: every written file parses the way the README says
// ---------------------------------------------------------------------------------------

fn parse_docs(path: &Path) -> Result<Vec<Value>, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str::<Value>(&text)
            .map(|v| vec![v])
            .map_err(|e| e.to_string());
    }
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text).map_err(|e| e.to_string())
}

/// Parses every Secret in `docs` (List items or bare objects) as a k8s-openapi Secret.
fn secrets_in(docs: &[Value]) -> Result<Vec<Secret>, String> {
    let mut secrets = Vec::new();
    for doc in docs {
        let objects = match doc["kind"].as_str() {
            Some("List") => doc["items"].as_array().cloned().unwrap_or_default(),
            _ => vec![doc.clone()],
        };
        for obj in objects.into_iter().filter(|o| o["kind"] == "Secret") {
            secrets.push(serde_json::from_value::<Secret>(obj).map_err(|e| e.to_string())?);
        }
    }
    Ok(secrets)
}

fn expect_secrets(path: &Path, count: usize) {
    let docs =
        parse_docs(path).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let secrets =
        secrets_in(&docs).unwrap_or_else(|e| panic!("{}: bad Secret: {e}", path.display()));
    assert_eq!(
        secrets.len(),
        count,
        "{}: number of secrets",
        path.display()
    );
}

fn self_check(root: &Path) {
    let sample = root.join("sample");
    expect_secrets(&sample.join("mgmt.yaml"), 8);
    expect_secrets(&sample.join("mgmt.json"), 7);
    for cluster in WORKLOAD_CLUSTERS {
        expect_secrets(&sample.join(format!("{cluster}.yaml")), 6);
    }
    for case in DEFECTS {
        expect_secrets(&root.join("defects").join(case.dir).join("mgmt.yaml"), 8);
        expect_secrets(
            &root.join("defects").join(case.dir).join("cluster-1.yaml"),
            5,
        );
    }
    let malformed = root.join("malformed");
    assert!(
        parse_docs(&malformed.join("not-yaml.yaml")).is_err(),
        "not-yaml.yaml must not parse"
    );
    let bad_base64 =
        parse_docs(&malformed.join("bad-base64.yaml")).expect("bad-base64.yaml is YAML");
    assert!(
        secrets_in(&bad_base64).is_err(),
        "bad-base64.yaml must fail base64 decoding"
    );
    expect_secrets(&malformed.join("bad-pem.yaml"), 1);
    expect_secrets(&malformed.join("single-secret.yaml"), 1);
    expect_secrets(&malformed.join("multi-doc.yaml"), 8);
}

// ---------------------------------------------------------------------------------------

fn main() {
    let root = fixtures_dir();
    let keys = Keys::load_or_create(&root.join("keys"));

    let mut healthy = Material::default();
    let relay = build_relay(&keys, &keys.relay_root, &mut healthy);
    build_istio(&keys, &mut healthy);
    let ctx = Ctx {
        keys: &keys,
        relay: &relay,
    };

    clean_outputs(&root);
    write_sample(&root.join("sample"), &healthy);
    write_seed_manual(&root.join("seed-manual"), &healthy);
    write_defects(&root.join("defects"), &ctx, &healthy);
    write_malformed(&root.join("malformed"), &healthy);
    write_file(&root.join("README.md"), readme(&keys));

    self_check(&root);
    println!(
        "fixtures written to {} (test time {TEST_NOW}, epoch {TEST_NOW_EPOCH})",
        root.display()
    );
}
