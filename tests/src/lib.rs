//! Shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! Every test goes through the real pipeline: WAT text -> wasm binary ->
//! `vibewasm_compiler::compile` -> the artifact bytes written to a file in a
//! fresh temporary directory -> `Artifact::open` on that file ->
//! `Linker::instantiate` -> calls.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub use vibewasm_compiler::{compile, CompileError, Config};
pub use vibewasm_format::TrapCode;
pub use vibewasm_loader::{Artifact, Caller, Error, Instance, Linker, Trap, Val};

// ---------------------------------------------------------------------------
// Temporary directories (std only, removed on drop).

/// A directory under the system temp dir, unique to this process and
/// call, removed with its contents when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("vibewasm-tests-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// The pipeline.

/// WAT text to a wasm binary (panics with the parse error).
pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("bad WAT in test: {e}\n{wat}"))
}

/// Compiles WAT text to artifact bytes with the default config.
/// Recomputes an artifact's checksum after a deliberate edit, so that the
/// check under test (not the checksum) is what refuses the file.
pub fn refix_checksum(bytes: &mut [u8]) {
    let sum = vibewasm_format::file_checksum(bytes);
    bytes[vibewasm_format::CHECKSUM_RANGE].copy_from_slice(&sum);
}

/// `bytes` with its metadata changed by `edit`, written again as a
/// complete artifact (header, code and options kept; checksum recomputed).
pub fn forge_metadata(bytes: &[u8], edit: impl FnOnce(&mut vibewasm_format::Metadata)) -> Vec<u8> {
    let view = vibewasm_format::read_artifact(bytes).expect("the real artifact reads");
    let mut metadata = view.metadata.clone();
    edit(&mut metadata);
    vibewasm_format::write_artifact(&vibewasm_format::ArtifactParts {
        compiler_version: &view.header.compiler_version,
        target: view.header.target,
        options: view.header.options,
        wasm: b"forged",
        metadata: &metadata,
        tables: &view.tables.to_owned(),
        memory_image: if metadata.memory_image.is_some() {
            view.memory_image
        } else {
            &[]
        },
        code: view.code,
    })
    .unwrap()
}

/// `bytes` must be refused at load, by the format checks, with a message
/// that contains every one of `words`.
pub fn assert_refused_at_load(bytes: &[u8], words: &[&str], what: &str) {
    let err = match Artifact::from_bytes(bytes) {
        Ok(_) => panic!("{what}: the forged artifact was accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(err, vibewasm_loader::LoadError::Format { .. }),
        "{what}: {err:?}"
    );
    let text = err.to_string();
    for word in words {
        assert!(
            text.contains(word),
            "{what}: message {text:?} does not mention {word:?}"
        );
    }
}

/// The default configuration with each bounds-check strategy.
pub fn both_bounds_checks() -> [Config; 2] {
    use vibewasm_compiler::BoundsChecks;
    [BoundsChecks::GuardPages, BoundsChecks::Explicit].map(|bounds_checks| Config {
        bounds_checks,
        ..Config::default()
    })
}

pub fn compile_wat(wat: &str) -> Vec<u8> {
    compile(&wasm(wat), &Config::default()).unwrap_or_else(|e| panic!("compile failed: {e}"))
}

/// Compiles WAT text to artifact bytes with `config`.
pub fn compile_wat_with(wat: &str, config: &Config) -> Vec<u8> {
    compile(&wasm(wat), config).unwrap_or_else(|e| panic!("compile failed: {e}"))
}

/// Compile with `config` -> file -> open -> instantiate with `linker`.
pub fn instantiate_configured(wat: &str, config: &Config, linker: &Linker) -> Instance {
    linker
        .instantiate_artifact(&open_artifact_bytes(&compile_wat_with(wat, config)))
        .unwrap_or_else(|e| panic!("instantiate failed: {e}"))
}

/// Compiles WAT text, returning the compiler's error.
pub fn try_compile_wat(wat: &str) -> Result<Vec<u8>, CompileError> {
    compile(&wasm(wat), &Config::default())
}

/// Writes artifact bytes to a file in a fresh temp dir and opens it with
/// `Artifact::open`. The file is deleted afterwards (the mapping stays).
pub fn open_artifact_bytes(bytes: &[u8]) -> Arc<Artifact> {
    let dir = TempDir::new();
    let path = dir.join("module.vwa");
    std::fs::write(&path, bytes).expect("write artifact");
    Arc::new(Artifact::open(&path).unwrap_or_else(|e| panic!("Artifact::open failed: {e}")))
}

/// Compiles `wat` and loads the artifact through a file.
pub fn load_wat(wat: &str) -> Arc<Artifact> {
    open_artifact_bytes(&compile_wat(wat))
}

/// Compile -> file -> open -> instantiate with an empty linker.
pub fn instantiate_wat(wat: &str) -> Instance {
    instantiate_with(wat, &Linker::new())
}

/// Compile -> file -> open -> instantiate with `linker`.
pub fn instantiate_with(wat: &str, linker: &Linker) -> Instance {
    try_instantiate_with(wat, linker).unwrap_or_else(|e| panic!("instantiate failed: {e}"))
}

/// Compile -> file -> open -> instantiate, returning the instantiation error.
pub fn try_instantiate_with(wat: &str, linker: &Linker) -> Result<Instance, Error> {
    linker.instantiate_artifact(&load_wat(wat))
}

// ---------------------------------------------------------------------------
// Calls.

/// Calls `name`, panicking with the error if it fails.
pub fn call(instance: &mut Instance, name: &str, args: &[Val]) -> Vec<Val> {
    instance
        .call(name, args)
        .unwrap_or_else(|e| panic!("call {name}({args:?}) failed: {e}"))
}

/// Calls `name` expecting exactly one i32 result.
pub fn call_i32(instance: &mut Instance, name: &str, args: &[Val]) -> i32 {
    match call(instance, name, args).as_slice() {
        [Val::I32(v)] => *v,
        other => panic!("{name}: expected one i32, got {other:?}"),
    }
}

/// Calls `name` expecting exactly one i64 result.
pub fn call_i64(instance: &mut Instance, name: &str, args: &[Val]) -> i64 {
    match call(instance, name, args).as_slice() {
        [Val::I64(v)] => *v,
        other => panic!("{name}: expected one i64, got {other:?}"),
    }
}

/// Calls `name` expecting it to fail, returning the error.
pub fn call_err(instance: &mut Instance, name: &str, args: &[Val]) -> Error {
    match instance.call(name, args) {
        Ok(v) => panic!("call {name}({args:?}) returned {v:?}, expected an error"),
        Err(e) => e,
    }
}

/// Asserts that `err` is a trap of kind `code` whose message contains the
/// specification's wording for it.
pub fn assert_trap(err: &Error, code: TrapCode) {
    assert_eq!(err.trap_code(), Some(code), "wrong trap for error: {err}");
    let text = err.to_string();
    assert!(
        text.contains(code.message()),
        "message {text:?} lacks {:?}",
        code.message()
    );
}

/// Calls `name` expecting a trap of kind `code` (code and message checked).
pub fn expect_trap(instance: &mut Instance, name: &str, args: &[Val], code: TrapCode) -> Error {
    let err = call_err(instance, name, args);
    assert_trap(&err, code);
    err
}

// ---------------------------------------------------------------------------
// Table-driven operator tests.

/// What an operator application should produce.
#[derive(Clone, Copy, Debug)]
pub enum Want {
    /// Exactly this value (floats compared bit for bit).
    Is(Val),
    /// Any NaN of this width (f32 when `false`, f64 when `true`).
    Nan { f64: bool },
    /// A trap of this kind.
    Trap(TrapCode),
}

impl From<Val> for Want {
    fn from(v: Val) -> Want {
        Want::Is(v)
    }
}
impl From<i32> for Want {
    fn from(v: i32) -> Want {
        Want::Is(Val::I32(v))
    }
}
impl From<i64> for Want {
    fn from(v: i64) -> Want {
        Want::Is(Val::I64(v))
    }
}
impl From<TrapCode> for Want {
    fn from(c: TrapCode) -> Want {
        Want::Trap(c)
    }
}

fn type_name(v: &Val) -> String {
    v.ty().to_string()
}

/// The WAT spelling of an exact f32 bit pattern (hex float, `nan:0x..`).
pub fn f32_wat(bits: u32) -> String {
    let sign = if bits >> 31 != 0 { "-" } else { "" };
    let exp = (bits >> 23) & 0xff;
    let mant = bits & 0x7f_ffff;
    match exp {
        0xff if mant == 0 => format!("{sign}inf"),
        0xff => format!("{sign}nan:0x{mant:x}"),
        0 => format!("{sign}0x0.{:06x}p-126", mant << 1),
        _ => format!("{sign}0x1.{:06x}p{}", mant << 1, exp as i32 - 127),
    }
}

/// The WAT spelling of an exact f64 bit pattern.
pub fn f64_wat(bits: u64) -> String {
    let sign = if bits >> 63 != 0 { "-" } else { "" };
    let exp = (bits >> 52) & 0x7ff;
    let mant = bits & 0xf_ffff_ffff_ffff;
    match exp {
        0x7ff if mant == 0 => format!("{sign}inf"),
        0x7ff => format!("{sign}nan:0x{mant:x}"),
        0 => format!("{sign}0x0.{mant:013x}p-1022"),
        _ => format!("{sign}0x1.{mant:013x}p{}", exp as i64 - 1023),
    }
}

/// `T.const V` for a value.
pub fn const_wat(v: &Val) -> String {
    if let Val::I32(x) = *v {
        format!("i32.const {x}")
    } else if let Val::I64(x) = *v {
        format!("i64.const {x}")
    } else if let Val::F32(b) = *v {
        format!("f32.const {}", f32_wat(b))
    } else if let Val::F64(b) = *v {
        format!("f64.const {}", f64_wat(b))
    } else {
        panic!("no constant instruction for {v:?}")
    }
}

fn matches(got: &Result<Vec<Val>, Error>, want: &Want) -> bool {
    match (got, want) {
        (Ok(v), Want::Is(w)) => v.as_slice() == [*w],
        (Ok(v), Want::Nan { f64: false }) => {
            matches!(v.as_slice(), [Val::F32(b)] if f32::from_bits(*b).is_nan())
        }
        (Ok(v), Want::Nan { f64: true }) => {
            matches!(v.as_slice(), [Val::F64(b)] if f64::from_bits(*b).is_nan())
        }
        (Err(e), Want::Trap(code)) => {
            e.trap_code() == Some(*code) && e.to_string().contains(code.message())
        }
        _ => false,
    }
}

fn show(got: &Result<Vec<Val>, Error>) -> String {
    match got {
        Ok(v) => v
            .iter()
            .map(|x| match x {
                Val::F32(b) => format!("f32:{} ({b:#010x})", f32::from_bits(*b)),
                Val::F64(b) => format!("f64:{} ({b:#018x})", f64::from_bits(*b)),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("error: {e} (trap code {:?})", e.trap_code()),
    }
}

/// Checks operator `op` (e.g. `"i32.add"`, `"f32.sqrt"`) with result type
/// `result` on each case `(operands, expected)`. Every case is run four
/// ways, so both the register and the constant-operand paths of code
/// generation are exercised: all operands from parameters; all operands
/// constants; and (for binary operators) first or second operand constant.
/// Collects every mismatch and panics with the full list.
pub fn check_op(op: &str, result: &str, cases: &[(Vec<Val>, Want)]) {
    assert!(!cases.is_empty());
    let arity = cases[0].0.len();
    let params: Vec<String> = cases[0].0.iter().map(type_name).collect();
    let mut wat = String::from("(module\n");
    let param_list = params
        .iter()
        .map(|t| format!("(param {t})"))
        .collect::<String>();
    let gets: String = (0..arity).map(|i| format!("local.get {i} ")).collect();
    wat += &format!("(func (export \"p\") {param_list} (result {result}) {gets} {op})\n");
    for (i, (args, _)) in cases.iter().enumerate() {
        assert_eq!(args.len(), arity, "case {i} of {op} has the wrong arity");
        let consts: String = args.iter().map(|a| const_wat(a) + " ").collect();
        wat += &format!("(func (export \"c{i}\") (result {result}) {consts} {op})\n");
        if arity == 2 {
            wat += &format!(
                "(func (export \"l{i}\") (param {}) (result {result}) local.get 0 {} {op})\n",
                params[0],
                const_wat(&args[1])
            );
            wat += &format!(
                "(func (export \"r{i}\") (param {}) (result {result}) {} local.get 0 {op})\n",
                params[1],
                const_wat(&args[0])
            );
        }
    }
    wat += ")";
    let mut instance = instantiate_wat(&wat);
    let mut failures = Vec::new();
    for (i, (args, want)) in cases.iter().enumerate() {
        let mut runs: Vec<(String, Result<Vec<Val>, Error>)> = vec![
            ("params".into(), instance.call("p", args)),
            ("consts".into(), instance.call(&format!("c{i}"), &[])),
        ];
        if arity == 2 {
            runs.push((
                "lhs param, rhs const".into(),
                instance.call(&format!("l{i}"), &args[..1]),
            ));
            runs.push((
                "lhs const, rhs param".into(),
                instance.call(&format!("r{i}"), &args[1..]),
            ));
        }
        for (how, got) in runs {
            if !matches(&got, want) {
                let shown: Vec<String> = args.iter().map(|a| show(&Ok(vec![*a]))).collect();
                failures.push(format!(
                    "{op}({}) [{how}]: got {}, want {want:?}",
                    shown.join(", "),
                    show(&got)
                ));
            }
        }
    }
    // The instance must still work after any traps above.
    if let Some((args, want @ Want::Is(_))) = cases.iter().find(|(_, w)| matches!(w, Want::Is(_))) {
        let got = instance.call("p", args);
        assert!(matches(&got, want), "{op}: instance broken after traps");
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs of {op} wrong:\n{}",
        failures.len(),
        cases.len() * if arity == 2 { 4 } else { 2 },
        failures.join("\n")
    );
}

/// Shorthands for building cases.
pub fn i32s(a: i32, b: i32) -> Vec<Val> {
    vec![Val::I32(a), Val::I32(b)]
}
pub fn i64s(a: i64, b: i64) -> Vec<Val> {
    vec![Val::I64(a), Val::I64(b)]
}

// ---------------------------------------------------------------------------
// Paths: the CLI binary and the shared kernels.

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The directory of the shared benchmark kernels (`../shared/bench/kernels`
/// next to the workspace). Panics with a clear message when it is missing.
pub fn kernels_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels");
    assert!(
        dir.join("checksums.tsv").is_file(),
        "the shared kernels are missing: expected {} with checksums.tsv \
         (the shared/ directory must sit next to the workspace)",
        dir.display()
    );
    dir
}

/// The `vibewasmc` binary of the profile (and target) these tests were
/// built with, built (once per test process) with `cargo build` so it is
/// up to date.
///
/// Cross-tested (`cargo test --target aarch64-unknown-linux-gnu` on
/// x86-64, under qemu-user without binfmt_misc), the binary cannot be
/// executed directly: then this is a wrapper script next to it that runs it
/// through `VIBEWASM_TEST_RUNNER` (`.cargo/config.toml`), with the same pid
/// (`exec`) and arguments, so that tests and their shell scripts use it as
/// they would the binary.
pub fn vibewasmc() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable is <target>[/<triple>]/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in <target>/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let parent = profile_dir.parent().expect("target dir").to_path_buf();
        // A target triple names the directory between the target dir and
        // the profile when cargo builds for a `--target`.
        let triple = parent
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.contains("-linux-") || n.contains("-apple-"))
            .map(str::to_owned);
        let target_dir = match triple {
            Some(_) => parent.parent().expect("target dir").to_path_buf(),
            None => parent,
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "vibewasm-compiler",
            "--bin",
            "vibewasmc",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace_root())
        // Cargo's rustc probes inherit stdin and read it as source: a CI
        // whose stdin is its own log would poison target/.rustc_info.json.
        .stdin(std::process::Stdio::null());
        if let Some(triple) = &triple {
            cmd.args(["--target", triple]);
        }
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for vibewasmc");
        assert!(status.success(), "cargo build of vibewasmc failed");
        let bin = profile_dir.join("vibewasmc");
        assert!(bin.is_file(), "{} missing after cargo build", bin.display());
        let runner = std::env::var("VIBEWASM_TEST_RUNNER").unwrap_or_default();
        if runner.trim().is_empty() || runs_directly(&bin, "--version") {
            return bin;
        }
        let wrapper = profile_dir.join("vibewasmc-under-runner");
        let script = format!("#!/bin/sh\nexec {runner} '{}' \"$@\"\n", bin.display());
        std::fs::write(&wrapper, script).expect("write the runner wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .expect("make the wrapper executable");
        wrapper
    })
    .clone()
}

/// Whether `program arg` can be executed here: under qemu-user without
/// binfmt_misc an exec of another architecture's binary fails, or
/// (through posix_spawn) its child exits with 127 and no output.
fn runs_directly(program: &Path, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|out| !(out.status.code() == Some(127) && out.stdout.is_empty()))
}

/// A command that runs this test executable again (a child test that must
/// crash or abort alone). Cross-tested under qemu-user without
/// binfmt_misc, the executable cannot exec itself: then it runs through
/// `VIBEWASM_TEST_RUNNER` (see [`vibewasmc`]).
pub fn self_command() -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    static RUNS: OnceLock<bool> = OnceLock::new();
    let runs = *RUNS.get_or_init(|| runs_directly(&exe, "--list"));
    let runner = std::env::var("VIBEWASM_TEST_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    match (runs, runner.next()) {
        (false, Some(program)) => {
            let mut command = Command::new(program);
            command.args(runner).arg(&exe);
            command
        }
        _ => Command::new(&exe),
    }
}

/// Runs `vibewasmc` with `args` and returns its output.
pub fn run_cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(vibewasmc())
        .args(args)
        .output()
        .expect("spawn vibewasmc")
}

/// Runs `vibewasmc` with `args`, killing it after `limit` (then panics).
pub fn run_cli_with_timeout<I, S>(args: I, limit: std::time::Duration) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(vibewasmc());
    command.args(args);
    run_with_timeout(command, limit)
}

/// [`run_cli_with_timeout`] with the address space of the process limited
/// to `kib` KiB (the shell's `ulimit -v`, as a user would).
pub fn run_cli_limited<I, S>(args: I, limit: std::time::Duration, kib: u64) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(vibewasmc())
        .args(args);
    run_with_timeout(command, limit)
}

/// Runs `command` with no stdin, collecting its output; panics after `limit`.
fn run_with_timeout(mut command: Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    // Drain both pipes on threads so a chatty child cannot block.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for vibewasmc") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vibewasmc did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().expect("stdout reader"),
        stderr: err_thread.join().expect("stderr reader"),
    }
}

/// A small deterministic PRNG (xorshift64*), so "random" tests repeat.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Fails with the `show` smallest of `failures` (`(size, description)`),
/// if there are any: the smallest failing case is the easiest to read.
pub fn assert_no_failures(mut failures: Vec<(usize, String)>, what: &str, show: usize) {
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} {what} wrong; smallest first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(show)
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
