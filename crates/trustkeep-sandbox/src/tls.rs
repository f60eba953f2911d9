//! The sandbox's TLS identity: a fresh self-signed CA per start and a server certificate it
//! signs for 127.0.0.1, ::1, localhost and the address listened on (rustls and Go refuse a CA
//! certificate as a server's own), and the rustls server configuration (HTTP/2 and HTTP/1.1
//! via ALPN).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::Datelike;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use super::error::SandboxError;

/// The CA clients trust and the server configuration presenting the leaf it signed.
pub struct Identity {
    pub ca_pem: String,
    pub config: Arc<ServerConfig>,
}

fn tls_error(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Tls(e.to_string())
}

/// Valid from the start of last year for ten years: no clock-skew surprises.
fn validity(params: &mut CertificateParams) {
    let year = chrono::Utc::now().year();
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 10, 1, 1);
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "trustkeep sandbox CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    params
}

/// The IP addresses the server certificate names: the loopback addresses, and `listen` unless
/// it is unspecified (`0.0.0.0`, `::`: clients then use a loopback address).
fn server_ips(listen: IpAddr) -> Vec<IpAddr> {
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    if !listen.to_canonical().is_unspecified() && !ips.contains(&listen) {
        ips.push(listen);
    }
    ips
}

fn leaf_params(listen: IpAddr) -> Result<CertificateParams, SandboxError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "trustkeep sandbox API server");
    params.subject_alt_names = server_ips(listen)
        .into_iter()
        .map(SanType::IpAddress)
        .collect();
    params
        .subject_alt_names
        .push(SanType::DnsName("localhost".try_into().map_err(tls_error)?));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    Ok(params)
}

/// Generates the CA and the server certificate (valid for `listen` too), and builds the
/// server configuration.
pub fn generate(listen: IpAddr) -> Result<Identity, SandboxError> {
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let ca_params = ca_params();
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_error)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().map_err(tls_error)?;
    let leaf = leaf_params(listen)?
        .signed_by(&leaf_key, &issuer)
        .map_err(tls_error)?;
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Identity {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_address_is_named() {
        let loopback = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        assert_eq!(server_ips("127.0.0.1".parse().unwrap()), loopback);
        assert_eq!(server_ips("0.0.0.0".parse().unwrap()), loopback);
        assert_eq!(server_ips("::".parse().unwrap()), loopback);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(server_ips(ip)[2], ip);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(server_ips(mapped)[2], mapped, "as clients will name it");
        assert!(generate(ip).is_ok());
    }
}
