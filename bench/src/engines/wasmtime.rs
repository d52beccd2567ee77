//! wasmtime with Cranelift or Winch. Compiling is
//! `Engine::precompile_module` (wasm in, `.cwasm` bytes out, the analogue of
//! vibewasm's compile); loading is `Module::deserialize_file` of that file
//! plus `Instance::new`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmtime::{Config, Instance, Module, Store, Strategy};

use super::{missing, write_file, Engine};

#[derive(Clone, Copy, Debug)]
pub enum WasmtimeStrategy {
    Cranelift,
    Winch,
}

pub struct Wasmtime {
    strategy: WasmtimeStrategy,
    engine: wasmtime::Engine,
    cwasm: Option<Vec<u8>>,
    path: Option<PathBuf>,
    instance: Option<(Store<()>, Instance)>,
}

impl Wasmtime {
    pub fn new(strategy: WasmtimeStrategy) -> Result<Wasmtime> {
        let mut config = Config::new();
        config.strategy(match strategy {
            WasmtimeStrategy::Cranelift => Strategy::Cranelift,
            WasmtimeStrategy::Winch => Strategy::Winch,
        });
        Ok(Wasmtime {
            strategy,
            engine: wasmtime::Engine::new(&config)?,
            cwasm: None,
            path: None,
            instance: None,
        })
    }

    fn instance(&mut self) -> Result<(&mut Store<()>, &Instance)> {
        let (store, instance) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok((store, instance))
    }
}

impl Engine for Wasmtime {
    fn name(&self) -> &'static str {
        match self.strategy {
            WasmtimeStrategy::Cranelift => "cranelift",
            WasmtimeStrategy::Winch => "winch",
        }
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<()> {
        self.cwasm = Some(self.engine.precompile_module(wasm)?);
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let cwasm = self
            .cwasm
            .as_ref()
            .ok_or_else(|| missing("compiled module"))?;
        let name = format!("module-{}.cwasm", self.name());
        self.path = Some(write_file(dir, &name, cwasm)?);
        Ok(Some(cwasm.len() as u64))
    }

    fn instantiate(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("module file"))?;
        // SAFETY: the file was written by `precompile_module` of this very
        // engine a moment ago, in a directory only this process uses.
        let module = unsafe { Module::deserialize_file(&self.engine, path)? };
        let mut store = Store::new(&self.engine, ());
        let instance = Instance::new(&mut store, &module, &[])?;
        self.instance = Some((store, instance));
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let (store, instance) = self.instance()?;
        let run = instance.get_typed_func::<(), i64>(&mut *store, "run")?;
        Ok(run.call(store, ())?)
    }

    fn call_nop(&mut self, calls: u64) -> Result<Duration> {
        let (store, instance) = self.instance()?;
        let nop = instance.get_typed_func::<(), ()>(&mut *store, "nop")?;
        let start = Instant::now();
        for _ in 0..calls {
            nop.call(&mut *store, ())?;
        }
        Ok(start.elapsed())
    }

    fn reset(&mut self) {
        self.instance = None;
        self.cwasm = None;
    }
}
