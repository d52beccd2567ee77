//! Structural checks of decoded metadata: every index, offset and count is
//! checked here before the loader uses any of them.

use crate::prelude::*;
use crate::vmctx::{Helper, VmctxLayout};
use crate::{
    BoundsChecks, CodeOptions, ConstExpr, ConstOp, ExternKind, FormatError, ImportKind,
    MemoryImage, Metadata, RelocTarget, SegmentMode, Tables, ValType, FAULT_SITE_FLAG, IMAGE_ALIGN,
    MAX_CONST_EXPRS, MAX_CONST_OPS,
};

/// Largest memory (in 64 KiB pages) a 32-bit memory can have.
pub const MAX_PAGES: u64 = 65536;
/// Largest limit (in 64 KiB pages) a 64-bit memory can declare: 2^48, the
/// whole 64-bit address space (memory64).
pub const MAX_PAGES64: u64 = 1 << 48;
/// Bytes in a wasm page.
const WASM_PAGE: u64 = 65536;

fn out_of_range(field: String, value: u64, limit: u64) -> FormatError {
    FormatError::OutOfRange {
        field,
        value,
        limit,
    }
}

fn check_index(field: impl FnOnce() -> String, value: u32, count: u32) -> Result<(), FormatError> {
    if value >= count {
        return Err(out_of_range(field(), value as u64, count as u64));
    }
    Ok(())
}

/// Checks `m` against itself, the code length and the header's code
/// options, and the tables' sizes (not their records: see [`Tables`]).
///
/// Besides indices and ranges, types where the loader copies values
/// without looking at them: table element types and element segment types
/// are reference types, an active element segment has its table's type
/// (the declared type for an imported table; the linker checks that the
/// table it is given has it), and every constant (global initialiser,
/// segment offset, element item) has the type of what it initialises. A
/// value of the wrong type in a table (an `i64` or an `externref` in a
/// `funcref` table) is a pointer the loader's safe API and generated code
/// dereference. Passive segments have no table in the metadata: the
/// `table.init` helper compares the types at run time.
pub(crate) fn validate(
    m: &Metadata,
    tables: &Tables<'_>,
    code_len: u64,
    options: CodeOptions,
) -> Result<(), FormatError> {
    let num_types = m.types.len() as u32;
    let num_funcs = m.num_funcs();
    let num_imported_funcs = m.num_imported(ExternKind::Func);

    for (i, import) in m.imports.iter().enumerate() {
        match &import.kind {
            ImportKind::Func(t) => check_index(|| format!("imports[{i}].type"), *t, num_types)?,
            ImportKind::Memory(mem) => check_memory(&format!("imports[{i}].memory"), mem)?,
            ImportKind::Table(t) => check_table(&format!("imports[{i}].table"), t)?,
            ImportKind::Global(_) => {}
        }
    }
    for (i, t) in m.func_types.iter().enumerate() {
        check_index(|| format!("func_types[{i}]"), *t, num_types)?;
    }
    // Imported functions come first in func_types and must agree with the imports.
    let imported_types = m.imports.iter().filter_map(|i| match i.kind {
        ImportKind::Func(t) => Some(t),
        _ => None,
    });
    for (i, t) in imported_types.enumerate() {
        if m.func_types.get(i) != Some(&t) {
            return Err(FormatError::Invalid(format!(
                "func_types[{i}] does not match the type of imported function {i}"
            )));
        }
    }
    if (m.func_types.len() as u32) < num_imported_funcs {
        return Err(FormatError::Invalid("fewer functions than imports".into()));
    }
    // Each code range is checked where it is used (instantiation), so
    // that loading never walks the function table.
    if tables.num_functions() != m.func_types.len() {
        return Err(FormatError::Invalid(format!(
            "{} code ranges for {} functions",
            tables.num_functions(),
            m.func_types.len()
        )));
    }
    if tables.num_traps() >= FAULT_SITE_FLAG as usize {
        return Err(out_of_range(
            "trap sites".into(),
            tables.num_traps() as u64,
            FAULT_SITE_FLAG.into(),
        ));
    }
    match m.trampolines {
        Some(t) if t.host_entry as u64 >= code_len || t.trap_path as u64 >= code_len => {
            return Err(out_of_range(
                "trampolines".into(),
                t.host_entry.max(t.trap_path).into(),
                code_len,
            ));
        }
        Some(_) => {}
        None if num_funcs > 0 => {
            return Err(FormatError::Invalid(
                "functions without a host entry trampoline".into(),
            ))
        }
        None => {}
    }
    for mem in &m.memories {
        check_memory("memories", mem)?;
    }
    for (i, t) in m.tables.iter().enumerate() {
        check_table(&format!("tables[{i}]"), t)?;
    }
    let num_globals = m.num_globals();
    let mut consts = Consts::new(m)?;
    let num_imported_globals = m.num_imported(ExternKind::Global);
    for (i, g) in m.globals.iter().enumerate() {
        let field = format!("globals[{i}].init");
        consts.check(&field, &g.init, g.ty.ty, num_funcs)?;
        // An initialiser reads imported globals and the defined ones
        // before its own (instantiation evaluates them in order).
        let readable = num_imported_globals + i as u32;
        if let Some(g) = consts.last_global(&g.init).filter(|&g| g >= readable) {
            return Err(FormatError::Invalid(format!(
                "{field} reads global {g}, which is not initialised before global {}",
                readable
            )));
        }
    }
    for (i, e) in m.exports.iter().enumerate() {
        let count = match e.kind {
            ExternKind::Func => num_funcs,
            ExternKind::Memory => m.num_memories(),
            ExternKind::Table => m.num_tables(),
            ExternKind::Global => num_globals,
        };
        check_index(|| format!("exports[{i}].index"), e.index, count)?;
    }
    if let Some(start) = m.start {
        check_index(|| "start".into(), start, num_funcs)?;
        let ty = m.func_type(start).expect("checked above");
        if !ty.params.is_empty() || !ty.results.is_empty() {
            return Err(FormatError::Invalid(format!(
                "start function {start} has type {ty}"
            )));
        }
    }
    for (i, seg) in m.elements.iter().enumerate() {
        check_reference(&format!("elements[{i}]"), seg.element)?;
        if let SegmentMode::Active { index, offset } = &seg.mode {
            check_index(|| format!("elements[{i}].table"), *index, m.num_tables())?;
            // A 64-bit table's segments have i64 offsets (table64).
            let ty = match m.table_is_64(*index) {
                true => ValType::I64,
                false => ValType::I32,
            };
            consts.check(&format!("elements[{i}].offset"), offset, ty, num_funcs)?;
            let table = table_element(m, *index)
                .ok_or_else(|| out_of_range(format!("elements[{i}].table"), *index as u64, 0))?;
            if table != seg.element {
                return Err(FormatError::Invalid(format!(
                    "elements[{i}] is a segment of {} copied into table {index} of {table}: \
                     an active segment must have its table's element type",
                    seg.element
                )));
            }
        }
        for (j, item) in seg.items.iter().enumerate() {
            let field = format!("elements[{i}].items[{j}]");
            consts.check(&field, item, seg.element, num_funcs)?;
        }
    }
    for (i, seg) in m.data.iter().enumerate() {
        if let SegmentMode::Active { index, offset } = &seg.mode {
            check_index(|| format!("data[{i}].memory"), *index, m.num_memories())?;
            // A 64-bit memory's segments have i64 offsets (memory64).
            let ty = match m.memory_is_64(*index) {
                true => ValType::I64,
                false => ValType::I32,
            };
            consts.check(&format!("data[{i}].offset"), offset, ty, num_funcs)?;
        }
    }
    consts.all_used()?;
    if let Some(image) = &m.memory_image {
        check_memory_image(m, image)?;
    }
    let layout = VmctxLayout::new(m);
    if layout.size() > VmctxLayout::MAX_SIZE {
        return Err(out_of_range(
            "vmctx size".into(),
            layout.size(),
            VmctxLayout::MAX_SIZE,
        ));
    }
    for (i, reloc) in m.relocations.iter().enumerate() {
        let expected = match reloc.target {
            RelocTarget::Helper(h) => {
                let helper = Helper::from_u32(h).ok_or_else(|| {
                    out_of_range(
                        format!("relocations[{i}].helper"),
                        h as u64,
                        Helper::COUNT as u64,
                    )
                })?;
                layout.helper(helper)
            }
            RelocTarget::ImportedFunc(f) => {
                check_index(|| format!("relocations[{i}].import"), f, num_imported_funcs)?;
                layout.imported_func(f)
            }
        };
        if reloc.slot as i64 != expected as i64 {
            return Err(FormatError::Mismatch {
                field: "relocation slot",
                found: reloc.slot.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    // Code with explicit checks gets neither guard regions nor the fault
    // handler: unchecked accesses in it would reach past its memory.
    if options.bounds_checks == BoundsChecks::Explicit && tables.num_fault_sites() > 0 {
        return Err(FormatError::Invalid(format!(
            "the header says explicit bounds checks, but the tables list {} fault sites \
             (memory accesses without a bounds check, which only guard-page code has)",
            tables.num_fault_sites()
        )));
    }
    Ok(())
}

/// The image initialises a defined memory 0 within its minimum size, and
/// the segments it replaces are active segments of that memory with
/// constant offsets, whose bytes are not stored again. (`read_artifact`
/// checked its file range.)
fn check_memory_image(m: &Metadata, image: &MemoryImage) -> Result<(), FormatError> {
    if m.num_imported(ExternKind::Memory) != 0 || m.memories.is_empty() {
        return Err(FormatError::Invalid(
            "the artifact has a memory image, but memory 0 is imported or missing \
             (only a memory the module defines starts from an image)"
                .into(),
        ));
    }
    if !image.memory_offset.is_multiple_of(IMAGE_ALIGN) {
        return Err(FormatError::Mismatch {
            field: "memory image memory offset alignment",
            found: image.memory_offset.to_string(),
            expected: format!("a multiple of {IMAGE_ALIGN}"),
        });
    }
    if m.memories[0].index64 {
        return Err(FormatError::Invalid(
            "the artifact has a memory image for a 64-bit memory 0 (images are for \
             32-bit memories only)"
                .into(),
        ));
    }
    let min_bytes = m.memories[0].min_pages.saturating_mul(WASM_PAGE);
    let end = image.memory_offset.saturating_add(image.len);
    if end > min_bytes {
        return Err(out_of_range(
            "memory image end in memory 0".into(),
            end,
            min_bytes,
        ));
    }
    let mut previous = None;
    for (i, &s) in image.segments.iter().enumerate() {
        let field = || format!("memory_image.segments[{i}]");
        check_index(field, s, m.data.len() as u32)?;
        if previous.is_some_and(|p| p >= s) {
            return Err(FormatError::Invalid(format!(
                "{} is not ascending",
                field()
            )));
        }
        previous = Some(s);
        let seg = &m.data[s as usize];
        let constant_in_memory_0 = matches!(
            seg.mode,
            SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(_)
            }
        );
        if !constant_in_memory_0 || !seg.bytes.is_empty() {
            return Err(FormatError::Invalid(format!(
                "{}: data segment {s} is in the memory image, so it must be an active segment \
                 of memory 0 with an i32.const offset and no bytes of its own",
                field()
            )));
        }
    }
    Ok(())
}

fn check_memory(field: &str, mem: &crate::MemoryType) -> Result<(), FormatError> {
    let (limit, kind) = match mem.index64 {
        true => (MAX_PAGES64, "64-bit"),
        false => (MAX_PAGES, "32-bit"),
    };
    let max = mem.max_pages.unwrap_or(limit);
    if mem.min_pages > max || max > limit {
        return Err(FormatError::Invalid(format!(
            "{field}: limits {}..{max} pages (at most {limit} for a {kind} memory)",
            mem.min_pages
        )));
    }
    Ok(())
}

fn check_table(field: &str, t: &crate::TableType) -> Result<(), FormatError> {
    check_reference(field, t.element)?;
    // Without a maximum: the largest of the index type (table64).
    let max = t.max.unwrap_or(match t.index64 {
        true => u64::MAX,
        false => u32::MAX as u64,
    });
    // A huge minimum is valid (a module definition with one loads); the
    // loader refuses to allocate it when instantiating
    // (`vibewasm_loader::MAX_TABLE_ELEMENTS`).
    if t.min > max {
        return Err(FormatError::Invalid(format!(
            "{field}: limits {}..{max} elements",
            t.min
        )));
    }
    Ok(())
}

fn is_reference(ty: ValType) -> bool {
    matches!(ty, ValType::FuncRef | ValType::ExternRef)
}

/// Tables and element segments hold references only.
fn check_reference(field: &str, ty: ValType) -> Result<(), FormatError> {
    if !is_reference(ty) {
        return Err(FormatError::Invalid(format!(
            "{field}: element type {ty} is not a reference type"
        )));
    }
    Ok(())
}

/// The element type of table `index` (imports first).
fn table_element(m: &Metadata, index: u32) -> Option<ValType> {
    let imported = m.imports.iter().filter_map(|i| match &i.kind {
        ImportKind::Table(t) => Some(t.element),
        _ => None,
    });
    let defined = m.tables.iter().map(|t| t.element);
    imported.chain(defined).nth(index as usize)
}

/// The programs of [`Metadata::const_exprs`], type-checked, and which
/// constants use them.
struct Consts {
    /// The type of every global, imports first.
    globals: Vec<ValType>,
    /// Each program's result type and the highest global it reads.
    programs: Vec<(ValType, Option<u32>)>,
    used: Vec<bool>,
}

impl Consts {
    /// Type-checks every program (see [`check_program`]).
    fn new(m: &Metadata) -> Result<Consts, FormatError> {
        if m.const_exprs.len() > MAX_CONST_EXPRS {
            return Err(out_of_range(
                "const_exprs".into(),
                m.const_exprs.len() as u64,
                MAX_CONST_EXPRS as u64,
            ));
        }
        let imported = m.imports.iter().filter_map(|i| match i.kind {
            ImportKind::Global(g) => Some(g.ty),
            _ => None,
        });
        let globals: Vec<ValType> = imported.chain(m.globals.iter().map(|g| g.ty.ty)).collect();
        let programs = m
            .const_exprs
            .iter()
            .enumerate()
            .map(|(n, ops)| check_program(n, ops, &globals))
            .collect::<Result<_, _>>()?;
        Ok(Consts {
            globals,
            programs,
            used: vec![false; m.const_exprs.len()],
        })
    }

    /// `expr`'s indices are in range, it has type `expected`, and if it is
    /// a program, no other constant uses that program.
    fn check(
        &mut self,
        field: &str,
        expr: &ConstExpr,
        expected: ValType,
        num_funcs: u32,
    ) -> Result<(), FormatError> {
        let num_globals = self.globals.len() as u32;
        let found = match *expr {
            ConstExpr::I32(_) => ValType::I32,
            ConstExpr::I64(_) => ValType::I64,
            ConstExpr::F32(_) => ValType::F32,
            ConstExpr::F64(_) => ValType::F64,
            ConstExpr::V128(_) => ValType::V128,
            ConstExpr::GlobalGet(g) => {
                check_index(|| format!("{field}.global"), g, num_globals)?;
                self.globals[g as usize]
            }
            ConstExpr::RefNull(ty) => {
                check_reference(&format!("{field} (ref.null)"), ty)?;
                ty
            }
            ConstExpr::RefFunc(f) => {
                check_index(|| format!("{field}.func"), f, num_funcs)?;
                ValType::FuncRef
            }
            ConstExpr::Extended(n) => {
                let count = self.programs.len() as u32;
                check_index(|| format!("{field}.const_expr"), n, count)?;
                if core::mem::replace(&mut self.used[n as usize], true) {
                    return Err(FormatError::Invalid(format!(
                        "{field}: const_exprs[{n}] is used by more than one constant"
                    )));
                }
                self.programs[n as usize].0
            }
        };
        if found != expected {
            return Err(FormatError::Invalid(format!(
                "{field} is a constant of type {found}, where {expected} is needed"
            )));
        }
        Ok(())
    }

    /// The highest global `expr` (checked by [`Consts::check`]) reads.
    fn last_global(&self, expr: &ConstExpr) -> Option<u32> {
        match *expr {
            ConstExpr::GlobalGet(g) => Some(g),
            ConstExpr::Extended(n) => self.programs[n as usize].1,
            _ => None,
        }
    }

    /// Every program is some constant's.
    fn all_used(&self) -> Result<(), FormatError> {
        match self.used.iter().position(|used| !used) {
            Some(n) => Err(FormatError::Invalid(format!(
                "const_exprs[{n}] is used by no constant"
            ))),
            None => Ok(()),
        }
    }
}

/// Program `n` of [`Metadata::const_exprs`] runs on a stack of `i32`s and
/// `i64`s without underflow or a wrong operand type, reads only `i32` and
/// `i64` globals in range (`globals` holds every global's type), and
/// leaves exactly one value. Returns that value's type and the highest
/// global read.
fn check_program(
    n: usize,
    ops: &[ConstOp],
    globals: &[ValType],
) -> Result<(ValType, Option<u32>), FormatError> {
    let field = |j: usize| format!("const_exprs[{n}][{j}]");
    if ops.is_empty() || ops.len() > MAX_CONST_OPS {
        return Err(FormatError::Invalid(format!(
            "const_exprs[{n}] has {} instructions (1 to {MAX_CONST_OPS})",
            ops.len()
        )));
    }
    let mut stack: Vec<ValType> = Vec::new();
    let mut last_global: Option<u32> = None;
    for (j, op) in ops.iter().enumerate() {
        let (operand, result) = match *op {
            ConstOp::I32(_) => (None, ValType::I32),
            ConstOp::I64(_) => (None, ValType::I64),
            ConstOp::GlobalGet(g) => {
                check_index(|| format!("{}.global", field(j)), g, globals.len() as u32)?;
                let ty = globals[g as usize];
                if !matches!(ty, ValType::I32 | ValType::I64) {
                    return Err(FormatError::Invalid(format!(
                        "{} reads global {g} of type {ty} (programs compute with i32 and i64)",
                        field(j)
                    )));
                }
                last_global = last_global.max(Some(g));
                (None, ty)
            }
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                (Some(ValType::I32), ValType::I32)
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                (Some(ValType::I64), ValType::I64)
            }
        };
        if let Some(operand) = operand {
            let len = stack.len();
            if len < 2 {
                return Err(FormatError::Invalid(format!(
                    "{} ({op:?}) needs two operands, the stack holds {len}",
                    field(j)
                )));
            }
            if stack[len - 2..].iter().any(|&t| t != operand) {
                return Err(FormatError::Invalid(format!(
                    "{} ({op:?}) needs two {operand} operands, the stack has {} and {}",
                    field(j),
                    stack[len - 2],
                    stack[len - 1]
                )));
            }
            stack.truncate(len - 2);
        }
        stack.push(result);
    }
    match stack[..] {
        [ty] => Ok((ty, last_global)),
        _ => Err(FormatError::Invalid(format!(
            "const_exprs[{n}] leaves {} values (a constant is exactly one)",
            stack.len()
        ))),
    }
}
