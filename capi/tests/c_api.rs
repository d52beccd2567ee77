//! The C API tested from C: builds `libvibewasm.a` with cargo, compiles
//! every `tests/c/*.c` program and `examples/c/hello.c` and `minimal.c`
//! with the system C compiler against it and `include/vibewasm.h`, and
//! runs them on artifacts compiled here from WAT (written to a temporary
//! directory).
//!
//! Getting the static library: an integration test does not make cargo
//! build its crate's `staticlib`, so the test runs `cargo build -p
//! vibewasm-capi` itself (`$CARGO`, the same profile, target directory and
//! `--target` as this test binary; quick when it is up to date). It needs
//! only `cc` (for a cross `--target`, `<arch>-linux-gnu-gcc` if present,
//! and the binaries run through `VIBEWASM_TEST_RUNNER` when they cannot be
//! executed directly, as under qemu-user).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use vibewasm_compiler::{compile, Config};
use vibewasm_format::{sign_artifact, SecretKey};

/// What `--print native-static-libs` lists for the static library on Linux.
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

struct Build {
    /// The directory holding `libvibewasm.a`.
    lib_dir: PathBuf,
    triple: Option<String>,
}

fn build() -> &'static Build {
    static BUILD: OnceLock<Build> = OnceLock::new();
    BUILD.get_or_init(|| {
        // The test executable is <target>[/<triple>]/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in <target>/<profile>/deps")
            .to_path_buf();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(name) => name.to_string(),
            None => panic!("no profile directory above {}", exe.display()),
        };
        let parent = profile_dir.parent().expect("target dir").to_path_buf();
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
        cmd.args(["build", "--quiet", "-p", "vibewasm-capi", "--lib"])
            .args(["--profile", &profile])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // Cargo's rustc probes inherit stdin and read it as source: a CI
            // whose stdin is its own log would poison target/.rustc_info.json.
            .stdin(Stdio::null());
        if let Some(triple) = &triple {
            cmd.args(["--target", triple]);
        }
        let status = cmd.status().expect("run cargo build -p vibewasm-capi");
        assert!(status.success(), "cargo build -p vibewasm-capi failed");
        assert!(
            profile_dir.join("libvibewasm.a").is_file(),
            "{} missing after cargo build",
            profile_dir.join("libvibewasm.a").display()
        );
        Build {
            lib_dir: profile_dir,
            triple,
        }
    })
}

/// The C compiler: for a cross `--target`, the Debian cross compiler of
/// its architecture if there is one; else `$CC`, or `cc`.
fn c_compiler(triple: Option<&str>) -> String {
    if let Some(arch) = triple.and_then(|t| t.split('-').next()) {
        let cross = format!("{arch}-linux-gnu-gcc");
        if Command::new(&cross).arg("--version").output().is_ok() {
            return cross;
        }
    }
    std::env::var("CC")
        .ok()
        .filter(|cc| !cc.trim().is_empty())
        .unwrap_or_else(|| "cc".to_string())
}

/// Compiles and links the C program `source` into `out`.
fn compile_c(source: &Path, out: &Path) {
    let build = build();
    let capi = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(c_compiler(build.triple.as_deref()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg("-I")
        .arg(capi.join("include"))
        .arg(source)
        .arg(build.lib_dir.join("libvibewasm.a"))
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `program args`, through `VIBEWASM_TEST_RUNNER` if it cannot be
/// executed directly (another architecture under qemu-user).
fn run(program: &Path, args: &[&Path]) -> Output {
    let direct = Command::new(program).args(args).output();
    let runner = std::env::var("VIBEWASM_TEST_RUNNER").unwrap_or_default();
    let exec_failed = match &direct {
        Err(_) => true,
        Ok(out) => out.status.code() == Some(127) && out.stdout.is_empty(),
    };
    if !exec_failed || runner.trim().is_empty() {
        return direct.expect("run the C program");
    }
    let mut words = runner.split_whitespace();
    Command::new(words.next().expect("runner"))
        .args(words)
        .arg(program)
        .args(args)
        .output()
        .expect("run the C program through VIBEWASM_TEST_RUNNER")
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("vibewasm-capi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn artifact(wat: &str, config: &Config) -> Vec<u8> {
    let wasm = wat::parse_str(wat).unwrap_or_else(|e| panic!("bad WAT: {e}"));
    compile(&wasm, config).unwrap_or_else(|e| panic!("compile failed: {e}"))
}

const API: &str = r#"
(module
  (import "env" "add" (func $h_add (param i32 i32) (result i32)))
  (import "env" "fail" (func $h_fail (param i32)))
  (import "env" "sum_mem" (func $h_sum (param i32 i32) (result i64)))
  (import "env" "fill_mem" (func $h_fill (param i32 i32 i32)))
  (import "env" "bad_result" (func $h_bad (result i32)))
  (memory (export "memory") 1 4)
  (table (export "table") 2 10 funcref)
  (global $counter (export "counter") (mut i32) (i32.const 5))
  (global (export "pi") f64 (f64.const 3.5))
  (data (i32.const 16) "\01\02\03\04")
  (elem (i32.const 0) $add)
  (func $div (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func $call_div (export "call_div") (param i32) (result i32)
    (i32.add (i32.const 1) (call $div (i32.const 1) (local.get 0))))
  (func $add (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "mix") (param i64 f32 f64) (result f64 i64)
    (f64.add (f64.promote_f32 (local.get 1)) (local.get 2))
    (i64.mul (local.get 0) (i64.const 2)))
  (func (export "v128_add") (param v128 v128) (result v128)
    (i8x16.add (local.get 0) (local.get 1)))
  (func (export "ext_id") (param externref) (result externref) (local.get 0))
  (func (export "get_fn") (result funcref) (ref.func $add))
  (func (export "boom") unreachable)
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "call_fail") (param i32) (call $h_fail (local.get 0)))
  (func (export "call_bad_result") (result i32) (call $h_bad))
  (func (export "call_host_add") (param i32 i32) (result i32)
    (call $h_add (local.get 0) (local.get 1)))
  (func (export "sum16") (result i64) (call $h_sum (i32.const 16) (i32.const 4)))
  (func (export "fill") (param i32 i32 i32)
    (call $h_fill (local.get 0) (local.get 1) (local.get 2)))
  (func $rec (export "recurse") (param i32) (result i32)
    (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "get_counter") (result i32) (global.get $counter))
  (func (export "size") (result i32) (memory.size))
  (func (export "call_table") (param i32 i32 i32) (result i32)
    (call_indirect (param i32 i32) (result i32) (local.get 1) (local.get 2) (local.get 0))))
"#;

const IMPORTS: &str = r#"
(module
  (import "host" "mem" (memory 1))
  (import "host" "tab" (table 1 funcref))
  (import "host" "g" (global $g (mut i64)))
  (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "bump") (result i64)
    (global.set $g (i64.add (global.get $g) (i64.const 1)))
    (global.get $g))
  (func (export "tab_size") (result i32) (table.size 0)))
"#;

const FUEL: &str = r#"
(module
  (func (export "spin") (loop (br 0)))
  (func (export "count") (param i32) (result i32) (local i32)
    (block (loop
      (br_if 1 (i32.ge_u (local.get 1) (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br 0)))
    (local.get 1)))
"#;

const EPOCH: &str = r#"
(module
  (import "env" "tick" (func $tick))
  (func (export "spin") (loop (call $tick) (br 0)))
  (func (export "spin_pure") (loop (br 0)))
  (func (export "ticks") (param i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (call $tick)
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0)))))
"#;

/// Imports `lib::add` and `lib::memory`: another instance's exports.
const USER: &str = r#"
(module
  (import "lib" "add" (func $add (param i32 i32) (result i32)))
  (import "lib" "memory" (memory 1))
  (func (export "add_first_bytes") (result i32)
    (call $add (i32.load8_u (i32.const 16)) (i32.load8_u (i32.const 17)))))
"#;

/// A module whose start function traps.
const START_TRAP: &str = r#"
(module
  (func $start (i32.div_u (i32.const 1) (i32.const 0)) drop)
  (start $start))
"#;

/// A WASI command: prints a line, exits with 10 * argc + environment size.
const WASI: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "hello from wasi\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100)))
    (drop (call $args_sizes (i32.const 200) (i32.const 204)))
    (drop (call $env_sizes (i32.const 208) (i32.const 212)))
    (call $proc_exit
      (i32.add (i32.mul (i32.load (i32.const 200)) (i32.const 10)) (i32.load (i32.const 208))))))
"#;

/// Writes every artifact the C programs use to `dir`.
fn write_artifacts(dir: &Path) {
    let plain = Config::default();
    let fuel = Config {
        fuel: true,
        ..Config::default()
    };
    let epoch = Config {
        epoch: true,
        ..Config::default()
    };
    let api = artifact(API, &plain);
    let files: [(&str, Vec<u8>); 8] = [
        ("start_trap.vwa", artifact(START_TRAP, &plain)),
        ("user.vwa", artifact(USER, &plain)),
        ("api.vwa", api.clone()),
        ("imports.vwa", artifact(IMPORTS, &plain)),
        ("fuel.vwa", artifact(FUEL, &fuel)),
        ("epoch.vwa", artifact(EPOCH, &epoch)),
        ("wasi.vwa", artifact(WASI, &plain)),
        (
            "hello.vwa",
            artifact(
                &std::fs::read_to_string(examples_dir().join("hello.wat")).unwrap(),
                &plain,
            ),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write artifact");
    }
    let key = SecretKey::from_seed(&[7; 32]);
    let other = SecretKey::from_seed(&[8; 32]);
    let signed = sign_artifact(&api, &key).expect("sign");
    std::fs::write(dir.join("signed.vwa"), signed).unwrap();
    std::fs::write(dir.join("key.pub"), key.public_key().to_text()).unwrap();
    std::fs::write(dir.join("key.bin"), key.public_key().to_bytes()).unwrap();
    std::fs::write(dir.join("other-key.bin"), other.public_key().to_bytes()).unwrap();
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn c_test_programs_pass() {
    let tmp = TempDir::new("tests");
    write_artifacts(&tmp.0);
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(&sources)
        .expect("tests/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    programs.sort();
    assert!(!programs.is_empty(), "no C tests in {}", sources.display());
    for source in programs {
        let exe = tmp.0.join(source.file_stem().unwrap());
        compile_c(&source, &exe);
        let out = run(&exe, &[&tmp.0]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "{} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            source.display(),
            out.status
        );
        let summary = stdout.lines().last().unwrap_or_default();
        assert!(
            summary.starts_with("c api: ") && summary.ends_with(" checks, 0 failed"),
            "{}: unexpected summary {summary:?}\nstderr:\n{stderr}",
            source.display()
        );
        let checks: u32 = summary["c api: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            checks > 100,
            "{}: only {checks} checks ran",
            source.display()
        );
        if source.file_name().is_some_and(|n| n == "test_api.c") {
            // The WASI program wrote to the inherited stdout.
            assert!(stdout.contains("hello from wasi\n"), "stdout:\n{stdout}");
            assert!(stdout.contains("wasi exit code 31\n"), "stdout:\n{stdout}");
        }
    }
}

#[test]
fn c_example_runs() {
    let tmp = TempDir::new("example");
    write_artifacts(&tmp.0);
    let exe = tmp.0.join("hello");
    compile_c(&examples_dir().join("hello.c"), &exe);
    let out = run(&exe, &[&tmp.0.join("hello.vwa")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "hello failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "wasm says 21",
            "double_and_log(21) = 42",
            "divide(1, 0) trapped: integer divide by zero"
        ],
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(lines.len(), 4, "one backtrace frame:\n{stdout}");
    assert!(
        lines[3].starts_with("  frame 0: divide at wasm offset 0x"),
        "{stdout}"
    );
}

/// `run` of examples/c/minimal.c: fib(50) by iteration, an i64.
const MINIMAL: &str = r#"
(module
  (memory 1)
  (func (export "run") (result i64) (local $a i64) (local $b i64) (local $n i32)
    (local.set $b (i64.const 1))
    (block (loop
      (br_if 1 (i32.eq (local.get $n) (i32.const 50)))
      (local.set $b (i64.add (local.get $a) (local.tee $a (local.get $b))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br 0)))
    (i64.store (i32.const 8) (local.get $a))
    (i64.load (i32.const 8))))
"#;

/// A `run` that traps.
const MINIMAL_TRAP: &str = r#"
(module
  (func (export "run") (result i64)
    (i64.div_s (i64.const 1) (i64.const 0))))
"#;

#[test]
fn c_minimal_example_runs() {
    let tmp = TempDir::new("minimal");
    let explicit = Config {
        bounds_checks: vibewasm_format::BoundsChecks::Explicit,
        ..Config::default()
    };
    std::fs::write(tmp.0.join("fib.vwa"), artifact(MINIMAL, &explicit)).unwrap();
    std::fs::write(
        tmp.0.join("trap.vwa"),
        artifact(MINIMAL_TRAP, &Config::default()),
    )
    .unwrap();
    let exe = tmp.0.join("minimal");
    compile_c(&examples_dir().join("minimal.c"), &exe);

    let out = run(&exe, &[&tmp.0.join("fib.vwa")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "minimal failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(stdout, "12586269025\n", "stderr:\n{stderr}");

    let out = run(&exe, &[&tmp.0.join("trap.vwa")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "run: trap: integer divide by zero\n",
        "{out:?}"
    );

    let out = run(&exe, &[&tmp.0.join("missing.vwa")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).starts_with("load: "), "{out:?}");
}
