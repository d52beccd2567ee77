//! Tests with hand-built artifacts: metadata from `vibewasm_format` types,
//! written with `write_artifact`, loaded like any other artifact. Real
//! compiled code is tested end to end in the workspace's `tests` crate.

use std::sync::Arc;

use vibewasm_format::{
    write_artifact, ArtifactParts, CodeOptions, FuncType, Metadata, SiteTables, Target, ValType,
};

use crate::Artifact;

#[cfg(target_arch = "x86_64")]
mod asm;
#[cfg(target_arch = "aarch64")]
mod asm_aarch64;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux"
))]
mod fault_sites;
mod helpers;
mod linking;
mod no_code;
#[cfg(all(target_arch = "x86_64", any(target_os = "linux", target_os = "macos")))]
mod v128;
#[cfg(all(target_arch = "x86_64", any(target_os = "linux", target_os = "macos")))]
mod x86_64;

/// Runs this test binary again with `args` and the environment variable
/// `env`, and waits for it.
///
/// Cross-testing under qemu-user without binfmt_misc (`.cargo/config.toml`
/// for aarch64) a test binary cannot exec itself: the exec fails, which the
/// child reports as exit status 127 with no output. Then the command is run
/// again through the runner named in `VIBEWASM_TEST_RUNNER` (set by that
/// config), if any.
#[cfg(target_os = "linux")]
pub(crate) fn run_self(args: &[&str], env: (&str, &str)) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(&exe)
        .args(args)
        .env(env.0, env.1)
        .output()
        .unwrap();
    let exec_failed = out.status.code() == Some(127) && out.stdout.is_empty();
    let runner = std::env::var("VIBEWASM_TEST_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    match (exec_failed, runner.next()) {
        (true, Some(program)) => std::process::Command::new(program)
            .args(runner)
            .arg(&exe)
            .args(args)
            .env(env.0, env.1)
            .output()
            .unwrap(),
        _ => out,
    }
}

/// An artifact without functions.
pub(crate) fn artifact_bytes(metadata: &Metadata, code: &[u8]) -> Vec<u8> {
    artifact_bytes_with(metadata, &SiteTables::default(), code)
}

pub(crate) fn artifact_bytes_with(
    metadata: &Metadata,
    tables: &SiteTables,
    code: &[u8],
) -> Vec<u8> {
    write_artifact(&ArtifactParts {
        compiler_version: "hand-built",
        target: Target::host().expect("supported host"),
        options: CodeOptions::default(),
        wasm: b"\0asm",
        metadata,
        tables,
        memory_image: &[],
        code,
    })
    .expect("tables in order")
}

/// An artifact without functions, loaded.
pub(crate) fn load(metadata: &Metadata, code: &[u8]) -> Arc<Artifact> {
    load_with(metadata, &SiteTables::default(), code)
}

pub(crate) fn load_with(metadata: &Metadata, tables: &SiteTables, code: &[u8]) -> Arc<Artifact> {
    let bytes = artifact_bytes_with(metadata, tables, code);
    Arc::new(Artifact::from_bytes(&bytes).expect("artifact loads"))
}

pub(crate) fn func_type(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType {
        params: params.to_vec(),
        results: results.to_vec(),
    }
}

#[test]
fn public_types_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Artifact>();
    send_sync::<crate::Linker>();
    send_sync::<crate::Error>();
    send_sync::<crate::TypedFunc<(i32, i64), f64>>();
    // Stores are used by one thread at a time, which every operation checks
    // (see `crate::store`), so their handles may be shared.
    send_sync::<crate::Store>();
    send_sync::<crate::Instance>();
    send_sync::<crate::Extern>();
    send_sync::<crate::Val>();
    send::<crate::Func>();
}
