//! wasmi, an interpreter: "compiling" is the eager translation of every
//! function to wasmi's bytecode (`CompilationMode::Eager`, so that the whole
//! module is translated up front like the compilers do). It has no file
//! format, so it instantiates from memory.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmi::{CompilationMode, Config, Instance, Linker, Module, Store};

use super::{missing, Engine, Threads, WasiArgs};

pub struct Wasmi {
    engine: wasmi::Engine,
    module: Option<Module>,
    instance: Option<(Store<()>, Instance)>,
}

impl Wasmi {
    pub fn new() -> Wasmi {
        let mut config = Config::default();
        config.compilation_mode(CompilationMode::Eager);
        Wasmi {
            engine: wasmi::Engine::new(&config),
            module: None,
            instance: None,
        }
    }

    fn instance(&mut self) -> Result<(&mut Store<()>, &Instance)> {
        let (store, instance) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok((store, instance))
    }
}

impl Engine for Wasmi {
    fn name(&self) -> &'static str {
        "wasmi"
    }

    fn compile(&mut self, wasm: &[u8], _threads: Threads) -> Result<()> {
        self.module = Some(Module::new(&self.engine, wasm)?);
        Ok(())
    }

    fn save(&mut self, _dir: &Path) -> Result<Option<u64>> {
        Ok(None)
    }

    fn load(&mut self) -> Result<()> {
        // No file format: the translated module stays in memory.
        Ok(())
    }

    fn instantiate(&mut self, wasi: Option<&WasiArgs>) -> Result<()> {
        if wasi.is_some() {
            anyhow::bail!("wasmi does not run WASI programs in this benchmark");
        }
        let module = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let mut store = Store::new(&self.engine, ());
        let instance = Linker::<()>::new(&self.engine).instantiate_and_start(&mut store, module)?;
        self.instance = Some((store, instance));
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let (store, instance) = self.instance()?;
        let run = instance.get_typed_func::<(), i64>(&*store, "run")?;
        Ok(run.call(store, ())?)
    }

    fn call_nop(&mut self, calls: u64) -> Result<Duration> {
        let (store, instance) = self.instance()?;
        let nop = instance.get_typed_func::<(), ()>(&*store, "nop")?;
        let start = Instant::now();
        for _ in 0..calls {
            nop.call(&mut *store, ())?;
        }
        Ok(start.elapsed())
    }

    fn reset(&mut self) {
        self.instance = None;
        self.module = None;
    }
}
