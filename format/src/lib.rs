//! The `.vwa` artifact: machine code for one WebAssembly module plus what a
//! loader needs to instantiate it. Written by `vibewasm-compiler`, read by
//! `vibewasm-loader`; this crate is the only place that defines it.
//!
//! # File layout
//!
//! ```text
//! offset 0                 header (192 bytes, see below)
//! metadata_offset          metadata (postcard encoding of [`Metadata`])
//! metadata end             tables section (records read in place, see [`Tables`])
//! memory_image.offset      memory image (optional, see below; aligned to IMAGE_ALIGN = 4 KiB)
//! code_offset              code section (aligned to CODE_ALIGN = 4 KiB in the file, 64 KiB
//!                          for aarch64 code, when at least MAPPED_CODE_MIN = 64 KiB
//!                          long, else to 16 bytes; see "Page sizes")
//! signature_offset         signature block (signed artifacts only, 104 bytes, see below)
//! file_len                 end of file
//! ```
//!
//! Header fields, all little-endian:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `00 56 57 41 0d 0a 1a 0a` (`\0VWA\r\n\x1a\n`) |
//! | 8 | 2 | format version, major |
//! | 10 | 2 | format version, minor |
//! | 12 | 4 | header size (192) |
//! | 16 | 32 | producing compiler's version, UTF-8, NUL padded |
//! | 48 | 1 | target arch: 1 = x86_64, 2 = aarch64 |
//! | 49 | 1 | target OS: 1 = Linux, 2 = macOS |
//! | 50 | 1 | pointer width in bytes |
//! | 51 | 1 | reserved, 0 |
//! | 52 | 4 | code options: bits 0-7 bounds-check strategy (0 = explicit, 1 = guard pages), bit 8 fuel metering, bit 9 epoch checks; other bits 0 |
//! | 56 | 8 | required CPU features ([`target::cpu`] bits) |
//! | 64 | 32 | SHA-256 of the source wasm |
//! | 96 | 8 | metadata offset |
//! | 104 | 8 | metadata length |
//! | 112 | 8 | code offset (a multiple of 16; of the target's largest page size, 4 KiB x86-64 and 64 KiB aarch64, when the code is at least `MAPPED_CODE_MIN` long) |
//! | 120 | 8 | code length |
//! | 128 | 8 | file length |
//! | 136 | 32 | checksum: BLAKE3 of the whole file with these 32 bytes zeroed |
//! | 168 | 8 | signature offset: where the signature block starts, 0 = unsigned |
//! | 176 | 16 | reserved, 0 |
//!
//! A reader checks, in this order: magic, version (same major, minor not newer),
//! header size, file length, checksum, the signature block's position and
//! magic (if signed), target (arch, OS, pointer width), CPU features against
//! the running CPU, section ranges (inside the signed contents), then
//! decodes the metadata, checks the memory image's range (if any) and
//! validates the metadata. Nothing becomes executable before all
//! of that passed.
//!
//! # Signature block
//!
//! Optional, at the end of the file; `signature_offset + 104 = file_len`:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | +0 | 8 | magic `56 57 41 53 49 47 00 01` (`VWASIG\0\x01`) |
//! | +8 | 32 | Ed25519 public key of the signer |
//! | +40 | 64 | Ed25519 signature of BLAKE3(`"vibewasm artifact signature v1\0"` ‖ bytes `0..signature_offset` with the checksum field zeroed) |
//!
//! The checksum covers the block too and is computed after signing.
//! [`read_artifact`] checks only the block's structure; [`verify_signature`]
//! checks the signer against trusted keys and the signature; [`sign_artifact`]
//! and [`strip_signature`] add and remove the block (details in `src/sign.rs`).
//!
//! # Metadata encoding
//!
//! [`Metadata`] is encoded with `postcard` (serde): compact, deterministic (no
//! maps, so the same value always gives the same bytes), no schema to ship,
//! and its decoder fails cleanly on hostile input. `bincode` 3 is not an option
//! (the crate was ended with a deliberate compile error) and 2.x is no longer
//! maintained. Postcard's format is specified in its "wire format" document:
//! integers are LEB128 varints (signed ones zigzag-encoded), sequences and
//! strings are a varint length followed by the elements, enums a varint
//! variant index followed by the fields, `Option` a 0/1 byte.
//!
//! # Memory image
//!
//! [`Metadata::memory_image`] may locate the initial
//! contents of a defined memory 0 ([`MemoryImage`]): the bytes
//! `[memory_offset, memory_offset + len)` of the memory after its active
//! data segments are applied. The range `[offset, offset + len)` of the
//! file lies after the tables and before the code, with `offset` and
//! `len` multiples of [`IMAGE_ALIGN`] (4 KiB), so that a loader can map it
//! copy-on-write (`MAP_PRIVATE`) straight over the memory; the padding
//! before it is zeros. The metadata records the offset, so the writer
//! computes the two together (`place_memory_image`). Artifacts without an
//! image have no such range and no padding for it. [`read_artifact`]
//! checks that the range is aligned, inside the signed contents, and
//! overlaps neither the metadata nor the code; validation checks that the
//! image fits in memory 0's minimum size and that memory 0 is defined
//! (details in [`MemoryImage`]). The compiler's rule for building one is in
//! `vibewasm-compiler`'s `image.rs`.
//!
//! # Code section
//!
//! Position-independent machine code with no text relocations: it is mapped
//! read+execute straight from the file. Everything outside it is reached
//! through the `vmctx` pointer ([`vmctx`] documents the layout and calling
//! conventions), and [`Metadata::relocations`] lists which vmctx slots the loader
//! fills with which runtime helper or import.
//!
//! # Page sizes
//!
//! x86-64 Linux has 4 KiB pages; aarch64 Linux kernels are built with 4,
//! 16 or 64 KiB pages (16 KiB: Apple silicon, some Android and server
//! distributions; 64 KiB: some server distributions), and a loader learns
//! which at run time (`sysconf(_SC_PAGESIZE)`). Nothing in the format
//! depends on the page size; only whether a loader can *map* a section
//! from the file does, and a loader that cannot copies instead:
//!
//! * Code: a loader maps the code section from the file when its offset is
//!   a multiple of the host's page size, and otherwise copies it to fresh
//!   anonymous pages (short sections always are: see [`MAPPED_CODE_MIN`]).
//!   The copy costs a `memcpy` at load and the pages are not shared
//!   between processes; both give the same code at a page-aligned base.
//!   The writer aligns long code sections to [`mapped_code_align`] of the
//!   target: 4 KiB for x86-64, 64 KiB for aarch64, so that every aarch64
//!   host maps it. Readers require only [`CODE_MIN_ALIGN`], so this is a
//!   writer's choice that needs no new format version.
//! * Memory image: [`IMAGE_ALIGN`] stays 4 KiB (the image is cut along
//!   4 KiB pages of the memory). A loader maps it copy-on-write only when
//!   its file offset, its length and its offset in the memory are all
//!   multiples of the host's page size, and otherwise copies it into the
//!   memory (skipping pages of zeros), as for an artifact read from bytes.
//! * Linear memories are reserved, grown and protected in 64 KiB wasm
//!   pages, a multiple of every page size.
//!
//! aarch64 code may use `adrp` (page-relative addresses), which needs the
//! code's base at a multiple of 4 KiB in memory: both ways of loading it
//! give a page-aligned base.
//!
//! # `no_std`
//!
//! Without its default `std` feature the crate is `no_std` with `alloc`
//! (the loader's core for hosts without an operating system): every check
//! is the same; what changes is that the checksum runs on one thread, and
//! [`cpu::host_features`] reports the CPU features the code was compiled
//! to assume instead of asking the CPU.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// What `std`'s prelude gives and `no_std` code imports from `alloc`.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

mod header;
mod metadata;
mod sign;
mod site_stream;
mod tables;
mod target;
mod trap;
mod validate;
pub mod vmctx;

pub use header::{
    mapped_code_align, BoundsChecks, CodeOptions, Header, CHECKSUM_RANGE, CODE_ALIGN,
    CODE_ALIGN_AARCH64, CODE_MIN_ALIGN, GUARD_RESERVATION, HEADER_SIZE, MAGIC, MAPPED_CODE_MIN,
    SIGNATURE_OFFSET_RANGE, VERSION_MAJOR, VERSION_MINOR,
};
pub use metadata::*;
pub use sign::{
    fingerprint, sign_artifact, signature_block, signed_digest, strip_signature, verify_signature,
    KeyError, PublicKey, SecretKey, SignatureBlock, SIGNATURE_BLOCK_LEN, SIGNATURE_DOMAIN,
    SIGNATURE_MAGIC,
};
pub use tables::{
    encode_tables, find_fault_site, CallSite, FaultSite, SiteTables, TableRanges, Tables, TrapSite,
    FAULT_SITE_FLAG, OVERFLOW_STUB_SHIFT, TRAP_SITE_REGISTER_AARCH64, TRAP_SITE_REGISTER_X86_64,
};
pub use target::{cpu, Arch, Os, Target};
pub use trap::TrapCode;
pub use validate::{MAX_PAGES, MAX_PAGES64};

use sha2::{Digest, Sha256};

use crate::prelude::*;

/// Why an artifact was refused. Each variant names the field and the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("artifact truncated: {what} needs {needed} bytes, only {available} present")]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("not a vibewasm artifact: magic is {found:02x?}, expected {MAGIC:02x?}")]
    BadMagic { found: [u8; 8] },
    #[error("artifact {field} mismatch: artifact has {found}, this loader needs {expected}")]
    Mismatch {
        field: &'static str,
        found: String,
        expected: String,
    },
    #[error("artifact {field} not supported: {found}")]
    Unsupported { field: &'static str, found: String },
    #[error("artifact needs CPU features {required} but this CPU has {available}")]
    MissingCpuFeatures { required: String, available: String },
    #[error("artifact checksum mismatch: header says {stored}, contents hash to {computed}")]
    ChecksumMismatch { stored: String, computed: String },
    #[error("artifact {field} out of range: {value} (limit {limit})")]
    OutOfRange {
        field: String,
        value: u64,
        limit: u64,
    },
    #[error("artifact metadata cannot be decoded: {0}")]
    Metadata(String),
    #[error("artifact metadata is inconsistent: {0}")]
    Invalid(String),
    #[error("artifact signature block is malformed: {0}")]
    BadSignatureBlock(String),
    #[error(
        "artifact is not signed, and only artifacts signed by one of the {trusted} trusted \
         key(s) are accepted"
    )]
    Unsigned { trusted: usize },
    #[error(
        "artifact is signed by key {fingerprint}, which is not one of the {trusted} trusted key(s)"
    )]
    UntrustedKey { fingerprint: String, trusted: usize },
    #[error(
        "artifact signature by key {fingerprint} does not verify: the signed contents were \
         changed after signing, or the signature was not made with that key"
    )]
    BadSignature { fingerprint: String },
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checksum of a complete artifact file: BLAKE3 over all bytes, with
/// the checksum field read as zeros.
///
/// Every load hashes the whole file before anything in it is used, so the
/// hash is on the load path of every artifact: BLAKE3 runs its SIMD lanes
/// in parallel within one thread (AVX2/AVX-512 on x86-64, NEON on
/// aarch64) and hashes a multi-megabyte artifact several times faster than
/// SHA-256 with SHA-NI (SHA-256 was 42% of loading a 3.9 MB artifact).
/// Files of [`PARALLEL_HASH_MIN`] bytes and more are also split along
/// BLAKE3's own tree into subtrees that threads hash at once, one per core
/// up to 8 (the result is the same hash: see [`tree_checksum`]). Without
/// the `parallel-checksum` feature (on by default) one thread hashes every
/// file: the same checksum, checked as strictly, and no thread or
/// `available_parallelism` code linked in (a smaller minimal host).
pub fn file_checksum(file: &[u8]) -> [u8; 32] {
    if file.len() < PARALLEL_HASH_MIN {
        return tree_checksum(file, 1);
    }
    #[cfg(feature = "parallel-checksum")]
    {
        // Asked once: `available_parallelism` reads cgroup files (about 40
        // us a call, 6% of loading a 2.6 MB artifact).
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let cores =
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        tree_checksum(file, cores.min(8))
    }
    #[cfg(not(feature = "parallel-checksum"))]
    tree_checksum(file, 1)
}

/// Files shorter than this are hashed by one thread: below it, starting a
/// thread costs about as much as it saves.
pub const PARALLEL_HASH_MIN: usize = 1 << 20;

/// [`file_checksum`] with up to `threads` threads: the file is cut where
/// BLAKE3's tree cuts it (`left_subtree_len`), each subtree's chaining
/// value computed on its own thread, and the values merged as the tree
/// does, so the result is `blake3::hash` of the file (with the checksum
/// field zeroed) whatever the number of threads.
pub fn tree_checksum(file: &[u8], threads: usize) -> [u8; 32] {
    use blake3::hazmat::{left_subtree_len, merge_subtrees_root, Mode};
    if threads < 2 || file.len() < PARALLEL_HASH_MIN {
        let mut hasher = blake3::Hasher::new();
        update_with_checksum_zeroed(&mut hasher, file, 0..file.len());
        return hasher.finalize().into();
    }
    // Levels of the tree to split across threads: 2^levels <= threads.
    let levels = usize::BITS - 1 - threads.leading_zeros();
    let mid = left_subtree_len(file.len() as u64) as usize;
    let (left, right) = join_subtrees(file, 0..mid, mid..file.len(), levels - 1);
    merge_subtrees_root(&left, &right, Mode::Hash).into()
}

/// The chaining value of the subtree of `file` over `range` (which starts
/// on a subtree boundary), split `levels` more times across threads.
fn subtree_value(
    file: &[u8],
    range: core::ops::Range<usize>,
    levels: u32,
) -> blake3::hazmat::ChainingValue {
    use blake3::hazmat::{left_subtree_len, merge_subtrees_non_root, HasherExt, Mode};
    if levels == 0 || range.len() < PARALLEL_HASH_MIN / 2 {
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(range.start as u64);
        update_with_checksum_zeroed(&mut hasher, file, range);
        return hasher.finalize_non_root();
    }
    let mid = range.start + left_subtree_len(range.len() as u64) as usize;
    let (left, right) = join_subtrees(file, range.start..mid, mid..range.end, levels - 1);
    merge_subtrees_non_root(&left, &right, Mode::Hash)
}

/// The chaining values of the subtrees over `left` and `right`, the
/// right one hashed on another thread (or here too, after the left one,
/// if no thread can be started or without the `parallel-checksum`
/// feature).
#[cfg(not(feature = "parallel-checksum"))]
fn join_subtrees(
    file: &[u8],
    left: core::ops::Range<usize>,
    right: core::ops::Range<usize>,
    levels: u32,
) -> (blake3::hazmat::ChainingValue, blake3::hazmat::ChainingValue) {
    (
        subtree_value(file, left, levels),
        subtree_value(file, right, levels),
    )
}

/// The chaining values of the subtrees over `left` and `right`, the
/// right one hashed on another thread (or here too, after the left one,
/// if no thread can be started).
#[cfg(feature = "parallel-checksum")]
fn join_subtrees(
    file: &[u8],
    left: core::ops::Range<usize>,
    right: core::ops::Range<usize>,
    levels: u32,
) -> (blake3::hazmat::ChainingValue, blake3::hazmat::ChainingValue) {
    std::thread::scope(|scope| {
        let right_range = right.clone();
        let spawned = std::thread::Builder::new()
            .spawn_scoped(scope, move || subtree_value(file, right_range, levels));
        let left = subtree_value(file, left, levels);
        let right = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => subtree_value(file, right, levels),
        };
        (left, right)
    })
}

/// Feeds `file[range]` to `hasher`, with the bytes of the checksum field
/// read as zeros.
fn update_with_checksum_zeroed(
    hasher: &mut blake3::Hasher,
    file: &[u8],
    range: core::ops::Range<usize>,
) {
    let field = CHECKSUM_RANGE.start.max(range.start)..CHECKSUM_RANGE.end.min(range.end);
    if field.is_empty() {
        hasher.update(&file[range]);
        return;
    }
    hasher.update(&file[range.start..field.start]);
    hasher.update(&[0u8; 32][..field.len()]);
    hasher.update(&file[field.end..range.end]);
}

/// What a compiler puts into an artifact.
pub struct ArtifactParts<'a> {
    pub compiler_version: &'a str,
    pub target: Target,
    pub options: CodeOptions,
    pub wasm: &'a [u8],
    /// Everything but [`Metadata::site_tables`], which is filled in here.
    pub metadata: &'a Metadata,
    pub tables: &'a SiteTables,
    /// The bytes of `metadata.memory_image` (empty without one); the
    /// writer fills in its `offset` and `len`.
    pub memory_image: &'a [u8],
    pub code: &'a [u8],
}

/// Encodes a complete artifact file. The output depends only on `parts`.
/// Fails if the tables are not in the order the format requires.
///
/// # Panics
/// If `parts.metadata.memory_image` is `Some` but `parts.memory_image` is
/// empty or not a multiple of [`IMAGE_ALIGN`] long, or the other way round.
pub fn write_artifact(parts: &ArtifactParts<'_>) -> Result<Vec<u8>, String> {
    write_artifact_aligned(parts, CODE_MIN_ALIGN)
}

/// [`write_artifact`] with the code section at a multiple of `code_align`
/// bytes of the file (a power of two, at least [`CODE_MIN_ALIGN`]; long
/// sections get at least [`mapped_code_align`] as always). 4096 lets a host
/// run aarch64 code in place from a 4 KiB-aligned buffer (execute in place
/// from flash; the code addresses its data page-relatively). Readers need
/// nothing new: the offset is a multiple of [`CODE_MIN_ALIGN`] either way.
pub fn write_artifact_aligned(
    parts: &ArtifactParts<'_>,
    code_align: u64,
) -> Result<Vec<u8>, String> {
    if !code_align.is_power_of_two() || code_align < CODE_MIN_ALIGN {
        return Err(format!(
            "code alignment {code_align} is not a power of two of at least {CODE_MIN_ALIGN}"
        ));
    }
    let (tables, site_tables) = encode_tables(parts.tables)?;
    let metadata = Metadata {
        site_tables,
        ..parts.metadata.clone()
    };
    let metadata_offset = HEADER_SIZE as u64;
    // The tables section follows the metadata directly, the image (if
    // any) the tables.
    let (metadata, image_offset) = place_memory_image(
        &metadata,
        parts.memory_image,
        metadata_offset,
        tables.len() as u64,
    );
    let metadata_len = metadata.len() as u64;
    let image_end = image_offset + parts.memory_image.len() as u64;
    let code_len = parts.code.len() as u64;
    let code_align = match code_len >= MAPPED_CODE_MIN {
        true => mapped_code_align(parts.target.arch).max(code_align),
        false => code_align,
    };
    let code_offset = image_end.next_multiple_of(code_align);
    let file_len = code_offset + code_len;
    let header = Header {
        version_major: VERSION_MAJOR,
        version_minor: VERSION_MINOR,
        compiler_version: parts.compiler_version.to_string(),
        target: parts.target,
        options: parts.options,
        wasm_sha256: sha256(parts.wasm),
        metadata_offset,
        metadata_len,
        code_offset,
        code_len,
        file_len,
        checksum: [0; 32],
        signature_offset: 0,
    };
    let mut file = Vec::with_capacity(file_len as usize);
    file.extend_from_slice(&header.encode());
    file.extend_from_slice(&metadata);
    file.extend_from_slice(&tables);
    file.resize(image_offset as usize, 0);
    file.extend_from_slice(parts.memory_image);
    file.resize(code_offset as usize, 0);
    file.extend_from_slice(parts.code);
    let checksum = file_checksum(&file);
    file[CHECKSUM_RANGE].copy_from_slice(&checksum);
    Ok(file)
}

/// The encoded metadata and the file offset of the memory image: the
/// first [`IMAGE_ALIGN`] boundary after the metadata and the `tables_len`
/// bytes of tables that follow it. The metadata records that offset, so
/// the two are computed together. Without an image the offset is the
/// tables' end (no padding).
///
/// The layout decision for the image is all here. Postcard encodes a
/// struct as its fields in order, and `memory_image` is the last field of
/// [`Metadata`], so only that field is encoded again while the offset
/// settles (a longer varint may push the image one page further; the
/// offset only grows, so this ends after a few rounds).
fn place_memory_image(
    metadata: &Metadata,
    image: &[u8],
    metadata_offset: u64,
    tables_len: u64,
) -> (Vec<u8>, u64) {
    fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
        postcard::to_allocvec(value).expect("metadata always serializes")
    }
    let mut bytes = encode(metadata);
    let Some(template) = &metadata.memory_image else {
        assert!(
            image.is_empty(),
            "memory image bytes without metadata.memory_image"
        );
        let end = metadata_offset + bytes.len() as u64 + tables_len;
        return (bytes, end);
    };
    assert!(
        !image.is_empty() && (image.len() as u64).is_multiple_of(IMAGE_ALIGN),
        "a memory image is a non-zero multiple of {IMAGE_ALIGN} bytes, not {}",
        image.len()
    );
    let prefix_len = bytes.len() - encode(&metadata.memory_image).len();
    let mut placed = MemoryImage {
        offset: 0,
        len: image.len() as u64,
        ..template.clone()
    };
    loop {
        bytes.truncate(prefix_len);
        bytes.extend_from_slice(&encode(&Some(&placed)));
        let offset =
            (metadata_offset + bytes.len() as u64 + tables_len).next_multiple_of(IMAGE_ALIGN);
        if offset == placed.offset {
            return (bytes, offset);
        }
        placed.offset = offset;
    }
}

/// A checked artifact: header and metadata decoded, tables, code and
/// memory image located.
#[derive(Debug)]
pub struct ArtifactView<'a> {
    pub header: Header,
    pub metadata: Metadata,
    /// Where the tables section is in the file.
    pub tables_range: core::ops::Range<usize>,
    pub tables: Tables<'a>,
    pub code: &'a [u8],
    /// The bytes of `metadata.memory_image` (empty without one).
    pub memory_image: &'a [u8],
}

/// Checks everything about `file` (see the crate docs for the order) for the
/// running machine, and decodes it.
pub fn read_artifact(file: &[u8]) -> Result<ArtifactView<'_>, FormatError> {
    let host = Target::host().ok_or_else(|| FormatError::Unsupported {
        field: "host",
        found: HOST_ARCH.to_string(),
    })?;
    read_artifact_for(file, host, cpu::host_features())
}

/// The architecture this code runs on, as Rust names it.
const HOST_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x86_64"
} else if cfg!(target_arch = "aarch64") {
    "aarch64"
} else if cfg!(target_arch = "arm") {
    "arm"
} else if cfg!(target_arch = "riscv32") {
    "riscv32"
} else if cfg!(target_arch = "riscv64") {
    "riscv64"
} else {
    "an unsupported architecture"
};

/// Like [`read_artifact`], for a given machine (used by tests to simulate one).
pub fn read_artifact_for(
    file: &[u8],
    host: Target,
    host_features: u64,
) -> Result<ArtifactView<'_>, FormatError> {
    let header = Header::decode(file)?;
    let actual_len = file.len() as u64;
    if header.file_len > actual_len {
        return Err(FormatError::Truncated {
            what: "file",
            needed: header.file_len,
            available: actual_len,
        });
    }
    if header.file_len != actual_len {
        return Err(FormatError::Mismatch {
            field: "file length",
            found: actual_len.to_string(),
            expected: header.file_len.to_string(),
        });
    }
    let computed = file_checksum(file);
    if computed != header.checksum {
        return Err(FormatError::ChecksumMismatch {
            stored: hex(&header.checksum),
            computed: hex(&computed),
        });
    }
    // The sections lie in the signed contents: before any signature block.
    let contents_end = sign::check_block(&header, file)?;
    check_target(&header.target, &host, host_features)?;
    let metadata_range = section(
        "metadata",
        header.metadata_offset,
        header.metadata_len,
        contents_end,
    )?;
    let code_range = section("code", header.code_offset, header.code_len, contents_end)?;
    // Page alignment is the writer's choice for long code (a loader maps
    // code from the file only where it finds it page-aligned).
    if header.code_offset % CODE_MIN_ALIGN != 0 {
        return Err(FormatError::Mismatch {
            field: "code offset alignment",
            found: header.code_offset.to_string(),
            expected: format!("a multiple of {CODE_MIN_ALIGN}"),
        });
    }
    if metadata_range.end > code_range.start && header.code_len > 0 {
        return Err(FormatError::Invalid(format!(
            "metadata ({:?}) overlaps code ({:?})",
            metadata_range, code_range
        )));
    }
    let metadata: Metadata = postcard::from_bytes(&file[metadata_range.clone()])
        .map_err(|e| FormatError::Metadata(e.to_string()))?;
    let memory_image = match &metadata.memory_image {
        Some(image) => {
            let range = image_section(image, &metadata_range, &code_range, contents_end)?;
            &file[range]
        }
        None => &[],
    };
    // The tables section runs from the end of the metadata to the memory
    // image, the code, or the end of the signed contents, whichever comes
    // first after it.
    let tables_end = match &metadata.memory_image {
        Some(image) => image.offset as usize,
        None if header.code_len > 0 => code_range.start,
        None => contents_end as usize,
    };
    let tables_range = metadata_range.end..tables_end.max(metadata_range.end);
    let tables = Tables::new(&file[tables_range.clone()], &metadata.site_tables)?;
    let code = &file[code_range];
    validate::validate(&metadata, &tables, code.len() as u64, header.options)?;
    Ok(ArtifactView {
        header,
        metadata,
        tables_range,
        tables,
        code,
        memory_image,
    })
}

/// The file range of the memory image: aligned, inside the signed contents,
/// and apart from the metadata and the code. (Validation checks it against
/// the memory.)
fn image_section(
    image: &MemoryImage,
    metadata: &core::ops::Range<usize>,
    code: &core::ops::Range<usize>,
    contents_end: u64,
) -> Result<core::ops::Range<usize>, FormatError> {
    let range = section("memory image", image.offset, image.len, contents_end)?;
    if range.is_empty() {
        return Err(FormatError::Invalid("the memory image is empty".into()));
    }
    let overlaps = |other: &core::ops::Range<usize>| {
        !other.is_empty() && range.start < other.end && other.start < range.end
    };
    for (what, other) in [("metadata", metadata), ("code", code)] {
        if overlaps(other) {
            return Err(FormatError::Invalid(format!(
                "the memory image ({range:?}) overlaps the {what} ({other:?})"
            )));
        }
    }
    for (field, value) in [
        ("memory image offset alignment", image.offset),
        ("memory image length alignment", image.len),
    ] {
        if value % IMAGE_ALIGN != 0 {
            return Err(FormatError::Mismatch {
                field,
                found: value.to_string(),
                expected: format!("a multiple of {IMAGE_ALIGN}"),
            });
        }
    }
    Ok(range)
}

fn check_target(found: &Target, host: &Target, host_features: u64) -> Result<(), FormatError> {
    if found.arch != host.arch {
        return Err(FormatError::Mismatch {
            field: "target.arch",
            found: format!("{:?}", found.arch),
            expected: format!("{:?}", host.arch),
        });
    }
    if found.os != host.os {
        return Err(FormatError::Mismatch {
            field: "target.os",
            found: format!("{:?}", found.os),
            expected: format!("{:?}", host.os),
        });
    }
    if found.pointer_width != host.pointer_width {
        return Err(FormatError::Mismatch {
            field: "target.pointer_width",
            found: found.pointer_width.to_string(),
            expected: host.pointer_width.to_string(),
        });
    }
    if found.cpu_features & !host_features != 0 {
        return Err(FormatError::MissingCpuFeatures {
            required: cpu::names(found.cpu_features),
            available: cpu::names(host_features),
        });
    }
    Ok(())
}

fn section(
    what: &'static str,
    offset: u64,
    len: u64,
    file_len: u64,
) -> Result<core::ops::Range<usize>, FormatError> {
    let end = offset.checked_add(len).ok_or(FormatError::OutOfRange {
        field: format!("{what} offset + length"),
        value: u64::MAX,
        limit: file_len,
    })?;
    if offset < HEADER_SIZE as u64 {
        return Err(FormatError::OutOfRange {
            field: format!("{what} offset"),
            value: offset,
            limit: HEADER_SIZE as u64,
        });
    }
    if end > file_len {
        return Err(FormatError::OutOfRange {
            field: format!("{what} end"),
            value: end,
            limit: file_len,
        });
    }
    Ok(offset as usize..end as usize)
}

#[cfg(test)]
mod tests;
