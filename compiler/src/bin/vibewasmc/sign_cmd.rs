//! Artifact signatures on the command line: `vibewasmc keygen`, `compile
//! --sign KEY`, `run --trusted-key KEY.pub` and the signature line of
//! `inspect`.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vibewasm_format::{self as format, SecretKey};
use vibewasm_loader::{Artifact, TrustedKeys};

use crate::Failure;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// The secret key file to create (mode 0600); the public key goes to
    /// OUTPUT.pub. Existing files are not overwritten.
    #[arg(short, long, value_name = "NAME")]
    output: PathBuf,
}

/// `NAME` -> `NAME.pub`.
fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn create_new(path: &Path, mode: u32, text: &str) -> Result<(), Failure> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

pub fn cmd_keygen(args: KeygenArgs) -> Result<(), Failure> {
    let public = public_path(&args.output);
    for path in [&args.output, &public] {
        if path.exists() {
            return Err(format!("{} already exists (not overwritten)", path.display()).into());
        }
    }
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read random bytes from /dev/urandom: {e}"))?;
    let key = SecretKey::from_seed(&seed);
    seed.fill(0);
    create_new(&args.output, 0o600, &key.to_text())?;
    create_new(&public, 0o644, &key.public_key().to_text())?;
    println!(
        "secret key {} (keep it private), public key {}, fingerprint {}",
        args.output.display(),
        public.display(),
        key.public_key().fingerprint()
    );
    Ok(())
}

fn read_secret_key(path: &Path) -> Result<SecretKey, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret key {}: {e}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: secret key {} is accessible by other users (mode {:o}); \
                 `chmod 600` it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    SecretKey::from_text(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

static SIGNING_KEY: OnceLock<PathBuf> = OnceLock::new();

/// `compile --sign KEY`: from here on, `sign` signs with the secret key in
/// the file `key`.
pub fn set_signing_key(key: Option<PathBuf>) -> Result<(), Failure> {
    if let Some(key) = key {
        let _ = SIGNING_KEY.set(key);
    }
    Ok(())
}

/// The artifact, signed if `compile --sign KEY` asked for it.
pub fn sign(artifact: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let Some(key) = SIGNING_KEY.get() else {
        return Ok(artifact);
    };
    let secret = read_secret_key(key)?;
    format::sign_artifact(&artifact, &secret).map_err(|e| format!("cannot sign: {e}").into())
}

static TRUSTED: OnceLock<TrustedKeys> = OnceLock::new();

/// `run --trusted-key K.pub...`: from here on, `open` accepts only
/// artifacts signed by one of these keys (if any were given).
pub fn configure_trust(paths: &[PathBuf]) -> Result<(), Failure> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut keys = TrustedKeys::new();
    for path in paths {
        keys.add_file(path)
            .map_err(|e| format!("trusted key: {e}"))?;
    }
    let _ = TRUSTED.set(keys);
    Ok(())
}

/// Opens a `.vwa` file, through the trust policy if one was configured.
pub fn open(input: &Path) -> Result<Artifact, Failure> {
    match TRUSTED.get() {
        Some(keys) => Artifact::open_trusted(input, keys),
        None => Artifact::open(input),
    }
    .map_err(|e| format!("{}: {e}", input.display()).into())
}

/// `inspect`'s signature line.
pub fn signature_line(input: &Path) -> String {
    let describe = |bytes: &[u8]| match format::signature_block(bytes) {
        Ok(None) => "none (unsigned)".to_string(),
        Ok(Some(block)) => format!(
            "ed25519, key {} ({} byte block at {:#x}; `run --trusted-key` verifies it)",
            block.fingerprint(),
            format::SIGNATURE_BLOCK_LEN,
            block.offset
        ),
        Err(e) => format!("malformed: {e}"),
    };
    match std::fs::read(input) {
        Ok(bytes) => describe(&bytes),
        Err(e) => format!("cannot read: {e}"),
    }
}
