//! f32/f64 operators: arithmetic, min/max with NaN and signed zeros, sqrt,
//! rounding (ties to even), sign operations on NaN and -0 bit patterns,
//! comparisons with NaN, int<->float conversions, trapping and saturating
//! truncation, reinterpret, demote/promote, float loads and stores.
//! Results are compared bit for bit; `Want::Nan` accepts any NaN where the
//! specification allows any.

use vibewasm_tests::*;

const NAN32: Want = Want::Nan { f64: false };
const NAN64: Want = Want::Nan { f64: true };

fn f(x: f32) -> Val {
    Val::f32(x)
}
fn d(x: f64) -> Val {
    Val::f64(x)
}
/// f32 binary case.
fn fb(a: f32, b: f32, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (vec![f(a), f(b)], want.into())
}
/// f64 binary case.
fn db(a: f64, b: f64, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (vec![d(a), d(b)], want.into())
}
fn fu(a: f32, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (vec![f(a)], want.into())
}
fn du(a: f64, want: impl Into<Want>) -> (Vec<Val>, Want) {
    (vec![d(a)], want.into())
}
fn fbits(bits: u32) -> Val {
    Val::F32(bits)
}
fn dbits(bits: u64) -> Val {
    Val::F64(bits)
}

const INF32: f32 = f32::INFINITY;
const INF64: f64 = f64::INFINITY;

#[test]
fn f32_arithmetic() {
    check_op(
        "f32.add",
        "f32",
        &[
            fb(1.5, 2.25, f(3.75)),
            fb(f32::MAX, f32::MAX, f(INF32)),
            fb(INF32, -INF32, NAN32),
            fb(-0.0, -0.0, f(-0.0)),
            fb(-0.0, 0.0, f(0.0)),
            fb(f32::from_bits(1), f32::from_bits(1), fbits(2)),
            fb(f32::NAN, 1.0, NAN32),
            fb(0.1, 0.2, f(0.1f32 + 0.2f32)),
        ],
    );
    check_op(
        "f32.sub",
        "f32",
        &[
            fb(1.0, 3.0, f(-2.0)),
            fb(INF32, INF32, NAN32),
            fb(0.0, 0.0, f(0.0)),
            fb(-0.0, 0.0, f(-0.0)),
            fb(1.0, f32::EPSILON / 4.0, f(1.0)),
        ],
    );
    check_op(
        "f32.mul",
        "f32",
        &[
            fb(1.5, -4.0, f(-6.0)),
            fb(0.0, INF32, NAN32),
            fb(-0.0, 5.0, f(-0.0)),
            fb(1e30, 1e30, f(INF32)),
            fb(1e-30, 1e-30, f(0.0)),
            fb(3.0, 1.0 / 3.0, f(3.0f32 * (1.0 / 3.0))),
        ],
    );
    check_op(
        "f32.div",
        "f32",
        &[
            fb(1.0, 4.0, f(0.25)),
            fb(1.0, 0.0, f(INF32)),
            fb(-1.0, 0.0, f(-INF32)),
            fb(1.0, -0.0, f(-INF32)),
            fb(0.0, 0.0, NAN32),
            fb(INF32, INF32, NAN32),
            fb(1.0, 3.0, f(1.0f32 / 3.0)),
        ],
    );
}

#[test]
fn f64_arithmetic() {
    check_op(
        "f64.add",
        "f64",
        &[
            db(1.5, 2.25, d(3.75)),
            db(0.1, 0.2, d(0.1 + 0.2)),
            db(f64::MAX, f64::MAX, d(INF64)),
            db(INF64, -INF64, NAN64),
            db(-0.0, -0.0, d(-0.0)),
            db(f64::from_bits(1), f64::from_bits(1), dbits(2)),
        ],
    );
    check_op(
        "f64.sub",
        "f64",
        &[
            db(1.0, 3.0, d(-2.0)),
            db(-0.0, 0.0, d(-0.0)),
            db(INF64, INF64, NAN64),
        ],
    );
    check_op(
        "f64.mul",
        "f64",
        &[
            db(1.5, -4.0, d(-6.0)),
            db(0.0, -INF64, NAN64),
            db(-0.0, 0.0, d(-0.0)),
            db(1e300, 1e300, d(INF64)),
            db(1.1, 1.1, d(1.1 * 1.1)),
        ],
    );
    check_op(
        "f64.div",
        "f64",
        &[
            db(1.0, 3.0, d(1.0 / 3.0)),
            db(1.0, 0.0, d(INF64)),
            db(-1.0, 0.0, d(-INF64)),
            db(0.0, 0.0, NAN64),
            db(f64::MIN_POSITIVE, 2.0, d(f64::MIN_POSITIVE / 2.0)),
        ],
    );
}

#[test]
fn min_max_nan_and_signed_zero() {
    check_op(
        "f32.min",
        "f32",
        &[
            fb(1.0, 2.0, f(1.0)),
            fb(2.0, -1.0, f(-1.0)),
            fb(0.0, -0.0, f(-0.0)),
            fb(-0.0, 0.0, f(-0.0)),
            fb(f32::NAN, 1.0, NAN32),
            fb(1.0, f32::NAN, NAN32),
            fb(-INF32, f32::MIN, f(-INF32)),
        ],
    );
    check_op(
        "f32.max",
        "f32",
        &[
            fb(1.0, 2.0, f(2.0)),
            fb(0.0, -0.0, f(0.0)),
            fb(-0.0, 0.0, f(0.0)),
            fb(f32::NAN, 1.0, NAN32),
            fb(1.0, f32::NAN, NAN32),
            fb(INF32, f32::MAX, f(INF32)),
        ],
    );
    check_op(
        "f64.min",
        "f64",
        &[
            db(1.0, 2.0, d(1.0)),
            db(0.0, -0.0, d(-0.0)),
            db(-0.0, 0.0, d(-0.0)),
            db(f64::NAN, 1.0, NAN64),
            db(1.0, f64::NAN, NAN64),
        ],
    );
    check_op(
        "f64.max",
        "f64",
        &[
            db(1.0, 2.0, d(2.0)),
            db(0.0, -0.0, d(0.0)),
            db(-0.0, 0.0, d(0.0)),
            db(f64::NAN, -1.0, NAN64),
            db(-1.0, f64::NAN, NAN64),
        ],
    );
}

#[test]
fn sqrt() {
    check_op(
        "f32.sqrt",
        "f32",
        &[
            fu(4.0, f(2.0)),
            fu(2.0, f(2.0f32.sqrt())),
            fu(-0.0, f(-0.0)),
            fu(0.0, f(0.0)),
            fu(-1.0, NAN32),
            fu(INF32, f(INF32)),
        ],
    );
    check_op(
        "f64.sqrt",
        "f64",
        &[
            du(2.0, d(2.0f64.sqrt())),
            du(-0.0, d(-0.0)),
            du(-INF64, NAN64),
            du(f64::from_bits(1), d(f64::from_bits(1).sqrt())),
        ],
    );
}

#[test]
fn rounding_f32() {
    check_op(
        "f32.ceil",
        "f32",
        &[
            fu(1.2, f(2.0)),
            fu(-1.2, f(-1.0)),
            fu(-0.5, f(-0.0)),
            fu(-0.0, f(-0.0)),
            fu(8388607.5, f(8388608.0)),
            fu(INF32, f(INF32)),
            fu(f32::NAN, NAN32),
        ],
    );
    check_op(
        "f32.floor",
        "f32",
        &[
            fu(1.8, f(1.0)),
            fu(-1.2, f(-2.0)),
            fu(0.5, f(0.0)),
            fu(-0.0, f(-0.0)),
            fu(-INF32, f(-INF32)),
        ],
    );
    check_op(
        "f32.trunc",
        "f32",
        &[
            fu(1.8, f(1.0)),
            fu(-1.8, f(-1.0)),
            fu(-0.7, f(-0.0)),
            fu(16777216.0, f(16777216.0)),
        ],
    );
    check_op(
        "f32.nearest",
        "f32",
        &[
            fu(0.5, f(0.0)),
            fu(1.5, f(2.0)),
            fu(2.5, f(2.0)),
            fu(3.5, f(4.0)),
            fu(-0.5, f(-0.0)),
            fu(-1.5, f(-2.0)),
            fu(-2.5, f(-2.0)),
            fu(2.4, f(2.0)),
            fu(2.6, f(3.0)),
            fu(8388607.5, f(8388608.0)),
            fu(-0.0, f(-0.0)),
            fu(f32::NAN, NAN32),
        ],
    );
}

#[test]
fn rounding_f64() {
    check_op(
        "f64.ceil",
        "f64",
        &[
            du(1.2, d(2.0)),
            du(-0.5, d(-0.0)),
            du(4503599627370495.5, d(4503599627370496.0)),
            du(INF64, d(INF64)),
        ],
    );
    check_op(
        "f64.floor",
        "f64",
        &[du(-1.2, d(-2.0)), du(0.9, d(0.0)), du(-0.0, d(-0.0))],
    );
    check_op(
        "f64.trunc",
        "f64",
        &[du(-1.8, d(-1.0)), du(-0.2, d(-0.0)), du(1e300, d(1e300))],
    );
    check_op(
        "f64.nearest",
        "f64",
        &[
            du(0.5, d(0.0)),
            du(1.5, d(2.0)),
            du(2.5, d(2.0)),
            du(-2.5, d(-2.0)),
            du(-0.5, d(-0.0)),
            du(4503599627370495.5, d(4503599627370496.0)),
            du(4503599627370497.0, d(4503599627370497.0)),
            du(f64::NAN, NAN64),
        ],
    );
}

/// abs, neg and copysign only touch the sign bit, also of NaNs.
#[test]
fn sign_operations_are_bitwise() {
    let nan_payload = 0x7fa0_1234u32; // a signalling NaN with a payload
    let neg_nan = nan_payload | 0x8000_0000;
    check_op(
        "f32.abs",
        "f32",
        &[
            (vec![fbits(neg_nan)], fbits(nan_payload).into()),
            (vec![fbits(nan_payload)], fbits(nan_payload).into()),
            fu(-0.0, f(0.0)),
            fu(-INF32, f(INF32)),
            fu(-1.5, f(1.5)),
        ],
    );
    check_op(
        "f32.neg",
        "f32",
        &[
            (vec![fbits(nan_payload)], fbits(neg_nan).into()),
            (vec![fbits(neg_nan)], fbits(nan_payload).into()),
            fu(0.0, f(-0.0)),
            fu(-0.0, f(0.0)),
            fu(1.5, f(-1.5)),
        ],
    );
    check_op(
        "f32.copysign",
        "f32",
        &[
            fb(1.5, -0.0, f(-1.5)),
            fb(-1.5, 0.0, f(1.5)),
            fb(-1.5, f32::from_bits(0x7fc0_0000), f(1.5)),
            fb(1.5, f32::from_bits(0xffc0_0000), f(-1.5)),
            (vec![fbits(nan_payload), f(-1.0)], fbits(neg_nan).into()),
            (vec![fbits(neg_nan), f(1.0)], fbits(nan_payload).into()),
            fb(0.0, -INF32, f(-0.0)),
        ],
    );
    let nan64 = 0x7ff4_0000_0000_beefu64;
    let neg_nan64 = nan64 | 1 << 63;
    check_op(
        "f64.abs",
        "f64",
        &[
            (vec![dbits(neg_nan64)], dbits(nan64).into()),
            du(-0.0, d(0.0)),
            du(-3.0, d(3.0)),
        ],
    );
    check_op(
        "f64.neg",
        "f64",
        &[
            (vec![dbits(nan64)], dbits(neg_nan64).into()),
            du(0.0, d(-0.0)),
            du(-INF64, d(INF64)),
        ],
    );
    check_op(
        "f64.copysign",
        "f64",
        &[
            db(2.0, -0.0, d(-2.0)),
            db(-2.0, 1.0, d(2.0)),
            (vec![dbits(nan64), d(-1.0)], dbits(neg_nan64).into()),
            (vec![d(1.0), dbits(neg_nan64)], d(-1.0).into()),
        ],
    );
}

#[test]
fn comparisons_with_nan_and_zero() {
    let values32 = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        f32::NAN,
        INF32,
        -INF32,
        f32::MIN_POSITIVE,
    ];
    type Cmp32 = fn(f32, f32) -> bool;
    let ops32: [(&str, Cmp32); 6] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("lt", |a, b| a < b),
        ("gt", |a, b| a > b),
        ("le", |a, b| a <= b),
        ("ge", |a, b| a >= b),
    ];
    for (name, op) in ops32 {
        let mut cases = Vec::new();
        for &a in &values32 {
            for &b in &values32 {
                cases.push(fb(a, b, Val::I32(op(a, b) as i32)));
            }
        }
        check_op(&format!("f32.{name}"), "i32", &cases);
    }
    let values64 = [0.0f64, -0.0, 1.0, -1.0, f64::NAN, INF64, -INF64, 1e-310];
    type Cmp64 = fn(f64, f64) -> bool;
    let ops64: [(&str, Cmp64); 6] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("lt", |a, b| a < b),
        ("gt", |a, b| a > b),
        ("le", |a, b| a <= b),
        ("ge", |a, b| a >= b),
    ];
    for (name, op) in ops64 {
        let mut cases = Vec::new();
        for &a in &values64 {
            for &b in &values64 {
                cases.push(db(a, b, Val::I32(op(a, b) as i32)));
            }
        }
        check_op(&format!("f64.{name}"), "i32", &cases);
    }
}

#[test]
fn int_to_float_conversions() {
    let i32s = [
        0,
        1,
        -1,
        i32::MIN,
        i32::MAX,
        16_777_217,
        -16_777_217,
        0x7fff_ff80,
    ];
    let i64s = [
        0,
        1,
        -1,
        i64::MIN,
        i64::MAX,
        (1 << 53) + 1,
        (1 << 24) + 1,
        0x7fff_ffff_ffff_fc00,
        // Halfway cases that exercise round-to-nearest-even (unsigned path).
        0x8000_0000_0000_0401u64 as i64,
        0xffff_ffff_ffff_fbffu64 as i64,
        0x8000_0080_0000_0001u64 as i64,
    ];
    let case = |a: Val, want: Val| (vec![a], Want::Is(want));
    check_op(
        "f32.convert_i32_s",
        "f32",
        &i32s.map(|x| case(Val::I32(x), f(x as f32))),
    );
    check_op(
        "f32.convert_i32_u",
        "f32",
        &i32s.map(|x| case(Val::I32(x), f(x as u32 as f32))),
    );
    check_op(
        "f64.convert_i32_s",
        "f64",
        &i32s.map(|x| case(Val::I32(x), d(x as f64))),
    );
    check_op(
        "f64.convert_i32_u",
        "f64",
        &i32s.map(|x| case(Val::I32(x), d(x as u32 as f64))),
    );
    check_op(
        "f32.convert_i64_s",
        "f32",
        &i64s.map(|x| case(Val::I64(x), f(x as f32))),
    );
    check_op(
        "f32.convert_i64_u",
        "f32",
        &i64s.map(|x| case(Val::I64(x), f(x as u64 as f32))),
    );
    check_op(
        "f64.convert_i64_s",
        "f64",
        &i64s.map(|x| case(Val::I64(x), d(x as f64))),
    );
    check_op(
        "f64.convert_i64_u",
        "f64",
        &i64s.map(|x| case(Val::I64(x), d(x as u64 as f64))),
    );
}

#[test]
fn trapping_truncation() {
    use TrapCode::{IntegerOverflow as Ovf, InvalidConversionToInteger as Inv};
    let fi = |a: f32, w: Want| (vec![f(a)], w);
    let di = |a: f64, w: Want| (vec![d(a)], w);
    let i = |v: i32| Want::Is(Val::I32(v));
    let l = |v: i64| Want::Is(Val::I64(v));
    check_op(
        "i32.trunc_f32_s",
        "i32",
        &[
            fi(-1.5, i(-1)),
            fi(1.9, i(1)),
            fi(-0.0, i(0)),
            fi(2147483520.0, i(2147483520)),
            fi(-2147483648.0, i(i32::MIN)),
            fi(2147483648.0, Ovf.into()),
            fi(-2147483904.0, Ovf.into()),
            fi(INF32, Ovf.into()),
            fi(f32::NAN, Inv.into()),
        ],
    );
    check_op(
        "i32.trunc_f32_u",
        "i32",
        &[
            fi(1.9, i(1)),
            fi(-0.9, i(0)),
            fi(4294967040.0, i(-256)),
            fi(4294967296.0, Ovf.into()),
            fi(-1.0, Ovf.into()),
            fi(f32::NAN, Inv.into()),
        ],
    );
    check_op(
        "i32.trunc_f64_s",
        "i32",
        &[
            di(2147483647.9, i(i32::MAX)),
            di(-2147483648.9, i(i32::MIN)),
            di(2147483648.0, Ovf.into()),
            di(-2147483649.0, Ovf.into()),
            di(-INF64, Ovf.into()),
            di(f64::NAN, Inv.into()),
        ],
    );
    check_op(
        "i32.trunc_f64_u",
        "i32",
        &[
            di(4294967295.9, i(-1)),
            di(-0.9, i(0)),
            di(2147483648.0, i(i32::MIN)),
            di(4294967296.0, Ovf.into()),
            di(-1.0, Ovf.into()),
            di(-f64::NAN, Inv.into()),
        ],
    );
    check_op(
        "i64.trunc_f32_s",
        "i64",
        &[
            fi(-1.5, l(-1)),
            fi(-9223372036854775808.0, l(i64::MIN)),
            fi(9223371487098961920.0, l(9223371487098961920)),
            fi(9223372036854775808.0, Ovf.into()),
            fi(f32::NAN, Inv.into()),
        ],
    );
    check_op(
        "i64.trunc_f32_u",
        "i64",
        &[
            fi(18446742974197923840.0, l(-1_099_511_627_776)),
            fi(-0.9, l(0)),
            fi(18446744073709551616.0, Ovf.into()),
            fi(-1.0, Ovf.into()),
        ],
    );
    check_op(
        "i64.trunc_f64_s",
        "i64",
        &[
            di(-1.5, l(-1)),
            di(9223372036854774784.0, l(9223372036854774784)),
            di(-9223372036854775808.0, l(i64::MIN)),
            di(9223372036854775808.0, Ovf.into()),
            di(-9223372036854777856.0, Ovf.into()),
            di(f64::NAN, Inv.into()),
        ],
    );
    check_op(
        "i64.trunc_f64_u",
        "i64",
        &[
            di(18446744073709549568.0, l(-2048)),
            di(9223372036854775808.0, l(i64::MIN)),
            di(-0.99, l(0)),
            di(18446744073709551616.0, Ovf.into()),
            di(-1.0, Ovf.into()),
            di(f64::NAN, Inv.into()),
        ],
    );
}

#[test]
fn saturating_truncation() {
    let fi = |a: f32, w: Val| (vec![f(a)], Want::Is(w));
    let di = |a: f64, w: Val| (vec![d(a)], Want::Is(w));
    use Val::{I32, I64};
    check_op(
        "i32.trunc_sat_f32_s",
        "i32",
        &[
            fi(-1.5, I32(-1)),
            fi(f32::NAN, I32(0)),
            fi(3e9, I32(i32::MAX)),
            fi(-3e9, I32(i32::MIN)),
            fi(INF32, I32(i32::MAX)),
        ],
    );
    check_op(
        "i32.trunc_sat_f32_u",
        "i32",
        &[
            fi(-1.5, I32(0)),
            fi(f32::NAN, I32(0)),
            fi(5e9, I32(-1)),
            fi(3e9, I32(3_000_000_000u32 as i32)),
        ],
    );
    check_op(
        "i32.trunc_sat_f64_s",
        "i32",
        &[
            di(2147483647.9, I32(i32::MAX)),
            di(1e10, I32(i32::MAX)),
            di(-1e10, I32(i32::MIN)),
            di(-f64::NAN, I32(0)),
        ],
    );
    check_op(
        "i32.trunc_sat_f64_u",
        "i32",
        &[
            di(4294967295.5, I32(-1)),
            di(1e10, I32(-1)),
            di(-1e10, I32(0)),
            di(f64::NAN, I32(0)),
        ],
    );
    check_op(
        "i64.trunc_sat_f32_s",
        "i64",
        &[
            fi(1e19, I64(i64::MAX)),
            fi(-1e19, I64(i64::MIN)),
            fi(f32::NAN, I64(0)),
            fi(-7.9, I64(-7)),
        ],
    );
    check_op(
        "i64.trunc_sat_f32_u",
        "i64",
        &[
            fi(1e20, I64(-1)),
            fi(-1.0, I64(0)),
            fi(1e19, I64(1e19f32 as u64 as i64)),
        ],
    );
    check_op(
        "i64.trunc_sat_f64_s",
        "i64",
        &[
            di(1e19, I64(i64::MAX)),
            di(-INF64, I64(i64::MIN)),
            di(f64::NAN, I64(0)),
            di(-9223372036854775808.0, I64(i64::MIN)),
        ],
    );
    check_op(
        "i64.trunc_sat_f64_u",
        "i64",
        &[
            di(1e20, I64(-1)),
            di(-1.0, I64(0)),
            di(18446744073709549568.0, I64(18446744073709549568u64 as i64)),
            di(f64::NAN, I64(0)),
        ],
    );
}

#[test]
fn reinterpret_keeps_bits() {
    let nan = 0x7fa0_0001u32;
    check_op(
        "i32.reinterpret_f32",
        "i32",
        &[
            (vec![fbits(nan)], Val::I32(nan as i32).into()),
            (vec![f(-0.0)], Val::I32(i32::MIN).into()),
            (vec![f(1.0)], Val::I32(0x3f80_0000).into()),
        ],
    );
    check_op(
        "f32.reinterpret_i32",
        "f32",
        &[
            (vec![Val::I32(nan as i32)], fbits(nan).into()),
            (vec![Val::I32(-1)], fbits(u32::MAX).into()),
        ],
    );
    let nan64 = 0xfff0_0000_0000_0001u64;
    check_op(
        "i64.reinterpret_f64",
        "i64",
        &[
            (vec![dbits(nan64)], Val::I64(nan64 as i64).into()),
            (vec![d(-0.0)], Val::I64(i64::MIN).into()),
        ],
    );
    check_op(
        "f64.reinterpret_i64",
        "f64",
        &[
            (vec![Val::I64(nan64 as i64)], dbits(nan64).into()),
            (vec![Val::I64(1)], dbits(1).into()),
        ],
    );
}

#[test]
fn demote_and_promote() {
    check_op(
        "f64.promote_f32",
        "f64",
        &[
            fu(1.5, d(1.5)),
            fu(-0.0, d(-0.0)),
            fu(f32::from_bits(1), d(f32::from_bits(1) as f64)),
            fu(INF32, d(INF64)),
            fu(f32::NAN, NAN64),
        ],
    );
    check_op(
        "f32.demote_f64",
        "f32",
        &[
            du(1.5, f(1.5)),
            du(1e300, f(INF32)),
            du(-1e300, f(-INF32)),
            du(1e-300, f(0.0)),
            du(-1e-300, f(-0.0)),
            du(0.1, f(0.1f64 as f32)),
            // Exactly halfway between two f32s: ties to even.
            du(1.0 + f32::EPSILON as f64 / 2.0, f(1.0)),
            du(f64::NAN, NAN32),
        ],
    );
}

#[test]
fn float_loads_and_stores_keep_bits() {
    let wat = r#"
    (module
      (memory (export "memory") 1)
      (data (i32.const 16) "\00\00\c0\3f")                 ;; f32 1.5
      (data (i32.const 24) "\00\00\00\00\00\00\f8\3f")     ;; f64 1.5
      (func (export "load32") (param i32) (result f32) (f32.load (local.get 0)))
      (func (export "load64") (param i32) (result f64) (f64.load offset=8 (local.get 0)))
      (func (export "store32") (param i32 f32) (f32.store offset=4 (local.get 0) (local.get 1)))
      (func (export "store64") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
      (func (export "bits32") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "bits64") (param i32) (result i64) (i64.load (local.get 0)))
      ;; round trip through memory with arithmetic in between
      (func (export "scale") (param i32 f64) (result f64)
        (f64.store (local.get 0) (f64.mul (f64.load (local.get 0)) (local.get 1)))
        (f64.load (local.get 0)))
    )"#;
    let mut inst = instantiate_wat(wat);
    assert_eq!(call(&mut inst, "load32", &[Val::I32(16)]), [f(1.5)]);
    assert_eq!(call(&mut inst, "load64", &[Val::I32(16)]), [d(1.5)]);
    // Signalling NaN payloads survive store and load.
    let snan32 = 0x7f80_0001u32;
    call(&mut inst, "store32", &[Val::I32(100), fbits(snan32)]);
    assert_eq!(
        call_i32(&mut inst, "bits32", &[Val::I32(104)]),
        snan32 as i32
    );
    assert_eq!(call(&mut inst, "load32", &[Val::I32(104)]), [fbits(snan32)]);
    let snan64 = 0xfff0_0000_dead_beefu64;
    call(&mut inst, "store64", &[Val::I32(203), dbits(snan64)]); // unaligned
    assert_eq!(
        call_i64(&mut inst, "bits64", &[Val::I32(203)]),
        snan64 as i64
    );
    assert_eq!(call(&mut inst, "load64", &[Val::I32(195)]), [dbits(snan64)]);
    let mem = inst.memory().expect("memory");
    assert_eq!(&mem[203..211], &snan64.to_le_bytes());
    assert_eq!(
        call(&mut inst, "scale", &[Val::I32(24), d(-2.0)]),
        [d(-3.0)]
    );
    // Past the end traps.
    expect_trap(
        &mut inst,
        "load64",
        &[Val::I32(65536 - 15)],
        TrapCode::MemoryOutOfBounds,
    );
    expect_trap(
        &mut inst,
        "store32",
        &[Val::I32(65536 - 7), f(1.0)],
        TrapCode::MemoryOutOfBounds,
    );
    assert_eq!(call(&mut inst, "load32", &[Val::I32(65532)]), [f(0.0)]);
}

/// A float-heavy computation with many live values (register pressure on
/// the float registers), checked against Rust.
#[test]
fn float_expression_with_many_live_values() {
    let wat = r#"
    (module
      (func (export "poly") (param $x f64) (result f64)
        (local $a f64) (local $b f64)
        (local.set $a (f64.mul (local.get $x) (local.get $x)))
        (local.set $b (f64.add (local.get $a) (f64.const 1)))
        (f64.add
          (f64.add
            (f64.add (f64.mul (local.get $a) (f64.const 3)) (f64.div (local.get $b) (f64.const 7)))
            (f64.add (f64.sqrt (local.get $b)) (f64.mul (local.get $x) (f64.const -2.5))))
          (f64.add
            (f64.add (f64.min (local.get $a) (local.get $b)) (f64.max (local.get $x) (f64.const 0.25)))
            (f64.add (f64.abs (local.get $x))
              (f64.add (f64.neg (local.get $a))
                (f64.add (f64.floor (local.get $x))
                  (f64.add (f64.ceil (local.get $b))
                    (f64.add (f64.nearest (local.get $x)) (f64.trunc (local.get $a))))))))))
      (func (export "mix32") (param $x f32) (param $n i32) (result f32)
        (f32.add
          (f32.mul (local.get $x) (f32.convert_i32_s (local.get $n)))
          (f32.sub (f32.demote_f64 (f64.promote_f32 (local.get $x))) (f32.const 0.5))))
    )"#;
    let mut inst = instantiate_wat(wat);
    let poly = |x: f64| -> f64 {
        let a = x * x;
        let b = a + 1.0;
        let nearest = {
            let r = x.round();
            if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
                r - x.signum()
            } else {
                r
            }
        };
        ((a * 3.0 + b / 7.0) + (b.sqrt() + x * -2.5))
            + ((a.min(b) + x.max(0.25))
                + (x.abs() + (-a + (x.floor() + (b.ceil() + (nearest + a.trunc()))))))
    };
    for x in [0.0, 1.5, -2.5, 3.25, -7.75, 100.5, 1e-3, -0.5] {
        assert_eq!(call(&mut inst, "poly", &[d(x)]), [d(poly(x))], "poly({x})");
    }
    for (x, n) in [(1.5f32, 3), (-2.25, -7), (0.1, 1000)] {
        assert_eq!(
            call(&mut inst, "mix32", &[f(x), Val::I32(n)]),
            [f(x * n as f32 + (x - 0.5))]
        );
    }
}
