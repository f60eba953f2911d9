//! What Go's `x509.ParseCertificate` refuses, so that a certificate Gloo Mesh or Istio cannot
//! even load is an error before any chain is built, and which critical extensions Go handles
//! (an unhandled one on any certificate of a path, trust anchor included, fails `Verify`).
//! Go's own words are quoted so that a finding matches what the runtime logs. Knows nothing of
//! Gloo roles.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

use super::Cert;

/// The curves Go parses (`namedCurveFromOID`): P-224, P-256, P-384, P-521.
const GO_CURVES: &[&str] = &[
    "1.3.132.0.33",
    "1.2.840.10045.3.1.7",
    "1.3.132.0.34",
    "1.3.132.0.35",
];

/// The extensions Go's parser handles (`parseCertificate`): keyUsage, basicConstraints,
/// subjectAltName, nameConstraints, cRLDistributionPoints, authorityKeyIdentifier,
/// extKeyUsage, subjectKeyIdentifier, certificatePolicies, authorityInfoAccess.
const GO_HANDLED: &[&str] = &[
    "2.5.29.15",
    "2.5.29.19",
    "2.5.29.17",
    "2.5.29.30",
    "2.5.29.31",
    "2.5.29.35",
    "2.5.29.37",
    "2.5.29.14",
    "2.5.29.32",
    "1.3.6.1.5.5.7.1.1",
];

/// Why Go's `x509.ParseCertificate` refuses `c`, in Go's words, or none. Negative serial
/// numbers are refused from Go 1.23 on (`x509negativeserial`), which Gloo Mesh and Istio
/// releases are built with; older Go (the Debian oracle of the tests) still accepts them.
pub fn go_parse_refusal(c: &Cert) -> Option<String> {
    let x = c.x509();
    if x.raw_serial().first().is_some_and(|b| b & 0x80 != 0) {
        return Some("x509: negative serial number (refused by Go 1.23 and later)".into());
    }
    let spki = x.public_key();
    if spki.algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1" {
        let curve = (spki.algorithm.parameters.as_ref()).and_then(|p| p.as_oid().ok());
        if !curve.is_some_and(|c| GO_CURVES.contains(&c.to_id_string().as_str())) {
            return Some("x509: unsupported elliptic curve".into());
        }
    }
    for ext in x.extensions() {
        if let Some(why) = extension_refusal(ext) {
            return Some(why.into());
        }
    }
    None
}

fn extension_refusal(ext: &X509Extension<'_>) -> Option<&'static str> {
    let ia5 = |s: &str| s.is_ascii();
    match ext.parsed_extension() {
        ParsedExtension::NameConstraints(nc) => {
            let empty = |t: &Option<Vec<_>>| t.as_ref().is_none_or(Vec::is_empty);
            (empty(&nc.permitted_subtrees) && empty(&nc.excluded_subtrees))
                .then_some("x509: empty name constraints extension")
        }
        ParsedExtension::SubjectAlternativeName(san) => {
            san.general_names.iter().find_map(|n| match n {
                GeneralName::DNSName(d) if !ia5(d) => Some("x509: SAN dNSName is malformed"),
                GeneralName::RFC822Name(e) if !ia5(e) => Some("x509: SAN rfc822Name is malformed"),
                GeneralName::URI(u) if !ia5(u) => {
                    Some("x509: SAN uniformResourceIdentifier is malformed")
                }
                GeneralName::IPAddress(ip) if ip.len() != 4 && ip.len() != 16 => {
                    Some("x509: cannot parse IP address")
                }
                _ => None,
            })
        }
        ParsedExtension::AuthorityInfoAccess(aia) => aia.accessdescs.iter().find_map(|d| {
            matches!(&d.access_location, GeneralName::URI(u) if !ia5(u))
                .then_some("x509: invalid authority info access")
        }),
        ParsedExtension::ParseError { .. } => Some(match ext.oid.to_id_string().as_str() {
            "2.5.29.17" => "x509: invalid subject alternative names",
            "2.5.29.30" => "x509: invalid NameConstraints extension",
            "1.3.6.1.5.5.7.1.1" => "x509: invalid authority info access",
            "2.5.29.19" => "x509: invalid basic constraints",
            "2.5.29.15" => "x509: invalid key usage",
            "2.5.29.37" => "x509: invalid extended key usages",
            _ => "x509: malformed extension",
        }),
        _ => None,
    }
}

/// The OID of a critical extension of `x` that Go does not handle (its `Verify` fails with
/// `x509: unhandled critical extension` for any certificate of the path, root included).
pub(crate) fn unhandled_critical(x: &X509Certificate<'_>) -> Option<String> {
    x.extensions()
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_id_string())
        .find(|oid| !GO_HANDLED.contains(&oid.as_str()))
}
