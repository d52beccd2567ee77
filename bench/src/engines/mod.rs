//! The engines under test, each behind the same small [`Engine`] trait.
//!
//! The harness times [`Engine::compile`], [`Engine::instantiate`] and
//! [`Engine::run`] from the outside; [`Engine::save`] and [`Engine::reset`]
//! are the untimed steps around them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

mod vibewasm;
mod wasmer;
mod wasmi;
mod wasmtime;

pub use self::vibewasm::Vibewasm;
pub use self::wasmer::Singlepass;
pub use self::wasmi::Wasmi;
pub use self::wasmtime::{Wasmtime, WasmtimeStrategy};

/// One WebAssembly engine, holding at most one compiled module and one
/// instance of it at a time.
pub trait Engine {
    /// Short name used in tables and in `--engines` (e.g. `"winch"`).
    fn name(&self) -> &'static str;

    /// Compiles (or, for an interpreter, translates) `wasm` and keeps the
    /// result. Timed: this is the engine's compile time.
    fn compile(&mut self, wasm: &[u8]) -> Result<()>;

    /// Writes the compiled module to a file in `dir` if the engine has an
    /// ahead-of-time format, and returns that file's size. Not timed.
    fn save(&mut self, dir: &Path) -> Result<Option<u64>>;

    /// Loads the saved module (from its file when [`Engine::save`] wrote
    /// one, otherwise from memory) and instantiates it with no imports.
    /// Timed: this is load + instantiate.
    fn instantiate(&mut self) -> Result<()>;

    /// Calls the instance's export `run: [] -> [i64]`. Timed: run time.
    fn run(&mut self) -> Result<i64>;

    /// Calls the instance's export `nop: [] -> []` `calls` times in a loop
    /// and returns how long the loop took (the export is looked up first).
    fn call_nop(&mut self, calls: u64) -> Result<Duration>;

    /// Drops the current instance and module (not timed), so that the next
    /// repetition starts from nothing.
    fn reset(&mut self);
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so
/// that a file still mapped by an older module is never rewritten in place.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The error for calling a step out of order (a harness bug).
pub(crate) fn missing(what: &str) -> anyhow::Error {
    anyhow::anyhow!("internal: no {what} (steps called out of order)")
}
