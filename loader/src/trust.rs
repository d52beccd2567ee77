//! Loading only artifacts signed by trusted keys.
//!
//! An artifact is native code: whoever can write one can run anything in
//! the host. [`Artifact::open_trusted`] and [`Artifact::from_bytes_trusted`]
//! accept an artifact only if it carries an Ed25519 signature (see
//! [`vibewasm_format::sign_artifact`]) by one of the [`TrustedKeys`], and
//! check that before any page of its code becomes executable.

#[cfg(feature = "std")]
use std::path::Path;

use vibewasm_format::{verify_signature, PublicKey};

use crate::artifact::Artifact;
use crate::error::LoadError;
use crate::prelude::*;

/// The public keys whose signatures a loader accepts. With no keys, every
/// artifact is refused (unsigned ones and signed ones alike).
///
/// ```no_run
/// use vibewasm_loader::{Artifact, TrustedKeys};
/// let mut keys = TrustedKeys::new();
/// keys.add_file("release.pub")?;
/// let artifact = Artifact::open_trusted("app.vwa", &keys)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Trusts `key` too.
    pub fn add(&mut self, key: PublicKey) -> &mut TrustedKeys {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
        self
    }

    /// Trusts the key in a public key file (as `vibewasmc keygen` writes
    /// `NAME.pub`), and returns it.
    #[cfg(feature = "std")]
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<PublicKey, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let key = PublicKey::from_text(&text).map_err(|e| LoadError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        self.add(key);
        Ok(key)
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `file` (a complete artifact) is signed by one of these keys
    /// with a valid signature. Does not check the checksum or anything else
    /// about the artifact.
    pub fn verify(&self, file: &[u8]) -> Result<(), vibewasm_format::FormatError> {
        verify_signature(file, &self.keys)
    }
}

impl FromIterator<PublicKey> for TrustedKeys {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> TrustedKeys {
        let mut keys = TrustedKeys::new();
        iter.into_iter().for_each(|k| {
            keys.add(k);
        });
        keys
    }
}

impl Artifact {
    /// Like [`Artifact::open`], but refuses the artifact unless it is
    /// signed by one of `trusted`. The file is read into memory once: the
    /// bytes that were checked (checksum, structure, signature) are the
    /// bytes whose code is mapped executable, so the file changing
    /// underneath cannot slip code past the check. (Backtraces of such an
    /// artifact name no file, as for [`Artifact::from_bytes`].)
    #[cfg(feature = "std")]
    pub fn open_trusted(
        path: impl AsRef<Path>,
        trusted: &TrustedKeys,
    ) -> Result<Artifact, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Artifact::from_bytes_checked(&bytes, Some(trusted)).map_err(|e| match e {
            LoadError::Format { source, .. } => LoadError::Format {
                path: Some(path.to_path_buf()),
                source,
            },
            LoadError::Map { reason, .. } => LoadError::Map {
                path: Some(path.to_path_buf()),
                reason,
            },
            other => other,
        })
    }

    /// Like [`Artifact::from_bytes`], but refuses the artifact unless it is
    /// signed by one of `trusted`: every check of `read_artifact` first
    /// (so damage is reported as a checksum mismatch), then the signature,
    /// and only then is code mapped executable.
    pub fn from_bytes_trusted(bytes: &[u8], trusted: &TrustedKeys) -> Result<Artifact, LoadError> {
        Artifact::from_bytes_checked(bytes, Some(trusted))
    }

    /// Like [`Artifact::from_static`] (code run in place where the platform
    /// allows), but refuses the artifact unless it is signed by one of
    /// `trusted`, checked before its code is used.
    pub fn from_static_trusted(
        bytes: &'static [u8],
        trusted: &TrustedKeys,
    ) -> Result<Artifact, LoadError> {
        Artifact::from_static_checked(bytes, Some(trusted))
    }
}
