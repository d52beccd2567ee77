//! The engine: configuration shared by every store and module made with it.

use vibewasm_format::{BoundsChecks, CodeOptions};

use crate::memory::MAX_WASM_PAGES;
use crate::sandbox::EpochCounter;
use crate::stack::DEFAULT_MAX_WASM_STACK;

/// The first reservation of a memory of explicit-check code (see
/// [`EngineConfig::memory_reservation`]): small enough for 32-bit hosts and
/// address-space limits, large enough that most programs never move.
pub const DEFAULT_MEMORY_RESERVATION: u64 = 16 << 20;

/// What an [`Engine`] is set up with.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The code options modules are compiled with when the engine compiles
    /// them (`Module::new` from `vibewasm-compiler`). Artifacts loaded from
    /// files may have been compiled with any options; each records its own.
    pub code_options: CodeOptions,
    /// How much stack wasm may use below the point where it is entered.
    pub max_wasm_stack: usize,
    /// Most pages a memory created by an instance in a store of this
    /// engine may have (default 65536, 4 GiB); `Linker::memory_limit_pages`
    /// can only lower it.
    pub memory_limit_pages: u64,
    /// Address space, in bytes, a memory of code compiled with explicit
    /// bounds checks reserves at first (default [`DEFAULT_MEMORY_RESERVATION`],
    /// 16 MiB; at least the memory's minimum size, at most its maximum).
    /// When `memory.grow` outgrows it, the memory moves to a reservation
    /// twice as large, copying its bytes. Guard-page code needs 8 GiB + 64
    /// KiB per memory whatever this says.
    pub memory_reservation: u64,
    /// Whether the functions of every module made with this engine (and
    /// of every artifact instantiated in its stores) are listed in
    /// `/tmp/perf-PID.map`, one `START SIZE module!name` line each, so that
    /// `perf report` names them; default off. `Module::from_file` then
    /// copies the code to anonymous memory (perf never consults the map
    /// for code mapped from a file). The environment variable
    /// `VIBEWASM_PERF_MAP=1` turns it on for the whole process. Best
    /// effort: a map that cannot be written never fails loading.
    pub perf_map: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            code_options: CodeOptions {
                bounds_checks: BoundsChecks::default(),
                fuel: false,
                epoch: false,
            },
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            memory_limit_pages: MAX_WASM_PAGES,
            memory_reservation: DEFAULT_MEMORY_RESERVATION,
            perf_map: false,
        }
    }
}

/// Configuration shared by stores and modules; cheap to share across
/// threads behind an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use vibewasm_loader::{Engine, Store};
/// let engine = Arc::new(Engine::default());
/// let store = Store::new(engine.clone());
/// assert!(std::ptr::eq(store.engine().as_ref(), engine.as_ref()));
/// ```
#[derive(Debug, Default)]
pub struct Engine {
    config: EngineConfig,
    epoch: EpochCounter,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            epoch: EpochCounter::new(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The epoch counter every store of this engine starts with: one
    /// `increment` (from any thread, e.g. a timer) reaches all their
    /// deadlines (see [`crate::Store::set_epoch_deadline`]).
    pub fn epoch_counter(&self) -> &EpochCounter {
        &self.epoch
    }

    /// Advances the engine's epoch by one tick.
    pub fn increment_epoch(&self) -> u64 {
        self.epoch.increment()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engines_are_shareable() {
        assert_send_sync::<Engine>();
        assert_send_sync::<crate::Module>();
    }
}
