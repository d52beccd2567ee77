//! For hosts that link the compiler: wasm bytes straight to a loaded
//! [`Module`], through exactly the artifact path a precompiled file takes.
//!
//! ```
//! use std::sync::Arc;
//! use vibewasm_compiler::ModuleExt;
//! use vibewasm_loader::{Engine, Linker, Module, Store, Value};
//!
//! let wasm = wat::parse_str(r#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#)?;
//! let engine = Arc::new(Engine::default());
//! let mut store = Store::new(engine.clone());
//! let module = Module::new(&engine, &wasm)?;
//! let linker = Linker::new();
//! let instance = linker.instantiate(&mut store, &module)?;
//! let add = instance.get_func(&store, "add").unwrap();
//! assert_eq!(store.call(add, &[Value::I32(40), Value::I32(2)])?, vec![Value::I32(42)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use vibewasm_loader::{Engine, Module};

use crate::cache::{Cache, CacheError, Outcome};
use crate::{compile, CompileError, Config};

/// Why wasm could not become a [`Module`].
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Load(#[from] vibewasm_loader::Error),
}

/// The engine's code options as a compiler configuration.
pub fn config_of(engine: &Engine) -> Config {
    let options = engine.config().code_options;
    Config {
        bounds_checks: options.bounds_checks,
        fuel: options.fuel,
        epoch: options.epoch,
        threads: 0,
        // This machine: the engine runs what it compiles.
        target: None,
        language: Default::default(),
        page_aligned_code: false,
    }
}

/// Adds `Module::new` to the loader's [`Module`].
pub trait ModuleExt: Sized {
    /// Compiles `wasm` (binary or text) with the engine's code options and
    /// loads the artifact from memory.
    fn new(engine: &Engine, wasm: &[u8]) -> Result<Self, ModuleError>;
}

impl ModuleExt for Module {
    fn new(engine: &Engine, wasm: &[u8]) -> Result<Module, ModuleError> {
        let wasm = crate::wasm_from_bytes(wasm)?;
        let artifact = compile(&wasm, &config_of(engine))?;
        Ok(Module::from_artifact_bytes(engine, &artifact)?)
    }
}

impl Cache {
    /// The module for `wasm` compiled with `engine`'s options: loaded from
    /// the cache, or compiled and stored first. A hit is loaded from the
    /// bytes read through the one descriptor the cache checked, never by
    /// opening the entry's path again (see [`Cache::get_or_compile_bytes`]).
    pub fn get_or_compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Module, ModuleError> {
        Ok(self.module(engine, wasm)?.0)
    }

    /// Like [`Cache::get_or_compile`], also saying whether it was a hit.
    pub fn module(&self, engine: &Engine, wasm: &[u8]) -> Result<(Module, Outcome), ModuleError> {
        let (bytes, outcome) = self.get_or_compile_bytes(wasm, &config_of(engine))?;
        Ok((Module::from_artifact_bytes(engine, &bytes)?, outcome))
    }
}
