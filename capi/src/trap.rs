//! `vw_trap`: why a call into wasm stopped, and where.

use std::ffi::{c_char, CString};

use vibewasm_loader::{Trap, TrapCode};

use crate::{c_string, drop_box};

/// A trap: its kind, the specification's message (or a host function's
/// own), and the wasm backtrace. Owned by whoever received it; release it
/// with `vw_trap_delete`.
pub struct vw_trap {
    trap: Trap,
    message: CString,
    display: CString,
    frames: Vec<(Option<CString>, Option<CString>)>,
}

impl vw_trap {
    pub(crate) fn new(trap: Trap) -> vw_trap {
        let frames = trap
            .backtrace
            .iter()
            .map(|f| {
                (
                    f.func_name.clone().map(c_string),
                    f.module.clone().map(c_string),
                )
            })
            .collect();
        vw_trap {
            message: c_string(trap.message.clone()),
            display: c_string(trap.to_string()),
            frames,
            trap,
        }
    }
}

/// The kind of a trap (`vw_trap_kind`).
pub type vw_trapkind = u32;
/// `unreachable` executed.
pub const VW_TRAP_UNREACHABLE: vw_trapkind = 1;
/// Integer division or remainder by zero.
pub const VW_TRAP_INTEGER_DIVIDE_BY_ZERO: vw_trapkind = 2;
/// Signed division overflow, or a float-to-int truncation out of range.
pub const VW_TRAP_INTEGER_OVERFLOW: vw_trapkind = 3;
/// A memory access out of bounds.
pub const VW_TRAP_MEMORY_OUT_OF_BOUNDS: vw_trapkind = 4;
/// `call_indirect` past the end of the table.
pub const VW_TRAP_UNDEFINED_ELEMENT: vw_trapkind = 5;
/// `call_indirect` on a null element.
pub const VW_TRAP_UNINITIALIZED_ELEMENT: vw_trapkind = 6;
/// `call_indirect` to a function of another type.
pub const VW_TRAP_INDIRECT_CALL_TYPE_MISMATCH: vw_trapkind = 7;
/// The wasm stack limit was reached ("call stack exhausted").
pub const VW_TRAP_STACK_OVERFLOW: vw_trapkind = 8;
/// A float-to-int truncation of a NaN.
pub const VW_TRAP_INVALID_CONVERSION_TO_INTEGER: vw_trapkind = 9;
/// A table access out of bounds.
pub const VW_TRAP_TABLE_OUT_OF_BOUNDS: vw_trapkind = 10;
/// A host function trapped (its message is the trap's), or a WASI program
/// exited (see `vw_trap_exit_status`).
pub const VW_TRAP_HOST: vw_trapkind = 11;
/// The store ran out of fuel.
pub const VW_TRAP_OUT_OF_FUEL: vw_trapkind = 12;
/// The store's epoch deadline passed ("interrupted").
pub const VW_TRAP_INTERRUPTED: vw_trapkind = 13;

// The constants are the loader's trap codes (checked when compiling).
const _: () = {
    assert!(VW_TRAP_UNREACHABLE == TrapCode::Unreachable as u32);
    assert!(VW_TRAP_INTEGER_DIVIDE_BY_ZERO == TrapCode::IntegerDivideByZero as u32);
    assert!(VW_TRAP_INTEGER_OVERFLOW == TrapCode::IntegerOverflow as u32);
    assert!(VW_TRAP_MEMORY_OUT_OF_BOUNDS == TrapCode::MemoryOutOfBounds as u32);
    assert!(VW_TRAP_UNDEFINED_ELEMENT == TrapCode::UndefinedElement as u32);
    assert!(VW_TRAP_UNINITIALIZED_ELEMENT == TrapCode::UninitializedElement as u32);
    assert!(VW_TRAP_INDIRECT_CALL_TYPE_MISMATCH == TrapCode::IndirectCallTypeMismatch as u32);
    assert!(VW_TRAP_STACK_OVERFLOW == TrapCode::StackOverflow as u32);
    assert!(VW_TRAP_INVALID_CONVERSION_TO_INTEGER == TrapCode::InvalidConversionToInteger as u32);
    assert!(VW_TRAP_TABLE_OUT_OF_BOUNDS == TrapCode::TableOutOfBounds as u32);
    assert!(VW_TRAP_HOST == TrapCode::HostError as u32);
    assert!(VW_TRAP_OUT_OF_FUEL == TrapCode::OutOfFuel as u32);
    assert!(VW_TRAP_INTERRUPTED == TrapCode::Interrupted as u32);
};

/// Borrows a trap, or `None` for NULL.
///
/// # Safety
/// `trap` is NULL or a live trap.
unsafe fn trap_ref<'a>(trap: *const vw_trap) -> Option<&'a vw_trap> {
    // SAFETY: guaranteed by the caller.
    unsafe { trap.as_ref() }
}

/// Releases a trap (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_trap_delete(trap: *mut vw_trap) {
    // SAFETY: NULL or made by this library, not yet released.
    unsafe { drop_box(trap) }
}

/// The trap's kind (`VW_TRAP_*`; 0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn vw_trap_kind(trap: *const vw_trap) -> vw_trapkind {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }.map_or(0, |t| t.trap.code as u32)
}

/// The trap's message: the specification's ("integer divide by zero",
/// "call stack exhausted", ...) or a host function's. Valid until the trap
/// is deleted; "" for NULL.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_message(trap: *const vw_trap) -> *const c_char {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }.map_or(c"".as_ptr(), |t| t.message.as_ptr())
}

/// The message with the location and the backtrace, as the command line
/// prints it (several lines). Valid until the trap is deleted.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_display(trap: *const vw_trap) -> *const c_char {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }.map_or(c"".as_ptr(), |t| t.display.as_ptr())
}

/// Whether the trap is a program's exit (WASI `proc_exit`); if so, and
/// `status` is not NULL, its exit status goes to `*status`.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_exit_status(trap: *const vw_trap, status: *mut i32) -> bool {
    // SAFETY: NULL or a live trap (crate contract).
    let Some(code) = unsafe { trap_ref(trap) }.and_then(|t| t.trap.exit_code) else {
        return false;
    };
    // SAFETY: NULL or a writable out-pointer (crate contract).
    if let Some(out) = unsafe { status.as_mut() } {
        *out = code;
    }
    true
}

/// How many wasm frames the backtrace has (innermost first; 0 when the
/// trap did not come from wasm code).
#[no_mangle]
pub unsafe extern "C" fn vw_trap_frame_count(trap: *const vw_trap) -> usize {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }.map_or(0, |t| t.frames.len())
}

/// The function index (imports first) of frame `index`, or `UINT32_MAX`
/// if there is no such frame.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_frame_func_index(trap: *const vw_trap, index: usize) -> u32 {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }
        .and_then(|t| t.trap.backtrace.get(index))
        .map_or(u32::MAX, |f| f.func_index)
}

/// The function name of frame `index` (from the name section; `module.name`
/// for an import), or NULL if unknown. Valid until the trap is deleted.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_frame_func_name(
    trap: *const vw_trap,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or a live trap (crate contract).
    match unsafe { trap_ref(trap) }.and_then(|t| t.frames.get(index)) {
        Some((Some(name), _)) => name.as_ptr(),
        _ => std::ptr::null(),
    }
}

/// The module (artifact file name) of frame `index`, or NULL if unknown.
/// Valid until the trap is deleted.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_frame_module(trap: *const vw_trap, index: usize) -> *const c_char {
    // SAFETY: NULL or a live trap (crate contract).
    match unsafe { trap_ref(trap) }.and_then(|t| t.frames.get(index)) {
        Some((_, Some(module))) => module.as_ptr(),
        _ => std::ptr::null(),
    }
}

/// The byte offset in the source wasm of the instruction running in frame
/// `index` (the trapping one in frame 0, a call in the others), or -1 if
/// unknown (an imported function) or there is no such frame.
#[no_mangle]
pub unsafe extern "C" fn vw_trap_frame_wasm_offset(trap: *const vw_trap, index: usize) -> i64 {
    // SAFETY: NULL or a live trap (crate contract).
    unsafe { trap_ref(trap) }
        .and_then(|t| t.trap.backtrace.get(index))
        .and_then(|f| f.wasm_offset)
        .map_or(-1, i64::from)
}
