//! Entering wasm: the host entry trampoline, the stack limit, and turning a
//! trap reported through the store's [`RuntimeState`] into a [`Trap`].
//!
//! [`RuntimeState`]: vibewasm_format::vmctx::RuntimeState

use crate::prelude::*;
use vibewasm_format::vmctx::{FuncRef, HOST_STATE};
use vibewasm_format::{FuncType, TrapCode, ValType};

use crate::error::{AccessError, CallError, Error};
use crate::instance::InstanceData;
use crate::stack;
use crate::store::{Store, StoreGuard};
use crate::trap::Trap;
use crate::values::{SlotError, Val};

/// `extern "C" fn(vmctx, argv, code) -> u32`: an artifact's host entry trampoline.
type HostEntryFn = unsafe extern "C" fn(*mut u8, *mut u64, *const u8) -> u32;

/// Calls the function `func` of `store` with `args` checked against `ty`
/// (`name` is for messages).
pub(crate) fn call_func_ref(
    store: &Store,
    func: *const FuncRef,
    name: &str,
    ty: &FuncType,
    args: &[Val],
) -> Result<Vec<Val>, Error> {
    check_args(name, ty, args)?;
    let id = store.id();
    // Values sit at the positions `vibewasm_format::slot_offsets` gives,
    // counted here as they go (no allocation for the offsets).
    let slots = |types: &[ValType]| types.iter().map(|t| t.slots()).sum::<usize>();
    let mut argv = vec![0u64; slots(&ty.params).max(slots(&ty.results)).max(1)];
    let mut at = 0;
    for arg in args {
        arg.write_slots_in(&mut argv, at, id).map_err(|e| match e {
            SlotError::ForeignFuncRef => Error::Access(AccessError::ForeignStore),
            SlotError::TooShort => Trap::internal("argument array too short").into(),
        })?;
        at += arg.ty().slots();
    }
    // A busy store is a refusal, not a trap of the callee.
    let mut guard = store.enter().map_err(Error::Access)?;
    invoke_in(&mut guard, func, &mut argv)?;
    drop(guard);
    let mut at = 0;
    Ok(ty
        .results
        .iter()
        .filter_map(|t| {
            let val = Val::read_slots_in(*t, &argv, at, id);
            at += t.slots();
            val
        })
        .collect())
}

/// Checks that `args` fit `ty`.
pub(crate) fn check_args(name: &str, ty: &FuncType, args: &[Val]) -> Result<(), CallError> {
    if args.len() != ty.params.len() {
        return Err(CallError::ArgumentCount {
            name: name.to_string(),
            expected: ty.params.len(),
            found: args.len(),
            ty: ty.clone(),
        });
    }
    if let Some((i, (arg, expected))) = args
        .iter()
        .zip(&ty.params)
        .enumerate()
        .find(|(_, (a, t))| a.ty() != **t)
    {
        return Err(CallError::ArgumentType {
            name: name.to_string(),
            index: i,
            expected: *expected,
            found: arg.ty(),
            ty: ty.clone(),
        });
    }
    Ok(())
}

/// Runs the function `func` of `store` with `argv` (enough slots for its
/// signature, `max(param slots, result slots)`, arguments stored at their
/// `slot_offsets`); the results replace the arguments.
pub(crate) fn invoke_func_ref(
    store: &Store,
    func: *const FuncRef,
    argv: &mut [u64],
) -> Result<(), Trap> {
    let mut guard = store.enter().map_err(|e| Trap::new(e.to_string()))?;
    invoke_in(&mut guard, func, argv)
}

/// As [`invoke_func_ref`], with the store already taken.
pub(crate) fn invoke_in(
    guard: &mut StoreGuard<'_>,
    func: *const FuncRef,
    argv: &mut [u64],
) -> Result<(), Trap> {
    if argv.is_empty() || func.is_null() {
        return Err(Trap::internal("call without a function or argument slots"));
    }
    // SAFETY: callers pass a record of an instance of this store (read from
    // its vmctx, or a handle whose store id was checked); records live as
    // long as the store.
    let FuncRef { code, vmctx, .. } = unsafe { *func };
    // SAFETY: as for `func` above: the record's vmctx belongs to a live
    // instance of this store, whose HOST_STATE slot holds its data (written
    // at instantiation, before any record of it existed). Reading it costs
    // one load; looking the vmctx up in `Objects::by_vmctx` cost a third of
    // a host-to-wasm call, so that check only runs in debug builds.
    let data = unsafe { &*crate::raw::read_vmctx_ptr::<InstanceData>(vmctx, HOST_STATE) };
    debug_assert!(guard.objects().instance_at(vmctx).is_some());
    if data.store_id != guard.id() {
        return Err(Trap::internal("function of an instance of another store"));
    }
    // The trampoline lies in the artifact's code, which the instance (owned
    // by the store) keeps mapped.
    let entry = data
        .host_entry
        .ok_or_else(|| Trap::internal("artifact without a host entry trampoline"))?;
    // Each entry takes the store, so this is always the outermost entry
    // into it: set the limit for this thread's stack.
    let limit = stack::wasm_stack_limit(guard.max_wasm_stack())
        .ok_or_else(|| Trap::from_code(TrapCode::StackOverflow))?;
    let runtime = guard.runtime();
    // SAFETY: the runtime state lives as long as the store; generated code
    // does not run right now.
    unsafe {
        (*runtime).stack_limit = limit;
        // Code with epoch checks reads the counter: it must point to one
        // (the store's own, until the host sets another).
        if (*runtime).epoch_counter.is_null() {
            // SAFETY: the store owns the counter and keeps it alive.
            (*runtime).epoch_counter = (*guard.store_ptr()).sandbox.counter_ptr();
        }
    }
    guard.take_pending_trap();

    // SAFETY: `entry` is the host entry trampoline inside the executable
    // code mapping of the callee's artifact, with this exact C signature (the
    // artifact ABI; the artifact passed all format checks and is trusted to
    // follow it). Its arguments: the callee's live, fully initialised vmctx,
    // whose runtime slot points to this store's runtime state; `argv` with
    // enough slots for the callee's signature (callers check it); `code`,
    // the callee's entry. This thread holds the store, and no Rust reference
    // to the vmctx, runtime state, memories or tables is alive across the call.
    let status = unsafe {
        let entry = core::mem::transmute::<*const u8, HostEntryFn>(entry);
        entry(vmctx, argv.as_mut_ptr(), code)
    };
    if status == 0 {
        Ok(())
    } else {
        Err(take_trap(guard))
    }
}

/// The trap generated code just reported through the runtime state.
fn take_trap(guard: &mut StoreGuard<'_>) -> Trap {
    let runtime = guard.runtime();
    // SAFETY: the runtime state lives as long as the store; the trap stub
    // wrote it before unwinding, and no code runs now.
    let (site_index, vmctx) = unsafe { ((*runtime).trap_site, (*runtime).trap_vmctx) };
    let pending = guard.take_pending_trap();
    // SAFETY: this thread holds the store and no wasm runs; the frames were
    // recorded by this store's trap stub just now, and their artifacts are
    // kept alive by the store's instances.
    let backtrace = unsafe { crate::backtrace::take(&(*guard.store_ptr()).sandbox.backtrace) };
    let Some(data) = guard.objects().instance_at(vmctx) else {
        return Trap::internal(format!(
            "generated code reported a trap in vmctx {vmctx:?}, which is not an instance of this store"
        ));
    };
    let tables = data.artifact.tables();
    let Some(site) = tables.trap_for_number(site_index) else {
        return Trap::internal(format!(
            "generated code reported trap site {site_index:#x}, which the artifact's {} trap \
             and {} fault sites do not describe",
            tables.num_traps(),
            tables.num_fault_sites()
        ));
    };
    let mut trap = match site.code {
        TrapCode::HostError => {
            pending.unwrap_or_else(|| Trap::internal("a host function failed without an error"))
        }
        code => Trap::from_code(code),
    };
    if trap.func.is_none() {
        let imported = site.func < data.layout.num_imported_funcs;
        trap.func = Some(site.func);
        let meta = data.artifact.metadata();
        trap.func_name = crate::backtrace::func_display_name(meta, &tables, site.func);
        // Import stubs have no wasm code of their own.
        trap.wasm_offset = (!imported).then_some(site.wasm_offset);
        trap.backtrace = backtrace;
    }
    trap
}
