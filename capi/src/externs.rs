//! Memories, tables and globals: created by the host or exported by
//! instances.

use std::ffi::c_char;

use vibewasm_loader::{Global, GlobalType, Memory, MemoryType, Table, TableType, Val};

use crate::func::vw_instance;
use crate::module::vw_store;
use crate::val::{from_c, to_c, type_of, vw_val, vw_valkind};
use crate::{
    drop_box, fail, ffi_err, get, get_bytes, get_str, put, put_value, vw_error, vw_status, Res,
};

/// "No maximum", for the `max` of `vw_memory_new` and `vw_table_new`.
pub const VW_NO_MAX: u64 = u64::MAX;

/// A linear memory. Keeps its store alive.
pub struct vw_memory {
    pub(crate) memory: Memory,
}

/// A table. Keeps its store alive.
pub struct vw_table {
    pub(crate) table: Table,
}

/// A global. Keeps its store alive.
pub struct vw_global {
    pub(crate) global: Global,
}

fn max_of(max: u64) -> Option<u64> {
    (max != VW_NO_MAX).then_some(max)
}

/// A value argument.
///
/// # Safety
/// `v` is NULL or a live value whose funcref, if any, is NULL or live.
unsafe fn val_arg(v: *const vw_val, what: &str) -> Res<Val> {
    // SAFETY: guaranteed by the caller.
    unsafe { from_c(get(v, what)?) }
}

/// A new memory in `store` of `min_pages` 64 KiB pages, growing up to
/// `max_pages` (`VW_NO_MAX`: up to the engine's limit).
#[no_mangle]
pub unsafe extern "C" fn vw_memory_new(
    store: *const vw_store,
    min_pages: u64,
    max_pages: u64,
    out: *mut *mut vw_memory,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live store (crate contract).
        let store = unsafe { get(store, "store") }?;
        let ty = MemoryType {
            min_pages,
            max_pages: max_of(max_pages),
            index64: false,
        };
        let memory = Memory::new(&store.store, ty)?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_memory { memory }) }
    })
}

/// Releases a memory handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_memory_delete(memory: *mut vw_memory) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(memory) }
}

/// The memory's size in 64 KiB pages, in `*pages`.
#[no_mangle]
pub unsafe extern "C" fn vw_memory_size(
    memory: *const vw_memory,
    pages: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live memory (crate contract).
        let size = unsafe { get(memory, "memory") }?.memory.size_pages()?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put_value(pages, size, "pages") }
    })
}

/// Grows the memory by `delta` pages; `*old_pages` (if not NULL) receives
/// the size before. Growing past its maximum or limit is `VW_ERROR`.
#[no_mangle]
pub unsafe extern "C" fn vw_memory_grow(
    memory: *const vw_memory,
    delta: u64,
    old_pages: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live memory (crate contract).
        let memory = unsafe { get(memory, "memory") }?;
        let Some(old) = memory.memory.grow(delta)? else {
            return fail(format!("the memory cannot grow by {delta} pages"));
        };
        if !old_pages.is_null() {
            // SAFETY: non-NULL out-pointer (crate contract).
            unsafe { put_value(old_pages, old, "old_pages") }?;
        }
        Ok(())
    })
}

/// Copies `len` bytes at `offset` of the memory to `buf` (out of bounds is
/// `VW_ERROR`, nothing copied).
#[no_mangle]
pub unsafe extern "C" fn vw_memory_read(
    memory: *const vw_memory,
    offset: u64,
    buf: *mut u8,
    len: usize,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live memory (crate contract).
        let memory = unsafe { get(memory, "memory") }?;
        if len == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return fail("buf is NULL");
        }
        // SAFETY: `len` writable bytes at `buf` (crate contract).
        let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
        memory.memory.read(offset, out)?;
        Ok(())
    })
}

/// Copies `len` bytes from `data` to `offset` of the memory (out of bounds
/// is `VW_ERROR`, nothing written).
#[no_mangle]
pub unsafe extern "C" fn vw_memory_write(
    memory: *const vw_memory,
    offset: u64,
    data: *const u8,
    len: usize,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live memory; NULL or `len` readable bytes.
        let (memory, data) = unsafe { (get(memory, "memory")?, get_bytes(data, len, "data")?) };
        memory.memory.write(offset, data)?;
        Ok(())
    })
}

/// A new table in `store` of `min` elements of kind `element` (`VW_FUNCREF`
/// or `VW_EXTERNREF`), all `*init` (of that kind), growing up to `max`
/// (`VW_NO_MAX`: no maximum).
#[no_mangle]
pub unsafe extern "C" fn vw_table_new(
    store: *const vw_store,
    element: vw_valkind,
    min: u64,
    max: u64,
    init: *const vw_val,
    out: *mut *mut vw_table,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (store, init) = unsafe { (get(store, "store")?, val_arg(init, "init")?) };
        let ty = TableType {
            element: type_of(element)?,
            min,
            max: max_of(max),
            index64: false,
        };
        let table = Table::new(&store.store, ty, init)?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_table { table }) }
    })
}

/// Releases a table handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_table_delete(table: *mut vw_table) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(table) }
}

/// The number of elements, in `*size`.
#[no_mangle]
pub unsafe extern "C" fn vw_table_size(
    table: *const vw_table,
    size: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live table (crate contract).
        let n = unsafe { get(table, "table") }?.table.size()?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put_value(size, n, "size") }
    })
}

/// Element `index` in `*out` (a funcref there is a new handle the caller
/// owns: `vw_val_delete`). Out of bounds is `VW_ERROR`.
#[no_mangle]
pub unsafe extern "C" fn vw_table_get(
    table: *const vw_table,
    index: u64,
    out: *mut vw_val,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live table (crate contract).
        let table = &unsafe { get(table, "table") }?.table;
        let value = to_c(table.get(index)?, Some(table.store()))?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put_value(out, value, "out") }
    })
}

/// Sets element `index` to `*value` (borrowed).
#[no_mangle]
pub unsafe extern "C" fn vw_table_set(
    table: *const vw_table,
    index: u64,
    value: *const vw_val,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (table, value) = unsafe { (get(table, "table")?, val_arg(value, "value")?) };
        table.table.set(index, value)?;
        Ok(())
    })
}

/// Grows the table by `delta` elements set to `*init`; `*old_size` (if not
/// NULL) receives the size before. Past its maximum is `VW_ERROR`.
#[no_mangle]
pub unsafe extern "C" fn vw_table_grow(
    table: *const vw_table,
    delta: u64,
    init: *const vw_val,
    old_size: *mut u64,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (table, init) = unsafe { (get(table, "table")?, val_arg(init, "init")?) };
        let Some(old) = table.table.grow(delta, init)? else {
            return fail(format!("the table cannot grow by {delta} elements"));
        };
        if !old_size.is_null() {
            // SAFETY: non-NULL out-pointer (crate contract).
            unsafe { put_value(old_size, old, "old_size") }?;
        }
        Ok(())
    })
}

/// A new global in `store` of kind `kind`, mutable or not, holding `*init`.
#[no_mangle]
pub unsafe extern "C" fn vw_global_new(
    store: *const vw_store,
    kind: vw_valkind,
    mutable: bool,
    init: *const vw_val,
    out: *mut *mut vw_global,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (store, init) = unsafe { (get(store, "store")?, val_arg(init, "init")?) };
        let ty = GlobalType {
            ty: type_of(kind)?,
            mutable,
        };
        let global = Global::new(&store.store, ty, init)?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_global { global }) }
    })
}

/// Releases a global handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_global_delete(global: *mut vw_global) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(global) }
}

/// The global's value in `*out` (a funcref there is a new handle the caller
/// owns: `vw_val_delete`).
#[no_mangle]
pub unsafe extern "C" fn vw_global_get(
    global: *const vw_global,
    out: *mut vw_val,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live global (crate contract).
        let global = &unsafe { get(global, "global") }?.global;
        let value = to_c(global.get()?, Some(global.store()))?;
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put_value(out, value, "out") }
    })
}

/// Sets a mutable global to `*value` (of its kind; else `VW_ERROR`).
#[no_mangle]
pub unsafe extern "C" fn vw_global_set(
    global: *const vw_global,
    value: *const vw_val,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or live objects (crate contract).
        let (global, value) = unsafe { (get(global, "global")?, val_arg(value, "value")?) };
        global.global.set(value)?;
        Ok(())
    })
}

/// The instance's exported memory `name` (a new handle the caller owns).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_get_memory(
    instance: *const vw_instance,
    name: *const c_char,
    out: *mut *mut vw_memory,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live instance / a C string (crate contract).
        let (instance, name) = unsafe { (get(instance, "instance")?, get_str(name, "name")?) };
        let Some(memory) = instance.instance.get_memory(name) else {
            return fail(format!("no exported memory named '{name}'"));
        };
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_memory { memory }) }
    })
}

/// The instance's exported table `name` (a new handle the caller owns).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_get_table(
    instance: *const vw_instance,
    name: *const c_char,
    out: *mut *mut vw_table,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live instance / a C string (crate contract).
        let (instance, name) = unsafe { (get(instance, "instance")?, get_str(name, "name")?) };
        let Some(table) = instance.instance.get_table(name) else {
            return fail(format!("no exported table named '{name}'"));
        };
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_table { table }) }
    })
}

/// The instance's exported global `name` (a new handle the caller owns).
#[no_mangle]
pub unsafe extern "C" fn vw_instance_get_global(
    instance: *const vw_instance,
    name: *const c_char,
    out: *mut *mut vw_global,
    error: *mut *mut vw_error,
) -> vw_status {
    ffi_err(error, || {
        // SAFETY: NULL or a live instance / a C string (crate contract).
        let (instance, name) = unsafe { (get(instance, "instance")?, get_str(name, "name")?) };
        let Some(global) = instance.instance.get_global(name) else {
            return fail(format!("no exported global named '{name}'"));
        };
        // SAFETY: NULL or a writable out-pointer (crate contract).
        unsafe { put(out, vw_global { global }) }
    })
}
