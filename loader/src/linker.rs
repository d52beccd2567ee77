//! The linker: definitions that satisfy an artifact's imports (host
//! functions, memories, tables, globals, other instances' exports), the
//! store instances are created in, and the settings they start with.

use crate::prelude::*;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use vibewasm_format::{FuncType, GlobalType, MemoryType, TableType};

use crate::artifact::Artifact;
use crate::error::{Error, LinkError};
use crate::externs::{Extern, Func, Global, Memory, Table};
use crate::func::{Caller, HostFunc, IntoFunc};
use crate::instance::Instance;
use crate::memory::MAX_WASM_PAGES;
use crate::module::Module;
use crate::stack::DEFAULT_MAX_WASM_STACK;
use crate::store::Store;
use crate::trap::Trap;
use crate::values::Val;

/// Definitions by `(module, name)`, plus instance settings.
///
/// A linker with only host functions creates a fresh [`Store`] for every
/// instance. Once it holds anything that lives in a store (a memory, table
/// or global it created, another instance's exports), it is bound to that
/// store and creates every instance there, so they can all be linked with
/// each other; definitions from another store are refused.
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
/// let lib = linker.instantiate_artifact(&Arc::new(Artifact::open("lib.vwa")?))?;
/// // The next instance imports `lib::*` and shares lib's store.
/// linker.define_instance("lib", &lib)?;
/// let app = linker.instantiate_artifact(&Arc::new(Artifact::open("app.vwa")?))?;
/// # Ok::<(), vibewasm_loader::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linker {
    defs: BTreeMap<String, BTreeMap<String, Extern>>,
    store: Option<Store>,
    allow_shadowing: bool,
    pub(crate) max_wasm_stack: usize,
    pub(crate) memory_limit_pages: u64,
    pub(crate) signal_handlers: bool,
    /// The memories [`Linker::define_memory`] created, which
    /// [`Linker::memory_limit_pages`] applies to.
    memories: Vec<Memory>,
}

impl Default for Linker {
    fn default() -> Self {
        Linker::new()
    }
}

impl Linker {
    pub fn new() -> Linker {
        Linker {
            defs: BTreeMap::new(),
            store: None,
            allow_shadowing: false,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            memory_limit_pages: MAX_WASM_PAGES,
            signal_handlers: true,
            memories: Vec::new(),
        }
    }

    /// A linker bound to `store` from the start.
    pub fn with_store(store: Store) -> Linker {
        Linker {
            store: Some(store),
            ..Linker::new()
        }
    }

    /// The store instances are created in, binding the linker to a new one
    /// if it has none yet.
    pub fn store(&mut self) -> &Store {
        let max_wasm_stack = self.max_wasm_stack;
        self.store.get_or_insert_with(|| {
            let store = Store::default();
            store.set_max_wasm_stack(max_wasm_stack);
            store
        })
    }

    /// Whether a later definition of a name replaces an earlier one
    /// (default: refused as [`LinkError::Duplicate`]).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Linker {
        self.allow_shadowing = allow;
        self
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

    /// Defines `module::name` as the host function `func`.
    pub fn define(
        &mut self,
        module: &str,
        name: &str,
        func: HostFunc,
    ) -> Result<&mut Linker, LinkError> {
        self.define_extern(module, name, Func::from_host(Arc::new(func)))
    }

    /// Defines `module::name` as `ext`. Each name can be defined once
    /// (unless shadowing is allowed); `ext` must belong to the linker's
    /// store, and binds the linker to its store if it has none yet.
    pub fn define_extern(
        &mut self,
        module: &str,
        name: &str,
        ext: impl Into<Extern>,
    ) -> Result<&mut Linker, LinkError> {
        let ext = ext.into();
        let names = self.defs.get(module);
        if !self.allow_shadowing && names.is_some_and(|n| n.contains_key(name)) {
            return Err(LinkError::Duplicate {
                module: module.to_string(),
                name: name.to_string(),
            });
        }
        self.bind(ext.store(), module, name)?;
        self.defs
            .entry(module.to_string())
            .or_default()
            .insert(name.to_string(), ext);
        Ok(self)
    }

    fn bind(&mut self, store: Option<&Store>, module: &str, name: &str) -> Result<(), LinkError> {
        match (&self.store, store) {
            (_, None) => Ok(()),
            (None, Some(store)) => {
                self.store = Some(store.clone());
                Ok(())
            }
            (Some(mine), Some(theirs)) if Store::same(mine, theirs) => Ok(()),
            (Some(_), Some(_)) => Err(LinkError::ForeignStore {
                module: module.to_string(),
                name: name.to_string(),
            }),
        }
    }

    /// Creates a memory of type `ty` in the linker's store and defines it
    /// as `module::name`. The linker's [`Linker::memory_limit_pages`] and
    /// the engine's limit apply to it (to its initial size, and to growing
    /// it from the host or from wasm), also when the linker's limit is set
    /// later.
    pub fn define_memory(
        &mut self,
        module: &str,
        name: &str,
        ty: MemoryType,
    ) -> Result<Memory, Error> {
        let limit = self.memory_limit_pages;
        let memory = Memory::with_limit(self.store(), ty, limit)?;
        self.define_extern(module, name, memory.clone())?;
        self.memories.push(memory.clone());
        Ok(memory)
    }

    /// Creates a table of type `ty`, its elements set to `init`, in the
    /// linker's store and defines it as `module::name`.
    pub fn define_table(
        &mut self,
        module: &str,
        name: &str,
        ty: TableType,
        init: Val,
    ) -> Result<Table, Error> {
        let table = Table::new(self.store(), ty, init)?;
        self.define_extern(module, name, table.clone())?;
        Ok(table)
    }

    /// Creates a global of type `ty` holding `value` in the linker's store
    /// and defines it as `module::name`.
    pub fn define_global(
        &mut self,
        module: &str,
        name: &str,
        ty: GlobalType,
        value: Val,
    ) -> Result<Global, Error> {
        let global = Global::new(self.store(), ty, value)?;
        self.define_extern(module, name, global.clone())?;
        Ok(global)
    }

    /// Defines every export of `instance` under module name `module`, and
    /// binds the linker to the instance's store.
    pub fn define_instance(
        &mut self,
        module: &str,
        instance: &Instance,
    ) -> Result<&mut Linker, LinkError> {
        self.bind(Some(instance.store()), module, "*")?;
        let names: Vec<String> = instance.exports().map(|(n, _)| n.to_string()).collect();
        for name in names {
            if let Some(ext) = instance.get_export(&name) {
                self.define_extern(module, &name, ext)?;
            }
        }
        Ok(self)
    }

    /// The definition of `module::name`.
    pub fn get(&self, module: &str, name: &str) -> Option<&Extern> {
        self.defs.get(module)?.get(name)
    }

    /// How much stack wasm may use below the point where it is entered
    /// (default 1 MiB), for the stores this linker creates (and the one it
    /// is bound to). The thread's own stack size caps it further: a red zone
    /// of [`crate::RED_ZONE`] bytes always stays free.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Linker {
        self.max_wasm_stack = bytes;
        if let Some(store) = &self.store {
            store.set_max_wasm_stack(bytes);
        }
        self
    }

    /// Most pages a memory created by an instance or by
    /// [`Linker::define_memory`] may have (default 65536, 4 GiB; the
    /// engine's [`crate::EngineConfig::memory_limit_pages`] can only lower
    /// it); growing beyond it fails (`memory.grow` returns -1), and so does
    /// instantiating a module, or defining a memory, whose initial size is
    /// larger. It also applies to the memories this linker defined before.
    pub fn memory_limit_pages(&mut self, pages: u64) -> &mut Linker {
        self.memory_limit_pages = pages;
        for memory in &self.memories {
            memory.set_limit_pages(pages);
        }
        self
    }

    /// Whether instances may run code compiled with guard-page bounds
    /// checks (default: yes). That code needs the loader's SIGSEGV/SIGBUS
    /// handler, installed once per process on first use, which forwards
    /// every fault outside generated code to the handler installed before
    /// it. A host that owns its signal handlers (or forbids them) says no
    /// here: such artifacts are then refused at instantiation with a clear
    /// error, and only code with explicit bounds checks runs.
    pub fn allow_signal_handlers(&mut self, allow: bool) -> &mut Linker {
        self.signal_handlers = allow;
        self
    }

    /// Instantiates `module` in `store`. A linker bound to a store (see the
    /// type's docs) only instantiates in that store.
    pub fn instantiate(&self, store: &mut Store, module: &Module) -> Result<Instance, Error> {
        if let Some(own) = &self.store {
            if !Store::same(own, store) {
                return Err(Error::Access(crate::error::AccessError::ForeignStore));
            }
        }
        crate::instantiate::instantiate(self, store, module.artifact())
    }

    /// Instantiates `artifact` with these definitions, in the linker's store
    /// (or a fresh one if the linker is not bound to any): resolves imports,
    /// builds the vmctx, applies segments and runs the start function.
    pub fn instantiate_artifact(&self, artifact: &Arc<Artifact>) -> Result<Instance, Error> {
        let store = match &self.store {
            Some(store) => store.clone(),
            None => {
                let store = Store::default();
                store.set_max_wasm_stack(self.max_wasm_stack);
                store
            }
        };
        crate::instantiate::instantiate(self, &store, artifact)
    }
}

#[cfg(all(test, feature = "std"))]
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
        let ty = |name: &str| match linker.get("env", name).unwrap() {
            Extern::Func(f) => f.ty().clone(),
            other => panic!("{other:?}"),
        };
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
        linker.allow_shadowing(true);
        linker.func_wrap("env", "f", |_: i32| {}).unwrap();
        // Every value type crosses the host boundary, v128 included.
        let ty = FuncType {
            params: vec![ValType::V128],
            results: vec![ValType::V128, ValType::I32],
        };
        assert!(linker.func_new("env", "g", ty, |_, _| Ok(vec![])).is_ok());
        linker
            .func_wrap("env", "v", |a: u128, b: i32| (a, b))
            .unwrap();
        match linker.get("env", "v").unwrap() {
            Extern::Func(f) => assert_eq!(f.ty().to_string(), "[v128 i32] -> [v128 i32]"),
            other => panic!("{other:?}"),
        }
        let ty = FuncType {
            params: vec![ValType::ExternRef],
            results: vec![ValType::FuncRef],
        };
        assert!(linker.func_new("env", "h", ty, |_, _| Ok(vec![])).is_ok());
    }

    #[test]
    fn store_objects_bind_the_linker_to_their_store() {
        let mut linker = Linker::new();
        let memory = MemoryType {
            min_pages: 1,
            max_pages: Some(2),
            index64: false,
        };
        let m = linker.define_memory("env", "mem", memory).unwrap();
        assert!(Store::same(m.store(), linker.store()));
        let global = GlobalType {
            ty: ValType::I32,
            mutable: true,
        };
        let g = linker
            .define_global("env", "g", global, Val::I32(5))
            .unwrap();
        assert_eq!(g.get(), Ok(Val::I32(5)));
        g.set(Val::I32(6)).unwrap();
        assert_eq!(g.get(), Ok(Val::I32(6)));
        assert!(g.set(Val::I64(6)).is_err());

        // A v128 global: a 16-byte cell, aligned for vector loads.
        let v128 = GlobalType {
            ty: ValType::V128,
            mutable: true,
        };
        let v = linker
            .define_global("env", "v", v128, Val::V128(u128::MAX - 5))
            .unwrap();
        assert_eq!(v.cell() as usize % 16, 0);
        assert_eq!(v.get(), Ok(Val::V128(u128::MAX - 5)));
        v.set(Val::V128(1 << 100)).unwrap();
        assert_eq!(v.get(), Ok(Val::V128(1 << 100)));
        assert!(v.set(Val::I64(1)).is_err());
        assert!(Global::new(linker.store(), v128, Val::I32(0)).is_err());
        let frozen = GlobalType {
            ty: ValType::V128,
            mutable: false,
        };
        let c = Global::new(linker.store(), frozen, Val::V128(3)).unwrap();
        assert_eq!(c.set(Val::V128(4)), Err(crate::AccessError::Immutable));
        assert_eq!(c.get(), Ok(Val::V128(3)));

        let elsewhere = Global::new(&Store::default(), global, Val::I32(1)).unwrap();
        let err = linker.define_extern("env", "other", elsewhere).unwrap_err();
        assert!(matches!(err, LinkError::ForeignStore { .. }), "{err}");

        let table = TableType {
            element: ValType::FuncRef,
            min: 2,
            max: Some(4),
            index64: false,
        };
        let t = linker
            .define_table("env", "t", table, Val::FuncRef(None))
            .unwrap();
        assert_eq!(t.size(), Ok(2));
        assert_eq!(t.grow(2, Val::FuncRef(None)), Ok(Some(2)));
        assert_eq!(t.grow(1, Val::FuncRef(None)), Ok(None));
        assert!(t.set(0, Val::ExternRef(None)).is_err());
        assert_eq!(t.get(3), Ok(Val::FuncRef(None)));
        assert!(t.get(4).is_err());
    }
}
