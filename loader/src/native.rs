//! Native C functions as imports: a function pointer with a declared
//! signature, called through libffi (feature `native`).

use std::ffi::c_void;

use libffi::middle::{Arg, Cif, CodePtr, Type};
use vibewasm_format::{FuncType, ValType};

use crate::error::LinkError;
use crate::func::HostFunc;
use crate::linker::Linker;
use crate::trap::Trap;
use crate::values::Val;

fn ffi_type(ty: ValType) -> Option<Type> {
    Some(match ty {
        ValType::I32 => Type::i32(),
        ValType::I64 => Type::i64(),
        ValType::F32 => Type::f32(),
        ValType::F64 => Type::f64(),
        _ => return None,
    })
}

/// A call interface, shared by every call of one native import.
struct SharedCif(Cif);

// SAFETY: a `Cif` is not modified after `Cif::new`; libffi only reads it in
// `ffi_call`, which may run on several threads with the same interface.
unsafe impl Send for SharedCif {}
// SAFETY: as above.
unsafe impl Sync for SharedCif {}

/// The address of a C function, sendable between threads.
#[derive(Clone, Copy)]
struct FnAddress(*const c_void);

// SAFETY: a function's address is immutable code; calling it from any
// thread is what `func_native`'s caller promised is sound.
unsafe impl Send for FnAddress {}
// SAFETY: as above.
unsafe impl Sync for FnAddress {}

impl Linker {
    /// Defines `module::name` as the native function at `address`, with the
    /// C signature that `ty` maps to (`i32` -> `int32_t`, `i64` ->
    /// `int64_t`, `f32` -> `float`, `f64` -> `double`; at most one result).
    /// Other types (`v128`, references) have no C counterpart here and are
    /// refused with [`LinkError::UnsupportedType`]: wrap such a function in
    /// [`Linker::func_new`] or [`Linker::func_wrap`] instead.
    ///
    /// # Safety
    ///
    /// `address` must be a function with exactly that C signature, callable
    /// from any thread, for as long as any instance linked with it lives.
    pub unsafe fn func_native(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        address: *const c_void,
    ) -> Result<&mut Linker, LinkError> {
        let unsupported = |t: ValType| LinkError::UnsupportedType {
            module: module.to_string(),
            name: name.to_string(),
            ty: ty.clone(),
            unsupported: t,
        };
        let params = ty
            .params
            .iter()
            .map(|t| ffi_type(*t).ok_or_else(|| unsupported(*t)))
            .collect::<Result<Vec<_>, _>>()?;
        let result = match ty.results.as_slice() {
            [] => Type::void(),
            [t] => ffi_type(*t).ok_or_else(|| unsupported(*t))?,
            [_, second, ..] => return Err(unsupported(*second)),
        };
        let cif = SharedCif(Cif::new(params, result));
        let result_type = ty.results.first().copied();
        let function = FnAddress(address);
        let host = HostFunc::new(ty.clone(), move |_caller, args| {
            let (cif, function) = (&cif, function);
            call(&cif.0, function.0, args, result_type)
        })
        .map_err(unsupported)?;
        self.define(module, name, host)
    }
}

/// Calls `function` as described by `cif` with `args` (checked against the
/// signature by the caller of host functions).
fn call(
    cif: &Cif,
    function: *const c_void,
    args: &[Val],
    result: Option<ValType>,
) -> Result<Vec<Val>, Trap> {
    // Values live here while libffi reads them through `Arg` pointers.
    let values: Vec<Val> = args.to_vec();
    let ffi_args: Vec<Arg> = values
        .iter()
        .map(|v| match v {
            Val::I32(x) => Arg::new(x),
            Val::I64(x) => Arg::new(x),
            Val::F32(bits) => Arg::new(bits),
            Val::F64(bits) => Arg::new(bits),
            _ => Arg::new(&0u64),
        })
        .collect();
    if values
        .iter()
        .any(|v| !matches!(v, Val::I32(_) | Val::I64(_) | Val::F32(_) | Val::F64(_)))
    {
        return Err(Trap::new("a native function takes only numbers"));
    }
    let code = CodePtr::from_ptr(function);
    // SAFETY: `func_native`'s caller guaranteed that `function` has the C
    // signature `cif` describes; the arguments match it (host function
    // arguments are checked against the wasm signature before the call, and
    // f32/f64 travel as their bit patterns, which have the same size and
    // are passed in the same registers as the floats).
    let out = unsafe {
        match result {
            None => {
                cif.call::<()>(code, &ffi_args);
                vec![]
            }
            Some(ValType::I32) => vec![Val::I32(cif.call::<i32>(code, &ffi_args))],
            Some(ValType::I64) => vec![Val::I64(cif.call::<i64>(code, &ffi_args))],
            Some(ValType::F32) => vec![Val::F32(cif.call::<f32>(code, &ffi_args).to_bits())],
            Some(ValType::F64) => vec![Val::F64(cif.call::<f64>(code, &ffi_args).to_bits())],
            Some(other) => return Err(Trap::new(format!("unsupported native result {other}"))),
        }
    };
    Ok(out)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    extern "C" fn add3(a: i32, b: i64, c: f64) -> f64 {
        a as f64 + b as f64 + c
    }

    #[test]
    fn signatures_map_to_libffi() {
        let ty = FuncType {
            params: vec![ValType::I32, ValType::I64, ValType::F64],
            results: vec![ValType::F64],
        };
        let cif = Cif::new(ty.params.iter().map(|t| ffi_type(*t).unwrap()), Type::f64());
        let out = call(
            &cif,
            add3 as *const c_void,
            &[Val::I32(1), Val::I64(2), Val::F64(0.5f64.to_bits())],
            Some(ValType::F64),
        )
        .unwrap();
        assert_eq!(out, vec![Val::F64(3.5f64.to_bits())]);
        let mut linker = Linker::new();
        // SAFETY: add3 has the declared signature.
        unsafe { linker.func_native("env", "add3", ty, add3 as *const c_void) }.unwrap();
        // v128 has no C counterpart here: refused, naming the type.
        for ty in [
            FuncType {
                params: vec![ValType::V128],
                results: vec![],
            },
            FuncType {
                params: vec![],
                results: vec![ValType::V128],
            },
        ] {
            // SAFETY: refused before the address is used.
            let err = unsafe { linker.func_native("env", "v", ty, add3 as *const c_void) }
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    LinkError::UnsupportedType {
                        unsupported: ValType::V128,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("v128"), "{err}");
        }
    }
}
