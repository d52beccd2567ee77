//! Native C functions as imports, called through libffi.

use std::ffi::c_void;

use vibewasm_format::{FuncType, ValType};
use vibewasm_loader::{Linker, Val};
use vibewasm_tests::{call, instantiate_with};

extern "C" fn mix(a: i32, b: i64, c: f32, d: f64) -> f64 {
    a as f64 * 1000.0 + b as f64 * 100.0 + c as f64 * 10.0 + d
}

extern "C" fn negate(x: i64) -> i64 {
    -x
}

static mut LAST: i32 = 0;

extern "C" fn remember(x: i32) {
    // SAFETY: only this test's single thread writes and reads LAST.
    unsafe { LAST = x };
}

fn ty(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType {
        params: params.to_vec(),
        results: results.to_vec(),
    }
}

#[test]
fn wasm_calls_native_c_functions() {
    use ValType::*;
    let mut linker = Linker::new();
    // SAFETY: each pointer is a function with exactly the declared C signature.
    unsafe {
        linker
            .func_native(
                "c",
                "mix",
                ty(&[I32, I64, F32, F64], &[F64]),
                mix as *const c_void,
            )
            .unwrap()
            .func_native("c", "negate", ty(&[I64], &[I64]), negate as *const c_void)
            .unwrap()
            .func_native("c", "remember", ty(&[I32], &[]), remember as *const c_void)
            .unwrap();
    }
    let mut instance = instantiate_with(
        r#"(module
            (import "c" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
            (import "c" "negate" (func $negate (param i64) (result i64)))
            (import "c" "remember" (func $remember (param i32)))
            (func (export "mix") (result f64)
              (call $mix (i32.const 1) (i64.const 2) (f32.const 3) (f64.const 0.5)))
            (func (export "negate") (param i64) (result i64) (call $negate (local.get 0)))
            (func (export "remember") (param i32) (call $remember (local.get 0))))"#,
        &linker,
    );
    assert_eq!(
        call(&mut instance, "mix", &[]),
        vec![Val::F64(1230.5f64.to_bits())]
    );
    assert_eq!(
        call(&mut instance, "negate", &[Val::I64(41)]),
        vec![Val::I64(-41)]
    );
    call(&mut instance, "remember", &[Val::I32(7)]);
    // SAFETY: read after the call returned, on the same thread.
    assert_eq!(unsafe { LAST }, 7);
}

#[test]
fn native_signatures_beyond_one_result_or_with_references_are_refused() {
    use ValType::*;
    let mut linker = Linker::new();
    // SAFETY: the definitions are refused before any call could happen.
    unsafe {
        assert!(linker
            .func_native("c", "two", ty(&[], &[I32, I32]), negate as *const c_void)
            .is_err());
        assert!(linker
            .func_native("c", "ref", ty(&[ExternRef], &[]), negate as *const c_void)
            .is_err());
    }
}
