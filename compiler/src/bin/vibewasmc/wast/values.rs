//! Script values: arguments to [`Val`]s, results against expectations
//! (NaN patterns, reference results), and the `spectest` host module.

use vibewasm_loader::{Error, ExternRef, GlobalType, Linker, MemoryType, TableType, Val, ValType};
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
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
        WastArgCore::V128(_) => return Err("v128 arguments are not supported".into()),
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
        (R::V128(_), _) => return Err("v128 results are not supported".into()),
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
    let pattern32 = |p: &NanPattern<wast::token::F32>| match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(f) => format!("{} ({:#x})", f32::from_bits(f.bits), f.bits),
    };
    let pattern64 = |p: &NanPattern<wast::token::F64>| match p {
        NanPattern::CanonicalNan => "nan:canonical".to_string(),
        NanPattern::ArithmeticNan => "nan:arithmetic".to_string(),
        NanPattern::Value(f) => format!("{} ({:#x})", f64::from_bits(f.bits), f.bits),
    };
    match expected {
        R::I32(v) => format!("i32:{v}"),
        R::I64(v) => format!("i64:{v}"),
        R::F32(p) => format!("f32:{}", pattern32(p)),
        R::F64(p) => format!("f64:{}", pattern64(p)),
        R::RefNull(_) => "ref.null".into(),
        R::RefExtern(Some(n)) => format!("ref.extern {n}"),
        R::RefExtern(None) => "ref.extern".into(),
        R::RefFunc(_) => "ref.func".into(),
        other => format!("{other:?}"),
    }
}

fn show(val: &Val) -> String {
    match val {
        Val::F32(bits) => format!("f32:{} ({bits:#x})", f32::from_bits(*bits)),
        Val::F64(bits) => format!("f64:{} ({bits:#x})", f64::from_bits(*bits)),
        Val::ExternRef(Some(r)) => format!("ref.extern {}", r.raw().wrapping_sub(1)),
        other => other.to_string(),
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
        let got: Vec<String> = values.iter().map(show).collect();
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
    };
    linker.define_table("spectest", "table", table, Val::FuncRef(None))?;
    let memory = MemoryType {
        min_pages: 1,
        max_pages: Some(2),
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
        assert!(matches(
            &Val::I32(1),
            &WastRetCore::V128(wast::core::V128Pattern::I32x4([0; 4]))
        )
        .is_err());
    }
}
