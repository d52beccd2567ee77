//! Comparisons used as conditions (`if`, `br_if`, `select`, `i32.eqz` of a
//! comparison), where a compiler fuses compare and branch, against
//! materialised comparisons and Rust. Float conditions with NaN need the
//! unordered case handled. Also 32-bit values whose upper register bits
//! must not leak (wrap, wrapping address arithmetic, i32 results extended
//! to i64).

use vibewasm_tests::*;

const I64_VALUES: [i64; 10] = [
    0,
    1,
    -1,
    i64::MIN,
    i64::MAX,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    -0x8000_0000,
    0x1_0000_0000,
];

const I32_VALUES: [i32; 7] = [0, 1, -1, i32::MIN, i32::MAX, 0x8000, -0x8000];

type Cmp<T> = fn(T, T) -> bool;
type CmpFn<T> = Box<dyn Fn(T, T) -> bool>;

fn int_cmps<T: Copy + Ord + 'static>(unsigned: fn(T) -> u64) -> Vec<(&'static str, CmpFn<T>)> {
    let u = unsigned;
    vec![
        ("eq", Box::new(|a, b| a == b)),
        ("ne", Box::new(|a, b| a != b)),
        ("lt_s", Box::new(|a, b| a < b)),
        ("gt_s", Box::new(|a, b| a > b)),
        ("le_s", Box::new(|a, b| a <= b)),
        ("ge_s", Box::new(|a, b| a >= b)),
        ("lt_u", Box::new(move |a, b| u(a) < u(b))),
        ("gt_u", Box::new(move |a, b| u(a) > u(b))),
        ("le_u", Box::new(move |a, b| u(a) <= u(b))),
        ("ge_u", Box::new(move |a, b| u(a) >= u(b))),
    ]
}

/// For comparison `cmp` of type `ty`: functions taking the left operand as
/// a parameter and comparing with constant `c` (on either side), in five
/// shapes: if/else, br_if, select, eqz-of-compare in an if, and a plain
/// value.
fn shapes(ty: &str, cmp: &str, k: usize, c: &str) -> String {
    let op = format!("{ty}.{cmp}");
    let mut wat = String::new();
    for (side, a, b) in [
        (
            "l",
            "(local.get 0)".to_string(),
            format!("({ty}.const {c})"),
        ),
        (
            "r",
            format!("({ty}.const {c})"),
            "(local.get 0)".to_string(),
        ),
    ] {
        wat += &format!(
            r#"
  (func (export "if_{side}{k}") (param {ty}) (result i32)
    (if (result i32) ({op} {a} {b}) (then (i32.const 1)) (else (i32.const 0))))
  (func (export "brif_{side}{k}") (param {ty}) (result i32)
    (block $t (result i32) (drop (br_if $t (i32.const 1) ({op} {a} {b}))) (i32.const 0)))
  (func (export "sel_{side}{k}") (param {ty}) (result i32)
    (select (i32.const 1) (i32.const 0) ({op} {a} {b})))
  (func (export "eqz_{side}{k}") (param {ty}) (result i32)
    (if (result i32) (i32.eqz ({op} {a} {b})) (then (i32.const 0)) (else (i32.const 1))))
  (func (export "val_{side}{k}") (param {ty}) (result i32) ({op} {a} {b}))
"#
        );
    }
    wat
}

fn check_int_conditions<T: Copy + Ord + std::fmt::Display + 'static>(
    ty: &str,
    values: &[T],
    to_val: fn(T) -> Val,
    unsigned: fn(T) -> u64,
) {
    let mut failures = Vec::new();
    for (cmp, f) in int_cmps(unsigned) {
        let mut wat = String::from("(module\n");
        // two-parameter versions too
        wat += &format!(
            r#"(func (export "if2") (param {ty} {ty}) (result i32)
                 (if (result i32) ({ty}.{cmp} (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0))))
               (func (export "brif2") (param {ty} {ty}) (result i32)
                 (block $t (result i32) (drop (br_if $t (i32.const 1) ({ty}.{cmp} (local.get 0) (local.get 1)))) (i32.const 0)))
               (func (export "sel2") (param {ty} {ty}) (result i32)
                 (select (i32.const 1) (i32.const 0) ({ty}.{cmp} (local.get 0) (local.get 1))))
"#
        );
        for (k, c) in values.iter().enumerate() {
            wat += &shapes(ty, cmp, k, &c.to_string());
        }
        wat += ")";
        let mut inst = instantiate_wat(&wat);
        for &x in values {
            for (k, &c) in values.iter().enumerate() {
                for side in ["l", "r"] {
                    let want = if side == "l" { f(x, c) } else { f(c, x) } as i32;
                    for shape in ["if", "brif", "sel", "eqz", "val"] {
                        let name = format!("{shape}_{side}{k}");
                        let got = call_i32(&mut inst, &name, &[to_val(x)]);
                        if got != want {
                            let (a, b) = if side == "l" { (x, c) } else { (c, x) };
                            failures.push(format!(
                                "{ty}.{cmp}({a}, {b}) as {shape} with const {}: got {got}, want {want}",
                                if side == "l" { "rhs" } else { "lhs" }
                            ));
                        }
                    }
                }
                for shape in ["if2", "brif2", "sel2"] {
                    let got = call_i32(&mut inst, shape, &[to_val(x), to_val(c)]);
                    let want = f(x, c) as i32;
                    if got != want {
                        failures.push(format!(
                            "{ty}.{cmp}({x}, {c}) as {shape}: got {got}, want {want}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn i32_comparisons_as_conditions() {
    check_int_conditions("i32", &I32_VALUES, Val::I32, |v| v as u32 as u64);
}

#[test]
fn i64_comparisons_as_conditions() {
    check_int_conditions("i64", &I64_VALUES, Val::I64, |v| v as u64);
}

#[test]
fn float_comparisons_as_conditions_with_nan() {
    let values = [
        0.0f64,
        -0.0,
        1.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let cmps: [(&str, Cmp<f64>); 6] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("lt", |a, b| a < b),
        ("gt", |a, b| a > b),
        ("le", |a, b| a <= b),
        ("ge", |a, b| a >= b),
    ];
    let mut failures = Vec::new();
    for ty in ["f32", "f64"] {
        for (cmp, f) in cmps {
            let mut wat = String::from("(module\n");
            wat += &format!(
                r#"(func (export "if2") (param {ty} {ty}) (result i32)
                     (if (result i32) ({ty}.{cmp} (local.get 0) (local.get 1)) (then (i32.const 1)) (else (i32.const 0))))
                   (func (export "brif2") (param {ty} {ty}) (result i32)
                     (block $t (result i32) (drop (br_if $t (i32.const 1) ({ty}.{cmp} (local.get 0) (local.get 1)))) (i32.const 0)))
                   (func (export "sel2") (param {ty} {ty}) (result i32)
                     (select (i32.const 1) (i32.const 0) ({ty}.{cmp} (local.get 0) (local.get 1))))
                   (func (export "eqz2") (param {ty} {ty}) (result i32)
                     (if (result i32) (i32.eqz ({ty}.{cmp} (local.get 0) (local.get 1))) (then (i32.const 0)) (else (i32.const 1))))
                   (func (export "loop2") (param {ty} {ty}) (result i32)
                     (local $n i32)
                     (loop $l
                       (local.set $n (i32.add (local.get $n) (i32.const 1)))
                       (br_if $l (i32.and (i32.lt_u (local.get $n) (i32.const 3))
                                          ({ty}.{cmp} (local.get 0) (local.get 1)))))
                     (i32.ne (local.get $n) (i32.const 1)))
"#
            );
            for (k, c) in values.iter().enumerate() {
                let c = if ty == "f32" {
                    f32_wat((*c as f32).to_bits())
                } else {
                    f64_wat(c.to_bits())
                };
                wat += &shapes(ty, cmp, k, &c);
            }
            wat += ")";
            let mut inst = instantiate_wat(&wat);
            let val = |x: f64| {
                if ty == "f32" {
                    Val::f32(x as f32)
                } else {
                    Val::f64(x)
                }
            };
            for &x in &values {
                for (k, &c) in values.iter().enumerate() {
                    for shape in ["if2", "brif2", "sel2", "eqz2", "loop2"] {
                        let got = call_i32(&mut inst, shape, &[val(x), val(c)]);
                        let want = f(x, c) as i32;
                        if got != want {
                            failures.push(format!(
                                "{ty}.{cmp}({x}, {c}) as {shape}: got {got}, want {want}"
                            ));
                        }
                    }
                    for side in ["l", "r"] {
                        let want = if side == "l" { f(x, c) } else { f(c, x) } as i32;
                        for shape in ["if", "brif", "sel", "eqz", "val"] {
                            let got = call_i32(&mut inst, &format!("{shape}_{side}{k}"), &[val(x)]);
                            if got != want {
                                let (a, b) = if side == "l" { (x, c) } else { (c, x) };
                                failures.push(format!(
                                    "{ty}.{cmp}({a}, {b}) as {shape} with a constant: got {got}, want {want}"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn constant_conditions() {
    let wat = r#"
    (module
      (func (export "if_true") (result i32) (if (result i32) (i32.const 7) (then (i32.const 1)) (else (i32.const 2))))
      (func (export "if_false") (result i32) (if (result i32) (i32.const 0) (then (i32.const 1)) (else (i32.const 2))))
      (func (export "br_if_true") (result i32) (block (result i32) (drop (br_if 0 (i32.const 1) (i32.const -1))) (i32.const 2)))
      (func (export "br_if_false") (result i32) (block (result i32) (drop (br_if 0 (i32.const 1) (i32.const 0))) (i32.const 2)))
      (func (export "select_true") (param i32 i32) (result i32) (select (local.get 0) (local.get 1) (i32.const 0x100)))
      (func (export "select_false") (param i32 i32) (result i32) (select (local.get 0) (local.get 1) (i32.const 0)))
      (func (export "select_consts") (result i64) (select (i64.const 5) (i64.const 6) (i32.const 1)))
      (func (export "table_const") (result i32)
        (block $b (block $a (br_table $a $b (i32.const 1))) (return (i32.const 10))) (i32.const 20))
      (func (export "cmp_consts") (result i32)
        (i32.add (i64.lt_u (i64.const -1) (i64.const 1))
                 (i32.mul (i32.const 2) (i32.gt_s (i32.const 1) (i32.const -1)))))
      (func (export "f32_nan") (result f32) (f32.const nan:0x200001))
      (func (export "f64_negzero") (result f64) (f64.const -0))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call_i32(&mut inst, "if_true", &[]), 1);
    assert_eq!(call_i32(&mut inst, "if_false", &[]), 2);
    assert_eq!(call_i32(&mut inst, "br_if_true", &[]), 1);
    assert_eq!(call_i32(&mut inst, "br_if_false", &[]), 2);
    let ab = [Val::I32(3), Val::I32(4)];
    assert_eq!(call_i32(&mut inst, "select_true", &ab), 3);
    assert_eq!(call_i32(&mut inst, "select_false", &ab), 4);
    assert_eq!(call_i64(&mut inst, "select_consts", &[]), 5);
    assert_eq!(call_i32(&mut inst, "table_const", &[]), 20);
    assert_eq!(call_i32(&mut inst, "cmp_consts", &[]), 2);
    assert_eq!(call(&mut inst, "f32_nan", &[]), [Val::F32(0x7fa0_0001)]);
    assert_eq!(call(&mut inst, "f64_negzero", &[]), [Val::F64(1 << 63)]);
}

/// i32 values must behave as 32-bit values wherever they flow: as memory
/// addresses (wrapping arithmetic, wrap of an i64), extended to i64, or
/// returned from calls.
#[test]
fn i32_values_have_no_upper_bits() {
    let wat = r#"
    (module
      (memory 1)
      (data (i32.const 0) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10")
      (func $neg (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
      (func $wrap (param i64) (result i32) (i32.wrap_i64 (local.get 0)))
      ;; address = x + 8 with 32-bit wrap-around: x = -4 loads at 4
      (func (export "wrapping_addr") (param i32) (result i32)
        (i32.load8_u (i32.add (local.get 0) (i32.const 8))))
      (func (export "wrapping_addr_mul") (param i32) (result i32)
        (i32.load8_u (i32.mul (local.get 0) (i32.const 0x10001))))
      (func (export "wrapped_i64_addr") (param i64) (result i32)
        (i32.load8_u (i32.wrap_i64 (local.get 0))))
      (func (export "wrapped_const_addr") (result i32)
        (i32.load8_u (i32.wrap_i64 (i64.const 0x100000003))))
      (func (export "call_result_addr") (param i64) (result i32)
        (i32.load8_u (call $wrap (local.get 0))))
      (func (export "extend_u_of_call") (param i32) (result i64)
        (i64.extend_i32_u (call $neg (local.get 0))))
      (func (export "extend_u_of_sub") (param i32) (result i64)
        (i64.extend_i32_u (i32.sub (local.get 0) (i32.const 1))))
      (func (export "extend_u_of_load") (param i32) (result i64)
        (i64.extend_i32_u (i32.load (local.get 0))))
      (func (export "eq_after_add") (param i32) (result i32)
        ;; 0xffffffff + 1 == 0 in 32 bits
        (i32.eqz (i32.add (local.get 0) (i32.const 1))))
      (func (export "lt_u_after_add") (param i32) (result i32)
        (i32.lt_u (i32.add (local.get 0) (i32.const 1)) (i32.const 5)))
      (func (export "shr_u_after_shl") (param i32) (result i32)
        (i32.shr_u (i32.shl (local.get 0) (i32.const 16)) (i32.const 16)))
      (func (export "div_u_after_sub") (param i32) (result i32)
        (i32.div_u (i32.sub (local.get 0) (i32.const 1)) (i32.const 2)))
      (func (export "convert_u_after_sub") (param i32) (result f64)
        (f64.convert_i32_u (i32.sub (local.get 0) (i32.const 1))))
      (func (export "local_roundtrip") (param i32) (result i64)
        (local $x i32)
        (local.set $x (i32.add (local.get 0) (i32.const -1)))
        (i64.extend_i32_u (local.get $x)))
    )"#;
    let mut inst = instantiate_wat(wat);
    let i = Val::I32;
    assert_eq!(call_i32(&mut inst, "wrapping_addr", &[i(-4)]), 5);
    assert_eq!(call_i32(&mut inst, "wrapping_addr", &[i(-8)]), 1);
    expect_trap(
        &mut inst,
        "wrapping_addr",
        &[i(-9)],
        TrapCode::MemoryOutOfBounds,
    );
    // 0x10000 * 0x10001 wraps to 0x10000 (just past the end);
    // 0xffff0001 * 0x10001 wraps to 1.
    expect_trap(
        &mut inst,
        "wrapping_addr_mul",
        &[i(0x10000)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(
        call_i32(&mut inst, "wrapping_addr_mul", &[i(0xffff_0001u32 as i32)]),
        2
    );
    assert_eq!(
        call_i32(&mut inst, "wrapped_i64_addr", &[Val::I64(0x1_0000_0002)]),
        3
    );
    assert_eq!(
        call_i32(
            &mut inst,
            "wrapped_i64_addr",
            &[Val::I64(-0x1_0000_0000 + 5)]
        ),
        6
    );
    assert_eq!(call_i32(&mut inst, "wrapped_const_addr", &[]), 4);
    assert_eq!(
        call_i32(&mut inst, "call_result_addr", &[Val::I64(0x7_0000_0001)]),
        2
    );
    assert_eq!(
        call_i64(&mut inst, "extend_u_of_call", &[i(1)]),
        0xffff_ffff
    );
    assert_eq!(call_i64(&mut inst, "extend_u_of_sub", &[i(0)]), 0xffff_ffff);
    assert_eq!(
        call_i64(&mut inst, "extend_u_of_load", &[i(12)]),
        0x100f_0e0d
    );
    assert_eq!(call_i32(&mut inst, "eq_after_add", &[i(-1)]), 1);
    assert_eq!(call_i32(&mut inst, "lt_u_after_add", &[i(-1)]), 1);
    assert_eq!(
        call_i32(&mut inst, "shr_u_after_shl", &[i(0x1234_5678)]),
        0x5678
    );
    assert_eq!(call_i32(&mut inst, "div_u_after_sub", &[i(0)]), 0x7fff_ffff);
    assert_eq!(
        call(&mut inst, "convert_u_after_sub", &[i(0)]),
        [Val::f64(4294967295.0)]
    );
    assert_eq!(call_i64(&mut inst, "local_roundtrip", &[i(0)]), 0xffff_ffff);
}

#[test]
fn constant_address_plus_offset_does_not_wrap() {
    // address + offset is a 33-bit sum: it must never wrap to a small
    // address, also when both are constants.
    let wat = r#"
    (module
      (memory 1)
      (data (i32.const 0) "\2a")
      (func (export "c1") (result i32) (i32.load8_u offset=0xffffffff (i32.const 1)))
      (func (export "c2") (result i32) (i32.load8_u offset=0xfffffff0 (i32.const 0x10)))
      (func (export "c3") (result i32) (i32.load8_u offset=1 (i32.const -1)))
      (func (export "c4") (result i32) (i32.load offset=0x10000 (i32.const -0x10000)))
      (func (export "s1") (i32.store8 offset=0xffffffff (i32.const 1) (i32.const 9)))
      (func (export "s2") (i64.store offset=8 (i32.const -8) (i64.const 9)))
      (func (export "p") (param i32) (result i32) (i32.load8_u offset=1 (local.get 0)))
      (func (export "ok") (result i32) (i32.load8_u offset=0 (i32.const 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    for name in ["c1", "c2", "c3", "c4", "s1", "s2"] {
        expect_trap(&mut inst, name, &[], TrapCode::MemoryOutOfBounds);
    }
    expect_trap(&mut inst, "p", &[Val::I32(-1)], TrapCode::MemoryOutOfBounds);
    assert_eq!(call_i32(&mut inst, "ok", &[]), 42);
    assert_eq!(inst.memory().unwrap()[0], 42);
}
