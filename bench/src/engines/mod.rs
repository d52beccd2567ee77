//! The engines under test, each behind the same small [`Engine`] trait.
//!
//! The harness times [`Engine::compile`], [`Engine::load`],
//! [`Engine::instantiate`] and [`Engine::run`] (or [`Engine::run_start`])
//! from the outside; [`Engine::save`] and [`Engine::reset`] are the untimed
//! steps around them. The kernels mode and the programs mode share this
//! plumbing.

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

/// The number of threads a parallel compile uses here.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many threads a compile may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One thread (every engine, in the kernels mode).
    One,
    /// Every thread the engine would use by default (see
    /// [`Engine::parallel_threads`]).
    All,
}

/// What a WASI command program is given: its arguments (`argv[0]` first).
/// Nothing else: no environment variables, no pre-opened directories, an
/// empty stdin; stdout and stderr are captured.
#[derive(Clone, Debug)]
pub struct WasiArgs {
    pub argv: Vec<String>,
}

/// How a WASI command ended: its exit status (0 when `_start` returned)
/// and everything it wrote.
#[derive(Debug)]
pub struct WasiExit {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// WASI functions the program called that its host does not implement
    /// (they returned `ENOSYS`); only the bench's shim reports them.
    pub unsupported_calls: Vec<String>,
}

/// One WebAssembly engine, holding at most one compiled module and one
/// instance of it at a time.
pub trait Engine {
    /// Short name used in tables and in `--engines` (e.g. `"winch"`).
    fn name(&self) -> &'static str;

    /// How many threads [`Threads::All`] compiles on, or `None` when the
    /// engine compiles on one thread only (then `All` is the same as `One`).
    fn parallel_threads(&self) -> Option<usize> {
        None
    }

    /// Compiles (or, for an interpreter, translates) `wasm` and keeps the
    /// result. Timed: this is the engine's compile time.
    fn compile(&mut self, wasm: &[u8], threads: Threads) -> Result<()>;

    /// Writes the compiled module to a file in `dir` if the engine has an
    /// ahead-of-time format, and returns that file's size. Not timed.
    fn save(&mut self, dir: &Path) -> Result<Option<u64>>;

    /// Loads the saved module (from its file when [`Engine::save`] wrote
    /// one; an engine without a file format keeps the compiled module), so
    /// that it is ready to instantiate. Timed: this is load.
    fn load(&mut self) -> Result<()>;

    /// Instantiates the loaded module: with no imports (`None`, the
    /// kernels) or as a WASI command with these arguments. Timed: the
    /// kernels mode reports load + instantiate, the programs mode each.
    fn instantiate(&mut self, wasi: Option<&WasiArgs>) -> Result<()>;

    /// Calls the instance's export `run: [] -> [i64]`. Timed: run time.
    fn run(&mut self) -> Result<i64>;

    /// Calls the WASI command's `_start` (`proc_exit` ends it with that
    /// status) and returns how it ended. Timed: run time.
    fn run_start(&mut self) -> Result<WasiExit> {
        anyhow::bail!(
            "{} does not run WASI programs in this benchmark",
            self.name()
        )
    }

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
