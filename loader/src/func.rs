//! Functions crossing the host/wasm boundary: host functions (typed Rust
//! closures or untyped ones over [`Val`]s), the C-ABI shim generated code
//! calls them through, and typed handles to exported wasm functions.

use crate::prelude::*;
use alloc::sync::Arc;
use core::marker::PhantomData;
#[cfg(feature = "std")]
use std::panic::{catch_unwind, AssertUnwindSafe};

use vibewasm_format::vmctx::{MemoryDef, HOST_STATE, MEMORY0};
use vibewasm_format::{slot_offsets, FuncType, ValType};

use crate::artifact::Artifact;
use crate::instance::{Instance, InstanceData};
use crate::memory::memory_parts;
use crate::raw::read_vmctx_ptr;
use crate::trap::Trap;
use crate::values::{SlotError, Val, WasmTy, WasmTypeList, MAX_LIST_SLOTS};

type Callback = dyn Fn(&mut Caller<'_>, &mut [u64]) -> Result<(), Trap> + Send + Sync;

/// A host function with its signature, ready to be defined in a
/// [`crate::Linker`]. Build one with [`HostFunc::wrap`] or [`HostFunc::new`].
pub struct HostFunc {
    ty: FuncType,
    /// How many argument slots a call passes: `max(param slots, result
    /// slots)` of `ty` (a `v128` takes two).
    slots: usize,
    /// Reads its arguments from and writes its results to the argument slots
    /// (`slots` of them), each value at its `slot_offsets` position.
    callback: Box<Callback>,
}

/// The number of argument slots a call of type `ty` passes.
fn arg_slots(ty: &FuncType) -> usize {
    slot_offsets(&ty.params).1.max(slot_offsets(&ty.results).1)
}

impl HostFunc {
    /// A host function from a typed closure such as `|a: i32, b: i64| -> f64`,
    /// optionally taking `&mut Caller<'_>` first; see [`IntoFunc`].
    pub fn wrap<Params, Results>(func: impl IntoFunc<Params, Results>) -> HostFunc {
        func.into_host_func()
    }

    /// An untyped host function of type `ty`. Every value type can cross
    /// the host boundary now, so this does not fail (`Err` would name the
    /// first one that cannot).
    ///
    /// Results that do not match `ty` turn into a trap.
    pub fn new(
        ty: FuncType,
        func: impl Fn(&mut Caller<'_>, &[Val]) -> Result<Vec<Val>, Trap> + Send + Sync + 'static,
    ) -> Result<HostFunc, ValType> {
        let sig = ty.clone();
        let (param_at, _) = slot_offsets(&ty.params);
        let (result_at, _) = slot_offsets(&ty.results);
        let callback = move |caller: &mut Caller<'_>, slots: &mut [u64]| {
            let store = caller.store_id;
            let args: Vec<Val> = sig
                .params
                .iter()
                .zip(&param_at)
                .filter_map(|(t, at)| Val::read_slots_in(*t, slots, *at, store))
                .collect();
            let results = func(caller, &args)?;
            let matches = results.len() == sig.results.len()
                && results.iter().zip(&sig.results).all(|(v, t)| v.ty() == *t);
            if !matches {
                let found: Vec<String> = results.iter().map(|v| v.ty().to_string()).collect();
                return Err(Trap::new(format!(
                    "host function of type {sig} returned [{}]",
                    found.join(" ")
                )));
            }
            for (v, at) in results.into_iter().zip(&result_at) {
                v.write_slots_in(slots, *at, store).map_err(|e| match e {
                    SlotError::ForeignFuncRef => Trap::new(format!(
                        "host function of type {sig} returned a funcref of another store"
                    )),
                    SlotError::TooShort => Trap::internal(format!(
                        "host function of type {sig} called with too few argument slots"
                    )),
                })?;
            }
            Ok(())
        };
        Ok(HostFunc {
            slots: arg_slots(&ty),
            ty,
            callback: Box::new(callback),
        })
    }

    /// The signature imports are checked against.
    pub fn ty(&self) -> &FuncType {
        &self.ty
    }
}

impl core::fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HostFunc({})", self.ty)
    }
}

/// The calling instance, as seen by a host function.
pub struct Caller<'a> {
    vmctx: *mut u8,
    store_id: u64,
    _borrow: PhantomData<&'a mut InstanceData>,
}

impl Caller<'_> {
    /// The id of the calling instance's store ([`crate::Store::id`]).
    pub fn store_id(&self) -> u64 {
        self.store_id
    }

    /// The calling instance's vmctx.
    pub(crate) fn vmctx(&self) -> *mut u8 {
        self.vmctx
    }

    /// A caller whose vmctx is `vmctx`, for tests that need one without
    /// running generated code (a fabricated vmctx with the slots used).
    #[cfg(all(test, feature = "std"))]
    pub(crate) fn for_test(vmctx: *mut u8, store_id: u64) -> Caller<'static> {
        Caller {
            vmctx,
            store_id,
            _borrow: PhantomData,
        }
    }

    fn memory_parts(&self) -> Option<(*mut u8, usize)> {
        // SAFETY: `vmctx` is the live vmctx of the instance whose wasm code
        // called us; MEMORY0 holds null or its memory descriptor.
        let def = unsafe { read_vmctx_ptr::<MemoryDef>(self.vmctx, MEMORY0) };
        if def.is_null() {
            return None;
        }
        // SAFETY: a non-null MEMORY0 points to the instance's live descriptor.
        Some(unsafe { memory_parts(def) })
    }

    /// Memory 0 of the calling instance, if it has one.
    pub fn memory(&self) -> Option<&[u8]> {
        let (base, len) = self.memory_parts()?;
        // SAFETY: the bytes are mapped read+write and stay so while wasm is
        // suspended in this host call. The calling thread holds the store,
        // so no wasm can run in it and nothing else can reach the memory
        // until the host function returns, which ends this borrow.
        Some(unsafe { core::slice::from_raw_parts(base, len) })
    }

    /// Memory 0 of the calling instance, writable.
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        let (base, len) = self.memory_parts()?;
        // SAFETY: as in `memory`; `&mut self` makes the borrow exclusive.
        Some(unsafe { core::slice::from_raw_parts_mut(base, len) })
    }
}

/// What a typed host function may return: `()`, one value, a tuple of values
/// (see [`WasmTypeList`]), or any of those in a `Result<_, Trap>` to trap.
pub trait HostResult: Send + 'static {
    type List: WasmTypeList;
    fn into_result(self) -> Result<Self::List, Trap>;
}

impl<L: WasmTypeList> HostResult for L {
    type List = L;
    fn into_result(self) -> Result<L, Trap> {
        Ok(self)
    }
}

impl<L: WasmTypeList> HostResult for Result<L, Trap> {
    type List = L;
    fn into_result(self) -> Result<L, Trap> {
        self
    }
}

/// Marks the [`IntoFunc`] implementations for closures that take
/// `&mut Caller<'_>` as their first argument.
pub enum WithCaller {}

/// A Rust closure usable as a host function: `Fn(A1, ..., An) -> R` or
/// `Fn(&mut Caller<'_>, A1, ..., An) -> R` with up to six arguments of types
/// `i32`, `i64`, `f32`, `f64`, `u128` (a `v128`) and `R` a [`HostResult`]. `Params` and
/// `Results` only guide type inference.
pub trait IntoFunc<Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host_func(self) -> HostFunc;
}

macro_rules! impl_into_func {
    ($($arg:ident)*) => {
        impl<F, $($arg,)* R> IntoFunc<($($arg,)*), R> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            $($arg: WasmTy,)*
            R: HostResult,
        {
            #[allow(non_snake_case, unused_mut, unused_variables, unused_assignments)]
            fn into_host_func(self) -> HostFunc {
                let ty = FuncType {
                    params: vec![$(<$arg as WasmTy>::TYPE),*],
                    results: <R::List as WasmTypeList>::types(),
                };
                let callback = move |_caller: &mut Caller<'_>, slots: &mut [u64]| {
                    let mut at = 0;
                    $(
                        let $arg = <$arg as WasmTy>::read_slots(slots.get(at..).unwrap_or(&[]));
                        at += <$arg as WasmTy>::TYPE.slots();
                    )*
                    let results = (self)($($arg),*).into_result()?;
                    results.store(slots);
                    Ok(())
                };
                HostFunc { slots: arg_slots(&ty), ty, callback: Box::new(callback) }
            }
        }

        impl<F, $($arg,)* R> IntoFunc<(WithCaller, $($arg,)*), R> for F
        where
            F: Fn(&mut Caller<'_>, $($arg),*) -> R + Send + Sync + 'static,
            $($arg: WasmTy,)*
            R: HostResult,
        {
            #[allow(non_snake_case, unused_mut, unused_variables, unused_assignments)]
            fn into_host_func(self) -> HostFunc {
                let ty = FuncType {
                    params: vec![$(<$arg as WasmTy>::TYPE),*],
                    results: <R::List as WasmTypeList>::types(),
                };
                let callback = move |caller: &mut Caller<'_>, slots: &mut [u64]| {
                    let mut at = 0;
                    $(
                        let $arg = <$arg as WasmTy>::read_slots(slots.get(at..).unwrap_or(&[]));
                        at += <$arg as WasmTy>::TYPE.slots();
                    )*
                    let results = (self)(caller, $($arg),*).into_result()?;
                    results.store(slots);
                    Ok(())
                };
                HostFunc { slots: arg_slots(&ty), ty, callback: Box::new(callback) }
            }
        }
    };
}

impl_into_func!();
impl_into_func!(A1);
impl_into_func!(A1 A2);
impl_into_func!(A1 A2 A3);
impl_into_func!(A1 A2 A3 A4);
impl_into_func!(A1 A2 A3 A4 A5);
impl_into_func!(A1 A2 A3 A4 A5 A6);

#[cfg(feature = "std")]
fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// The [`vibewasm_format::vmctx::HostCallFn`] of every host import. Returns
/// 0 with the results in `argv`, or 1 after storing the trap in the store.
///
/// # Safety
/// `env` must be the `HostFunc` pointer the loader stored next to this shim,
/// `vmctx` the calling instance's vmctx, and `argv` must hold
/// `max(param slots, result slots)` slots of the host function's type.
pub(crate) unsafe extern "C" fn host_call(env: *mut u8, vmctx: *mut u8, argv: *mut u64) -> u32 {
    // SAFETY: HOST_STATE holds the instance's data, owned by its store,
    // which is alive and held by this thread while its wasm runs.
    let data = unsafe { &*read_vmctx_ptr::<InstanceData>(vmctx, HOST_STATE) };
    // SAFETY: the loader stores `Arc::as_ptr` of a HostFunc the instance
    // keeps alive for its whole life as `env`.
    let func = unsafe { &*(env as *const HostFunc) };
    let n = func.slots;
    let trap = if n > 0 && argv.is_null() {
        Trap::internal("host function called without an argument array")
    } else {
        let slots: &mut [u64] = if n == 0 {
            &mut []
        } else {
            // SAFETY: generated code passes an array of at least `n` slots
            // (the convention of `vibewasm_format::vmctx`), unused elsewhere
            // until we return.
            unsafe { core::slice::from_raw_parts_mut(argv, n) }
        };
        let mut caller = Caller {
            vmctx,
            store_id: data.store_id,
            _borrow: PhantomData,
        };
        // A panic must not unwind into generated code, which has no unwind
        // tables: it becomes a trap like any other host failure. (Without
        // `std` there is no unwinding to catch: targets without an OS
        // abort on panic.)
        #[cfg(not(feature = "std"))]
        match (func.callback)(&mut caller, slots) {
            Ok(()) => return 0,
            Err(trap) => trap,
        }
        #[cfg(feature = "std")]
        match catch_unwind(AssertUnwindSafe(|| (func.callback)(&mut caller, slots))) {
            Ok(Ok(())) => return 0,
            Ok(Err(trap)) => trap,
            Err(payload) => {
                let trap = Trap::new(format!(
                    "host function panicked: {}",
                    panic_message(payload.as_ref())
                ));
                // Dropping a payload may itself panic; keep that here too.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                trap
            }
        }
    };
    // SAFETY: the store outlives its instances, this thread holds it (wasm
    // of the store is running), and the callback's borrows ended above.
    unsafe { (*data.store).set_pending_trap(trap) };
    1
}

/// A handle to an exported function whose signature was checked to be
/// `Params -> Results` (see [`Instance::get_typed_func`]). Valid for every
/// instance of the same [`Artifact`].
pub struct TypedFunc<Params, Results> {
    artifact: Arc<Artifact>,
    index: u32,
    _signature: PhantomData<fn(Params) -> Results>,
}

impl<Params, Results> Clone for TypedFunc<Params, Results> {
    fn clone(&self) -> Self {
        TypedFunc {
            artifact: self.artifact.clone(),
            index: self.index,
            _signature: PhantomData,
        }
    }
}

impl<Params, Results> core::fmt::Debug for TypedFunc<Params, Results> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TypedFunc")
            .field("func_index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<Params: WasmTypeList, Results: WasmTypeList> TypedFunc<Params, Results> {
    pub(crate) fn new(artifact: Arc<Artifact>, index: u32) -> Self {
        TypedFunc {
            artifact,
            index,
            _signature: PhantomData,
        }
    }

    /// The function index (imports first) this handle calls.
    pub fn func_index(&self) -> u32 {
        self.index
    }

    /// Calls the function in `instance`, which must be an instance of the
    /// artifact this handle came from (otherwise a trap says so).
    ///
    /// The values are numbers (and `v128`s) only, so they need no
    /// conversion for the store.
    pub fn call(&self, instance: &mut Instance, params: Params) -> Result<Results, Trap> {
        if !Arc::ptr_eq(&self.artifact, instance.artifact()) {
            return Err(Trap::new(
                "typed function called with an instance of another artifact",
            ));
        }
        // The trait is sealed with at most six values of at most two slots.
        let mut argv = [0u64; MAX_LIST_SLOTS];
        let n = Params::SLOTS.max(Results::SLOTS).max(1);
        let slots = argv
            .get_mut(..n)
            .ok_or_else(|| Trap::internal("typed function with more than six values"))?;
        params.store(slots);
        instance.invoke(self.index, slots)?;
        Ok(Results::load(slots))
    }
}
