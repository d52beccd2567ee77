//! vibewasm's ahead-of-time compiler: WebAssembly in, `.vwa` artifact out.
//!
//! ```no_run
//! let wasm = wat::parse_str("(module (func (export \"answer\") (result i32) i32.const 42))")?;
//! let artifact = vibewasm_compiler::compile(&wasm, &vibewasm_compiler::Config::default())?;
//! std::fs::write("answer.vwa", artifact)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The module is validated with `wasmparser` while it is translated, one
//! function at a time, in a single pass over each body's operators (after a
//! validation pre-pass that sizes the frame), straight into SLJIT. See
//! `codegen` for the code layout and `vibewasm_format::vmctx` for the ABI.

pub mod cache;
mod codegen;
#[cfg(feature = "embed")]
mod embed;
mod emitter;
mod error;
mod image;
mod module;
mod sljit;
mod strict;

#[cfg(feature = "embed")]
pub use embed::{config_of, ModuleError, ModuleExt};
pub use error::CompileError;

pub use vibewasm_format::BoundsChecks;
use vibewasm_format::{self as format, CodeOptions, Target, Trampolines};

/// The compiler's version, recorded in every artifact it writes.
pub const VERSION: &str = concat!("vibewasmc ", env!("CARGO_PKG_VERSION"));

/// Options that change the generated code (all recorded in the artifact).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// How memory accesses are kept in bounds.
    pub bounds_checks: BoundsChecks,
    /// Compile fuel metering in: every executed operator except `block`,
    /// `loop`, `else` and `end` costs one unit,
    /// charged at the end of each straight-line region (before a branch,
    /// call, return or block boundary); running out traps "out of fuel".
    pub fuel: bool,
    /// Compile epoch checks in at function entries and loop heads.
    pub epoch: bool,
    /// Threads that compile functions in parallel; 0 (the default): one
    /// per core. The artifact is the same bytes whatever the number.
    pub threads: usize,
    /// The machine to generate code for, with the CPU features the code
    /// may use (`Target::by_name` gives a named target's baseline). `None`
    /// (the default): this machine, with the features its CPU has. The
    /// artifact is the same bytes on every machine that compiles it for
    /// the same target.
    pub target: Option<Target>,
    /// Which WebAssembly is accepted (not recorded: it decides only which
    /// modules compile, never the code of one that does).
    pub language: Language,
    /// Put the code section at a multiple of 4 KiB in the file (not
    /// recorded: only the padding before it changes), so that a host can
    /// run it in place from a 4 KiB-aligned buffer (`Artifact::from_static`
    /// on executable flash): aarch64 code needs that alignment in memory.
    /// Off, code under 64 KiB follows the metadata at 16 bytes.
    pub page_aligned_code: bool,
}

/// Which WebAssembly the compiler accepts. The two differ where a later
/// standard made valid what 2.0 calls invalid or malformed, so that each
/// standard's own spec scripts can hold it to its rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Language {
    /// Everything vibewasm implements (the default): WebAssembly 2.0 with
    /// SIMD, relaxed SIMD, multi-memory, memory64, extended constant
    /// expressions and tail calls.
    #[default]
    Latest,
    /// WebAssembly 2.0 exactly: a second memory is invalid, and the
    /// memory index of `memory.size`/`memory.grow` is the byte 0.
    Wasm2,
}

impl Config {
    /// The target code is generated for (see [`Config::target`]).
    pub fn resolved_target(&self) -> Result<Target, CompileError> {
        if let Some(target) = self.target {
            return Ok(target);
        }
        let host = Target::host().ok_or_else(|| {
            CompileError::Internal("this machine is not a supported target".into())
        })?;
        Ok(Target {
            cpu_features: format::cpu::host_features(),
            ..host
        })
    }

    /// The artifact header's record of these options.
    pub fn code_options(&self) -> CodeOptions {
        CodeOptions {
            bounds_checks: self.bounds_checks,
            fuel: self.fuel,
            epoch: self.epoch,
        }
    }
}

/// Compiles a binary WebAssembly module to a `.vwa` artifact.
pub fn compile(wasm: &[u8], config: &Config) -> Result<Vec<u8>, CompileError> {
    let target = config.resolved_target()?;
    let parsed = module::parse(wasm, config.language)?;
    let mut metadata = parsed.metadata;
    let compiled = compile_functions(&metadata, parsed.bodies, wasm, config, &target)?;
    metadata.trampolines = Some(Trampolines {
        host_entry: compiled.host_entry,
        trap_path: compiled.trap_path,
    });
    metadata.relocations = compiled.relocations;
    let tables = format::SiteTables {
        functions: compiled.functions,
        traps: compiled.traps,
        fault_sites: compiled.fault_sites,
        call_sites: compiled.call_sites,
        func_names: parsed.func_names,
    };
    let target = Target {
        cpu_features: compiled.cpu_features,
        ..target
    };
    let memory_image = image::build_memory_image(&mut metadata);
    let code_align = match config.page_aligned_code {
        true => format::CODE_ALIGN,
        false => format::CODE_MIN_ALIGN,
    };
    format::write_artifact_aligned(
        &format::ArtifactParts {
            compiler_version: VERSION,
            target,
            options: config.code_options(),
            wasm,
            metadata: &metadata,
            tables: &tables,
            memory_image: &memory_image,
            code: &compiled.code,
        },
        code_align,
    )
    .map_err(CompileError::Internal)
}

/// Memory one thread reuses from function to function.
#[derive(Default)]
struct Scratch<'a> {
    allocations: wasmparser::FuncValidatorAllocations,
    operators: Vec<(wasmparser::Operator<'a>, u64)>,
}

/// Generates the code of every function: the defined functions are cut
/// into chunks (`codegen::link::plan_chunks`), which up to
/// `config.threads` threads compile, each chunk with its own SLJIT
/// compiler, and which are then linked in order.
fn compile_functions<'w>(
    metadata: &format::Metadata,
    bodies: Vec<module::FuncBody<'w>>,
    wasm: &'w [u8],
    config: &Config,
    target: &Target,
) -> Result<codegen::link::CompiledCode, CompileError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let num_imported = metadata.num_imported(format::ExternKind::Func);
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|(_, body)| body.as_bytes().len())
        .collect();
    let plan = codegen::link::plan_chunks(&sizes);
    // Each chunk's bodies, taken by the thread that compiles it.
    let mut bodies = bodies.into_iter();
    let work: Vec<Mutex<Option<Vec<module::FuncBody<'w>>>>> = plan
        .iter()
        .map(|range| Mutex::new(Some(bodies.by_ref().take(range.len()).collect())))
        .collect();
    let compile_chunk = |k: usize, scratch: &mut Scratch<'w>| {
        let chunk_bodies = work[k]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("each chunk is compiled once");
        let wasm_size = sizes[plan[k].clone()].iter().sum();
        let mut mc =
            codegen::ModuleCompiler::new(metadata, wasm_size, target, config.code_options())?;
        mc.strict_wasm2 = config.language == Language::Wasm2;
        if k == 0 {
            mc.emit_trampoline();
            for i in 0..num_imported {
                mc.emit_import_stub(i);
            }
        }
        let first = num_imported + plan[k].start as u32;
        for (i, (to_validate, body)) in chunk_bodies.into_iter().enumerate() {
            let mut validator =
                to_validate.into_validator(std::mem::take(&mut scratch.allocations));
            let result = codegen::FuncCompiler::compile(
                &mut mc,
                first + i as u32,
                &mut validator,
                &body,
                wasm,
                &mut scratch.operators,
            );
            scratch.allocations = validator.into_allocations();
            result?;
        }
        mc.finish()
    };

    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(plan.len());
    let results: Vec<Mutex<Option<Result<codegen::link::ChunkCode, CompileError>>>> =
        plan.iter().map(|_| Mutex::new(None)).collect();
    // The lowest chunk that failed: chunks after it need not be compiled,
    // and every chunk before it still is, so the error reported is the
    // first one in function order, whatever the threads did.
    let first_failed = AtomicUsize::new(usize::MAX);
    // Largest chunks first, so that a big function (a chunk of its own)
    // does not start last and leave the other threads idle; the results
    // still go by chunk number.
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(sizes[plan[k].clone()].iter().sum::<usize>()));
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut scratch = Scratch::default();
        loop {
            let Some(&k) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return;
            };
            if k > first_failed.load(Ordering::Relaxed) {
                continue;
            }
            let result = compile_chunk(k, &mut scratch);
            if result.is_err() {
                first_failed.fetch_min(k, Ordering::Relaxed);
            }
            *results[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        }
    };
    if threads <= 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(worker);
            }
        });
    }
    let mut chunks = Vec::with_capacity(plan.len());
    for result in results {
        match result.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(result) => chunks.push(result?),
            None => break, // after the first failure
        }
    }
    let layout = format::vmctx::VmctxLayout::new(metadata);
    codegen::link::link(chunks, metadata.num_funcs(), |target| match target {
        format::RelocTarget::Helper(h) => layout
            .helper(format::vmctx::Helper::from_u32(h).expect("the compiler uses known helpers")),
        format::RelocTarget::ImportedFunc(f) => layout.imported_func(f),
    } as u32)
}

/// The binary format's magic number, `\0asm`.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Accepts the binary format or the text format (`.wat`), and returns the
/// binary. The decision is made on the bytes: the binary magic `\0asm`
/// means the binary format; otherwise only bytes that look like text
/// (valid UTF-8 without NUL bytes) go to the text parser, and anything else
/// is refused as not WebAssembly, with its first bytes in the message
/// (rather than the text parser's complaint about UTF-8).
pub fn wasm_from_bytes(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CompileError> {
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    if !looks_like_text(bytes) {
        return Err(malformed(format!(
            "not a WebAssembly module: neither the binary format (which starts with \
             00 61 73 6d, \"\\0asm\") nor text; {}",
            first_bytes(bytes)
        )));
    }
    wat::parse_bytes(bytes).map_err(|e| malformed(e.to_string()))
}

/// `bytes` if they start like the binary format; else the error says they
/// are not a WebAssembly binary and shows their first bytes. For inputs
/// that must be binary (a `.wasm` file), whatever they hold.
pub fn wasm_binary(bytes: &[u8]) -> Result<&[u8], CompileError> {
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(bytes);
    }
    Err(malformed(format!(
        "not a WebAssembly binary: it does not start with 00 61 73 6d (\"\\0asm\"); {}",
        first_bytes(bytes)
    )))
}

/// Valid UTF-8 without NUL bytes: what the text parser is worth trying on.
fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// "its first bytes are 7f 45 4c 46 ..." (at most 16), or "it is empty".
fn first_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "it is empty".into();
    }
    let shown: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 16 { " ..." } else { "" };
    format!("its first bytes are {}{more}", shown.join(" "))
}

fn malformed(message: String) -> CompileError {
    CompileError::Malformed {
        message,
        func: None,
        offset: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_text_or_neither() {
        let binary = b"\0asm\x01\0\0\0";
        assert_eq!(&*wasm_from_bytes(binary).unwrap(), binary);
        assert_eq!(wasm_binary(binary).unwrap(), binary);
        let text = wasm_from_bytes(b"(module (func))").unwrap();
        assert!(text.starts_with(WASM_MAGIC));
        // Random bytes: not text, so no complaint about UTF-8.
        let junk = [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 1, 2];
        let err = wasm_from_bytes(&junk).unwrap_err().to_string();
        assert!(err.contains("not a WebAssembly module"), "{err}");
        assert!(
            err.contains("its first bytes are 7f 45 4c 46 ff fe 01 02"),
            "{err}"
        );
        assert!(!err.contains("utf-8"), "{err}");
        // UTF-8 with a NUL byte is not text either.
        let err = wasm_from_bytes(b"(module)\0").unwrap_err().to_string();
        assert!(err.contains("not a WebAssembly module"), "{err}");
        // Text where a binary is required.
        let err = wasm_binary(b"(module)").unwrap_err().to_string();
        assert!(err.contains("not a WebAssembly binary"), "{err}");
        assert!(err.contains("28 6d 6f 64 75 6c 65 29"), "{err}");
        let err = wasm_binary(&[0x11; 40]).unwrap_err().to_string();
        assert!(err.ends_with("11 11 ..."), "{err}");
        assert!(wasm_binary(b"")
            .unwrap_err()
            .to_string()
            .contains("it is empty"));
    }
}
