//! Linkers, host functions, instances, exported functions and calls.

use std::ffi::{c_char, c_void, CString};

use vibewasm_loader::{ExternKind, Func, FuncType, Instance, Linker, Trap, Val, ValType};

use crate::externs::{vw_global, vw_memory, vw_table};
use crate::module::{vw_module, vw_store};
use crate::val::{from_c, kind_of, to_c, types_of, vw_val, vw_valkind};
use crate::{
    c_string, drop_box, fail, ffi, ffi_err, get, get_mut, get_str, put, put_value, vw_error,
    vw_status, vw_trap, Res,
};

/// Definitions that satisfy imports (host functions, memories, tables,
/// globals, other instances' exports), bound to one store: instances are
/// created there.
pub struct vw_linker {
    pub(crate) linker: Linker,
}

/// An instance of a module. Keeps its store alive.
pub struct vw_instance {
    pub(crate) instance: Instance,
    export_names: Vec<(CString, ExternKind)>,
}

/// A function: an export of an instance, or a funcref value. Keeps its
/// store alive.
pub struct vw_func {
    pub(crate) func: Func,
}

impl vw_func {
    pub(crate) fn new(func: Func) -> vw_func {
        vw_func { func }
    }
}

/// What a host function sees of the wasm code calling it; valid only during
/// that call.
pub struct vw_caller {
    memory: Option<(*mut u8, usize)>,
    trap_message: Option<String>,
}

/// A host function: `argv` holds `argc = max(params, results)` values, the
/// arguments first; the function writes its results to `argv[0..results]`
/// (with their kinds) and returns 0, or returns nonzero to trap (with the
/// message given to `vw_caller_trap`, or "host function returned N").
/// `env` is the pointer given to `vw_linker_define_func`.
///
/// It runs on the thread that called into wasm, with the store busy: it
/// may not call into the same store (that fails with "store is busy"), nor
/// unwind (longjmp, C++ exceptions) through wasm frames.
pub type vw_host_func_callback = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        caller: *mut vw_caller,
        argc: usize,
        argv: *mut vw_val,
    ) -> i32,
>;

/// Called once with `env` when the last reference to a host function is
/// released (the linker and every instance that imported it); may be NULL.
pub type vw_finalizer = Option<unsafe extern "C" fn(env: *mut c_void)>;

/// The C function behind a host function and its environment.
struct HostEnv {
    callback: unsafe extern "C" fn(*mut c_void, *mut vw_caller, usize, *mut vw_val) -> i32,
    env: *mut c_void,
    finalizer: vw_finalizer,
}

// SAFETY: `env` is only handed back to the C callback and finalizer; the
// header tells the embedder that they may be called from any thread that
// runs wasm in the store (one at a time per store), which is the contract
// under which it gives them.
unsafe impl Send for HostEnv {}
// SAFETY: as for `Send`: the library never touches `env` itself.
unsafe impl Sync for HostEnv {}

impl Drop for HostEnv {
    fn drop(&mut self) {
        if let Some(finalizer) = self.finalizer {
            // SAFETY: the embedder's finalizer for its own `env`, called once.
            unsafe { finalizer(self.env) }
        }
    }
}

impl HostEnv {
    fn call(
        &self,
        caller: &mut vibewasm_loader::Caller<'_>,
        ty: &FuncType,
        args: &[Val],
    ) -> Result<Vec<Val>, Trap> {
        let n = ty.params.len().max(ty.results.len());
        let mut argv: Vec<vw_val> = Vec::with_capacity(n.max(1));
        for arg in args {
            // Funcref parameters are refused when the function is defined.
            argv.push(
                to_c(*arg, None).map_err(|_| Trap::new("funcref argument to a host function"))?,
            );
        }
        argv.resize(n, vw_val::i32(0));
        let mut c_caller = vw_caller {
            memory: caller.memory_mut().map(|m| (m.as_mut_ptr(), m.len())),
            trap_message: None,
        };
        // SAFETY: the embedder's callback with its `env`, a caller valid for
        // this call, and `n` values in `argv`, as `vw_host_func_callback`
        // documents.
        let status = unsafe { (self.callback)(self.env, &mut c_caller, n, argv.as_mut_ptr()) };
        if status != 0 {
            let message = c_caller
                .trap_message
                .unwrap_or_else(|| format!("host function returned {status}"));
            return Err(Trap::new(message));
        }
        let mut results = Vec::with_capacity(ty.results.len());
        for (i, (v, want)) in argv.iter().zip(&ty.results).enumerate() {
            if v.kind != kind_of(*want) {
                return Err(Trap::new(format!(
                    "host function of type {ty} wrote result {i} with kind {}, not {want}",
                    v.kind
                )));
            }
            // SAFETY: a funcref result is NULL or a `vw_func` the callback
            // borrowed to us (the crate's contract).
            match unsafe { from_c(v) } {
                Ok(val) => results.push(val),
                Err(crate::Failure::Error(m)) => return Err(Trap::new(m)),
                Err(crate::Failure::Trap(t)) => return Err(*t),
            }
        }
        Ok(results)
    }
}

/// A pointer to the calling instance's memory 0 in `*data` and its size in
/// bytes in `*len`; valid until the host function returns (wasm cannot grow
/// it meanwhile). Fails if the instance has no memory.
#[no_mangle]
pub unsafe extern "C" fn vw_caller_memory(
    caller: *const vw_caller,
    data: *mut *mut u8,
    len: *mut usize,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or the live caller of the running host function.
        let caller = unsafe { get(caller, "caller") }?;
        let Some((base, size)) = caller.memory else {
            return fail("the calling instance has no memory");
        };
        // SAFETY: NULL or writable out-pointers (crate contract).
        unsafe {
            put_value(data, base, "data")?;
            put_value(len, size, "len")
        }
    })
}

/// Sets the message of the trap the running host function raises by
/// returning nonzero (copied; NULL clears it).
#[no_mangle]
pub unsafe extern "C" fn vw_caller_trap(
    caller: *mut vw_caller,
    message: *const c_char,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or the live caller of the running host function.
        let caller = unsafe { get_mut(caller, "caller") }?;
        caller.trap_message = if message.is_null() {
            None
        } else {
            // SAFETY: a non-NULL C string (crate contract).
            Some(unsafe { get_str(message, "message") }?.to_string())
        };
        Ok(())
    })
}

/// A new linker bound to `store` (which it keeps alive): every instance it
/// creates lives there, and what it defines must belong there.
#[no_mangle]
pub unsafe extern "C" fn vw_linker_new(
    store: *const vw_store,
    out: *mut *mut vw_linker,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        let store = unsafe { get(store, "store") }?;
        let linker = Linker::with_store(store.store.clone());
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_linker { linker }) }
    })
}

/// Most 64 KiB pages a memory created by an instance of this linker, or by
/// it, may have (the engine's limit can only be lowered): instantiating a
/// module whose memory starts larger fails, and growing past it fails
/// (`memory.grow` returns -1). Applies to instances created afterwards.
#[no_mangle]
pub unsafe extern "C" fn vw_linker_set_memory_limit_pages(
    linker: *mut vw_linker,
    pages: u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live linker (crate contract).
        unsafe { get_mut(linker, "linker") }?
            .linker
            .memory_limit_pages(pages);
        Ok(())
    })
}

/// Releases a linker (NULL is ignored); instances it made stay valid.
#[no_mangle]
pub unsafe extern "C" fn vw_linker_delete(linker: *mut vw_linker) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(linker) }
}

/// Defines `module::name` as the host function `callback` of type
/// `params -> results` (arrays of `nparams` / `nresults` kinds; NULL when
/// empty). `env` is passed to every call; `finalizer` (may be NULL) is
/// called with it once the function is no longer referenced, also when
/// this function fails. Funcref parameters are not supported yet (funcref
/// results are).
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_func(
    linker: *mut vw_linker,
    module: *const c_char,
    name: *const c_char,
    params: *const vw_valkind,
    nparams: usize,
    results: *const vw_valkind,
    nresults: usize,
    callback: vw_host_func_callback,
    env: *mut c_void,
    finalizer: vw_finalizer,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        let Some(callback) = callback else {
            if let Some(f) = finalizer {
                // SAFETY: the embedder's finalizer for its own `env`.
                unsafe { f(env) }
            }
            return fail("callback is NULL");
        };
        let host = HostEnv {
            callback,
            env,
            finalizer,
        };
        // SAFETY: NULL or live objects / C strings / arrays (crate contract).
        let (linker, module, name, params, results) = unsafe {
            (
                get_mut(linker, "linker")?,
                get_str(module, "module")?,
                get_str(name, "name")?,
                types_of(params, nparams, "params")?,
                types_of(results, nresults, "results")?,
            )
        };
        if params.contains(&ValType::FuncRef) {
            return fail("funcref parameters of host functions are not supported by the C API yet");
        }
        let ty = FuncType { params, results };
        let sig = ty.clone();
        linker
            .linker
            .func_new(module, name, ty, move |caller, args| {
                host.call(caller, &sig, args)
            })?;
        Ok(())
    })
}

/// Defines `module::name` as the store object `object` (a memory, table
/// or global handle, called `what` in errors) that `ext` turns into an
/// extern.
///
/// # Safety
/// The crate contract: each pointer is NULL or a live object or C string.
unsafe fn define_object<T, E: Into<vibewasm_loader::Extern>>(
    linker: *mut vw_linker,
    module: *const c_char,
    name: *const c_char,
    object: *const T,
    what: &str,
    ext: impl FnOnce(&T) -> E,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects / C strings (the caller's contract).
        let (linker, module, name, object) = unsafe {
            (
                get_mut(linker, "linker")?,
                get_str(module, "module")?,
                get_str(name, "name")?,
                get(object, what)?,
            )
        };
        linker.linker.define_extern(module, name, ext(object))?;
        Ok(())
    })
}

/// Defines `module::name` as `memory` (of the linker's store).
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_memory(
    linker: *mut vw_linker,
    module: *const c_char,
    name: *const c_char,
    memory: *const vw_memory,
    error: *mut *mut vw_error,
) -> vw_status {
    // SAFETY: forwarded (the crate contract on handles and C strings).
    unsafe {
        define_object(
            linker,
            module,
            name,
            memory,
            "memory",
            |o| o.memory.clone(),
            error,
        )
    }
}

/// Defines `module::name` as `table` (of the linker's store).
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_table(
    linker: *mut vw_linker,
    module: *const c_char,
    name: *const c_char,
    table: *const vw_table,
    error: *mut *mut vw_error,
) -> vw_status {
    // SAFETY: forwarded (the crate contract on handles and C strings).
    unsafe {
        define_object(
            linker,
            module,
            name,
            table,
            "table",
            |o| o.table.clone(),
            error,
        )
    }
}

/// Defines `module::name` as `global` (of the linker's store).
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_global(
    linker: *mut vw_linker,
    module: *const c_char,
    name: *const c_char,
    global: *const vw_global,
    error: *mut *mut vw_error,
) -> vw_status {
    // SAFETY: forwarded (the crate contract on handles and C strings).
    unsafe {
        define_object(
            linker,
            module,
            name,
            global,
            "global",
            |o| o.global.clone(),
            error,
        )
    }
}

/// Defines every export of `instance` under the module name `module`.
#[no_mangle]
pub unsafe extern "C" fn vw_linker_define_instance(
    linker: *mut vw_linker,
    module: *const c_char,
    instance: *const vw_instance,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects / C strings (crate contract).
        let (linker, module, instance) = unsafe {
            (
                get_mut(linker, "linker")?,
                get_str(module, "module")?,
                get(instance, "instance")?,
            )
        };
        linker.linker.define_instance(module, &instance.instance)?;
        Ok(())
    })
}

/// Instantiates `module` in `store` (the linker's): resolves imports,
/// applies segments, runs the start function (`VW_TRAP` if it traps).
#[no_mangle]
pub unsafe extern "C" fn vw_linker_instantiate(
    linker: *const vw_linker,
    store: *const vw_store,
    module: *const vw_module,
    out: *mut *mut vw_instance,
    trap: *mut *mut vw_trap,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi(error, trap, || {
        // SAFETY: NULL or live objects (crate contract).
        let (linker, store, module) = unsafe {
            (
                get(linker, "linker")?,
                get(store, "store")?,
                get(module, "module")?,
            )
        };
        if out.is_null() {
            return fail("the out-parameter is NULL");
        }
        let mut store = store.store.clone();
        let instance = linker.linker.instantiate(&mut store, &module.module)?;
        let export_names = instance
            .exports()
            .map(|(name, kind)| (c_string(name), kind))
            .collect();
        // SAFETY: a writable out-pointer (checked non-NULL above).
        unsafe {
            put(
                out,
                vw_instance {
                    instance,
                    export_names,
                },
            )
        }
    })
}

/// Releases an instance handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_delete(instance: *mut vw_instance) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(instance) }
}

/// The kind of an import or export (`VW_EXTERN_*`).
pub type vw_externkind = u8;
/// A function.
pub const VW_EXTERN_FUNC: vw_externkind = 0;
/// A table.
pub const VW_EXTERN_TABLE: vw_externkind = 1;
/// A memory.
pub const VW_EXTERN_MEMORY: vw_externkind = 2;
/// A global.
pub const VW_EXTERN_GLOBAL: vw_externkind = 3;

/// How many exports the instance has (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_export_count(instance: *const vw_instance) -> usize {
    // SAFETY: NULL or a live instance (crate contract).
    unsafe { instance.as_ref() }.map_or(0, |i| i.export_names.len())
}

/// The name of export `index` (valid while the instance handle lives), or
/// NULL if there is no such export.
#[no_mangle]
pub unsafe extern "C" fn vw_instance_export_name(
    instance: *const vw_instance,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or a live instance (crate contract).
    match unsafe { instance.as_ref() }.and_then(|i| i.export_names.get(index)) {
        Some((name, _)) => name.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The kind of export `index` (`VW_EXTERN_*`), or 255 if there is none.
#[no_mangle]
pub unsafe extern "C" fn vw_instance_export_kind(
    instance: *const vw_instance,
    index: usize,
) -> vw_externkind {
    // SAFETY: NULL or a live instance (crate contract).
    unsafe { instance.as_ref() }
        .and_then(|i| i.export_names.get(index))
        .map_or(255, |(_, kind)| extern_kind(*kind))
}

pub(crate) fn extern_kind(kind: ExternKind) -> vw_externkind {
    match kind {
        ExternKind::Func => VW_EXTERN_FUNC,
        ExternKind::Table => VW_EXTERN_TABLE,
        ExternKind::Memory => VW_EXTERN_MEMORY,
        ExternKind::Global => VW_EXTERN_GLOBAL,
    }
}

/// The exported function `name` (a new handle the caller owns).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_get_func(
    instance: *const vw_instance,
    name: *const c_char,
    out: *mut *mut vw_func,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live instance / a C string (crate contract).
        let (instance, name) = unsafe { (get(instance, "instance")?, get_str(name, "name")?) };
        let i = &instance.instance;
        let Some(func) = i.get_func(i.store(), name) else {
            return fail(format!("no exported function named '{name}'"));
        };
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_func::new(func)) }
    })
}

/// Releases a function handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_func_delete(func: *mut vw_func) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(func) }
}

/// How many parameters the function takes (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_func_param_count(func: *const vw_func) -> usize {
    // SAFETY: NULL or a live function (crate contract).
    unsafe { func.as_ref() }.map_or(0, |f| f.func.ty().params.len())
}

/// How many results the function returns (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_func_result_count(func: *const vw_func) -> usize {
    // SAFETY: NULL or a live function (crate contract).
    unsafe { func.as_ref() }.map_or(0, |f| f.func.ty().results.len())
}

/// The kind of parameter `index`, or 255 if there is none.
#[no_mangle]
pub unsafe extern "C" fn vw_func_param_kind(func: *const vw_func, index: usize) -> vw_valkind {
    // SAFETY: NULL or a live function (crate contract).
    let ty = unsafe { func.as_ref() }.and_then(|f| f.func.ty().params.get(index).copied());
    ty.map_or(255, kind_of)
}

/// The kind of result `index`, or 255 if there is none.
#[no_mangle]
pub unsafe extern "C" fn vw_func_result_kind(func: *const vw_func, index: usize) -> vw_valkind {
    // SAFETY: NULL or a live function (crate contract).
    let ty = unsafe { func.as_ref() }.and_then(|f| f.func.ty().results.get(index).copied());
    ty.map_or(255, kind_of)
}

/// Calls `func` (a function of `store`) with the `argc` arguments in `argv`,
/// whose number and kinds must match its parameters (else `VW_ERROR`, and
/// nothing runs). Its results (`vw_func_result_count` of them, at most
/// `results_cap`, else `VW_ERROR` before running) go to `results`; funcref
/// results are new handles the caller owns (`vw_val_delete`). A trap is
/// `VW_TRAP`, with the trap in `*trap` (or its message in `*error` if
/// `trap` is NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_call(
    store: *const vw_store,
    func: *const vw_func,
    argc: usize,
    argv: *const vw_val,
    results_cap: usize,
    results: *mut vw_val,
    trap: *mut *mut vw_trap,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi(error, trap, || {
        // SAFETY: NULL or live objects (crate contract).
        let (store, func) = unsafe { (get(store, "store")?, get(func, "func")?) };
        let ty = func.func.ty();
        if argc != ty.params.len() {
            return fail(format!(
                "function of type {ty} takes {} arguments, {argc} given",
                ty.params.len()
            ));
        }
        if results_cap < ty.results.len() {
            return fail(format!(
                "function of type {ty} returns {} results, room for {results_cap} given",
                ty.results.len()
            ));
        }
        if !ty.results.is_empty() && results.is_null() {
            return fail("results is NULL");
        }
        let argv: &[vw_val] = if argc == 0 {
            &[]
        } else if argv.is_null() {
            return fail("argv is NULL");
        } else {
            // SAFETY: `argc` values at `argv` (crate contract).
            unsafe { std::slice::from_raw_parts(argv, argc) }
        };
        let mut args = Vec::with_capacity(argc);
        for (i, (v, want)) in argv.iter().zip(&ty.params).enumerate() {
            if v.kind != kind_of(*want) {
                return fail(format!(
                    "argument {i} of function of type {ty}: kind {} given, {want} expected",
                    v.kind
                ));
            }
            // SAFETY: a funcref argument is NULL or a live function.
            args.push(unsafe { from_c(v) }?);
        }
        let mut s = store.store.clone();
        let out = s.call(func.func.clone(), &args)?;
        let converted: Res<Vec<vw_val>> = out.into_iter().map(|v| to_c(v, Some(&s))).collect();
        for (i, v) in converted?.into_iter().enumerate() {
            // SAFETY: `results` has room for `results_cap >= results` values.
            unsafe { results.add(i).write(v) };
        }
        Ok(())
    })
}

/// Calls the exported function `name` of `instance`: `vw_instance_get_func`
/// and `vw_call` in one.
#[no_mangle]
pub unsafe extern "C" fn vw_instance_call(
    instance: *const vw_instance,
    name: *const c_char,
    argc: usize,
    argv: *const vw_val,
    results_cap: usize,
    results: *mut vw_val,
    trap: *mut *mut vw_trap,
    error: *mut *mut vw_error,
) -> vw_status {
    let mut func: *mut vw_func = std::ptr::null_mut();
    // SAFETY: the caller's pointers, as this function's contract says.
    let status = unsafe { vw_instance_get_func(instance, name, &mut func, error) };
    if status != crate::VW_OK {
        // SAFETY: NULL or a writable out-pointer (crate contract).
        if let Some(t) = unsafe { trap.as_mut() } {
            *t = std::ptr::null_mut();
        }
        return status;
    }
    // SAFETY: `instance` is a live instance: the lookup through it succeeded.
    let instance = unsafe { &*instance };
    let store = vw_store {
        store: instance.instance.store().clone(),
    };
    // SAFETY: live store and function; the rest is the caller's.
    let status = unsafe { vw_call(&store, func, argc, argv, results_cap, results, trap, error) };
    // SAFETY: made by `vw_instance_get_func` above.
    unsafe { vw_func_delete(func) };
    status
}
