//! Wasmer with its singlepass compiler, on one compilation thread.
//! Compiling is `Module::from_binary`; loading is
//! `Module::deserialize_from_file` of the serialized module plus
//! `Instance::new`.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use wasmer::{imports, Instance, Module, Store};

use super::{missing, write_file, Engine};

pub struct Singlepass {
    engine: wasmer::Engine,
    module: Option<Module>,
    path: Option<PathBuf>,
    instance: Option<(Store, Instance)>,
}

impl Singlepass {
    pub fn new() -> Singlepass {
        let mut compiler = wasmer::sys::Singlepass::default();
        compiler.num_threads(NonZeroUsize::MIN);
        Singlepass {
            engine: compiler.into(),
            module: None,
            path: None,
            instance: None,
        }
    }

    fn instance(&mut self) -> Result<(&mut Store, &Instance)> {
        let (store, instance) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok((store, instance))
    }
}

impl Engine for Singlepass {
    fn name(&self) -> &'static str {
        "singlepass"
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<()> {
        self.module = Some(Module::from_binary(&self.engine, wasm)?);
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let module = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let bytes = module.serialize()?;
        self.path = Some(write_file(dir, "module.wasmer", &bytes)?);
        Ok(Some(bytes.len() as u64))
    }

    fn instantiate(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("module file"))?;
        // SAFETY: the file was serialized by this very engine a moment ago,
        // in a directory only this process uses.
        let module = unsafe { Module::deserialize_from_file(&self.engine, path)? };
        let mut store = Store::new(self.engine.clone());
        let instance = Instance::new(&mut store, &module, &imports! {})?;
        self.instance = Some((store, instance));
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let (store, instance) = self.instance()?;
        let run = instance
            .exports
            .get_typed_function::<(), i64>(store, "run")?;
        Ok(run.call(store)?)
    }

    fn call_nop(&mut self, calls: u64) -> Result<Duration> {
        let (store, instance) = self.instance()?;
        let nop = instance
            .exports
            .get_typed_function::<(), ()>(store, "nop")?;
        let start = Instant::now();
        for _ in 0..calls {
            nop.call(store)?;
        }
        Ok(start.elapsed())
    }

    fn reset(&mut self) {
        self.instance = None;
        self.module = None;
    }
}
