//! The per-instance context (`vmctx`) that generated code reaches everything
//! outside itself through, and the calling conventions around it.
//!
//! This is part of the artifact ABI: compiler and loader both compute offsets
//! with [`VmctxLayout`], so changing anything here needs a new format version.
//!
//! # Layout (byte offsets, all fields little-endian, 8-byte aligned)
//!
//! ```text
//!   0  runtime        *mut RuntimeState, shared by every instance that may call
//!                     another (one store): entry SP, stack limit, trap record
//!   8  memory0        *const MemoryDef of memory 0 (null without memory)
//!  16  host_state     opaque pointer owned by the loader
//!  24  reserved       (fuel, epochs), zero
//!  64  helpers        [HelperFn; Helper::COUNT]
//!      imports        [ImportedFunc; imported funcs], 24 bytes each
//!      func_refs      [*const FuncRef; all funcs (imports first)]: `ref.func`
//!      type_ids       [u32; types], padded to 8: canonical signature ids
//!      tables         [*const TableDef; tables (imports first)]
//!      memories       [*const MemoryDef; memories (imports first)]; memory 0
//!                     is also at `memory0`, the one generated code keeps
//!                     in registers
//!      globals        [8 bytes; globals (imports first)]: an imported global holds
//!                     a pointer to its value cell, a defined one holds its value;
//!                     a `v128` global (imported or defined) always holds a
//!                     pointer to its 16-byte cell
//!      tail_call_args [8 bytes; the most param slots of the module's types]:
//!                     where a tail call leaves its callee's arguments
//! ```
//!
//! # Values
//!
//! Every value occupies an 8-byte slot: i32/f32 in the low 4 bytes, i64/f64
//! all 8; a `v128` takes two consecutive slots (16 bytes, lane 0 first, i.e.
//! the little-endian `u128`), so the values of a signature sit at the slot
//! offsets [`crate::slot_offsets`] gives. A `funcref` is a `*const FuncRef` (0 is null); an `externref` is an
//! opaque 8-byte handle chosen by the host (0 is null).
//!
//! # Conventions
//!
//! * Register `S0` holds `vmctx` in every wasm function; a function never
//!   writes it (a caller that switches to another instance's vmctx for a call
//!   restores its own afterwards).
//! * A wasm function is entered with `SLJIT_CALL_REG_ARG` and two arguments:
//!   in `R0` a pointer to an array of 8-byte slots holding the arguments, in
//!   `R1` one to the array the callee writes its results to, from slot 0.
//!   The callee reads every argument in its prologue, before it can call
//!   anything; a callee without results never reads `R1`. A call passes the same array twice (`max(param slots, result
//!   slots)` slots of the caller's frame). A tail call (`return_call`,
//!   `return_call_indirect`) cannot: its caller's frame is gone when the
//!   callee runs, and the callee may have more parameters than the array
//!   its caller received has room for. It passes its own results array in
//!   `R1` and leaves the arguments in its vmctx's `tail_call_args`, which
//!   the callee has read by the time anything can use them again (a host
//!   function gets a copy, see the compiler's import stubs).
//! * The host enters through the `host_entry` trampoline
//!   (`extern "C" fn(vmctx, argv, code) -> u32`); it returns 1 if the call
//!   trapped, and the [`RuntimeState`] of `vmctx` then says where: the trap
//!   site number and the vmctx of the instance whose code trapped (its
//!   artifact's trap table gives kind, function and wasm offset).
//! * An imported function is called through its [`ImportedFunc`]: when
//!   `callee` is non-null it is another instance's wasm function, called
//!   directly with that instance's vmctx; otherwise `host_fn(host_env, vmctx,
//!   argv)` is called, and a non-zero return is a trap (the loader keeps the
//!   reason).
//! * Helpers are `extern "C" fn(vmctx, args: *mut u64) -> u32`: operands in
//!   `args` in wasm order followed by the immediates listed for the helper,
//!   results written back from `args[0]`; the return value is 0 or the
//!   [`crate::TrapCode`] to raise.

/// Signature of the host side of an imported function.
pub type HostCallFn = unsafe extern "C" fn(env: *mut u8, vmctx: *mut u8, argv: *mut u64) -> u32;

/// Signature of every runtime helper.
pub type HelperFn = unsafe extern "C" fn(vmctx: *mut u8, args: *mut u64) -> u32;

/// State shared by all instances that can call each other, used by one
/// thread at a time.
#[repr(C)]
#[derive(Debug)]
pub struct RuntimeState {
    /// Stack pointer saved by the innermost host entry trampoline: a trap
    /// restores it and returns 1 from that trampoline.
    pub entry_sp: usize,
    /// Generated code traps with "call stack exhausted" below this address.
    pub stack_limit: usize,
    /// Trap-site number of the last trap (index into the trap table of the
    /// artifact of `trap_vmctx`).
    pub trap_site: u32,
    pub reserved: u32,
    /// vmctx of the instance whose code raised the last trap.
    pub trap_vmctx: *mut u8,
    /// Fuel left (code compiled with fuel metering subtracts from it and
    /// traps with "out of fuel" rather than let it go negative).
    pub fuel: i64,
    /// Code compiled with epoch checks traps with "interrupted" at a
    /// function entry or loop head once `*epoch_counter >= epoch_deadline`.
    pub epoch_deadline: u64,
    /// The engine's epoch counter (incremented by another thread); must be
    /// valid whenever code compiled with epoch checks runs.
    pub epoch_counter: *const u64,
    /// Stack pointer of the frame that raised the last trap: the start of a
    /// backtrace (see [`crate::CodeRange::frame_size`]).
    pub trap_sp: usize,
}

impl Default for RuntimeState {
    fn default() -> Self {
        RuntimeState {
            entry_sp: 0,
            stack_limit: 0,
            trap_site: 0,
            reserved: 0,
            trap_vmctx: core::ptr::null_mut(),
            fuel: 0,
            epoch_deadline: u64::MAX,
            epoch_counter: core::ptr::null(),
            trap_sp: 0,
        }
    }
}

pub const RUNTIME_ENTRY_SP: i32 = 0;
pub const RUNTIME_STACK_LIMIT: i32 = 8;
pub const RUNTIME_TRAP_SITE: i32 = 16;
pub const RUNTIME_TRAP_VMCTX: i32 = 24;
pub const RUNTIME_FUEL: i32 = 32;
pub const RUNTIME_EPOCH_DEADLINE: i32 = 40;
pub const RUNTIME_EPOCH_COUNTER: i32 = 48;
pub const RUNTIME_TRAP_SP: i32 = 56;

/// One imported function.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ImportedFunc {
    /// Another instance's function (called directly), or null for a host function.
    pub callee: *const FuncRef,
    pub host_fn: Option<HostCallFn>,
    pub host_env: *mut u8,
}

pub const IMPORT_CALLEE: i32 = 0;
pub const IMPORT_HOST_FN: i32 = 8;
pub const IMPORT_HOST_ENV: i32 = 16;

/// A linear memory as generated code sees it.
#[repr(C)]
#[derive(Debug)]
pub struct MemoryDef {
    /// Start of the memory. A memory of guard-page code never moves (the
    /// loader reserves 8 GiB + 64 KiB up front); one of explicit-check code
    /// may move when it grows, so such code reloads the base after every
    /// call and `memory.grow`.
    pub base: *mut u8,
    /// Current size in bytes.
    pub len: u64,
}

/// A function reference: what a `funcref` value points to.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FuncRef {
    /// Entry of the function (internal convention).
    pub code: *const u8,
    /// The vmctx the function runs with.
    pub vmctx: *mut u8,
    /// Canonical signature id, compared with `type_ids[t]` by `call_indirect`.
    pub type_id: u64,
}

pub const FUNC_REF_CODE: i32 = 0;
pub const FUNC_REF_VMCTX: i32 = 8;
pub const FUNC_REF_TYPE_ID: i32 = 16;

/// A table as generated code sees it: 8-byte reference values.
#[repr(C)]
#[derive(Debug)]
pub struct TableDef {
    pub elements: *mut u64,
    /// Current number of elements.
    pub len: u64,
}

/// `log2` of a table element's size.
pub const TABLE_ELEMENT_SHIFT: u8 = 3;

pub const MEMORY_DEF_BASE: i32 = 0;
pub const MEMORY_DEF_LEN: i32 = 8;
pub const TABLE_DEF_ELEMENTS: i32 = 0;
pub const TABLE_DEF_LEN: i32 = 8;

pub const RUNTIME: i32 = 0;
pub const MEMORY0: i32 = 8;
pub const HOST_STATE: i32 = 16;
pub const HELPERS: i32 = 64;

macro_rules! helpers {
    ($($(#[doc = $doc:expr])* $name:ident = $n:literal, $text:literal, $trap:expr;)*) => {
        /// Runtime helpers generated code calls through `vmctx.helpers[id]`
        /// (see the module docs for their convention).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Helper {
            $($(#[doc = $doc])* $name = $n,)*
        }

        impl Helper {
            pub const ALL: &'static [Helper] = &[$(Helper::$name),*];
            pub const COUNT: u32 = Helper::ALL.len() as u32;

            pub fn from_u32(n: u32) -> Option<Helper> {
                Helper::ALL.get(n as usize).copied()
            }

            /// The wasm operator the helper implements.
            pub fn name(self) -> &'static str {
                match self {
                    $(Helper::$name => $text,)*
                }
            }

            /// The trap the helper may raise.
            pub fn trap(self) -> Option<crate::TrapCode> {
                match self {
                    $(Helper::$name => $trap,)*
                }
            }
        }
    };
}

use crate::TrapCode::{MemoryOutOfBounds, TableOutOfBounds};

helpers! {
    /// Memory 0's `memory.grow`: args `[delta]` -> `[old pages or -1]`.
    MemoryGrow = 0, "memory.grow", None;
    /// `memory.copy` within memory 0, a 32-bit memory (a 64-bit one uses
    /// `MultiMemoryCopy`): args `[dst, src, len]`, i32s.
    MemoryCopy = 1, "memory.copy", Some(MemoryOutOfBounds);
    /// `memory.fill` of memory 0, a 32-bit memory (a 64-bit one uses
    /// `MultiMemoryFill`): args `[dst, value, len]`, i32s.
    MemoryFill = 2, "memory.fill", Some(MemoryOutOfBounds);
    /// `memory.init` into memory 0: args `[dst, src, len, segment]`.
    MemoryInit = 3, "memory.init", Some(MemoryOutOfBounds);
    /// args `[segment]`.
    DataDrop = 4, "data.drop", None;
    /// args `[init, delta, table]` -> `[old size or -1]`.
    TableGrow = 5, "table.grow", None;
    /// args `[dst, value, len, table]`.
    TableFill = 6, "table.fill", Some(TableOutOfBounds);
    /// args `[dst, src, len, dst_table, src_table]`.
    TableCopy = 7, "table.copy", Some(TableOutOfBounds);
    /// args `[dst, src, len, table, segment]`.
    TableInit = 8, "table.init", Some(TableOutOfBounds);
    /// args `[segment]`.
    ElemDrop = 9, "elem.drop", None;
    /// Called by every trap stub before it unwinds, while the wasm frames
    /// still exist: `args` is not an array but the stack pointer of the
    /// trapping frame, from which the helper may walk the wasm call stack
    /// (see `CodeRange::frame_size` and the call-site table, `crate::Tables`); the runtime
    /// state's trap fields are already set. The return value is ignored.
    RecordTrap = 10, "trap", None;
    /// `memory.grow` of any memory (multi-memory; memory 0 has the
    /// immediate-free `MemoryGrow`, as for the three below): args
    /// `[delta, memory]` -> `[old pages or -1]`.
    MultiMemoryGrow = 11, "memory.grow", None;
    /// args `[dst, src, len, dst_memory, src_memory]`.
    MultiMemoryCopy = 12, "memory.copy", Some(MemoryOutOfBounds);
    /// args `[dst, value, len, memory]`.
    MultiMemoryFill = 13, "memory.fill", Some(MemoryOutOfBounds);
    /// args `[dst, src, len, memory, segment]`.
    MultiMemoryInit = 14, "memory.init", Some(MemoryOutOfBounds);
}

/// The most immediates a helper takes after its operands.
pub const MAX_HELPER_IMMEDIATES: u32 = 2;

/// Offsets of everything in one module's vmctx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmctxLayout {
    pub num_imported_funcs: u32,
    pub num_funcs: u32,
    pub num_types: u32,
    pub num_tables: u32,
    pub num_memories: u32,
    pub num_globals: u32,
    /// Number of globals that are imported (they come first).
    pub num_imported_globals: u32,
    /// Slots of the `tail_call_args` region: the most any of the module's
    /// types has for its parameters.
    pub tail_call_arg_slots: u32,
}

impl VmctxLayout {
    pub fn new(metadata: &crate::Metadata) -> VmctxLayout {
        VmctxLayout {
            num_imported_funcs: metadata.num_imported(crate::ExternKind::Func),
            num_funcs: metadata.num_funcs(),
            num_types: metadata.types.len() as u32,
            num_tables: metadata.num_tables(),
            num_memories: metadata.num_memories(),
            num_globals: metadata.num_globals(),
            num_imported_globals: metadata.num_imported(crate::ExternKind::Global),
            // Saturating: forged metadata with absurd types gets a vmctx
            // too large to pass validation, never a wrapped-around size.
            tail_call_arg_slots: metadata
                .types
                .iter()
                .map(|t| t.params.iter().map(|p| p.slots() as u64).sum::<u64>())
                .max()
                .map_or(0, |slots| u32::try_from(slots).unwrap_or(u32::MAX)),
        }
    }

    pub fn helper(&self, helper: Helper) -> i32 {
        HELPERS + 8 * helper as i32
    }

    fn imports_start(&self) -> u64 {
        HELPERS as u64 + 8 * Helper::COUNT as u64
    }

    /// Slot of the [`ImportedFunc`] of imported function `index`.
    pub fn imported_func(&self, index: u32) -> i32 {
        (self.imports_start() + 24 * index as u64) as i32
    }

    fn func_refs_start(&self) -> u64 {
        self.imports_start() + 24 * self.num_imported_funcs as u64
    }

    /// Slot of the `*const FuncRef` of function `index` (for `ref.func`).
    pub fn func_ref(&self, index: u32) -> i32 {
        (self.func_refs_start() + 8 * index as u64) as i32
    }

    fn type_ids_start(&self) -> u64 {
        self.func_refs_start() + 8 * self.num_funcs as u64
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

    fn memories_start(&self) -> u64 {
        self.tables_start() + 8 * self.num_tables as u64
    }

    /// Slot of the `*const MemoryDef` of memory `index`.
    pub fn memory(&self, index: u32) -> i32 {
        (self.memories_start() + 8 * index as u64) as i32
    }

    fn globals_start(&self) -> u64 {
        self.memories_start() + 8 * self.num_memories as u64
    }

    /// Slot of global `index`: its value, or a pointer to it when imported.
    pub fn global(&self, index: u32) -> i32 {
        (self.globals_start() + 8 * index as u64) as i32
    }

    pub fn global_is_imported(&self, index: u32) -> bool {
        index < self.num_imported_globals
    }

    /// Start of the `tail_call_args` region, where a tail call leaves the
    /// callee's arguments (see the conventions above).
    pub fn tail_call_args(&self) -> i32 {
        self.tail_call_args_start() as i32
    }

    fn tail_call_args_start(&self) -> u64 {
        self.globals_start() + 8 * self.num_globals as u64
    }

    /// Total size of the vmctx in bytes.
    pub fn size(&self) -> u64 {
        self.tail_call_args_start() + 8 * self.tail_call_arg_slots as u64
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
        assert_eq!(core::mem::size_of::<ImportedFunc>(), 24);
        assert_eq!(
            core::mem::offset_of!(ImportedFunc, host_fn),
            IMPORT_HOST_FN as usize
        );
        assert_eq!(
            core::mem::offset_of!(ImportedFunc, host_env),
            IMPORT_HOST_ENV as usize
        );
        assert_eq!(core::mem::offset_of!(FuncRef, code), FUNC_REF_CODE as usize);
        assert_eq!(
            core::mem::offset_of!(FuncRef, vmctx),
            FUNC_REF_VMCTX as usize
        );
        assert_eq!(
            core::mem::offset_of!(FuncRef, type_id),
            FUNC_REF_TYPE_ID as usize
        );
        assert_eq!(
            core::mem::offset_of!(MemoryDef, len),
            MEMORY_DEF_LEN as usize
        );
        assert_eq!(core::mem::offset_of!(TableDef, len), TABLE_DEF_LEN as usize);
        assert_eq!(
            core::mem::offset_of!(RuntimeState, stack_limit),
            RUNTIME_STACK_LIMIT as usize
        );
        assert_eq!(
            core::mem::offset_of!(RuntimeState, trap_site),
            RUNTIME_TRAP_SITE as usize
        );
        assert_eq!(
            core::mem::offset_of!(RuntimeState, trap_vmctx),
            RUNTIME_TRAP_VMCTX as usize
        );
    }

    #[test]
    fn regions_follow_each_other() {
        let layout = VmctxLayout {
            num_imported_funcs: 2,
            num_funcs: 3,
            num_types: 3,
            num_tables: 1,
            num_memories: 2,
            num_globals: 2,
            num_imported_globals: 1,
            tail_call_arg_slots: 3,
        };
        assert_eq!(layout.imported_func(0), HELPERS + 8 * Helper::COUNT as i32);
        assert_eq!(layout.func_ref(0), layout.imported_func(2));
        assert_eq!(layout.type_id(0), layout.func_ref(3));
        assert_eq!(layout.table(0) as u64 % 8, 0);
        assert_eq!(layout.memory(0), layout.table(1));
        assert_eq!(layout.global(0), layout.memory(2));
        assert_eq!(layout.tail_call_args(), layout.global(2));
        assert_eq!(layout.size(), layout.global(2) as u64 + 24);
        assert!(layout.global_is_imported(0) && !layout.global_is_imported(1));
    }

    #[test]
    fn helper_numbers_are_dense() {
        for (i, h) in Helper::ALL.iter().enumerate() {
            assert_eq!(*h as usize, i);
            assert_eq!(Helper::from_u32(i as u32), Some(*h));
        }
    }
}
