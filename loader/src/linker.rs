//! The linker: host definitions that satisfy an artifact's imports, and the
//! per-instance settings instances start with.

use std::collections::HashMap;
use std::sync::Arc;

use vibewasm_format::FuncType;

use crate::artifact::Artifact;
use crate::error::{Error, LinkError};
use crate::func::{Caller, HostFunc, IntoFunc};
use crate::instance::Instance;
use crate::memory::MAX_WASM_PAGES;
use crate::stack::DEFAULT_MAX_WASM_STACK;
use crate::trap::Trap;
use crate::values::Val;

/// Host definitions by `(module, name)`, plus instance settings.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use vibewasm_loader::{Artifact, Caller, Linker, Trap};
/// let mut linker = Linker::new();
/// linker
///     .func_wrap("env", "add", |a: i32, b: i32| a.wrapping_add(b))?
///     .func_wrap("env", "check", |x: i64| -> Result<(), Trap> {
///         if x < 0 { Err(Trap::new("negative")) } else { Ok(()) }
///     })?
///     .func_wrap("env", "peek", |caller: &mut Caller<'_>, addr: i32| -> i32 {
///         let memory = caller.memory().unwrap_or(&[]);
///         memory.get(addr as u32 as usize).copied().unwrap_or(0) as i32
///     })?;
/// let artifact = Arc::new(Artifact::open("module.vwa")?);
/// let instance = linker.instantiate(&artifact)?;
/// # Ok::<(), vibewasm_loader::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linker {
    funcs: HashMap<String, HashMap<String, Arc<HostFunc>>>,
    pub(crate) max_wasm_stack: usize,
    pub(crate) memory_limit_pages: u64,
}

impl Default for Linker {
    fn default() -> Self {
        Linker::new()
    }
}

impl Linker {
    pub fn new() -> Linker {
        Linker {
            funcs: HashMap::new(),
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            memory_limit_pages: MAX_WASM_PAGES,
        }
    }

    /// Defines `module::name` as a typed Rust closure; see [`IntoFunc`].
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<Params, Results>,
    ) -> Result<&mut Linker, LinkError> {
        self.define(module, name, HostFunc::wrap(func))
    }

    /// Defines `module::name` as an untyped closure of type `ty`. The
    /// closure gets arguments matching `ty.params`; results not matching
    /// `ty.results` become a trap.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(&mut Caller<'_>, &[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    ) -> Result<&mut Linker, LinkError> {
        let func =
            HostFunc::new(ty.clone(), func).map_err(|unsupported| LinkError::UnsupportedType {
                module: module.to_string(),
                name: name.to_string(),
                ty,
                unsupported,
            })?;
        self.define(module, name, func)
    }

    /// Defines `module::name` as `func`. Each name can be defined once.
    pub fn define(
        &mut self,
        module: &str,
        name: &str,
        func: HostFunc,
    ) -> Result<&mut Linker, LinkError> {
        let names = self.funcs.entry(module.to_string()).or_default();
        if names.contains_key(name) {
            return Err(LinkError::Duplicate {
                module: module.to_string(),
                name: name.to_string(),
            });
        }
        names.insert(name.to_string(), Arc::new(func));
        Ok(self)
    }

    pub(crate) fn get(&self, module: &str, name: &str) -> Option<&Arc<HostFunc>> {
        self.funcs.get(module)?.get(name)
    }

    /// How much stack wasm may use below the point where it is entered
    /// (default 1 MiB). The thread's own stack size caps it further: a
    /// red zone of [`crate::RED_ZONE`] bytes always stays free.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Linker {
        self.max_wasm_stack = bytes;
        self
    }

    /// Most pages memory 0 of an instance may have (default 65536, 4 GiB);
    /// `memory.grow` beyond it fails, and so does instantiating a module
    /// whose initial memory is larger.
    pub fn memory_limit_pages(&mut self, pages: u64) -> &mut Linker {
        self.memory_limit_pages = pages;
        self
    }

    /// Instantiates `artifact` with these definitions: resolves imports,
    /// builds the vmctx, applies segments and runs the start function.
    pub fn instantiate(&self, artifact: &Arc<Artifact>) -> Result<Instance, Error> {
        crate::instantiate::instantiate(self, artifact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vibewasm_format::ValType;

    #[test]
    fn typed_closures_get_their_signature() {
        let mut linker = Linker::new();
        linker
            .func_wrap("env", "nothing", || {})
            .unwrap()
            .func_wrap("env", "add", |a: i32, b: i64| a as i64 + b)
            .unwrap()
            .func_wrap("env", "pair", |x: f32| -> Result<(f64, i32), Trap> {
                Ok((x as f64, 1))
            })
            .unwrap()
            .func_wrap("env", "mem", |c: &mut Caller<'_>, _a: i32| {
                c.memory().map_or(0, |m| m.len() as i64)
            })
            .unwrap()
            .func_wrap(
                "env",
                "six",
                |_: i32, _: i32, _: i32, _: i32, _: i32, _: f64| (),
            )
            .unwrap();
        let ty = |name: &str| linker.get("env", name).unwrap().ty().clone();
        assert_eq!(ty("nothing").to_string(), "[] -> []");
        assert_eq!(ty("add").to_string(), "[i32 i64] -> [i64]");
        assert_eq!(ty("pair").to_string(), "[f32] -> [f64 i32]");
        assert_eq!(ty("mem").to_string(), "[i32] -> [i64]");
        assert_eq!(ty("six").params.len(), 6);
    }

    #[test]
    fn duplicates_and_unsupported_types_are_refused() {
        let mut linker = Linker::new();
        linker.func_wrap("env", "f", || {}).unwrap();
        let err = linker.func_wrap("env", "f", || {}).unwrap_err();
        assert!(err.to_string().contains("env::f"), "{err}");
        let ty = FuncType {
            params: vec![ValType::ExternRef],
            results: vec![],
        };
        let err = linker
            .func_new("env", "g", ty, |_, _| Ok(vec![]))
            .unwrap_err();
        assert!(err.to_string().contains("externref"), "{err}");
    }
}
