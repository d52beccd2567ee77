//! Optional Ed25519 signatures of artifacts.
//!
//! A signed artifact is the unsigned artifact's bytes, with the header's
//! `signature_offset` set to the unsigned length and `file_length` grown by
//! [`SIGNATURE_BLOCK_LEN`], followed by the signature block:
//!
//! | offset in the block | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic [`SIGNATURE_MAGIC`] (`VWASIG\0\x01`, the last byte is the block version) |
//! | 8 | 32 | Ed25519 public key of the signer |
//! | 40 | 64 | Ed25519 signature of the signed digest |
//!
//! The signed message is the 32-byte [`signed_digest`]: BLAKE3 over
//! [`SIGNATURE_DOMAIN`] followed by the file's first `signature_offset`
//! bytes with the checksum field read as zeros. Those bytes include the
//! header with its final `signature_offset` and `file_length`, so the block
//! cannot be moved. The checksum is computed last, over the whole file
//! (block included), so any damage is reported as a checksum mismatch
//! before the signature is looked at.
//!
//! Ed25519 signatures are deterministic: signing the same artifact with the
//! same key gives the same bytes, and [`strip_signature`] gives back the
//! unsigned artifact byte for byte.
//!
//! [`crate::read_artifact`] checks only the block's structure (position and
//! magic). Whether the signer is trusted is [`verify_signature`]'s job,
//! which a loader runs before any code becomes executable.

use crate::prelude::*;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{
    file_checksum, hex, FormatError, Header, CHECKSUM_RANGE, HEADER_SIZE, SIGNATURE_OFFSET_RANGE,
};

/// First 8 bytes of the signature block.
pub const SIGNATURE_MAGIC: [u8; 8] = *b"VWASIG\0\x01";
/// Size of the signature block: magic, public key, signature.
pub const SIGNATURE_BLOCK_LEN: u64 = 8 + 32 + 64;
/// Domain separation: the prefix of the hashed message, so a signature of
/// an artifact can never be mistaken for one of anything else.
pub const SIGNATURE_DOMAIN: &[u8] = b"vibewasm artifact signature v1\0";

/// Byte range of the file length field in the header.
const FILE_LEN_RANGE: core::ops::Range<usize> = 128..136;

/// A problem with a key file or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct KeyError {
    pub what: &'static str,
    pub reason: String,
}

const PUBLIC_LABEL: &str = "vibewasm-ed25519-public-key";
const SECRET_LABEL: &str = "vibewasm-ed25519-secret-key";

fn parse_hex32(text: &str, what: &'static str) -> Result<[u8; 32], KeyError> {
    let bad = |reason: String| KeyError { what, reason };
    if text.len() != 64 || !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "expected 64 hexadecimal digits, found {:?}",
            text.chars().take(80).collect::<String>()
        )));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("checked hex digits");
    }
    Ok(out)
}

/// Reads `LABEL HEX` (or a bare `HEX`) from a key file's text.
fn parse_key_text(text: &str, label: &str, what: &'static str) -> Result<[u8; 32], KeyError> {
    let mut words = text.split_whitespace();
    let first = words.next().ok_or(KeyError {
        what,
        reason: "the file is empty".into(),
    })?;
    let hex_text = if first == label {
        words.next().ok_or(KeyError {
            what,
            reason: format!("nothing after '{label}'"),
        })?
    } else if first.starts_with("vibewasm-") {
        return Err(KeyError {
            what,
            reason: format!("this is a '{first}', expected a '{label}'"),
        });
    } else {
        first
    };
    if let Some(extra) = words.next() {
        return Err(KeyError {
            what,
            reason: format!("unexpected text after the key: {extra:?}"),
        });
    }
    parse_hex32(hex_text, what)
}

/// An Ed25519 public key: who signed an artifact, or whom a loader trusts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key from its 32 bytes; fails if they are not a valid Ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError {
                what: "Ed25519 public key",
                reason: format!("{} is not a valid curve point", hex(bytes)),
            })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A short name for the key, for messages: `SHA256:` and the first 16
    /// bytes of the SHA-256 of the key, in hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.to_bytes())
    }

    /// The contents of a `.pub` file: `vibewasm-ed25519-public-key HEX`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_LABEL} {}\n", hex(&self.to_bytes()))
    }

    /// Parses what [`PublicKey::to_text`] writes (or just the 64 hex digits).
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        PublicKey::from_bytes(&parse_key_text(text, PUBLIC_LABEL, "public key file")?)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// The fingerprint of 32 public key bytes (valid point or not).
pub fn fingerprint(key: &[u8; 32]) -> String {
    format!("SHA256:{}", hex(&Sha256::digest(key)[..16]))
}

/// An Ed25519 secret key (zeroed when dropped).
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key derived from a 32-byte seed (which must come from a secure
    /// random source: the key is only as secret as the seed).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The contents of a secret key file: `vibewasm-ed25519-secret-key HEX`
    /// (the seed). Keep it private.
    pub fn to_text(&self) -> String {
        format!("{SECRET_LABEL} {}\n", hex(&self.0.to_bytes()))
    }

    /// Parses what [`SecretKey::to_text`] writes.
    pub fn from_text(text: &str) -> Result<SecretKey, KeyError> {
        Ok(SecretKey::from_seed(&parse_key_text(
            text,
            SECRET_LABEL,
            "secret key file",
        )?))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key().fingerprint())
    }
}

/// The message an artifact's signature signs: BLAKE3 of
/// [`SIGNATURE_DOMAIN`] and `signed` (the file up to the signature block)
/// with the checksum field read as zeros.
pub fn signed_digest(signed: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(SIGNATURE_DOMAIN);
    hasher.update(&signed[..CHECKSUM_RANGE.start]);
    hasher.update(&[0u8; 32]);
    hasher.update(&signed[CHECKSUM_RANGE.end..]);
    hasher.finalize().into()
}

fn bad_block(reason: String) -> FormatError {
    FormatError::BadSignatureBlock(reason)
}

/// Checks the signature block's position and magic (not the signature),
/// for a file whose length already matches `header.file_len`. Returns the
/// end of the signed contents: where the sections must end.
pub(crate) fn check_block(header: &Header, file: &[u8]) -> Result<u64, FormatError> {
    let offset = header.signature_offset;
    if offset == 0 {
        return Ok(header.file_len);
    }
    if offset < HEADER_SIZE as u64
        || offset.checked_add(SIGNATURE_BLOCK_LEN) != Some(header.file_len)
    {
        return Err(bad_block(format!(
            "signature offset {offset}: the {SIGNATURE_BLOCK_LEN}-byte block must end the \
             file (length {}) and follow the header",
            header.file_len
        )));
    }
    let magic = &file[offset as usize..offset as usize + 8];
    if magic != SIGNATURE_MAGIC {
        return Err(bad_block(format!(
            "magic at offset {offset} is {magic:02x?}, expected {SIGNATURE_MAGIC:02x?}"
        )));
    }
    Ok(offset)
}

/// The header, checked to describe exactly `file` (magic, version, length).
fn header_of(file: &[u8]) -> Result<Header, FormatError> {
    let header = Header::decode(file)?;
    if header.file_len != file.len() as u64 {
        return Err(FormatError::Mismatch {
            field: "file length",
            found: file.len().to_string(),
            expected: header.file_len.to_string(),
        });
    }
    Ok(header)
}

/// A signature block as found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureBlock {
    /// Where the block starts: the length of the signed contents.
    pub offset: u64,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

impl SignatureBlock {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key)
    }
}

/// The artifact's signature block, if it is signed (structure checked,
/// signature not verified).
pub fn signature_block(file: &[u8]) -> Result<Option<SignatureBlock>, FormatError> {
    let header = header_of(file)?;
    let offset = check_block(&header, file)?;
    if header.signature_offset == 0 {
        return Ok(None);
    }
    let block = &file[offset as usize..];
    Ok(Some(SignatureBlock {
        offset,
        public_key: block[8..40].try_into().expect("32 bytes"),
        signature: block[40..104].try_into().expect("64 bytes"),
    }))
}

/// Accepts `file` only if it is signed by one of `trusted` and the
/// signature verifies. The errors say which of these failed:
/// [`FormatError::Unsigned`], [`FormatError::UntrustedKey`] (with the
/// signer's fingerprint), [`FormatError::BadSignature`]. Structure errors
/// (length, block position and magic) come first. The checksum is not
/// checked here: [`crate::read_artifact`] does that, and a loader runs both
/// before any code becomes executable.
pub fn verify_signature(file: &[u8], trusted: &[PublicKey]) -> Result<(), FormatError> {
    let block = signature_block(file)?.ok_or(FormatError::Unsigned {
        trusted: trusted.len(),
    })?;
    let key = trusted
        .iter()
        .find(|k| k.to_bytes() == block.public_key)
        .ok_or_else(|| FormatError::UntrustedKey {
            fingerprint: block.fingerprint(),
            trusted: trusted.len(),
        })?;
    let digest = signed_digest(&file[..block.offset as usize]);
    let signature = ed25519_dalek::Signature::from_bytes(&block.signature);
    key.0
        .verify_strict(&digest, &signature)
        .map_err(|_| FormatError::BadSignature {
            fingerprint: block.fingerprint(),
        })
}

/// The unsigned artifact a signed one was made from (byte for byte), or a
/// copy of `file` if it is not signed. Checks the checksum first.
pub fn strip_signature(file: &[u8]) -> Result<Vec<u8>, FormatError> {
    let header = header_of(file)?;
    check_checksum(&header, file)?;
    let offset = check_block(&header, file)?;
    let mut out = file[..offset as usize].to_vec();
    if header.signature_offset != 0 {
        out[SIGNATURE_OFFSET_RANGE].copy_from_slice(&0u64.to_le_bytes());
        out[FILE_LEN_RANGE].copy_from_slice(&offset.to_le_bytes());
        let checksum = file_checksum(&out);
        out[CHECKSUM_RANGE].copy_from_slice(&checksum);
    }
    Ok(out)
}

fn check_checksum(header: &Header, file: &[u8]) -> Result<(), FormatError> {
    let computed = file_checksum(file);
    if computed != header.checksum {
        return Err(FormatError::ChecksumMismatch {
            stored: hex(&header.checksum),
            computed: hex(&computed),
        });
    }
    Ok(())
}

/// Signs an artifact: returns `file` (after removing any earlier signature)
/// with the signature block appended, the header's signature offset and
/// file length updated, and the checksum recomputed. Refuses a file whose
/// checksum does not match, so damage is never signed. Deterministic.
pub fn sign_artifact(file: &[u8], key: &SecretKey) -> Result<Vec<u8>, FormatError> {
    let mut out = strip_signature(file)?;
    let offset = out.len() as u64;
    out[SIGNATURE_OFFSET_RANGE].copy_from_slice(&offset.to_le_bytes());
    out[FILE_LEN_RANGE].copy_from_slice(&(offset + SIGNATURE_BLOCK_LEN).to_le_bytes());
    out[CHECKSUM_RANGE].fill(0);
    let signature = key.0.sign(&signed_digest(&out));
    out.extend_from_slice(&SIGNATURE_MAGIC);
    out.extend_from_slice(&key.public_key().to_bytes());
    out.extend_from_slice(&signature.to_bytes());
    let checksum = file_checksum(&out);
    out[CHECKSUM_RANGE].copy_from_slice(&checksum);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    #[test]
    fn key_text_round_trips() {
        let secret = key(7);
        let public = secret.public_key();
        assert_eq!(PublicKey::from_text(&public.to_text()).unwrap(), public);
        assert_eq!(
            SecretKey::from_text(&secret.to_text())
                .unwrap()
                .public_key(),
            public
        );
        let bare = hex(&public.to_bytes());
        assert_eq!(PublicKey::from_text(&bare).unwrap(), public);
        let err = PublicKey::from_text(&secret.to_text()).unwrap_err();
        assert!(err.to_string().contains("expected a"), "{err}");
        assert!(PublicKey::from_text("").is_err());
        assert!(PublicKey::from_text("vibewasm-ed25519-public-key 12").is_err());
        assert!(format!("{secret:?}").contains("SHA256:"));
        assert!(!format!("{secret:?}").contains(&hex(&[7; 32])));
    }

    fn sample() -> Vec<u8> {
        crate::tests::sample()
    }

    fn refix(file: &mut [u8]) {
        let sum = file_checksum(file);
        file[CHECKSUM_RANGE].copy_from_slice(&sum);
    }

    #[test]
    fn sign_verify_strip() {
        let unsigned = sample();
        let signed = sign_artifact(&unsigned, &key(1)).unwrap();
        assert_eq!(
            signed.len() as u64,
            unsigned.len() as u64 + SIGNATURE_BLOCK_LEN
        );
        assert_eq!(signed, sign_artifact(&unsigned, &key(1)).unwrap());
        assert_eq!(
            signed,
            sign_artifact(&signed, &key(1)).unwrap(),
            "re-signing"
        );
        assert_eq!(strip_signature(&signed).unwrap(), unsigned);
        let view = crate::read_artifact(&signed).unwrap();
        assert_eq!(view.header.signature_offset, unsigned.len() as u64);
        assert_eq!(view.code, &[0x90; 32]);
        verify_signature(&signed, &[key(2).public_key(), key(1).public_key()]).unwrap();
        let block = signature_block(&signed).unwrap().unwrap();
        assert_eq!(block.public_key, key(1).public_key().to_bytes());
        assert_eq!(signature_block(&unsigned).unwrap(), None);
    }

    #[test]
    fn refusals_name_the_reason() {
        let unsigned = sample();
        let signed = sign_artifact(&unsigned, &key(1)).unwrap();
        let trusted = [key(1).public_key()];
        let err = verify_signature(&unsigned, &trusted).unwrap_err();
        assert_eq!(err, FormatError::Unsigned { trusted: 1 });
        let err = verify_signature(&signed, &[key(3).public_key()]).unwrap_err();
        assert!(
            err.to_string().contains(&key(1).public_key().fingerprint()),
            "{err}"
        );
        assert!(matches!(err, FormatError::UntrustedKey { .. }));
        // Every byte of the signed contents and of the signature matters
        // (the checksum field excepted: it is not signed).
        // (Every header and block byte, a sample of the rest: verifying is
        // slow in debug builds.)
        let block_start = unsigned.len();
        let sampled = |i: &usize| *i < HEADER_SIZE || *i >= block_start || i.is_multiple_of(61);
        for at in (0..signed.len()).filter(|i| !CHECKSUM_RANGE.contains(i) && sampled(i)) {
            let mut bad = signed.clone();
            bad[at] ^= 0x20;
            assert!(
                crate::read_artifact(&bad).is_err(),
                "byte {at} not checksummed"
            );
            refix(&mut bad);
            let result = crate::read_artifact(&bad).and_then(|_| verify_signature(&bad, &trusted));
            assert!(result.is_err(), "flipped byte {at} accepted");
        }
        let mut bad = signed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        refix(&mut bad);
        crate::read_artifact(&bad).unwrap();
        let err = verify_signature(&bad, &trusted).unwrap_err();
        assert!(matches!(err, FormatError::BadSignature { .. }), "{err}");
        // A moved or broken block is a structure error of read_artifact.
        let mut bad = signed.clone();
        bad[SIGNATURE_OFFSET_RANGE].copy_from_slice(&1000u64.to_le_bytes());
        refix(&mut bad);
        let err = crate::read_artifact(&bad).unwrap_err();
        assert!(matches!(err, FormatError::BadSignatureBlock(_)), "{err}");
        let mut bad = signed.clone();
        bad[unsigned.len()] ^= 1;
        refix(&mut bad);
        let err = crate::read_artifact(&bad).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
        for len in 0..signed.len() {
            assert!(crate::read_artifact(&signed[..len]).is_err());
            assert!(verify_signature(&signed[..len], &trusted).is_err());
        }
        // Damage is never signed.
        let mut bad = unsigned.clone();
        bad[unsigned.len() - 1] ^= 1;
        assert!(matches!(
            sign_artifact(&bad, &key(1)),
            Err(FormatError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn fingerprints_differ() {
        assert_ne!(
            key(1).public_key().fingerprint(),
            key(2).public_key().fingerprint()
        );
        assert_eq!(key(1).public_key().fingerprint().len(), 7 + 32);
    }
}
