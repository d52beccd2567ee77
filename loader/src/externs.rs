//! Handles to what instances export and import: functions, memories,
//! tables and globals. Each (but a host function) belongs to a [`Store`],
//! stays valid as long as any handle to the store does, and takes the store
//! for every access (see `crate::store` for threads).

use crate::prelude::*;
use alloc::sync::Arc;
use core::ptr::NonNull;

use vibewasm_format::vmctx::FuncRef;
use vibewasm_format::{ExternKind, FuncType, GlobalType, MemoryType, TableType, ValType};

use crate::call::call_func_ref;
use crate::error::{AccessError, Error};
use crate::func::HostFunc;
use crate::memory::{LinearMemory, Reservation, MAX_WASM64_PAGES, MAX_WASM_PAGES};
use crate::raw::RawBox;
use crate::store::{Store, StoreGuard};
use crate::table::Table as TableObj;
use crate::values::{FuncRefHandle, Val};

/// Something an instance exports or imports.
#[derive(Clone, Debug)]
pub enum Extern {
    Func(Func),
    Memory(Memory),
    Table(Table),
    Global(Global),
}

impl Extern {
    pub fn kind(&self) -> ExternKind {
        match self {
            Extern::Func(_) => ExternKind::Func,
            Extern::Memory(_) => ExternKind::Memory,
            Extern::Table(_) => ExternKind::Table,
            Extern::Global(_) => ExternKind::Global,
        }
    }

    /// The store it belongs to (`None` for a host function, which fits any).
    pub fn store(&self) -> Option<&Store> {
        match self {
            Extern::Func(f) => f.store(),
            Extern::Memory(m) => Some(&m.store),
            Extern::Table(t) => Some(&t.store),
            Extern::Global(g) => Some(&g.store),
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}

#[derive(Clone)]
enum FuncKind {
    Host(Arc<HostFunc>),
    Wasm {
        store: Store,
        func_ref: NonNull<FuncRef>,
        ty: Arc<FuncType>,
    },
}

/// A function: a host function, or a function of an instance (which may be
/// an imported host function re-exported by the instance).
#[derive(Clone)]
pub struct Func {
    kind: FuncKind,
}

// SAFETY: a host function is `Send + Sync`; the record of a wasm function is
// owned by its store, immutable, and only used to enter the store.
unsafe impl Send for Func {}
// SAFETY: as for `Send`.
unsafe impl Sync for Func {}

impl Func {
    pub fn host(func: HostFunc) -> Func {
        Func::from_host(Arc::new(func))
    }

    pub(crate) fn from_host(func: Arc<HostFunc>) -> Func {
        Func {
            kind: FuncKind::Host(func),
        }
    }

    /// The function whose record is `func_ref`, which `store` owns.
    pub(crate) fn wasm(store: &Store, func_ref: *const FuncRef, ty: FuncType) -> Option<Func> {
        Some(Func {
            kind: FuncKind::Wasm {
                store: store.clone(),
                func_ref: NonNull::new(func_ref.cast_mut())?,
                ty: Arc::new(ty),
            },
        })
    }

    pub fn ty(&self) -> &FuncType {
        match &self.kind {
            FuncKind::Host(f) => f.ty(),
            FuncKind::Wasm { ty, .. } => ty,
        }
    }

    pub fn store(&self) -> Option<&Store> {
        match &self.kind {
            FuncKind::Host(_) => None,
            FuncKind::Wasm { store, .. } => Some(store),
        }
    }

    pub(crate) fn as_host(&self) -> Option<&Arc<HostFunc>> {
        match &self.kind {
            FuncKind::Host(f) => Some(f),
            FuncKind::Wasm { .. } => None,
        }
    }

    /// The record generated code calls (functions of an instance only).
    pub(crate) fn func_ref_ptr(&self) -> Option<*const FuncRef> {
        match &self.kind {
            FuncKind::Host(_) => None,
            FuncKind::Wasm { func_ref, .. } => Some(func_ref.as_ptr()),
        }
    }

    /// The function as a `funcref` value (functions of an instance only).
    pub fn to_func_ref(&self) -> Option<FuncRefHandle> {
        match &self.kind {
            FuncKind::Host(_) => None,
            FuncKind::Wasm {
                store, func_ref, ..
            } => FuncRefHandle::new(store.id(), func_ref.as_ptr()),
        }
    }

    /// Calls the function with `args`, checked against its signature.
    /// Host functions are only called by wasm.
    pub fn call(&self, args: &[Val]) -> Result<Vec<Val>, Error> {
        match &self.kind {
            FuncKind::Host(_) => Err(AccessError::Unsupported(
                "a host function defined in a linker is only called by wasm".into(),
            )
            .into()),
            FuncKind::Wasm {
                store,
                func_ref,
                ty,
            } => call_func_ref(store, func_ref.as_ptr(), "(funcref)", ty, args),
        }
    }
}

impl core::fmt::Debug for Func {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.kind {
            FuncKind::Host(h) => write!(f, "Func::Host({})", h.ty()),
            FuncKind::Wasm { store, ty, .. } => write!(f, "Func::Wasm({ty}, store {})", store.id()),
        }
    }
}

/// A linear memory.
#[derive(Clone)]
pub struct Memory {
    store: Store,
    memory: NonNull<LinearMemory>,
}

// SAFETY: the memory is owned by the store and only accessed while holding it.
unsafe impl Send for Memory {}
// SAFETY: as for `Send`.
unsafe impl Sync for Memory {}

impl Memory {
    /// A new memory of type `ty` in `store`, with `ty.min_pages` zeroed pages.
    ///
    /// The store's engine limit ([`crate::EngineConfig::memory_limit_pages`])
    /// applies: a larger `ty.min_pages` is refused, and neither
    /// [`Memory::grow`] nor `memory.grow` in code importing the memory goes
    /// beyond it.
    ///
    /// A 64-bit memory (`ty.index64`, memory64) gets a movable reservation
    /// (every access to it is checked explicitly) and may grow past 4 GiB
    /// where the engine's limit allows.
    pub fn new(store: &Store, ty: MemoryType) -> Result<Memory, Error> {
        let cap = match ty.index64 {
            true => MAX_WASM64_PAGES,
            false => MAX_WASM_PAGES,
        };
        Memory::with_limit(store, ty, cap)
    }

    /// [`Memory::new`] with the stricter of `limit_pages` and the engine's
    /// limit (what [`crate::Linker::define_memory`] uses).
    pub(crate) fn with_limit(
        store: &Store,
        ty: MemoryType,
        limit_pages: u64,
    ) -> Result<Memory, Error> {
        let config = store.engine().config();
        let limit_pages = limit_pages.min(config.memory_limit_pages);
        // Any instance may import it, guard-page code included; where the
        // address space is too small for that, code with explicit checks.
        let initial = config.memory_reservation;
        let movable = Reservation::Movable { initial };
        let first = if ty.index64 {
            movable
        } else {
            Reservation::Guard
        };
        let memory = LinearMemory::new(ty, limit_pages, first)
            .or_else(|_| LinearMemory::new(ty, limit_pages, movable))?;
        let mut guard = store.enter()?;
        let memory = RawBox::new(memory);
        let ptr = memory.as_ptr();
        guard.objects().memories.push(memory);
        Ok(Memory::from_raw(store, ptr).expect("non-null"))
    }

    pub(crate) fn from_raw(store: &Store, memory: *mut LinearMemory) -> Option<Memory> {
        Some(Memory {
            store: store.clone(),
            memory: NonNull::new(memory)?,
        })
    }

    pub(crate) fn ptr(&self) -> *mut LinearMemory {
        self.memory.as_ptr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The type the memory was created with.
    pub fn ty(&self) -> MemoryType {
        // SAFETY: owned by the store, alive as long as `self`; a memory is
        // never borrowed mutably (see `LinearMemory`), so this may read its
        // fixed type while another thread uses the store.
        unsafe { self.memory.as_ref() }.ty()
    }

    /// Runs `f` on the memory while holding its store.
    fn with<R>(&self, f: impl FnOnce(&LinearMemory) -> R) -> Result<R, AccessError> {
        let _guard = self.store.enter()?;
        // SAFETY: owned by the store, which lives as long as `self`.
        Ok(f(unsafe { self.memory.as_ref() }))
    }

    // SAFETY (for the `unsafe` calls in the closures below): `with` holds
    // the memory's store, the contract of `LinearMemory`'s methods.

    /// Current size in pages.
    pub fn size_pages(&self) -> Result<u64, AccessError> {
        // SAFETY: `with` holds the memory's store (see above).
        self.with(|m| unsafe { m.size_pages() })
    }

    /// Grows by `delta` pages: the old size, or `None` if it cannot grow
    /// (beyond its maximum or its limit).
    pub fn grow(&self, delta: u64) -> Result<Option<u64>, AccessError> {
        // SAFETY: `with` holds the memory's store (see above).
        self.with(|m| unsafe { m.grow(delta) })
    }

    /// Sets the most pages the memory may grow to: the stricter of `pages`
    /// and the engine's limit.
    pub(crate) fn set_limit_pages(&self, pages: u64) {
        let pages = pages.min(self.store.engine().config().memory_limit_pages);
        // SAFETY: owned by the store, alive as long as `self`; the limit is
        // an atomic, readable and writable from any thread (see `Memory::ty`).
        unsafe { self.memory.as_ref() }.set_limit_pages(pages);
    }

    /// Copies bytes from `offset` into `out`.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), AccessError> {
        // SAFETY: `with` holds the memory's store (see above).
        self.with(|m| unsafe { m.read(offset, out) })?
            .map_err(|_| AccessError::OutOfBounds("memory"))
    }

    /// Copies `data` to `offset`.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), AccessError> {
        // SAFETY: `with` holds the memory's store (see above).
        self.with(|m| unsafe { m.write(offset, data, 0, data.len() as u64) })?
            .map_err(|_| AccessError::OutOfBounds("memory"))
    }

    /// Bytes of address space reserved for the memory: the guard
    /// reservation ([`crate::MEMORY_RESERVATION`]) for a memory of
    /// guard-page code or of the host, only its maximum size for one
    /// defined by code with explicit bounds checks. Never more than its
    /// maximum becomes accessible either way.
    pub fn reserved_bytes(&self) -> usize {
        // SAFETY: owned by the store, alive as long as `self`; the
        // reservation is fixed at creation (see `Memory::ty`).
        unsafe { self.memory.as_ref() }.reserved_bytes()
    }

    /// Whether `a` and `b` are the same memory.
    pub fn same(a: &Memory, b: &Memory) -> bool {
        a.memory == b.memory
    }
}

impl core::fmt::Debug for Memory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Memory({:?}, store {})", self.ty(), self.store.id())
    }
}

/// The slot form of `value` for an element of type `element` in `guard`'s store.
fn element_slot(guard: &StoreGuard<'_>, element: ValType, value: Val) -> Result<u64, AccessError> {
    if value.ty() != element {
        return Err(AccessError::TypeMismatch {
            expected: element.to_string(),
            found: value.ty().to_string(),
        });
    }
    value
        .to_slot_in(guard.id())
        .map_err(|_| AccessError::ForeignStore)
}

/// A table.
#[derive(Clone)]
pub struct Table {
    store: Store,
    table: NonNull<TableObj>,
}

// SAFETY: the table is owned by the store and only accessed while holding it.
unsafe impl Send for Table {}
// SAFETY: as for `Send`.
unsafe impl Sync for Table {}

impl Table {
    /// A new table of type `ty` in `store`, its `ty.min` elements set to `init`.
    pub fn new(store: &Store, ty: TableType, init: Val) -> Result<Table, Error> {
        let mut guard = store.enter()?;
        let init = element_slot(&guard, ty.element, init)?;
        let table = RawBox::new(TableObj::new(ty, init)?);
        let ptr = table.as_ptr();
        guard.objects().tables.push(table);
        Ok(Table::from_raw(store, ptr).expect("non-null"))
    }

    pub(crate) fn from_raw(store: &Store, table: *mut TableObj) -> Option<Table> {
        Some(Table {
            store: store.clone(),
            table: NonNull::new(table)?,
        })
    }

    pub(crate) fn ptr(&self) -> *mut TableObj {
        self.table.as_ptr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The type the table was created with.
    pub fn ty(&self) -> TableType {
        // SAFETY: as for `Memory::ty`.
        unsafe { self.table.as_ref() }.ty()
    }

    /// Runs `f` on the table while holding its store.
    fn with<R>(&self, f: impl FnOnce(&StoreGuard<'_>, &TableObj) -> R) -> Result<R, AccessError> {
        let guard = self.store.enter()?;
        // SAFETY: owned by the store, which lives as long as `self`.
        Ok(f(&guard, unsafe { self.table.as_ref() }))
    }

    // SAFETY (for the `unsafe` calls in the closures below): `with` holds
    // the table's store, the contract of `table::Table`'s methods.

    pub fn size(&self) -> Result<u64, AccessError> {
        // SAFETY: `with` holds the table's store (see above).
        self.with(|_, t| unsafe { t.len() })
    }

    pub fn get(&self, index: u64) -> Result<Val, AccessError> {
        let element = self.ty().element;
        self.with(|guard, t| {
            // SAFETY: `with` holds the table's store (see above).
            let slot = unsafe { t.get(index) }.ok_or(AccessError::OutOfBounds("table"))?;
            Val::from_slot_in(element, slot, guard.id())
                .ok_or_else(|| AccessError::Unsupported(format!("{element} table elements")))
        })?
    }

    pub fn set(&self, index: u64, value: Val) -> Result<(), AccessError> {
        let element = self.ty().element;
        self.with(|guard, t| {
            let slot = element_slot(guard, element, value)?;
            // SAFETY: `with` holds the table's store (see above), and
            // `element_slot` made `slot` a value of the table's type.
            unsafe { t.set(index, slot) }.map_err(|_| AccessError::OutOfBounds("table"))
        })?
    }

    /// Grows by `delta` elements set to `init`: the old size, or `None`.
    pub fn grow(&self, delta: u64, init: Val) -> Result<Option<u64>, AccessError> {
        let element = self.ty().element;
        self.with(|guard, t| {
            let init = element_slot(guard, element, init)?;
            // SAFETY: as in `set`.
            Ok(unsafe { t.grow(delta, init) })
        })?
    }

    /// Whether `a` and `b` are the same table.
    pub fn same(a: &Table, b: &Table) -> bool {
        a.table == b.table
    }
}

impl core::fmt::Debug for Table {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Table({:?}, store {})", self.ty(), self.store.id())
    }
}

/// The value cell of a global the host or an instance creates in a store
/// (other than a defined non-`v128` global, whose value lives in its
/// instance's vmctx slot): 16 bytes aligned to 16, so a `v128` fits and may
/// be read with aligned vector loads; other types use the first 8 bytes.
#[repr(C, align(16))]
pub(crate) struct GlobalCell(pub(crate) [u64; 2]);

/// A global's value in slot form: the first slot, and the second for a `v128`.
pub(crate) type GlobalSlots = [u64; 2];

/// Reads the value of a global of type `ty` from its cell.
///
/// # Safety
/// `cell` must be the live value cell of a global of type `ty` of a store
/// the caller holds: 8 bytes, aligned to 8, or for a `v128` a
/// [`GlobalCell`].
pub(crate) unsafe fn read_global_cell(cell: *const u64, ty: ValType) -> GlobalSlots {
    // SAFETY: guaranteed by the caller (the second word only for v128).
    unsafe {
        match ty {
            ValType::V128 => [cell.read(), cell.add(1).read()],
            _ => [cell.read(), 0],
        }
    }
}

/// Writes the value of a global of type `ty` to its cell.
///
/// # Safety
/// As for [`read_global_cell`]; no Rust reference to the cell is alive.
pub(crate) unsafe fn write_global_cell(cell: *mut u64, ty: ValType, value: GlobalSlots) {
    // SAFETY: guaranteed by the caller (the second word only for v128).
    unsafe {
        cell.write(value[0]);
        if ty == ValType::V128 {
            cell.add(1).write(value[1]);
        }
    }
}

/// The slot form of `value` for a global of type `ty` in `guard`'s store.
fn global_slots(
    guard: &StoreGuard<'_>,
    ty: ValType,
    value: Val,
) -> Result<GlobalSlots, AccessError> {
    if value.ty() != ty {
        return Err(AccessError::TypeMismatch {
            expected: ty.to_string(),
            found: value.ty().to_string(),
        });
    }
    let mut slots = [0; 2];
    value
        .write_slots_in(&mut slots, 0, guard.id())
        .map_err(|_| AccessError::ForeignStore)?;
    Ok(slots)
}

/// A global: its value cell and its type. The cell of a `v128` global is
/// a 16-byte [`GlobalCell`]; others have an 8-byte cell (a [`GlobalCell`]
/// too, or a slot of the defining instance's vmctx).
#[derive(Clone)]
pub struct Global {
    store: Store,
    cell: NonNull<u64>,
    ty: GlobalType,
}

// SAFETY: the cell is owned by the store (a host cell, or a slot of an
// instance's vmctx) and only accessed while holding it.
unsafe impl Send for Global {}
// SAFETY: as for `Send`.
unsafe impl Sync for Global {}

impl Global {
    /// A new global of type `ty` in `store`, holding `value`.
    pub fn new(store: &Store, ty: GlobalType, value: Val) -> Result<Global, Error> {
        let mut guard = store.enter()?;
        let slots = global_slots(&guard, ty.ty, value)?;
        let cell = RawBox::new(GlobalCell(slots));
        let ptr = cell.as_ptr().cast::<u64>();
        guard.objects().globals.push(cell);
        Ok(Global::from_raw(store, ptr, ty).expect("non-null"))
    }

    pub(crate) fn from_raw(store: &Store, cell: *mut u64, ty: GlobalType) -> Option<Global> {
        Some(Global {
            store: store.clone(),
            cell: NonNull::new(cell)?,
            ty,
        })
    }

    pub(crate) fn cell(&self) -> *mut u64 {
        self.cell.as_ptr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn ty(&self) -> GlobalType {
        self.ty
    }

    pub fn get(&self) -> Result<Val, AccessError> {
        let guard = self.store.enter()?;
        // SAFETY: the cell is owned by the store, which this thread holds,
        // and fits the global's type (see the type's docs). Cells in a
        // vmctx are 8-byte aligned like every vmctx slot.
        let slots = unsafe { read_global_cell(self.cell.as_ptr(), self.ty.ty) };
        Val::read_slots_in(self.ty.ty, &slots, 0, guard.id())
            .ok_or_else(|| AccessError::Unsupported(format!("{} globals", self.ty.ty)))
    }

    /// Sets a mutable global.
    pub fn set(&self, value: Val) -> Result<(), AccessError> {
        if !self.ty.mutable {
            return Err(AccessError::Immutable);
        }
        let guard = self.store.enter()?;
        let slots = global_slots(&guard, self.ty.ty, value)?;
        // SAFETY: as in `get`; no reference to the cell exists.
        unsafe { write_global_cell(self.cell.as_ptr(), self.ty.ty, slots) };
        Ok(())
    }

    /// Whether `a` and `b` are the same global.
    pub fn same(a: &Global, b: &Global) -> bool {
        a.cell == b.cell
    }
}

impl core::fmt::Debug for Global {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Global({:?}, store {})", self.ty, self.store.id())
    }
}
