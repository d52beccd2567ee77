//! wasmtime with Cranelift or Winch. Compiling is
//! `Engine::precompile_module` (wasm in, `.cwasm` bytes out, the analogue of
//! vibewasm's compile); loading is `Module::deserialize_file` of that file;
//! instantiating is `Store::new` + `Instance::new` (kernels) or a `Linker`
//! with the bench's WASI shim (programs).
//!
//! Two `wasmtime::Engine`s with the same settings but
//! `Config::parallel_compilation`: `false` for [`Threads::One`] (what the
//! kernels mode uses), `true` for [`Threads::All`] (wasmtime's default,
//! rayon's global pool). A module is loaded into the engine that compiled it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use wasmtime::{Caller, Config, Instance, Linker, Memory, Module, Store, Strategy, Val, ValType};

use super::{available_threads, missing, write_file, Engine, Threads, WasiArgs, WasiExit};
use crate::wasi_shim::{self, Binding, SliceMemory, Ty, WasiShim};

#[derive(Clone, Copy, Debug)]
pub enum WasmtimeStrategy {
    Cranelift,
    Winch,
}

/// A store's data: the WASI program's state and its memory (none for the
/// kernels).
#[derive(Default)]
struct Host {
    shim: Option<WasiShim>,
    memory: Option<Memory>,
}

pub struct Wasmtime {
    strategy: WasmtimeStrategy,
    one_thread: wasmtime::Engine,
    all_threads: wasmtime::Engine,
    /// The compiled module and the engine that compiled it.
    cwasm: Option<(Vec<u8>, Threads)>,
    path: Option<PathBuf>,
    module: Option<Module>,
    instance: Option<(Store<Host>, Instance)>,
}

impl Wasmtime {
    pub fn new(strategy: WasmtimeStrategy) -> Result<Wasmtime> {
        let engine = |parallel: bool| {
            let mut config = Config::new();
            config.strategy(match strategy {
                WasmtimeStrategy::Cranelift => Strategy::Cranelift,
                WasmtimeStrategy::Winch => Strategy::Winch,
            });
            config.parallel_compilation(parallel);
            wasmtime::Engine::new(&config)
        };
        Ok(Wasmtime {
            strategy,
            one_thread: engine(false)?,
            all_threads: engine(true)?,
            cwasm: None,
            path: None,
            module: None,
            instance: None,
        })
    }

    fn engine(&self, threads: Threads) -> &wasmtime::Engine {
        match threads {
            Threads::One => &self.one_thread,
            Threads::All => &self.all_threads,
        }
    }

    fn instance(&mut self) -> Result<(&mut Store<Host>, &Instance)> {
        let (store, instance) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok((store, instance))
    }
}

fn shim_ty(ty: &ValType) -> Result<Ty> {
    Ok(match ty {
        ValType::I32 => Ty::I32,
        ValType::I64 => Ty::I64,
        _ => bail!("a WASI import with a {ty} parameter or result"),
    })
}

/// A linker with a host function of the shim for every WASI import of
/// `module` (and nothing else: any other import fails to instantiate).
fn wasi_linker(engine: &wasmtime::Engine, module: &Module) -> Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    for import in module.imports() {
        let wasmtime::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        if import.module() != wasi_shim::MODULE {
            continue;
        }
        let params: Vec<Ty> = ty.params().map(|t| shim_ty(&t)).collect::<Result<_>>()?;
        let results: Vec<Ty> = ty.results().map(|t| shim_ty(&t)).collect::<Result<_>>()?;
        let binding = Binding::new(import.name(), &params, &results)?;
        linker.func_new(
            wasi_shim::MODULE,
            import.name(),
            ty.clone(),
            move |mut caller: Caller<'_, Host>, params: &[Val], results: &mut [Val]| {
                let mut args = [0u64; 8];
                for (arg, param) in args.iter_mut().zip(params) {
                    *arg = match param {
                        Val::I32(v) => *v as u32 as u64,
                        Val::I64(v) => *v as u64,
                        _ => 0,
                    };
                }
                let memory = caller
                    .data()
                    .memory
                    .ok_or_else(|| wasmtime::Error::msg("the program exports no memory"))?;
                let (mem, host) = memory.data_and_store_mut(&mut caller);
                let shim = host
                    .shim
                    .as_mut()
                    .ok_or_else(|| wasmtime::Error::msg("internal: no WASI state"))?;
                let errno = binding.call(shim, &mut SliceMemory(mem), &args[..params.len()])?;
                if let Some(result) = results.first_mut() {
                    *result = Val::I32(errno);
                }
                Ok(())
            },
        )?;
    }
    Ok(linker)
}

impl Engine for Wasmtime {
    fn name(&self) -> &'static str {
        match self.strategy {
            WasmtimeStrategy::Cranelift => "cranelift",
            WasmtimeStrategy::Winch => "winch",
        }
    }

    fn parallel_threads(&self) -> Option<usize> {
        Some(available_threads())
    }

    fn compile(&mut self, wasm: &[u8], threads: Threads) -> Result<()> {
        self.cwasm = Some((self.engine(threads).precompile_module(wasm)?, threads));
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let (cwasm, _) = self
            .cwasm
            .as_ref()
            .ok_or_else(|| missing("compiled module"))?;
        let name = format!("module-{}.cwasm", self.name());
        self.path = Some(write_file(dir, &name, cwasm)?);
        Ok(Some(cwasm.len() as u64))
    }

    fn load(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("module file"))?;
        let (_, threads) = self
            .cwasm
            .as_ref()
            .ok_or_else(|| missing("compiled module"))?;
        // SAFETY: the file was written by `precompile_module` of this very
        // engine a moment ago, in a directory only this process uses.
        self.module = Some(unsafe { Module::deserialize_file(self.engine(*threads), path)? });
        Ok(())
    }

    fn instantiate(&mut self, wasi: Option<&WasiArgs>) -> Result<()> {
        let module = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let engine = module.engine();
        let instance = match wasi {
            None => {
                let mut store = Store::new(engine, Host::default());
                let instance = Instance::new(&mut store, module, &[])?;
                (store, instance)
            }
            Some(wasi) => {
                let linker = wasi_linker(engine, module)?;
                let host = Host {
                    shim: Some(WasiShim::new(&wasi.argv)),
                    memory: None,
                };
                let mut store = Store::new(engine, host);
                let instance = linker.instantiate(&mut store, module)?;
                store.data_mut().memory = instance.get_memory(&mut store, "memory");
                (store, instance)
            }
        };
        self.instance = Some(instance);
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let (store, instance) = self.instance()?;
        let run = instance.get_typed_func::<(), i64>(&mut *store, "run")?;
        Ok(run.call(store, ())?)
    }

    fn run_start(&mut self) -> Result<WasiExit> {
        let (store, instance) = self.instance()?;
        let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        let outcome = start.call(&mut *store, ());
        let shim = store
            .data_mut()
            .shim
            .as_mut()
            .ok_or_else(|| missing("WASI state"))?;
        let status = match (outcome, shim.exit_status()) {
            (Ok(()), _) => 0,
            (Err(_), Some(status)) => status,
            (Err(e), None) => return Err(e.into()),
        };
        Ok(WasiExit {
            status,
            stdout: std::mem::take(&mut shim.stdout),
            stderr: std::mem::take(&mut shim.stderr),
            unsupported_calls: shim.unsupported_calls(),
        })
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
        self.module = None;
        self.cwasm = None;
    }
}
