//! Splitting a module into chunks of functions, and linking the chunks'
//! code into one code section.
//!
//! Chunks are cut by the size of the wasm bodies alone, never by the
//! number of threads, and linked in order: the artifact is the same bytes
//! whether the chunks were compiled on one thread or on many.

use std::ops::Range;

use vibewasm_format::{self as format, Arch, CodeRange, RelocTarget, TrapSite};

use super::{aarch64, x86_64};
use crate::error::CompileError;

/// Wasm body bytes after which a chunk is closed. Small enough that a
/// 1 MB module gives dozens of chunks to spread over the threads, large
/// enough that a chunk's fixed costs (an SLJIT compiler, a code buffer)
/// stay negligible.
pub const CHUNK_WASM_BYTES: usize = 32 * 1024;

/// Code sections of chunks start at multiples of this (function entries
/// are 16-byte aligned inside a chunk).
const CHUNK_ALIGN: usize = 16;

/// Filler between chunks, never executed: `int3` on x86-64; on aarch64
/// zero words, `udf #0`.
fn padding(arch: Arch) -> u8 {
    match arch {
        Arch::X86_64 => 0xcc,
        Arch::Aarch64 => 0,
    }
}

/// aarch64: SLJIT addresses a label farther than 1 MiB with `adrp`, which
/// is right only if the code keeps its offset within a 4 KiB page; a chunk
/// with that much code starts on a page boundary of the code section
/// (itself page-aligned in the artifact and in memory).
const AARCH64_ADR_REACH: usize = 1 << 20;
const PAGE: usize = 4096;

/// What a linked field refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkTarget {
    /// The entry of function `n` (imports first).
    Function(u32),
    /// The shared trap path (chunk 0).
    TrapPath,
}

/// A 4-byte field in a chunk's code that the linker fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patch {
    /// The branch (x86-64: `call`/`jmp rel32`; aarch64: `bl`/`b`) that
    /// ends here, to the target.
    Branch(LinkTarget),
    /// A trap-site number, generated in the chunk's own numbering: the
    /// linker adds the number of trap sites of the chunks before it.
    TrapSiteNumber,
}

/// One chunk's generated code; every offset is from the chunk's start.
pub struct ChunkCode {
    pub code: Vec<u8>,
    /// `(function index, code range)` of the functions the chunk holds.
    pub functions: Vec<(u32, CodeRange)>,
    /// In chunk 0 only.
    pub host_entry: Option<u32>,
    pub trap_path: Option<u32>,
    /// Trap stubs' sites, in the chunk's numbering.
    pub traps: Vec<TrapSite>,
    /// Sorted by start.
    pub fault_sites: Vec<format::FaultSite>,
    /// Sorted by return offset.
    pub call_sites: Vec<format::CallSite>,
    pub relocations: Vec<RelocTarget>,
    /// `(end of the field, what goes in it)`.
    pub patches: Vec<(u32, Patch)>,
    pub cpu_features: u64,
    /// The target the code is for.
    pub arch: Arch,
}

/// The linked code of the whole module.
pub struct CompiledCode {
    pub code: Vec<u8>,
    pub functions: Vec<CodeRange>,
    pub host_entry: u32,
    pub trap_path: u32,
    pub traps: Vec<TrapSite>,
    pub relocations: Vec<format::Relocation>,
    pub fault_sites: Vec<format::FaultSite>,
    pub call_sites: Vec<format::CallSite>,
    pub cpu_features: u64,
}

/// Cuts the defined functions, whose bodies have `body_sizes` bytes, into
/// chunks: ranges of body indices, each closed once it holds
/// [`CHUNK_WASM_BYTES`]. Always at least one chunk (chunk 0 also holds the
/// trampoline and the import stubs).
pub fn plan_chunks(body_sizes: &[usize]) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, size) in body_sizes.iter().enumerate() {
        bytes += size;
        if bytes >= CHUNK_WASM_BYTES {
            chunks.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < body_sizes.len() || chunks.is_empty() {
        chunks.push(start..body_sizes.len());
    }
    chunks
}

/// Places the chunks one after another, in order, and fills every linked
/// field. `num_funcs` functions (imports first) must each be in a chunk;
/// `slot_of` gives the vmctx slot of a relocation target.
pub fn link(
    chunks: Vec<ChunkCode>,
    num_funcs: u32,
    slot_of: impl Fn(RelocTarget) -> u32,
) -> Result<CompiledCode, CompileError> {
    let internal = |what: String| CompileError::Internal(what);
    // Where each chunk goes, and the module-wide offsets of what it holds.
    let mut bases = Vec::with_capacity(chunks.len());
    let mut trap_bases = Vec::with_capacity(chunks.len());
    let mut entries: Vec<Option<CodeRange>> = vec![None; num_funcs as usize];
    let (mut len, mut traps_before) = (0usize, 0u32);
    let (mut host_entry, mut trap_path) = (None, None);
    for chunk in &chunks {
        let align = match chunk.arch {
            Arch::Aarch64 if chunk.code.len() >= AARCH64_ADR_REACH => PAGE,
            _ => CHUNK_ALIGN,
        };
        let base = len.next_multiple_of(align);
        let base32 = u32::try_from(base).map_err(|_| internal("code above 4 GiB".into()))?;
        for &(index, range) in &chunk.functions {
            let slot = entries
                .get_mut(index as usize)
                .ok_or_else(|| internal(format!("function {index} out of range")))?;
            *slot = Some(CodeRange {
                offset: range.offset + base32,
                ..range
            });
        }
        host_entry = host_entry.or(chunk.host_entry.map(|o| o + base32));
        trap_path = trap_path.or(chunk.trap_path.map(|o| o + base32));
        bases.push(base32);
        trap_bases.push(traps_before);
        traps_before += chunk.traps.len() as u32;
        len = base + chunk.code.len();
    }
    let functions: Vec<CodeRange> = entries
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.ok_or_else(|| internal(format!("function {i} was never emitted"))))
        .collect::<Result<_, _>>()?;
    let host_entry = host_entry.ok_or_else(|| internal("no host entry trampoline".into()))?;
    let trap_path = trap_path.ok_or_else(|| internal("no trap path".into()))?;

    let mut code = Vec::with_capacity(len);
    let mut out = CompiledCode {
        code: Vec::new(),
        functions,
        host_entry,
        trap_path,
        traps: Vec::new(),
        relocations: Vec::new(),
        fault_sites: Vec::new(),
        call_sites: Vec::new(),
        cpu_features: 0,
    };
    for (k, chunk) in chunks.into_iter().enumerate() {
        let (base, trap_base) = (bases[k], trap_bases[k]);
        code.resize(base as usize, padding(chunk.arch));
        code.extend_from_slice(&chunk.code);
        for (field_end, patch) in chunk.patches {
            let field_end = base + field_end;
            let target = match patch {
                Patch::Branch(LinkTarget::Function(f)) => out.functions[f as usize].offset,
                Patch::Branch(LinkTarget::TrapPath) => trap_path,
                Patch::TrapSiteNumber => {
                    apply_site_number(chunk.arch, &mut code, field_end as usize, trap_base);
                    continue;
                }
            };
            apply_branch(chunk.arch, &mut code, field_end as usize, target)?;
        }
        out.traps.extend(chunk.traps);
        // Chunks are placed in order, so the module's fault sites stay
        // sorted.
        out.fault_sites
            .extend(chunk.fault_sites.into_iter().map(|f| format::FaultSite {
                start: f.start + base,
                ..f
            }));
        out.call_sites
            .extend(chunk.call_sites.into_iter().map(|c| format::CallSite {
                return_offset: c.return_offset + base,
                ..c
            }));
        for target in chunk.relocations {
            if !out.relocations.iter().any(|r| r.target == target) {
                out.relocations.push(format::Relocation {
                    slot: slot_of(target),
                    target,
                });
            }
        }
        out.cpu_features |= chunk.cpu_features;
    }
    out.code = code;
    Ok(out)
}

/// Points the branch that ends at `field_end` at `target`.
fn apply_branch(
    arch: Arch,
    code: &mut [u8],
    field_end: usize,
    target: u32,
) -> Result<(), CompileError> {
    match arch {
        Arch::X86_64 => {
            x86_64::write_field(code, field_end, x86_64::rel32(field_end as u32, target));
            Ok(())
        }
        Arch::Aarch64 => aarch64::patch_branch(code, field_end, target).ok_or_else(|| {
            CompileError::Unsupported {
                message: "more than 128 MiB of aarch64 code (a branch cannot reach)".into(),
                func: None,
                offset: None,
            }
        }),
    }
}

/// Adds `base` to the trap-site number loaded by the instruction(s) that
/// end at `end`.
fn apply_site_number(arch: Arch, code: &mut [u8], end: usize, base: u32) {
    match arch {
        Arch::X86_64 => {
            let number = x86_64::read_field(code, end) + base;
            x86_64::write_field(code, end, number);
        }
        Arch::Aarch64 => {
            let number = aarch64::read_u32_constant(code, end) + base;
            aarch64::write_u32_constant(code, end, number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_body_sizes_only() {
        assert_eq!(plan_chunks(&[]), vec![0..0]);
        assert_eq!(plan_chunks(&[10, 20]), vec![0..2]);
        let big = CHUNK_WASM_BYTES;
        assert_eq!(plan_chunks(&[big, 1, big - 1, 5]), vec![0..1, 1..3, 3..4]);
        assert_eq!(plan_chunks(&[1, big]), vec![0..2]);
    }
}
