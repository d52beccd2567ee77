//! Wasmer with its singlepass compiler. Compiling is `Module::from_binary`;
//! loading is `Module::deserialize_from_file` of the serialized module;
//! instantiating is `Store::new` + `Instance::new`, with the bench's WASI
//! shim for programs.
//!
//! Two `wasmer::Engine`s: singlepass with `num_threads(1)` for
//! [`Threads::One`] (what the kernels mode uses) and with its default, the
//! available parallelism, for [`Threads::All`]. A module is loaded into the
//! engine that compiled it.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use wasmer::{
    imports, ExternType, Function, FunctionEnv, FunctionEnvMut, Imports, Instance, Memory,
    MemoryView, Module, RuntimeError, Store, Type, Value,
};

use super::{available_threads, missing, write_file, Engine, Threads, WasiArgs, WasiExit};
use crate::wasi_shim::{self, Binding, GuestMemory, Ty, WasiShim};

/// A WASI program's state and its memory.
struct Host {
    shim: WasiShim,
    memory: Option<Memory>,
}

struct View<'a>(MemoryView<'a>);

impl GuestMemory for View<'_> {
    fn read(&self, addr: u32, buf: &mut [u8]) -> Result<(), i32> {
        self.0
            .read(u64::from(addr), buf)
            .map_err(|_| wasi_shim::errno::FAULT)
    }

    fn write(&mut self, addr: u32, bytes: &[u8]) -> Result<(), i32> {
        self.0
            .write(u64::from(addr), bytes)
            .map_err(|_| wasi_shim::errno::FAULT)
    }
}

pub struct Singlepass {
    one_thread: wasmer::Engine,
    all_threads: wasmer::Engine,
    module: Option<(Module, Threads)>,
    path: Option<PathBuf>,
    loaded: Option<Module>,
    instance: Option<(Store, Instance, Option<FunctionEnv<Host>>)>,
}

impl Singlepass {
    pub fn new() -> Singlepass {
        let mut one = wasmer::sys::Singlepass::default();
        one.num_threads(NonZeroUsize::MIN);
        let mut all = wasmer::sys::Singlepass::default();
        all.num_threads(NonZeroUsize::new(available_threads()).unwrap_or(NonZeroUsize::MIN));
        Singlepass {
            one_thread: one.into(),
            all_threads: all.into(),
            module: None,
            path: None,
            loaded: None,
            instance: None,
        }
    }

    fn engine(&self, threads: Threads) -> &wasmer::Engine {
        match threads {
            Threads::One => &self.one_thread,
            Threads::All => &self.all_threads,
        }
    }

    fn instance(&mut self) -> Result<(&mut Store, &Instance)> {
        let (store, instance, _) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        Ok((store, instance))
    }
}

fn shim_ty(ty: &Type) -> Result<Ty> {
    Ok(match ty {
        Type::I32 => Ty::I32,
        Type::I64 => Ty::I64,
        _ => bail!("a WASI import with a {ty:?} parameter or result"),
    })
}

/// A host function of the shim for every WASI import of `module`.
fn wasi_imports(store: &mut Store, env: &FunctionEnv<Host>, module: &Module) -> Result<Imports> {
    let mut imports = Imports::new();
    for import in module.imports() {
        let ExternType::Function(ty) = import.ty() else {
            continue;
        };
        if import.module() != wasi_shim::MODULE {
            continue;
        }
        let params: Vec<Ty> = ty.params().iter().map(shim_ty).collect::<Result<_>>()?;
        let results: Vec<Ty> = ty.results().iter().map(shim_ty).collect::<Result<_>>()?;
        let binding = Binding::new(import.name(), &params, &results)?;
        let func = Function::new_with_env(
            store,
            env,
            ty.clone(),
            move |mut env: FunctionEnvMut<Host>, params: &[Value]| {
                let mut args = [0u64; 8];
                for (arg, param) in args.iter_mut().zip(params) {
                    *arg = match param {
                        Value::I32(v) => *v as u32 as u64,
                        Value::I64(v) => *v as u64,
                        _ => 0,
                    };
                }
                let (host, store) = env.data_and_store_mut();
                let Host { shim, memory } = host;
                let memory = memory
                    .as_ref()
                    .ok_or_else(|| RuntimeError::new("the program exports no memory"))?;
                let mut view = View(memory.view(&store));
                match binding.call(shim, &mut view, &args[..params.len()]) {
                    Ok(errno) if binding.returns_errno() => Ok(vec![Value::I32(errno)]),
                    Ok(_) => Ok(Vec::new()),
                    Err(exit) => Err(RuntimeError::user(Box::new(exit))),
                }
            },
        );
        imports.define(wasi_shim::MODULE, import.name(), func);
    }
    Ok(imports)
}

impl Engine for Singlepass {
    fn name(&self) -> &'static str {
        "singlepass"
    }

    fn parallel_threads(&self) -> Option<usize> {
        Some(available_threads())
    }

    fn compile(&mut self, wasm: &[u8], threads: Threads) -> Result<()> {
        self.module = Some((Module::from_binary(self.engine(threads), wasm)?, threads));
        Ok(())
    }

    fn save(&mut self, dir: &Path) -> Result<Option<u64>> {
        let (module, _) = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let bytes = module.serialize()?;
        self.path = Some(write_file(dir, "module.wasmer", &bytes)?);
        Ok(Some(bytes.len() as u64))
    }

    fn load(&mut self) -> Result<()> {
        let path = self.path.as_ref().ok_or_else(|| missing("module file"))?;
        let (_, threads) = self.module.as_ref().ok_or_else(|| missing("module"))?;
        // SAFETY: the file was serialized by this very engine a moment ago,
        // in a directory only this process uses.
        let module = unsafe { Module::deserialize_from_file(self.engine(*threads), path)? };
        self.loaded = Some(module);
        Ok(())
    }

    fn instantiate(&mut self, wasi: Option<&WasiArgs>) -> Result<()> {
        let module = self
            .loaded
            .as_ref()
            .ok_or_else(|| missing("loaded module"))?;
        let (_, threads) = self.module.as_ref().ok_or_else(|| missing("module"))?;
        let mut store = Store::new(self.engine(*threads).clone());
        self.instance = Some(match wasi {
            None => {
                let instance = Instance::new(&mut store, module, &imports! {})?;
                (store, instance, None)
            }
            Some(wasi) => {
                let host = Host {
                    shim: WasiShim::new(&wasi.argv),
                    memory: None,
                };
                let env = FunctionEnv::new(&mut store, host);
                let imports = wasi_imports(&mut store, &env, module)?;
                let instance = Instance::new(&mut store, module, &imports)?;
                let memory = instance.exports.get_memory("memory").ok().cloned();
                env.as_mut(&mut store).memory = memory;
                (store, instance, Some(env))
            }
        });
        Ok(())
    }

    fn run(&mut self) -> Result<i64> {
        let (store, instance) = self.instance()?;
        let run = instance
            .exports
            .get_typed_function::<(), i64>(store, "run")?;
        Ok(run.call(store)?)
    }

    fn run_start(&mut self) -> Result<WasiExit> {
        let (store, instance, env) = self.instance.as_mut().ok_or_else(|| missing("instance"))?;
        let env = env.as_ref().ok_or_else(|| missing("WASI state"))?;
        let start = instance
            .exports
            .get_typed_function::<(), ()>(store, "_start")?;
        let outcome = start.call(store);
        let host = env.as_mut(store);
        let status = match (outcome, host.shim.exit_status()) {
            (Ok(()), _) => 0,
            (Err(_), Some(status)) => status,
            (Err(e), None) => return Err(e.into()),
        };
        Ok(WasiExit {
            status,
            stdout: std::mem::take(&mut host.shim.stdout),
            stderr: std::mem::take(&mut host.shim.stderr),
            unsupported_calls: host.shim.unsupported_calls(),
        })
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
        self.loaded = None;
        self.module = None;
    }
}
