//! Tail calls (`return_call`, `return_call_indirect`): deep recursion in
//! tail position runs in constant stack space on a small thread; tail calls
//! to host functions and to another instance's functions return the right
//! results; fuel still stops endless tail recursion. Every test
//! runs with both bounds-check strategies.

use std::sync::Arc;

use vibewasm_tests::*;

fn i32v(v: i32) -> Val {
    Val::I32(v)
}

fn i64v(v: i64) -> Val {
    Val::I64(v)
}

/// Recursion 10 million calls deep, every call in tail position:
/// - `sum`: a countdown accumulating a sum (more parameters than results);
/// - `ping`/`pong`: mutual recursion between functions with 4 and 2
///   parameters (an f64 among them), `ping` calling `pong` directly and
///   `pong` calling `ping` through the table;
/// - `odd`/`even`: mutual recursion through `return_call_indirect` only,
///   with 1 and 3 parameters.
const DEEP: &str = r#"
(module
  (type $ping_t (func (param i64 i64 f64 i32) (result i64)))
  (type $odd_t (func (param i64) (result i32)))
  (type $even_t (func (param i64 i32 i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $ping $odd $even)
  (memory 1)

  (func $sum (export "sum") (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else (return_call $sum (i64.sub (local.get $n) (i64.const 1))
                              (i64.add (local.get $acc) (local.get $n))))))

  ;; acc += n * step (as f64 -> i64), step alternates the parity of i32 k
  (func $ping (export "ping") (type $ping_t)
    (param $n i64) (param $acc i64) (param $step f64) (param $k i32) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else
        (i32.store (i32.const 8) (local.get $k))
        (return_call $pong
          (i64.sub (local.get $n) (i64.const 1))
          (i64.add (local.get $acc)
                   (i64.trunc_f64_s (f64.mul (local.get $step)
                                             (f64.convert_i64_s (local.get $n)))))))))

  (func $pong (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else
        (return_call_indirect (type $ping_t)
          (i64.sub (local.get $n) (i64.const 1))
          (i64.xor (local.get $acc) (local.get $n))
          (f64.const 1.5)
          (i32.add (i32.load (i32.const 8)) (i32.const 1))
          (i32.const 0)))))

  (func $odd (export "odd") (param $n i64) (result i32)
    (if (result i32) (i64.eqz (local.get $n))
      (then (i32.const 0))
      (else (return_call_indirect (type $even_t)
              (i64.sub (local.get $n) (i64.const 1)) (i32.const 7) (i32.const 9)
              (i32.const 2)))))

  (func $even (export "even") (param $n i64) (param $a i32) (param $b i32) (result i32)
    (if (result i32) (i64.eqz (local.get $n))
      (then (i32.sub (local.get $b) (local.get $a)))
      (else (return_call_indirect (type $odd_t)
              (i64.sub (local.get $n) (i64.const 1))
              (i32.const 1)))))
)"#;

const DEPTH: i64 = 10_000_000;

/// What `ping` computes, in Rust, called with a step of 2.5 (`pong` passes
/// 1.5).
fn ping_model(mut n: i64) -> i64 {
    let mut acc = 0i64;
    let mut ping = true;
    let mut step = 2.5;
    while n != 0 {
        if ping {
            acc = acc.wrapping_add((step * n as f64) as i64);
            step = 1.5;
        } else {
            acc ^= n;
        }
        n -= 1;
        ping = !ping;
    }
    acc
}

/// Runs `f` on a thread with a 256 KiB stack: far too small for 10
/// million frames of any size.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread panicked")
}

#[test]
fn deep_tail_recursion_runs_in_constant_stack() {
    for config in both_bounds_checks() {
        let artifact = open_artifact_bytes(&compile_wat_with(DEEP, &config));
        let results = on_small_stack(move || {
            let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
            (
                call_i64(&mut inst, "sum", &[i64v(DEPTH), i64v(0)]),
                call_i64(
                    &mut inst,
                    "ping",
                    &[i64v(DEPTH), i64v(0), Val::F64(2.5f64.to_bits()), i32v(0)],
                ),
                call_i32(&mut inst, "odd", &[i64v(DEPTH)]),
                call_i32(&mut inst, "odd", &[i64v(DEPTH + 1)]),
                call_i32(&mut inst, "even", &[i64v(DEPTH), i32v(3), i32v(10)]),
            )
        });
        assert_eq!(results.0, DEPTH * (DEPTH + 1) / 2, "{config:?}");
        assert_eq!(results.1, ping_model(DEPTH), "{config:?}");
        // odd(n) for even n ends in odd(0) = 0, for odd n in even(0, 7, 9)
        // = 9 - 7; so does even(n, ..) for even n > 0.
        assert_eq!(results.2, 0, "{config:?}");
        assert_eq!(results.3, 2, "{config:?}");
        assert_eq!(results.4, 2, "{config:?}");
    }
}

/// The same recursion with plain calls overflows the small stack (the
/// deep test above would too, if tail calls kept their frames).
#[test]
fn the_same_recursion_without_tail_calls_exhausts_the_stack() {
    let wat = DEEP.replace("return_call", "call");
    let artifact = open_artifact_bytes(&compile_wat(&wat));
    let err = on_small_stack(move || {
        let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
        call_err(&mut inst, "sum", &[i64v(DEPTH), i64v(0)]).to_string()
    });
    assert!(err.contains("call stack exhausted"), "{err}");
}

#[test]
fn tail_calls_to_host_functions_return_their_results() {
    let wat = r#"
    (module
      (import "env" "mix" (func $mix (param i64 i32 f64) (result i64)))
      (import "env" "split" (func $split (param i64) (result i32 i32 i64)))
      (type $mix_t (func (param i64 i32 f64) (result i64)))
      (table 1 funcref)
      (elem (i32.const 0) $mix)
      (func (export "direct") (param i64) (result i64)
        (return_call $mix (local.get 0) (i32.const 3) (f64.const 0.5)))
      (func (export "indirect") (param i64) (result i64)
        (return_call_indirect (type $mix_t)
          (local.get 0) (i32.const 5) (f64.const 2.0) (i32.const 0)))
      ;; fewer parameters than the callee: the arguments cannot go in the
      ;; caller's array
      (func (export "split") (param i64) (result i32 i32 i64)
        (return_call $split (local.get 0)))
      ;; deep recursion ending in a host tail call
      (func $down (export "down") (param i64 i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0))
          (then (return_call $mix (local.get 1) (i32.const 1) (f64.const 0)))
          (else (return_call $down (i64.sub (local.get 0) (i64.const 1))
                                   (i64.add (local.get 1) (i64.const 2))))))
    )"#;
    for config in both_bounds_checks() {
        let mut linker = Linker::new();
        linker
            .func_wrap("env", "mix", |a: i64, b: i32, c: f64| -> i64 {
                a * b as i64 + (c * 10.0) as i64
            })
            .unwrap();
        linker
            .func_wrap("env", "split", |a: i64| -> (i32, i32, i64) {
                (a as i32, (a >> 32) as i32, -a)
            })
            .unwrap();
        let artifact = open_artifact_bytes(&compile_wat_with(wat, &config));
        let results = on_small_stack(move || {
            let mut inst = linker.instantiate_artifact(&artifact).unwrap();
            (
                call_i64(&mut inst, "direct", &[i64v(7)]),
                call_i64(&mut inst, "indirect", &[i64v(7)]),
                call(&mut inst, "split", &[i64v(0x1234_5678_9abc)]),
                call_i64(&mut inst, "down", &[i64v(DEPTH), i64v(1)]),
            )
        });
        assert_eq!(results.0, 7 * 3 + 5, "{config:?}");
        assert_eq!(results.1, 7 * 5 + 20, "{config:?}");
        assert_eq!(
            results.2,
            [i32v(0x5678_9abc), i32v(0x1234), i64v(-0x1234_5678_9abc)],
            "{config:?}"
        );
        assert_eq!(results.3, 1 + 2 * DEPTH, "{config:?}");
    }
}

#[test]
fn tail_calls_across_instances() {
    let provider = r#"
    (module
      (type $t (func (param i64 i64) (result i64)))
      (table (export "table") 2 funcref)
      (elem (i32.const 0) $count)
      (func $count (export "count") (param $n i64) (param $acc i64) (result i64)
        (if (result i64) (i64.eqz (local.get $n))
          (then (local.get $acc))
          (else (return_call $count (i64.sub (local.get $n) (i64.const 1))
                                    (i64.add (local.get $acc) (i64.const 3))))))
    )"#;
    let user = r#"
    (module
      (type $t (func (param i64 i64) (result i64)))
      (import "p" "count" (func $count (param i64 i64) (result i64)))
      (import "p" "table" (table $ptable 2 funcref))
      (table $own 2 funcref)
      (elem (table $own) (i32.const 0) func $count $local)
      (func $local (param i64 i64) (result i64)
        (i64.sub (local.get 0) (local.get 1)))
      ;; the provider's function through its import
      (func (export "direct") (param i64) (result i64)
        (return_call $count (local.get 0) (i64.const 1)))
      ;; the provider's function through a table of ours and the provider's
      (func (export "own_table") (param i64 i32) (result i64)
        (return_call_indirect $own (type $t) (local.get 0) (i64.const 2) (local.get 1)))
      (func (export "their_table") (param i64) (result i64)
        (return_call_indirect $ptable (type $t) (local.get 0) (i64.const 4) (i32.const 0)))
      ;; deep recursion of our own that ends in the other instance
      (func $down (export "down") (param i64 i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0))
          (then (return_call_indirect $own (type $t) (i64.const 10) (local.get 1)
                  (i32.const 0)))
          (else (return_call $down (i64.sub (local.get 0) (i64.const 1))
                                   (i64.add (local.get 1) (i64.const 1))))))
    )"#;
    for config in both_bounds_checks() {
        let p = instantiate_configured(provider, &config, &Linker::new());
        let mut linker = Linker::new();
        linker.define_instance("p", &p).unwrap();
        let artifact = open_artifact_bytes(&compile_wat_with(user, &config));
        let p = Arc::new(std::sync::Mutex::new(p));
        let results = on_small_stack(move || {
            let _keep = p;
            let mut u = linker.instantiate_artifact(&artifact).unwrap();
            (
                call_i64(&mut u, "direct", &[i64v(DEPTH)]),
                call_i64(&mut u, "own_table", &[i64v(DEPTH), i32v(0)]),
                call_i64(&mut u, "own_table", &[i64v(50), i32v(1)]),
                call_i64(&mut u, "their_table", &[i64v(DEPTH)]),
                call_i64(&mut u, "down", &[i64v(DEPTH), i64v(0)]),
            )
        });
        assert_eq!(results.0, 1 + 3 * DEPTH, "{config:?}");
        assert_eq!(results.1, 2 + 3 * DEPTH, "{config:?}");
        assert_eq!(results.2, 48, "{config:?}");
        assert_eq!(results.3, 4 + 3 * DEPTH, "{config:?}");
        assert_eq!(results.4, DEPTH + 30, "{config:?}");
    }
}

#[test]
fn fuel_stops_endless_tail_recursion() {
    let wat = r#"
    (module
      (func $spin (export "spin") (param i64) (result i64)
        (return_call $spin (i64.add (local.get 0) (i64.const 1)))))"#;
    for base in both_bounds_checks() {
        let config = Config {
            fuel: true,
            ..base.clone()
        };
        let mut linker = Linker::new();
        linker.store().set_fuel(1_000_000).unwrap();
        let mut inst = instantiate_configured(wat, &config, &linker);
        expect_trap(&mut inst, "spin", &[i64v(0)], TrapCode::OutOfFuel);
    }
}

#[test]
fn traps_in_tail_called_functions() {
    let wat = r#"
    (module
      (type $t (func (param i32) (result i32)))
      (table 2 funcref)
      (elem (i32.const 0) $div)
      (func $div (param i32) (result i32) (i32.div_u (i32.const 10) (local.get 0)))
      (func (export "div") (param i32) (result i32) (return_call $div (local.get 0)))
      (func (export "ind") (param i32 i32) (result i32)
        (return_call_indirect (type $t) (local.get 0) (local.get 1)))
      (func (export "bad_type") (result i32)
        (return_call_indirect (param i64) (result i32) (i64.const 1) (i32.const 0)))
    )"#;
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(wat, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "div", &[i32v(2)]), 5);
        expect_trap(&mut inst, "div", &[i32v(0)], TrapCode::IntegerDivideByZero);
        assert_eq!(call_i32(&mut inst, "ind", &[i32v(5), i32v(0)]), 2);
        expect_trap(
            &mut inst,
            "ind",
            &[i32v(5), i32v(1)],
            TrapCode::UninitializedElement,
        );
        expect_trap(
            &mut inst,
            "ind",
            &[i32v(5), i32v(2)],
            TrapCode::UndefinedElement,
        );
        expect_trap(
            &mut inst,
            "bad_type",
            &[],
            TrapCode::IndirectCallTypeMismatch,
        );
    }
}

/// A trap after tail calls: the backtrace has the frames that exist, the
/// replaced ones are gone (as in other engines), and the walk up through
/// a tail-called frame finds the caller of the function it replaced.
#[test]
fn backtraces_after_tail_calls_skip_the_replaced_frames() {
    let wat = r#"
    (module
      (type $t (func (param i32) (result i32)))
      (table 1 funcref)
      (elem (i32.const 0) $boom)
      (func $boom (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
      (func $middle (param i32) (result i32)
        (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
      (func $top (param i32) (result i32)
        (return_call $middle (local.get 0)))
      (func (export "outer") (param i32) (result i32)
        (i32.add (call $top (local.get 0)) (i32.const 1)))
    )"#;
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(wat, &config, &Linker::new());
        assert_eq!(call_i32(&mut inst, "outer", &[i32v(1)]), 2);
        let err = expect_trap(
            &mut inst,
            "outer",
            &[i32v(0)],
            TrapCode::IntegerDivideByZero,
        );
        let Error::Trap(trap) = err else {
            unreachable!()
        };
        let funcs: Vec<u32> = trap.backtrace.iter().map(|f| f.func_index).collect();
        assert_eq!(funcs, [0, 3], "{trap:?}");
    }
}

/// Arguments of every type, `v128` ones included (two slots each), go
/// through the tail-call area, to a callee with more parameters than its
/// caller's.
#[test]
fn tail_calls_pass_arguments_of_every_type() {
    let wat = r#"
    (module
      (type $wide (func (param v128 f32 i64 v128 f64 i32) (result i64 f64)))
      (table 1 funcref)
      (elem (i32.const 0) $wide)
      (func $wide (type $wide)
        (param $a v128) (param $b f32) (param $c i64) (param $d v128) (param $e f64)
        (param $f i32) (result i64 f64)
        (i64.add (i64.add (i64x2.extract_lane 1 (local.get $a))
                          (i64x2.extract_lane 0 (local.get $d)))
                 (i64.add (local.get $c) (i64.extend_i32_u (local.get $f))))
        (f64.add (f64.promote_f32 (local.get $b)) (local.get $e)))
      (func (export "direct") (param i64) (result i64 f64)
        (return_call $wide (i64x2.splat (local.get 0)) (f32.const 0.5) (i64.const 100)
          (v128.const i64x2 1000 7) (f64.const 0.25) (i32.const -1)))
      (func (export "indirect") (param i64) (result i64 f64)
        (return_call_indirect (type $wide)
          (i64x2.splat (local.get 0)) (f32.const 1.5) (i64.const 200)
          (v128.const i64x2 2000 7) (f64.const 2.0) (i32.const 3) (i32.const 0)))
    )"#;
    for config in both_bounds_checks() {
        let mut inst = instantiate_configured(wat, &config, &Linker::new());
        assert_eq!(
            call(&mut inst, "direct", &[i64v(5)]),
            [
                i64v(5 + 1000 + 100 + 0xffff_ffff),
                Val::F64(0.75f64.to_bits())
            ],
            "{config:?}"
        );
        assert_eq!(
            call(&mut inst, "indirect", &[i64v(5)]),
            [i64v(5 + 2000 + 200 + 3), Val::F64(3.5f64.to_bits())],
            "{config:?}"
        );
    }
}
