//! The metadata section: everything the loader needs besides the machine code.
//!
//! Encoded with `postcard` (see the crate docs for why). Every index in here is
//! untrusted until [`Metadata::validate`] has checked it.

use crate::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TableRanges;

/// A WebAssembly value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

impl ValType {
    /// How many 8-byte slots a value of this type takes in an argument
    /// array (see [`crate::vmctx`]): two for `v128`, one for the rest.
    pub const fn slots(self) -> usize {
        match self {
            ValType::V128 => 2,
            _ => 1,
        }
    }
}

/// The slot index of each value of `types` in an argument array, and the
/// number of slots they take together.
pub fn slot_offsets(types: &[ValType]) -> (Vec<usize>, usize) {
    let mut next = 0;
    let offsets = types
        .iter()
        .map(|ty| {
            let at = next;
            next += ty.slots();
            at
        })
        .collect();
    (offsets, next)
}

impl core::fmt::Display for ValType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A function signature.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl core::fmt::Display for FuncType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(f, "[{}] -> [{}]", list(&self.params), list(&self.results))
    }
}

/// Limits of a linear memory, in 64 KiB pages, and its address type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    pub min_pages: u64,
    pub max_pages: Option<u64>,
    /// A 64-bit memory (memory64): addresses, sizes and bulk operands are
    /// `i64`, and up to [`crate::MAX_PAGES64`] pages.
    pub index64: bool,
}

/// Limits of a table, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableType {
    pub element: ValType,
    pub min: u64,
    pub max: Option<u64>,
    /// A 64-bit table (table64, part of memory64): indices, sizes and
    /// bulk operands are `i64`.
    pub index64: bool,
}

/// Type and mutability of a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalType {
    pub ty: ValType,
    pub mutable: bool,
}

/// A constant expression (global initialisers, segment offsets, element items).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstExpr {
    I32(i32),
    I64(i64),
    /// Bit pattern of an f32.
    F32(u32),
    /// Bit pattern of an f64.
    F64(u64),
    /// The value of global `n` (an imported global in Wasm 2.0).
    GlobalGet(u32),
    RefNull(ValType),
    RefFunc(u32),
    /// A `v128.const`, lane 0 in the low bits.
    V128(u128),
    /// An extended constant expression (Wasm 3.0: `i32`/`i64` `add`, `sub`
    /// and `mul` over constants and `global.get`): program `n` of
    /// [`Metadata::const_exprs`]. Expressions of one instruction always
    /// take the variants above.
    Extended(u32),
}

/// Most programs in [`Metadata::const_exprs`].
pub const MAX_CONST_EXPRS: usize = 1_000_000;
/// Most instructions in one program of [`Metadata::const_exprs`].
pub const MAX_CONST_OPS: usize = 10_000;

/// One instruction of an extended constant expression, a postfix program
/// over a stack of `i32`/`i64` values (the arithmetic wraps). A program
/// validates when it runs without underflow and leaves exactly one value
/// of the type its use needs (see [`Metadata::const_exprs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstOp {
    I32(i32),
    I64(i64),
    /// Pushes global `n`, which must be an `i32` or `i64` global.
    GlobalGet(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// Why [`ConstOp::run`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstEvalError {
    /// The program reads global `n`, which the caller has no value for.
    Global(u32),
    /// The program underflows its stack, gives an operator an operand of
    /// the wrong type, reads a global that is not an `i32` or `i64`, or
    /// does not end with exactly one value.
    Malformed,
}

impl ConstOp {
    /// Runs `ops`: `global(n)` gives global `n`'s type and value (an `i32`
    /// in the low 32 bits; the others are ignored). Returns the result's
    /// type and value, an `i32` zero-extended. The arithmetic wraps.
    pub fn run(
        ops: &[ConstOp],
        global: impl Fn(u32) -> Option<(ValType, u64)>,
    ) -> Result<(ValType, u64), ConstEvalError> {
        let mut stack: Vec<(ValType, u64)> = Vec::with_capacity(ops.len().min(64));
        for op in ops {
            let (operand, f): (ValType, fn(u64, u64) -> u64) = match *op {
                ConstOp::I32(v) => {
                    stack.push((ValType::I32, v as u32 as u64));
                    continue;
                }
                ConstOp::I64(v) => {
                    stack.push((ValType::I64, v as u64));
                    continue;
                }
                ConstOp::GlobalGet(g) => {
                    let value = match global(g).ok_or(ConstEvalError::Global(g))? {
                        (ValType::I32, v) => (ValType::I32, v as u32 as u64),
                        (ValType::I64, v) => (ValType::I64, v),
                        _ => return Err(ConstEvalError::Malformed),
                    };
                    stack.push(value);
                    continue;
                }
                ConstOp::I32Add => (ValType::I32, |a, b| {
                    (a as u32).wrapping_add(b as u32) as u64
                }),
                ConstOp::I32Sub => (ValType::I32, |a, b| {
                    (a as u32).wrapping_sub(b as u32) as u64
                }),
                ConstOp::I32Mul => (ValType::I32, |a, b| {
                    (a as u32).wrapping_mul(b as u32) as u64
                }),
                ConstOp::I64Add => (ValType::I64, u64::wrapping_add),
                ConstOp::I64Sub => (ValType::I64, u64::wrapping_sub),
                ConstOp::I64Mul => (ValType::I64, u64::wrapping_mul),
            };
            match (stack.pop(), stack.pop()) {
                (Some((tb, b)), Some((ta, a))) if ta == operand && tb == operand => {
                    stack.push((operand, f(a, b)));
                }
                _ => return Err(ConstEvalError::Malformed),
            }
        }
        match stack[..] {
            [value] => Ok(value),
            _ => Err(ConstEvalError::Malformed),
        }
    }
}

/// What an import provides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportKind {
    /// A function of type `types[n]`.
    Func(u32),
    Memory(MemoryType),
    Table(TableType),
    Global(GlobalType),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

/// Which index space an export refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExternKind {
    Func,
    Memory,
    Table,
    Global,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub name: String,
    pub kind: ExternKind,
    /// Index in the module's index space of `kind` (imports first).
    pub index: u32,
}

/// A global defined by the module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalDef {
    pub ty: GlobalType,
    pub init: ConstExpr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentMode {
    /// Copied into `memory`/`table` number `index` at `offset` on instantiation.
    Active { index: u32, offset: ConstExpr },
    /// Used only by `memory.init`/`table.init`.
    Passive,
    /// Declares `ref.func` targets; dropped at instantiation.
    Declared,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementSegment {
    pub mode: SegmentMode,
    pub element: ValType,
    /// Each item is `RefFunc`, `RefNull` or `GlobalGet`.
    pub items: Vec<ConstExpr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSegment {
    pub mode: SegmentMode,
    pub bytes: Vec<u8>,
}

/// Where one function's machine code sits in the code section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRange {
    /// Byte offset from the start of the code section.
    pub offset: u32,
    pub len: u32,
    /// Bytes between the stack pointer inside the function's body (which
    /// never moves there) and its return address: walking from a trapping
    /// frame to its callers needs nothing else.
    pub frame_size: u32,
}

/// What the loader stores into one slot of the per-instance context (`vmctx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelocTarget {
    /// The address of runtime helper `n` (see [`crate::vmctx::Helper`]).
    Helper(u32),
    /// The [`crate::vmctx::ImportedFunc`] record of imported function `n`.
    ImportedFunc(u32),
}

/// A relocation: vmctx slot `slot` (a byte offset) holds `target`. The code
/// itself is never patched; it loads these slots through the `ctx` register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relocation {
    pub slot: u32,
    pub target: RelocTarget,
}

/// Entry points into the code section that are not wasm functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trampolines {
    /// `extern "C" fn(ctx, argv, code) -> u32`: calls the wasm function at
    /// `code` with arguments and results in `argv`; returns 0, or 1 on a trap.
    pub host_entry: u32,
    /// The shared trap path: where the fault handler resumes an
    /// out-of-bounds access of guard-page code (see [`crate::FaultSite`]).
    pub trap_path: u32,
}

/// Everything in the artifact besides the machine code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub func_types: Vec<u32>,
    /// Tables defined by the module (after imported ones in the index space).
    pub tables: Vec<TableType>,
    /// Memories defined by the module (after imported ones in the index space).
    pub memories: Vec<MemoryType>,
    /// Globals defined by the module (after imported ones in the index space).
    pub globals: Vec<GlobalDef>,
    pub exports: Vec<Export>,
    pub start: Option<u32>,
    pub elements: Vec<ElementSegment>,
    pub data: Vec<DataSegment>,
    /// The programs of the [`ConstExpr::Extended`] constants. Each is used
    /// by exactly one constant (a global initialiser, a segment offset or
    /// an element item), so instantiation runs each at most once; at most
    /// [`MAX_CONST_EXPRS`] programs of at most [`MAX_CONST_OPS`]
    /// instructions each.
    pub const_exprs: Vec<Vec<ConstOp>>,
    pub trampolines: Option<Trampolines>,
    pub relocations: Vec<Relocation>,
    /// Where the per-function and per-site tables are in the tables
    /// section (see [`crate::Tables`]); filled in by
    /// [`crate::write_artifact`]. Stays just before `memory_image`, where
    /// the forged-artifact tests find it.
    pub site_tables: TableRanges,
    /// The initial contents of memory 0 as a page-aligned range of the
    /// file, to be mapped copy-on-write. Stays the last field:
    /// [`crate::write_artifact`] re-encodes only this field while it places
    /// the image.
    pub memory_image: Option<MemoryImage>,
}

/// Alignment, in the file and in linear memory, of a [`MemoryImage`]'s
/// start and of its length: the page size of x86-64 Linux (a loader on a
/// host with larger pages copies an image it cannot map).
pub const IMAGE_ALIGN: u64 = 4096;

/// Memory 0's initial contents in `[memory_offset, memory_offset + len)`
/// after every active data segment listed in `segments` is applied, in
/// order; stored at file offset `offset`, between the metadata and the
/// code. A loader maps (or copies) it over the fresh memory where it would
/// apply those segments, and treats them as applied and dropped.
///
/// Only for a defined memory 0 (an imported memory has contents of its
/// own), and only within its minimum size: mapping is then exactly as if
/// the segments had been copied, none of which can fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryImage {
    /// File offset of the image bytes, a multiple of [`IMAGE_ALIGN`]
    /// ([`crate::write_artifact`] fills it in).
    pub offset: u64,
    /// Bytes in the image: a non-zero multiple of [`IMAGE_ALIGN`]
    /// ([`crate::write_artifact`] fills it in).
    pub len: u64,
    /// Where in memory 0 the image starts, a multiple of [`IMAGE_ALIGN`].
    pub memory_offset: u64,
    /// Indices into [`Metadata::data`], ascending, of the active segments
    /// of memory 0 (with `i32.const` offsets) whose bytes are in the image.
    /// Their own `bytes` are empty: they keep their index and mode, so
    /// `memory.init`/`data.drop` see them as the dropped active segments
    /// they are after instantiation.
    pub segments: Vec<u32>,
}

impl Metadata {
    pub fn num_imported(&self, kind: ExternKind) -> u32 {
        self.imports
            .iter()
            .filter(|i| {
                matches!(
                    (&i.kind, kind),
                    (ImportKind::Func(_), ExternKind::Func)
                        | (ImportKind::Memory(_), ExternKind::Memory)
                        | (ImportKind::Table(_), ExternKind::Table)
                        | (ImportKind::Global(_), ExternKind::Global)
                )
            })
            .count() as u32
    }

    /// Total size of each index space, imports included.
    pub fn num_funcs(&self) -> u32 {
        self.func_types.len() as u32
    }
    pub fn num_tables(&self) -> u32 {
        self.num_imported(ExternKind::Table) + self.tables.len() as u32
    }
    pub fn num_memories(&self) -> u32 {
        self.num_imported(ExternKind::Memory) + self.memories.len() as u32
    }
    pub fn num_globals(&self) -> u32 {
        self.num_imported(ExternKind::Global) + self.globals.len() as u32
    }

    /// Type of global `index` (imports first).
    pub fn global_type(&self, index: u32) -> Option<GlobalType> {
        let imported: Vec<GlobalType> = self
            .imports
            .iter()
            .filter_map(|i| match i.kind {
                ImportKind::Global(g) => Some(g),
                _ => None,
            })
            .collect();
        match imported.get(index as usize) {
            Some(g) => Some(*g),
            None => self
                .globals
                .get(index as usize - imported.len())
                .map(|g| g.ty),
        }
    }

    /// Type of memory `index` (imports first).
    pub fn memory_type(&self, index: u32) -> Option<MemoryType> {
        let imported = self.imports.iter().filter_map(|i| match i.kind {
            ImportKind::Memory(m) => Some(m),
            _ => None,
        });
        imported
            .chain(self.memories.iter().copied())
            .nth(index as usize)
    }

    /// Type of table `index` (imports first).
    pub fn table_type(&self, index: u32) -> Option<TableType> {
        let imported = self.imports.iter().filter_map(|i| match i.kind {
            ImportKind::Table(t) => Some(t),
            _ => None,
        });
        imported
            .chain(self.tables.iter().copied())
            .nth(index as usize)
    }

    /// Whether table `index` is a 64-bit one.
    pub fn table_is_64(&self, index: u32) -> bool {
        self.table_type(index).is_some_and(|t| t.index64)
    }

    /// Whether memory `index` is a 64-bit one.
    pub fn memory_is_64(&self, index: u32) -> bool {
        self.memory_type(index).is_some_and(|m| m.index64)
    }

    /// The signature of function `index`.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let ty = *self.func_types.get(index as usize)?;
        self.types.get(ty as usize)
    }
}
