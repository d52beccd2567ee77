//! Building an instance: resolve imports, lay out and fill the vmctx,
//! initialise globals, tables and memory, run the start function.
//!
//! The metadata passed format validation (indices in range, relocation slots
//! right), but everything computed from it here still uses checked
//! arithmetic and `get`: a consistent-looking artifact may still ask for
//! impossible sizes or mistyped constants.

use std::sync::Arc;

use vibewasm_format::vmctx::{FuncRef, Helper, VmctxLayout, HOST_STATE, MEMORY0};
use vibewasm_format::{ConstExpr, ImportKind, Metadata, RelocTarget, SegmentMode, ValType};

use crate::artifact::Artifact;
use crate::error::{Error, InstantiationError, LinkError};
use crate::func::{host_call, HostFunc};
use crate::instance::{Instance, InstanceState};
use crate::linker::Linker;
use crate::memory::{memory_grow, LinearMemory};
use crate::raw::{RawBox, VmctxBuf};
use crate::table::{Table, NULL_FUNC_REF};
use crate::types::canonical_type_id;
use crate::values::Val;

fn invalid(message: impl Into<String>) -> InstantiationError {
    InstantiationError::Invalid(message.into())
}

pub(crate) fn instantiate(linker: &Linker, artifact: &Arc<Artifact>) -> Result<Instance, Error> {
    let meta = artifact.metadata();
    let host_funcs = resolve_imports(linker, meta)?;
    let layout = VmctxLayout::new(meta);
    check_relocations(meta, &layout)?;
    let type_ids: Vec<u32> = meta
        .types
        .iter()
        .map(canonical_type_id)
        .collect::<Option<_>>()
        .ok_or_else(|| InstantiationError::Resource("too many distinct signatures".into()))?;

    let size = usize::try_from(layout.size()).map_err(|_| invalid("vmctx too large"))?;
    let vmctx = VmctxBuf::new(size).ok_or_else(|| {
        InstantiationError::Resource(format!("cannot allocate a {size}-byte vmctx"))
    })?;
    let memory = match meta.memories.first() {
        Some(ty) => Some(LinearMemory::new(*ty, linker.memory_limit_pages)?),
        None => None,
    };
    let tables = meta
        .tables
        .iter()
        .map(|t| Table::new(*t))
        .collect::<Result<Vec<_>, _>>()?;
    let state = RawBox::new(InstanceState {
        memory,
        tables,
        pending_trap: None,
        depth: 0,
        max_wasm_stack: linker.max_wasm_stack,
    });
    // From here on the instance owns everything: an error drops it whole.
    let mut instance = Instance {
        vmctx,
        state,
        host_funcs,
        artifact: artifact.clone(),
        layout,
    };
    fill_vmctx(&instance, &type_ids);
    init_globals(&instance)?;
    init_elements(&mut instance, &type_ids)?;
    init_data(&mut instance)?;
    if let Some(start) = meta.start {
        let mut argv = [0u64; 1];
        instance
            .invoke(start, &mut argv)
            .map_err(InstantiationError::Start)?;
    }
    Ok(instance)
}

/// The host function for each imported function, in import order.
fn resolve_imports(linker: &Linker, meta: &Metadata) -> Result<Vec<Arc<HostFunc>>, Error> {
    let mut funcs = Vec::new();
    for import in &meta.imports {
        let (module, name) = (import.module.clone(), import.name.clone());
        let kind = match &import.kind {
            ImportKind::Func(t) => {
                let expected = meta
                    .types
                    .get(*t as usize)
                    .ok_or_else(|| invalid(format!("import {module}::{name} has no type")))?;
                let func = linker
                    .get(&module, &name)
                    .ok_or_else(|| LinkError::MissingImport {
                        module: module.clone(),
                        name: name.clone(),
                    })?;
                if func.ty() != expected {
                    return Err(LinkError::SignatureMismatch {
                        module,
                        name,
                        expected: Box::new(expected.clone()),
                        found: Box::new(func.ty().clone()),
                    }
                    .into());
                }
                funcs.push(func.clone());
                continue;
            }
            ImportKind::Memory(_) => "memory",
            ImportKind::Table(_) => "table",
            ImportKind::Global(_) => "global",
        };
        return Err(LinkError::UnsupportedImportKind { module, name, kind }.into());
    }
    Ok(funcs)
}

/// Every relocation names a slot this loader fills (it fills all helper and
/// import slots anyway, so none the code uses can be null).
fn check_relocations(meta: &Metadata, layout: &VmctxLayout) -> Result<(), InstantiationError> {
    for (i, reloc) in meta.relocations.iter().enumerate() {
        let expected = match reloc.target {
            RelocTarget::Helper(h) => Helper::from_u32(h).map(|h| layout.helper(h)),
            RelocTarget::ImportedFunc(f) => {
                (f < layout.num_imported_funcs).then(|| layout.imported_func_code(f))
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

fn fill_vmctx(instance: &Instance, type_ids: &[u32]) {
    let (vmctx, layout) = (&instance.vmctx, &instance.layout);
    for helper in Helper::ALL {
        let address = match helper {
            Helper::MemoryGrow => memory_grow as *const u8,
        };
        vmctx.write_ptr(layout.helper(helper), address);
    }
    for (i, func) in (0u32..).zip(&instance.host_funcs) {
        vmctx.write_ptr(layout.imported_func_code(i), host_call as *const u8);
        vmctx.write_ptr(layout.imported_func_env(i), Arc::as_ptr(func));
    }
    for (i, id) in (0u32..).zip(type_ids) {
        vmctx.write_u32(layout.type_id(i), *id);
    }
    let state = instance.state();
    for (i, table) in (0u32..).zip(&state.tables) {
        vmctx.write_ptr(layout.table(i), table.def_ptr());
    }
    let memory0 = state
        .memory
        .as_ref()
        .map_or(std::ptr::null_mut(), |m| m.def_ptr());
    vmctx.write_ptr(MEMORY0, memory0);
    vmctx.write_ptr(HOST_STATE, instance.state.as_ptr());
}

/// A constant expression's value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ConstValue {
    Num(Val),
    NullRef,
    Func(u32),
}

/// Evaluates `expr`; `globals` are the values of the globals initialised so far.
fn eval_const(expr: &ConstExpr, globals: &[ConstValue]) -> Result<ConstValue, InstantiationError> {
    Ok(match *expr {
        ConstExpr::I32(v) => ConstValue::Num(Val::I32(v)),
        ConstExpr::I64(v) => ConstValue::Num(Val::I64(v)),
        ConstExpr::F32(bits) => ConstValue::Num(Val::F32(bits)),
        ConstExpr::F64(bits) => ConstValue::Num(Val::F64(bits)),
        ConstExpr::GlobalGet(g) => *globals.get(g as usize).ok_or_else(|| {
            invalid(format!(
                "constant expression reads global {g} before it is initialised"
            ))
        })?,
        ConstExpr::RefNull(_) => ConstValue::NullRef,
        ConstExpr::RefFunc(f) => ConstValue::Func(f),
    })
}

fn global_values(meta: &Metadata) -> Result<Vec<ConstValue>, InstantiationError> {
    let mut values = Vec::with_capacity(meta.globals.len());
    for (i, global) in meta.globals.iter().enumerate() {
        let value = eval_const(&global.init, &values)?;
        let ty = global.ty.ty;
        let ok = match value {
            ConstValue::Num(v) => v.ty() == ty,
            ConstValue::NullRef => matches!(ty, ValType::FuncRef | ValType::ExternRef),
            ConstValue::Func(_) => {
                return Err(InstantiationError::Unsupported(format!(
                    "global {i} holds a function reference"
                )))
            }
        };
        if !ok {
            return Err(invalid(format!(
                "global {i} of type {ty} initialised with {value:?}"
            )));
        }
        values.push(value);
    }
    Ok(values)
}

/// Defined globals are stored inline: the value's slot form (32-bit values
/// zero-extended to 8 bytes), and 0 for a null reference.
fn init_globals(instance: &Instance) -> Result<(), InstantiationError> {
    let meta = instance.artifact.metadata();
    let first = instance.layout.num_imported_globals;
    for (i, value) in (first..).zip(global_values(meta)?) {
        let slot = match value {
            ConstValue::Num(v) => v.to_slot(),
            _ => 0,
        };
        instance.vmctx.write_u64(instance.layout.global(i), slot);
    }
    Ok(())
}

/// The offset of an active segment: an i32 constant, read as unsigned.
fn segment_offset(
    expr: &ConstExpr,
    globals: &[ConstValue],
    what: &str,
) -> Result<u64, InstantiationError> {
    match eval_const(expr, globals)? {
        ConstValue::Num(Val::I32(v)) => Ok(v as u32 as u64),
        other => Err(invalid(format!("{what} offset is {other:?}, not an i32"))),
    }
}

fn func_ref(instance: &Instance, type_ids: &[u32], func: u32) -> Option<FuncRef> {
    let meta = instance.artifact.metadata();
    let range = meta.functions.get(func as usize)?;
    let ty = *meta.func_types.get(func as usize)?;
    Some(FuncRef {
        // Imports have stubs in the code too, so this is uniform.
        code: instance
            .artifact
            .code_base()
            .wrapping_add(range.offset as usize),
        vmctx: instance.vmctx.ptr(),
        type_id: u64::from(*type_ids.get(ty as usize)?),
        reserved: 0,
    })
}

fn init_elements(instance: &mut Instance, type_ids: &[u32]) -> Result<(), InstantiationError> {
    let artifact = instance.artifact.clone();
    let meta = artifact.metadata();
    let globals = global_values(meta)?;
    for (segment, seg) in (0u32..).zip(&meta.elements) {
        let SegmentMode::Active { index, offset } = &seg.mode else {
            continue;
        };
        let what = format!("element segment {segment}");
        let offset = segment_offset(offset, &globals, &what)?;
        let mut items = Vec::with_capacity(seg.items.len());
        for item in &seg.items {
            items.push(match eval_const(item, &globals)? {
                ConstValue::NullRef => NULL_FUNC_REF,
                ConstValue::Func(f) => func_ref(instance, type_ids, f)
                    .ok_or_else(|| invalid(format!("{what} names function {f}")))?,
                ConstValue::Num(v) => return Err(invalid(format!("{what} holds {v}"))),
            });
        }
        let table = instance
            .state_mut()
            .tables
            .get_mut(*index as usize)
            .ok_or_else(|| invalid(format!("{what} names table {index}")))?;
        let table_len = table.len();
        table
            .init(offset, &items)
            .map_err(|()| InstantiationError::ElementOutOfBounds {
                segment,
                table: *index,
                offset,
                len: items.len() as u64,
                table_len,
            })?;
    }
    Ok(())
}

fn init_data(instance: &mut Instance) -> Result<(), InstantiationError> {
    let artifact = instance.artifact.clone();
    let meta = artifact.metadata();
    let globals = global_values(meta)?;
    for (segment, seg) in (0u32..).zip(&meta.data) {
        let SegmentMode::Active { index, offset } = &seg.mode else {
            continue;
        };
        let what = format!("data segment {segment}");
        let offset = segment_offset(offset, &globals, &what)?;
        let memory = match (index, instance.memory_mut()) {
            (0, Some(memory)) => memory,
            _ => return Err(invalid(format!("{what} names memory {index}"))),
        };
        let memory_len = memory.len() as u64;
        let len = seg.bytes.len() as u64;
        let target = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(seg.bytes.len())?))
            .and_then(|range| memory.get_mut(range))
            .ok_or(InstantiationError::DataOutOfBounds {
                segment,
                memory: *index,
                offset,
                len,
                memory_len,
            })?;
        target.copy_from_slice(&seg.bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_eval_reads_earlier_globals_only() {
        let globals = [ConstValue::Num(Val::I32(5))];
        assert_eq!(
            eval_const(&ConstExpr::GlobalGet(0), &globals).unwrap(),
            ConstValue::Num(Val::I32(5))
        );
        assert!(eval_const(&ConstExpr::GlobalGet(1), &globals).is_err());
        assert_eq!(
            segment_offset(&ConstExpr::I32(-1), &[], "x").unwrap(),
            u32::MAX as u64
        );
        assert!(segment_offset(&ConstExpr::I64(1), &[], "x").is_err());
    }
}
