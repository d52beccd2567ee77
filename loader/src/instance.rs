//! Instances: the per-instance data generated code and helpers reach through
//! `vmctx.host_state`, and the [`Instance`] handle the host uses.

use crate::prelude::*;
use alloc::sync::Arc;
use core::ptr::NonNull;
use core::sync::atomic::AtomicBool;

use vibewasm_format::vmctx::{FuncRef, VmctxLayout};
use vibewasm_format::{ExternKind, FuncType, GlobalType};

use crate::artifact::Artifact;
use crate::call::{call_func_ref, invoke_func_ref};
use crate::error::{CallError, Error};
use crate::externs::{Extern, Func, Global, Memory, Table as TableHandle};
use crate::func::{HostFunc, TypedFunc};
use crate::memory::LinearMemory;
use crate::raw::{RawBox, VmctxBuf};
use crate::store::{Store, StoreInner};
use crate::table::Table;
use crate::trap::Trap;
use crate::values::{Val, WasmTypeList};

/// An element segment after instantiation evaluated its items.
pub(crate) struct ElemSegment {
    pub(crate) items: Vec<u64>,
    pub(crate) dropped: AtomicBool,
}

/// Everything of one instance, owned by its store. After instantiation only
/// the vmctx contents, the objects behind the pointers and the `dropped`
/// flags change.
pub(crate) struct InstanceData {
    pub(crate) store: *const StoreInner,
    pub(crate) store_id: u64,
    pub(crate) artifact: Arc<Artifact>,
    /// The artifact's host entry trampoline (in its executable code), if
    /// it has one: looked up once, not on every call from the host.
    pub(crate) host_entry: Option<*const u8>,
    pub(crate) layout: VmctxLayout,
    pub(crate) vmctx: VmctxBuf,
    /// The records `func_refs` slots point to, for every function this
    /// instance runs itself (defined functions and host imports); unused
    /// for functions imported from another instance. Only reached through
    /// those pointers.
    #[allow(dead_code)]
    pub(crate) func_refs: RawBox<[FuncRef]>,
    /// Memories, tables and global cells in index-space order (imports first).
    pub(crate) memories: Vec<*mut LinearMemory>,
    pub(crate) tables: Vec<*mut Table>,
    pub(crate) globals: Vec<(*mut u64, GlobalType)>,
    /// Keeps imported host functions alive: the vmctx holds raw pointers to them.
    #[allow(dead_code)]
    pub(crate) host_funcs: Vec<Arc<HostFunc>>,
    pub(crate) elements: Vec<ElemSegment>,
    pub(crate) data_dropped: Vec<AtomicBool>,
}

impl InstanceData {
    /// The `*const FuncRef` of function `index` (what `ref.func` gives).
    pub(crate) fn func_ref(&self, index: u32) -> Option<*const FuncRef> {
        (index < self.layout.num_funcs)
            .then(|| self.vmctx.read_u64(self.layout.func_ref(index)) as usize as *const FuncRef)
    }

    /// The export `name` as an extern of `store`.
    fn export(&self, store: &Store, name: &str) -> Option<Extern> {
        let meta = self.artifact.metadata();
        let export = meta.exports.iter().find(|e| e.name == name)?;
        let index = export.index as usize;
        Some(match export.kind {
            ExternKind::Func => {
                let ty = meta.func_type(export.index)?.clone();
                Extern::Func(Func::wasm(store, self.func_ref(export.index)?, ty)?)
            }
            ExternKind::Memory => {
                Extern::Memory(Memory::from_raw(store, *self.memories.get(index)?)?)
            }
            ExternKind::Table => {
                Extern::Table(TableHandle::from_raw(store, *self.tables.get(index)?)?)
            }
            ExternKind::Global => {
                let (cell, ty) = *self.globals.get(index)?;
                Extern::Global(Global::from_raw(store, cell, ty)?)
            }
        })
    }
}

/// An instantiated artifact. Created by [`crate::Linker::instantiate`].
///
/// Calls take `&mut self`: wasm code writes the instance's memory and
/// globals, so no borrow of them may be alive meanwhile. An instance stays
/// usable after a trap. The instance lives in a [`Store`] (see there for
/// threads): its internals stay allocated while any handle to the store
/// exists.
pub struct Instance {
    store: Store,
    /// Owned by the store.
    data: NonNull<InstanceData>,
}

// SAFETY: the data is owned by the store, which the handle keeps alive;
// the parts that change after instantiation are only touched while holding
// the store (or as its sole handle), see `crate::store`.
unsafe impl Send for Instance {}
// SAFETY: as for `Send`; `&self` methods only read data fixed at
// instantiation or take the store first.
unsafe impl Sync for Instance {}

impl Instance {
    /// # Safety
    /// `data` must be owned by `store`.
    pub(crate) unsafe fn new(store: Store, data: NonNull<InstanceData>) -> Instance {
        Instance { store, data }
    }

    pub(crate) fn data(&self) -> &InstanceData {
        // SAFETY: owned by the store, which `self` keeps alive. The fields
        // that change after instantiation are atomics or behind pointers.
        unsafe { self.data.as_ref() }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn artifact(&self) -> &Arc<Artifact> {
        &self.data().artifact
    }

    /// The name and kind of every export, in module order.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExternKind)> + '_ {
        self.artifact()
            .metadata()
            .exports
            .iter()
            .map(|e| (e.name.as_str(), e.kind))
    }

    /// The export `name`, as a handle that stays valid as long as the store.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        self.data().export(&self.store, name)
    }

    /// The exported function `name` (`None` if `store` is not this
    /// instance's store).
    pub fn get_func(&self, store: &Store, name: &str) -> Option<Func> {
        if !Store::same(store, &self.store) {
            return None;
        }
        match self.get_export(name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    pub fn get_memory(&self, name: &str) -> Option<Memory> {
        match self.get_export(name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    pub fn get_table(&self, name: &str) -> Option<TableHandle> {
        match self.get_export(name)? {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn get_global(&self, name: &str) -> Option<Global> {
        match self.get_export(name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    fn memory0(&mut self) -> Option<*mut LinearMemory> {
        let memory = *self.data().memories.first()?;
        // Borrowing views are sound only if nothing else can run code in the
        // store or reach the memory while they live: this handle must be the
        // store's only one, and `&mut self` keeps new ones from being made.
        self.store.is_sole_handle().then_some(memory)
    }

    /// Memory 0 (exported or not), if the module has one and this instance
    /// is the only handle to its store (no other instance, extern, linker
    /// or funcref refers to it). Otherwise use [`Memory::read`] and
    /// [`Memory::write`] on [`Instance::get_memory`].
    pub fn memory(&mut self) -> Option<&[u8]> {
        Some(self.memory_mut()?)
    }

    /// Memory 0, writable (same condition as [`Instance::memory`]).
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        let memory = self.memory0()?;
        // SAFETY: the store owns the memory and outlives the borrow of
        // `self`. Nothing else can reach the memory while the slice lives
        // (see `memory0`), which is the contract of `bytes`, and the
        // accessible bytes never shrink or move.
        unsafe {
            let (base, len) = (*memory).bytes();
            Some(core::slice::from_raw_parts_mut(base, len))
        }
    }

    /// How much stack wasm may use below the point where it is entered, for
    /// every instance of this instance's store (see [`Store::set_max_wasm_stack`]).
    pub fn set_max_wasm_stack(&mut self, bytes: usize) {
        self.store.set_max_wasm_stack(bytes);
    }

    /// Most pages memory 0 may grow to (never beyond its type's maximum,
    /// nor beyond the engine's [`crate::EngineConfig::memory_limit_pages`]).
    /// The limit belongs to the memory: instances sharing it share the limit.
    pub fn set_memory_limit_pages(&mut self, pages: u64) {
        let pages = pages.min(self.store.engine().config().memory_limit_pages);
        if let Some(&memory) = self.data().memories.first() {
            // SAFETY: the store owns the memory; the limit is an atomic.
            unsafe { (*memory).set_limit_pages(pages) }
        }
    }

    /// The current value of the exported global `name` (`None` if there is
    /// none, or if the store is busy running wasm on another thread).
    pub fn global(&self, name: &str) -> Option<Val> {
        self.get_global(name)?.get().ok()
    }

    /// Index and signature of the exported function `name`.
    pub fn func_export(&self, name: &str) -> Result<(u32, &FuncType), CallError> {
        let meta = self.artifact().metadata();
        let export = meta
            .exports
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CallError::NoSuchExport(name.to_string()))?;
        if export.kind != ExternKind::Func {
            return Err(CallError::NotAFunction {
                name: name.to_string(),
                kind: export.kind,
            });
        }
        let ty = meta
            .func_type(export.index)
            .ok_or_else(|| CallError::NoSuchExport(name.to_string()))?;
        Ok((export.index, ty))
    }

    /// Calls the exported function `name` with `args`, checked against its
    /// signature.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let (index, ty) = self.func_export(name)?;
        let ty = ty.clone();
        let func = self
            .data()
            .func_ref(index)
            .ok_or_else(|| CallError::NoSuchExport(name.to_string()))?;
        call_func_ref(&self.store, func, name, &ty, args)
    }

    /// A typed handle to the exported function `name`, whose signature must
    /// be exactly `Params -> Results`.
    pub fn get_typed_func<Params: WasmTypeList, Results: WasmTypeList>(
        &self,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>, Error> {
        let (index, ty) = self.func_export(name)?;
        let requested = FuncType {
            params: Params::types(),
            results: Results::types(),
        };
        if *ty != requested {
            return Err(CallError::TypeMismatch {
                name: name.to_string(),
                found: ty.clone(),
                requested,
            }
            .into());
        }
        Ok(TypedFunc::new(self.artifact().clone(), index))
    }

    /// Runs function `func` with `argv` (at least `max(param slots, result
    /// slots, 1)` slots, arguments already stored at their `slot_offsets`);
    /// the results replace the arguments.
    pub(crate) fn invoke(&mut self, func: u32, argv: &mut [u64]) -> Result<(), Trap> {
        let func_ref = self
            .data()
            .func_ref(func)
            .ok_or_else(|| Trap::internal(format!("function {func} does not exist")))?;
        invoke_func_ref(&self.store, func_ref, argv)
    }
}

impl core::fmt::Debug for Instance {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Instance")
            .field("artifact", self.artifact())
            .field("store", &self.store)
            .field("vmctx", &self.data().vmctx.ptr())
            .finish()
    }
}
