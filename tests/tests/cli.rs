//! The `vibewasmc` command line, run as a separate process: compile, run,
//! inspect; exit codes (0 ok, 1 error, 2 usage, 3 trap) and messages;
//! artifacts compiled by one process and run by another; byte-identical
//! output across processes.

use std::path::Path;
use std::process::Output;

use vibewasm_tests::*;

const FIB: &str = r#"
(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "mix") (param i64 f64 f32) (result i64 f64 f32)
    (i64.mul (local.get 0) (i64.const 2))
    (f64.mul (local.get 1) (f64.const 2))
    (f32.neg (local.get 2)))
  (func (export "nothing"))
)"#;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_wat(dir: &TempDir, name: &str, wat: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat).unwrap();
    path
}

fn compile_cli(input: &Path, output: &Path) {
    let out = run_cli([
        "compile".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "compile {} failed: {}",
        input.display(),
        stderr(&out)
    );
    assert!(output.is_file());
}

fn run_art(artifact: &Path, name: &str, args: &[&str]) -> Output {
    let mut argv: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), artifact.as_os_str()];
    argv.push("--invoke".as_ref());
    argv.push(name.as_ref());
    argv.extend(args.iter().map(std::ffi::OsStr::new));
    run_cli(argv)
}

#[test]
fn compile_in_one_process_run_in_another() {
    let dir = TempDir::new();
    let wat = write_wat(&dir, "fib.wat", FIB);
    let art = dir.join("fib.vwa");
    compile_cli(&wat, &art);
    let out = run_art(&art, "fib", &["20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "6765\n");
    // The same artifact loaded in this process gives the same answer.
    let artifact = std::sync::Arc::new(Artifact::open(&art).unwrap());
    let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
    assert_eq!(call_i32(&mut inst, "fib", &[Val::I32(20)]), 6765);
    // Several results, one per line; negative and float arguments.
    let out = run_art(&art, "mix", &["-21", "1.25", "-0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "-42\n2.5\n0.5\n");
    // No results: nothing printed.
    let out = run_art(&art, "nothing", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    // A .wat input runs directly (compiled in memory).
    let out = run_art(&wat, "div", &["-7", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "-3\n");
}

#[test]
fn compilation_is_byte_identical_across_processes() {
    let dir = TempDir::new();
    let wasm_path = dir.join("fib.wasm");
    std::fs::write(&wasm_path, wasm(FIB)).unwrap();
    let a = dir.join("a.vwa");
    let b = dir.join("b.vwa");
    compile_cli(&wasm_path, &a);
    compile_cli(&wasm_path, &b);
    let a = std::fs::read(&a).unwrap();
    let b = std::fs::read(&b).unwrap();
    assert!(a == b, "two vibewasmc runs produced different artifacts");
    // And the same bytes as the library in this process.
    assert!(a == compile_wat(FIB), "vibewasmc and compile() differ");
    // The same for a real program.
    let kernel = kernels_dir().join("sha256.wasm");
    let c = dir.join("c.vwa");
    let d = dir.join("d.vwa");
    compile_cli(&kernel, &c);
    compile_cli(&kernel, &d);
    assert!(std::fs::read(&c).unwrap() == std::fs::read(&d).unwrap());
}

#[test]
fn trap_exits_3_with_the_spec_message() {
    let dir = TempDir::new();
    let art = dir.join("fib.vwa");
    compile_cli(&write_wat(&dir, "fib.wat", FIB), &art);
    let out = run_art(&art, "div", &["1", "0"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("integer divide by zero"),
        "{}",
        stderr(&out)
    );
    let out = run_art(&art, "div", &["-2147483648", "-1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("integer overflow"),
        "{}",
        stderr(&out)
    );
    // Unbounded recursion in a separate process.
    let rec = write_wat(
        &dir,
        "rec.wat",
        r#"(module (func $f (export "f") (result i32) (i32.add (call $f) (i32.const 1))))"#,
    );
    let out = run_art(&rec, "f", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("call stack exhausted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn start_function_trap_exits_3() {
    let dir = TempDir::new();
    let wat = write_wat(
        &dir,
        "start.wat",
        r#"(module (func $s unreachable) (start $s) (func (export "f")))"#,
    );
    let out = run_art(&wat, "f", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

#[test]
fn missing_input_file() {
    let dir = TempDir::new();
    let missing = dir.join("does-not-exist.wasm");
    let out = run_cli([
        "compile".as_ref(),
        missing.as_os_str(),
        "-o".as_ref(),
        dir.join("x.vwa").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does-not-exist.wasm"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("x.vwa").exists());
    let out = run_art(&dir.join("nope.vwa"), "f", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.vwa"), "{}", stderr(&out));
    let out = run_cli(["inspect".as_ref(), dir.join("nope.vwa").as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.vwa"), "{}", stderr(&out));
}

#[test]
fn bad_arguments() {
    let dir = TempDir::new();
    let art = dir.join("fib.vwa");
    compile_cli(&write_wat(&dir, "fib.wat", FIB), &art);
    let out = run_art(&art, "fib", &["abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("'abc'"), "{}", stderr(&out));
    assert!(stderr(&out).contains("i32"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let out = run_art(&art, "fib", &["99999999999"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = run_art(&art, "mix", &["1", "x", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("f64"), "{}", stderr(&out));
    // Wrong number of arguments.
    let out = run_art(&art, "fib", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("argument"), "{}", stderr(&out));
    let out = run_art(&art, "fib", &["1", "2"]);
    assert_eq!(out.status.code(), Some(1));
    // No such export.
    let out = run_art(&art, "nope", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    // Bad usage is exit code 2.
    let out = run_cli(["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    // No --invoke: run as a WASI command, which needs a `_start` export.
    let out = run_cli(["run".as_ref(), art.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("_start"), "{}", stderr(&out));
    let out = run_cli(Vec::<&str>::new());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_import_is_an_error() {
    let dir = TempDir::new();
    let wat = write_wat(
        &dir,
        "imp.wat",
        r#"(module (import "env" "host" (func)) (func (export "f") (call 0)))"#,
    );
    let out = run_art(&wat, "f", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("env::host"), "{}", stderr(&out));
}

/// The byte offset printed in "(in function F, at byte offset 0x..)".
fn byte_offset(message: &str) -> u64 {
    let at = message
        .find("at byte offset 0x")
        .unwrap_or_else(|| panic!("no byte offset in {message:?}"));
    let hex: String = message[at + "at byte offset 0x".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    u64::from_str_radix(&hex, 16).unwrap()
}

#[test]
fn invalid_wasm_names_function_and_offset() {
    let dir = TempDir::new();
    // Function 2 (after one import and one good function) returns an i64
    // where an i32 is declared: a validation error inside its body.
    let bad = r#"
    (module
      (import "env" "f" (func))
      (func (result i32) (i32.const 1))
      (func (result i32) (i64.const 7)))"#;
    let wasm_bytes = wasm(bad);
    let path = dir.join("bad.wasm");
    std::fs::write(&path, &wasm_bytes).unwrap();
    let out = run_cli([
        "compile".as_ref(),
        path.as_os_str(),
        "-o".as_ref(),
        dir.join("bad.vwa").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.wasm"), "{err}");
    assert!(err.contains("invalid module"), "{err}");
    assert!(err.contains("in function 2"), "{err}");
    // The offset points into the last function body: at the i64.const
    // (0x42 0x07) or the `end` after it.
    let offset = byte_offset(&err) as usize;
    let body_at = wasm_bytes
        .windows(3)
        .rposition(|w| w == [0x42, 0x07, 0x0b])
        .expect("body bytes");
    assert!(
        (body_at..=body_at + 2).contains(&offset),
        "offset {offset:#x}, i64.const at {body_at:#x}: {err}"
    );
    assert!(!dir.join("bad.vwa").exists());
    // The same through the library.
    let lib_err = compile(&wasm_bytes, &Config::default()).unwrap_err();
    assert!(matches!(
        lib_err,
        CompileError::Invalid {
            func: Some(2),
            offset: Some(_),
            ..
        }
    ));
}

#[test]
fn malformed_input_is_refused() {
    let dir = TempDir::new();
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x01\0\0\0\x01\xff\xff").unwrap();
    let out = run_cli([
        "compile".as_ref(),
        garbage.as_os_str(),
        "-o".as_ref(),
        dir.join("g.vwa").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("malformed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("byte offset"), "{}", stderr(&out));
    // Not wasm, not an artifact, not WAT.
    let text = dir.join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    let out = run_art(&text, "f", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).is_empty());
    // A corrupted artifact: refused, naming the checksum.
    let art = dir.join("fib.vwa");
    compile_cli(&write_wat(&dir, "fib.wat", FIB), &art);
    let mut bytes = std::fs::read(&art).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&art, &bytes).unwrap();
    let out = run_art(&art, "fib", &["3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
    let out = run_cli(["inspect".as_ref(), art.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
    // inspect wants an artifact: a wasm module is refused by its magic.
    let wasm_path = dir.join("m.wasm");
    std::fs::write(&wasm_path, wasm(FIB)).unwrap();
    let out = run_cli(["inspect".as_ref(), wasm_path.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("magic"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn inspect_shows_header_functions_and_relocations() {
    let dir = TempDir::new();
    let wat = r#"
    (module
      (import "env" "log" (func $log (param i32)))
      (memory (export "memory") 1)
      (func $helper (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "main") (result i32) (call $log (i32.const 1)) (call $helper (i32.const 1))))"#;
    let src = write_wat(&dir, "m.wat", wat);
    let art = dir.join("m.vwa");
    compile_cli(&src, &art);
    let out = run_cli(["inspect".as_ref(), art.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "format version",
        "compiler",
        "vibewasmc",
        "target",
        if cfg!(target_arch = "x86_64") {
            "X86_64"
        } else {
            "Aarch64"
        },
        "bounds checks",
        "source sha256",
        "metadata",
        "code",
        "env.log",
        "main",
        "helper",
        "relocations",
        "trap sites",
    ] {
        assert!(
            text.contains(needle),
            "inspect output lacks {needle:?}:\n{text}"
        );
    }
    let field = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name:?} line in:\n{text}"));
        line[name.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad line {line:?}"))
    };
    assert_eq!(field("functions"), 3);
    assert_eq!(field("imports"), 1);
    assert_eq!(field("exports"), 2);
    // memory.grow goes through a helper, the import through a vmctx slot.
    assert!(field("relocations") >= 1, "{text}");
    let hash: String = vibewasm_format::sha256(&wasm(wat))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(text.contains(&hash), "source hash missing:\n{text}");
}

#[test]
fn output_is_replaced_atomically() {
    let dir = TempDir::new();
    let src = write_wat(&dir, "fib.wat", FIB);
    let art = dir.join("out.vwa");
    std::fs::write(&art, b"old contents").unwrap();
    compile_cli(&src, &art);
    let bytes = std::fs::read(&art).unwrap();
    assert!(bytes == compile_wat(FIB));
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// An output that is not a regular file is written in place and stays
/// what it is (as root, `-o /dev/null` used to rename a regular file over
/// the device node, which broke every later user of it); a directory is
/// refused. Here through a symbolic link to `/dev/null`, which renaming
/// would have replaced by a file.
#[test]
fn special_outputs_are_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new();
    let src = write_wat(&dir, "fib.wat", FIB);
    let link = dir.join("null.vwa");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let out = run_cli([
        "compile".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        link.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kind = std::fs::symlink_metadata(&link).unwrap().file_type();
    assert!(kind.is_symlink(), "the link was replaced: {kind:?}");
    let null = std::fs::metadata("/dev/null").unwrap().file_type();
    assert!(null.is_char_device(), "/dev/null is no longer a device");

    let out = run_cli([
        "compile".as_ref(),
        src.as_os_str(),
        "-o".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
}

/// `sh -c SCRIPT sh ARGS...`: the script ends with `exec "$VIBEWASMC" ...`,
/// so `$$` in it is the pid `vibewasmc` runs with (to plant the names it
/// derives from its pid before it starts).
fn sh_exec(script: &str, args: &[&std::ffi::OsStr], env: &[(&str, &Path)]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .env("VIBEWASMC", vibewasmc());
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("spawn sh")
}

#[test]
fn compile_output_temp_file_follows_no_planted_symlink() {
    let dir = TempDir::new();
    let src = write_wat(&dir, "fib.wat", FIB);
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let output = dir.join("out.vwa");
    // The temporary name `compile -o OUT` used to write: OUT.tmpPID.
    let out = sh_exec(
        r#"ln -s "$1" "$2.tmp$$" && exec "$VIBEWASMC" compile "$3" -o "$2""#,
        &[victim.as_os_str(), output.as_os_str(), src.as_os_str()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read(&victim).unwrap() == b"precious\n",
        "written through the planted symlink"
    );
    assert!(std::fs::read(&output).unwrap() == compile_wat(FIB));
    let output_meta = std::fs::symlink_metadata(&output).unwrap();
    assert!(output_meta.file_type().is_file());
    use std::os::unix::fs::PermissionsExt;
    let mode = output_meta.permissions().mode() & 0o777;
    assert_eq!(mode & 0o022, 0, "artifact writable by others: {mode:o}");
    // The planted link is someone else's: left alone, not written through.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn wast_does_not_use_a_planted_scratch_directory() {
    let dir = TempDir::new();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let script = dir.join("t.wast");
    std::fs::write(
        &script,
        r#"(module (func (export "f") (result i32) i32.const 7))
           (assert_return (invoke "f") (i32.const 7))"#,
    )
    .unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    // The child that runs the script is `vibewasmc wast --child`, pid
    // unknown here; run the child mode directly, as `$$`.
    let out = sh_exec(
        r#"d="$TMPDIR/vibewasmc-wast-$$-0" && mkdir -m 777 "$d" && ln -s "$1" "$d/m1.vwa" &&
           exec "$VIBEWASMC" wast --child "$2""#,
        &[victim.as_os_str(), script.as_os_str()],
        &[("TMPDIR", &tmp)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        std::fs::read(&victim).unwrap() == b"precious\n",
        "written through the planted symlink"
    );
    // The run's own directory is gone; the planted one is left alone.
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Runs `vibewasmc ARGS` with stdout a pipe whose reader is gone before
/// the program starts, and checks that it ends quietly (status 0, or killed
/// by SIGPIPE like any Unix tool) without a panic message.
fn check_quiet_on_closed_stdout(args: &[&std::ffi::OsStr]) {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // `sh` waits for a line on stdin before it execs vibewasmc: by then the
    // read end of its stdout has been closed here.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"read go && exec "$VIBEWASMC" "$@""#)
        .arg("sh")
        .args(args)
        .env("VIBEWASMC", vibewasmc())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    let quiet = out.status.success()
        || out.status.signal() == Some(SIGPIPE)
        || out.status.code() == Some(141);
    assert!(
        quiet && err.is_empty(),
        "{args:?} with a closed stdout: {:?}, stderr:\n{err}",
        out.status
    );
}

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = TempDir::new();
    let art = dir.join("fib.vwa");
    compile_cli(&write_wat(&dir, "fib.wat", FIB), &art);
    let script = dir.join("t.wast");
    std::fs::write(
        &script,
        r#"(module (func (export "f") (result i32) i32.const 7))
           (assert_return (invoke "f") (i32.const 7))"#,
    )
    .unwrap();
    let cache = dir.join("cache");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    check_quiet_on_closed_stdout(&[os("inspect"), art.as_os_str()]);
    check_quiet_on_closed_stdout(&[
        os("run"),
        art.as_os_str(),
        os("--invoke"),
        os("fib"),
        os("20"),
    ]);
    check_quiet_on_closed_stdout(&[os("wast"), script.as_os_str()]);
    check_quiet_on_closed_stdout(&[
        os("cache"),
        os("stats"),
        os("--cache-dir"),
        cache.as_os_str(),
    ]);
    check_quiet_on_closed_stdout(&[os("--help")]);
    let elf = dir.join("fib.o");
    check_quiet_on_closed_stdout(&[os("inspect"), os("--elf"), elf.as_os_str(), art.as_os_str()]);
}

#[test]
fn bytes_that_are_not_wasm_are_called_that() {
    let dir = TempDir::new();
    // An ELF header and random-looking bytes: not valid UTF-8.
    let junk: Vec<u8> = b"\x7fELF\x02\x01\x01\x00"
        .iter()
        .copied()
        .chain((0u32..200).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80))
        .collect();
    for name in ["junk.wasm", "junk.bin", "junk"] {
        let path = dir.join(name);
        std::fs::write(&path, &junk).unwrap();
        for argv in [
            vec![
                "compile".as_ref(),
                path.as_os_str(),
                "-o".as_ref(),
                dir.join("j.vwa").as_os_str(),
            ],
            vec![
                "run".as_ref(),
                path.as_os_str(),
                "--invoke".as_ref(),
                "f".as_ref(),
            ],
        ] {
            let out = run_cli(&argv);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{argv:?}: {err}");
            assert!(!err.contains("utf-8"), "{argv:?}: {err}");
            assert!(err.contains("not a WebAssembly"), "{argv:?}: {err}");
            // The first bytes, so the user can tell what the file is.
            assert!(err.contains("7f 45 4c 46 02 01 01 00"), "{argv:?}: {err}");
            assert!(err.contains(name), "{argv:?}: {err}");
        }
    }
    assert!(!dir.join("j.vwa").exists());
    // A .wasm file holding text is not a binary either.
    let text = write_wat(&dir, "text.wasm", FIB);
    let out = run_cli([
        "compile".as_ref(),
        text.as_os_str(),
        "-o".as_ref(),
        dir.join("t.vwa").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a WebAssembly binary"),
        "{}",
        stderr(&out)
    );
    // "(mod", the file's first bytes.
    assert!(stderr(&out).contains("28 6d 6f 64"), "{}", stderr(&out));
    // Text under another name is still text, and an empty .wat a module.
    let other = write_wat(&dir, "fib.txt", FIB);
    compile_cli(&other, &dir.join("o.vwa"));
    // The library draws the same line for bytes held in memory.
    let err = vibewasm_compiler::wasm_from_bytes(&junk)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a WebAssembly"), "{err}");
    assert!(!err.contains("utf-8"), "{err}");
    assert!(vibewasm_compiler::wasm_from_bytes(FIB.as_bytes()).is_ok());
}

/// `compile --target`: each named target's artifact is what the library
/// writes for it (on any machine), `--cpu-features` adds and removes
/// x86-64 features, and a wrong name or feature is an error naming it.
#[test]
fn compile_for_a_named_target() {
    use vibewasm_format::{cpu, Arch, Header, Target};
    let dir = TempDir::new();
    let input = write_wat(
        &dir,
        "m.wat",
        r#"(module (func (export "pc") (param i32) (result i32) (i32.popcnt (local.get 0))))"#,
    );
    let cli_compile = |extra: &[&str]| {
        let output = dir.join("m.vwa");
        let _ = std::fs::remove_file(&output);
        let mut argv: Vec<&std::ffi::OsStr> = vec!["compile".as_ref(), input.as_os_str()];
        argv.extend(extra.iter().map(std::ffi::OsStr::new));
        argv.extend(["-o".as_ref(), output.as_os_str()]);
        let out = run_cli(argv);
        (out, std::fs::read(&output).ok())
    };
    let wasm = wasm(&std::fs::read_to_string(&input).unwrap());
    for (name, arch) in [
        ("aarch64-linux", Arch::Aarch64),
        ("x86_64-linux", Arch::X86_64),
    ] {
        let (out, bytes) = cli_compile(&["--target", name]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let bytes = bytes.unwrap();
        assert_eq!(Header::decode(&bytes).unwrap().target.arch, arch);
        let config = Config {
            target: Target::by_name(name),
            ..Config::default()
        };
        assert_eq!(bytes, compile(&wasm, &config).unwrap(), "{name}");
    }
    // x86-64's baseline has POPCNT, which the code then requires; without
    // it, the code counts bits itself and requires nothing.
    let (_, bytes) = cli_compile(&["--target", "x86_64-linux"]);
    let features = Header::decode(&bytes.unwrap()).unwrap().target.cpu_features;
    assert_eq!(features, cpu::POPCNT);
    let (out, bytes) = cli_compile(&[
        "--target",
        "x86_64-linux",
        "--cpu-features",
        "-popcnt,lzcnt",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        Header::decode(&bytes.unwrap()).unwrap().target.cpu_features,
        0
    );
    let (out, _) = cli_compile(&["--target", "riscv64-linux"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown target `riscv64-linux`"),
        "{}",
        stderr(&out)
    );
    let (out, _) = cli_compile(&["--target", "aarch64-linux", "--cpu-features", "lzcnt"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no CPU feature `lzcnt` for aarch64-linux"),
        "{}",
        stderr(&out)
    );
}
