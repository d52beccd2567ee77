//! Building an instance: resolve and type-check imports, create defined
//! memories and tables in the store, lay out and fill the vmctx, then (in
//! `init`) evaluate globals and segments and run the start function.
//!
//! The metadata passed format validation (indices in range, relocation slots
//! right), but everything computed from it here still uses checked
//! arithmetic and `get`: a consistent-looking artifact may still ask for
//! impossible sizes or mistyped constants.

use crate::prelude::*;
use alloc::sync::Arc;
use core::ptr::NonNull;
use core::sync::atomic::AtomicBool;

use vibewasm_format::vmctx::{
    FuncRef, Helper, VmctxLayout, HOST_STATE, IMPORT_CALLEE, IMPORT_HOST_ENV, IMPORT_HOST_FN,
    MEMORY0, RUNTIME,
};
use vibewasm_format::{
    BoundsChecks, GlobalType, ImportKind, MemoryType, Metadata, RelocTarget, ValType,
};

use crate::artifact::Artifact;
use crate::call::invoke_in;
use crate::error::{Error, InstantiationError, LinkError};
use crate::externs::{Extern, GlobalCell};
use crate::func::{host_call, HostFunc};
use crate::helpers::helper_address;
use crate::init::{apply_segments, evaluate_elements, evaluate_globals};
use crate::instance::{Instance, InstanceData};
use crate::linker::Linker;
use crate::memory::{LinearMemory, Reservation};
use crate::raw::{RawBox, VmctxBuf};
use crate::store::{Store, StoreGuard};
use crate::table::Table;
use crate::types::canonical_type_id;

pub(crate) fn invalid(message: impl Into<String>) -> InstantiationError {
    InstantiationError::Invalid(message.into())
}

/// How an imported function is provided.
enum ImportedFunc {
    Host(Arc<HostFunc>),
    /// Another instance's function (its record, owned by the same store).
    Wasm(*const FuncRef),
}

/// The resolved imports, per index space, in import order.
#[derive(Default)]
pub(crate) struct Imports {
    funcs: Vec<ImportedFunc>,
    pub(crate) memories: Vec<*mut LinearMemory>,
    pub(crate) tables: Vec<*mut Table>,
    pub(crate) globals: Vec<(*mut u64, GlobalType)>,
}

pub(crate) fn instantiate(
    linker: &Linker,
    store: &Store,
    artifact: &Arc<Artifact>,
) -> Result<Instance, Error> {
    check_code_options(linker, artifact)?;
    // Before any of its code runs (the start function may).
    #[cfg(feature = "std")]
    crate::perf_map::publish(artifact, store.engine().config().perf_map);
    let meta = artifact.metadata();
    let layout = VmctxLayout::new(meta);
    check_relocations(meta, &layout)?;
    let type_ids: Vec<u32> = meta
        .types
        .iter()
        .map(canonical_type_id)
        .collect::<Option<_>>()
        .ok_or_else(|| InstantiationError::Resource("too many distinct signatures".into()))?;

    let mut guard = store.enter().map_err(InstantiationError::Store)?;
    let imports = resolve_imports(linker, &mut guard, store, artifact)?;
    let data = build(linker, &mut guard, artifact, layout, &type_ids, imports)?;
    // The store owns the instance from here on, even if a segment or the
    // start function traps: its functions may already sit in shared tables.
    let ptr = data.as_ptr();
    // SAFETY: the box is live; only the vmctx address is read.
    let vmctx = unsafe { (*ptr).vmctx.ptr() };
    let objects = guard.objects();
    objects.by_vmctx.insert(vmctx as usize, ptr);
    objects.instances.push(data);
    // SAFETY: owned by the store, alive as long as it is.
    let data_ref = unsafe { &*ptr };
    apply_segments(data_ref)?;
    if let Some(start) = meta.start {
        let func = data_ref
            .func_ref(start)
            .ok_or_else(|| invalid(format!("start function {start} does not exist")))?;
        let mut argv = [0u64; 1];
        invoke_in(&mut guard, func, &mut argv).map_err(InstantiationError::Start)?;
    }
    drop(guard);
    let data = NonNull::new(ptr).expect("boxed");
    // SAFETY: the store owns `data`.
    Ok(unsafe { Instance::new(store.clone(), data) })
}

/// Whether this loader may run the artifact's code: guard-page code needs
/// the fault handler (installed here, once per process, unless the linker
/// forbids signal handlers) and its fault table registered. Fuel and epoch
/// checks need nothing more: every store provides both (see `Store::set_fuel`).
fn check_code_options(linker: &Linker, artifact: &Artifact) -> Result<(), InstantiationError> {
    if artifact.header().options.bounds_checks != BoundsChecks::GuardPages {
        return Ok(());
    }
    if !linker.signal_handlers || cfg!(not(feature = "std")) {
        let why = match cfg!(feature = "std") {
            true => "this linker forbids signal handlers",
            false => "this loader is built without its `std` feature, which has them",
        };
        return Err(InstantiationError::Unsupported(format!(
            "the artifact was compiled with guard-page bounds checks, which need a \
             signal handler, and {why} (recompile with `--bounds-checks explicit`)"
        )));
    }
    #[cfg(feature = "std")]
    return artifact
        .register_fault_sites()
        .map_err(InstantiationError::Unsupported);
    #[cfg(not(feature = "std"))]
    Ok(())
}

/// The address space a memory defined by `artifact` needs: the guard
/// reservation for guard-page code; for code with explicit checks, a
/// movable one starting at `initial` bytes. (Guard-page code importing
/// such a memory is refused at link time: see `resolve_imports`.) A 64-bit
/// memory is always movable: every access to it is checked explicitly
/// (guard pages cannot bound a 64-bit address).
fn memory_reservation(artifact: &Artifact, ty: &MemoryType, initial: u64) -> Reservation {
    match artifact.header().options.bounds_checks {
        BoundsChecks::GuardPages if !ty.index64 => Reservation::Guard,
        _ => Reservation::Movable { initial },
    }
}

/// Every relocation names a slot this loader fills (it fills all helper and
/// import slots anyway, so none the code uses can be null).
fn check_relocations(meta: &Metadata, layout: &VmctxLayout) -> Result<(), InstantiationError> {
    for (i, reloc) in meta.relocations.iter().enumerate() {
        let expected = match reloc.target {
            RelocTarget::Helper(h) => Helper::from_u32(h).map(|h| layout.helper(h)),
            RelocTarget::ImportedFunc(f) => {
                (f < layout.num_imported_funcs).then(|| layout.imported_func(f))
            }
        };
        if expected.and_then(|s| u32::try_from(s).ok()) != Some(reloc.slot) {
            return Err(invalid(format!(
                "relocation {i} ({:?}) is at slot {}, this loader fills {expected:?}",
                reloc.target, reloc.slot
            )));
        }
    }
    Ok(())
}

fn incompatible(module: &str, name: &str, expected: String, found: String) -> LinkError {
    LinkError::IncompatibleImport {
        module: module.to_string(),
        name: name.to_string(),
        expected,
        found,
    }
}

fn limits(min: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{min}..{max}"),
        None => format!("{min}.."),
    }
}

/// The spec's import matching for limits: at least `min` now, and a
/// maximum no larger than the import's if it has one.
fn limits_match(min: u64, max: Option<u64>, actual: u64, actual_max: Option<u64>) -> bool {
    actual >= min
        && match (max, actual_max) {
            (None, _) => true,
            (Some(max), Some(actual_max)) => actual_max <= max,
            (Some(_), None) => false,
        }
}

/// "i64 " for a 64-bit memory or table, for messages.
fn index_type(index64: bool) -> &'static str {
    match index64 {
        true => "i64 ",
        false => "",
    }
}

/// What `ext` is, for messages. Takes the guard because sizes may change
/// while wasm runs.
fn describe(ext: &Extern, _guard: &StoreGuard<'_>) -> String {
    match ext {
        Extern::Func(f) => format!("a function of type {}", f.ty()),
        Extern::Memory(m) => {
            // SAFETY: owned by the store, which this thread holds.
            let size = unsafe { (*m.ptr()).size_pages() };
            let ty = m.ty();
            let (kind, max) = (index_type(ty.index64), ty.max_pages);
            format!("a {kind}memory of {} pages", limits(size, max))
        }
        Extern::Table(t) => {
            // SAFETY: as above.
            let size = unsafe { (*t.ptr()).len() };
            let ty = t.ty();
            let kind = index_type(ty.index64);
            format!("a {kind}table of {} {}", limits(size, ty.max), ty.element)
        }
        Extern::Global(g) => global_desc(g.ty()),
    }
}

fn global_desc(ty: GlobalType) -> String {
    match ty.mutable {
        true => format!("a global (mut {})", ty.ty),
        false => format!("a global {}", ty.ty),
    }
}

/// Looks every import up in `linker` and checks it against the import's type.
fn resolve_imports(
    linker: &Linker,
    guard: &mut StoreGuard<'_>,
    store: &Store,
    artifact: &Artifact,
) -> Result<Imports, Error> {
    let (meta, artifact_options) = (artifact.metadata(), artifact.header().options);
    let mut imports = Imports::default();
    let guard_code = artifact_options.bounds_checks == BoundsChecks::GuardPages;
    for import in &meta.imports {
        let (module, name) = (import.module.as_str(), import.name.as_str());
        let ext = linker
            .get(module, name)
            .ok_or_else(|| LinkError::MissingImport {
                module: module.to_string(),
                name: name.to_string(),
            })?;
        if ext.store().is_some_and(|s| !Store::same(s, store)) {
            return Err(LinkError::ForeignStore {
                module: module.to_string(),
                name: name.to_string(),
            }
            .into());
        }
        let mismatch =
            |expected: String| incompatible(module, name, expected, describe(ext, guard));
        match (&import.kind, ext) {
            (ImportKind::Func(t), Extern::Func(f)) => {
                let expected = meta
                    .types
                    .get(*t as usize)
                    .ok_or_else(|| invalid(format!("import {module}::{name} has no type")))?;
                if f.ty() != expected {
                    return Err(LinkError::SignatureMismatch {
                        module: module.to_string(),
                        name: name.to_string(),
                        expected: Box::new(expected.clone()),
                        found: Box::new(f.ty().clone()),
                    }
                    .into());
                }
                imports.funcs.push(match (f.as_host(), f.func_ref_ptr()) {
                    (Some(host), _) => ImportedFunc::Host(host.clone()),
                    (None, Some(record)) => ImportedFunc::Wasm(record),
                    (None, None) => return Err(invalid("function without code").into()),
                });
            }
            (ImportKind::Memory(ty), Extern::Memory(m)) => {
                // SAFETY: owned by the store, which this thread holds.
                let size = unsafe { (*m.ptr()).size_pages() };
                // A 64-bit memory matches only a 64-bit one (memory64).
                if ty.index64 != m.ty().index64
                    || !limits_match(ty.min_pages, ty.max_pages, size, m.ty().max_pages)
                {
                    let expected = format!(
                        "a {}memory of {} pages",
                        index_type(ty.index64),
                        limits(ty.min_pages, ty.max_pages)
                    );
                    return Err(mismatch(expected).into());
                }
                // SAFETY: as above; the reservation never changes. (Every
                // access to a 64-bit memory is checked explicitly.)
                if guard_code && !ty.index64 && !unsafe { (*m.ptr()).has_guard_region() } {
                    let expected = "a memory with a guard region (the importing code was \
                                    compiled with guard-page bounds checks)";
                    return Err(mismatch(expected.to_string()).into());
                }
                imports.memories.push(m.ptr());
            }
            (ImportKind::Table(ty), Extern::Table(t)) => {
                // SAFETY: as above.
                let size = unsafe { (*t.ptr()).len() };
                let actual = t.ty();
                if ty.element != actual.element
                    || ty.index64 != actual.index64
                    || !limits_match(ty.min, ty.max, size, actual.max)
                {
                    let kind = index_type(ty.index64);
                    let expected =
                        format!("a {kind}table of {} {}", limits(ty.min, ty.max), ty.element);
                    return Err(mismatch(expected).into());
                }
                imports.tables.push(t.ptr());
            }
            (ImportKind::Global(ty), Extern::Global(g)) => {
                if g.ty() != *ty {
                    return Err(mismatch(global_desc(*ty)).into());
                }
                imports.globals.push((g.cell(), *ty));
            }
            (kind, _) => {
                let expected = match kind {
                    ImportKind::Func(_) => "a function",
                    ImportKind::Memory(_) => "a memory",
                    ImportKind::Table(_) => "a table",
                    ImportKind::Global(_) => "a global",
                };
                return Err(mismatch(expected.to_string()).into());
            }
        }
    }
    Ok(imports)
}

/// Creates the defined memories and tables in the store, the vmctx and the
/// function records, evaluates globals and element segments, and fills the
/// vmctx. Nothing runs yet.
fn build(
    linker: &Linker,
    guard: &mut StoreGuard<'_>,
    artifact: &Arc<Artifact>,
    layout: VmctxLayout,
    type_ids: &[u32],
    imports: Imports,
) -> Result<RawBox<InstanceData>, Error> {
    let meta = artifact.metadata();
    let size = usize::try_from(layout.size()).map_err(|_| invalid("vmctx too large"))?;
    let vmctx = VmctxBuf::new(size).ok_or_else(|| {
        InstantiationError::Resource(format!("cannot allocate a {size}-byte vmctx"))
    })?;

    let mut memories = imports.memories;
    for ty in &meta.memories {
        let initial = guard.engine().config().memory_reservation;
        let reservation = memory_reservation(artifact, ty, initial);
        // The stricter of the linker's and the engine's limits.
        let limit_pages = linker
            .memory_limit_pages
            .min(guard.engine().config().memory_limit_pages);
        let memory = RawBox::new(LinearMemory::new(*ty, limit_pages, reservation)?);
        memories.push(memory.as_ptr());
        guard.objects().memories.push(memory);
    }
    let mut tables = imports.tables;
    for ty in &meta.tables {
        let table = RawBox::new(Table::new(*ty, 0)?);
        tables.push(table.as_ptr());
        guard.objects().tables.push(table);
    }

    // Function records and what each `func_refs` slot holds.
    let code_base = artifact.code_base();
    let num_funcs = meta.func_types.len();
    let mut records = Vec::with_capacity(num_funcs);
    // The code ranges are checked here, where they are used, rather than
    // when the artifact is loaded (format validation checked there is one
    // per function).
    for (f, range) in artifact.functions().enumerate().take(num_funcs) {
        let range = range
            .ok_or_else(|| invalid(format!("function {f} has no code range inside the code")))?;
        let ty = *meta
            .func_types
            .get(f)
            .ok_or_else(|| invalid(format!("function {f} has no type")))?;
        let type_id = *type_ids
            .get(ty as usize)
            .ok_or_else(|| invalid(format!("function {f} has type {ty}, which does not exist")))?;
        records.push(FuncRef {
            // Imports have stubs in the code too, so this is uniform.
            code: code_base.wrapping_add(range.offset as usize),
            vmctx: vmctx.ptr(),
            type_id: u64::from(type_id),
        });
    }
    let records = RawBox::from_box(records.into_boxed_slice());
    let func_refs: Vec<u64> = (0..num_funcs)
        .map(|f| match imports.funcs.get(f) {
            Some(ImportedFunc::Wasm(record)) => *record as usize as u64,
            // SAFETY: `f` is within the records slice, which is live.
            _ => unsafe { records.as_ptr().cast::<FuncRef>().add(f) as usize as u64 },
        })
        .collect();

    let num_imported_globals = imports.globals.len();
    let global_values = evaluate_globals(meta, &imports.globals, &func_refs)?;
    let mut globals = imports.globals;
    for (i, (def, value)) in meta.globals.iter().zip(&global_values).enumerate() {
        let index =
            u32::try_from(num_imported_globals + i).map_err(|_| invalid("too many globals"))?;
        let slot = layout.global(index);
        let cell = if def.ty.ty == ValType::V128 {
            // A v128 global lives in a 16-byte cell of the store; its vmctx
            // slot points to it, as for an imported global.
            let cell = RawBox::new(GlobalCell(*value));
            let ptr = cell.as_ptr().cast::<u64>();
            guard.objects().globals.push(cell);
            vmctx.write_ptr(slot, ptr);
            ptr
        } else {
            vmctx.write_u64(slot, value[0]);
            vmctx.slot_ptr(slot, 8).cast::<u64>()
        };
        globals.push((cell, def.ty));
    }
    let elements = evaluate_elements(meta, &globals, &global_values, &func_refs)?;

    let mut host_funcs = Vec::new();
    for (i, import) in (0u32..).zip(&imports.funcs) {
        let slot = layout.imported_func(i);
        match import {
            ImportedFunc::Host(func) => {
                vmctx.write_ptr(slot + IMPORT_CALLEE, core::ptr::null::<u8>());
                vmctx.write_ptr(slot + IMPORT_HOST_FN, host_call as *const u8);
                vmctx.write_ptr(slot + IMPORT_HOST_ENV, Arc::as_ptr(func));
                host_funcs.push(func.clone());
            }
            ImportedFunc::Wasm(record) => {
                vmctx.write_ptr(slot + IMPORT_CALLEE, *record);
                vmctx.write_ptr(slot + IMPORT_HOST_FN, core::ptr::null::<u8>());
                vmctx.write_ptr(slot + IMPORT_HOST_ENV, core::ptr::null::<u8>());
            }
        }
    }
    vmctx.write_ptr(RUNTIME, guard.runtime());
    let memory0 = memories.first().map_or(core::ptr::null_mut(), |m| {
        // SAFETY: owned by the store, which this thread holds.
        unsafe { (**m).def_ptr() }
    });
    vmctx.write_ptr(MEMORY0, memory0);
    for helper in Helper::ALL {
        vmctx.write_ptr(layout.helper(*helper), helper_address(*helper));
    }
    for (f, value) in (0u32..).zip(&func_refs) {
        vmctx.write_u64(layout.func_ref(f), *value);
    }
    for (t, id) in (0u32..).zip(type_ids) {
        vmctx.write_u32(layout.type_id(t), *id);
    }
    for (t, table) in (0u32..).zip(&tables) {
        // SAFETY: owned by the store.
        vmctx.write_ptr(layout.table(t), unsafe { (**table).def_ptr() });
    }
    for (m, memory) in (0u32..).zip(&memories) {
        // SAFETY: owned by the store.
        vmctx.write_ptr(layout.memory(m), unsafe { (**memory).def_ptr() });
    }
    // The defined globals' slots were written above.
    for (g, (cell, _)) in (0u32..).zip(&globals).take(num_imported_globals) {
        vmctx.write_ptr(layout.global(g), *cell);
    }

    let data = RawBox::new(InstanceData {
        store: core::ptr::null(),
        store_id: guard.id(),
        artifact: artifact.clone(),
        host_entry: match meta.trampolines {
            // Format validation checked the offset against the code length.
            Some(t) if !artifact.code_base().is_null() => {
                Some(artifact.code_base().wrapping_add(t.host_entry as usize))
            }
            _ => None,
        },
        layout,
        vmctx,
        func_refs: records,
        memories,
        tables,
        globals,
        host_funcs,
        elements,
        data_dropped: meta.data.iter().map(|_| AtomicBool::new(false)).collect(),
    });
    // SAFETY: the box is live and not shared yet.
    unsafe {
        (*data.as_ptr()).store = guard.store_ptr();
        (*data.as_ptr()).vmctx.write_ptr(HOST_STATE, data.as_ptr());
    }
    Ok(data)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn limits_subtyping() {
        assert!(limits_match(1, None, 1, None));
        assert!(limits_match(1, None, 2, Some(3)));
        assert!(!limits_match(2, None, 1, None));
        assert!(limits_match(1, Some(3), 1, Some(3)));
        assert!(limits_match(1, Some(3), 2, Some(2)));
        assert!(!limits_match(1, Some(3), 1, Some(4)));
        assert!(!limits_match(1, Some(3), 1, None));
        assert_eq!(limits(1, None), "1..");
        assert_eq!(limits(1, Some(2)), "1..2");
    }
}
