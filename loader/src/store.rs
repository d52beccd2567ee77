//! Stores: the owner of everything instances that may call each other share.
//!
//! Generated code reaches the [`RuntimeState`] through `vmctx.runtime`: the
//! host entry trampoline saves its stack pointer there, every function
//! prologue compares the stack pointer with the limit there, and a trap stub
//! records its site and vmctx there before unwinding to the innermost
//! trampoline. A call that enters instance A, calls into instance B (an
//! imported function, a shared table) and traps in B unwinds through A's
//! trampoline, so A and B must use the same runtime state: all instances
//! linked with each other live in one [`Store`].
//!
//! A store also owns every instance's internals (vmctx, function
//! references, memories, tables, global cells) until the store itself is
//! dropped: function references and shared tables may point into any
//! instance of the store, even one whose instantiation failed half-way.
//! (So a host function that captures a handle to the store it is imported
//! into keeps that store alive for good: a reference cycle.)
//!
//! # Threads
//!
//! A store is used by one thread at a time. Handles to it ([`Store`],
//! [`crate::Instance`], [`crate::Extern`]s) are `Send` and `Sync`, and every
//! operation on the store's contents first takes the store: an atomic flag,
//! not a lock, so an operation while another thread (or the same thread,
//! from inside a host function) is using the store fails at once with
//! [`crate::AccessError::StoreBusy`] instead of waiting. In particular, a
//! host function cannot call back into its own store.

use crate::prelude::*;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::any::Any;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::sync::Mutex;

use vibewasm_format::vmctx::RuntimeState;

use crate::engine::Engine;
use crate::error::{AccessError, Error};
use crate::externs::{Func, GlobalCell};
use crate::instance::InstanceData;
use crate::memory::LinearMemory;
use crate::raw::RawBox;
use crate::table::Table;
use crate::trap::Trap;
use crate::types::type_of_id;
use crate::values::{ExternRef, FuncRefHandle, Val};

/// Objects of a store that generated code reaches through raw pointers.
#[derive(Default)]
pub(crate) struct Objects {
    pub(crate) instances: Vec<RawBox<InstanceData>>,
    /// Every instance by the address of its vmctx (to attribute traps).
    pub(crate) by_vmctx: BTreeMap<usize, *const InstanceData>,
    pub(crate) memories: Vec<RawBox<LinearMemory>>,
    pub(crate) tables: Vec<RawBox<Table>>,
    /// Value cells of globals created by the host, and of the `v128`
    /// globals instances define (their vmctx slots point to them).
    pub(crate) globals: Vec<RawBox<GlobalCell>>,
}

impl Objects {
    /// The instance whose vmctx is at `vmctx`, if it belongs to this store.
    pub(crate) fn instance_at(&self, vmctx: *const u8) -> Option<&InstanceData> {
        let data = *self.by_vmctx.get(&(vmctx as usize))?;
        // SAFETY: `by_vmctx` only holds instances owned by `instances`,
        // which live as long as the store.
        Some(unsafe { &*data })
    }
}

pub(crate) struct StoreInner {
    id: u64,
    busy: AtomicBool,
    pub(crate) runtime: RawBox<RuntimeState>,
    max_wasm_stack: AtomicUsize,
    /// Only accessed through a [`StoreGuard`].
    pub(crate) objects: UnsafeCell<Objects>,
    /// The error of the host function that failed in the current call; only
    /// accessed by the thread holding the store (through a guard, or by the
    /// host-call shim while that thread runs wasm).
    pending_trap: UnsafeCell<Option<Trap>>,
    /// Host values behind externrefs made by [`Store::extern_ref`].
    extern_data: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    engine: Arc<Engine>,
    /// Fuel, epochs and backtraces (see `crate::sandbox`).
    pub(crate) sandbox: crate::sandbox::Sandbox,
}

// SAFETY: the raw pointers and cells inside are only used by the thread that
// holds the store (`busy`, taken with Acquire and released with Release by
// `StoreGuard`), or through atomics and the mutex. Everything they point to
// is owned by the store and freed only when the last handle is dropped.
unsafe impl Send for StoreInner {}
// SAFETY: as for `Send`: shared access goes through `busy`.
unsafe impl Sync for StoreInner {}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Instances point into memories, tables and cells; none of them run
        // code on drop, so the order does not matter. Free instances first
        // anyway, so nothing ever points to freed memory even transiently.
        let objects = self.objects.get_mut();
        objects.by_vmctx.clear();
        objects.instances.clear();
    }
}

/// Bit set in externrefs made by [`Store::extern_ref`].
const EXTERN_DATA_TAG: u64 = 1 << 63;

/// A store: the runtime state, instances and shared objects of a group of
/// instances that may call each other (see the module docs). Cloning gives
/// another handle to the same store.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<StoreInner>,
}

impl Default for Store {
    /// A store of a default [`Engine`].
    fn default() -> Self {
        Store::new(Arc::new(Engine::default()))
    }
}

impl Store {
    /// A new, empty store using `engine`'s settings and epoch counter.
    pub fn new(engine: Arc<Engine>) -> Store {
        let store = Store::unconnected(engine);
        let counter = store.engine().epoch_counter().clone();
        store
            .set_epoch_counter(&counter)
            .expect("a new store is not running any code");
        store
    }

    fn unconnected(engine: Arc<Engine>) -> Store {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let max_wasm_stack = engine.config().max_wasm_stack;
        Store {
            inner: Arc::new(StoreInner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                busy: AtomicBool::new(false),
                runtime: RawBox::new(RuntimeState::default()),
                max_wasm_stack: AtomicUsize::new(max_wasm_stack),
                objects: UnsafeCell::new(Objects::default()),
                pending_trap: UnsafeCell::new(None),
                extern_data: Mutex::new(Vec::new()),
                engine,
                sandbox: crate::sandbox::Sandbox::default(),
            }),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Calls `func` (a function of this store) with `args`.
    pub fn call(&mut self, func: Func, args: &[Val]) -> Result<Vec<Val>, Error> {
        if func.store().is_some_and(|s| !Store::same(s, self)) {
            return Err(Error::Access(AccessError::ForeignStore));
        }
        func.call(args)
    }

    /// A number unique to this store in the process (never 0).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether `a` and `b` are handles to the same store.
    pub fn same(a: &Store, b: &Store) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// How much stack wasm may use below the point where it is entered
    /// (default [`crate::DEFAULT_MAX_WASM_STACK`]). The thread's own stack size caps
    /// it further: a red zone of [`crate::RED_ZONE`] bytes always stays free.
    pub fn set_max_wasm_stack(&self, bytes: usize) {
        self.inner.max_wasm_stack.store(bytes, Ordering::Relaxed);
    }

    pub fn max_wasm_stack(&self) -> usize {
        self.inner.max_wasm_stack.load(Ordering::Relaxed)
    }

    /// An externref standing for `value`; [`Store::extern_data`] gives the
    /// value back. The store keeps `value` alive as long as it lives.
    pub fn extern_ref(&self, value: Arc<dyn Any + Send + Sync>) -> ExternRef {
        let mut data = self.inner.extern_data.lock();
        data.push(value);
        ExternRef::from_raw(EXTERN_DATA_TAG | data.len() as u64).expect("tagged, never zero")
    }

    /// The value behind an externref made by [`Store::extern_ref`] of this store.
    pub fn extern_data(&self, r: ExternRef) -> Option<Arc<dyn Any + Send + Sync>> {
        let index = (r.raw() & !EXTERN_DATA_TAG).checked_sub(1)?;
        if r.raw() & EXTERN_DATA_TAG == 0 {
            return None;
        }
        let data = self.inner.extern_data.lock();
        data.get(usize::try_from(index).ok()?).cloned()
    }

    /// The function a `funcref` of this store stands for (`None` if it
    /// belongs to another store).
    pub fn func(&self, func_ref: FuncRefHandle) -> Option<Func> {
        if func_ref.store_id() != self.id() {
            return None;
        }
        // SAFETY: handles are only made from records of the store with
        // their id, which live as long as the store; records never change.
        let type_id = unsafe { (*func_ref.ptr()).type_id };
        Func::wasm(self, func_ref.ptr(), type_of_id(type_id)?)
    }

    /// Whether this handle is the only one to the store: then nothing else
    /// can run code in it or reach its objects.
    pub(crate) fn is_sole_handle(&mut self) -> bool {
        Arc::strong_count(&self.inner) == 1 && Arc::weak_count(&self.inner) == 0
    }

    /// Takes the store for the current operation.
    pub(crate) fn enter(&self) -> Result<StoreGuard<'_>, AccessError> {
        self.inner.enter()
    }
}

impl core::fmt::Debug for Store {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store").field("id", &self.inner.id).finish()
    }
}

impl StoreInner {
    fn enter(&self) -> Result<StoreGuard<'_>, AccessError> {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| AccessError::StoreBusy)?;
        Ok(StoreGuard { inner: self })
    }

    /// Records the error of a failing host function for the current call.
    ///
    /// # Safety
    /// Only the thread holding the store may call this, and no reference to
    /// the pending trap may be alive (it is only touched here and in
    /// [`StoreGuard::take_pending_trap`], never across a call into wasm).
    pub(crate) unsafe fn set_pending_trap(&self, trap: Trap) {
        // SAFETY: guaranteed by the caller.
        unsafe { *self.pending_trap.get() = Some(trap) }
    }
}

/// Exclusive use of a store by the current thread, for one operation.
pub(crate) struct StoreGuard<'a> {
    inner: &'a StoreInner,
}

impl StoreGuard<'_> {
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The store's objects. Never keep the reference across a call into
    /// wasm (generated code and helpers reach the objects meanwhile).
    pub(crate) fn objects(&mut self) -> &mut Objects {
        // SAFETY: the guard makes this thread the only user of the store,
        // and `&mut self` the only reference from this guard.
        unsafe { &mut *self.inner.objects.get() }
    }

    pub(crate) fn store_ptr(&self) -> *const StoreInner {
        self.inner
    }

    pub(crate) fn runtime(&self) -> *mut RuntimeState {
        self.inner.runtime.as_ptr()
    }

    pub(crate) fn max_wasm_stack(&self) -> usize {
        self.inner.max_wasm_stack.load(Ordering::Relaxed)
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn take_pending_trap(&mut self) -> Option<Trap> {
        // SAFETY: this thread holds the store, and no wasm (hence no
        // host-call shim) is running while `&mut self` is borrowed here.
        unsafe { (*self.inner.pending_trap.get()).take() }
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        self.inner.busy.store(false, Ordering::Release);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn stores_are_taken_one_operation_at_a_time() {
        let store = Store::default();
        let other = Store::default();
        assert_ne!(store.id(), other.id());
        assert!(Store::same(&store, &store.clone()));
        assert!(!Store::same(&store, &other));
        let guard = store.enter().unwrap();
        assert_eq!(store.enter().err(), Some(AccessError::StoreBusy));
        assert!(other.enter().is_ok());
        let handle = store.clone();
        let busy_elsewhere = std::thread::spawn(move || handle.enter().is_err())
            .join()
            .unwrap();
        assert!(busy_elsewhere);
        drop(guard);
        assert!(store.enter().is_ok());
    }

    #[test]
    fn extern_data_round_trips() {
        let store = Store::default();
        let r = store.extern_ref(Arc::new(String::from("hello")));
        let back = store.extern_data(r).unwrap();
        assert_eq!(back.downcast_ref::<String>().unwrap(), "hello");
        assert!(store.extern_data(ExternRef::from_raw(1).unwrap()).is_none());
        let tagged_but_unknown = ExternRef::from_raw(EXTERN_DATA_TAG | 99).unwrap();
        assert!(store.extern_data(tagged_but_unknown).is_none());
    }

    #[test]
    fn sole_handle() {
        let mut store = Store::default();
        assert!(store.is_sole_handle());
        let other = store.clone();
        assert!(!store.is_sole_handle());
        drop(other);
        assert!(store.is_sole_handle());
    }
}
