//! `chain.crl`: `cacerts`' `ca-crl.pem` as its two readers take it. istiod, loading plugged-in
//! certificates, refuses them when a block is not a CRL Go parses, or when a certificate of
//! `cert-chain.pem` signed none of the CRLs (keycertbundle `Verify`). Envoy, given the same
//! lists for workload traffic, checks the whole chain: a certificate of it that its issuer's
//! list revokes, or a list past its next update, fails every workload under it.

use chrono::{DateTime, Utc};

use super::parse::{Parsed, CRL_KEY};
use super::At;
use crate::check_id::CheckId;
use crate::findings::{Report, Severity};
use crate::pki::{Cert, Crl, NotSigner};

/// The chain's data key in the plug-in form, the one form istiod reads `ca-crl.pem` in.
const PLUG_IN_CHAIN: &str = "cert-chain.pem";

/// The `chain.crl` findings of one `cacerts` secret at time `now`; nothing without a
/// `ca-crl.pem`. `chain_key` is the data key whose certificates istiod takes as the chain
/// (`cert-chain.pem`, or `tls.crt` in the other form, where istiod ignores the CRLs).
pub(super) fn istio_crl(
    at: &At<'_>,
    p: &Parsed,
    chain_key: &str,
    now: DateTime<Utc>,
    report: &mut Report,
) {
    let Some(parsed) = p.crls.get(CRL_KEY) else {
        return;
    };
    let err = |msg: String| at.f(Severity::Error, CheckId::ChainCrl, Some(CRL_KEY), msg);
    if chain_key != PLUG_IN_CHAIN {
        report.push(at.f(Severity::Warning, CheckId::ChainCrl, Some(CRL_KEY), format!("{CRL_KEY} is ignored: istiod reads it only beside the plug-in keys (ca-cert.pem, cert-chain.pem), not in the {chain_key} form; move to the plug-in keys, or remove {CRL_KEY}")));
        return;
    }
    let crls = match parsed {
        Ok(crls) => crls,
        Err(e) => {
            report.push(err(format!("{CRL_KEY}: {e}: istiod refuses the plugged-in certificates (\"failed to parse CRL PEM\"); replace it with the CAs' CRLs in PEM, or remove {CRL_KEY}")));
            return;
        }
    };
    let chain = p
        .certs
        .get(chain_key)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (missing, not_allowed) = unsigned(chain, crls);
    if !missing.is_empty() {
        let why = if not_allowed.is_empty() {
            String::new()
        } else {
            format!(
                " (Go lets {} sign no CRL: keyUsage without cRLSign, or not a CA)",
                not_allowed.join("; ")
            )
        };
        report.push(err(format!("no CRL in {CRL_KEY} is signed by {}{why}: istiod refuses the plugged-in certificates (\"missing CRL signed by certificates\"); add a CRL from each CA of {chain_key}, or remove {CRL_KEY}", missing.join("; "))));
    }
    for crl in crls {
        let Some(signer) = chain.iter().find(|c| crl.signed_by(c).is_ok()) else {
            continue;
        };
        let issuer = signer.summary().subject;
        for revoked in chain.iter().filter(|c| crl.revokes(c)) {
            let s = revoked.summary();
            report.push(err(format!("{} (serial {}) is revoked by the CRL of {issuer} in {CRL_KEY}: Envoy, given this CRL, refuses every workload certificate issued under it; issue a new intermediate (trustkeep pki reissue istio-cacerts) or publish a CRL without it", s.subject, s.serial)));
        }
        if let Some(due) = crl.next_update().filter(|d| *d < now) {
            report.push(err(format!("the CRL of {issuer} in {CRL_KEY} was due for replacement at {}: Envoy refuses the workload certificates under a CA whose CRL has expired; publish a fresh CRL from {issuer}", due.format("%Y-%m-%dT%H:%M:%SZ"))));
        }
    }
}

/// The subjects of the certificates of `chain` that signed none of `crls`, and among them
/// those Go does not allow to sign CRLs at all.
fn unsigned(chain: &[Cert], crls: &[Crl]) -> (Vec<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut not_allowed = Vec::new();
    for c in chain {
        let verdicts: Vec<_> = crls.iter().map(|l| l.signed_by(c)).collect();
        if verdicts.iter().any(Result::is_ok) {
            continue;
        }
        let subject = c.summary().subject;
        if verdicts.contains(&Err(NotSigner::NotAllowed)) {
            not_allowed.push(subject.clone());
        }
        if !missing.contains(&subject) {
            missing.push(subject);
        }
    }
    (missing, not_allowed)
}
