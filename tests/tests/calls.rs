//! Calls: many parameters, several results, recursion and mutual recursion,
//! call_indirect through tables filled by element segments, typed
//! functions, and host imports (arguments, results, errors, panics,
//! memory access from the host, re-entrancy).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use vibewasm_loader::FuncType;
use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}
fn l(v: i64) -> Val {
    Val::I64(v)
}

#[test]
fn many_parameters_and_results() {
    let wat = r#"
    (module
      (func $ten (param i32 i64 i32 i64 i32 i64 i32 i64 i32 i64) (result i64)
        ;; weighted sum so the order of arguments matters
        (i64.add
          (i64.add
            (i64.add (i64.extend_i32_s (local.get 0)) (i64.mul (local.get 1) (i64.const 10)))
            (i64.add (i64.mul (i64.extend_i32_s (local.get 2)) (i64.const 100))
                     (i64.mul (local.get 3) (i64.const 1000))))
          (i64.add
            (i64.add (i64.mul (i64.extend_i32_s (local.get 4)) (i64.const 10000))
                     (i64.mul (local.get 5) (i64.const 100000)))
            (i64.add
              (i64.add (i64.mul (i64.extend_i32_s (local.get 6)) (i64.const 1000000))
                       (i64.mul (local.get 7) (i64.const 10000000)))
              (i64.add (i64.mul (i64.extend_i32_s (local.get 8)) (i64.const 100000000))
                       (i64.mul (local.get 9) (i64.const 1000000000)))))))
      (export "ten" (func $ten))
      (func (export "call_ten") (result i64)
        (call $ten (i32.const 1) (i64.const 2) (i32.const 3) (i64.const 4) (i32.const 5)
                   (i64.const 6) (i32.const 7) (i64.const 8) (i32.const 9) (i64.const -1)))
      (func $mixed (param f64 i32 f32 i64 f64 i32 f32 i64 f64 i32 f32 i64) (result f64)
        (f64.add
          (f64.add
            (f64.add (local.get 0) (f64.convert_i32_s (local.get 1)))
            (f64.add (f64.promote_f32 (local.get 2)) (f64.convert_i64_s (local.get 3))))
          (f64.add
            (f64.add
              (f64.mul (local.get 4) (f64.const 2))
              (f64.mul (f64.convert_i32_s (local.get 5)) (f64.const 3)))
            (f64.add
              (f64.add (f64.mul (f64.promote_f32 (local.get 6)) (f64.const 4))
                       (f64.mul (f64.convert_i64_s (local.get 7)) (f64.const 5)))
              (f64.add (f64.add (f64.mul (local.get 8) (f64.const 6))
                                (f64.mul (f64.convert_i32_s (local.get 9)) (f64.const 7)))
                       (f64.add (f64.mul (f64.promote_f32 (local.get 10)) (f64.const 8))
                                (f64.mul (f64.convert_i64_s (local.get 11)) (f64.const 9))))))))
      (func (export "call_mixed") (result f64)
        (call $mixed (f64.const 0.5) (i32.const 1) (f32.const 0.25) (i64.const 2)
                     (f64.const 1) (i32.const 1) (f32.const 1) (i64.const 1)
                     (f64.const 1) (i32.const 1) (f32.const 1) (i64.const -1)))
      (func $results (param i32) (result i32 i64 f32 f64 i32)
        (local.get 0)
        (i64.extend_i32_s (i32.mul (local.get 0) (i32.const -2)))
        (f32.convert_i32_s (local.get 0))
        (f64.div (f64.convert_i32_s (local.get 0)) (f64.const 4))
        (i32.const 77))
      (export "results" (func $results))
      (func (export "use_results") (param i32) (result i64)
        (local $a i32) (local $b i64) (local $c f32) (local $d f64) (local $e i32)
        (call $results (local.get 0))
        (local.set $e) (local.set $d) (local.set $c) (local.set $b) (local.set $a)
        (i64.add
          (i64.add (i64.extend_i32_s (local.get $a)) (local.get $b))
          (i64.add
            (i64.trunc_f32_s (local.get $c))
            (i64.add (i64.trunc_f64_s (local.get $d)) (i64.extend_i32_s (local.get $e))))))
    )"#;
    let mut inst = instantiate_wat(wat);
    let args = [i(1), l(2), i(3), l(4), i(5), l(6), i(7), l(8), i(9), l(-1)];
    let want = 1 + 20 + 300 + 4000 + 50000 + 600000 + 7000000 + 80000000 + 900000000 - 1000000000;
    assert_eq!(call_i64(&mut inst, "ten", &args), want);
    assert_eq!(call_i64(&mut inst, "call_ten", &[]), want);
    let want_mixed = 0.5 + 1.0 + 0.25 + 2.0 + 2.0 + 3.0 + 4.0 + 5.0 + 6.0 + 7.0 + 8.0 - 9.0;
    assert_eq!(call(&mut inst, "call_mixed", &[]), [Val::f64(want_mixed)]);
    assert_eq!(
        call(&mut inst, "results", &[i(10)]),
        [i(10), l(-20), Val::f32(10.0), Val::f64(2.5), i(77)]
    );
    assert_eq!(
        call_i64(&mut inst, "use_results", &[i(10)]),
        // a + b + c + d + e = 10 + (-20) + 10 + 2 (2.5 truncated) + 77
        79
    );
}

#[test]
fn typed_funcs() {
    let wat = r#"
    (module
      (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
      (func (export "pair") (param i64) (result i64 f64)
        (i64.mul (local.get 0) (i64.const 3)) (f64.convert_i64_s (local.get 0)))
      (func (export "none"))
    )"#;
    let mut inst = instantiate_wat(wat);
    let add = inst.get_typed_func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut inst, (2, 40)).unwrap(), 42);
    assert_eq!(add.call(&mut inst, (i32::MAX, 1)).unwrap(), i32::MIN);
    let pair = inst.get_typed_func::<i64, (i64, f64)>("pair").unwrap();
    assert_eq!(pair.call(&mut inst, -5).unwrap(), (-15, -5.0));
    let none = inst.get_typed_func::<(), ()>("none").unwrap();
    none.call(&mut inst, ()).unwrap();
    // Wrong signatures and names are refused with a message naming them.
    let err = inst.get_typed_func::<(i64, i32), i32>("add").unwrap_err();
    assert!(err.to_string().contains("add"), "{err}");
    let err = inst.get_typed_func::<(), ()>("missing").unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    // Untyped calls check the arguments.
    let err = inst.call("add", &[i(1)]).unwrap_err();
    assert!(err.to_string().contains("expected 2 arguments"), "{err}");
    let err = inst.call("add", &[i(1), l(2)]).unwrap_err();
    assert!(err.trap_code().is_none(), "{err}");
}

#[test]
fn recursion() {
    let wat = r#"
    (module
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func $ack (export "ack") (param $m i64) (param $n i64) (result i64)
        (if (result i64) (i64.eqz (local.get $m))
          (then (i64.add (local.get $n) (i64.const 1)))
          (else
            (if (result i64) (i64.eqz (local.get $n))
              (then (call $ack (i64.sub (local.get $m) (i64.const 1)) (i64.const 1)))
              (else (call $ack (i64.sub (local.get $m) (i64.const 1))
                               (call $ack (local.get $m) (i64.sub (local.get $n) (i64.const 1)))))))))
      (func $fact (export "fact") (param i64) (result i64)
        (if (result i64) (i64.le_s (local.get 0) (i64.const 1))
          (then (i64.const 1))
          (else (i64.mul (local.get 0) (call $fact (i64.sub (local.get 0) (i64.const 1)))))))
      (func $even (export "even") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
          (then (i32.const 1))
          (else (call $odd (i32.sub (local.get 0) (i32.const 1))))))
      (func $odd (export "odd") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
          (then (i32.const 0))
          (else (call $even (i32.sub (local.get 0) (i32.const 1))))))
    )"#;
    let mut inst = instantiate_wat(wat);
    let fibs = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55];
    for (n, want) in fibs.iter().enumerate() {
        assert_eq!(call_i32(&mut inst, "fib", &[i(n as i32)]), *want);
    }
    assert_eq!(call_i32(&mut inst, "fib", &[i(25)]), 75025);
    assert_eq!(call_i64(&mut inst, "ack", &[l(2), l(3)]), 9);
    assert_eq!(call_i64(&mut inst, "ack", &[l(3), l(3)]), 61);
    assert_eq!(
        call_i64(&mut inst, "fact", &[l(20)]),
        2_432_902_008_176_640_000
    );
    assert_eq!(
        call_i64(&mut inst, "fact", &[l(25)]),
        7_034_535_277_573_963_776
    ); // wraps
    assert_eq!(call_i32(&mut inst, "even", &[i(1000)]), 1);
    assert_eq!(call_i32(&mut inst, "odd", &[i(1000)]), 0);
    assert_eq!(call_i32(&mut inst, "odd", &[i(777)]), 1);
}

const INDIRECT: &str = r#"
(module
  (type $binop (func (param i32 i32) (result i32)))
  (type $unop (func (param i32) (result i32)))
  (table $t 8 funcref)
  (elem (i32.const 0) $add $sub $mul)
  (elem (i32.const 4) $neg $add)
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  (func $neg (type $unop) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "apply") (param $f i32) (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $binop) (local.get $a) (local.get $b) (local.get $f)))
  (func (export "apply1") (param $f i32) (param $a i32) (result i32)
    (call_indirect (type $unop) (local.get $a) (local.get $f)))
  ;; fold over the three binops with a constant table index
  (func (export "fold") (param $a i32) (result i32)
    (call_indirect (type $binop)
      (call_indirect (type $binop)
        (call_indirect (type $binop) (local.get $a) (i32.const 3) (i32.const 0))
        (i32.const 1) (i32.const 1))
      (i32.const 10) (i32.const 2)))
)"#;

#[test]
fn call_indirect_through_element_segments() {
    let mut inst = instantiate_wat(INDIRECT);
    assert_eq!(call_i32(&mut inst, "apply", &[i(0), i(7), i(5)]), 12);
    assert_eq!(call_i32(&mut inst, "apply", &[i(1), i(7), i(5)]), 2);
    assert_eq!(call_i32(&mut inst, "apply", &[i(2), i(7), i(5)]), 35);
    assert_eq!(call_i32(&mut inst, "apply", &[i(5), i(7), i(5)]), 12);
    assert_eq!(call_i32(&mut inst, "apply1", &[i(4), i(9)]), -9);
    assert_eq!(call_i32(&mut inst, "fold", &[i(4)]), 60);
    // The failure cases are in traps.rs; here just check one of each does
    // not break the next call.
    expect_trap(
        &mut inst,
        "apply",
        &[i(3), i(1), i(1)],
        TrapCode::UninitializedElement,
    );
    expect_trap(
        &mut inst,
        "apply",
        &[i(8), i(1), i(1)],
        TrapCode::UndefinedElement,
    );
    expect_trap(
        &mut inst,
        "apply",
        &[i(4), i(1), i(1)],
        TrapCode::IndirectCallTypeMismatch,
    );
    assert_eq!(call_i32(&mut inst, "apply", &[i(2), i(-3), i(5)]), -15);
}

#[test]
fn call_indirect_same_signature_different_type_index() {
    // Two structurally identical types must be interchangeable.
    let wat = r#"
    (module
      (type $a (func (param i64) (result i64)))
      (type $b (func (param i64) (result i64)))
      (table 2 funcref)
      (elem (i32.const 0) $f $g)
      (func $f (type $a) (i64.mul (local.get 0) (i64.const 2)))
      (func $g (type $b) (i64.add (local.get 0) (i64.const 1)))
      (func (export "via_a") (param i32 i64) (result i64)
        (call_indirect (type $a) (local.get 1) (local.get 0)))
      (func (export "via_b") (param i32 i64) (result i64)
        (call_indirect (type $b) (local.get 1) (local.get 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i64(&mut inst, "via_a", &[i(0), l(21)]), 42);
    assert_eq!(call_i64(&mut inst, "via_a", &[i(1), l(21)]), 22);
    assert_eq!(call_i64(&mut inst, "via_b", &[i(0), l(21)]), 42);
    assert_eq!(call_i64(&mut inst, "via_b", &[i(1), l(21)]), 22);
}

#[test]
fn host_imports_get_arguments_and_return_values() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut linker = Linker::new();
    let log = seen.clone();
    linker
        .func_wrap("env", "add3", |a: i32, b: i64, c: f64| -> f64 {
            a as f64 + b as f64 + c
        })
        .unwrap()
        .func_wrap("env", "log", move |x: i64| log.lock().unwrap().push(x))
        .unwrap()
        .func_wrap("env", "pair", |x: i32| {
            (x.wrapping_mul(2), (x as i64) << 40)
        })
        .unwrap()
        .func_new(
            "env",
            "untyped",
            FuncType {
                params: vec![vibewasm_loader::ValType::F32, vibewasm_loader::ValType::I32],
                results: vec![vibewasm_loader::ValType::F32],
            },
            |_caller, args| {
                let (Some(x), Some(n)) = (args[0].as_f32(), args[1].as_i32()) else {
                    return Err(Trap::new("bad args"));
                };
                Ok(vec![Val::f32(x * n as f32)])
            },
        )
        .unwrap();
    let wat = r#"
    (module
      (import "env" "add3" (func $add3 (param i32 i64 f64) (result f64)))
      (import "env" "log" (func $log (param i64)))
      (import "env" "pair" (func $pair (param i32) (result i32 i64)))
      (import "env" "untyped" (func $untyped (param f32 i32) (result f32)))
      (func (export "run") (param i32) (result f64)
        (local $k i32)
        (loop $l
          (call $log (i64.extend_i32_s (local.get $k)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $l (i32.lt_s (local.get $k) (local.get 0))))
        (call $add3 (local.get 0) (i64.const 1000000000000) (f64.const 0.5)))
      (func (export "pair") (param i32) (result i64)
        (local $b i64)
        (call $pair (local.get 0))
        (local.set $b)
        (i64.extend_i32_s)
        (local.get $b)
        (i64.add))
      (func (export "untyped") (param f32) (result f32)
        (call $untyped (local.get 0) (i32.const 3)))
      ;; a live value in a register across a host call
      (func (export "live") (param i32) (result i32)
        (i32.add (i32.mul (local.get 0) (i32.const 7))
                 (i32.trunc_f64_s (call $add3 (i32.const 1) (i64.const 2) (f64.const 3)))))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(
        call(&mut inst, "run", &[i(3)]),
        [Val::f64(3.0 + 1e12 + 0.5)]
    );
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
    // Order check: pair returns (2x, x<<40); the i64 is added to the
    // extended i32.
    assert_eq!(call_i64(&mut inst, "pair", &[i(5)]), (5i64 << 40) + 10);
    assert_eq!(
        call(&mut inst, "untyped", &[Val::f32(1.5)]),
        [Val::f32(4.5)]
    );
    assert_eq!(call_i32(&mut inst, "live", &[i(6)]), 48);
}

#[test]
fn missing_and_mismatched_imports_are_link_errors() {
    let wat = r#"(module (import "env" "f" (func (param i32) (result i32))))"#;
    let artifact = load_wat(wat);
    let err = Linker::new().instantiate_artifact(&artifact).unwrap_err();
    assert!(err.trap_code().is_none());
    assert!(err.to_string().contains("env::f"), "{err}");
    let mut linker = Linker::new();
    linker.func_wrap("env", "f", |x: i64| x).unwrap();
    let err = linker.instantiate_artifact(&artifact).unwrap_err();
    assert!(
        err.to_string().contains("incompatible import type"),
        "{err}"
    );
}

#[test]
fn host_error_becomes_a_trap_and_instance_survives() {
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "check", |x: i32| -> Result<i32, Trap> {
            if x < 0 {
                Err(Trap::new(format!("negative input {x}")))
            } else {
                Ok(x * 2)
            }
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "check" (func $check (param i32) (result i32)))
      (global $g (mut i32) (i32.const 0))
      (func (export "f") (param i32) (result i32)
        (global.set $g (i32.add (global.get $g) (i32.const 1)))
        (i32.add (call $check (local.get 0)) (i32.const 1)))
      (func (export "count") (result i32) (global.get $g))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut inst, "f", &[i(20)]), 41);
    let err = call_err(&mut inst, "f", &[i(-3)]);
    assert_eq!(err.trap_code(), Some(TrapCode::HostError), "{err}");
    assert!(err.to_string().contains("negative input -3"), "{err}");
    assert_eq!(call_i32(&mut inst, "f", &[i(1)]), 3);
    assert_eq!(call_i32(&mut inst, "count", &[]), 3);
}

#[test]
fn host_panic_becomes_a_trap_and_process_survives() {
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "boom", |x: i32| -> i32 {
            if x == 13 {
                panic!("unlucky {x}");
            }
            x + 1
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "boom" (func $boom (param i32) (result i32)))
      (func (export "f") (param i32) (result i32) (call $boom (local.get 0)))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    let err = call_err(&mut inst, "f", &[i(13)]);
    assert_eq!(err.trap_code(), Some(TrapCode::HostError), "{err}");
    assert!(err.to_string().contains("unlucky 13"), "{err}");
    assert_eq!(call_i32(&mut inst, "f", &[i(1)]), 2);
    // And again, to show nothing was left in a bad state.
    call_err(&mut inst, "f", &[i(13)]);
    assert_eq!(call_i32(&mut inst, "f", &[i(41)]), 42);
}

#[test]
fn host_reads_and_writes_wasm_memory() {
    let mut linker = Linker::new();
    linker
        .func_wrap(
            "env",
            "sum_bytes",
            |caller: &mut Caller<'_>, ptr: i32, len: i32| -> i32 {
                let mem = caller.memory().expect("memory");
                mem[ptr as usize..(ptr + len) as usize]
                    .iter()
                    .map(|&b| b as i32)
                    .sum()
            },
        )
        .unwrap()
        .func_wrap(
            "env",
            "fill",
            |caller: &mut Caller<'_>, ptr: i32, len: i32, byte: i32| {
                let mem = caller.memory_mut().expect("memory");
                mem[ptr as usize..(ptr + len) as usize].fill(byte as u8);
            },
        )
        .unwrap();
    let wat = r#"
    (module
      (import "env" "sum_bytes" (func $sum (param i32 i32) (result i32)))
      (import "env" "fill" (func $fill (param i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 8) "\01\02\03\04\05")
      (func (export "sum") (result i32) (call $sum (i32.const 8) (i32.const 5)))
      (func (export "fill_then_load") (result i32)
        (call $fill (i32.const 100) (i32.const 4) (i32.const 0xab))
        (i32.load (i32.const 100)))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut inst, "sum", &[]), 15);
    assert_eq!(
        call_i32(&mut inst, "fill_then_load", &[]),
        0xabab_abab_u32 as i32
    );
}

#[test]
fn host_calls_back_into_a_separate_instance() {
    // A host function that keeps a counter shared between calls.
    let counter = Arc::new(AtomicI64::new(0));
    let c = counter.clone();
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "tick", move || c.fetch_add(1, Ordering::SeqCst))
        .unwrap();
    let wat = r#"
    (module
      (import "env" "tick" (func $tick (result i64)))
      (func (export "ticks") (param i32) (result i64)
        (local $last i64)
        (block $done (loop $l
          (br_if $done (i32.eqz (local.get 0)))
          (local.set $last (call $tick))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br $l)))
        (local.get $last))
    )"#;
    let mut a = instantiate_with(wat, &linker);
    let mut b = instantiate_with(wat, &linker);
    assert_eq!(call_i64(&mut a, "ticks", &[i(10)]), 9);
    assert_eq!(call_i64(&mut b, "ticks", &[i(5)]), 14);
    assert_eq!(counter.load(Ordering::SeqCst), 15);
}

#[test]
fn instances_run_on_other_threads() {
    let artifact = load_wat(
        r#"(module (func $f (export "fib") (param i32) (result i32)
             (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
               (then (local.get 0))
               (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)))
                              (call $f (i32.sub (local.get 0) (i32.const 2))))))))"#,
    );
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let artifact = artifact.clone();
            std::thread::spawn(move || {
                let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
                call_i32(&mut inst, "fib", &[i(15 + k)])
            })
        })
        .collect();
    let results: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [610, 987, 1597, 2584]);
    // An instance moved to another thread keeps working.
    let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
    assert_eq!(call_i32(&mut inst, "fib", &[i(10)]), 55);
    let mut inst = std::thread::spawn(move || {
        assert_eq!(call_i32(&mut inst, "fib", &[i(11)]), 89);
        inst
    })
    .join()
    .unwrap();
    assert_eq!(call_i32(&mut inst, "fib", &[i(12)]), 144);
}

#[test]
fn locals_survive_calls_in_loops() {
    // Integer and float locals used heavily (so a compiler keeps them in
    // registers) stay intact across wasm calls, host calls and recursion.
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "clobber", |x: f64, n: i64| -> f64 {
            // Do some float work on the host side.
            let mut acc = x;
            for k in 0..n {
                acc = (acc * 1.000_001 + k as f64).sqrt();
            }
            acc
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "clobber" (func $clobber (param f64 i64) (result f64)))
      (func $noise (param i32) (result i32)
        (local $a i32) (local $b i32) (local $c i32) (local $x f64) (local $y f64)
        (local.set $a (i32.mul (local.get 0) (i32.const 31)))
        (local.set $b (i32.xor (local.get $a) (i32.const 0x5555)))
        (local.set $c (i32.add (local.get $a) (local.get $b)))
        (local.set $x (f64.convert_i32_s (local.get $c)))
        (local.set $y (f64.mul (local.get $x) (local.get $x)))
        (i32.trunc_f64_s (f64.sqrt (local.get $y))))
      (func (export "run") (param $n i32) (result f64)
        (local $i i32) (local $s i64) (local $t i32) (local $u i32)
        (local $f f64) (local $g f64) (local $h f32)
        (local.set $f (f64.const 1.5))
        (local.set $g (f64.const -2.25))
        (local.set $h (f32.const 0.5))
        (local.set $t (i32.const 7))
        (local.set $u (i32.const 1000))
        (block $done
          (loop $l
            (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
            (local.set $s (i64.add (local.get $s)
              (i64.extend_i32_s (call $noise (local.get $i)))))
            (local.set $f (f64.add (local.get $f) (f64.const 0.5)))
            (drop (call $clobber (local.get $g) (i64.const 10)))
            (local.set $g (f64.sub (local.get $g) (f64.const 1)))
            (local.set $h (f32.mul (local.get $h) (f32.const 2)))
            (local.set $t (i32.add (local.get $t) (local.get $i)))
            (local.set $u (i32.sub (local.get $u) (i32.const 1)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (f64.add
          (f64.add (f64.convert_i64_s (local.get $s)) (local.get $f))
          (f64.add (f64.add (local.get $g) (f64.promote_f32 (local.get $h)))
                   (f64.convert_i32_s (i32.add (local.get $t) (local.get $u))))))
      ;; recursion with register-held locals at every level
      (func $rec (export "rec") (param $n i32) (result i64)
        (local $a i64) (local $b i64) (local $x f64)
        (local.set $a (i64.extend_i32_s (local.get $n)))
        (local.set $b (i64.mul (local.get $a) (i64.const 3)))
        (local.set $x (f64.convert_i32_s (local.get $n)))
        (if (result i64) (i32.eqz (local.get $n))
          (then (i64.const 0))
          (else
            (i64.add
              (call $rec (i32.sub (local.get $n) (i32.const 1)))
              (i64.add (i64.add (local.get $a) (local.get $b))
                       (i64.trunc_f64_s (f64.mul (local.get $x) (f64.const 10))))))))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    let noise = |k: i32| -> i32 {
        let a = k.wrapping_mul(31);
        let b = a ^ 0x5555;
        let c = a.wrapping_add(b);
        ((c as f64) * (c as f64)).sqrt() as i32
    };
    for n in [0, 1, 5, 20] {
        let s: i64 = (0..n).map(|k| noise(k) as i64).sum();
        let f = 1.5 + 0.5 * n as f64;
        let g = -2.25 - n as f64;
        let h = 0.5f32 * 2f32.powi(n);
        let t = 7 + (0..n).sum::<i32>();
        let u = 1000 - n;
        let want = (s as f64 + f) + ((g + h as f64) + (t + u) as f64);
        assert_eq!(
            call(&mut inst, "run", &[i(n)]),
            [Val::f64(want)],
            "run({n})"
        );
    }
    // rec(n) = sum over k = 1..=n of (k + 3k + 10k) = 14 * n(n+1)/2
    for n in [0i64, 1, 10, 300] {
        assert_eq!(call_i64(&mut inst, "rec", &[i(n as i32)]), 7 * n * (n + 1));
    }
}

#[test]
fn imported_functions_in_tables_and_reexported() {
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "triple", |x: i32| x * 3)
        .unwrap()
        .func_wrap("env", "hello", || 42i64)
        .unwrap();
    let wat = r#"
    (module
      (import "env" "triple" (func $triple (param i32) (result i32)))
      (import "env" "hello" (func $hello (result i64)))
      (type $i_i (func (param i32) (result i32)))
      (type $v_l (func (result i64)))
      (table 4 funcref)
      (elem (i32.const 0) $triple $double $hello)
      (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
      (export "triple" (func $triple))
      (export "hello" (func $hello))
      (func (export "apply") (param i32 i32) (result i32)
        (call_indirect (type $i_i) (local.get 1) (local.get 0)))
      (func (export "hello_indirect") (result i64)
        (call_indirect (type $v_l) (i32.const 2)))
    )"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut inst, "apply", &[i(0), i(5)]), 15);
    assert_eq!(call_i32(&mut inst, "apply", &[i(1), i(5)]), 10);
    expect_trap(
        &mut inst,
        "apply",
        &[i(2), i(5)],
        TrapCode::IndirectCallTypeMismatch,
    );
    expect_trap(
        &mut inst,
        "apply",
        &[i(3), i(5)],
        TrapCode::UninitializedElement,
    );
    assert_eq!(call_i64(&mut inst, "hello_indirect", &[]), 42);
    // Calling a re-exported import from the host goes to the host function.
    assert_eq!(call_i32(&mut inst, "triple", &[i(-4)]), -12);
    assert_eq!(call_i64(&mut inst, "hello", &[]), 42);
    let typed = inst.get_typed_func::<i32, i32>("triple").unwrap();
    assert_eq!(typed.call(&mut inst, 7).unwrap(), 21);
}

#[test]
fn start_function_calls_the_host() {
    let calls = Arc::new(AtomicI64::new(0));
    let c = calls.clone();
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "note", move |x: i32| {
            c.fetch_add(x as i64, Ordering::SeqCst);
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "note" (func $note (param i32)))
      (global $g (mut i32) (i32.const 0))
      (func $start (call $note (i32.const 5)) (global.set $g (i32.const 9)))
      (start $start)
      (func (export "g") (result i32) (global.get $g)))"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(call_i32(&mut inst, "g", &[]), 9);
    // A host error in the start function fails instantiation with its trap.
    let mut failing = Linker::new();
    failing
        .func_wrap("env", "note", |_: i32| -> Result<(), Trap> {
            Err(Trap::new("no notes today"))
        })
        .unwrap();
    let err = try_instantiate_with(wat, &failing).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::HostError), "{err}");
    assert!(err.to_string().contains("no notes today"), "{err}");
}

#[test]
fn many_results_through_the_host_boundary() {
    let wat = r#"
    (module
      (func $eight (param i32) (result i32 i64 f32 f64 i32 i64 f32 f64)
        (local.get 0)
        (i64.extend_i32_s (i32.add (local.get 0) (i32.const 1)))
        (f32.convert_i32_s (i32.add (local.get 0) (i32.const 2)))
        (f64.convert_i32_s (i32.add (local.get 0) (i32.const 3)))
        (i32.add (local.get 0) (i32.const 4))
        (i64.extend_i32_s (i32.add (local.get 0) (i32.const 5)))
        (f32.convert_i32_s (i32.add (local.get 0) (i32.const 6)))
        (f64.convert_i32_s (i32.add (local.get 0) (i32.const 7))))
      (export "eight" (func $eight))
      (func (export "sum") (param i32) (result f64)
        (local $a i32) (local $b i64) (local $c f32) (local $d f64)
        (local $e i32) (local $f i64) (local $g f32) (local $h f64)
        (call $eight (local.get 0))
        (local.set $h) (local.set $g) (local.set $f) (local.set $e)
        (local.set $d) (local.set $c) (local.set $b) (local.set $a)
        (f64.add
          (f64.add (f64.add (f64.convert_i32_s (local.get $a)) (f64.convert_i64_s (local.get $b)))
                   (f64.add (f64.promote_f32 (local.get $c)) (local.get $d)))
          (f64.add (f64.add (f64.convert_i32_s (local.get $e)) (f64.convert_i64_s (local.get $f)))
                   (f64.add (f64.promote_f32 (local.get $g)) (local.get $h)))))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(
        call(&mut inst, "eight", &[i(10)]),
        [
            i(10),
            l(11),
            Val::f32(12.0),
            Val::f64(13.0),
            i(14),
            l(15),
            Val::f32(16.0),
            Val::f64(17.0)
        ]
    );
    assert_eq!(call(&mut inst, "sum", &[i(10)]), [Val::f64(108.0)]);
}

#[test]
fn many_float_and_int_locals_across_calls() {
    // More float locals (12) and integer locals (12) than registers, all
    // live across a wasm call and a host call in every iteration.
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "h", |x: f64, y: i64| -> f64 { x * 0.5 + y as f64 })
        .unwrap();
    let n = 12;
    let mut decl = String::new();
    for _ in 0..n {
        decl += "(local f64) (local i64) ";
    }
    // locals: 0 = param i32 count; then pairs (f64, i64) at 1+2k, 2+2k
    let f = |k: usize| 1 + 2 * k;
    let g = |k: usize| 2 + 2 * k;
    let mut init = String::new();
    for k in 0..n {
        init += &format!(
            "(local.set {} (f64.const {}.25)) (local.set {} (i64.const {}))\n",
            f(k),
            k,
            g(k),
            k * 1000
        );
    }
    let mut step = String::new();
    for k in 0..n {
        let prev = (k + n - 1) % n;
        step += &format!(
            "(local.set {fk} (f64.add (local.get {fk}) (f64.mul (local.get {fp}) (f64.const 0.125))))\n\
             (local.set {gk} (i64.add (local.get {gk}) (i64.xor (local.get {gp}) (i64.const {k}))))\n",
            fk = f(k),
            fp = f(prev),
            gk = g(k),
            gp = g(prev),
        );
    }
    let mut digest = String::from("(f64.const 0)");
    for k in 0..n {
        digest = format!(
            "(f64.add (f64.mul {digest} (f64.const 1.5)) (f64.add (local.get {}) (f64.convert_i64_s (local.get {}))))",
            f(k),
            g(k)
        );
    }
    let wat = format!(
        r#"(module
          (import "env" "h" (func $h (param f64 i64) (result f64)))
          (func $w (param f64 i64) (result f64) (f64.sub (local.get 0) (f64.convert_i64_s (local.get 1))))
          (func (export "run") (param i32) (result f64) {decl}
            (local $acc f64)
            {init}
            (block $done (loop $l
              (br_if $done (i32.eqz (local.get 0)))
              (local.set $acc (f64.add (local.get $acc) (call $w (local.get 3) (local.get 4))))
              {step}
              (local.set $acc (f64.add (local.get $acc) (call $h (local.get 5) (local.get 6))))
              (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
              (br $l)))
            (f64.add (local.get $acc) {digest})))"#
    );
    let mut inst = instantiate_with(&wat, &linker);
    let model = |mut count: i32| -> f64 {
        let mut fs: Vec<f64> = (0..n).map(|k| k as f64 + 0.25).collect();
        let mut gs: Vec<i64> = (0..n).map(|k| k as i64 * 1000).collect();
        let mut acc = 0.0;
        while count != 0 {
            acc += fs[1] - gs[1] as f64;
            for k in 0..n {
                let prev = (k + n - 1) % n;
                fs[k] += fs[prev] * 0.125;
                gs[k] = gs[k].wrapping_add(gs[prev] ^ k as i64);
            }
            acc += fs[2] * 0.5 + gs[2] as f64;
            count -= 1;
        }
        let mut digest = 0.0;
        for k in 0..n {
            digest = digest * 1.5 + (fs[k] + gs[k] as f64);
        }
        acc + digest
    };
    for count in [0, 1, 7, 50] {
        assert_eq!(
            call(&mut inst, "run", &[i(count)]),
            [Val::f64(model(count))],
            "run({count})"
        );
    }
}

/// Hot integer locals beyond the callee-saved registers live in pool
/// (caller-saved) registers when no loop calls out; a call or a runtime
/// helper outside the loops must not lose them. Checked with both
/// bounds-check strategies (guard pages leave one more saved register).
#[test]
fn locals_in_caller_saved_registers_survive_calls_and_helpers() {
    let wat = r#"
    (module
      (memory 1)
      ;; Uses every pool register: a deep expression.
      (func $clobber (param i64) (result i64)
        (i64.add (local.get 0)
          (i64.mul (i64.const 3)
            (i64.add (i64.const 5)
              (i64.mul (i64.const 7)
                (i64.add (i64.const 11)
                  (i64.mul (i64.const 13) (i64.add (i64.const 17) (local.get 0)))))))))
      (func (export "run") (param $n i64) (result i64)
        (local $a i64) (local $b i64) (local $c i64) (local $d i64)
        (local $e i64) (local $f i64) (local $g i64) (local $i i64)
        (loop $l
          (local.set $a (i64.add (local.get $a) (local.get $i)))
          (local.set $b (i64.xor (local.get $b) (i64.mul (local.get $a) (i64.const 3))))
          (local.set $c (i64.add (local.get $c) (local.get $b)))
          (local.set $d (i64.sub (local.get $d) (local.get $c)))
          (local.set $e (i64.add (local.get $e) (i64.shl (local.get $d) (i64.const 1))))
          (local.set $f (i64.xor (local.get $f) (local.get $e)))
          (local.set $g (i64.add (local.get $g) (local.get $f)))
          (i64.store (i32.const 8) (local.get $g))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br_if $l (i64.lt_u (local.get $i) (local.get $n))))
        (drop (call $clobber (local.get $a)))
        (drop (memory.grow (i32.const 1)))
        ;; A shallow stack from here on, so the value stack does not
        ;; outweigh the locals for the pool registers.
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $b) (i64.const 3))))
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $c) (i64.const 5))))
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $d) (i64.const 7))))
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $e) (i64.const 11))))
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $f) (i64.const 13))))
        (local.set $a (i64.add (local.get $a) (i64.mul (local.get $g) (i64.const 17))))
        (i64.add (local.get $a) (i64.load (i32.const 8)))))"#;
    let n = 1000u64;
    let (mut a, mut b, mut c, mut d, mut e, mut f, mut g) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for i in 0..n {
        a = a.wrapping_add(i);
        b ^= a.wrapping_mul(3);
        c = c.wrapping_add(b);
        d = d.wrapping_sub(c);
        e = e.wrapping_add(d << 1);
        f ^= e;
        g = g.wrapping_add(f);
    }
    let want = a
        .wrapping_add(b.wrapping_mul(3))
        .wrapping_add(c.wrapping_mul(5))
        .wrapping_add(d.wrapping_mul(7))
        .wrapping_add(e.wrapping_mul(11))
        .wrapping_add(f.wrapping_mul(13))
        .wrapping_add(g.wrapping_mul(17))
        .wrapping_add(g);
    for bounds_checks in [
        vibewasm_compiler::BoundsChecks::Explicit,
        vibewasm_compiler::BoundsChecks::GuardPages,
    ] {
        let config = Config {
            bounds_checks,
            ..Config::default()
        };
        let mut instance = instantiate_configured(wat, &config, &Linker::new());
        assert_eq!(
            call_i64(&mut instance, "run", &[l(n as i64)]),
            want as i64,
            "{bounds_checks:?}"
        );
    }
}
