//! Engines, stores, trusted keys and modules (loaded artifacts).

use std::ffi::{c_char, CString};
use std::sync::Arc;

use vibewasm_loader::{
    Artifact, Engine, EngineConfig, ImportKind, Module, PublicKey, Store, TrustedKeys,
};

use crate::func::{
    extern_kind, vw_externkind, VW_EXTERN_FUNC, VW_EXTERN_GLOBAL, VW_EXTERN_MEMORY, VW_EXTERN_TABLE,
};
use crate::{
    c_string, drop_box, fail, ffi_err, get, get_bytes, get_mut, get_str, put, put_value, vw_error,
    vw_status,
};

/// Settings shared by stores and modules, and the epoch counter every store
/// made from it starts with. Thread-safe: `vw_engine_increment_epoch` may be
/// called from any thread (a timer, a watchdog) while wasm runs.
pub struct vw_engine {
    pub(crate) engine: Arc<Engine>,
}

/// A store: the runtime state, instances, memories, tables and globals of a
/// group of instances that may call each other. One thread at a time: an
/// operation on a store that is running wasm (in another thread, or in the
/// same one from inside a host function) fails with "store is busy".
pub struct vw_store {
    pub(crate) store: Store,
}

/// A loaded, checked artifact (`.vwa`), ready to be instantiated any number
/// of times. Immutable; may be shared between threads.
pub struct vw_module {
    pub(crate) module: Module,
    /// Module and name of every import, and its kind.
    imports: Vec<(CString, CString, vw_externkind)>,
    /// Name and kind of every export.
    exports: Vec<(CString, vw_externkind)>,
}

impl vw_module {
    fn new(module: Module) -> vw_module {
        let imports = module
            .imports()
            .iter()
            .map(|i| {
                let kind = match i.kind {
                    ImportKind::Func(_) => VW_EXTERN_FUNC,
                    ImportKind::Table(_) => VW_EXTERN_TABLE,
                    ImportKind::Memory(_) => VW_EXTERN_MEMORY,
                    ImportKind::Global(_) => VW_EXTERN_GLOBAL,
                };
                (c_string(i.module.as_str()), c_string(i.name.as_str()), kind)
            })
            .collect();
        let exports = module
            .exports()
            .iter()
            .map(|e| (c_string(e.name.as_str()), extern_kind(e.kind)))
            .collect();
        vw_module {
            module,
            imports,
            exports,
        }
    }
}

/// The Ed25519 public keys whose signatures `vw_module_*_trusted` accept.
pub struct vw_trusted_keys {
    keys: TrustedKeys,
}

/// A new engine with the default settings (1 MiB of wasm stack, memories
/// of up to 65536 pages). Never fails; release it with `vw_engine_delete`
/// (stores and modules made from it keep what they need).
#[no_mangle]
pub extern "C" fn vw_engine_new() -> *mut vw_engine {
    Box::into_raw(Box::new(vw_engine {
        engine: Arc::new(Engine::default()),
    }))
}

/// A new engine whose stores start with `max_wasm_stack` bytes of wasm
/// stack (0: the default) and whose memories may have at most
/// `memory_limit_pages` 64 KiB pages (0: the default, 65536).
#[no_mangle]
pub extern "C" fn vw_engine_new_with_limits(
    max_wasm_stack: usize,
    memory_limit_pages: u64,
) -> *mut vw_engine {
    let mut config = EngineConfig::default();
    if max_wasm_stack != 0 {
        config.max_wasm_stack = max_wasm_stack;
    }
    if memory_limit_pages != 0 {
        config.memory_limit_pages = memory_limit_pages;
    }
    Box::into_raw(Box::new(vw_engine {
        engine: Arc::new(Engine::new(config)),
    }))
}

/// Releases an engine handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_engine_delete(engine: *mut vw_engine) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(engine) }
}

/// Advances the engine's epoch by one tick (any thread); `*epoch` (if not
/// NULL) receives the new value. Stores past their deadline trap
/// "interrupted" at the next epoch check of code compiled with epochs.
#[no_mangle]
pub unsafe extern "C" fn vw_engine_increment_epoch(
    engine: *const vw_engine,
    epoch: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live engine (crate contract).
        let engine = unsafe { get(engine, "engine") }?;
        let now = engine.engine.increment_epoch();
        if !epoch.is_null() {
            // SAFETY: non-NULL out-pointer (crate contract).
            unsafe { put_value(epoch, now, "epoch") }?;
        }
        Ok(())
    })
}

/// A new, empty store of `engine`.
#[no_mangle]
pub unsafe extern "C" fn vw_store_new(
    engine: *const vw_engine,
    out: *mut *mut vw_store,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live engine (crate contract).
        let engine = unsafe { get(engine, "engine") }?;
        let store = Store::new(engine.engine.clone());
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_store { store }) }
    })
}

/// Releases a store handle (NULL is ignored). Instances and externs of the
/// store keep it alive until they are released too.
#[no_mangle]
pub unsafe extern "C" fn vw_store_delete(store: *mut vw_store) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(store) }
}

/// Borrows a store argument.
///
/// # Safety
/// `store` is NULL or a live store.
unsafe fn store_arg<'a>(store: *const vw_store) -> crate::Res<&'a Store> {
    // SAFETY: guaranteed by the caller.
    Ok(&unsafe { get(store, "store") }?.store)
}

/// Sets the store's fuel (for code compiled with fuel metering: each
/// operator costs one unit; running out traps "out of fuel").
#[no_mangle]
pub unsafe extern "C" fn vw_store_set_fuel(
    store: *const vw_store,
    fuel: u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        unsafe { store_arg(store) }?.set_fuel(fuel)?;
        Ok(())
    })
}

/// Adds fuel; `*total` (if not NULL) receives the new amount.
#[no_mangle]
pub unsafe extern "C" fn vw_store_add_fuel(
    store: *const vw_store,
    fuel: u64,
    total: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        let now = unsafe { store_arg(store) }?.add_fuel(fuel)?;
        if !total.is_null() {
            // SAFETY: non-NULL out-pointer (crate contract).
            unsafe { put_value(total, now, "total") }?;
        }
        Ok(())
    })
}

/// The fuel left in `*fuel`.
#[no_mangle]
pub unsafe extern "C" fn vw_store_get_fuel(
    store: *const vw_store,
    fuel: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store; NULL or a writable out-pointer.
        unsafe { put_value(fuel, store_arg(store)?.fuel(), "fuel") }
    })
}

/// Sets the store's epoch deadline `ticks` ticks of its engine's epoch from
/// now (for code compiled with epoch checks: past it, wasm traps
/// "interrupted").
#[no_mangle]
pub unsafe extern "C" fn vw_store_set_epoch_deadline(
    store: *const vw_store,
    ticks: u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        unsafe { store_arg(store) }?.set_epoch_deadline(ticks)?;
        Ok(())
    })
}

/// Removes the store's epoch deadline.
#[no_mangle]
pub unsafe extern "C" fn vw_store_clear_epoch_deadline(
    store: *const vw_store,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        unsafe { store_arg(store) }?.clear_epoch_deadline()?;
        Ok(())
    })
}

/// How much stack wasm may use below the point where it is entered (the
/// thread's own stack caps it further); deeper recursion traps "call stack
/// exhausted" (`VW_TRAP_STACK_OVERFLOW`).
#[no_mangle]
pub unsafe extern "C" fn vw_store_set_max_wasm_stack(
    store: *const vw_store,
    bytes: usize,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        unsafe { store_arg(store) }?.set_max_wasm_stack(bytes);
        Ok(())
    })
}

/// An empty set of trusted keys. Never fails; release with
/// `vw_trusted_keys_delete`.
#[no_mangle]
pub extern "C" fn vw_trusted_keys_new() -> *mut vw_trusted_keys {
    Box::into_raw(Box::new(vw_trusted_keys {
        keys: TrustedKeys::new(),
    }))
}

/// Releases a key set (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_trusted_keys_delete(keys: *mut vw_trusted_keys) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(keys) }
}

/// Adds the public key in the file `path` (what `vibewasmc keygen` writes).
#[no_mangle]
pub unsafe extern "C" fn vw_trusted_keys_add_file(
    keys: *mut vw_trusted_keys,
    path: *const c_char,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live key set; NULL or a C string.
        let (keys, path) = unsafe { (get_mut(keys, "keys")?, get_str(path, "path")?) };
        keys.keys.add_file(path)?;
        Ok(())
    })
}

/// Adds a public key given as its 32 raw bytes (`len` must be 32).
#[no_mangle]
pub unsafe extern "C" fn vw_trusted_keys_add_bytes(
    keys: *mut vw_trusted_keys,
    key: *const u8,
    len: usize,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live key set; NULL or `len` readable bytes.
        let (keys, bytes) = unsafe { (get_mut(keys, "keys")?, get_bytes(key, len, "key")?) };
        let Ok(bytes) = <&[u8; 32]>::try_from(bytes) else {
            return fail(format!("a public key has 32 bytes, not {len}"));
        };
        match PublicKey::from_bytes(bytes) {
            Ok(key) => {
                keys.keys.add(key);
                Ok(())
            }
            Err(e) => fail(e.to_string()),
        }
    })
}

/// Loads the artifact file at `path` (checked: header, checksum, target,
/// CPU features, metadata; code mapped from the file).
#[no_mangle]
pub unsafe extern "C" fn vw_module_from_file(
    engine: *const vw_engine,
    path: *const c_char,
    out: *mut *mut vw_module,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live engine; NULL or a C string.
        let (engine, path) = unsafe { (get(engine, "engine")?, get_str(path, "path")?) };
        let module = Module::from_file(&engine.engine, path)?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_module::new(module)) }
    })
}

/// Loads an artifact from `len` bytes at `data` (checked as a file is; the
/// code is copied, so the buffer may be freed afterwards).
#[no_mangle]
pub unsafe extern "C" fn vw_module_from_buffer(
    engine: *const vw_engine,
    data: *const u8,
    len: usize,
    out: *mut *mut vw_module,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live engine; NULL or `len` readable bytes.
        let (engine, bytes) = unsafe { (get(engine, "engine")?, get_bytes(data, len, "data")?) };
        let module = Module::from_artifact_bytes(&engine.engine, bytes)?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_module::new(module)) }
    })
}

/// Loads a signed artifact file: read into memory once, checked, its
/// Ed25519 signature verified against `keys`, and only then its code made
/// executable. Unsigned artifacts and other signers are refused.
#[no_mangle]
pub unsafe extern "C" fn vw_module_from_file_trusted(
    engine: *const vw_engine,
    path: *const c_char,
    keys: *const vw_trusted_keys,
    out: *mut *mut vw_module,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects / a C string (crate contract).
        let (engine, path, keys) = unsafe {
            (
                get(engine, "engine")?,
                get_str(path, "path")?,
                get(keys, "keys")?,
            )
        };
        let artifact = Artifact::open_trusted(path, &keys.keys)?;
        let module = Module::from_artifact(&engine.engine, Arc::new(artifact))?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_module::new(module)) }
    })
}

/// `vw_module_from_file_trusted` for an artifact held in memory.
#[no_mangle]
pub unsafe extern "C" fn vw_module_from_buffer_trusted(
    engine: *const vw_engine,
    data: *const u8,
    len: usize,
    keys: *const vw_trusted_keys,
    out: *mut *mut vw_module,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects / `len` readable bytes (crate contract).
        let (engine, bytes, keys) = unsafe {
            (
                get(engine, "engine")?,
                get_bytes(data, len, "data")?,
                get(keys, "keys")?,
            )
        };
        let artifact = Artifact::from_bytes_trusted(bytes, &keys.keys)?;
        let module = Module::from_artifact(&engine.engine, Arc::new(artifact))?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_module::new(module)) }
    })
}

/// Releases a module (NULL is ignored); its instances keep what they need.
#[no_mangle]
pub unsafe extern "C" fn vw_module_delete(module: *mut vw_module) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(module) }
}

/// How many imports the module has (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_module_import_count(module: *const vw_module) -> usize {
    // SAFETY: NULL or a live module (crate contract).
    unsafe { module.as_ref() }.map_or(0, |m| m.imports.len())
}

/// The module name of import `index` (the `env` of `env.log`), or NULL if
/// there is no such import. Valid while the module lives.
#[no_mangle]
pub unsafe extern "C" fn vw_module_import_module(
    module: *const vw_module,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or a live module (crate contract).
    match unsafe { module.as_ref() }.and_then(|m| m.imports.get(index)) {
        Some((module, _, _)) => module.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The name of import `index` (the `log` of `env.log`), or NULL if there is
/// no such import. Valid while the module lives.
#[no_mangle]
pub unsafe extern "C" fn vw_module_import_name(
    module: *const vw_module,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or a live module (crate contract).
    match unsafe { module.as_ref() }.and_then(|m| m.imports.get(index)) {
        Some((_, name, _)) => name.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The kind of import `index` (`VW_EXTERN_*`), or 255 if there is none.
#[no_mangle]
pub unsafe extern "C" fn vw_module_import_kind(
    module: *const vw_module,
    index: usize,
) -> vw_externkind {
    // SAFETY: NULL or a live module (crate contract).
    unsafe { module.as_ref() }
        .and_then(|m| m.imports.get(index))
        .map_or(255, |i| i.2)
}

/// How many exports the module has (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_module_export_count(module: *const vw_module) -> usize {
    // SAFETY: NULL or a live module (crate contract).
    unsafe { module.as_ref() }.map_or(0, |m| m.exports.len())
}

/// The name of export `index`, or NULL if there is no such export. Valid
/// while the module lives.
#[no_mangle]
pub unsafe extern "C" fn vw_module_export_name(
    module: *const vw_module,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or a live module (crate contract).
    match unsafe { module.as_ref() }.and_then(|m| m.exports.get(index)) {
        Some((name, _)) => name.as_ptr(),
        None => std::ptr::null(),
    }
}

/// The kind of export `index` (`VW_EXTERN_*`), or 255 if there is none.
#[no_mangle]
pub unsafe extern "C" fn vw_module_export_kind(
    module: *const vw_module,
    index: usize,
) -> vw_externkind {
    // SAFETY: NULL or a live module (crate contract).
    unsafe { module.as_ref() }
        .and_then(|m| m.exports.get(index))
        .map_or(255, |e| e.1)
}
