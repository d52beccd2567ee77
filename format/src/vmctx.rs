//! The per-instance context (`vmctx`) that generated code reaches everything
//! outside itself through, and the calling conventions around it.
//!
//! This is part of the artifact ABI: compiler and loader both compute offsets
//! with [`VmctxLayout`], so changing anything here needs a new format version.
//!
//! # Layout (byte offsets, all fields little-endian, 8-byte aligned)
//!
//! ```text
//!   0  entry_sp       saved stack pointer of the innermost host->wasm entry (trap exit)
//!   8  stack_limit    generated code traps with "call stack exhausted" below this
//!  16  trap_site      u32: index into the trap table of the last trap raised
//!  24  memory0        *const MemoryDef of memory 0 (null without memory)
//!  32  host_state     opaque pointer owned by the loader
//!  40  reserved       (fuel, epochs)
//!  64  helpers        [fn ptr; Helper::COUNT]
//!      imported_funcs [{code: HostCallFn, env: *mut c_void}; imported funcs]
//!      type_ids       [u32; types], padded to 8: canonical signature ids for call_indirect
//!      tables         [*const TableDef; tables (imports first)]
//!      globals        [8 bytes; globals (imports first)]: an imported global holds a
//!                     pointer to its value cell, a defined one holds its value inline
//! ```
//!
//! # Conventions
//!
//! * Register `S0` holds `vmctx` in every wasm function; it is never written.
//! * A wasm function is entered with `SLJIT_CALL_REG_ARG` and one argument in
//!   `R0`: a pointer to an array of 8-byte slots holding the arguments. The
//!   callee writes its results to the same array, from slot 0 (the array has
//!   `max(params, results)` slots). i32/f32 values use the slot's low 4 bytes.
//! * The host enters through the `host_entry` trampoline
//!   (`extern "C" fn(vmctx, argv, code) -> u32`); it returns 1 if the call
//!   trapped, and `trap_site` then says where.
//! * An imported function is called as [`HostCallFn`] with its `env`, the
//!   caller's vmctx and the argument array; a non-zero return is a trap.

/// Signature of the host side of an imported function.
pub type HostCallFn = unsafe extern "C" fn(env: *mut u8, vmctx: *mut u8, argv: *mut u64) -> u32;

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct MemoryDef {
    /// Start of the memory. It never moves: the loader reserves the address
    /// space for the maximum size up front.
    pub base: *mut u8,
    /// Current size in bytes.
    pub len: u64,
}

/// One table element as generated code sees it (32 bytes, so an index scales by a shift).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FuncRef {
    /// Entry of the function (internal convention); null for a null reference.
    pub code: *const u8,
    /// The vmctx the function runs with.
    pub vmctx: *mut u8,
    /// Canonical signature id, compared with `type_ids[t]` by `call_indirect`.
    pub type_id: u64,
    pub reserved: u64,
}

/// `log2(size_of::<FuncRef>())`.
pub const FUNC_REF_SHIFT: u32 = 5;
pub const FUNC_REF_CODE: i32 = 0;
pub const FUNC_REF_VMCTX: i32 = 8;
pub const FUNC_REF_TYPE_ID: i32 = 16;

/// A table as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct TableDef {
    pub elements: *mut FuncRef,
    /// Current number of elements.
    pub len: u64,
}

pub const MEMORY_DEF_BASE: i32 = 0;
pub const MEMORY_DEF_LEN: i32 = 8;
pub const TABLE_DEF_ELEMENTS: i32 = 0;
pub const TABLE_DEF_LEN: i32 = 8;

pub const ENTRY_SP: i32 = 0;
pub const STACK_LIMIT: i32 = 8;
pub const TRAP_SITE: i32 = 16;
pub const MEMORY0: i32 = 24;
pub const HOST_STATE: i32 = 32;
pub const HELPERS: i32 = 64;

/// Runtime helpers generated code calls (C ABI) through `vmctx.helpers[id]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Helper {
    /// `extern "C" fn(vmctx, delta_pages: u64) -> u64`: the old size in pages,
    /// or `u32::MAX` (i32 -1) when the memory cannot grow.
    MemoryGrow = 0,
}

impl Helper {
    pub const COUNT: u32 = 1;
    pub const ALL: [Helper; Helper::COUNT as usize] = [Helper::MemoryGrow];

    pub fn from_u32(n: u32) -> Option<Helper> {
        Helper::ALL.get(n as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Helper::MemoryGrow => "memory.grow",
        }
    }
}

/// Offsets of everything in one module's vmctx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmctxLayout {
    pub num_imported_funcs: u32,
    pub num_types: u32,
    pub num_tables: u32,
    pub num_globals: u32,
    /// Number of globals that are imported (they come first).
    pub num_imported_globals: u32,
}

impl VmctxLayout {
    pub fn new(metadata: &crate::Metadata) -> VmctxLayout {
        VmctxLayout {
            num_imported_funcs: metadata.num_imported(crate::ExternKind::Func),
            num_types: metadata.types.len() as u32,
            num_tables: metadata.num_tables(),
            num_globals: metadata.num_globals(),
            num_imported_globals: metadata.num_imported(crate::ExternKind::Global),
        }
    }

    pub fn helper(&self, helper: Helper) -> i32 {
        HELPERS + 8 * helper as i32
    }

    fn imported_funcs_start(&self) -> u64 {
        HELPERS as u64 + 8 * Helper::COUNT as u64
    }

    /// Slot of the [`HostCallFn`] of imported function `index`.
    pub fn imported_func_code(&self, index: u32) -> i32 {
        (self.imported_funcs_start() + 16 * index as u64) as i32
    }

    /// Slot of the `env` pointer of imported function `index`.
    pub fn imported_func_env(&self, index: u32) -> i32 {
        self.imported_func_code(index) + 8
    }

    fn type_ids_start(&self) -> u64 {
        self.imported_funcs_start() + 16 * self.num_imported_funcs as u64
    }

    /// Slot (u32) of the canonical id of type `index`.
    pub fn type_id(&self, index: u32) -> i32 {
        (self.type_ids_start() + 4 * index as u64) as i32
    }

    fn tables_start(&self) -> u64 {
        self.type_ids_start() + (4 * self.num_types as u64).next_multiple_of(8)
    }

    /// Slot of the `*const TableDef` of table `index`.
    pub fn table(&self, index: u32) -> i32 {
        (self.tables_start() + 8 * index as u64) as i32
    }

    fn globals_start(&self) -> u64 {
        self.tables_start() + 8 * self.num_tables as u64
    }

    /// Slot of global `index`: its value, or a pointer to it when imported.
    pub fn global(&self, index: u32) -> i32 {
        (self.globals_start() + 8 * index as u64) as i32
    }

    pub fn global_is_imported(&self, index: u32) -> bool {
        index < self.num_imported_globals
    }

    /// Total size of the vmctx in bytes.
    pub fn size(&self) -> u64 {
        self.globals_start() + 8 * self.num_globals as u64
    }

    /// Largest vmctx the format allows, so every slot offset fits an `i32`
    /// displacement.
    pub const MAX_SIZE: u64 = i32::MAX as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_the_offsets() {
        assert_eq!(std::mem::size_of::<FuncRef>(), 1 << FUNC_REF_SHIFT);
        assert_eq!(std::mem::offset_of!(FuncRef, code), FUNC_REF_CODE as usize);
        assert_eq!(
            std::mem::offset_of!(FuncRef, vmctx),
            FUNC_REF_VMCTX as usize
        );
        assert_eq!(
            std::mem::offset_of!(FuncRef, type_id),
            FUNC_REF_TYPE_ID as usize
        );
        assert_eq!(
            std::mem::offset_of!(MemoryDef, len),
            MEMORY_DEF_LEN as usize
        );
        assert_eq!(std::mem::offset_of!(TableDef, len), TABLE_DEF_LEN as usize);
    }

    #[test]
    fn regions_follow_each_other() {
        let layout = VmctxLayout {
            num_imported_funcs: 2,
            num_types: 3,
            num_tables: 1,
            num_globals: 2,
            num_imported_globals: 1,
        };
        assert_eq!(
            layout.imported_func_code(0),
            HELPERS + 8 * Helper::COUNT as i32
        );
        assert_eq!(layout.type_id(0), layout.imported_func_code(2));
        assert_eq!(layout.table(0) as u64 % 8, 0);
        assert_eq!(layout.global(0), layout.table(1));
        assert_eq!(layout.size(), layout.global(2) as u64);
        assert!(layout.global_is_imported(0) && !layout.global_is_imported(1));
    }
}
