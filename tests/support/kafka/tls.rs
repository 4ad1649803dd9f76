//! A certificate authority and a broker certificate for the SASL_SSL test broker, made
//! by the test with the `openssl` command (Debian's `openssl` package), as PEM files the
//! broker reads directly (`ssl.keystore.type=PEM`: no keytool, no Java keystore).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The files a TLS listener and its clients need.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate: clients trust it (`ssl.ca.location`).
    pub ca: PathBuf,
    /// The broker's private key and certificate, one PEM file (`ssl.keystore.location`).
    pub keystore: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (install Debian's openssl package; scripts/test.sh does)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Makes a CA and a certificate for `127.0.0.1`/`localhost` signed by it, in `dir`.
pub fn make_certificates(dir: &Path) -> anyhow::Result<TlsFiles> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=trawl test CA",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "broker.key",
        "-out",
        "broker.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr)?;
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "broker.pem",
        ],
    )?;
    // Kafka's PEM keystore: the (unencrypted PKCS#8) key, then the certificate chain.
    let keystore = dir.join("broker-keystore.pem");
    let key = std::fs::read_to_string(dir.join("broker.key"))?;
    let cert = std::fs::read_to_string(dir.join("broker.pem"))?;
    std::fs::write(&keystore, format!("{key}{cert}"))?;
    Ok(TlsFiles {
        ca: dir.join("ca.pem"),
        keystore,
    })
}
