//! The fixed-size header at the start of every `.vwa` file.

use crate::prelude::*;
use crate::target::{arch_name, os_name, Arch, Os, Target};
use crate::FormatError;

/// First 8 bytes of every artifact. The NUL, CR and LF make a text-mode
/// transfer that mangles line endings visible, as PNG's magic does.
pub const MAGIC: [u8; 8] = *b"\0VWA\r\n\x1a\n";
/// Bumped for changes that old loaders cannot read. 2: stack-overflow trap
/// sites are raised before their function's frame exists
/// ([`crate::TrapSite::frame_size`]); artifacts of 1.x allocated the frame
/// first and could run their trap path past the thread's guard page, so
/// they are refused. 3: per-function and per-site tables moved out of the
/// postcard metadata into the tables section, read in place
/// ([`crate::Tables`]); fault sites carry their own wasm offset. 4: SIMD:
/// `v128` values take two argument slots, `v128` globals live behind a
/// pointer, constant expressions may be `v128.const`. 5: multi-memory:
/// the vmctx has a memories region and more helpers (memory indices as
/// immediates); a memory of explicit-check code may move when it grows;
/// extended constant expressions ([`crate::ConstExpr::Extended`],
/// [`crate::Metadata::const_exprs`]); memory64: memory types say whether a
/// memory is 64-bit ([`crate::MemoryType::index64`]), whose data segments
/// have i64 offsets. All of it came in 5.0, before 5.0 was released. 6:
/// tail calls: a wasm function gets its results array in a register of its
/// own (`R1`, besides the arguments in `R0`), and the vmctx ends with a
/// `tail_call_args` region ([`crate::vmctx`]).
pub const VERSION_MAJOR: u16 = 6;
/// Bumped for compatible additions: a reader reads every older minor of
/// its major, and refuses newer ones. (3.0 and later have
/// [`crate::Metadata::memory_image`] from the start.)
pub const VERSION_MINOR: u16 = 0;
/// Size of the encoded header in bytes.
pub const HEADER_SIZE: usize = 192;
/// Alignment in the file of an x86-64 code section of at least
/// [`MAPPED_CODE_MIN`] bytes, so that a loader can map it straight from the
/// file (the page size of x86-64 Linux). Every mapped code section's
/// offset is a multiple of it; see [`mapped_code_align`] for each target's.
pub const CODE_ALIGN: u64 = 4096;
/// Alignment in the file of an aarch64 code section of at least
/// [`MAPPED_CODE_MIN`] bytes: aarch64 Linux kernels run with 4, 16 or 64
/// KiB pages, and 64 KiB lets every one of them map the code from the file
/// (see "Page sizes" in the crate documentation).
pub const CODE_ALIGN_AARCH64: u64 = 64 * 1024;

/// The alignment in the file of a code section of at least
/// [`MAPPED_CODE_MIN`] bytes for code of `arch`: the largest page size
/// its hosts use, so that any of them can map it from the file. A reader
/// requires only [`CODE_MIN_ALIGN`] and maps where the offset suits its
/// own page size, so this is the writer's choice, not a format rule.
pub const fn mapped_code_align(arch: crate::Arch) -> u64 {
    match arch {
        crate::Arch::X86_64 => CODE_ALIGN,
        crate::Arch::Aarch64 => CODE_ALIGN_AARCH64,
    }
}
/// Code sections at least this long are page-aligned ([`CODE_ALIGN`]) and
/// mapped from the file, shared between processes. Shorter ones follow the
/// metadata at [`CODE_MIN_ALIGN`]: a loader copies them to fresh pages,
/// which costs microseconds, and small artifacts carry no page of padding
/// (a 2 KB kernel's file was mostly that padding).
pub const MAPPED_CODE_MIN: u64 = 64 * 1024;
/// Alignment of every code section in the file: SLJIT aligns code labels
/// to 16 bytes relative to the start of the code.
pub const CODE_MIN_ALIGN: u64 = 16;

/// Byte range of the checksum field; it counts as zeros when hashing.
pub const CHECKSUM_RANGE: core::ops::Range<usize> = 136..168;

/// Byte range of the signature offset field (0 = unsigned).
pub const SIGNATURE_OFFSET_RANGE: core::ops::Range<usize> = 168..176;

/// How generated code keeps memory accesses inside linear memory. The
/// default is guard pages on 64-bit hosts (where the address space for
/// them is plentiful), explicit checks elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum BoundsChecks {
    /// Compare every address with the memory size (no signal handler needed).
    #[cfg_attr(not(target_pointer_width = "64"), default)]
    Explicit = 0,
    /// No compare: the loader reserves [`GUARD_RESERVATION`] bytes of
    /// address space per memory, so every access lands in the memory or in
    /// inaccessible pages, and turns the fault into a trap (see
    /// [`crate::FaultSite`]).
    #[cfg_attr(target_pointer_width = "64", default)]
    GuardPages = 1,
}

/// Address space a memory needs under [`BoundsChecks::GuardPages`]: any
/// `u32` index plus `u32` offset plus an access of at most 16 bytes.
pub const GUARD_RESERVATION: u64 = (1 << 33) + (1 << 16);

impl BoundsChecks {
    pub fn from_u8(v: u8) -> Option<BoundsChecks> {
        match v {
            0 => Some(BoundsChecks::Explicit),
            1 => Some(BoundsChecks::GuardPages),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            BoundsChecks::Explicit => "explicit",
            BoundsChecks::GuardPages => "guard",
        }
    }
}

/// Compile options that change the generated code (header field `options`).
/// The default: [`BoundsChecks::default`], no fuel, no epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeOptions {
    pub bounds_checks: BoundsChecks,
    /// Fuel metering compiled in (bit 8).
    pub fuel: bool,
    /// Epoch checks compiled in (bit 9).
    pub epoch: bool,
}

const FUEL_BIT: u32 = 1 << 8;
const EPOCH_BIT: u32 = 1 << 9;

impl CodeOptions {
    pub fn to_bits(self) -> u32 {
        self.bounds_checks as u32
            | if self.fuel { FUEL_BIT } else { 0 }
            | if self.epoch { EPOCH_BIT } else { 0 }
    }
    pub fn from_bits(bits: u32) -> Result<CodeOptions, FormatError> {
        let bounds = (bits & 0xff) as u8;
        let bounds_checks =
            BoundsChecks::from_u8(bounds).ok_or_else(|| FormatError::Unsupported {
                field: "options.bounds_checks",
                found: bounds.to_string(),
            })?;
        if bits & !(0xff | FUEL_BIT | EPOCH_BIT) != 0 {
            return Err(FormatError::Unsupported {
                field: "options",
                found: format!("{bits:#x}"),
            });
        }
        Ok(CodeOptions {
            bounds_checks,
            fuel: bits & FUEL_BIT != 0,
            epoch: bits & EPOCH_BIT != 0,
        })
    }
}

/// A decoded header. See the crate docs for the byte layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version_major: u16,
    pub version_minor: u16,
    /// Version string of the compiler that wrote the file (at most 32 bytes).
    pub compiler_version: String,
    pub target: Target,
    pub options: CodeOptions,
    /// SHA-256 of the source wasm module.
    pub wasm_sha256: [u8; 32],
    pub metadata_offset: u64,
    pub metadata_len: u64,
    pub code_offset: u64,
    pub code_len: u64,
    pub file_len: u64,
    /// BLAKE3 of the whole file with this field zeroed.
    pub checksum: [u8; 32],
    /// Where the signature block starts (the end of the signed content), or
    /// 0 for an unsigned artifact. See [`crate::sign_artifact`].
    pub signature_offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version_major.to_le_bytes());
        b[10..12].copy_from_slice(&self.version_minor.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        let version = self.compiler_version.as_bytes();
        let n = version.len().min(32);
        b[16..16 + n].copy_from_slice(&version[..n]);
        b[48] = self.target.arch as u8;
        b[49] = self.target.os as u8;
        b[50] = self.target.pointer_width;
        b[52..56].copy_from_slice(&self.options.to_bits().to_le_bytes());
        b[56..64].copy_from_slice(&self.target.cpu_features.to_le_bytes());
        b[64..96].copy_from_slice(&self.wasm_sha256);
        b[96..104].copy_from_slice(&self.metadata_offset.to_le_bytes());
        b[104..112].copy_from_slice(&self.metadata_len.to_le_bytes());
        b[112..120].copy_from_slice(&self.code_offset.to_le_bytes());
        b[120..128].copy_from_slice(&self.code_len.to_le_bytes());
        b[128..136].copy_from_slice(&self.file_len.to_le_bytes());
        b[CHECKSUM_RANGE].copy_from_slice(&self.checksum);
        b[SIGNATURE_OFFSET_RANGE].copy_from_slice(&self.signature_offset.to_le_bytes());
        b
    }

    /// Decodes the header, checking magic, version and header size. Target,
    /// checksum and ranges are checked by [`crate::read_artifact`].
    pub fn decode(bytes: &[u8]) -> Result<Header, FormatError> {
        if bytes.len() < 8 {
            return Err(FormatError::Truncated {
                what: "magic",
                needed: 8,
                available: bytes.len() as u64,
            });
        }
        if bytes[0..8] != MAGIC {
            return Err(FormatError::BadMagic {
                found: bytes[0..8].try_into().expect("8 bytes"),
            });
        }
        if bytes.len() < HEADER_SIZE {
            return Err(FormatError::Truncated {
                what: "header",
                needed: HEADER_SIZE as u64,
                available: bytes.len() as u64,
            });
        }
        let b = &bytes[..HEADER_SIZE];
        let (major, minor) = (u16_at(b, 8), u16_at(b, 10));
        if major != VERSION_MAJOR || minor > VERSION_MINOR {
            return Err(FormatError::Mismatch {
                field: "format version",
                found: format!("{major}.{minor}"),
                expected: format!("{VERSION_MAJOR}.{VERSION_MINOR}"),
            });
        }
        let header_size = u32_at(b, 12);
        if header_size as usize != HEADER_SIZE {
            return Err(FormatError::Mismatch {
                field: "header size",
                found: header_size.to_string(),
                expected: HEADER_SIZE.to_string(),
            });
        }
        let version_bytes = &b[16..48];
        let end = version_bytes.iter().position(|&c| c == 0).unwrap_or(32);
        let compiler_version = String::from_utf8_lossy(&version_bytes[..end]).into_owned();
        let arch = match b[48] {
            1 => Arch::X86_64,
            2 => Arch::Aarch64,
            other => {
                return Err(FormatError::Unsupported {
                    field: "target.arch",
                    found: arch_name(other),
                })
            }
        };
        let os = match b[49] {
            1 => Os::Linux,
            2 => Os::MacOs,
            other => {
                return Err(FormatError::Unsupported {
                    field: "target.os",
                    found: os_name(other),
                })
            }
        };
        let target = Target {
            arch,
            os,
            pointer_width: b[50],
            cpu_features: u64_at(b, 56),
        };
        Ok(Header {
            version_major: major,
            version_minor: minor,
            compiler_version,
            target,
            options: CodeOptions::from_bits(u32_at(b, 52))?,
            wasm_sha256: b[64..96].try_into().expect("32 bytes"),
            metadata_offset: u64_at(b, 96),
            metadata_len: u64_at(b, 104),
            code_offset: u64_at(b, 112),
            code_len: u64_at(b, 120),
            file_len: u64_at(b, 128),
            checksum: b[CHECKSUM_RANGE].try_into().expect("32 bytes"),
            signature_offset: u64_at(b, SIGNATURE_OFFSET_RANGE.start),
        })
    }
}
