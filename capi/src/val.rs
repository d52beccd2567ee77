//! `vw_val`: a WebAssembly value as a tagged struct.

use vibewasm_loader::{ExternRef, Store, Val, ValType};

use crate::func::vw_func;
use crate::{fail, Res};

/// The type of a value (`vw_val.kind`), one of the `VW_I32` ... `VW_EXTERNREF`
/// constants.
pub type vw_valkind = u8;
/// `i32`: `vw_val.of.i32`.
pub const VW_I32: vw_valkind = 0;
/// `i64`: `vw_val.of.i64`.
pub const VW_I64: vw_valkind = 1;
/// `f32`: `vw_val.of.f32` (NaN payloads are kept).
pub const VW_F32: vw_valkind = 2;
/// `f64`: `vw_val.of.f64` (NaN payloads are kept).
pub const VW_F64: vw_valkind = 3;
/// `v128`: `vw_val.of.v128`, 16 bytes in memory order (byte 0 is the low
/// byte of lane 0), or the same bytes as two little-endian `uint64_t`s in
/// `vw_val.of.v128_u64` (`[0]` holds lanes of bytes 0-7).
pub const VW_V128: vw_valkind = 4;
/// `funcref`: `vw_val.of.funcref`, a `vw_func *` (NULL is `ref.null func`).
/// A funcref the library hands out (a call's results, `vw_table_get`,
/// `vw_global_get`) is a new `vw_func` the receiver owns: release it with
/// `vw_val_delete` (or `vw_func_delete`). A funcref passed in is borrowed.
pub const VW_FUNCREF: vw_valkind = 5;
/// `externref`: `vw_val.of.externref`, an opaque non-zero 64-bit number of
/// the host's choosing (0 is `ref.null extern`); wasm only passes it around.
pub const VW_EXTERNREF: vw_valkind = 6;

/// The payload of a `vw_val`; which member is valid depends on its kind.
#[repr(C)]
#[derive(Clone, Copy)]
pub union vw_val_union {
    pub i32: i32,
    pub i64: i64,
    pub f32: f32,
    pub f64: f64,
    pub v128: [u8; 16],
    pub v128_u64: [u64; 2],
    pub funcref: *mut vw_func,
    pub externref: u64,
}

/// A WebAssembly value: `kind` says which member of `of` holds it.
///
/// * `i32`, `i64`, `f32`, `f64`: as in C (float NaN payloads are kept).
/// * `v128`: `of.v128`, its 16 bytes in wasm memory order (byte 0 is the
///   low byte of lane 0, whatever the lane shape), or the same bytes as two
///   little-endian 64-bit halves in `of.v128_u64` (`[0]` the low half).
/// * `funcref`: `of.funcref`, a `vw_func *`, NULL for `ref.null func`.
///   Passed in, it is borrowed; handed out by the library (call results,
///   `vw_table_get`, `vw_global_get`), it is owned by the receiver, who
///   releases it with `vw_val_delete`.
/// * `externref`: `of.externref`, a non-zero 64-bit number of the host's
///   choosing, 0 for `ref.null extern`; wasm only passes it around.
///
/// ```c
/// vw_val x = { .kind = VW_I32, .of.i32 = 42 };
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct vw_val {
    pub kind: vw_valkind,
    pub of: vw_val_union,
}

impl vw_val {
    pub(crate) fn i32(v: i32) -> vw_val {
        vw_val {
            kind: VW_I32,
            of: vw_val_union { i32: v },
        }
    }
}

/// Releases what a value owns: the `vw_func` of a non-NULL funcref the
/// library handed out (the value becomes `ref.null func`). Other kinds
/// own nothing; NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn vw_val_delete(val: *mut vw_val) {
    // SAFETY: NULL or a writable value (the crate's contract).
    let Some(val) = (unsafe { val.as_mut() }) else {
        return;
    };
    if val.kind == VW_FUNCREF {
        // SAFETY: for a funcref, `funcref` is the member that was written.
        let func = unsafe { val.of.funcref };
        // SAFETY: a funcref handed out by the library is a boxed `vw_func`
        // the value owns (documented on VW_FUNCREF).
        unsafe { crate::drop_box(func) };
        val.of.funcref = std::ptr::null_mut();
    }
}

pub(crate) fn kind_of(ty: ValType) -> vw_valkind {
    match ty {
        ValType::I32 => VW_I32,
        ValType::I64 => VW_I64,
        ValType::F32 => VW_F32,
        ValType::F64 => VW_F64,
        ValType::V128 => VW_V128,
        ValType::FuncRef => VW_FUNCREF,
        ValType::ExternRef => VW_EXTERNREF,
    }
}

pub(crate) fn type_of(kind: vw_valkind) -> Res<ValType> {
    Ok(match kind {
        VW_I32 => ValType::I32,
        VW_I64 => ValType::I64,
        VW_F32 => ValType::F32,
        VW_F64 => ValType::F64,
        VW_V128 => ValType::V128,
        VW_FUNCREF => ValType::FuncRef,
        VW_EXTERNREF => ValType::ExternRef,
        other => return fail(format!("{other} is not a vw_valkind")),
    })
}

/// The types of a C array of kinds.
///
/// # Safety
/// `kinds` is NULL or points to `n` kinds.
pub(crate) unsafe fn types_of(kinds: *const vw_valkind, n: usize, what: &str) -> Res<Vec<ValType>> {
    // SAFETY: guaranteed by the caller.
    let kinds = unsafe { crate::get_bytes(kinds, n, what) }?;
    kinds.iter().map(|k| type_of(*k)).collect()
}

/// The Rust value of a C value (funcrefs borrowed).
///
/// # Safety
/// A funcref's `vw_func *` is NULL or a live function.
pub(crate) unsafe fn from_c(v: &vw_val) -> Res<Val> {
    // SAFETY: `kind` says which member the caller wrote (every member is
    // plain data); a funcref is NULL or live (guaranteed by the caller).
    unsafe {
        Ok(match type_of(v.kind)? {
            ValType::I32 => Val::I32(v.of.i32),
            ValType::I64 => Val::I64(v.of.i64),
            ValType::F32 => Val::F32(v.of.f32.to_bits()),
            ValType::F64 => Val::F64(v.of.f64.to_bits()),
            ValType::V128 => Val::V128(u128::from_le_bytes(v.of.v128)),
            ValType::ExternRef => Val::ExternRef(ExternRef::from_raw(v.of.externref)),
            ValType::FuncRef => match v.of.funcref.as_ref() {
                None => Val::FuncRef(None),
                Some(f) => match f.func.to_func_ref() {
                    Some(handle) => Val::FuncRef(Some(handle)),
                    None => {
                        return fail("a host function defined in a linker is not a funcref value")
                    }
                },
            },
        })
    }
}

/// The C value of a Rust value; a non-null funcref becomes a new `vw_func`
/// (owned by the receiver) if `store` can resolve it, else an error.
pub(crate) fn to_c(v: Val, store: Option<&Store>) -> Res<vw_val> {
    let (kind, of) = match v {
        Val::I32(x) => (VW_I32, vw_val_union { i32: x }),
        Val::I64(x) => (VW_I64, vw_val_union { i64: x }),
        Val::F32(bits) => (
            VW_F32,
            vw_val_union {
                f32: f32::from_bits(bits),
            },
        ),
        Val::F64(bits) => (
            VW_F64,
            vw_val_union {
                f64: f64::from_bits(bits),
            },
        ),
        Val::V128(x) => (
            VW_V128,
            vw_val_union {
                v128: x.to_le_bytes(),
            },
        ),
        Val::ExternRef(r) => (
            VW_EXTERNREF,
            vw_val_union {
                externref: r.map_or(0, |r| r.raw()),
            },
        ),
        Val::FuncRef(None) => (
            VW_FUNCREF,
            vw_val_union {
                funcref: std::ptr::null_mut(),
            },
        ),
        Val::FuncRef(Some(handle)) => {
            let Some(func) = store.and_then(|s| s.func(handle)) else {
                return fail("a funcref of another store");
            };
            (
                VW_FUNCREF,
                vw_val_union {
                    funcref: Box::into_raw(Box::new(vw_func::new(func))),
                },
            )
        }
    };
    Ok(vw_val { kind, of })
}
