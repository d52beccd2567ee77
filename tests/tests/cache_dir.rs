//! The artifact cache of `vibewasmc run` against other local users: a
//! cache directory someone else owns or can write to is never loaded from
//! (`run` warns and compiles in memory, `cache stats|clear` refuse), also
//! when the default falls back to the shared temporary directory.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use vibewasm_compiler::cache::{Cache, DEFAULT_MAX_BYTES};
use vibewasm_format as format;
use vibewasm_tests::*;

const APP: &str = r#"(module (func (export "f") (result i32) i32.const 42))"#;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A valid artifact that claims to be `APP` compiled with the default
/// options but returns 666: what another user would plant (the header's
/// source hash is only a field).
fn planted_artifact() -> Vec<u8> {
    let evil = compile_wat(r#"(module (func (export "f") (result i32) i32.const 666))"#);
    let view = format::read_artifact(&evil).unwrap();
    format::write_artifact(&format::ArtifactParts {
        compiler_version: &view.header.compiler_version,
        target: view.header.target,
        options: view.header.options,
        wasm: &wasm(APP),
        metadata: &view.metadata,
        tables: &view.tables.to_owned(),
        memory_image: view.memory_image,
        code: view.code,
    })
    .unwrap()
}

/// The file name `run` looks `APP` up under.
fn entry_name(scratch: &TempDir) -> std::ffi::OsString {
    let cache = Cache::new(scratch.join("probe"), DEFAULT_MAX_BYTES).unwrap();
    let path = cache.entry_path(&wasm(APP), &Config::default());
    path.file_name().unwrap().to_owned()
}

/// A cache directory at `dir` with the planted entry, owned by uid 65534
/// (nobody) and mode 0755 when `foreign`, else ours with mode 0777.
/// `false` if this process may not give files away (not root).
fn plant(dir: &Path, scratch: &TempDir, foreign: bool) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let entry = dir.join(entry_name(scratch));
    std::fs::write(&entry, planted_artifact()).unwrap();
    if foreign {
        let mine = std::fs::metadata(&entry).unwrap().uid();
        if mine != 0 {
            return false;
        }
        for path in [dir, &entry] {
            std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    true
}

fn run_app(app: &Path, env: &[(&str, &Path)], remove: &[&str]) -> Output {
    let mut cmd = Command::new(vibewasmc());
    cmd.args([
        "run".as_ref(),
        app.as_os_str(),
        "--invoke".as_ref(),
        "f".as_ref(),
    ]);
    for name in remove {
        cmd.env_remove(name);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

#[test]
fn run_does_not_load_from_a_cache_another_user_controls() {
    let scratch = TempDir::new();
    let app = scratch.join("app.wat");
    std::fs::write(&app, APP).unwrap();

    // A directory writable by others, named explicitly.
    let shared = scratch.join("shared");
    assert!(plant(&shared, &scratch, false));
    let out = run_app(&app, &[("VIBEWASM_CACHE_DIR", &shared)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "42\n",
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains("writable by other users"), "{err}");
    assert!(err.contains(&shared.display().to_string()), "{err}");
    // Left as it was.
    assert_eq!(
        std::fs::read(shared.join(entry_name(&scratch))).unwrap(),
        planted_artifact()
    );

    // No HOME, XDG_CACHE_HOME or VIBEWASM_CACHE_DIR: the fallback in the
    // temporary directory, made first by another user (under the name of
    // every version of the fallback).
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    for name in ["vibewasm-cache", "vibewasm-cache-0"] {
        if !plant(&tmp.join(name), &scratch, true) {
            eprintln!("skipped the other-user half: needs root to chown");
            return;
        }
    }
    let unset = ["HOME", "XDG_CACHE_HOME", "VIBEWASM_CACHE_DIR"];
    let out = run_app(&app, &[("TMPDIR", &tmp)], &unset);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "42\n",
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("owned by uid 65534"), "{err}");
    // `--no-cache` says nothing.
    let mut cmd = Command::new(vibewasmc());
    cmd.args(["--no-cache".as_ref(), "run".as_ref(), app.as_os_str()])
        .args(["--invoke", "f"])
        .env("TMPDIR", &tmp);
    for name in unset {
        cmd.env_remove(name);
    }
    let out = cmd.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn cache_commands_refuse_a_directory_another_user_controls() {
    let scratch = TempDir::new();
    let foreign = scratch.join("foreign");
    if !plant(&foreign, &scratch, true) {
        eprintln!("skipped: needs root to chown");
        return;
    }
    for command in ["clear", "stats"] {
        let out = Command::new(vibewasmc())
            .args(["cache", command, "--cache-dir"])
            .arg(&foreign)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "cache {command}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("not safe"), "{}", stderr(&out));
        assert_eq!(
            std::fs::read(foreign.join(entry_name(&scratch))).unwrap(),
            planted_artifact(),
            "cache {command} touched another user's file"
        );
    }
}

#[test]
fn run_creates_a_private_cache_and_hits_it() {
    let scratch = TempDir::new();
    let app = scratch.join("app.wat");
    std::fs::write(&app, APP).unwrap();
    let dir = scratch.join("new/cache");
    for _ in 0..2 {
        let out = run_app(&app, &[("VIBEWASM_CACHE_DIR", &dir)], &[]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "42\n",
            "{}",
            stderr(&out)
        );
        assert_eq!(stderr(&out), "");
    }
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    let entry = std::fs::metadata(dir.join(entry_name(&scratch))).unwrap();
    assert!(entry.is_file());
    assert_eq!(entry.mode() & 0o077, 0, "{:o}", entry.mode());
}
