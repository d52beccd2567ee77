//! vibewasm: `vibewasm_compiler::compile` to a `.vwa` artifact, written to a
//! file, then `Module::from_file` (which opens and checks the artifact and
//! maps its code) + `Store::new` + `Linker::instantiate`. WASI programs get
//! vibewasm's own WASI (`vibewasm_loader::wasi`, as `vibewasmc run` does),
//! with stdout and stderr captured by `OutputCapture`. `Threads::One`
//! compiles with `Config::threads = 1`, `Threads::All` with one thread per
//! core (the compiler's default).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use vibewasm_loader::wasi::{self, OutputCapture, WasiCtx};
use vibewasm_loader::{Instance, Linker, Module, Store};

use super::{missing, write_file, Engine, Threads, WasiArgs, WasiExit};

pub struct Vibewasm {
    config: vibewasm_compiler::Config,
    engine: Arc<vibewasm_loader::Engine>,
    artifact: Option<Vec<u8>>,
    path: Option<PathBuf>,
    module: Option<Module>,
    /// The store is kept alive with its instance.
    instance: Option<(Store, Instance)>,
    /// A WASI instance's stdout and stderr.
    captured: Option<(OutputCapture, OutputCapture)>,
}

impl Vibewasm {
    pub fn new(config: vibewasm_compiler::Config) -> Vibewasm {
        Vibewasm {
            config,
            engine: Arc::default(),
            artifact: None,
            path: None,
            module: None,
            instance: None,
            captured: None,
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

    fn parallel_threads(&self) -> Option<usize> {
        Some(super::available_threads())
    }

    fn compile(&mut self, wasm: &[u8], threads: Threads) -> Result<()> {
        let config = vibewasm_compiler::Config {
            threads: match threads {
                Threads::One => 1,
                Threads::All => super::available_threads(),
            },
            ..self.config.clone()
        };
        self.artifact = Some(vibewasm_compiler::compile(wasm, &config)?);
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let artifact = self.artifact.as_ref().ok_or_else(|| missing("artifact"))?;
        self.path = Some(write_file(dir, "module.vwa", artifact)?);
        Ok(Some(artifact.len() as u64))
    }

    fn load(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("artifact file"))?;
        self.module = Some(Module::from_file(&self.engine, path)?);
        Ok(())
    }

    fn instantiate(&mut self, wasi: Option<&WasiArgs>) -> Result<()> {
        let module = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let mut linker = Linker::new();
        if let Some(wasi) = wasi {
            let (stdout, stderr) = (OutputCapture::new(), OutputCapture::new());
            let ctx = WasiCtx::builder()
                .args(&wasi.argv)
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .build();
            wasi::add_to_linker(&mut linker, &ctx)?;
            self.captured = Some((stdout, stderr));
        }
        let mut store = Store::new(self.engine.clone());
        let instance = linker.instantiate(&mut store, module)?;
        self.instance = Some((store, instance));
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let instance = self.instance()?;
        let run = instance.get_typed_func::<(), i64>("run")?;
        Ok(run.call(instance, ())?)
    }

    fn run_start(&mut self) -> Result<WasiExit> {
        let status = wasi::run_start(self.instance()?)?;
        let (stdout, stderr) = self.captured.as_ref().ok_or_else(|| missing("WASI"))?;
        Ok(WasiExit {
            status,
            stdout: stdout.contents(),
            stderr: stderr.contents(),
            unsupported_calls: Vec::new(),
        })
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
        self.captured = None;
        self.module = None;
        self.artifact = None;
    }
}
