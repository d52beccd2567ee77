//! The C API of the vibewasm loader: `libvibewasm.a` / `libvibewasm.so`
//! and `include/vibewasm.h` (generated from this crate by cbindgen; the
//! test `tests/header.rs` fails when the checked-in header is stale).
//!
//! # Conventions (repeated in the header)
//!
//! * Every C name starts with `vw_` (`VW_` for constants).
//! * Every fallible function returns a [`vw_status`] (`VW_OK`, `VW_ERROR`,
//!   `VW_TRAP`) and takes a last `vw_error **error` (and, for functions
//!   that run wasm, a `vw_trap **trap` before it). Both may be NULL; when
//!   not, they are set to NULL on entry and to a new object on failure,
//!   which the caller owns and releases with `vw_error_delete` /
//!   `vw_trap_delete`.
//! * NULL handles and NULL required pointers are reported as `VW_ERROR`,
//!   never dereferenced. Rust panics are caught at the boundary and
//!   reported as `VW_ERROR` ("internal error: ...").
//! * Objects returned through `**out` are owned by the caller and released
//!   with their `_delete` function (NULL is accepted and ignored). Handles
//!   keep what they need alive: an instance, function, memory, table or
//!   global keeps its store alive after `vw_store_delete`.
//! * Handles passed in are borrowed for the duration of the call.
//!
//! # Safety
//!
//! Every `extern "C"` function is `unsafe`: it trusts its caller, as any C
//! function does, that each non-NULL pointer points to what the header
//! says (a live object of the named type made by this library, a
//! NUL-terminated string, or a buffer of the given length). That is the
//! one contract, stated once here rather than on every function.

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use vibewasm_loader::Trap;

mod externs;
mod func;
mod module;
mod trap;
mod val;
mod wasi;

pub use externs::*;
pub use func::*;
pub use module::*;
pub use trap::*;
pub use val::*;
pub use wasi::*;

/// The result of a fallible function: `VW_OK`, `VW_ERROR` (details in the
/// `vw_error` out-parameter) or `VW_TRAP` (details in the `vw_trap`
/// out-parameter; only from functions that run wasm).
pub type vw_status = i32;
/// Success.
pub const VW_OK: vw_status = 0;
/// Failure; the `vw_error` out-parameter, if given, says why.
pub const VW_ERROR: vw_status = 1;
/// Wasm trapped (or a WASI program exited through `proc_exit` while called
/// with `vw_call`); the `vw_trap` out-parameter, if given, says where.
pub const VW_TRAP: vw_status = 2;

/// An error: a message. Owned by whoever received it; release it with
/// `vw_error_delete`.
pub struct vw_error {
    message: CString,
}

/// The error's message (UTF-8, NUL-terminated), valid until the error is
/// deleted; "" for NULL.
#[no_mangle]
pub unsafe extern "C" fn vw_error_message(error: *const vw_error) -> *const c_char {
    // SAFETY: NULL or a live error (the crate's contract).
    match unsafe { error.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Releases an error (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn vw_error_delete(error: *mut vw_error) {
    // SAFETY: NULL or an error made by this library, not yet deleted.
    unsafe { drop_box(error) }
}

/// Why a call failed, before it is written to the caller's out-parameters.
pub(crate) enum Failure {
    Error(String),
    Trap(Box<Trap>),
}

pub(crate) type Res<T> = Result<T, Failure>;

pub(crate) fn fail<T>(message: impl Into<String>) -> Res<T> {
    Err(Failure::Error(message.into()))
}

impl From<vibewasm_loader::Error> for Failure {
    fn from(e: vibewasm_loader::Error) -> Failure {
        match e.as_trap() {
            Some(trap) => Failure::Trap(Box::new(trap.clone())),
            None => Failure::Error(e.to_string()),
        }
    }
}

impl From<Trap> for Failure {
    fn from(t: Trap) -> Failure {
        Failure::Trap(Box::new(t))
    }
}

macro_rules! failure_from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::Error(e.to_string())
            }
        }
    )*};
}
failure_from_display!(
    vibewasm_loader::LoadError,
    vibewasm_loader::LinkError,
    vibewasm_loader::AccessError,
    vibewasm_loader::CallError,
    std::io::Error
);

/// A C string from Rust text (interior NULs, which C cannot show, become
/// `?`).
pub(crate) fn c_string(text: impl Into<String>) -> CString {
    let text: String = text.into();
    CString::new(text.replace('\0', "?")).expect("no NUL left")
}

/// Runs the body of an exported function: clears the out-parameters, catches
/// panics, and turns a failure into a status and an error or trap object.
pub(crate) fn ffi(
    error: *mut *mut vw_error,
    trap: *mut *mut vw_trap,
    body: impl FnOnce() -> Res<()>,
) -> vw_status {
    // SAFETY: the out-parameters are NULL or point to writable pointers.
    unsafe {
        if let Some(e) = error.as_mut() {
            *e = std::ptr::null_mut();
        }
        if let Some(t) = trap.as_mut() {
            *t = std::ptr::null_mut();
        }
    }
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        fail(format!("internal error: {text}"))
    });
    let (status, message, trap_value) = match result {
        Ok(()) => return VW_OK,
        Err(Failure::Error(message)) => (VW_ERROR, message, None),
        Err(Failure::Trap(t)) => (VW_TRAP, t.to_string(), Some(t)),
    };
    // SAFETY: as above.
    unsafe {
        match (trap_value, trap.as_mut()) {
            (Some(t), Some(out)) => *out = Box::into_raw(Box::new(vw_trap::new(*t))),
            // A trap nobody asked for still reaches the caller as its message.
            (_, _) => {
                if let Some(out) = error.as_mut() {
                    *out = Box::into_raw(Box::new(vw_error {
                        message: c_string(message),
                    }));
                }
            }
        }
    }
    status
}

/// `ffi` for functions that never trap.
pub(crate) fn ffi_err(error: *mut *mut vw_error, body: impl FnOnce() -> Res<()>) -> vw_status {
    ffi(error, std::ptr::null_mut(), body)
}

/// The object behind a handle, or an error naming the NULL argument.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn get<'a, T>(ptr: *const T, what: &str) -> Res<&'a T> {
    // SAFETY: guaranteed by the caller.
    match unsafe { ptr.as_ref() } {
        Some(r) => Ok(r),
        None => fail(format!("{what} is NULL")),
    }
}

/// As [`get`], mutably.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` for `'a`, used by nobody else.
pub(crate) unsafe fn get_mut<'a, T>(ptr: *mut T, what: &str) -> Res<&'a mut T> {
    // SAFETY: guaranteed by the caller.
    match unsafe { ptr.as_mut() } {
        Some(r) => Ok(r),
        None => fail(format!("{what} is NULL")),
    }
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string alive for `'a`.
pub(crate) unsafe fn get_str<'a>(ptr: *const c_char, what: &str) -> Res<&'a str> {
    if ptr.is_null() {
        return fail(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's guarantee.
    let text = unsafe { CStr::from_ptr(ptr) };
    match text.to_str() {
        Ok(s) => Ok(s),
        Err(_) => fail(format!("{what} is not UTF-8")),
    }
}

/// A buffer argument (`len` bytes at `ptr`; NULL is allowed when `len` is 0).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes alive for `'a`.
pub(crate) unsafe fn get_bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return fail(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's guarantee.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Stores `value` in the out-parameter `out` (a new object the caller owns).
///
/// # Safety
/// `out` is NULL or points to a writable pointer.
pub(crate) unsafe fn put<T>(out: *mut *mut T, value: T) -> Res<()> {
    // SAFETY: guaranteed by the caller.
    match unsafe { out.as_mut() } {
        Some(slot) => {
            *slot = Box::into_raw(Box::new(value));
            Ok(())
        }
        None => fail("the out-parameter is NULL"),
    }
}

/// Writes a plain value through an out-pointer.
///
/// # Safety
/// `out` is NULL or points to a writable `T`.
pub(crate) unsafe fn put_value<T>(out: *mut T, value: T, what: &str) -> Res<()> {
    // SAFETY: guaranteed by the caller.
    match unsafe { out.as_mut() } {
        Some(slot) => {
            *slot = value;
            Ok(())
        }
        None => fail(format!("{what} is NULL")),
    }
}

/// Releases an object made by this library.
///
/// # Safety
/// `ptr` is NULL or was returned by this library as a `Box<T>` and not
/// released yet.
pub(crate) unsafe fn drop_box<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: guaranteed by the caller.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        let mut error: *mut vw_error = std::ptr::null_mut();
        let status = ffi_err(&mut error, || panic!("boom"));
        assert_eq!(status, VW_ERROR);
        assert!(!error.is_null());
        // SAFETY: `ffi` just made this error.
        let message = unsafe { CStr::from_ptr(vw_error_message(error)) };
        assert_eq!(message.to_str().unwrap(), "internal error: boom");
        // SAFETY: made by `ffi`, released once.
        unsafe { vw_error_delete(error) };
    }

    #[test]
    fn traps_without_a_trap_pointer_become_errors() {
        let mut error: *mut vw_error = std::ptr::null_mut();
        let status = ffi_err(&mut error, || {
            Err(Trap::from_code(vibewasm_loader::TrapCode::Unreachable).into())
        });
        assert_eq!(status, VW_TRAP);
        // SAFETY: `ffi` just made this error.
        let message = unsafe { CStr::from_ptr(vw_error_message(error)) };
        assert_eq!(message.to_str().unwrap(), "unreachable");
        // SAFETY: made by `ffi`, released once.
        unsafe { vw_error_delete(error) };
    }
}
