//! Every trap kind: `trap_code()`, the specification's message, the
//! location (function index and name), and that the same instance keeps
//! working after the trap. Also unbounded recursion on the test thread and
//! on a small thread, with small and big frames.

use vibewasm_tests::*;

fn i(v: i32) -> Val {
    Val::I32(v)
}
fn l(v: i64) -> Val {
    Val::I64(v)
}

const TRAPS: &str = r#"
(module
  (type $v_i (func (result i32)))
  (type $i_i (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $seven $inc)
  (memory 1)
  (global $calls (mut i32) (i32.const 0))
  (func $seven (type $v_i) (i32.const 7))
  (func $inc (type $i_i) (i32.add (local.get 0) (i32.const 1)))
  (func $ok (export "ok") (param i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.add (local.get 0) (global.get $calls)))
  (func $unreachable (export "unreachable") (unreachable))
  (func $deep (export "unreachable_deep") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (unreachable))
      (else (call $deep (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "div_s32") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "div_u32") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s32") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "rem_u32") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "div_s64") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "div_u64") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s64") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "rem_u64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
  (func (export "div_const_zero") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 0)))
  (func (export "div_const_min") (result i64) (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))
  (func (export "trunc32") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "trunc64u") (param f64) (result i64) (i64.trunc_f64_u (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))
  (func (export "store") (param i32) (i32.store (local.get 0) (i32.const 1)))
  (func (export "store16") (param i32) (i32.store16 (local.get 0) (i32.const 1)))
  (func (export "load_max_offset") (param i32) (result i32) (i32.load offset=0xffffffff (local.get 0)))
  (func (export "store_max_offset") (param i32) (i64.store offset=0xfffffff8 (local.get 0) (i64.const 1)))
  (func (export "call_v") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0)))
  (func (export "call_i") (param i32 i32) (result i32)
    (call_indirect (type $i_i) (local.get 1) (local.get 0)))
)"#;

fn instance() -> Instance {
    instantiate_wat(TRAPS)
}

/// The instance keeps working: `ok` counts its calls in a global, which
/// must not have been disturbed by the trap.
fn still_works(inst: &mut Instance, expected_calls: i32) {
    assert_eq!(call_i32(inst, "ok", &[i(100)]), 100 + expected_calls);
}

#[test]
fn unreachable() {
    let mut inst = instance();
    still_works(&mut inst, 1);
    let err = expect_trap(&mut inst, "unreachable", &[], TrapCode::Unreachable);
    let trap = err.as_trap().expect("a trap");
    assert_eq!(trap.func, Some(3), "{err}");
    assert_eq!(trap.func_name.as_deref(), Some("unreachable"), "{err}");
    assert!(trap.wasm_offset.is_some(), "{err}");
    still_works(&mut inst, 2);
    // A trap deep in a call chain unwinds all of it.
    expect_trap(
        &mut inst,
        "unreachable_deep",
        &[i(50)],
        TrapCode::Unreachable,
    );
    still_works(&mut inst, 3);
}

#[test]
fn integer_divide_by_zero() {
    let mut inst = instance();
    for name in ["div_s32", "div_u32", "rem_s32", "rem_u32"] {
        expect_trap(
            &mut inst,
            name,
            &[i(1), i(0)],
            TrapCode::IntegerDivideByZero,
        );
        expect_trap(
            &mut inst,
            name,
            &[i(0), i(0)],
            TrapCode::IntegerDivideByZero,
        );
        assert_eq!(
            call_i32(&mut inst, name, &[i(7), i(7)]),
            if name.starts_with("div") { 1 } else { 0 }
        );
    }
    for name in ["div_s64", "div_u64", "rem_s64", "rem_u64"] {
        expect_trap(
            &mut inst,
            name,
            &[l(i64::MIN), l(0)],
            TrapCode::IntegerDivideByZero,
        );
        assert_eq!(
            call_i64(&mut inst, name, &[l(9), l(3)]),
            if name.starts_with("div") { 3 } else { 0 }
        );
    }
    expect_trap(
        &mut inst,
        "div_const_zero",
        &[i(5)],
        TrapCode::IntegerDivideByZero,
    );
    still_works(&mut inst, 1);
}

#[test]
fn integer_overflow() {
    let mut inst = instance();
    expect_trap(
        &mut inst,
        "div_s32",
        &[i(i32::MIN), i(-1)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut inst,
        "div_s64",
        &[l(i64::MIN), l(-1)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(&mut inst, "div_const_min", &[], TrapCode::IntegerOverflow);
    // The remainder of the same operands is defined.
    assert_eq!(call_i32(&mut inst, "rem_s32", &[i(i32::MIN), i(-1)]), 0);
    assert_eq!(call_i64(&mut inst, "rem_s64", &[l(i64::MIN), l(-1)]), 0);
    // Truncation out of range.
    expect_trap(
        &mut inst,
        "trunc32",
        &[Val::f32(3e9)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut inst,
        "trunc32",
        &[Val::f32(f32::NEG_INFINITY)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut inst,
        "trunc64u",
        &[Val::f64(-1.0)],
        TrapCode::IntegerOverflow,
    );
    expect_trap(
        &mut inst,
        "trunc64u",
        &[Val::f64(1.9e19)],
        TrapCode::IntegerOverflow,
    );
    assert_eq!(call_i32(&mut inst, "trunc32", &[Val::f32(-3.7)]), -3);
    still_works(&mut inst, 1);
}

#[test]
fn invalid_conversion_to_integer() {
    let mut inst = instance();
    expect_trap(
        &mut inst,
        "trunc32",
        &[Val::f32(f32::NAN)],
        TrapCode::InvalidConversionToInteger,
    );
    expect_trap(
        &mut inst,
        "trunc64u",
        &[Val::F64(0xfff8_0000_0000_0001)],
        TrapCode::InvalidConversionToInteger,
    );
    assert_eq!(
        call_i64(&mut inst, "trunc64u", &[Val::f64(1e19)]),
        10_000_000_000_000_000_000u64 as i64
    );
    still_works(&mut inst, 1);
}

#[test]
fn out_of_bounds_memory_access() {
    let mut inst = instance();
    const END: i32 = 65536;
    // Just inside.
    assert_eq!(call_i32(&mut inst, "load", &[i(END - 4)]), 0);
    assert_eq!(call_i32(&mut inst, "load8", &[i(END - 1)]), 0);
    assert_eq!(call_i64(&mut inst, "load64", &[i(END - 8)]), 0);
    call(&mut inst, "store", &[i(END - 4)]);
    call(&mut inst, "store16", &[i(END - 2)]);
    // Straddling or past the end, for loads and stores.
    for addr in [END - 3, END - 1, END, END + 1, i32::MAX, -1, -4] {
        expect_trap(&mut inst, "load", &[i(addr)], TrapCode::MemoryOutOfBounds);
        expect_trap(&mut inst, "store", &[i(addr)], TrapCode::MemoryOutOfBounds);
    }
    expect_trap(&mut inst, "load8", &[i(END)], TrapCode::MemoryOutOfBounds);
    expect_trap(
        &mut inst,
        "load64",
        &[i(END - 7)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "store16",
        &[i(END - 1)],
        TrapCode::MemoryOutOfBounds,
    );
    // address + offset beyond 4 GiB must not wrap around to a small address.
    for addr in [0, 1, 4, -1] {
        expect_trap(
            &mut inst,
            "load_max_offset",
            &[i(addr)],
            TrapCode::MemoryOutOfBounds,
        );
        expect_trap(
            &mut inst,
            "store_max_offset",
            &[i(addr)],
            TrapCode::MemoryOutOfBounds,
        );
    }
    // A failed store wrote nothing.
    assert_eq!(&inst.memory().unwrap()[END as usize - 4..], &[1, 0, 1, 0]);
    still_works(&mut inst, 1);
}

#[test]
fn out_of_bounds_in_empty_memory() {
    let wat = r#"
    (module
      (memory 0)
      (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
      (func (export "store") (param i32) (i32.store8 (local.get 0) (i32.const 1)))
      (func (export "size") (result i32) (memory.size)))"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(inst.memory().map(<[u8]>::len), Some(0));
    for addr in [0, 1, 65535, -1] {
        expect_trap(&mut inst, "load", &[i(addr)], TrapCode::MemoryOutOfBounds);
        expect_trap(&mut inst, "store", &[i(addr)], TrapCode::MemoryOutOfBounds);
    }
    assert_eq!(call_i32(&mut inst, "size", &[]), 0);
}

#[test]
fn indirect_call_traps() {
    let mut inst = instance();
    assert_eq!(call_i32(&mut inst, "call_v", &[i(0)]), 7);
    assert_eq!(call_i32(&mut inst, "call_i", &[i(1), i(41)]), 42);
    // Index past the table (size 4).
    for idx in [4, 5, 1000, -1, i32::MIN] {
        expect_trap(&mut inst, "call_v", &[i(idx)], TrapCode::UndefinedElement);
    }
    // Null entries inside the table.
    for idx in [2, 3] {
        expect_trap(
            &mut inst,
            "call_v",
            &[i(idx)],
            TrapCode::UninitializedElement,
        );
    }
    // Wrong signature, both ways.
    expect_trap(
        &mut inst,
        "call_v",
        &[i(1)],
        TrapCode::IndirectCallTypeMismatch,
    );
    expect_trap(
        &mut inst,
        "call_i",
        &[i(0), i(1)],
        TrapCode::IndirectCallTypeMismatch,
    );
    assert_eq!(call_i32(&mut inst, "call_v", &[i(0)]), 7);
    still_works(&mut inst, 1);
}

#[test]
fn indirect_call_with_no_table_entries_beyond_min() {
    // A table of size 0.
    let wat = r#"
    (module
      (type $t (func))
      (table 0 funcref)
      (func (export "f") (param i32) (call_indirect (type $t) (local.get 0))))"#;
    let mut inst = instantiate_wat(wat);
    expect_trap(&mut inst, "f", &[i(0)], TrapCode::UndefinedElement);
}

const RECURSION: &str = r#"
(module
  (global $depth (mut i32) (i32.const 0))
  (func $down (export "down") (param i32) (result i32)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func $bounded (export "bounded") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $bounded (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func (export "depth") (result i32) (global.get $depth))
  (func (export "reset") (global.set $depth (i32.const 0)))
)"#;

fn recursion_traps_and_recovers(inst: &mut Instance) {
    for _ in 0..3 {
        call(inst, "reset", &[]);
        expect_trap(inst, "down", &[i(0)], TrapCode::StackOverflow);
        let depth = call_i32(inst, "depth", &[]);
        assert!(depth > 100, "trapped after only {depth} calls");
        assert_eq!(call_i32(inst, "bounded", &[i(100)]), 100);
    }
}

#[test]
fn call_stack_exhausted_on_the_test_thread() {
    let mut inst = instantiate_wat(RECURSION);
    recursion_traps_and_recovers(&mut inst);
}

#[test]
fn call_stack_exhausted_on_a_small_thread() {
    let artifact = load_wat(RECURSION);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
            recursion_traps_and_recovers(&mut inst);
            // A fresh instance on the same thread works too.
            let mut again = Linker::new().instantiate_artifact(&artifact).unwrap();
            assert_eq!(call_i32(&mut again, "bounded", &[i(500)]), 500);
            expect_trap(&mut again, "down", &[i(0)], TrapCode::StackOverflow);
            call_i32(&mut inst, "bounded", &[i(10)])
        })
        .unwrap();
    assert_eq!(handle.join().expect("thread survived"), 10);
}

/// Recursion through a function with a big frame (many locals, all used).
fn big_frame_wat(locals: usize) -> String {
    let mut body = String::new();
    for k in 1..=locals {
        body += &format!("(local.set {k} (i64.add (local.get 0) (i64.const {k})))\n");
    }
    let mut sum = String::from("(i64.const 0)");
    for k in (1..=locals).step_by(locals / 8) {
        sum = format!("(i64.add {sum} (local.get {k}))");
    }
    format!(
        r#"(module
          (func $big (export "big") (param i64) (result i64) (local {locals})
            {body}
            (if (result i64) (i64.eqz (local.get 0))
              (then {sum})
              (else (i64.add (call $big (i64.sub (local.get 0) (i64.const 1))) {sum}))))
          (func $ok (export "ok") (result i32) (i32.const 1)))"#,
        locals = "i64 ".repeat(locals),
    )
}

#[test]
fn call_stack_exhausted_with_big_frames() {
    let locals = 400;
    let mut inst = instantiate_wat(&big_frame_wat(locals));
    // Bounded depth works and gives the right answer.
    let step = locals / 8;
    let sum_at = |n: i64| -> i64 { (1..=locals).step_by(step).map(|k| n + k as i64).sum() };
    let want: i64 = (0..=10).map(sum_at).sum();
    assert_eq!(call_i64(&mut inst, "big", &[l(10)]), want);
    // Unbounded depth traps, on this thread and on a small one.
    expect_trap(&mut inst, "big", &[l(-1)], TrapCode::StackOverflow);
    assert_eq!(call_i32(&mut inst, "ok", &[]), 1);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            expect_trap(&mut inst, "big", &[l(1 << 40)], TrapCode::StackOverflow);
            call_i64(&mut inst, "big", &[l(3)])
        })
        .unwrap();
    let want3: i64 = (0..=3).map(sum_at).sum();
    assert_eq!(handle.join().expect("thread survived"), want3);
}

#[test]
fn frame_bigger_than_the_red_zone() {
    // One frame of about 200 KiB: more than the loader's red zone (128 KiB)
    // and most of a 256 KiB thread stack. Must trap, not crash.
    let locals = 25_000;
    let wat = format!(
        r#"(module
          (func $huge (export "huge") (param i32) (result i64) (local {})
            (local.set 24999 (i64.const 5))
            (if (result i64) (i32.eqz (local.get 0))
              (then (local.get 24999))
              (else (i64.add (local.get 24999) (call $huge (i32.sub (local.get 0) (i32.const 1)))))))
          (func (export "ok") (result i32) (i32.const 1)))"#,
        "i64 ".repeat(locals)
    );
    let artifact = load_wat(&wat);
    let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
    // Two frames fit in the default 1 MiB budget on the test thread.
    assert_eq!(call_i64(&mut inst, "huge", &[i(1)]), 10);
    expect_trap(&mut inst, "huge", &[i(1000)], TrapCode::StackOverflow);
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
            let err = call_err(&mut inst, "huge", &[i(3)]);
            assert_trap(&err, TrapCode::StackOverflow);
            call_i32(&mut inst, "ok", &[])
        })
        .unwrap();
    assert_eq!(handle.join().expect("thread survived"), 1);
}

#[test]
fn max_wasm_stack_setting_limits_depth() {
    let mut linker = Linker::new();
    linker.max_wasm_stack(64 * 1024);
    let mut small = instantiate_with(RECURSION, &linker);
    let mut large = instantiate_wat(RECURSION);
    expect_trap(&mut small, "down", &[i(0)], TrapCode::StackOverflow);
    expect_trap(&mut large, "down", &[i(0)], TrapCode::StackOverflow);
    let small_depth = call_i32(&mut small, "depth", &[]);
    let large_depth = call_i32(&mut large, "depth", &[]);
    assert!(
        small_depth * 4 < large_depth,
        "64 KiB allowed {small_depth} calls, 1 MiB allowed {large_depth}"
    );
}

#[test]
fn traps_in_one_instance_do_not_affect_another() {
    let artifact = load_wat(TRAPS);
    let mut a = Linker::new().instantiate_artifact(&artifact).unwrap();
    let mut b = Linker::new().instantiate_artifact(&artifact).unwrap();
    still_works(&mut a, 1);
    expect_trap(&mut a, "unreachable", &[], TrapCode::Unreachable);
    still_works(&mut b, 1);
    expect_trap(&mut b, "load", &[i(-1)], TrapCode::MemoryOutOfBounds);
    still_works(&mut a, 2);
    still_works(&mut b, 2);
}

/// The position of `needle` in `haystack` (exactly once).
fn find_once(haystack: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "pattern {needle:02x?} found {} times",
        hits.len()
    );
    hits[0]
}

#[test]
fn trap_location_is_the_trapping_instruction() {
    // Distinctive byte sequences so each instruction can be found in the
    // binary: the trapping opcode follows an unusual constant.
    let wat = r#"
    (module
      (type $t (func))
      (table 1 funcref)
      (memory 1)
      (func $u (export "u") (drop (i32.const 0x1a2b3c)) (unreachable))
      (func $d (export "d") (param i32) (result i32)
        (i32.div_u (i32.const 0x2b3c4d) (local.get 0)))
      (func $m (export "m") (param i32) (result i32)
        (i32.add (i32.const 0x3c4d5e) (i32.load offset=0x4d5e6f (local.get 0))))
      (func $c (export "c") (param i32)
        (call_indirect (type $t) (local.get 0)))
      (func $t (export "t") (param f64) (result i64)
        (i64.trunc_f64_s (local.get 0)))
    )"#;
    let bytes = wasm(wat);
    let mut inst = instantiate_with(wat, &Linker::new());
    let offset_of = |err: &Error| {
        let trap = err.as_trap().expect("a trap");
        (trap.func, trap.func_name.clone(), trap.wasm_offset)
    };
    // unreachable (0x00) right after `drop` (0x1a) of i32.const 0x1a2b3c
    let err = expect_trap(&mut inst, "u", &[], TrapCode::Unreachable);
    let at = find_once(&bytes, &[0x41, 0xbc, 0xd6, 0xe8, 0x00, 0x1a, 0x00]) + 6;
    assert_eq!(
        offset_of(&err),
        (Some(0), Some("u".into()), Some(at as u32)),
        "{err}"
    );
    // i32.div_u (0x6e) after local.get 0 (0x20 0x00)
    let err = expect_trap(&mut inst, "d", &[i(0)], TrapCode::IntegerDivideByZero);
    let at = find_once(&bytes, &[0x20, 0x00, 0x6e]) + 2;
    assert_eq!(
        offset_of(&err),
        (Some(1), Some("d".into()), Some(at as u32)),
        "{err}"
    );
    // i32.load (0x28) with alignment 2 and offset 0x4d5e6f
    let err = expect_trap(&mut inst, "m", &[i(0)], TrapCode::MemoryOutOfBounds);
    let at = find_once(&bytes, &[0x28, 0x02, 0xef, 0xbc, 0xb5, 0x02]);
    assert_eq!(
        offset_of(&err),
        (Some(2), Some("m".into()), Some(at as u32)),
        "{err}"
    );
    // call_indirect (0x11) type 0 table 0
    let err = expect_trap(&mut inst, "c", &[i(5)], TrapCode::UndefinedElement);
    let at = find_once(&bytes, &[0x11, 0x00, 0x00]);
    assert_eq!(
        offset_of(&err),
        (Some(3), Some("c".into()), Some(at as u32)),
        "{err}"
    );
    // i64.trunc_f64_s (0xb0)
    let err = expect_trap(
        &mut inst,
        "t",
        &[Val::f64(f64::NAN)],
        TrapCode::InvalidConversionToInteger,
    );
    let at = find_once(&bytes, &[0x20, 0x00, 0xb0]) + 2;
    assert_eq!(
        offset_of(&err),
        (Some(4), Some("t".into()), Some(at as u32)),
        "{err}"
    );
    // The location is also in the message.
    assert!(err.to_string().contains(&format!("{at:#x}")), "{err}");
}

#[test]
fn traps_on_many_threads_at_once() {
    let artifact = load_wat(TRAPS);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let artifact = artifact.clone();
            std::thread::spawn(move || {
                let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
                for k in 0..200 {
                    match (k + t) % 5 {
                        0 => {
                            expect_trap(&mut inst, "unreachable", &[], TrapCode::Unreachable);
                        }
                        1 => {
                            expect_trap(
                                &mut inst,
                                "div_s32",
                                &[i(k), i(0)],
                                TrapCode::IntegerDivideByZero,
                            );
                        }
                        2 => {
                            expect_trap(
                                &mut inst,
                                "load",
                                &[i(-k - 1)],
                                TrapCode::MemoryOutOfBounds,
                            );
                        }
                        3 => {
                            expect_trap(
                                &mut inst,
                                "call_v",
                                &[i(1)],
                                TrapCode::IndirectCallTypeMismatch,
                            );
                        }
                        _ => {
                            assert_eq!(call_i32(&mut inst, "div_s32", &[i(k * 6), i(3)]), k * 2);
                        }
                    }
                }
                still_works(&mut inst, 1);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread failed");
    }
}

#[test]
fn nested_entry_into_another_instance_from_a_host_function() {
    // Instance A calls a host function that calls into instance B, which
    // may trap (also with stack exhaustion); A sees a host error and keeps
    // working, B keeps working.
    let b = std::sync::Arc::new(std::sync::Mutex::new(instantiate_wat(RECURSION)));
    let inner = b.clone();
    let mut linker = Linker::new();
    linker
        .func_wrap("env", "call_b", move |n: i32| -> Result<i32, Trap> {
            let mut b = inner.lock().unwrap();
            let name = if n < 0 { "down" } else { "bounded" };
            match b.call(name, &[Val::I32(n.max(0))]) {
                Ok(v) => Ok(v[0].as_i32().unwrap()),
                Err(e) => Err(Trap::new(format!("inner instance failed: {e}"))),
            }
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "call_b" (func $call_b (param i32) (result i32)))
      (func (export "a") (param i32) (result i32)
        (i32.add (call $call_b (local.get 0)) (i32.const 1000)))
      (func $deep (export "deep") (param i32) (param i32) (result i32)
        ;; recurse n levels, then call B
        (if (result i32) (i32.eqz (local.get 0))
          (then (call $call_b (local.get 1)))
          (else (i32.add (i32.const 1)
            (call $deep (i32.sub (local.get 0) (i32.const 1)) (local.get 1)))))))"#;
    let mut a = instantiate_with(wat, &linker);
    assert_eq!(call_i32(&mut a, "a", &[i(5)]), 1005);
    let err = call_err(&mut a, "a", &[i(-1)]);
    assert_eq!(err.trap_code(), Some(TrapCode::HostError), "{err}");
    assert!(err.to_string().contains("call stack exhausted"), "{err}");
    assert_eq!(call_i32(&mut a, "a", &[i(7)]), 1007);
    assert_eq!(call_i32(&mut a, "deep", &[i(50), i(3)]), 53);
    let err = call_err(&mut a, "deep", &[i(50), i(-1)]);
    assert!(err.to_string().contains("call stack exhausted"), "{err}");
    assert_eq!(call_i32(&mut a, "deep", &[i(10), i(10)]), 20);
    assert_eq!(call_i32(&mut b.lock().unwrap(), "bounded", &[i(9)]), 9);
}
