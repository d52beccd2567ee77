//! The perf map: with `EngineConfig::perf_map` or `VIBEWASM_PERF_MAP=1`,
//! the loader lists every function of an artifact in `/tmp/perf-PID.map`
//! (`START SIZE module!name`, hex), once per artifact, and maps its code
//! anonymously (perf ignores the map for file-backed code).
//!
//! One in-process test only: every test of this binary shares the
//! process's map file. The environment variable is tested on a `vibewasmc`
//! child process, which has a map of its own.

use std::path::PathBuf;
use std::sync::Arc;

use vibewasm_loader::{Engine, EngineConfig, Module, Store};
use vibewasm_tests::*;

const MODULE: &str = r#"
(module
  (import "env" "log" (func (param i32)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "seven") (result i32) (i32.const 7))
)"#;

/// Removes the map at the end (also after a failure) if this test made it.
struct MapFile {
    path: PathBuf,
    created_here: bool,
}

impl Drop for MapFile {
    fn drop(&mut self) {
        if self.created_here {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The map's lines `(start, size)` for `module!name`.
fn entries(map: &str, name: &str) -> Vec<(usize, usize)> {
    map.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let start = usize::from_str_radix(parts.next()?, 16).ok()?;
            let size = usize::from_str_radix(parts.next()?, 16).ok()?;
            (parts.next()? == name).then_some((start, size))
        })
        .collect()
}

/// Every function of `artifact` has exactly one line, at its code.
fn check_listed(map: &str, artifact: &Artifact, module: &str) {
    let base = artifact.code_base() as usize;
    let names = [
        "env.log".to_string(),
        "fib".to_string(),
        "<wasm function 2>".to_string(),
    ];
    assert_eq!(artifact.tables().num_functions(), names.len());
    let ranges = (0..names.len() as u32).map(|f| artifact.function(f).unwrap());
    for (range, name) in ranges.zip(&names) {
        let full = format!("{module}!{name}");
        let found = entries(map, &full);
        assert_eq!(found.len(), 1, "one line for {full} in\n{map}");
        let (start, size) = found[0];
        assert_eq!(start, base + range.offset as usize, "{full} start");
        assert_eq!(size, range.len as usize, "{full} size");
        assert!(
            start >= base && start + size <= base + artifact.code_len(),
            "{full} lies in the mapped code"
        );
    }
    let trampoline = entries(map, &format!("{module}!<trampoline>"));
    assert_eq!(trampoline.len(), 1, "one trampoline line in\n{map}");
    assert!(trampoline[0].0 >= base && trampoline[0].0 < base + artifact.code_len());
}

/// The line of `/proc/self/maps` for the mapping holding `address`.
fn mapping_of(address: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find(|line| {
            let range = line.split(' ').next().unwrap_or("");
            let (start, end) = range.split_once('-').unwrap_or(("0", "0"));
            let start = usize::from_str_radix(start, 16).unwrap_or(0);
            let end = usize::from_str_radix(end, 16).unwrap_or(0);
            start <= address && address < end
        })
        .unwrap_or_else(|| panic!("no mapping holds {address:#x}"))
        .to_string()
}

fn read_map(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn perf_map_lists_every_function_once() {
    let path = PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()));
    let _map = MapFile {
        created_here: !path.exists(),
        path: path.clone(),
    };
    let dir = TempDir::new();
    let bytes = compile_wat(MODULE);
    let linker = || {
        let mut linker = Linker::new();
        linker.func_wrap("env", "log", |_: i32| {}).unwrap();
        linker
    };

    // Off by default (unless the environment turns it on for everything).
    let quiet = dir.join("quiet.vwa");
    std::fs::write(&quiet, &bytes).unwrap();
    let module = Module::from_file(&Engine::default(), &quiet).unwrap();
    let mut store = Store::new(Arc::new(Engine::default()));
    linker().instantiate(&mut store, &module).unwrap();
    if std::env::var_os("VIBEWASM_PERF_MAP").is_none() {
        assert!(!read_map(&path).contains("quiet.vwa!"));
    }

    // The engine's setting: lines written when the module is loaded.
    let engine = Arc::new(Engine::new(EngineConfig {
        perf_map: true,
        ..EngineConfig::default()
    }));
    let first = dir.join("perf_first.vwa");
    std::fs::write(&first, &bytes).unwrap();
    let module = Module::from_file(&engine, &first).unwrap();
    check_listed(&read_map(&path), module.artifact(), "perf_first.vwa");
    // Once per artifact: loading it again and instantiating add nothing.
    let again = Module::from_artifact(&engine, module.artifact().clone()).unwrap();
    let mut store = Store::new(engine.clone());
    let instance = linker().instantiate(&mut store, &again).unwrap();
    let fib = instance.get_func(&store, "fib").unwrap();
    assert_eq!(store.call(fib, &[Val::I32(10)]).unwrap(), [Val::I32(55)]);
    check_listed(&read_map(&path), module.artifact(), "perf_first.vwa");

    // Perf looks its lines up only for anonymous code: not the file's pages.
    let mapping = mapping_of(module.artifact().code_base() as usize);
    assert!(!mapping.contains("perf_first.vwa"), "{mapping}");

    // Instantiated in a store of such an engine: lines written at the first
    // instantiation, with the name given to the artifact (as backtraces
    // show it).
    let artifact = Arc::new(
        Artifact::from_bytes(&bytes)
            .unwrap()
            .with_name("perf_second.wat"),
    );
    assert!(!read_map(&path).contains("perf_second.wat!"));
    let mut linker = Linker::with_store(Store::new(engine.clone()));
    linker.func_wrap("env", "log", |_: i32| {}).unwrap();
    let mut instance = linker.instantiate_artifact(&artifact).unwrap();
    assert_eq!(call_i32(&mut instance, "seven", &[]), 7);
    check_listed(&read_map(&path), &artifact, "perf_second.wat");
    // Both modules' lines are still there, whole.
    let map = read_map(&path);
    check_listed(&map, module.artifact(), "perf_first.vwa");
    assert!(map.ends_with('\n'));
}

#[test]
fn environment_variable_turns_it_on_for_the_cli() {
    let dir = TempDir::new();
    let art = dir.join("perf_cli.vwa");
    std::fs::write(&art, compile_wat(FIB_ONLY)).unwrap();
    let child = std::process::Command::new(vibewasmc())
        .args(["run".as_ref(), art.as_os_str()])
        .args(["--invoke", "fib", "20"])
        .env("VIBEWASM_PERF_MAP", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The child's map: a fresh pid's, made by the child, removed here.
    let map = MapFile {
        path: PathBuf::from(format!("/tmp/perf-{}.map", child.id())),
        created_here: true,
    };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6765\n");
    let text = read_map(&map.path);
    let fib = entries(&text, "perf_cli.vwa!fib");
    assert_eq!(fib.len(), 1, "fib in\n{text}");
    assert_eq!(
        entries(&text, "perf_cli.vwa!<trampoline>").len(),
        1,
        "{text}"
    );
}

const FIB_ONLY: &str = r#"
(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2))))))))"#;

/// `vibewasmc run` with `VIBEWASM_PERF_MAP=1`, started by `sh` after
/// `plant` (a shell command) made `$MAP`, the path of the map the child
/// will use (`exec` keeps sh's pid). Killed after 30 s (then `None`).
fn run_with_planted_map(
    plant: &str,
    art: &std::path::Path,
) -> (Option<std::process::Output>, PathBuf) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let script = format!(
        r#"MAP=/tmp/perf-$$.map; rm -f "$MAP"; {plant} || exit 99
           exec "$VIBEWASMC" run "$1" --invoke fib 20"#
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("sh")
        .arg(art)
        .env("VIBEWASMC", vibewasmc())
        .env("VIBEWASM_PERF_MAP", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, map);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let out = std::process::Output {
        status,
        stdout,
        stderr,
    };
    (Some(out), map)
}

#[test]
fn a_planted_fifo_or_foreign_file_is_not_written_and_does_not_block() {
    let dir = TempDir::new();
    let art = dir.join("perf_planted.vwa");
    std::fs::write(&art, compile_wat(FIB_ONLY)).unwrap();

    // A FIFO nobody reads: opening it for writing used to block forever.
    let (out, map) = run_with_planted_map(r#"mkfifo "$MAP""#, &art);
    let _cleanup = MapFile {
        path: map.clone(),
        created_here: true,
    };
    let out = out.expect("vibewasmc blocked on a FIFO planted as its perf map");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6765\n");
    drop(_cleanup);

    // A file of another user: left as it was (only root can plant one).
    let owner = std::fs::metadata(&art).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if owner.unwrap() != 0 {
        eprintln!("skipped the other-user case: needs root to chown");
        return;
    }
    let (out, map) = run_with_planted_map(r#": > "$MAP" && chown 65534:65534 "$MAP""#, &art);
    let _cleanup = MapFile {
        path: map.clone(),
        created_here: true,
    };
    let out = out.expect("vibewasmc blocked");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6765\n");
    assert_eq!(read_map(&map), "", "wrote to another user's file");
}
