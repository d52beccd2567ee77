//! Runtime helpers generated code calls through `vmctx.helpers`: memory and
//! table operators too large to inline.
//!
//! Convention ([`vibewasm_format::vmctx::HelperFn`]): `(vmctx, args) -> u32`,
//! operands in `args` in wasm order followed by the helper's immediates,
//! results written from `args[0]`, return 0 or the [`TrapCode`] to raise.
//! i32 operands sit in the low 4 bytes of their slot (the upper 4 are not
//! guaranteed) and are masked here; references are whole slots, and so are
//! the addresses and lengths of 64-bit memories (memory64: the helpers
//! read each memory's type).
//!
//! The bulk operators follow the bulk-memory proposal: bounds are checked
//! first and an out-of-bounds operation writes nothing; a length of 0 at
//! exactly the end is fine; a dropped segment behaves like an empty one.
//!
//! Helpers must never unwind (they are `extern "C"`): nothing here panics.

use core::sync::atomic::Ordering;

use vibewasm_format::vmctx::{Helper, MemoryDef, HOST_STATE, MEMORY0};
use vibewasm_format::TrapCode;

use crate::instance::InstanceData;
use crate::memory::{checked_range, LinearMemory, OutOfBounds};
use crate::raw::read_vmctx_ptr;
use crate::table::Table;

/// The address of `helper`'s implementation.
pub(crate) fn helper_address(helper: Helper) -> *const u8 {
    let f: unsafe extern "C" fn(*mut u8, *mut u64) -> u32 = match helper {
        Helper::MemoryGrow => memory_grow,
        Helper::MemoryCopy => memory_copy,
        Helper::MemoryFill => memory_fill,
        Helper::MemoryInit => memory_init,
        Helper::DataDrop => data_drop,
        Helper::TableGrow => table_grow,
        Helper::TableFill => table_fill,
        Helper::TableCopy => table_copy,
        Helper::TableInit => table_init,
        Helper::ElemDrop => elem_drop,
        Helper::RecordTrap => record_trap,
        Helper::MultiMemoryGrow => multi_memory_grow,
        Helper::MultiMemoryCopy => multi_memory_copy,
        Helper::MultiMemoryFill => multi_memory_fill,
        Helper::MultiMemoryInit => multi_memory_init,
    };
    f as *const u8
}

const MEMORY_OOB: u32 = TrapCode::MemoryOutOfBounds as u32;
const TABLE_OOB: u32 = TrapCode::TableOutOfBounds as u32;
/// What `memory.grow`/`table.grow` return on failure: -1 as an i32.
const GROW_FAILED: u64 = u32::MAX as u64;

/// The calling instance and its `N` argument slots.
///
/// # Safety
/// `vmctx` must be the live vmctx of an instance of this loader whose code is
/// running on this thread (so this thread holds its store), and `args` must
/// point to at least `N` slots, as the helper convention guarantees.
unsafe fn enter<'a, const N: usize>(
    vmctx: *mut u8,
    args: *mut u64,
) -> (&'a InstanceData, &'a mut [u64; N]) {
    // SAFETY: guaranteed by the caller. The instance data is owned by the
    // store and only read here (its mutable parts are atomics or behind
    // pointers); the slots belong to the suspended wasm frame.
    unsafe {
        (
            &*read_vmctx_ptr::<InstanceData>(vmctx, HOST_STATE),
            &mut *args.cast::<[u64; N]>(),
        )
    }
}

fn u32_operand(slot: u64) -> u64 {
    slot & 0xffff_ffff
}

/// Memory `index` of `data` (an immediate, so validated by the compiler;
/// a forged one is out of bounds).
///
/// The `unsafe` memory and table methods the helpers call have one contract:
/// the caller holds the store. Helpers run on the thread that holds the
/// store, inside its wasm code, with nothing else touching the store's
/// objects (see `enter`); each such call below relies on that.
fn memory(data: &InstanceData, index: u64) -> Result<&LinearMemory, OutOfBounds> {
    let memory = *data
        .memories
        .get(usize::try_from(index).map_err(|_| OutOfBounds)?)
        .ok_or(OutOfBounds)?;
    // SAFETY: owned by the store, which outlives the running wasm code.
    Ok(unsafe { &*memory })
}

/// An index or length operand of `table`: the whole slot for a 64-bit
/// table (table64), the low 4 bytes for a 32-bit one.
fn table_operand(table: &Table, slot: u64) -> u64 {
    match table.ty().index64 {
        true => slot,
        false => u32_operand(slot),
    }
}

/// Table `index` of `data` (an immediate, so validated by the compiler).
fn table(data: &InstanceData, index: u64) -> Option<&Table> {
    let table = *data.tables.get(usize::try_from(index).ok()?)?;
    // SAFETY: owned by the store, which outlives the running wasm code.
    Some(unsafe { &*table })
}

fn status(result: Result<(), OutOfBounds>, trap: u32) -> u32 {
    match result {
        Ok(()) => 0,
        Err(OutOfBounds) => trap,
    }
}

/// An address or length operand of `memory`: the whole slot for a 64-bit
/// memory (memory64), the low 4 bytes for a 32-bit one.
fn address_operand(memory: &LinearMemory, slot: u64) -> u64 {
    match memory.ty().index64 {
        true => slot,
        false => u32_operand(slot),
    }
}

/// `memory.grow` of memory `index` by `delta` pages: the old size, or -1
/// (an i32 or, for a 64-bit memory, an i64).
fn grow(data: &InstanceData, index: u64, delta: u64) -> u64 {
    let Ok(m) = memory(data, index) else {
        return GROW_FAILED;
    };
    let failed = match m.ty().index64 {
        true => u64::MAX,
        false => GROW_FAILED,
    };
    // SAFETY: wasm of this store runs on this thread, which so holds the
    // store: `LinearMemory`'s contract (the same for the helpers below).
    unsafe { m.grow(address_operand(m, delta)) }.unwrap_or(failed)
}

/// `memory.copy` from memory `from` to memory `to`. Each address has its
/// memory's type; the length is an i64 only if both memories are 64-bit.
fn copy(data: &InstanceData, to: u64, from: u64, [dst, src, len]: [u64; 3]) -> u32 {
    let result = memory(data, to).and_then(|to| {
        let from = memory(data, from)?;
        let (dst, src) = (address_operand(to, dst), address_operand(from, src));
        let len = match to.ty().index64 && from.ty().index64 {
            true => len,
            false => u32_operand(len),
        };
        // SAFETY: this thread holds the store (see `grow`).
        unsafe { to.copy_from(dst, from, src, len) }
    });
    status(result, MEMORY_OOB)
}

/// `memory.fill` of memory `index`.
fn fill(data: &InstanceData, index: u64, [dst, value, len]: [u64; 3]) -> u32 {
    let result = memory(data, index).and_then(|m| {
        let [dst, len] = [dst, len].map(|slot| address_operand(m, slot));
        // SAFETY: this thread holds the store (see `grow`).
        unsafe { m.fill(dst, value as u8, len) }
    });
    status(result, MEMORY_OOB)
}

/// `memory.init` of memory `index` from data segment `segment` (the
/// segment's offset and the length are i32s for any memory).
fn init(data: &InstanceData, index: u64, segment: u64, [dst, src, len]: [u64; 3]) -> u32 {
    let [src, len] = [src, len].map(u32_operand);
    let segment = u32_operand(segment) as usize;
    let meta = data.artifact.metadata();
    let bytes = match (meta.data.get(segment), data.data_dropped.get(segment)) {
        (Some(seg), Some(dropped)) if !dropped.load(Ordering::Relaxed) => &seg.bytes[..],
        _ => &[],
    };
    let result = memory(data, index).and_then(|m| {
        let dst = address_operand(m, dst);
        // SAFETY: this thread holds the store (see `grow`).
        unsafe { m.write(dst, bytes, src, len) }
    });
    status(result, MEMORY_OOB)
}

/// `memory.grow` of memory 0: args `[delta]` -> `[old pages or -1]`.
unsafe extern "C" fn memory_grow(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<1>(vmctx, args) };
    args[0] = grow(data, 0, args[0]);
    0
}

/// Memory 0's base and length, from the descriptor its vmctx slot points
/// to (as generated code reads them), and the helper's argument slots.
///
/// # Safety
/// The helper convention (see `enter`); the instance has a memory 0.
unsafe fn enter_memory0<'a, const N: usize>(
    vmctx: *mut u8,
    args: *mut u64,
) -> ((*mut u8, u64), &'a mut [u64; N]) {
    // SAFETY: guaranteed by the caller: `MEMORY0` points to the live
    // descriptor of memory 0 (instantiation set it; the store keeps the
    // memory), which nothing else touches while this thread holds the store.
    unsafe {
        let def = read_vmctx_ptr::<MemoryDef>(vmctx, MEMORY0);
        (((*def).base, (*def).len), &mut *args.cast::<[u64; N]>())
    }
}

/// `memory.copy` within memory 0, a 32-bit memory: args `[dst, src, len]`.
/// (Straight from the descriptor: through the instance's memory list and
/// the 32/64-bit operand rules it cost `bulkmem-modern` 4% more
/// instructions.)
unsafe extern "C" fn memory_copy(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention; the compiler uses this helper only
    // for memory 0.
    let ((base, size), args) = unsafe { enter_memory0::<3>(vmctx, args) };
    let [dst, src, len] = args.map(u32_operand);
    let (Ok(dst), Ok(src)) = (checked_range(dst, len, size), checked_range(src, len, size)) else {
        return MEMORY_OOB;
    };
    // SAFETY: both ranges lie in memory 0's accessible bytes (checked
    // against its current length); `copy` allows them to overlap.
    unsafe { core::ptr::copy(base.add(src.start), base.add(dst.start), dst.len()) };
    0
}

/// `memory.fill` of memory 0, a 32-bit memory: args `[dst, value, len]`.
unsafe extern "C" fn memory_fill(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: as in `memory_copy`.
    let ((base, size), args) = unsafe { enter_memory0::<3>(vmctx, args) };
    let [dst, value, len] = args.map(u32_operand);
    let Ok(dst) = checked_range(dst, len, size) else {
        return MEMORY_OOB;
    };
    // SAFETY: the range lies in memory 0's accessible bytes.
    unsafe { core::ptr::write_bytes(base.add(dst.start), value as u8, dst.len()) };
    0
}

/// `memory.init` into memory 0: args `[dst, src, len, segment]`.
unsafe extern "C" fn memory_init(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<4>(vmctx, args) };
    let [dst, src, len, segment] = *args;
    init(data, 0, segment, [dst, src, len])
}

/// `memory.grow` of any memory: args `[delta, memory]` -> `[old pages or -1]`.
unsafe extern "C" fn multi_memory_grow(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<2>(vmctx, args) };
    args[0] = grow(data, args[1], args[0]);
    0
}

/// `memory.copy` between any memories: args `[dst, src, len, dst_memory,
/// src_memory]`.
unsafe extern "C" fn multi_memory_copy(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<5>(vmctx, args) };
    let [dst, src, len, to, from] = *args;
    copy(data, to, from, [dst, src, len])
}

/// `memory.fill` of any memory: args `[dst, value, len, memory]`.
unsafe extern "C" fn multi_memory_fill(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<4>(vmctx, args) };
    let [dst, value, len, index] = *args;
    fill(data, index, [dst, value, len])
}

/// `memory.init` into any memory: args `[dst, src, len, memory, segment]`.
unsafe extern "C" fn multi_memory_init(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<5>(vmctx, args) };
    let [dst, src, len, index, segment] = *args;
    init(data, index, segment, [dst, src, len])
}

/// `data.drop`: args `[segment]`.
unsafe extern "C" fn data_drop(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<1>(vmctx, args) };
    if let Some(dropped) = data.data_dropped.get(u32_operand(args[0]) as usize) {
        dropped.store(true, Ordering::Relaxed);
    }
    0
}

/// `table.grow`: args `[init, delta, table]` -> `[old size or -1]`.
unsafe extern "C" fn table_grow(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<3>(vmctx, args) };
    let [init, delta, index] = *args;
    let Some(t) = table(data, index) else {
        args[0] = GROW_FAILED;
        return 0;
    };
    let failed = if t.ty().index64 {
        u64::MAX
    } else {
        GROW_FAILED
    };
    // SAFETY: this thread holds the store (see `grow`).
    let old = unsafe { t.grow(table_operand(t, delta), init) };
    args[0] = old.unwrap_or(failed);
    0
}

/// `table.fill`: args `[dst, value, len, table]`.
unsafe extern "C" fn table_fill(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<4>(vmctx, args) };
    let [dst, value, len, index] = *args;
    let Some(t) = table(data, index) else {
        return TABLE_OOB;
    };
    // SAFETY: this thread holds the store (see `grow`).
    let result = unsafe { t.fill(table_operand(t, dst), value, table_operand(t, len)) };
    status(result, TABLE_OOB)
}

/// `table.copy`: args `[dst, src, len, dst_table, src_table]`.
unsafe extern "C" fn table_copy(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<5>(vmctx, args) };
    let [dst, src, len, dst_index, src_index] = *args;
    let (Some(dst_table), Some(src_table)) = (table(data, dst_index), table(data, src_index))
    else {
        return TABLE_OOB;
    };
    // Each index has its table's type; the length is an i64 only if both
    // tables are 64-bit (table64).
    let (dst, src) = (table_operand(dst_table, dst), table_operand(src_table, src));
    let len = match dst_table.ty().index64 && src_table.ty().index64 {
        true => len,
        false => u32_operand(len),
    };
    // SAFETY: this thread holds the store (see `grow`).
    let result = unsafe { dst_table.copy(dst, src_table, src, len) };
    status(result, TABLE_OOB)
}

/// `table.init`: args `[dst, src, len, table, segment]`.
///
/// The metadata does not say which tables a passive segment is copied
/// into, so a segment of another type than the table (valid wasm has none,
/// a forged artifact may) is refused here: it traps, whatever the length,
/// before anything is copied.
unsafe extern "C" fn table_init(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<5>(vmctx, args) };
    let [dst, src, len, index, segment] = *args;
    let Some(t) = table(data, index) else {
        return TABLE_OOB;
    };
    let meta = data.artifact.metadata();
    let segment_type = usize::try_from(segment)
        .ok()
        .and_then(|s| meta.elements.get(s))
        .map(|seg| seg.element);
    if segment_type.is_some_and(|ty| ty != t.ty().element) {
        return TABLE_OOB;
    }
    let items = match data.elements.get(segment as usize) {
        Some(seg) if !seg.dropped.load(Ordering::Relaxed) => &seg.items[..],
        _ => &[],
    };
    let (dst, src, len) = (table_operand(t, dst), u32_operand(src), u32_operand(len));
    // SAFETY: this thread holds the store (see `grow`).
    let result = unsafe { t.init(dst, items, src, len) };
    status(result, TABLE_OOB)
}

/// `elem.drop`: args `[segment]`.
unsafe extern "C" fn elem_drop(vmctx: *mut u8, args: *mut u64) -> u32 {
    // SAFETY: the helper convention (see `enter`).
    let (data, args) = unsafe { enter::<1>(vmctx, args) };
    if let Some(seg) = data.elements.get(u32_operand(args[0]) as usize) {
        seg.dropped.store(true, Ordering::Relaxed);
    }
    0
}

/// `RecordTrap`: called by every trap stub before it unwinds, with the
/// trapping frame's stack pointer instead of an argument array: records the
/// wasm call stack while its frames still exist (see `crate::backtrace`).
/// The trap itself is read from the runtime state after the unwind.
unsafe extern "C" fn record_trap(vmctx: *mut u8, sp: *mut u64) -> u32 {
    // SAFETY: the helper convention for RecordTrap: `vmctx` is the trapping
    // instance's, running on this thread, and `sp` its frame's stack pointer.
    unsafe { crate::backtrace::record(vmctx, sp as usize) };
    0
}
