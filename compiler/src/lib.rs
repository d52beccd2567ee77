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
mod module;
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
}

impl Config {
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
    let target = Target::host()
        .ok_or_else(|| CompileError::Internal("this machine is not a supported target".into()))?;
    if target.arch != format::Arch::X86_64 {
        return Err(CompileError::Unsupported {
            message: format!("code generation for {:?}", target.arch),
            func: None,
            offset: None,
        });
    }
    let parsed = module::parse(wasm)?;
    let mut metadata = parsed.metadata;
    let compiled = {
        let mut mc = codegen::ModuleCompiler::new(&metadata, wasm.len(), config.code_options())?;
        mc.emit_trampoline();
        let num_imported = metadata.num_imported(format::ExternKind::Func);
        for i in 0..num_imported {
            mc.emit_import_stub(i);
        }
        let mut allocations = wasmparser::FuncValidatorAllocations::default();
        for (i, (to_validate, body)) in parsed.bodies.into_iter().enumerate() {
            let mut validator = to_validate.into_validator(allocations);
            codegen::FuncCompiler::compile(
                &mut mc,
                num_imported + i as u32,
                &mut validator,
                &body,
                wasm,
            )?;
            allocations = validator.into_allocations();
        }
        mc.finish()?
    };
    metadata.functions = compiled.functions;
    metadata.trampolines = Some(Trampolines {
        host_entry: compiled.host_entry,
    });
    metadata.traps = compiled.traps;
    metadata.relocations = compiled.relocations;
    metadata.fault_sites = compiled.fault_sites;
    metadata.call_sites = compiled.call_sites;
    let target = Target {
        cpu_features: compiled.cpu_features,
        ..target
    };
    Ok(format::write_artifact(&format::ArtifactParts {
        compiler_version: VERSION,
        target,
        options: config.code_options(),
        wasm,
        metadata: &metadata,
        code: &compiled.code,
    }))
}

/// Accepts the binary format or the text format (`.wat`), and returns the binary.
pub fn wasm_from_bytes(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CompileError> {
    wat::parse_bytes(bytes).map_err(|e| CompileError::Malformed {
        message: e.to_string(),
        func: None,
        offset: None,
    })
}
