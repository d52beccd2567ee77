//! v128 values across the host boundary, end to end (compile, artifact
//! file, load, run): exported functions taking and returning v128 (untyped
//! and typed calls), host functions with v128 parameters and results
//! called from wasm, v128 globals (defined, imported, exported, initialised
//! from `v128.const` and from `global.get`), `vibewasmc run --invoke` and
//! `vibewasmc wast` with v128 arguments and results. These need SIMD code
//! generation (plain `local.get`/`global.get`/`call` of v128 values and a
//! few lane operators).

use vibewasm_loader::{Extern, FuncType, GlobalType, ValType};
use vibewasm_tests::*;

/// `i32x4 a b c d` as the little-endian u128 of its bytes.
fn i32x4(lanes: [i32; 4]) -> u128 {
    lanes
        .iter()
        .enumerate()
        .fold(0, |v, (i, l)| v | (u128::from(*l as u32) << (32 * i)))
}

const A: u128 = 0x1111_2222_3333_4444_5555_6666_7777_8888;
const B: u128 = 0x9999_aaaa_bbbb_cccc_dddd_eeee_ffff_0000;

const FUNCS: &str = r#"
(module
  (func (export "id") (param v128) (result v128) local.get 0)
  (func (export "mixed") (param i32 v128 f64 v128) (result v128 i32 v128 f64)
    local.get 3 local.get 0 local.get 1 local.get 2)
  (func (export "add") (param v128 v128) (result v128)
    (i32x4.add (local.get 0) (local.get 1)))
  (func (export "const") (result v128) (v128.const i32x4 1 2 3 -1))
  (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0)))
  (func (export "lane") (param v128) (result i32) (i32x4.extract_lane 2 (local.get 0)))
  (func (export "f32x4") (result v128) (v128.const f32x4 1.5 -0 nan inf)))
"#;

#[test]
fn exported_functions_take_and_return_v128() {
    let mut inst = instantiate_wat(FUNCS);
    for v in [0, 1, A, B, u128::MAX, 1 << 64, (1 << 64) - 1] {
        assert_eq!(call(&mut inst, "id", &[Val::V128(v)]), [Val::V128(v)]);
    }
    // Values after a v128 sit two slots further on, in both directions.
    assert_eq!(
        call(
            &mut inst,
            "mixed",
            &[Val::I32(-7), Val::V128(A), Val::f64(2.5), Val::V128(B)]
        ),
        [Val::V128(B), Val::I32(-7), Val::V128(A), Val::f64(2.5)]
    );
    assert_eq!(
        call(
            &mut inst,
            "add",
            &[
                Val::V128(i32x4([1, 2, 3, i32::MAX])),
                Val::V128(i32x4([10, 20, -3, 1]))
            ]
        ),
        [Val::V128(i32x4([11, 22, 0, i32::MIN]))]
    );
    assert_eq!(
        call(&mut inst, "const", &[]),
        [Val::V128(i32x4([1, 2, 3, -1]))]
    );
    assert_eq!(
        call(&mut inst, "splat", &[Val::I32(-2)]),
        [Val::V128(i32x4([-2; 4]))]
    );
    assert_eq!(
        call(&mut inst, "lane", &[Val::V128(i32x4([5, 6, 7, 8]))]),
        [Val::I32(7)]
    );
    let f = 1.5f32.to_bits() as u128
        | ((-0.0f32).to_bits() as u128) << 32
        | 0x7fc0_0000u128 << 64
        | (f32::INFINITY.to_bits() as u128) << 96;
    assert_eq!(call(&mut inst, "f32x4", &[]), [Val::V128(f)]);

    // Typed calls: u128 is v128.
    let id = inst.get_typed_func::<u128, u128>("id").unwrap();
    assert_eq!(id.call(&mut inst, A).unwrap(), A);
    let mixed = inst
        .get_typed_func::<(i32, u128, f64, u128), (u128, i32, u128, f64)>("mixed")
        .unwrap();
    assert_eq!(
        mixed.call(&mut inst, (1, A, -0.5, B)).unwrap(),
        (B, 1, A, -0.5)
    );
    assert!(inst.get_typed_func::<i64, u128>("id").is_err());
    // Wrong argument types are refused before anything runs.
    let err = call_err(&mut inst, "id", &[Val::I64(1)]);
    assert!(err.to_string().contains("argument 0"), "{err}");
    let func = inst.get_func(inst.store(), "add").unwrap();
    assert_eq!(
        func.call(&[
            Val::V128(i32x4([1, 1, 1, 1])),
            Val::V128(i32x4([1, 2, 3, 4]))
        ])
        .unwrap(),
        [Val::V128(i32x4([2, 3, 4, 5]))]
    );
}

#[test]
fn wasm_calls_host_functions_with_v128() {
    let mut linker = Linker::new();
    linker
        .func_wrap(
            "env",
            "typed",
            |a: u128, b: i32, c: u128| -> (u128, i32, u128) {
                (c, b.wrapping_neg(), a.rotate_left(32))
            },
        )
        .unwrap();
    let ty = FuncType {
        params: vec![ValType::V128, ValType::F32],
        results: vec![ValType::V128],
    };
    linker
        .func_new("env", "untyped", ty, |_, args| match *args {
            [Val::V128(v), Val::F32(bits)] => Ok(vec![Val::V128(v ^ u128::from(bits))]),
            _ => Err(Trap::new("bad arguments")),
        })
        .unwrap();
    let wat = r#"
    (module
      (import "env" "typed" (func $typed (param v128 i32 v128) (result v128 i32 v128)))
      (import "env" "untyped" (func $untyped (param v128 f32) (result v128)))
      (func (export "call_typed") (param v128 i32 v128) (result v128 i32 v128)
        (call $typed (local.get 0) (local.get 1) (local.get 2)))
      (func (export "swizzled") (param v128) (result i32)
        (local $third v128)
        (call $typed (local.get 0) (i32.const 1) (local.get 0))
        local.set $third
        drop
        drop
        ;; lane 0 of the third result: lane 3 of the argument
        (i32x4.extract_lane 0 (local.get $third)))
      (func (export "call_untyped") (param v128) (result v128)
        (call $untyped (local.get 0) (f32.const 1.0)))
      ;; the imports themselves, re-exported
      (export "typed" (func $typed)))"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(
        call(
            &mut inst,
            "call_typed",
            &[Val::V128(A), Val::I32(5), Val::V128(B)]
        ),
        [Val::V128(B), Val::I32(-5), Val::V128(A.rotate_left(32))]
    );
    assert_eq!(
        call(&mut inst, "swizzled", &[Val::V128(i32x4([1, 2, 3, 4]))]),
        [Val::I32(4)]
    );
    assert_eq!(
        call(&mut inst, "call_untyped", &[Val::V128(A)]),
        [Val::V128(A ^ u128::from(1.0f32.to_bits()))]
    );
    assert_eq!(
        call(
            &mut inst,
            "typed",
            &[Val::V128(1), Val::I32(1), Val::V128(2)]
        ),
        [Val::V128(2), Val::I32(-1), Val::V128(1 << 32)]
    );
}

#[test]
fn v128_globals_defined_imported_and_exported() {
    let mut linker = Linker::new();
    let imported_mut = linker
        .define_global(
            "env",
            "mut",
            GlobalType {
                ty: ValType::V128,
                mutable: true,
            },
            Val::V128(A),
        )
        .unwrap();
    linker
        .define_global(
            "env",
            "const",
            GlobalType {
                ty: ValType::V128,
                mutable: false,
            },
            Val::V128(B),
        )
        .unwrap();
    let wat = r#"
    (module
      (import "env" "mut" (global $im (mut v128)))
      (import "env" "const" (global $ic v128))
      (global $c (export "c") v128 (v128.const i32x4 1 2 3 4))
      (global $copy (export "copy") v128 (global.get $ic))
      (global $m (export "m") (mut v128) (v128.const i64x2 -1 7))
      (export "im" (global $im))
      (func (export "get_im") (result v128) (global.get $im))
      (func (export "set_im") (param v128) (global.set $im (local.get 0)))
      (func (export "get_m") (result v128) (global.get $m))
      (func (export "set_m") (param v128) (global.set $m (local.get 0)))
      (func (export "get_copy") (result v128) (global.get $copy))
      (func (export "sum") (result v128)
        (i32x4.add (global.get $c) (global.get $m))))"#;
    let mut inst = instantiate_with(wat, &linker);
    assert_eq!(inst.global("c"), Some(Val::V128(i32x4([1, 2, 3, 4]))));
    assert_eq!(inst.global("copy"), Some(Val::V128(B)));
    assert_eq!(call(&mut inst, "get_copy", &[]), [Val::V128(B)]);
    let m_init = u128::from(u64::MAX) | 7 << 64;
    assert_eq!(inst.global("m"), Some(Val::V128(m_init)));
    assert_eq!(call(&mut inst, "get_m", &[]), [Val::V128(m_init)]);
    assert_eq!(
        call(&mut inst, "sum", &[]),
        [Val::V128(i32x4([0, 1, 10, 4]))]
    );

    // Host and wasm see each other's writes, through every handle.
    call(&mut inst, "set_m", &[Val::V128(A)]);
    assert_eq!(inst.global("m"), Some(Val::V128(A)));
    inst.get_global("m").unwrap().set(Val::V128(B)).unwrap();
    assert_eq!(call(&mut inst, "get_m", &[]), [Val::V128(B)]);
    assert_eq!(call(&mut inst, "get_im", &[]), [Val::V128(A)]);
    imported_mut.set(Val::V128(3)).unwrap();
    assert_eq!(call(&mut inst, "get_im", &[]), [Val::V128(3)]);
    call(&mut inst, "set_im", &[Val::V128(u128::MAX)]);
    assert_eq!(imported_mut.get(), Ok(Val::V128(u128::MAX)));
    assert_eq!(inst.global("im"), Some(Val::V128(u128::MAX)));
    assert!(inst.get_global("c").unwrap().set(Val::V128(0)).is_err());

    // A second instance of the store imports the first one's exports.
    let mut linker = Linker::with_store(inst.store().clone());
    let Some(Extern::Global(m)) = inst.get_export("m") else {
        panic!("no global m");
    };
    let Some(Extern::Global(c)) = inst.get_export("c") else {
        panic!("no global c");
    };
    linker.define_extern("env", "mut", m.clone()).unwrap();
    linker.define_extern("env", "const", c).unwrap();
    let mut second = instantiate_with(wat, &linker);
    assert_eq!(second.global("copy"), Some(Val::V128(i32x4([1, 2, 3, 4]))));
    call(&mut second, "set_im", &[Val::V128(42)]);
    assert_eq!(call(&mut inst, "get_m", &[]), [Val::V128(42)]);
    assert_eq!(m.get(), Ok(Val::V128(42)));
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_invoke_prints_and_parses_v128_as_wasmtime_prints_it() {
    let dir = TempDir::new();
    let wat = dir.join("v.wat");
    std::fs::write(&wat, FUNCS).unwrap();
    let run = |args: &[&str]| {
        let mut argv: Vec<&std::ffi::OsStr> =
            vec!["run".as_ref(), "--no-cache".as_ref(), wat.as_os_str()];
        argv.push("--invoke".as_ref());
        argv.extend(args.iter().map(std::ffi::OsStr::new));
        run_cli(argv)
    };
    // The unsigned 128-bit integer of the vector's little-endian bytes, in
    // decimal: i32x4 1 2 3 -1.
    let out = run(&["const"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", i32x4([1, 2, 3, -1])));
    assert_eq!(stdout(&out), "340282366841710301004450502067942850561\n");
    // What is printed can be passed back, and hex works too.
    let out = run(&["id", "340282366841710301004450502067942850561"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "340282366841710301004450502067942850561\n");
    let out = run(&["mixed", "-1", "0xff", "0.5", "0x1_0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("argument '0x1_0' is not a valid v128"));
    let out = run(&["mixed", "-1", "0xff", "0.5", "16"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "16\n-1\n255\n0.5\n");
    let out = run(&["id", "-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("argument '-1' is not a valid v128"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wast_scripts_with_v128_arguments_and_results() {
    let dir = TempDir::new();
    let script = dir.join("simd_values.wast");
    std::fs::write(
        &script,
        r#"(module
  (func (export "id") (param v128) (result v128) local.get 0)
  (func (export "two") (param v128 i32) (result i32 v128) local.get 1 local.get 0)
  (func (export "nans") (result v128) (v128.const f32x4 nan -nan nan:0x600000 1.0))
  (func (export "div") (param v128 v128) (result v128) (f64x2.div (local.get 0) (local.get 1)))
  (global (export "g") v128 (v128.const i16x8 1 -1 2 -2 3 -3 4 -4)))
(assert_return (invoke "id" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 4))
(assert_return (invoke "id" (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 -1))
               (v128.const i64x2 0x0706050403020100 0xff0e0d0c0b0a0908))
(assert_return (invoke "two" (v128.const i64x2 -1 1) (i32.const 9))
               (i32.const 9) (v128.const i64x2 -1 1))
(assert_return (invoke "nans")
               (v128.const f32x4 nan:canonical nan:canonical nan:arithmetic 1.0))
(assert_return (invoke "div" (v128.const f64x2 0 1) (v128.const f64x2 0 -0))
               (v128.const f64x2 nan:arithmetic -inf))
(assert_return (invoke "id" (v128.const f32x4 -0 0 1 2))
               (either (v128.const f32x4 0 0 1 2) (v128.const f32x4 -0 0 1 2)))
(assert_return (get "g") (v128.const i16x8 1 -1 2 -2 3 -3 4 -4))
"#,
    )
    .unwrap();
    let out = run_cli(["wast".as_ref(), script.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // The totals: passed, failed, skipped (7 assertions and the module).
    let totals: Vec<usize> = stdout(&out)
        .lines()
        .find(|l| l.starts_with("total"))
        .map(|l| {
            l.split_whitespace()
                .rev()
                .take(3)
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .unwrap_or_default();
    let text = stdout(&out);
    assert_eq!(totals.len(), 3, "{text}");
    assert_eq!((totals[1], totals[0]), (0, 0), "{text}");
    assert!(totals[2] >= 7, "{text}");

    // A wrong lane is a failure that shows the lanes.
    std::fs::write(
        &script,
        r#"(module (func (export "id") (param v128) (result v128) local.get 0))
(assert_return (invoke "id" (v128.const i32x4 1 2 3 4)) (v128.const i32x4 1 2 3 5))
(assert_return (invoke "id" (v128.const f32x4 1 2 3 4)) (v128.const f32x4 1 2 3 nan:canonical))
"#,
    )
    .unwrap();
    let out = run_cli(["wast".as_ref(), "-v".as_ref(), script.as_os_str()]);
    assert_ne!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("got [v128:i32x4 1 2 3 4], want [v128:i32x4 1 2 3 5]"),
        "{text}"
    );
    assert!(text.contains("nan:canonical"), "{text}");
}
