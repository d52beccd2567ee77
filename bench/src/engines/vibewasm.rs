//! vibewasm: `vibewasm_compiler::compile` to a `.vwa` artifact, written to a
//! file, then `Module::from_file` (which opens and checks the artifact and
//! maps its code) + `Store::new` + `Linker::instantiate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use vibewasm_loader::{Instance, Linker, Module, Store};

use super::{missing, write_file, Engine};

pub struct Vibewasm {
    config: vibewasm_compiler::Config,
    engine: Arc<vibewasm_loader::Engine>,
    artifact: Option<Vec<u8>>,
    path: Option<PathBuf>,
    /// The store is kept alive with its instance.
    instance: Option<(Store, Instance)>,
}

impl Vibewasm {
    pub fn new(config: vibewasm_compiler::Config) -> Vibewasm {
        Vibewasm {
            config,
            engine: Arc::default(),
            artifact: None,
            path: None,
            instance: None,
        }
    }

    fn instance(&mut self) -> Result<&mut Instance> {
        let (_, instance) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok(instance)
    }
}

impl Engine for Vibewasm {
    fn name(&self) -> &'static str {
        "vibewasm"
    }

    fn compile(&mut self, wasm: &[u8]) -> Result<()> {
        self.artifact = Some(vibewasm_compiler::compile(wasm, &self.config)?);
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let artifact = self.artifact.as_ref().ok_or_else(|| missing("artifact"))?;
        self.path = Some(write_file(dir, "module.vwa", artifact)?);
        Ok(Some(artifact.len() as u64))
    }

    fn instantiate(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("artifact file"))?;
        let module = Module::from_file(&self.engine, path)?;
        let mut store = Store::new(self.engine.clone());
        let instance = Linker::new().instantiate(&mut store, &module)?;
        self.instance = Some((store, instance));
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let instance = self.instance()?;
        let run = instance.get_typed_func::<(), i64>("run")?;
        Ok(run.call(instance, ())?)
    }

    fn call_nop(&mut self, calls: u64) -> Result<Duration> {
        let instance = self.instance()?;
        let nop = instance.get_typed_func::<(), ()>("nop")?;
        let start = Instant::now();
        for _ in 0..calls {
            nop.call(instance, ())?;
        }
        Ok(start.elapsed())
    }

    fn reset(&mut self) {
        self.instance = None;
        self.artifact = None;
    }
}
