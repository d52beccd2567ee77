//! Instantiation-time evaluation: constant expressions (global initialisers,
//! segment offsets, element items) and the active segments, applied like
//! `table.init`/`memory.init` followed by `elem.drop`/`data.drop` (Wasm 2.0:
//! each segment is checked whole before it is written, and the segments
//! applied before a failing one stay applied).

use crate::prelude::*;
use core::sync::atomic::{AtomicBool, Ordering};

use vibewasm_format::{
    ConstEvalError, ConstExpr, ConstOp, GlobalType, Metadata, SegmentMode, ValType,
};

use crate::error::InstantiationError;
use crate::externs::{read_global_cell, GlobalSlots};
use crate::instance::{ElemSegment, InstanceData};
use crate::instantiate::invalid;

/// A constant's value: its type and slot form (the second slot is used by
/// `v128` only, and is 0 otherwise).
type Value = (ValType, GlobalSlots);

fn eval(
    expr: &ConstExpr,
    programs: &[Vec<ConstOp>],
    global: &dyn Fn(u32) -> Option<Value>,
    func_refs: &[u64],
) -> Result<Value, InstantiationError> {
    Ok(match *expr {
        ConstExpr::Extended(n) => {
            let ops = programs
                .get(n as usize)
                .ok_or_else(|| invalid(format!("constant expression names program {n}")))?;
            run_program(ops, global)?
        }
        ConstExpr::I32(v) => (ValType::I32, [v as u32 as u64, 0]),
        ConstExpr::I64(v) => (ValType::I64, [v as u64, 0]),
        ConstExpr::F32(bits) => (ValType::F32, [bits as u64, 0]),
        ConstExpr::F64(bits) => (ValType::F64, [bits, 0]),
        ConstExpr::V128(v) => (ValType::V128, [v as u64, (v >> 64) as u64]),
        ConstExpr::GlobalGet(g) => global(g).ok_or_else(|| {
            invalid(format!(
                "constant expression reads global {g} before it is initialised"
            ))
        })?,
        ConstExpr::RefNull(ty) => (ty, [0, 0]),
        ConstExpr::RefFunc(f) => {
            let value = func_refs
                .get(f as usize)
                .ok_or_else(|| invalid(format!("constant expression names function {f}")))?;
            (ValType::FuncRef, [*value, 0])
        }
    })
}

/// Runs an extended constant expression. Format validation type-checked
/// the program; one that does not fit its stack is refused here all the
/// same.
fn run_program(
    ops: &[ConstOp],
    global: &dyn Fn(u32) -> Option<Value>,
) -> Result<Value, InstantiationError> {
    let read = |g| global(g).map(|(ty, [value, _])| (ty, value));
    match ConstOp::run(ops, read) {
        Ok((ty, value)) => Ok((ty, [value, 0])),
        Err(ConstEvalError::Global(g)) => Err(invalid(format!(
            "constant expression reads global {g} before it is initialised"
        ))),
        Err(ConstEvalError::Malformed) => Err(invalid(
            "an extended constant expression does not type-check",
        )),
    }
}

/// Reads a global's cell.
///
/// # Safety
/// `cell` must be a live global cell of type `ty` of the store the caller
/// holds.
unsafe fn read_cell(cell: *mut u64, ty: ValType) -> GlobalSlots {
    // SAFETY: guaranteed by the caller.
    unsafe { read_global_cell(cell, ty) }
}

/// The initial values of the defined globals (slot form). Initialisers may
/// read imported globals and the defined globals before them.
///
/// The caller holds the store the imported cells belong to.
pub(crate) fn evaluate_globals(
    meta: &Metadata,
    imported: &[(*mut u64, GlobalType)],
    func_refs: &[u64],
) -> Result<Vec<GlobalSlots>, InstantiationError> {
    let mut values: Vec<Value> = Vec::with_capacity(meta.globals.len());
    for (i, def) in meta.globals.iter().enumerate() {
        let lookup = |g: u32| lookup_global(g, imported, &values);
        let (ty, value) = eval(&def.init, &meta.const_exprs, &lookup, func_refs)?;
        if ty != def.ty.ty {
            return Err(invalid(format!(
                "global {} of type {} initialised with a {ty}",
                imported.len() + i,
                def.ty.ty
            )));
        }
        values.push((ty, value));
    }
    Ok(values.into_iter().map(|(_, v)| v).collect())
}

fn lookup_global(g: u32, imported: &[(*mut u64, GlobalType)], defined: &[Value]) -> Option<Value> {
    match imported.get(g as usize) {
        // SAFETY: imported cells belong to the store the caller holds, and
        // the linker checked their type.
        Some(&(cell, ty)) => Some((ty.ty, unsafe { read_cell(cell, ty.ty) })),
        None => defined.get(g as usize - imported.len()).copied(),
    }
}

/// The items of every element segment, evaluated once at instantiation.
pub(crate) fn evaluate_elements(
    meta: &Metadata,
    globals: &[(*mut u64, GlobalType)],
    defined_values: &[GlobalSlots],
    func_refs: &[u64],
) -> Result<Vec<ElemSegment>, InstantiationError> {
    let num_imported = globals.len() - defined_values.len();
    let defined: Vec<Value> = globals[num_imported..]
        .iter()
        .zip(defined_values)
        .map(|((_, ty), v)| (ty.ty, *v))
        .collect();
    let lookup = |g: u32| lookup_global(g, &globals[..num_imported], &defined);
    let mut segments = Vec::with_capacity(meta.elements.len());
    for (s, seg) in meta.elements.iter().enumerate() {
        let mut items = Vec::with_capacity(seg.items.len());
        for item in &seg.items {
            let (ty, value) = eval(item, &meta.const_exprs, &lookup, func_refs)?;
            if ty != seg.element {
                return Err(invalid(format!(
                    "element segment {s} of {} holds a {ty}",
                    seg.element
                )));
            }
            // A reference: one slot.
            items.push(value[0]);
        }
        segments.push(ElemSegment {
            items,
            dropped: AtomicBool::new(false),
        });
    }
    Ok(segments)
}

/// The offset of an active segment: an i32 constant, read as unsigned (an
/// i64 for a segment of a 64-bit memory or table, with `index64`).
fn segment_offset(
    data: &InstanceData,
    expr: &ConstExpr,
    what: &str,
    index64: bool,
) -> Result<u64, InstantiationError> {
    let global = |g: u32| {
        let &(cell, ty) = data.globals.get(g as usize)?;
        // SAFETY: every global cell of the instance (imported, in its
        // vmctx, or a v128 cell) belongs to the store the caller holds and
        // holds a value of its type.
        Some((ty.ty, unsafe { read_cell(cell, ty.ty) }))
    };
    let programs = &data.artifact.metadata().const_exprs;
    match eval(expr, programs, &global, &[])? {
        (ValType::I32, [v, _]) if !index64 => Ok(v & 0xffff_ffff),
        (ValType::I64, [v, _]) if index64 => Ok(v),
        (ty, _) => {
            let expected = if index64 { ValType::I64 } else { ValType::I32 };
            Err(invalid(format!(
                "{what} offset is a {ty}, not an {expected}"
            )))
        }
    }
}

/// Applies the active element and data segments of `data`, then drops them
/// (and the declarative ones), in module order. The caller holds the store
/// and no wasm runs meanwhile.
pub(crate) fn apply_segments(data: &InstanceData) -> Result<(), InstantiationError> {
    let meta = data.artifact.metadata();
    for ((segment, seg), evaluated) in (0u32..).zip(&meta.elements).zip(&data.elements) {
        match &seg.mode {
            SegmentMode::Passive => continue,
            SegmentMode::Declared => {}
            SegmentMode::Active { index, offset } => {
                let what = format!("element segment {segment}");
                let table = *data
                    .tables
                    .get(*index as usize)
                    .ok_or_else(|| invalid(format!("{what} names table {index}")))?;
                let len = evaluated.items.len() as u64;
                // SAFETY: owned by the store, which the caller holds (the
                // contract of the table's methods).
                let table = unsafe { &*table };
                let offset = segment_offset(data, offset, &what, table.ty().index64)?;
                // Format validation compared the segment's type with the
                // table's declared type, and the linker an imported table's
                // type with its declaration; checked again on the table
                // itself, since its elements are dereferenced later.
                let table_type = table.ty().element;
                if table_type != seg.element {
                    return Err(invalid(format!(
                        "{what} of {} cannot be copied into table {index} of {table_type}",
                        seg.element
                    )));
                }
                // SAFETY: as above.
                let table_len = unsafe { table.len() };
                // SAFETY: as above; the items are the instance's evaluated
                // segment, not the table's storage.
                unsafe { table.init(offset, &evaluated.items, 0, len) }.map_err(|_| {
                    InstantiationError::ElementOutOfBounds {
                        segment,
                        table: *index,
                        offset,
                        len,
                        table_len,
                    }
                })?;
            }
        }
        evaluated.dropped.store(true, Ordering::Relaxed);
    }
    // After the element segments: a function they put into an imported
    // table before a failing one can read this memory later, and must see
    // it as the data segments would have left it (untouched).
    let in_image = apply_image(data)?;
    for ((segment, seg), dropped) in (0u32..).zip(&meta.data).zip(&data.data_dropped) {
        let SegmentMode::Active { index, offset } = &seg.mode else {
            continue;
        };
        if in_image.binary_search(&segment).is_ok() {
            // Applied with the image; dropped like every active segment.
            dropped.store(true, Ordering::Relaxed);
            continue;
        }
        let what = format!("data segment {segment}");
        let memory = *data
            .memories
            .get(*index as usize)
            .ok_or_else(|| invalid(format!("{what} names memory {index}")))?;
        // SAFETY: as for tables above; the bytes come from the artifact.
        let memory = unsafe { &*memory };
        let offset = segment_offset(data, offset, &what, memory.ty().index64)?;
        let len = seg.bytes.len() as u64;
        // SAFETY: as for tables above: instantiation holds the store.
        let memory_len = unsafe { memory.len_bytes() };
        // SAFETY: as for tables above; the bytes are the artifact's, not
        // the memory's.
        unsafe { memory.write(offset, &seg.bytes, 0, len) }.map_err(|_| {
            InstantiationError::DataOutOfBounds {
                segment,
                memory: *index,
                offset,
                len,
                memory_len,
            }
        })?;
        dropped.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Puts the artifact's memory image, if any, into memory 0 (mapped from the
/// file or copied: the same bytes either way). Returns the data segments
/// the image applied. The caller holds the store, and memory 0 is the
/// fresh memory this instance defined (validation checked that the
/// metadata has an image only then), untouched so far.
fn apply_image(data: &InstanceData) -> Result<&[u32], InstantiationError> {
    let meta = data.artifact.metadata();
    let (Some(info), Some(image)) = (&meta.memory_image, data.artifact.image()) else {
        return Ok(&[]);
    };
    let memory = *data
        .memories
        .first()
        .ok_or_else(|| invalid("the memory image has no memory 0"))?;
    // SAFETY: owned by the store, which the caller holds.
    let memory = unsafe { &*memory };
    // SAFETY: the caller holds the store, nothing has written to the new
    // memory (only data segments do, and none has run), the image bytes
    // are the artifact's, and its file range holds the same bytes (both
    // checked by `read_artifact`; the file is trusted not to change).
    unsafe {
        memory.init_image(
            info.memory_offset,
            image.bytes(),
            #[cfg(feature = "std")]
            image.file(),
        )
    }
    .map_err(|_| {
        invalid(format!(
            "the memory image ({} bytes at {}) does not fit in memory 0",
            info.len, info.memory_offset
        ))
    })?;
    Ok(&info.segments)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn constants_and_global_reads() {
        let no_globals = |_| None;
        assert_eq!(
            eval(&ConstExpr::I32(-1), &[], &no_globals, &[]).unwrap(),
            (ValType::I32, [0xffff_ffff, 0])
        );
        assert_eq!(
            eval(&ConstExpr::RefFunc(1), &[], &no_globals, &[10, 20]).unwrap(),
            (ValType::FuncRef, [20, 0])
        );
        assert_eq!(
            eval(
                &ConstExpr::V128(0x1_0000_0000_0000_0002),
                &[],
                &no_globals,
                &[]
            )
            .unwrap(),
            (ValType::V128, [2, 1])
        );
        assert!(eval(&ConstExpr::RefFunc(2), &[], &no_globals, &[10, 20]).is_err());
        assert!(eval(&ConstExpr::GlobalGet(0), &[], &no_globals, &[]).is_err());
        let mut cell = 7u64;
        let imported = [(
            &mut cell as *mut u64,
            GlobalType {
                ty: ValType::I64,
                mutable: false,
            },
        )];
        let defined = [(ValType::I32, [5, 0])];
        assert_eq!(
            lookup_global(0, &imported, &defined),
            Some((ValType::I64, [7, 0]))
        );
        assert_eq!(
            lookup_global(1, &imported, &defined),
            Some((ValType::I32, [5, 0]))
        );
        assert_eq!(lookup_global(2, &imported, &defined), None);
        // An imported v128 global: both halves of its 16-byte cell.
        let mut cell = crate::externs::GlobalCell([3, 4]);
        let imported = [(
            cell.0.as_mut_ptr(),
            GlobalType {
                ty: ValType::V128,
                mutable: true,
            },
        )];
        assert_eq!(
            eval(
                &ConstExpr::GlobalGet(0),
                &[],
                &|g| lookup_global(g, &imported, &[]),
                &[]
            )
            .unwrap(),
            (ValType::V128, [3, 4])
        );
    }

    #[test]
    fn extended_constants_wrap() {
        use ConstOp::*;
        let globals = |g: u32| match g {
            // An i32 global whose cell has garbage in its upper half.
            0 => Some((ValType::I32, [0xdead_beef_0000_0010, 0])),
            1 => Some((ValType::I64, [u64::MAX, 0])),
            _ => None,
        };
        let run = |ops: Vec<ConstOp>| eval(&ConstExpr::Extended(0), &[ops], &globals, &[]);
        // (global 0 - 1) * 3 + 7 = 52
        assert_eq!(
            run(vec![
                GlobalGet(0),
                I32(1),
                I32Sub,
                I32(3),
                I32Mul,
                I32(7),
                I32Add
            ])
            .unwrap(),
            (ValType::I32, [52, 0])
        );
        // i32 arithmetic wraps and stays zero-extended.
        assert_eq!(
            run(vec![I32(i32::MAX), I32(1), I32Add]).unwrap(),
            (ValType::I32, [0x8000_0000, 0])
        );
        assert_eq!(
            run(vec![I32(0), I32(1), I32Sub]).unwrap(),
            (ValType::I32, [0xffff_ffff, 0])
        );
        assert_eq!(
            run(vec![I32(0x10000), I32(0x10000), I32Mul]).unwrap(),
            (ValType::I32, [0, 0])
        );
        // i64 too: -1 + 2 = 1; i64::MIN * -1 = i64::MIN.
        assert_eq!(
            run(vec![GlobalGet(1), I64(2), I64Add]).unwrap(),
            (ValType::I64, [1, 0])
        );
        assert_eq!(
            run(vec![I64(i64::MIN), I64(-1), I64Mul]).unwrap(),
            (ValType::I64, [i64::MIN as u64, 0])
        );
        assert_eq!(
            run(vec![I64(i64::MIN), I64(1), I64Sub]).unwrap(),
            (ValType::I64, [i64::MAX as u64, 0])
        );
        // Operand order: 10 - 3.
        assert_eq!(
            run(vec![I32(10), I32(3), I32Sub]).unwrap(),
            (ValType::I32, [7, 0])
        );
    }

    #[test]
    fn malformed_programs_are_errors() {
        use ConstOp::*;
        let no_globals = |_| None;
        let run = |ops: Vec<ConstOp>| eval(&ConstExpr::Extended(0), &[ops], &no_globals, &[]);
        for ops in [
            vec![],
            vec![I32Add],
            vec![I32(1), I32Add],
            vec![I32(1), I64(2), I32Add],
            vec![I64(1), I64(2), I32Mul],
            vec![I32(1), I32(2)],
            vec![GlobalGet(0)],
        ] {
            assert!(run(ops.clone()).is_err(), "{ops:?}");
        }
        // A program index out of range.
        assert!(eval(&ConstExpr::Extended(1), &[vec![I32(1)]], &no_globals, &[]).is_err());
    }
}
