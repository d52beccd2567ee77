//! Integer operators with known answers and edge cases: arithmetic
//! wrap-around, bit counting, shifts and rotates, comparisons, eqz,
//! division and remainder, wraps, extends and sign extension. Each case runs
//! with operands from parameters and as constants (see `check_op`).

use vibewasm_tests::*;

const I32_MIN: i32 = i32::MIN;
const I32_MAX: i32 = i32::MAX;
const I64_MIN: i64 = i64::MIN;
const I64_MAX: i64 = i64::MAX;

fn c32(a: i32, b: i32, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (i32s(a, b), want.into())
}
fn c64(a: i64, b: i64, want: i64) -> (Vec<Val>, Want) {
    (i64s(a, b), want.into())
}
fn t64(a: i64, b: i64, code: TrapCode) -> (Vec<Val>, Want) {
    (i64s(a, b), code.into())
}
fn u32c(a: i32, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (vec![Val::I32(a)], want.into())
}
fn u64c(a: i64, want: i64) -> (Vec<Val>, Want) {
    (vec![Val::I64(a)], want.into())
}
fn w64(a: i64, want: i32) -> (Vec<Val>, Want) {
    (vec![Val::I64(a)], want.into())
}

#[test]
fn i32_add_sub_mul_wrap() {
    check_op(
        "i32.add",
        "i32",
        &[
            c32(1, 2, 3),
            c32(-1, 1, 0),
            c32(I32_MAX, 1, I32_MIN),
            c32(I32_MIN, -1, I32_MAX),
            c32(I32_MIN, I32_MIN, 0),
            c32(-1, -1, -2),
            c32(0x7fff_ffff, 0x7fff_ffff, -2),
        ],
    );
    check_op(
        "i32.sub",
        "i32",
        &[
            c32(3, 2, 1),
            c32(2, 3, -1),
            c32(I32_MIN, 1, I32_MAX),
            c32(I32_MAX, -1, I32_MIN),
            c32(0, I32_MIN, I32_MIN),
            c32(-1, -1, 0),
        ],
    );
    check_op(
        "i32.mul",
        "i32",
        &[
            c32(6, 7, 42),
            c32(-6, 7, -42),
            c32(0x1000_0000, 16, 0),
            c32(
                0x1234_5678,
                0x7654_3210,
                0x1234_5678i32.wrapping_mul(0x7654_3210),
            ),
            c32(I32_MIN, -1, I32_MIN),
            c32(I32_MAX, I32_MAX, 1),
            c32(-1, -1, 1),
            c32(0x0001_0001, 0x0001_0001, 0x0002_0001),
        ],
    );
}

#[test]
fn i64_add_sub_mul_wrap() {
    check_op(
        "i64.add",
        "i64",
        &[
            c64(1, 2, 3),
            c64(I64_MAX, 1, I64_MIN),
            c64(I64_MIN, -1, I64_MAX),
            c64(0xffff_ffff, 1, 0x1_0000_0000),
            c64(-1, 1, 0),
        ],
    );
    check_op(
        "i64.sub",
        "i64",
        &[
            c64(I64_MIN, 1, I64_MAX),
            c64(0, 1, -1),
            c64(0x1_0000_0000, 1, 0xffff_ffff),
            c64(I64_MAX, -1, I64_MIN),
        ],
    );
    check_op(
        "i64.mul",
        "i64",
        &[
            c64(0x1_0000_0000, 0x1_0000_0000, 0),
            c64(0xffff_ffff, 0xffff_ffff, 0xffff_fffe_0000_0001u64 as i64),
            c64(I64_MIN, -1, I64_MIN),
            c64(
                0x0123_4567_89ab_cdef,
                0xfedc_ba98_7654_3210u64 as i64,
                0x0123_4567_89ab_cdefi64.wrapping_mul(0xfedc_ba98_7654_3210u64 as i64),
            ),
            c64(-3, 7, -21),
        ],
    );
}

#[test]
fn bitwise_and_or_xor() {
    check_op(
        "i32.and",
        "i32",
        &[
            c32(0xff00_ff00u32 as i32, 0x0ff0_0ff0, 0x0f00_0f00),
            c32(-1, 0, 0),
            c32(-1, -1, -1),
        ],
    );
    check_op(
        "i32.or",
        "i32",
        &[
            c32(0xff00_ff00u32 as i32, 0x0ff0_0ff0, 0xfff0_fff0u32 as i32),
            c32(0, 0, 0),
        ],
    );
    check_op(
        "i32.xor",
        "i32",
        &[
            c32(0xff00_ff00u32 as i32, 0x0ff0_0ff0, 0xf0f0_f0f0u32 as i32),
            c32(-1, I32_MAX, I32_MIN),
        ],
    );
    check_op(
        "i64.and",
        "i64",
        &[c64(-1, 0x1234_5678_9abc_def0, 0x1234_5678_9abc_def0)],
    );
    check_op("i64.or", "i64", &[c64(I64_MIN, 1, I64_MIN + 1)]);
    check_op("i64.xor", "i64", &[c64(-1, I64_MAX, I64_MIN)]);
}

#[test]
fn i32_clz() {
    check_op(
        "i32.clz",
        "i32",
        &[
            u32c(0, 32),
            u32c(-1, 0),
            u32c(1, 31),
            u32c(0x8000, 16),
            u32c(I32_MIN, 0),
            u32c(I32_MAX, 1),
        ],
    );
}

#[test]
fn i32_ctz() {
    check_op(
        "i32.ctz",
        "i32",
        &[
            u32c(0, 32),
            u32c(-1, 0),
            u32c(I32_MIN, 31),
            u32c(0x8000, 15),
            u32c(1, 0),
        ],
    );
}

#[test]
fn i32_popcnt() {
    check_op(
        "i32.popcnt",
        "i32",
        &[
            u32c(0, 0),
            u32c(-1, 32),
            u32c(0x8000_8000u32 as i32, 2),
            u32c(0x5555_5555, 16),
            u32c(I32_MAX, 31),
        ],
    );
}

#[test]
fn i64_clz() {
    check_op(
        "i64.clz",
        "i64",
        &[
            u64c(0, 64),
            u64c(-1, 0),
            u64c(1, 63),
            u64c(0x8000_0000, 32),
            u64c(0xffff_ffff, 32),
            u64c(I64_MIN, 0),
        ],
    );
}

#[test]
fn i64_ctz() {
    check_op(
        "i64.ctz",
        "i64",
        &[
            u64c(0, 64),
            u64c(-1, 0),
            u64c(I64_MIN, 63),
            u64c(0x1_0000_0000, 32),
            u64c(0x8000_0000, 31),
        ],
    );
}

#[test]
fn i64_popcnt() {
    check_op(
        "i64.popcnt",
        "i64",
        &[
            u64c(0, 0),
            u64c(-1, 64),
            u64c(0x5555_5555_5555_5555, 32),
            u64c(0x8000_0000_0000_0001u64 as i64, 2),
            u64c(0xffff_ffff, 32),
        ],
    );
}

#[test]
fn i32_shifts_and_rotates() {
    // Counts are taken modulo 32, including negative ones.
    check_op(
        "i32.shl",
        "i32",
        &[
            c32(1, 1, 2),
            c32(1, 31, I32_MIN),
            c32(1, 32, 1),
            c32(1, 33, 2),
            c32(1, -1, I32_MIN),
            c32(-1, 0, -1),
            c32(0x1234_5678, 100, 0x2345_6780),
        ],
    );
    check_op(
        "i32.shr_s",
        "i32",
        &[
            c32(I32_MIN, 31, -1),
            c32(I32_MIN, 32, I32_MIN),
            c32(-8, 1, -4),
            c32(I32_MAX, 30, 1),
            c32(-1, -1, -1),
            c32(I32_MIN, -1, -1),
            c32(0x4000_0000, 33, 0x2000_0000),
        ],
    );
    check_op(
        "i32.shr_u",
        "i32",
        &[
            c32(I32_MIN, 31, 1),
            c32(I32_MIN, 32, I32_MIN),
            c32(-8, 1, 0x7fff_fffc),
            c32(-1, -1, 1),
            c32(-1, 64, -1),
            c32(-1, 35, 0x1fff_ffff),
        ],
    );
    check_op(
        "i32.rotl",
        "i32",
        &[
            c32(0x8000_0001u32 as i32, 1, 3),
            c32(0x1234_5678, 4, 0x2345_6781),
            c32(0x1234_5678, 36, 0x2345_6781),
            c32(0x1234_5678, 0, 0x1234_5678),
            c32(0x1234_5678, 32, 0x1234_5678),
            c32(0x1234_5678, -4, 0x8123_4567u32 as i32),
        ],
    );
    check_op(
        "i32.rotr",
        "i32",
        &[
            c32(3, 1, 0x8000_0001u32 as i32),
            c32(0x1234_5678, 4, 0x8123_4567u32 as i32),
            c32(0x1234_5678, 36, 0x8123_4567u32 as i32),
            c32(0x1234_5678, -4, 0x2345_6781),
            c32(1, 32, 1),
        ],
    );
}

#[test]
fn i64_shifts_and_rotates() {
    check_op(
        "i64.shl",
        "i64",
        &[
            c64(1, 63, I64_MIN),
            c64(1, 64, 1),
            c64(1, 65, 2),
            c64(1, -1, I64_MIN),
            c64(1, 32, 0x1_0000_0000),
            c64(0xff, 0x7fff_ffff_0000_0038, 0xff00_0000_0000_0000u64 as i64),
        ],
    );
    check_op(
        "i64.shr_s",
        "i64",
        &[
            c64(I64_MIN, 63, -1),
            c64(I64_MIN, 64, I64_MIN),
            c64(I64_MIN, 32, 0xffff_ffff_8000_0000u64 as i64),
            c64(-1, -1, -1),
        ],
    );
    check_op(
        "i64.shr_u",
        "i64",
        &[
            c64(I64_MIN, 63, 1),
            c64(I64_MIN, 64, I64_MIN),
            c64(-1, 32, 0xffff_ffff),
            c64(-1, -1, 1),
            c64(-1, 127, 1),
        ],
    );
    check_op(
        "i64.rotl",
        "i64",
        &[
            c64(0x8000_0000_0000_0001u64 as i64, 1, 3),
            c64(0x0123_4567_89ab_cdef, 8, 0x2345_6789_abcd_ef01),
            c64(0x0123_4567_89ab_cdef, 72, 0x2345_6789_abcd_ef01),
            c64(0x0123_4567_89ab_cdef, -8, 0xef01_2345_6789_abcdu64 as i64),
            c64(1, 32, 0x1_0000_0000),
        ],
    );
    check_op(
        "i64.rotr",
        "i64",
        &[
            c64(3, 1, 0x8000_0000_0000_0001u64 as i64),
            c64(0x0123_4567_89ab_cdef, 8, 0xef01_2345_6789_abcdu64 as i64),
            c64(0x0123_4567_89ab_cdef, 64, 0x0123_4567_89ab_cdef),
            c64(0x0123_4567_89ab_cdef, -8, 0x2345_6789_abcd_ef01),
        ],
    );
}

/// Every comparison against Rust's answer on boundary values.
#[test]
fn i32_comparisons() {
    let values = [
        0,
        1,
        -1,
        2,
        I32_MIN,
        I32_MAX,
        I32_MIN + 1,
        I32_MAX - 1,
        0x8000,
    ];
    type Cmp = fn(i32, i32) -> bool;
    let ops: [(&str, Cmp); 10] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("lt_s", |a, b| a < b),
        ("lt_u", |a, b| (a as u32) < (b as u32)),
        ("gt_s", |a, b| a > b),
        ("gt_u", |a, b| (a as u32) > (b as u32)),
        ("le_s", |a, b| a <= b),
        ("le_u", |a, b| (a as u32) <= (b as u32)),
        ("ge_s", |a, b| a >= b),
        ("ge_u", |a, b| (a as u32) >= (b as u32)),
    ];
    for (name, f) in ops {
        let mut cases = Vec::new();
        for &a in &values {
            for &b in &values {
                cases.push(c32(a, b, f(a, b) as i32));
            }
        }
        check_op(&format!("i32.{name}"), "i32", &cases);
    }
}

#[test]
fn i64_comparisons() {
    let values = [
        0,
        1,
        -1,
        I64_MIN,
        I64_MAX,
        0xffff_ffff,
        0x1_0000_0000,
        -0x1_0000_0000,
        i32::MIN as i64,
    ];
    type Cmp = fn(i64, i64) -> bool;
    let ops: [(&str, Cmp); 10] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("lt_s", |a, b| a < b),
        ("lt_u", |a, b| (a as u64) < (b as u64)),
        ("gt_s", |a, b| a > b),
        ("gt_u", |a, b| (a as u64) > (b as u64)),
        ("le_s", |a, b| a <= b),
        ("le_u", |a, b| (a as u64) <= (b as u64)),
        ("ge_s", |a, b| a >= b),
        ("ge_u", |a, b| (a as u64) >= (b as u64)),
    ];
    for (name, f) in ops {
        let mut cases = Vec::new();
        for &a in &values {
            for &b in &values {
                // Comparisons of i64 produce an i32.
                cases.push((i64s(a, b), Want::Is(Val::I32(f(a, b) as i32))));
            }
        }
        check_op(&format!("i64.{name}"), "i32", &cases);
    }
}

#[test]
fn eqz() {
    check_op(
        "i32.eqz",
        "i32",
        &[u32c(0, 1), u32c(1, 0), u32c(-1, 0), u32c(I32_MIN, 0)],
    );
    check_op(
        "i64.eqz",
        "i32",
        &[
            (vec![Val::I64(0)], Want::Is(Val::I32(1))),
            (vec![Val::I64(1)], Want::Is(Val::I32(0))),
            // Only the upper half set: still not zero.
            (vec![Val::I64(0x1_0000_0000)], Want::Is(Val::I32(0))),
            (vec![Val::I64(I64_MIN)], Want::Is(Val::I32(0))),
        ],
    );
}

#[test]
fn i32_division_and_remainder() {
    use TrapCode::{IntegerDivideByZero as Zero, IntegerOverflow as Overflow};
    check_op(
        "i32.div_s",
        "i32",
        &[
            c32(7, 2, 3),
            c32(-7, 2, -3),
            c32(7, -2, -3),
            c32(-7, -2, 3),
            c32(I32_MIN, 1, I32_MIN),
            c32(I32_MIN, 2, -0x4000_0000),
            c32(I32_MIN, -1, Overflow),
            c32(1, 0, Zero),
            c32(0, 0, Zero),
            c32(I32_MIN, 0, Zero),
        ],
    );
    check_op(
        "i32.div_u",
        "i32",
        &[
            c32(7, 2, 3),
            c32(-1, 2, I32_MAX),
            c32(I32_MIN, -1, 0),
            c32(-1, -1, 1),
            c32(-7, 3, ((-7i32 as u32) / 3) as i32),
            c32(1, 0, Zero),
            c32(-1, 0, Zero),
        ],
    );
    check_op(
        "i32.rem_s",
        "i32",
        &[
            c32(7, 2, 1),
            c32(-7, 2, -1),
            c32(7, -2, 1),
            c32(-7, -2, -1),
            c32(I32_MIN, -1, 0),
            c32(I32_MIN, 2, 0),
            c32(I32_MIN, 3, -2),
            c32(5, 0, Zero),
            c32(I32_MIN, 0, Zero),
        ],
    );
    check_op(
        "i32.rem_u",
        "i32",
        &[
            c32(7, 2, 1),
            c32(-1, 2, 1),
            c32(I32_MIN, -1, I32_MIN),
            c32(-7, 3, ((-7i32 as u32) % 3) as i32),
            c32(5, 0, Zero),
        ],
    );
}

#[test]
fn i64_division_and_remainder() {
    use TrapCode::{IntegerDivideByZero as Zero, IntegerOverflow as Overflow};
    check_op(
        "i64.div_s",
        "i64",
        &[
            c64(7, 2, 3),
            c64(-7, 2, -3),
            c64(I64_MIN, 1, I64_MIN),
            t64(I64_MIN, -1, Overflow),
            c64(0x1_0000_0000, 0x1_0000, 0x1_0000),
            t64(1, 0, Zero),
            t64(I64_MIN, 0, Zero),
        ],
    );
    check_op(
        "i64.div_u",
        "i64",
        &[
            c64(-1, 2, I64_MAX),
            c64(I64_MIN, -1, 0),
            c64(-1, 0xffff_ffff, 0x1_0000_0001),
            t64(1, 0, Zero),
        ],
    );
    check_op(
        "i64.rem_s",
        "i64",
        &[
            c64(-7, 2, -1),
            c64(7, -2, 1),
            c64(I64_MIN, -1, 0),
            c64(I64_MIN, 3, -2),
            t64(1, 0, Zero),
        ],
    );
    check_op(
        "i64.rem_u",
        "i64",
        &[
            c64(-1, 2, 1),
            c64(I64_MIN, -1, I64_MIN),
            c64(-1, 0x1_0000_0000, 0xffff_ffff),
            t64(1, 0, Zero),
        ],
    );
}

#[test]
fn wrap_and_extend() {
    check_op(
        "i32.wrap_i64",
        "i32",
        &[
            w64(0x1_2345_6789, 0x2345_6789),
            w64(-1, -1),
            w64(0xffff_ffff, -1),
            w64(0x8000_0000, I32_MIN),
            w64(0x1_0000_0000, 0),
        ],
    );
    check_op(
        "i64.extend_i32_s",
        "i64",
        &[
            u32c(-1, -1i64),
            u32c(I32_MIN, I32_MIN as i64),
            u32c(I32_MAX, I32_MAX as i64),
        ],
    );
    check_op(
        "i64.extend_i32_u",
        "i64",
        &[
            u32c(-1, 0xffff_ffffi64),
            u32c(I32_MIN, 0x8000_0000i64),
            u32c(1, 1i64),
        ],
    );
    check_op(
        "i32.extend8_s",
        "i32",
        &[
            u32c(0x7f, 0x7f),
            u32c(0x80, -128),
            u32c(0x1234_56ff, -1),
            u32c(0x1234_5601, 1),
        ],
    );
    check_op(
        "i32.extend16_s",
        "i32",
        &[
            u32c(0x7fff, 0x7fff),
            u32c(0x8000, -0x8000),
            u32c(0x1234_ffff, -1),
        ],
    );
    check_op(
        "i64.extend8_s",
        "i64",
        &[u64c(0x80, -128), u64c(0x7f, 127), u64c(-0x100, 0)],
    );
    check_op(
        "i64.extend16_s",
        "i64",
        &[u64c(0x8000, -0x8000), u64c(0x1_0000_7fff, 0x7fff)],
    );
    check_op(
        "i64.extend32_s",
        "i64",
        &[
            u64c(0x8000_0000, -0x8000_0000),
            u64c(0x1234_5678_7fff_ffff, 0x7fff_ffff),
            u64c(0xffff_ffff, -1),
        ],
    );
}

/// A longer computation mixing operators and keeping many values alive at
/// once (register pressure and spills), checked against Rust.
#[test]
fn mixed_expression_with_register_pressure() {
    let wat = r#"
    (module
      (func (export "mix") (param $a i32) (param $b i32) (result i32)
        ;; ten live values, combined pairwise
        (i32.add
          (i32.xor
            (i32.mul (local.get $a) (i32.const 3))
            (i32.add
              (i32.shl (local.get $b) (i32.const 5))
              (i32.sub
                (i32.rotl (local.get $a) (local.get $b))
                (i32.and
                  (i32.or (local.get $a) (i32.const 0x0f0f))
                  (i32.add
                    (i32.shr_u (local.get $b) (i32.const 3))
                    (i32.add
                      (i32.mul (local.get $a) (local.get $b))
                      (i32.xor
                        (i32.popcnt (local.get $a))
                        (i32.clz (local.get $b)))))))))
          (i32.div_u (local.get $a) (i32.or (local.get $b) (i32.const 1)))))
    )"#;
    let mut inst = instantiate_wat(wat);
    let mix = |a: i32, b: i32| -> i32 {
        let inner =
            (a.wrapping_mul(b)).wrapping_add(a.count_ones() as i32 ^ b.leading_zeros() as i32);
        let x = (a | 0x0f0f) & ((b as u32 >> 3) as i32).wrapping_add(inner);
        let y = a.rotate_left(b as u32 & 31).wrapping_sub(x);
        let z = (b << 5).wrapping_add(y);
        ((a.wrapping_mul(3)) ^ z).wrapping_add(((a as u32) / ((b | 1) as u32)) as i32)
    };
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let a = rng.next_u64() as i32;
        let b = rng.next_u64() as i32;
        assert_eq!(
            call_i32(&mut inst, "mix", &[Val::I32(a), Val::I32(b)]),
            mix(a, b),
            "mix({a}, {b})"
        );
    }
}
