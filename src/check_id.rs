//! Every check id a [`Finding`](crate::findings::Finding) can carry, and nothing else.
//!
//! This module owns the stable check ids (`key.match`, `chain.verify`, `selection.missing`,
//! …): their spelling, a one-line description, and the list of all of them. Code that makes
//! or compares findings names ids through [`CheckId`], never through string literals. Every id
//! is documented in the "Check ids" table of docs/checks.md; a test keeps the table and
//! [`CheckId::ALL`] equal.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`CheckId`] from one list of `Variant => "id", "description"`, so the variants,
/// their spellings, their descriptions and [`CheckId::ALL`] cannot drift apart.
macro_rules! check_ids {
    ($($variant:ident => $id:literal, $what:literal;)*) => {
        /// A stable check id (see docs/checks.md).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId {
            $(#[doc = $what] $variant,)*
        }

        impl CheckId {
            /// Every check id, in the order of docs/checks.md.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant),*];

            /// The id as it appears in output and in docs/checks.md, e.g. `key.match`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $id,)*
                }
            }

            /// What the check is about, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $what,)*
                }
            }
        }
    };
}

check_ids! {
    SelectionMissing => "selection.missing",
        "a secret the cluster should have is absent";
    SelectionPoliciesUnknown => "selection.policies-unknown",
        "RootTrustPolicies could not be listed; root-trust secrets were found by name and type only";
    SelectionPolicy => "selection.policy",
        "a RootTrustPolicy names no root secret trustkeep understands";
    SelectionVault => "selection.vault",
        "a RootTrustPolicy keeps its root in Vault";
    SelectionNoRootTrust => "selection.no-root-trust",
        "a management cluster with no RootTrustPolicy and no root-trust secret";
    ProfileDrift => "profile.drift",
        "a secret the --profile names is not in the source";
    ProfileNotApplied => "profile.not-applied",
        "a source of another cluster kind than the --profile's was selected by the default names";
    PemParse => "pem.parse",
        "a value that should hold PEM certificates does not parse";
    PemGoRefuses => "pem.go-refuses",
        "a certificate that Go's x509.ParseCertificate (Gloo Mesh, Istio) refuses to load";
    KeyParse => "key.parse",
        "a private key does not parse";
    KeyMatch => "key.match",
        "a private key is not the key of its certificate";
    KeyMissing => "key.missing",
        "a certificate that needs its private key has none beside it";
    ValidityExpired => "validity.expired",
        "a certificate's notAfter is before the check time";
    ValidityNotYetValid => "validity.not-yet-valid",
        "a certificate's notBefore is after the check time";
    ValidityExpiring => "validity.expiring",
        "a certificate expires within the warning threshold";
    CryptoWeakKey => "crypto.weak-key",
        "an RSA key under 2048 bits";
    CryptoSha1 => "crypto.sha1",
        "a certificate (other than a self-signed root) signed with SHA-1, which Go refuses";
    CryptoKeyType => "crypto.key-type",
        "a key algorithm trustkeep cannot check";
    ChainVerify => "chain.verify",
        "a certificate does not chain to the CA given beside it";
    ChainAkiMismatch => "chain.aki-mismatch",
        "a verified chain whose authorityKeyIdentifier differs from its issuer's subjectKeyIdentifier";
    ChainExtraRoot => "chain.extra-root",
        "a ca.crt bundle holds roots the verified chain does not use";
    ChainCrl => "chain.crl",
        "istio cacerts' ca-crl.pem as istiod and Envoy read it: every CA of cert-chain.pem signed a CRL there, none revoked, none past its next update";
    CaConstraints => "ca.constraints",
        "a certificate that must be a CA is not one, or a leaf is a CA";
    LintSkiMissing => "lint.ski-missing",
        "(lint) a CA certificate without subjectKeyIdentifier";
    LintAkiMissing => "lint.aki-missing",
        "(lint) a certificate other than a root without authorityKeyIdentifier";
    LintSerial => "lint.serial",
        "(lint) a serial number not positive or over 20 octets";
    LintCaKeyUsageNotCritical => "lint.ca-key-usage-not-critical",
        "(lint) a CA certificate whose keyUsage is not critical";
    LintLeafCertSign => "lint.leaf-cert-sign",
        "(lint) an end-entity certificate with keyCertSign";
    LintEkuMissing => "lint.eku-missing",
        "(lint) a relay leaf without extendedKeyUsage";
    LintClientAuthMissing => "lint.client-auth-missing",
        "(lint) an agent certificate whose EKU lacks clientAuth";
    LintRsaExponent => "lint.rsa-exponent",
        "(lint) an RSA key with public exponent 3 (or less)";
    LintValidityTooLong => "lint.validity-too-long",
        "(lint) a leaf valid for longer than --max-leaf-validity-days";
    RoleRelayServer => "role.relay-server",
        "the relay server certificate's profile (DNS SAN, serverAuth)";
    RoleRelaySigning => "role.relay-signing",
        "the relay signing CA's profile, beyond the CA constraints";
    RoleRelayRoot => "role.relay-root",
        "the relay root is a self-signed CA, the same in tls.crt and ca.crt";
    RoleRelayClient => "role.relay-client",
        "an agent certificate's profile (DNS SAN, issued through the signing CA)";
    RoleRootTrust => "role.root-trust",
        "a root-trust root is a self-signed CA";
    RoleIstioCacerts => "role.istio-cacerts",
        "the shape of istio-system/cacerts";
    TrustRelayRoot => "trust.relay-root",
        "server, signing CA and agents share the management cluster's relay root";
    TrustIstioRoot => "trust.istio-root",
        "every workload cacerts chains to a root-trust root of the management cluster";
    TrustRotation => "trust.rotation",
        "several roots are trusted at once (a rotation): which one each cluster chains to";
    TrustToken => "trust.token",
        "a workload's relay identity token equals the management cluster's";
    SetupSummary => "setup.summary",
        "the setup's relay mode, certificate architecture and CA placement";
    SetupGeneratedRoot => "setup.generated-root",
        "a root Gloo Mesh generated itself (the seed: not for production)";
    SetupRootKeyInCluster => "setup.root-key-in-cluster",
        "a root CA's private key kept in the management cluster (the seed's demo placement)";
    SetupInsecure => "setup.insecure",
        "the profile says the relay is insecure (plain HTTP, the seed's demonstration mode)";
    ImportKeyMismatch => "import.key-mismatch",
        "(import) a saved private key matches no certificate saved with it";
    ImportMissingKey => "import.missing-key",
        "(import) a relay TLS folder has no tls.crt";
    ImportKeyMatch => "import.key-match",
        "(import) a saved private key matches a certificate saved with it";
    ImportRenamed => "import.renamed",
        "(import) a root-trust folder's files were archived under their original names";
    OriginSignature => "origin.signature",
        "with --trusted-signers: an archive unsigned, signed by an untrusted key, in another namespace, outside the key's validity or over other bytes";
}

impl CheckId {
    /// Whether the id is about the shape of the whole setup (`setup.*`), not a secret.
    pub fn is_setup(self) -> bool {
        matches!(
            self,
            CheckId::SetupSummary
                | CheckId::SetupGeneratedRoot
                | CheckId::SetupRootKeyInCluster
                | CheckId::SetupInsecure
        )
    }

    /// The id spelled `s`, if there is one.
    pub fn parse(s: &str) -> Option<CheckId> {
        CheckId::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CheckId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check id {s:?}")))
    }
}

impl PartialEq<CheckId> for str {
    fn eq(&self, id: &CheckId) -> bool {
        self == id.as_str()
    }
}

impl PartialEq<CheckId> for String {
    fn eq(&self, id: &CheckId) -> bool {
        self.as_str() == id.as_str()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The ids in the first column of the "## Check ids" table of docs/checks.md.
    fn documented() -> Vec<String> {
        let doc = include_str!("../docs/checks.md");
        let section = doc
            .split("\n## ")
            .find(|s| s.starts_with("Check ids\n"))
            .expect("docs/checks.md has a \"## Check ids\" section");
        section
            .lines()
            .filter(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1))
            .map(str::trim)
            .filter_map(|cell| cell.strip_prefix('`')?.strip_suffix('`'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn docs_table_lists_exactly_the_check_ids() {
        let documented = documented();
        let in_docs: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
        assert_eq!(in_docs.len(), documented.len(), "an id is listed twice");
        let in_code: BTreeSet<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            in_code.difference(&in_docs).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "check ids missing from docs/checks.md"
        );
        assert_eq!(
            in_docs.difference(&in_code).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "docs/checks.md lists ids the code does not have"
        );
        // Same order as the table, so ALL reads like the documentation.
        let all: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(all, documented);
    }

    #[test]
    fn spellings_are_unique_and_round_trip() {
        let set: BTreeSet<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(set.len(), CheckId::ALL.len());
        for &id in CheckId::ALL {
            assert_eq!(CheckId::parse(id.as_str()), Some(id));
            assert_eq!(id.to_string(), id.as_str());
            assert!(!id.description().is_empty());
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<CheckId>(&json).unwrap(), id);
        }
        assert_eq!(CheckId::parse("no.such-check"), None);
        assert!(serde_json::from_str::<CheckId>("\"no.such-check\"").is_err());
        let text = String::from("key.match");
        assert!(text == CheckId::KeyMatch);
        assert!(*"chain.verify" == CheckId::ChainVerify);
        assert!(text != CheckId::ChainVerify);
    }
}
