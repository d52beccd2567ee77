//! Script values: arguments to [`Val`]s, results against expectations
//! (NaN patterns, reference results), and the `spectest` host module.

use vibewasm_loader::{Error, ExternRef, GlobalType, Linker, MemoryType, TableType, Val, ValType};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::WastRet;

/// The externref a script writes as `ref.extern n` (0 is null in the
/// loader, so `n` maps to `n + 1`; the mapping round-trips).
fn extern_ref(n: u32) -> Option<ExternRef> {
    ExternRef::from_raw(u64::from(n) + 1)
}

fn null_of(heap: &HeapType<'_>) -> Result<Val, String> {
    match heap {
        HeapType::Abstract {
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
            ..
        } => Ok(Val::FuncRef(None)),
        HeapType::Abstract {
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
            ..
        } => Ok(Val::ExternRef(None)),
        other => Err(format!("unsupported reference type {other:?}")),
    }
}

/// The value of a script argument.
pub(super) fn to_val(arg: &WastArgCore<'_>) -> Result<Val, String> {
    Ok(match arg {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(f) => Val::F32(f.bits),
        WastArgCore::F64(f) => Val::F64(f.bits),
        WastArgCore::RefNull(heap) => null_of(heap)?,
        WastArgCore::RefExtern(n) => Val::ExternRef(extern_ref(*n)),
        WastArgCore::V128(c) => Val::V128(u128::from_le_bytes(c.to_le_bytes())),
        WastArgCore::RefHost(_) => return Err("ref.host arguments are not supported".into()),
    })
}

fn f32_matches(bits: u32, pattern: &NanPattern<wast::token::F32>) -> bool {
    let is_nan = bits & 0x7f80_0000 == 0x7f80_0000 && bits & 0x007f_ffff != 0;
    match pattern {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => is_nan && bits & 0x0040_0000 != 0,
        NanPattern::Value(expected) => bits == expected.bits,
    }
}

fn f64_matches(bits: u64, pattern: &NanPattern<wast::token::F64>) -> bool {
    let exponent = 0x7ff0_0000_0000_0000u64;
    let quiet = 0x0008_0000_0000_0000u64;
    let is_nan = bits & exponent == exponent && bits & (quiet * 2 - 1) != 0;
    match pattern {
        NanPattern::CanonicalNan => bits & !(1 << 63) == exponent | quiet,
        NanPattern::ArithmeticNan => is_nan && bits & quiet != 0,
        NanPattern::Value(expected) => bits == expected.bits,
    }
}

/// Lane `i` of `width` bytes of the v128 `v` (lane 0 in the low bits),
/// zero-extended.
fn lane(v: u128, width: usize, i: usize) -> u64 {
    let bits = 8 * width;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    (v >> (bits * i)) as u64 & mask
}

/// Whether the v128 `v` matches `pattern` lane by lane: integer lanes
/// exactly (as bit patterns of their width), float lanes as f32/f64
/// results do (a NaN pattern per lane, otherwise the same bits).
fn v128_matches(v: u128, pattern: &V128Pattern) -> bool {
    fn all<T>(lanes: &[T], width: usize, v: u128, ok: impl Fn(u64, &T) -> bool) -> bool {
        lanes
            .iter()
            .enumerate()
            .all(|(i, e)| ok(lane(v, width, i), e))
    }
    match pattern {
        V128Pattern::I8x16(l) => all(l, 1, v, |x, e| x == u64::from(*e as u8)),
        V128Pattern::I16x8(l) => all(l, 2, v, |x, e| x == u64::from(*e as u16)),
        V128Pattern::I32x4(l) => all(l, 4, v, |x, e| x == u64::from(*e as u32)),
        V128Pattern::I64x2(l) => all(l, 8, v, |x, e| x == *e as u64),
        V128Pattern::F32x4(l) => all(l, 4, v, |x, p| f32_matches(x as u32, p)),
        V128Pattern::F64x2(l) => all(l, 8, v, f64_matches),
    }
}

fn pattern32(p: &NanPattern<wast::token::F32>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(f) => format!("{} ({:#x})", f32::from_bits(f.bits), f.bits),
    }
}

fn pattern64(p: &NanPattern<wast::token::F64>) -> String {
    match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(f) => format!("{} ({:#x})", f64::from_bits(f.bits), f.bits),
    }
}

/// A v128 pattern as a script writes it: `v128:i32x4 1 2 3 4`.
fn describe_v128(pattern: &V128Pattern) -> String {
    fn join<T>(shape: &str, lanes: &[T], f: impl Fn(&T) -> String) -> String {
        let lanes: Vec<String> = lanes.iter().map(f).collect();
        format!("v128:{shape} {}", lanes.join(" "))
    }
    match pattern {
        V128Pattern::I8x16(l) => join("i8x16", l, |x| x.to_string()),
        V128Pattern::I16x8(l) => join("i16x8", l, |x| x.to_string()),
        V128Pattern::I32x4(l) => join("i32x4", l, |x| x.to_string()),
        V128Pattern::I64x2(l) => join("i64x2", l, |x| x.to_string()),
        V128Pattern::F32x4(l) => join("f32x4", l, pattern32),
        V128Pattern::F64x2(l) => join("f64x2", l, pattern64),
    }
}

/// The v128 `v` in the lane shape of `pattern` (signed integer lanes;
/// float lanes as value and bits), for messages.
fn show_v128(v: u128, pattern: &V128Pattern) -> String {
    fn join(shape: &str, n: usize, f: impl Fn(usize) -> String) -> String {
        let lanes: Vec<String> = (0..n).map(f).collect();
        format!("v128:{shape} {}", lanes.join(" "))
    }
    match pattern {
        V128Pattern::I8x16(_) => join("i8x16", 16, |i| (lane(v, 1, i) as i8).to_string()),
        V128Pattern::I16x8(_) => join("i16x8", 8, |i| (lane(v, 2, i) as i16).to_string()),
        V128Pattern::I32x4(_) => join("i32x4", 4, |i| (lane(v, 4, i) as i32).to_string()),
        V128Pattern::I64x2(_) => join("i64x2", 2, |i| (lane(v, 8, i) as i64).to_string()),
        V128Pattern::F32x4(_) => join("f32x4", 4, |i| {
            let bits = lane(v, 4, i) as u32;
            format!("{} ({bits:#x})", f32::from_bits(bits))
        }),
        V128Pattern::F64x2(_) => join("f64x2", 2, |i| {
            let bits = lane(v, 8, i);
            format!("{} ({bits:#x})", f64::from_bits(bits))
        }),
    }
}

/// Whether `val` is what `expected` describes; `Err` for expectations this
/// runner cannot check.
fn matches(val: &Val, expected: &WastRetCore<'_>) -> Result<bool, String> {
    use WastRetCore as R;
    Ok(match (expected, val) {
        (R::I32(e), Val::I32(v)) => e == v,
        (R::I64(e), Val::I64(v)) => e == v,
        (R::F32(p), Val::F32(bits)) => f32_matches(*bits, p),
        (R::F64(p), Val::F64(bits)) => f64_matches(*bits, p),
        (R::RefNull(None), Val::FuncRef(None) | Val::ExternRef(None)) => true,
        (R::RefNull(Some(heap)), v) => null_of(heap)? == *v,
        (R::RefExtern(None), Val::ExternRef(r)) => r.is_some(),
        (R::RefExtern(Some(n)), Val::ExternRef(r)) => *r == extern_ref(*n),
        (R::RefFunc(_), Val::FuncRef(f)) => f.is_some(),
        (R::Either(options), v) => {
            for option in options {
                if matches(v, option)? {
                    return Ok(true);
                }
            }
            false
        }
        (R::V128(p), Val::V128(v)) => v128_matches(*v, p),
        (
            R::RefHost(_)
            | R::RefAny
            | R::RefEq
            | R::RefArray
            | R::RefStruct
            | R::RefI31
            | R::RefI31Shared,
            _,
        ) => return Err(format!("unsupported expected result {expected:?}")),
        _ => false,
    })
}

fn describe(expected: &WastRetCore<'_>) -> String {
    use WastRetCore as R;
    match expected {
        R::I32(v) => format!("i32:{v}"),
        R::I64(v) => format!("i64:{v}"),
        R::F32(p) => format!("f32:{}", pattern32(p)),
        R::F64(p) => format!("f64:{}", pattern64(p)),
        R::RefNull(_) => "ref.null".into(),
        R::RefExtern(Some(n)) => format!("ref.extern {n}"),
        R::RefExtern(None) => "ref.extern".into(),
        R::RefFunc(_) => "ref.func".into(),
        R::V128(p) => describe_v128(p),
        R::Either(options) => {
            let options: Vec<String> = options.iter().map(describe).collect();
            format!("either({})", options.join(" | "))
        }
        other => format!("{other:?}"),
    }
}

/// `val` for a message; a v128 in the lane shape of `expected`, if that is
/// a v128 pattern (or an `either` with one), else as its 128-bit hex.
fn show(val: &Val, expected: Option<&WastRetCore<'_>>) -> String {
    let shape = match expected {
        Some(WastRetCore::V128(p)) => Some(p),
        Some(WastRetCore::Either(options)) => options.iter().find_map(|o| match o {
            WastRetCore::V128(p) => Some(p),
            _ => None,
        }),
        _ => None,
    };
    match (val, shape) {
        (Val::V128(v), Some(p)) => show_v128(*v, p),
        (Val::F32(bits), _) => format!("f32:{} ({bits:#x})", f32::from_bits(*bits)),
        (Val::F64(bits), _) => format!("f64:{} ({bits:#x})", f64::from_bits(*bits)),
        (Val::ExternRef(Some(r)), _) => format!("ref.extern {}", r.raw().wrapping_sub(1)),
        (other, _) => other.to_string(),
    }
}

/// Checks `values` against the expected `results`.
pub(super) fn match_results(values: &[Val], results: &[WastRet<'_>]) -> Result<(), String> {
    let expected: Vec<&WastRetCore<'_>> = results
        .iter()
        .map(|r| match r {
            WastRet::Core(core) => Ok(core),
            #[allow(unreachable_patterns)]
            _ => Err("component-model results are not applicable".to_string()),
        })
        .collect::<Result<_, _>>()?;
    let mismatch = || {
        let got: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| show(v, expected.get(i).copied()))
            .collect();
        let want: Vec<String> = expected.iter().map(|e| describe(e)).collect();
        format!("got [{}], want [{}]", got.join(", "), want.join(", "))
    };
    if values.len() != expected.len() {
        return Err(mismatch());
    }
    for (val, want) in values.iter().zip(&expected) {
        if !matches(val, want)? {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// The `spectest` module the specification's scripts import from.
pub(super) fn define_spectest(linker: &mut Linker) -> Result<(), Error> {
    linker
        .func_wrap("spectest", "print", || {})?
        .func_wrap("spectest", "print_i32", |_: i32| {})?
        .func_wrap("spectest", "print_i64", |_: i64| {})?
        .func_wrap("spectest", "print_f32", |_: f32| {})?
        .func_wrap("spectest", "print_f64", |_: f64| {})?
        .func_wrap("spectest", "print_i32_f32", |_: i32, _: f32| {})?
        .func_wrap("spectest", "print_f64_f64", |_: f64, _: f64| {})?;
    let global = |ty| GlobalType { ty, mutable: false };
    linker.define_global(
        "spectest",
        "global_i32",
        global(ValType::I32),
        Val::I32(666),
    )?;
    linker.define_global(
        "spectest",
        "global_i64",
        global(ValType::I64),
        Val::I64(666),
    )?;
    linker.define_global(
        "spectest",
        "global_f32",
        global(ValType::F32),
        Val::f32(666.6),
    )?;
    linker.define_global(
        "spectest",
        "global_f64",
        global(ValType::F64),
        Val::f64(666.6),
    )?;
    let table = TableType {
        element: ValType::FuncRef,
        min: 10,
        max: Some(20),
        index64: false,
    };
    linker.define_table("spectest", "table", table, Val::FuncRef(None))?;
    // The reference interpreter's 64-bit table (table64).
    let table64 = TableType {
        index64: true,
        ..table
    };
    linker.define_table("spectest", "table64", table64, Val::FuncRef(None))?;
    let memory = MemoryType {
        min_pages: 1,
        max_pages: Some(2),
        index64: false,
    };
    linker.define_memory("spectest", "memory", memory)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wast::token::{F32, F64};

    #[test]
    fn nan_patterns() {
        let canonical32 = NanPattern::<F32>::CanonicalNan;
        let arithmetic32 = NanPattern::<F32>::ArithmeticNan;
        assert!(f32_matches(0x7fc0_0000, &canonical32));
        assert!(f32_matches(0xffc0_0000, &canonical32));
        assert!(!f32_matches(0x7fc0_0001, &canonical32));
        assert!(f32_matches(0x7fc0_0001, &arithmetic32));
        assert!(!f32_matches(0x7fa0_0000, &arithmetic32), "signalling");
        assert!(!f32_matches(0x7f80_0000, &arithmetic32), "infinity");
        assert!(f32_matches(5, &NanPattern::Value(F32 { bits: 5 })));
        let canonical64 = NanPattern::<F64>::CanonicalNan;
        let arithmetic64 = NanPattern::<F64>::ArithmeticNan;
        assert!(f64_matches(0x7ff8_0000_0000_0000, &canonical64));
        assert!(f64_matches(0xfff8_0000_0000_0000, &canonical64));
        assert!(!f64_matches(0x7ff8_0000_0000_0001, &canonical64));
        assert!(f64_matches(0x7ff8_0000_0000_0001, &arithmetic64));
        assert!(!f64_matches(0x7ff4_0000_0000_0000, &arithmetic64));
        assert!(!f64_matches(0x7ff0_0000_0000_0000, &arithmetic64));
    }

    #[test]
    fn extern_refs_round_trip() {
        let arg = to_val(&WastArgCore::RefExtern(0)).unwrap();
        assert_eq!(arg, Val::ExternRef(ExternRef::from_raw(1)));
        assert!(matches(&arg, &WastRetCore::RefExtern(Some(0))).unwrap());
        assert!(!matches(&arg, &WastRetCore::RefExtern(Some(1))).unwrap());
        assert!(matches(&arg, &WastRetCore::RefExtern(None)).unwrap());
        assert!(!matches(&Val::ExternRef(None), &WastRetCore::RefExtern(None)).unwrap());
        assert!(matches(&Val::ExternRef(None), &WastRetCore::RefNull(None)).unwrap());
        assert!(!matches(&Val::FuncRef(None), &WastRetCore::RefFunc(None)).unwrap());
        assert!(!matches(&Val::I32(1), &WastRetCore::V128(V128Pattern::I32x4([0; 4]))).unwrap());
    }

    /// The v128 whose little-endian bytes are those of `lanes`, in order.
    fn v128_of(lanes: &[u64], width: usize) -> u128 {
        lanes
            .iter()
            .enumerate()
            .fold(0, |v, (i, l)| v | (u128::from(*l) << (8 * width * i)))
    }

    #[test]
    fn v128_arguments_are_little_endian_lanes() {
        use wast::core::V128Const;
        let arg = WastArgCore::V128(V128Const::I32x4([1, 2, 3, -1]));
        assert_eq!(
            to_val(&arg).unwrap(),
            Val::V128(0xffff_ffff_0000_0003_0000_0002_0000_0001)
        );
        let arg = WastArgCore::V128(V128Const::I8x16([
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, -1,
        ]));
        assert_eq!(
            to_val(&arg).unwrap(),
            Val::V128(0xff0e_0d0c_0b0a_0908_0706_0504_0302_0100)
        );
        let arg = WastArgCore::V128(V128Const::F64x2([F64 { bits: 1 }, F64 { bits: 2 }]));
        assert_eq!(to_val(&arg).unwrap(), Val::V128(2 << 64 | 1));
    }

    #[test]
    fn v128_integer_lanes_match_exactly() {
        let v = v128_of(&[1, 0xffff_fffe, 0x8000_0000, 7], 4);
        assert!(v128_matches(v, &V128Pattern::I32x4([1, -2, i32::MIN, 7])));
        assert!(!v128_matches(v, &V128Pattern::I32x4([1, -2, i32::MIN, 8])));
        assert!(v128_matches(
            v,
            &V128Pattern::I64x2([0xffff_fffe_0000_0001u64 as i64, 0x7_8000_0000])
        ));
        assert!(v128_matches(
            v,
            &V128Pattern::I16x8([1, 0, -2, -1, 0, i16::MIN, 7, 0])
        ));
        let bytes = v128_of(&(0..16).map(|b| 0xf0 | b).collect::<Vec<_>>(), 1);
        let mut lanes = [0i8; 16];
        for (i, l) in lanes.iter_mut().enumerate() {
            *l = (0xf0 | i as u8) as i8;
        }
        assert!(v128_matches(bytes, &V128Pattern::I8x16(lanes)));
        lanes[15] = 0;
        assert!(!v128_matches(bytes, &V128Pattern::I8x16(lanes)));
        // The failure message shows the value in the expected lane shape.
        let expected = WastRetCore::V128(V128Pattern::I32x4([1, 2, 3, 4]));
        assert_eq!(
            match_results(&[Val::V128(v)], &[WastRet::Core(expected)]).unwrap_err(),
            "got [v128:i32x4 1 -2 -2147483648 7], want [v128:i32x4 1 2 3 4]"
        );
    }

    #[test]
    fn v128_float_lanes_match_nan_patterns_lane_by_lane() {
        let value = |bits| NanPattern::Value(F32 { bits });
        let pattern = V128Pattern::F32x4([
            NanPattern::CanonicalNan,
            NanPattern::ArithmeticNan,
            value(0x8000_0000),
            value(0x3f80_0000),
        ]);
        let good = v128_of(&[0xffc0_0000, 0x7fc0_1234, 0x8000_0000, 0x3f80_0000], 4);
        assert!(v128_matches(good, &pattern));
        for (lane, bits) in [
            (0, 0x7fc0_0001), // arithmetic, not canonical
            (1, 0x7fa0_0000), // signalling
            (1, 0x7f80_0000), // infinity
            (2, 0),           // +0 is not -0: floats compare by bits
            (3, 0x3f80_0001),
        ] {
            let mut lanes = [0xffc0_0000u64, 0x7fc0_1234, 0x8000_0000, 0x3f80_0000];
            lanes[lane] = bits;
            assert!(
                !v128_matches(v128_of(&lanes, 4), &pattern),
                "lane {lane} = {bits:#x}"
            );
        }
        // A NaN value pattern matches its own bits only.
        let nan = V128Pattern::F32x4([value(0x7fc0_0001), value(0), value(0), value(0)]);
        assert!(v128_matches(0x7fc0_0001, &nan));
        assert!(!v128_matches(0x7fc0_0002, &nan));

        let pattern = V128Pattern::F64x2([NanPattern::ArithmeticNan, NanPattern::CanonicalNan]);
        let canonical = 0x7ff8_0000_0000_0000u64;
        assert!(v128_matches(
            v128_of(&[canonical | 5, canonical | 1 << 63], 8),
            &pattern
        ));
        assert!(!v128_matches(
            v128_of(&[canonical, canonical | 1], 8),
            &pattern
        ));
        assert!(!v128_matches(
            v128_of(&[0x7ff4_0000_0000_0000, canonical], 8),
            &pattern
        ));
        let exact = V128Pattern::F64x2([
            NanPattern::Value(F64 {
                bits: 1.5f64.to_bits(),
            }),
            NanPattern::Value(F64 {
                bits: (-0.0f64).to_bits(),
            }),
        ]);
        assert!(v128_matches(
            v128_of(&[1.5f64.to_bits(), 1 << 63], 8),
            &exact
        ));
        assert!(!v128_matches(v128_of(&[1.5f64.to_bits(), 0], 8), &exact));
        assert_eq!(
            describe(&WastRetCore::V128(pattern)),
            "v128:f64x2 nan:arithmetic nan:canonical"
        );
    }

    #[test]
    fn either_results_take_any_option_v128_included() {
        let either = WastRetCore::Either(vec![
            WastRetCore::V128(V128Pattern::I32x4([0, 0, 0, 0])),
            WastRetCore::V128(V128Pattern::I32x4([-1, -1, -1, -1])),
        ]);
        assert!(matches(&Val::V128(0), &either).unwrap());
        assert!(matches(&Val::V128(u128::MAX), &either).unwrap());
        assert!(!matches(&Val::V128(1), &either).unwrap());
        assert!(!matches(&Val::I32(0), &either).unwrap());
        let err = match_results(&[Val::V128(1)], &[WastRet::Core(either)]).unwrap_err();
        assert_eq!(
            err,
            "got [v128:i32x4 1 0 0 0], want [either(v128:i32x4 0 0 0 0 | v128:i32x4 -1 -1 -1 -1)]"
        );
    }
}
