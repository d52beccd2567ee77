//! WASI preview1: C programs built with wasi-libc (sources and prebuilt
//! `.wasm` in `tests/wasi/`, rebuilt by `tests/wasi/build.sh`) run through
//! the real pipeline (compile -> artifact file -> open -> instantiate with
//! the WASI functions -> `_start`), by the library API and by `vibewasmc
//! run`; plus hand-written modules passing hostile pointers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use vibewasm_loader::wasi::{self, Errno, OutputCapture, WasiCtx, WasiCtxBuilder};
use vibewasm_tests::*;

fn program_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("wasi")
        .join(format!("{name}.wasm"))
}

/// A test program compiled and loaded through an artifact file.
fn program(name: &str) -> Arc<Artifact> {
    let path = program_path(name);
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let artifact = compile(&wasm, &Config::default())
        .unwrap_or_else(|e| panic!("compile {}: {e}", path.display()));
    open_artifact_bytes(&artifact)
}

/// What a run of a program left behind.
struct Run {
    status: Result<i32, Error>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn status(&self) -> i32 {
        match &self.status {
            Ok(status) => *status,
            Err(e) => panic!("program failed: {e}\nstdout:\n{}", self.stdout),
        }
    }
}

/// Runs `artifact`'s `_start` with the context `builder` describes plus
/// captured stdout and stderr.
fn run_with(artifact: &Arc<Artifact>, builder: &mut WasiCtxBuilder) -> Run {
    let (stdout, stderr) = (OutputCapture::new(), OutputCapture::new());
    let ctx = builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &ctx).unwrap();
    let mut instance = linker
        .instantiate_artifact(artifact)
        .unwrap_or_else(|e| panic!("instantiate: {e}"));
    let status = wasi::run_start(&mut instance);
    Run {
        status,
        stdout: stdout.contents_string(),
        stderr: stderr.contents_string(),
    }
}

fn run(name: &str, builder: &mut WasiCtxBuilder) -> Run {
    run_with(&program(name), builder)
}

#[test]
fn hello_prints_its_arguments_and_environment() {
    let run = run(
        "hello",
        WasiCtx::builder()
            .args(["hello", "one", "two words", "--flag", ""])
            .env("GREETING", "bonjour")
            .env("OTHER", "x=y"),
    );
    assert_eq!(run.status(), 0);
    assert_eq!(
        run.stdout,
        "hello from wasi\nargc=5\nargv[0]=hello\nargv[1]=one\nargv[2]=two words\n\
         argv[3]=--flag\nargv[4]=\nGREETING=bonjour\nenviron has 2 entries\n"
    );
    assert_eq!(run.stderr, "hello on stderr\n");
}

#[test]
fn nothing_is_inherited_by_default() {
    let run = run("hello", &mut WasiCtx::builder());
    assert_eq!(run.status(), 0);
    assert_eq!(
        run.stdout,
        "hello from wasi\nargc=0\nGREETING=(unset)\nenviron has 0 entries\n"
    );
    // A later value of a variable replaces the earlier one.
    let run = self::run(
        "hello",
        WasiCtx::builder()
            .arg("hello")
            .env("GREETING", "a")
            .env("GREETING", "b"),
    );
    assert!(
        run.stdout.contains("GREETING=b\nenviron has 1 entries\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn stdin_is_read_to_its_end() {
    let input: Vec<u8> = (0..20_000u32)
        .map(|i| b"abcdefghij\n"[i as usize % 11])
        .collect();
    let run = run("stdin", WasiCtx::builder().stdin_bytes(input.clone()));
    assert_eq!(run.status(), 0);
    assert_eq!(run.stdout.as_bytes(), input.to_ascii_uppercase());
    assert_eq!(run.stderr, "read 20000 bytes\n");
    // The default stdin is empty.
    let run = self::run("stdin", &mut WasiCtx::builder());
    assert_eq!((run.status(), run.stdout.as_str()), (0, ""));
    assert_eq!(run.stderr, "read 0 bytes\n");
}

#[test]
fn exit_is_a_status_not_a_trap() {
    let artifact = program("exit");
    let run = run_with(&artifact, WasiCtx::builder().arg("exit"));
    assert_eq!(run.status(), 7);
    // exit() flushed stdio before proc_exit.
    assert_eq!(run.stdout, "about to exit\n");
    let run = run_with(&artifact, WasiCtx::builder().args(["exit", "0"]));
    assert_eq!(run.status(), 0);
    let run = run_with(&artifact, WasiCtx::builder().args(["exit", "300"]));
    assert_eq!(run.status(), 300);

    // Called directly, `_start` ends with an error that carries the status.
    let mut linker = Linker::new();
    let ctx = WasiCtx::builder().args(["exit", "42"]).build();
    wasi::add_to_linker(&mut linker, &ctx).unwrap();
    let mut instance = linker.instantiate_artifact(&artifact).unwrap();
    let err = instance.call("_start", &[]).unwrap_err();
    assert_eq!(err.exit_code(), Some(42));
    assert_eq!(err.trap_code(), Some(TrapCode::HostError));
    assert!(err.to_string().contains("exited with status 42"), "{err}");
    // The instance stays usable.
    let err = instance.call("_start", &[]).unwrap_err();
    assert_eq!(err.exit_code(), Some(42));
}

#[test]
fn a_trap_is_an_error_without_exit_status() {
    let run = run("trap", &mut WasiCtx::builder());
    let err = run.status.expect_err("trap.wasm must trap");
    assert_eq!(err.trap_code(), Some(TrapCode::Unreachable));
    assert_eq!(err.exit_code(), None);
    assert_eq!(run.stdout, "about to trap\n");
}

#[test]
fn clocks_sleep_and_random() {
    let run = run("clock_random", &mut WasiCtx::builder());
    assert_eq!(run.status(), 0, "{}", run.stdout);
    assert_eq!(run.stdout.lines().count(), 9, "{}", run.stdout);
    assert!(
        run.stdout.lines().all(|l| l.ends_with(": ok")),
        "{}",
        run.stdout
    );
}

/// A directory for `files.wasm`: `sandbox/` with `input.txt`, `inner/` and
/// symbolic links, and `secret.txt` next to it.
struct Tree {
    dir: TempDir,
}

const INPUT: &str = "hello file\nsecond line\n";
const SECRET: &str = "top secret\n";

impl Tree {
    fn new() -> Tree {
        let dir = TempDir::new();
        let sandbox = dir.join("sandbox");
        std::fs::create_dir(&sandbox).unwrap();
        std::fs::create_dir(sandbox.join("inner")).unwrap();
        std::fs::write(sandbox.join("input.txt"), INPUT).unwrap();
        std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, sandbox.join(name)).unwrap();
        };
        link("../secret.txt", "link_out");
        link("/etc/passwd", "link_abs");
        link("input.txt", "link_in");
        link("..", "dirlink");
        Tree { dir }
    }

    fn sandbox(&self) -> PathBuf {
        self.dir.join("sandbox")
    }

    /// The program copied input.txt, cleaned up after itself, and nothing
    /// outside the sandbox changed.
    fn check(&self) {
        let sandbox = self.sandbox();
        assert_eq!(
            std::fs::read_to_string(sandbox.join("copy.txt")).unwrap(),
            INPUT
        );
        assert_eq!(
            std::fs::read_to_string(self.dir.join("secret.txt")).unwrap(),
            SECRET
        );
        assert!(!self.dir.join("escape.txt").exists());
        assert!(!sandbox.join("sub").exists());
        assert!(!sandbox.join("log.txt").exists());
        let link = std::fs::read_link(sandbox.join("link_out")).unwrap();
        assert_eq!(link, Path::new("../secret.txt"));
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["sandbox", "secret.txt"]);
    }
}

const REFUSED: &str = "refused, errno 76 (Capabilities insufficient)";

/// What `files.wasm` prints when everything works and every way out is
/// refused, with the pre-open named `guest`.
fn files_expected(guest: &str) -> String {
    let mut out = String::from(
        "copied 23 bytes\n\
         log.txt: line 1\nline 2\n\
         at 5: '1', tell 6\n\
         end-2: tell 12\n\
         stat copy.txt: size 23, regular 1\n\
         lstat link_out: symlink 1\n\
         list sub: b.txt\n\
         open sub/../input.txt: OPENED (23 bytes)\n\
         sub exists after rmdir: no\n\
         list dir: copy.txt dirlink inner input.txt link_abs link_in link_out\n",
    );
    // wasi-libc maps an absolute path to a pre-open itself, and fails
    // without asking the host when none matches: ENOTCAPABLE, but ENOENT
    // when the only pre-open is `.` (the current directory).
    let etc = if guest == "." {
        "refused, errno 44 (No such file or directory)"
    } else {
        REFUSED
    };
    out += &format!("open ../secret.txt: {REFUSED}\nopen /etc/passwd: {etc}\n");
    for name in ["link_out", "link_abs", "link_in", "dirlink/secret.txt"] {
        out += &format!("open {name}: {REFUSED}\n");
    }
    out += &format!("write ../escape.txt: {REFUSED}\nwrite link_out: {REFUSED}\n");
    for (path, errno) in [
        ("/etc/passwd", 76),
        ("../secret.txt", 76),
        ("./../secret.txt", 76),
        ("inner/../../secret.txt", 76),
        ("inner/../input.txt", 0),
        ("link_out", 76),
        ("dirlink/secret.txt", 76),
        ("input.txt", 0),
    ] {
        out += &format!("raw path_open {path}: errno {errno}\n");
    }
    out
}

#[test]
fn files_inside_a_preopen_and_no_way_out() {
    for guest in ["/sandbox", ".", "data"] {
        let tree = Tree::new();
        let run = run(
            "files",
            WasiCtx::builder()
                .args(["files", guest])
                .preopened_dir(tree.sandbox(), guest)
                .unwrap(),
        );
        assert_eq!(run.status(), 0, "guest name {guest}: {}", run.stdout);
        assert_eq!(run.stdout, files_expected(guest), "guest name {guest}");
        tree.check();
    }
}

#[test]
fn without_a_preopen_there_are_no_files() {
    let run = run("files", WasiCtx::builder().args(["files", "/sandbox"]));
    assert_eq!(run.status(), 1);
    assert!(
        run.stdout.starts_with("cannot open input.txt"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_preopen_must_be_a_directory() {
    let tree = Tree::new();
    let file = tree.sandbox().join("input.txt");
    let err = WasiCtx::builder().preopened_dir(&file, "/x").err().unwrap();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(WasiCtx::builder()
        .preopened_dir(tree.dir.join("missing"), "/x")
        .is_err());
}

/// Every preview1 function with its signature, from the witx definitions.
const PREVIEW1: &[(&str, &str, &str)] = &[
    ("args_get", "i32 i32", "i32"),
    ("args_sizes_get", "i32 i32", "i32"),
    ("environ_get", "i32 i32", "i32"),
    ("environ_sizes_get", "i32 i32", "i32"),
    ("clock_res_get", "i32 i32", "i32"),
    ("clock_time_get", "i32 i64 i32", "i32"),
    ("fd_advise", "i32 i64 i64 i32", "i32"),
    ("fd_allocate", "i32 i64 i64", "i32"),
    ("fd_close", "i32", "i32"),
    ("fd_datasync", "i32", "i32"),
    ("fd_fdstat_get", "i32 i32", "i32"),
    ("fd_fdstat_set_flags", "i32 i32", "i32"),
    ("fd_fdstat_set_rights", "i32 i64 i64", "i32"),
    ("fd_filestat_get", "i32 i32", "i32"),
    ("fd_filestat_set_size", "i32 i64", "i32"),
    ("fd_filestat_set_times", "i32 i64 i64 i32", "i32"),
    ("fd_pread", "i32 i32 i32 i64 i32", "i32"),
    ("fd_prestat_get", "i32 i32", "i32"),
    ("fd_prestat_dir_name", "i32 i32 i32", "i32"),
    ("fd_pwrite", "i32 i32 i32 i64 i32", "i32"),
    ("fd_read", "i32 i32 i32 i32", "i32"),
    ("fd_readdir", "i32 i32 i32 i64 i32", "i32"),
    ("fd_renumber", "i32 i32", "i32"),
    ("fd_seek", "i32 i64 i32 i32", "i32"),
    ("fd_sync", "i32", "i32"),
    ("fd_tell", "i32 i32", "i32"),
    ("fd_write", "i32 i32 i32 i32", "i32"),
    ("path_create_directory", "i32 i32 i32", "i32"),
    ("path_filestat_get", "i32 i32 i32 i32 i32", "i32"),
    (
        "path_filestat_set_times",
        "i32 i32 i32 i32 i64 i64 i32",
        "i32",
    ),
    ("path_link", "i32 i32 i32 i32 i32 i32 i32", "i32"),
    ("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32", "i32"),
    ("path_readlink", "i32 i32 i32 i32 i32 i32", "i32"),
    ("path_remove_directory", "i32 i32 i32", "i32"),
    ("path_rename", "i32 i32 i32 i32 i32 i32", "i32"),
    ("path_symlink", "i32 i32 i32 i32 i32", "i32"),
    ("path_unlink_file", "i32 i32 i32", "i32"),
    ("poll_oneoff", "i32 i32 i32 i32", "i32"),
    ("proc_exit", "i32", ""),
    ("proc_raise", "i32", "i32"),
    ("sched_yield", "", "i32"),
    ("random_get", "i32 i32", "i32"),
    ("sock_accept", "i32 i32 i32", "i32"),
    ("sock_recv", "i32 i32 i32 i32 i32 i32", "i32"),
    ("sock_send", "i32 i32 i32 i32 i32", "i32"),
    ("sock_shutdown", "i32 i32", "i32"),
];

#[test]
fn every_preview1_function_links() {
    let mut wat = String::from("(module\n");
    for (name, params, results) in PREVIEW1 {
        let results = if results.is_empty() {
            String::new()
        } else {
            format!("(result {results})")
        };
        wat += &format!(
            "  (import \"wasi_snapshot_preview1\" \"{name}\" (func (param {params}) {results}))\n"
        );
    }
    wat += "  (memory 1))";
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &WasiCtx::builder().build()).unwrap();
    instantiate_with(&wat, &linker);
    // Defining them twice is refused, not silently shadowed.
    let err = wasi::add_to_linker(&mut linker, &WasiCtx::builder().build()).unwrap_err();
    assert!(
        err.to_string().contains("wasi_snapshot_preview1::"),
        "{err}"
    );
    for name in wasi::UNSUPPORTED {
        assert!(PREVIEW1.iter().any(|(n, _, _)| n == name), "{name}");
    }
}

/// A module calling WASI functions with pointers and values it controls.
const HOSTILE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi\n")
  ;; iovec {buf 0, len 3}
  (data (i32.const 16) "\00\00\00\00\03\00\00\00")
  ;; iovec {buf 65534, len 8}: runs off the end of memory
  (data (i32.const 32) "\fe\ff\00\00\08\00\00\00")
  (data (i32.const 48) "input.txt")
  (func (export "write_ok") (result i32)
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 64)))
  (func (export "written") (result i32) (i32.load (i32.const 64)))
  (func (export "write_bad_iovec") (result i32)
    (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 64)))
  (func (export "write_iovs_off_end") (result i32)
    (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 2) (i32.const 64)))
  (func (export "write_result_off_end") (result i32)
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 65534)))
  (func (export "write_huge_count") (result i32)
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const -1) (i32.const 64)))
  (func (export "write_bad_fd") (result i32)
    (call $fd_write (i32.const 99) (i32.const 16) (i32.const 1) (i32.const 64)))
  (func (export "write_stdin") (result i32)
    (call $fd_write (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 64)))
  (func (export "read_into_bad") (result i32)
    (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 64)))
  (func (export "close") (param i32) (result i32) (call $fd_close (local.get 0)))
  (func (export "args_bad") (result i32) (call $args_get (i32.const 65535) (i32.const 0)))
  (func (export "args_buf_bad") (result i32) (call $args_get (i32.const 256) (i32.const 65534)))
  (func (export "args_sizes_bad") (result i32) (call $args_sizes_get (i32.const 0) (i32.const -1)))
  (func (export "random_bad") (result i32) (call $random_get (i32.const 65000) (i32.const 1000)))
  (func (export "random_ok") (result i32) (call $random_get (i32.const 1024) (i32.const 64)))
  (func (export "clock_bad_id") (result i32) (call $clock_time_get (i32.const 9) (i64.const 0) (i32.const 128)))
  (func (export "clock_bad_ptr") (result i32) (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const -4)))
  (func (export "open") (param $path i32) (param $len i32) (param $oflags i32) (param $out i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $len) (local.get $oflags)
      (i64.const 2) (i64.const 0) (i32.const 0) (local.get $out)))
  (func (export "prestat") (param i32) (result i32) (call $fd_prestat_get (local.get 0) (i32.const 64)))
  (func (export "prestat_name") (param i32) (result i32)
    (call $fd_prestat_dir_name (i32.const 3) (i32.const 512) (local.get 0)))
  (func (export "poll") (param i32) (result i32)
    (call $poll_oneoff (i32.const 4096) (i32.const 8192) (local.get 0) (i32.const 64)))
  (func (export "seek") (param i32 i32) (result i32)
    (call $fd_seek (local.get 0) (i64.const 0) (local.get 1) (i32.const 64)))
  (func (export "sock") (result i32)
    (call $sock_send (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "exit") (param i32) (call $proc_exit (local.get 0)) (unreachable))
)
"#;

#[test]
fn hostile_pointers_and_values_are_errors_not_crashes() {
    let tree = Tree::new();
    let out = OutputCapture::new();
    let ctx = WasiCtx::builder()
        .args(["a", "b"])
        .stdout(out.clone())
        .preopened_dir(tree.sandbox(), "/sandbox")
        .unwrap()
        .build();
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &ctx).unwrap();
    let mut m = instantiate_with(HOSTILE, &linker);
    let i = |v: i32| Val::I32(v);
    let mut errno =
        |name: &str, args: &[Val]| -> Errno { Errno(call_i32(&mut m, name, args) as u16) };

    assert_eq!(errno("write_ok", &[]), Errno::SUCCESS);
    assert_eq!(errno("written", &[]).0, 3, "bytes written");
    assert_eq!(errno("write_bad_iovec", &[]), Errno::FAULT);
    assert_eq!(errno("write_iovs_off_end", &[]), Errno::FAULT);
    assert_eq!(errno("write_result_off_end", &[]), Errno::FAULT);
    assert_eq!(errno("write_huge_count", &[]), Errno::INVAL);
    assert_eq!(errno("write_bad_fd", &[]), Errno::BADF);
    assert_eq!(errno("write_stdin", &[]), Errno::BADF);
    assert_eq!(errno("read_into_bad", &[]), Errno::FAULT);
    assert_eq!(errno("args_bad", &[]), Errno::FAULT);
    assert_eq!(errno("args_buf_bad", &[]), Errno::FAULT);
    assert_eq!(errno("args_sizes_bad", &[]), Errno::FAULT);
    assert_eq!(errno("random_bad", &[]), Errno::FAULT);
    assert_eq!(errno("random_ok", &[]), Errno::SUCCESS);
    assert_eq!(errno("clock_bad_id", &[]), Errno::INVAL);
    assert_eq!(errno("clock_bad_ptr", &[]), Errno::FAULT);
    // path_open: path off the end, bad oflags, a result slot off the end,
    // an absolute path, then a good one.
    assert_eq!(
        errno("open", &[i(65000), i(1000), i(0), i(128)]),
        Errno::FAULT
    );
    assert_eq!(
        errno("open", &[i(48), i(9), i(0x10000), i(128)]),
        Errno::INVAL
    );
    assert_eq!(errno("open", &[i(48), i(9), i(0), i(-2)]), Errno::FAULT);
    assert_eq!(errno("open", &[i(0), i(0), i(0), i(128)]), Errno::NOENT);
    assert_eq!(errno("open", &[i(48), i(9), i(0), i(128)]), Errno::SUCCESS);
    assert_eq!(errno("prestat", &[i(1)]), Errno::BADF);
    assert_eq!(
        errno("prestat", &[i(4)]),
        Errno::BADF,
        "an opened file is no preopen"
    );
    assert_eq!(errno("prestat", &[i(3)]), Errno::SUCCESS);
    assert_eq!(errno("prestat_name", &[i(3)]), Errno::NAMETOOLONG);
    assert_eq!(errno("prestat_name", &[i(8)]), Errno::SUCCESS);
    assert_eq!(errno("seek", &[i(4), i(300)]), Errno::INVAL);
    assert_eq!(errno("seek", &[i(4), i(9)]), Errno::INVAL);
    assert_eq!(errno("seek", &[i(4), i(2)]), Errno::SUCCESS);
    assert_eq!(errno("seek", &[i(1), i(0)]), Errno::SPIPE);
    assert_eq!(errno("close", &[i(4)]), Errno::SUCCESS);
    assert_eq!(errno("close", &[i(4)]), Errno::BADF);
    assert_eq!(errno("close", &[i(-1)]), Errno::BADF);
    assert_eq!(errno("poll", &[i(0)]), Errno::INVAL);
    // Within the cap on subscriptions, but not within memory.
    assert_eq!(errno("poll", &[i(2000)]), Errno::FAULT);
    assert_eq!(errno("poll", &[i(100_000)]), Errno::INVAL);
    assert_eq!(errno("sock", &[]), Errno::NOSYS);

    let mem = m.get_memory("memory").unwrap();
    let mut name = [0u8; 8];
    mem.read(512, &mut name).unwrap();
    assert_eq!(&name, b"/sandbox");
    let mut size = [0u8; 8];
    mem.read(64, &mut size).unwrap();
    assert_eq!(
        u64::from_le_bytes(size),
        INPUT.len() as u64,
        "fd_seek to the end"
    );
    assert_eq!(out.contents(), b"hi\n");

    let err = call_err(&mut m, "exit", &[i(3)]);
    assert_eq!(err.exit_code(), Some(3));
}

#[test]
fn a_module_without_memory_gets_efault() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
      (func (export "write") (result i32) (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
      (func (export "yield") (result i32) (call $y)))"#;
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &WasiCtx::builder().build()).unwrap();
    let mut m = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut m, "write", &[]), i32::from(Errno::FAULT.0));
    assert_eq!(call_i32(&mut m, "yield", &[]), 0);
}

// ---------------------------------------------------------------------------
// `vibewasmc run`.

fn cli(args: &[&std::ffi::OsStr], stdin: &[u8], cache: &TempDir) -> Output {
    use std::io::Write;
    let mut child = Command::new(vibewasmc())
        .args(args)
        .env("VIBEWASM_CACHE_DIR", cache.path())
        .env("FROM_HOST", "host value")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vibewasmc");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for vibewasmc");
    writer.join().unwrap();
    out
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_runs_hello_with_args_and_env() {
    let cache = TempDir::new();
    let hello = program_path("hello");
    let out = cli(
        &[
            os("run"),
            hello.as_os_str(),
            os("--env"),
            os("GREETING=hi there"),
            os("--env"),
            os("FROM_HOST"),
            os("--env"),
            os("NOT_SET_ANYWHERE_XYZ"),
            os("--"),
            os("one"),
            os("--two"),
        ],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = format!(
        "hello from wasi\nargc=3\nargv[0]={}\nargv[1]=one\nargv[2]=--two\n\
         GREETING=hi there\nenviron has 2 entries\n",
        hello.display()
    );
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(text(&out.stderr), "hello on stderr\n");
}

#[test]
fn cli_exit_status_is_the_programs() {
    let cache = TempDir::new();
    let exit = program_path("exit");
    let out = cli(&[os("run"), exit.as_os_str()], b"", &cache);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "about to exit\n");
    assert_eq!(text(&out.stderr), "", "an exit status is not an error");
    let out = cli(
        &[os("run"), exit.as_os_str(), os("--"), os("42")],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(42));
    let out = cli(
        &[os("run"), exit.as_os_str(), os("--"), os("0")],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0));

    // Through an artifact file compiled by another process.
    let dir = TempDir::new();
    let vwa = dir.join("exit.vwa");
    let out = cli(
        &[os("compile"), exit.as_os_str(), os("-o"), vwa.as_os_str()],
        b"",
        &cache,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cli(
        &[os("run"), vwa.as_os_str(), os("--"), os("5")],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "about to exit\n");
}

#[test]
fn cli_trap_exits_3() {
    let cache = TempDir::new();
    let out = cli(&[os("run"), program_path("trap").as_os_str()], b"", &cache);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "about to trap\n");
    assert!(
        text(&out.stderr).contains("unreachable"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cli_pipes_stdin() {
    let cache = TempDir::new();
    let out = cli(
        &[os("run"), program_path("stdin").as_os_str()],
        b"piped through\nvibewasmc\n",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "PIPED THROUGH\nVIBEWASMC\n");
    assert_eq!(text(&out.stderr), "read 24 bytes\n");
}

#[test]
fn cli_clocks_and_random() {
    let cache = TempDir::new();
    let out = cli(
        &[os("run"), program_path("clock_random").as_os_str()],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn cli_files_are_sandboxed() {
    let cache = TempDir::new();
    for guest in ["/sandbox", "."] {
        let tree = Tree::new();
        let dir = format!("{}::{guest}", tree.sandbox().display());
        let out = cli(
            &[
                os("run"),
                program_path("files").as_os_str(),
                os("--dir"),
                os(&dir),
                os("--"),
                os(guest),
            ],
            b"",
            &cache,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            files_expected(guest),
            "guest name {guest}"
        );
        tree.check();
    }
    // `--dir HOST` alone: the guest name is the host path.
    let tree = Tree::new();
    let host = tree.sandbox();
    let out = cli(
        &[
            os("run"),
            program_path("files").as_os_str(),
            os("--dir"),
            host.as_os_str(),
            os("--"),
            host.as_os_str(),
        ],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), files_expected(&host.to_string_lossy()));
    tree.check();
}

#[test]
fn cli_refuses_bad_dirs_and_modules_without_start() {
    let cache = TempDir::new();
    let dir = TempDir::new();
    let missing = format!("{}::/x", dir.join("missing").display());
    let out = cli(
        &[
            os("run"),
            program_path("hello").as_os_str(),
            os("--dir"),
            os(&missing),
        ],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--dir"), "{}", text(&out.stderr));
    let wat = dir.join("lib.wat");
    std::fs::write(
        &wat,
        "(module (func (export \"f\") (result i32) (i32.const 1)))",
    )
    .unwrap();
    let out = cli(&[os("run"), wat.as_os_str()], b"", &cache);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("_start"),
        "{}",
        text(&out.stderr)
    );
    // --invoke still calls an export (with the WASI functions available).
    let out = cli(
        &[os("run"), wat.as_os_str(), os("--invoke"), os("f")],
        b"",
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n");
}

// ---------------------------------------------------------------------------
// Blocking calls end at the store's epoch deadline.

/// `sleep` polls one relative clock subscription of an hour (monotonic
/// clock); `poll N` polls `N` zeroed subscriptions (realtime clock, timeout
/// 0: ready at once) from address 0, events at 0x40000, and returns the
/// errno; `nevents` is how many events the last poll reported.
const POLL: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 8)
  ;; subscription at 0x60000: userdata 7, tag 0 (clock), id 1, timeout 3600 s
  (data (i32.const 0x60000) "\07\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 0x60010) "\01\00\00\00\00\00\00\00\00\a0\b8\30\46\03\00\00")
  (func (export "sleep") (result i32)
    (call $poll (i32.const 0x60000) (i32.const 0x61000) (i32.const 1) (i32.const 0x62000)))
  (func (export "poll") (param i32) (result i32)
    (call $poll (i32.const 0) (i32.const 0x40000) (local.get 0) (i32.const 0x62000)))
  (func (export "nevents") (result i32) (i32.load (i32.const 0x62000)))
  (func (export "_start")
    (drop (call $poll (i32.const 0x60000) (i32.const 0x61000) (i32.const 1) (i32.const 0x62000))))
)"#;

/// Runs `f` on a thread and waits at most `limit` for its result.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("still blocked after {limit:?}"))
}

use std::time::{Duration, Instant};

#[test]
fn poll_oneoff_sleep_ends_at_the_epoch_deadline() {
    let store = vibewasm_loader::Store::default();
    let mut linker = Linker::with_store(store.clone());
    wasi::add_to_linker(&mut linker, &WasiCtx::builder().build()).unwrap();
    let mut inst = instantiate_with(POLL, &linker);
    store.set_epoch_deadline(1).unwrap();
    let counter = store.epoch_counter();
    let start = Instant::now();
    let result = within(Duration::from_secs(20), move || {
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            counter.increment();
        });
        let result = inst.call("sleep", &[]);
        watchdog.join().unwrap();
        result
    });
    let elapsed = start.elapsed();
    let err = result.expect_err("an hour's sleep cannot have returned");
    assert_eq!(err.trap_code(), Some(TrapCode::Interrupted), "{err}");
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn poll_oneoff_refuses_more_subscriptions_than_its_cap() {
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, &WasiCtx::builder().build()).unwrap();
    let mut m = instantiate_with(POLL, &linker);
    // 4096 fit in memory (196 KiB of subscriptions, 128 KiB of events) and
    // are served; one more is refused before anything is allocated for
    // them, although memory holds them too.
    assert_eq!(call_i32(&mut m, "poll", &[Val::I32(4096)]), 0);
    assert_eq!(call_i32(&mut m, "nevents", &[]), 4096);
    assert_eq!(
        Errno(call_i32(&mut m, "poll", &[Val::I32(4097)]) as u16),
        Errno::INVAL
    );
    assert_eq!(
        Errno(call_i32(&mut m, "poll", &[Val::I32(i32::MAX)]) as u16),
        Errno::INVAL
    );
}

/// Runs `vibewasmc` with `args` and its stdin a pipe that stays open and
/// empty; kills it (and fails) after `limit`.
fn cli_with_silent_stdin(args: &[&std::ffi::OsStr], cache: &TempDir, limit: Duration) -> Output {
    cli_with_held_pipes(args, cache, limit, true)
}

/// Runs vibewasmc with `args`, its stdin a pipe held open and never
/// written, and its stdout a pipe that is read if `read_stdout` (else held
/// open and never read: a full pipe), until it exits; fails the test if it
/// still runs after `limit`.
fn cli_with_held_pipes(
    args: &[&std::ffi::OsStr],
    cache: &TempDir,
    limit: Duration,
    read_stdout: bool,
) -> Output {
    use std::io::Read;
    let mut child = Command::new(vibewasmc())
        .args(args)
        .env("VIBEWASM_CACHE_DIR", cache.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vibewasmc");
    // Held open until the child is gone.
    let stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    // Unread, the read end is held here (dropping it would end the child
    // by SIGPIPE instead).
    let (out_thread, _unread_stdout) = if read_stdout {
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        (Some(reader), None)
    } else {
        (None, Some(out))
    };
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vibewasmc {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    Output {
        status,
        stdout: out_thread.map_or_else(Vec::new, |t| t.join().unwrap()),
        stderr: err_thread.join().unwrap(),
    }
}

#[test]
fn cli_timeout_interrupts_a_blocked_stdin_read_and_a_long_sleep() {
    let cache = TempDir::new();
    let dir = TempDir::new();
    let poll = dir.join("poll.wat");
    std::fs::write(&poll, POLL).unwrap();
    let stdin = program_path("stdin");
    for (what, program) in [("stdin read", &stdin), ("poll_oneoff", &poll)] {
        let start = Instant::now();
        let out = cli_with_silent_stdin(
            &[os("run"), program.as_os_str(), os("--timeout"), os("300ms")],
            &cache,
            Duration::from_secs(30),
        );
        let elapsed = start.elapsed();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
        assert!(stderr.contains("interrupted"), "{what}: {stderr}");
        assert!(elapsed < Duration::from_secs(10), "{what}: {elapsed:?}");
    }
}

/// Writes 64 KiB to stdout again and again, forever.
const FLOOD: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; iovec at 0: the 64 KiB at 0x10000
  (data (i32.const 0) "\00\00\01\00\00\00\01\00")
  (func (export "_start")
    (loop $again
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
      (br $again)))
)"#;

/// A guest writing to a stdout pipe that nobody reads blocks in the write
/// once the pipe is full; the store's epoch deadline ends the wait.
#[test]
fn cli_timeout_interrupts_a_write_to_a_full_stdout_pipe() {
    let cache = TempDir::new();
    let dir = TempDir::new();
    let flood = dir.join("flood.wat");
    std::fs::write(&flood, FLOOD).unwrap();
    let start = Instant::now();
    let args = [os("run"), flood.as_os_str(), os("--timeout"), os("300ms")];
    let out = cli_with_held_pipes(&args, &cache, Duration::from_secs(30), false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10));
}
