//! `vibewasmc`: compile WebAssembly to `.vwa` artifacts, inspect them, run them.
//!
//! Exit codes: 0 success, 1 an error (missing file, invalid wasm, bad
//! artifact, missing import, bad argument value), 2 bad command-line usage,
//! 3 the wasm code trapped. `run` without `--invoke` runs a WASI command,
//! and exits with the program's own status when it ends normally.
//!
//! A closed standard output (`vibewasmc inspect big.vwa | head`) ends the
//! process quietly by SIGPIPE, as with other Unix tools (see
//! [`restore_default_sigpipe`]).

use std::borrow::Cow;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vibewasm_compiler::{compile, wasm_binary, wasm_from_bytes, Config};
use vibewasm_format::{
    self as format, cpu, vmctx::Helper, ExternKind, ImportKind, RelocTarget, ValType,
};
use vibewasm_loader::{Artifact, Val};

mod cache_cmd;
mod elf;
mod sandbox;
mod sign_cmd;
mod wasi_cmd;
mod wast;

#[derive(Parser)]
#[command(
    name = "vibewasmc",
    version,
    about = "WebAssembly ahead-of-time compiler and runner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// `run`: compile .wasm/.wat inputs in memory, without the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// The artifact cache directory (default: $VIBEWASM_CACHE_DIR, else
    /// $XDG_CACHE_HOME/vibewasm, else ~/.cache/vibewasm).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a .wasm or .wat module to a .vwa artifact.
    Compile {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        code: sandbox::CodeArgs,
        #[command(flatten)]
        target: sandbox::TargetArgs,
        /// Leave the function names of the name section out of the
        /// artifact (backtraces then show function indices).
        #[arg(long)]
        strip: bool,
        /// Sign the artifact with this secret key (made by `vibewasmc keygen`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Run an exported function of an artifact (or of a .wasm/.wat module,
    /// compiled in memory) and print its results, one per line.
    Run {
        input: PathBuf,
        /// The export to call. Without it, the module is run as a WASI
        /// command: its `_start` is called, and the program's exit status
        /// becomes vibewasmc's.
        #[arg(long)]
        invoke: Option<String>,
        /// Arguments: of the export, parsed according to its parameter
        /// types; of the WASI program otherwise (after `--`: `run app.wasm
        /// --dir data -- -v in.txt`; argv[0] is INPUT).
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        wasi: wasi_cmd::WasiArgs,
        #[command(flatten)]
        limits: sandbox::RunLimits,
        /// Accept only .vwa artifacts signed by this public key (NAME.pub
        /// from `vibewasmc keygen`); repeatable, any of the keys will do.
        /// With any --trusted-key, unsigned or otherwise signed artifacts are
        /// refused. Does not apply to .wasm/.wat inputs: those are compiled
        /// here (in memory or through the cache), not loaded as artifacts.
        #[arg(long = "trusted-key", value_name = "KEY.pub")]
        trusted_key: Vec<PathBuf>,
    },
    /// Print an artifact's header, imports, exports, functions and relocations.
    Inspect {
        input: PathBuf,
        /// Instead, write the code section as an x86-64 ELF object with a
        /// symbol per function, trampoline and trap stub (`objdump -d OUT.o`).
        #[arg(long, value_name = "OUT.o")]
        elf: Option<PathBuf>,
    },
    /// Run WebAssembly specification scripts (.wast) and print the results.
    Wast(wast::WastArgs),
    /// Inspect or clear the artifact cache `run` compiles through.
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
    /// Generate an Ed25519 key pair for signing artifacts: the secret key
    /// NAME (mode 0600) and the public key NAME.pub.
    Keygen(sign_cmd::KeygenArgs),
}

/// A failure and the exit code it maps to.
struct Failure {
    message: String,
    code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure {
            message: err.to_string(),
            code: 1,
        }
    }
}

/// Gives SIGPIPE its default action back: the process ends, silently, at
/// its first write to a pipe nobody reads any more.
///
/// Rust starts programs with SIGPIPE ignored, so such a write fails with
/// EPIPE instead and `println!` panics ("failed printing to stdout"),
/// with a backtrace, in every subcommand that prints. Unix tools simply
/// end (a shell shows status 141), which is what a reader that went away
/// (`| head`) expects; restoring the default does that for every print
/// path at once (clap's help, `inspect`, `run`, `wast`, `cache`), where
/// handling EPIPE would have to be done at each one. It also applies to
/// WASI programs that `run` runs: a guest writing to a closed pipe ends the
/// process, as a native program would, instead of getting an EPIPE errno.
fn restore_default_sigpipe() {
    // SAFETY: this runs first in `main`, before any other thread exists;
    // setting a signal's disposition to SIG_DFL installs no handler code,
    // touches no memory of ours and cannot fail for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    cache_cmd::configure(cli.no_cache, cli.cache_dir.clone());
    let result = match cli.command {
        Command::Compile {
            input,
            output,
            code,
            target,
            strip,
            sign,
        } => sign_cmd::set_signing_key(sign).and_then(|()| {
            let mut config = code.config();
            target.apply(&mut config)?;
            cmd_compile(&input, &output, &config, strip)
        }),
        Command::Run {
            input,
            invoke,
            args,
            limits,
            wasi,
            trusted_key,
        } => sign_cmd::configure_trust(&trusted_key)
            .and_then(|()| cmd_run(&input, invoke.as_deref(), &args, &limits, &wasi)),
        Command::Inspect { input, elf: None } => cmd_inspect(&input),
        Command::Inspect {
            input,
            elf: Some(output),
        } => elf::cmd_inspect_elf(&input, &output),
        Command::Wast(args) => wast::cmd_wast(args),
        Command::Cache(command) => cache_cmd::cmd_cache(command, cli.cache_dir),
        Command::Keygen(args) => sign_cmd::cmd_keygen(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // No message: a WASI program's own exit status.
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// The wasm binary in `bytes`, read from `input`: a `.wasm` file must hold
/// the binary format (else the error says it is not a WebAssembly binary
/// and shows its first bytes); other files may also hold text, which goes
/// to the text parser only if it looks like text ([`wasm_from_bytes`]).
fn wasm_input<'a>(input: &Path, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, Failure> {
    let at_input = |e: vibewasm_compiler::CompileError| format!("{}: {e}", input.display());
    if has_extension(input, "wasm") {
        return Ok(Cow::Borrowed(wasm_binary(bytes).map_err(at_input)?));
    }
    Ok(wasm_from_bytes(bytes).map_err(at_input)?)
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
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

fn cmd_compile(input: &Path, output: &Path, config: &Config, strip: bool) -> Result<(), Failure> {
    let bytes = read(input)?;
    let wasm = wasm_input(input, &bytes)?;
    let mut artifact = compile(&wasm, config).map_err(|e| format!("{}: {e}", input.display()))?;
    if strip {
        artifact = sandbox::strip_names(&artifact, &wasm)?;
    }
    let artifact = sign_cmd::sign(artifact)?;
    write_atomically(output, &artifact)
}

/// Writes `bytes` to `output` so that a reader never sees half of it: to
/// a new temporary file beside it, then renamed over it.
///
/// The temporary file is created with `O_CREAT|O_EXCL|O_NOFOLLOW` under a
/// name not used before (pid, counter, time; another name is tried if it
/// exists), so nothing planted there (a symbolic link to a file to
/// overwrite, a file to fill) is followed or reused. Its mode is 0644 (less
/// what the umask takes away), never writable by others whatever the
/// umask: the loader must not map code that others can change.
///
/// An output that exists and is not a regular file (`/dev/null`, a FIFO, a
/// terminal) is written in place, never renamed over: replacing a device
/// node with a file (as root, `-o /dev/null` did) breaks every later user
/// of it. A directory is refused.
fn write_atomically(output: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let cannot = |path: &Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Ok(meta) = std::fs::metadata(output) {
        if meta.is_dir() {
            return Err(format!("cannot write {}: it is a directory", output.display()).into());
        }
        if !meta.is_file() {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(output)
                .map_err(|e| cannot(output, e))?;
            return Ok(file.write_all(bytes).map_err(|e| cannot(output, e))?);
        }
    }
    let name = output
        .file_name()
        .ok_or_else(|| format!("cannot write {}: not the name of a file", output.display()))?;
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let mut tmp_name = name.to_owned();
        tmp_name.push(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        let tmp = output.with_file_name(tmp_name);
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp);
        match opened {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => return Err(cannot(&tmp, e).into()),
        }
    };
    let written = file.write_all(bytes).map_err(|e| cannot(&tmp, e));
    drop(file);
    let renamed =
        written.and_then(|()| std::fs::rename(&tmp, output).map_err(|e| cannot(output, e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(renamed?)
}

/// The artifact `input` names, or `input` (wasm or text) compiled with `config`.
fn load(input: &Path, config: &Config) -> Result<Artifact, Failure> {
    let bytes = read(input)?;
    if bytes.starts_with(&format::MAGIC) {
        return sign_cmd::open(input);
    }
    if bytes.starts_with(b"\0asm") || has_extension(input, "wasm") || has_extension(input, "wat") {
        let wasm = wasm_input(input, &bytes)?;
        let artifact = cache_cmd::compile_for_run(&wasm, config)
            .map_err(|e| Failure::from(format!("{}: {}", input.display(), e.message)))?;
        // Backtraces name the source file, not the cache entry.
        let name = input.file_name().unwrap_or_default().to_string_lossy();
        return Artifact::from_bytes(&artifact)
            .map(|a| a.with_name(name))
            .map_err(|e| format!("{}: {e}", input.display()).into());
    }
    Err(format!(
        "{}: not a WebAssembly module or a .vwa artifact (`run` takes a .vwa \
         artifact, a WebAssembly binary, or text in a .wat file); {}",
        input.display(),
        first_bytes(&bytes)
    )
    .into())
}

fn parse_arg(text: &str, ty: ValType) -> Result<Val, Failure> {
    let bad = || Failure::from(format!("argument '{text}' is not a valid {ty}"));
    Ok(match ty {
        ValType::I32 => Val::I32(
            text.parse::<i32>()
                .or_else(|_| text.parse::<u32>().map(|v| v as i32))
                .map_err(|_| bad())?,
        ),
        ValType::I64 => Val::I64(
            text.parse::<i64>()
                .or_else(|_| text.parse::<u64>().map(|v| v as i64))
                .map_err(|_| bad())?,
        ),
        ValType::F32 => Val::F32(text.parse::<f32>().map_err(|_| bad())?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().map_err(|_| bad())?.to_bits()),
        ValType::V128 => Val::V128(parse_v128(text).ok_or_else(bad)?),
        other => {
            return Err(format!("cannot pass a {other} argument from the command line").into())
        }
    })
}

/// A v128 argument: the unsigned 128-bit integer whose little-endian bytes
/// are the vector's (lane 0 in the low bits), in decimal as a v128 result
/// is printed, or in hex after `0x`. (wasmtime 48 prints v128 results that
/// way and takes no v128 arguments.)
fn parse_v128(text: &str) -> Option<u128> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    match hex {
        // from_str_radix takes a sign; a v128 has none.
        Some(digits) if !digits.starts_with(['+', '-']) => u128::from_str_radix(digits, 16).ok(),
        Some(_) => None,
        None if text.starts_with('+') => None,
        None => text.parse::<u128>().ok(),
    }
}

/// A result as `run --invoke` prints it, like `wasmtime run --invoke`:
/// numbers in decimal, a v128 as the unsigned 128-bit integer of its
/// little-endian bytes (lane 0 in the low bits), in decimal.
fn format_val(val: &Val) -> String {
    match val {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(v) => v.to_string(),
        other => other.to_string(),
    }
}

fn print_val(val: &Val) {
    println!("{}", format_val(val));
}

fn cmd_run(
    input: &Path,
    name: Option<&str>,
    args: &[String],
    limits: &sandbox::RunLimits,
    wasi: &wasi_cmd::WasiArgs,
) -> Result<(), Failure> {
    let artifact = Arc::new(load(input, &limits.config())?);
    limits.check(&artifact)?;
    let mut linker = limits.linker()?;
    let Some(name) = name else {
        wasi.add_to_linker(&mut linker, input, args)?;
        return wasi_cmd::run_start(&linker, &artifact);
    };
    wasi.add_to_linker(&mut linker, input, &[])?;
    let meta = artifact.metadata();
    let export = meta
        .exports
        .iter()
        .find(|e| e.name == name && e.kind == ExternKind::Func)
        .ok_or_else(|| format!("no exported function named '{name}'"))?;
    let ty = meta
        .func_type(export.index)
        .ok_or("export has no type")?
        .clone();
    if ty.params.len() != args.len() {
        return Err(format!(
            "'{name}' takes {} argument(s) ({ty}), {} given",
            ty.params.len(),
            args.len()
        )
        .into());
    }
    let vals = args
        .iter()
        .zip(&ty.params)
        .map(|(a, t)| parse_arg(a, *t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut instance = linker.instantiate_artifact(&artifact).map_err(|e| {
        let code = if e.trap_code().is_some() { 3 } else { 1 };
        Failure {
            message: e.to_string(),
            code,
        }
    })?;
    match instance.call(name, &vals) {
        Ok(results) => {
            results.iter().for_each(print_val);
            Ok(())
        }
        Err(e) => Err(Failure {
            code: if e.trap_code().is_some() { 3 } else { 1 },
            message: e.to_string(),
        }),
    }
}

fn cmd_inspect(input: &Path) -> Result<(), Failure> {
    // Checked as the format says, for the machine it was compiled for (any
    // target, any CPU features: inspecting runs nothing).
    let bytes = read(input)?;
    let at_input = |e: vibewasm_format::FormatError| format!("{}: {e}", input.display());
    let header = vibewasm_format::Header::decode(&bytes).map_err(at_input)?;
    let view =
        vibewasm_format::read_artifact_for(&bytes, header.target, u64::MAX).map_err(at_input)?;
    let h = &view.header;
    let m = &view.metadata;
    println!("artifact        {}", input.display());
    println!("format version  {}.{}", h.version_major, h.version_minor);
    println!("compiler        {}", h.compiler_version);
    println!(
        "target          {:?}-{:?}, {}-byte pointers, cpu features: {}",
        h.target.arch,
        h.target.os,
        h.target.pointer_width,
        cpu::names(h.target.cpu_features)
    );
    println!("bounds checks   {}", h.options.bounds_checks.name());
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!(
        "fuel metering   {}, epoch checks {}",
        yes_no(h.options.fuel),
        yes_no(h.options.epoch)
    );
    let hash: String = h.wasm_sha256.iter().map(|b| format!("{b:02x}")).collect();
    println!("source sha256   {hash}");
    println!(
        "sections        metadata {} bytes at {:#x}, tables at {:#x}, code {} bytes at {:#x}",
        h.metadata_len,
        h.metadata_offset,
        h.metadata_offset + h.metadata_len,
        h.code_len,
        h.code_offset
    );
    match &m.memory_image {
        Some(image) => println!(
            "memory image    {} bytes at {:#x}, memory 0 at {:#x}, {} data segment(s)",
            image.len,
            image.offset,
            image.memory_offset,
            image.segments.len()
        ),
        None => println!("memory image    none (data segments copied)"),
    }
    println!("signature       {}", sign_cmd::signature_line(input));
    println!("imports         {}", m.imports.len());
    for import in &m.imports {
        let kind = match &import.kind {
            ImportKind::Func(t) => format!("func {}", m.types[*t as usize]),
            ImportKind::Memory(mem) => format!("memory {mem:?}"),
            ImportKind::Table(t) => format!("table {t:?}"),
            ImportKind::Global(g) => format!("global {g:?}"),
        };
        println!("  {}.{}: {kind}", import.module, import.name);
    }
    println!("exports         {}", m.exports.len());
    for export in &m.exports {
        println!("  {} ({:?} {})", export.name, export.kind, export.index);
    }
    let tables = &view.tables;
    println!("functions       {}", tables.num_functions());
    for i in 0..tables.num_functions() {
        let Some(range) = tables.function(i as u32) else {
            continue;
        };
        let name = tables.func_name(i as u32).unwrap_or("");
        let ty = m
            .func_type(i as u32)
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!(
            "  {i:>4} {name:<24} {ty:<28} {:>7} bytes at {:#x}",
            range.len, range.offset
        );
    }
    println!(
        "trap sites      {} with a stub, {} unchecked memory accesses, {} calls",
        tables.num_traps(),
        tables.num_fault_sites(),
        tables.num_call_sites()
    );
    println!("relocations     {}", m.relocations.len());
    for reloc in &m.relocations {
        let target = match reloc.target {
            RelocTarget::Helper(h) => Helper::from_u32(h)
                .map(|h| format!("helper {}", h.name()))
                .unwrap_or_else(|| format!("helper {h}")),
            RelocTarget::ImportedFunc(f) => format!("imported function {f}"),
        };
        println!("  vmctx+{:#x} <- {target}", reloc.slot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v128_arguments_and_results_on_the_command_line() {
        let lanes_1234 = 0x0000_0004_0000_0003_0000_0002_0000_0001u128;
        // Printed in decimal, as wasmtime prints `i.as_u128()`.
        assert_eq!(
            format_val(&Val::V128(lanes_1234)),
            "316912650112397582603894390785"
        );
        assert_eq!(format_val(&Val::V128(0)), "0");
        assert_eq!(
            format_val(&Val::V128(u128::MAX)),
            "340282366920938463463374607431768211455"
        );
        // Parsed back from that form, or from hex.
        let v128 = |text| parse_arg(text, ValType::V128).map_err(|e| e.message);
        assert_eq!(
            v128("316912650112397582603894390785"),
            Ok(Val::V128(lanes_1234))
        );
        assert_eq!(
            v128("0x4000000030000000200000001"),
            Ok(Val::V128(lanes_1234))
        );
        assert_eq!(
            v128("0X00000004000000030000000200000001"),
            Ok(Val::V128(lanes_1234))
        );
        assert_eq!(
            v128("340282366920938463463374607431768211455"),
            Ok(Val::V128(u128::MAX))
        );
        assert_eq!(
            v128("0xffffffffffffffffffffffffffffffff"),
            Ok(Val::V128(u128::MAX))
        );
        for bad in [
            "",
            "-1",
            "+1",
            "0x",
            "0x-1",
            "0x+1",
            "1.5",
            "i32x4 1 2 3 4",
            "340282366920938463463374607431768211456",
            "0x100000000000000000000000000000000",
        ] {
            let err = v128(bad).unwrap_err();
            assert_eq!(err, format!("argument '{bad}' is not a valid v128"));
        }
        // The other types print as before.
        assert_eq!(format_val(&Val::I32(-7)), "-7");
        assert_eq!(format_val(&Val::f64(2.5)), "2.5");
        assert_eq!(format_val(&Val::f32(-0.5)), "-0.5");
    }
}
