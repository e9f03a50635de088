//! The biscuit root key: loaded from `RALLY_ROOT_KEY_FILE`, or generated into the data
//! directory (single-instance only) with a logged warning.

use anyhow::{bail, Context};
use biscuit_auth::{Algorithm, KeyPair, PrivateKey, PublicKey};
use std::path::Path;
use std::sync::Arc;

/// The root key pair, cheap to clone.
#[derive(Clone)]
pub struct RootKey(Arc<KeyPair>);

impl RootKey {
    /// A fresh random key (tests, first run).
    pub fn generate() -> RootKey {
        RootKey(Arc::new(KeyPair::new()))
    }

    /// Parse a hex-encoded Ed25519 private key.
    pub fn from_hex(hex: &str) -> anyhow::Result<RootKey> {
        let private = PrivateKey::from_bytes_hex(hex.trim(), Algorithm::Ed25519)
            .map_err(|e| anyhow::anyhow!("not a hex Ed25519 private key: {e}"))?;
        Ok(RootKey(Arc::new(KeyPair::from(&private))))
    }

    /// Hex encoding of the private key (what the key file holds).
    pub fn to_hex(&self) -> String {
        self.0.private().to_bytes_hex()
    }

    /// Load `path`; when it is missing and `may_generate`, create it (mode 0600) and warn.
    pub fn load_or_generate(path: &Path, may_generate: bool) -> anyhow::Result<RootKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => RootKey::from_hex(&text)
                .with_context(|| format!("root key file {} is invalid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_generate => {
                let key = RootKey::generate();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                write_private(path, &key.to_hex())
                    .with_context(|| format!("cannot write root key {}", path.display()))?;
                tracing::warn!(
                    path = %path.display(),
                    "generated a new biscuit root key; instances of one deployment must share \
                     this file (set RALLY_ROOT_KEY_FILE)"
                );
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("root key file {} does not exist", path.display())
            }
            Err(e) => Err(e).with_context(|| format!("cannot read root key {}", path.display())),
        }
    }

    /// The key pair (for signing).
    pub fn keypair(&self) -> &KeyPair {
        &self.0
    }

    /// The public key (for verifying).
    pub fn public(&self) -> PublicKey {
        self.0.public()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
