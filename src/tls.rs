//! Optional `https://` and `wss://` on a second port, with rustls.
//!
//! The certificate is the technician's (`[tls] cert` and `key`, PEM) or, by default, made once by
//! the box with rcgen and kept in `<data>/tls/`: a local CA (`ca.crt`, the file devices install
//! or tests trust; also served at `GET /ca.crt`) and a server certificate it signed for the box's
//! names (`venuebox.local`, `venuebox.lan`, `localhost`, the host name, `10.42.0.1`,
//! `127.0.0.1`, plus `[tls] names`).
//!
//! Handshakes run on each connection's own task with a time limit (`connections.rs`), so a
//! client that opens a connection and says nothing never holds up the others.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// `[tls]` in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    /// PEM certificate chain and key; `None` uses (or makes) the box's own.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the generated certificate.
    pub names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS file {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("TLS file {path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("cannot make the box's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |cause| TlsError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// The certificate the box serves, ready for rustls, and where its CA is (generated case).
pub struct TlsIdentity {
    pub config: Arc<ServerConfig>,
    pub ca_path: Option<PathBuf>,
}

const CA_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "server.crt";
const KEY_FILE: &str = "server.key";

/// Loads the configured certificate, or the box's own (making it on first use).
pub fn identity(data_dir: &Path, settings: &TlsSettings) -> Result<TlsIdentity, TlsError> {
    let (cert_path, key_path, ca_path) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), None),
        _ => {
            let dir = data_dir.join("tls");
            if !dir.join(CERT_FILE).exists() || !dir.join(KEY_FILE).exists() {
                generate(&dir, &settings.names)?;
            }
            (
                dir.join(CERT_FILE),
                dir.join(KEY_FILE),
                Some(dir.join(CA_FILE)),
            )
        }
    };
    let chain = read_chain(&cert_path)?;
    let key = read_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // WebSocket upgrades are HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        config: Arc::new(config),
        ca_path,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(io(path))?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(io(path))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(io(path))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(io(path))?
        .ok_or_else(|| TlsError::Pem {
            path: path.to_path_buf(),
            reason: "no PRIVATE KEY block".into(),
        })
}

/// The names the generated certificate is valid for.
fn box_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "venuebox.local",
        "venuebox.lan",
        "localhost",
        "10.42.0.1",
        "127.0.0.1",
    ]
    .map(String::from)
    .to_vec();
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
            names.push(format!("{host}.local"));
        }
    }
    names.extend(extra.iter().cloned());
    names.sort();
    names.dedup();
    names
}

fn generate(dir: &Path, extra: &[String]) -> Result<(), TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let names = box_names(extra);
    // Wide on purpose: a box with no internet and no real-time clock can come up with its
    // clock years off, and a certificate "not yet valid" would lock every device out.
    let valid = |params: &mut CertificateParams| {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    };

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "venuebox local CA");
    ca_params.distinguished_name = ca_name;
    // Devices install this CA. Constrained to the box's own names, a copy of its key (the SD
    // card walks out of the venue) cannot vouch for any other site to those devices.
    ca_params.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: names
            .iter()
            .map(|name| match name.parse::<std::net::IpAddr>() {
                Ok(ip) => rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_addr_prefix(
                    ip,
                    if ip.is_ipv4() { 32 } else { 128 },
                )),
                Err(_) => rcgen::GeneralSubtree::DnsName(name.clone()),
            })
            .collect(),
        excluded_subtrees: Vec::new(),
    });
    valid(&mut ca_params);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "venuebox");
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    valid(&mut params);
    let server_cert = params.signed_by(&server_key, &issuer)?;

    write_file(&dir.join(CA_FILE), ca_cert.pem().as_bytes(), 0o644)?;
    write_file(
        &dir.join(CA_KEY_FILE),
        ca_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_file(
        &dir.join(KEY_FILE),
        server_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    // The chain the server sends: its certificate, then the CA's.
    let chain = format!("{}{}", server_cert.pem(), ca_cert.pem());
    write_file(&dir.join(CERT_FILE), chain.as_bytes(), 0o644)?;
    tracing::info!(dir = %dir.display(), "made the box's TLS certificate and local CA");
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_identity_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: None,
            key: None,
            names: vec!["quiz.example".into()],
        };
        let first = identity(dir.path(), &settings).unwrap();
        let ca = std::fs::read(first.ca_path.as_ref().unwrap()).unwrap();
        let again = identity(dir.path(), &settings).unwrap();
        assert_eq!(
            std::fs::read(again.ca_path.unwrap()).unwrap(),
            ca,
            "made once"
        );
        let key = dir.path().join("tls").join(KEY_FILE);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(box_names(&settings.names).contains(&"quiz.example".to_string()));
    }

    #[test]
    fn a_provided_file_without_a_certificate_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let settings = TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert: Some(cert.clone()),
            key: Some(cert),
            names: Vec::new(),
        };
        let error = identity(dir.path(), &settings).err().unwrap().to_string();
        assert!(error.contains("no CERTIFICATE block"), "{error}");
    }
}
