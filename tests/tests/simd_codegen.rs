//! SIMD code generation paths the spec scripts exercise little, each
//! result compared with wasmi's (the reference interpreter) under every
//! code option: more live vectors than vector registers (spills to 16-byte
//! home slots), v128 locals in registers across calls, v128 arguments
//! among other types (two argument slots each), block results and branches
//! carrying vectors (`br_if`, `br_table`), `select` of vectors, and the
//! CPU-feature rules of the x86-64 target.

use vibewasm_compiler::BoundsChecks;
use vibewasm_tests::*;

const MODULE: &str = r#"
(module
  (memory (export "mem") 1)
  (func $id (param v128) (result v128) local.get 0)
  (func $mix (param i32 v128 i64 v128 f32) (result v128 i32)
    (i32x4.add (i32x4.add (local.get 1) (local.get 3)) (i32x4.splat (local.get 0)))
    (i32.add (i32.wrap_i64 (local.get 2)) (i32.trunc_f32_s (local.get 4))))
  ;; Sixteen vectors alive at once: more than the vector registers.
  (func (export "pressure") (param i32) (result v128)
    (i32x4.splat (local.get 0))
    (i32x4.splat (i32.add (local.get 0) (i32.const 1)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 2)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 3)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 4)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 5)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 6)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 7)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 8)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 9)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 10)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 11)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 12)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 13)))
    (i32x4.splat (i32.add (local.get 0) (i32.const 14)))
    (i32x4.mul (i32x4.splat (i32.add (local.get 0) (i32.const 15)))
               (v128.const i32x4 1 2 3 4))
    i32x4.sub i16x8.add i32x4.mul i8x16.sub i64x2.add i32x4.sub i16x8.mul
    i32x4.add i8x16.add i64x2.sub i32x4.mul v128.xor i16x8.sub i32x4.add i64x2.mul)
  ;; Vector locals (in registers when hot) survive calls.
  (func (export "locals") (param v128 v128 i32) (result v128) (local v128 v128)
    (local.set 3 (local.get 0))
    (local.set 4 (local.get 1))
    (loop $l
      (local.set 3 (i32x4.add (call $id (local.get 3)) (local.get 4)))
      (local.set 4 (i8x16.sub (local.get 4) (call $id (local.get 3))))
      (br_if $l (local.tee 2 (i32.sub (local.get 2) (i32.const 1)))))
    (v128.xor (local.get 3) (local.get 4)))
  (func (export "mixed") (param i32 v128 i64 v128 f32) (result v128)
    (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4))
    i32x4.splat i32x4.add)
  (func (export "branches") (param i32 v128 v128) (result v128)
    (block $b (result v128)
      (block $c (result v128)
        (block $d (result v128)
          (br_table $b $c $d (local.get 1) (local.get 0)))
        (br $b (i64x2.add (local.get 2))))
      (br_if $b (i16x8.sub (local.get 2)) (i32.eqz (local.get 0)))
      (f32x4.mul (local.get 2))))
  (func (export "select") (param i32 v128 v128) (result v128)
    (select (local.get 1) (local.get 2) (local.get 0)))
  (func (export "memory") (param i32 v128) (result v128)
    (v128.store offset=3 (local.get 0) (local.get 1))
    (v128.store16_lane offset=40 5 (local.get 0) (local.get 1))
    (i32x4.add (v128.load offset=1 (local.get 0))
               (v128.load8x8_s offset=38 (local.get 0)))))
"#;

const A: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
const B: u128 = 0x8000_0001_7fff_ffff_0000_ffff_1234_5678;

/// The calls compared, with their arguments.
fn calls() -> Vec<(&'static str, Vec<Val>)> {
    let v = Val::V128;
    let mut calls = Vec::new();
    for p in [0, 1, -7, i32::MAX] {
        calls.push(("pressure", vec![Val::I32(p)]));
    }
    for n in [1, 2, 9] {
        calls.push(("locals", vec![v(A), v(B), Val::I32(n)]));
    }
    calls.push((
        "mixed",
        vec![
            Val::I32(-3),
            v(A),
            Val::I64(1 << 40 | 5),
            v(B),
            Val::f32(-2.5),
        ],
    ));
    for i in 0..4 {
        calls.push(("branches", vec![Val::I32(i), v(A), v(B)]));
        calls.push(("select", vec![Val::I32(i), v(A), v(B)]));
    }
    for address in [0, 100, 65_000] {
        calls.push(("memory", vec![Val::I32(address), v(A)]));
    }
    calls
}

fn wasmi_results() -> Vec<Result<Vec<Val>, ()>> {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, wasm(MODULE)).expect("wasmi accepts the module");
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("wasmi instantiates");
    calls()
        .iter()
        .map(|(name, args)| {
            let func = instance.get_func(&store, name).expect("export");
            let args: Vec<wasmi::Val> = args
                .iter()
                .map(|a| match *a {
                    Val::I32(x) => wasmi::Val::I32(x),
                    Val::I64(x) => wasmi::Val::I64(x),
                    Val::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x)),
                    Val::V128(x) => wasmi::Val::V128(x.into()),
                    ref other => panic!("no wasmi value for {other:?}"),
                })
                .collect();
            let mut results = vec![wasmi::Val::V128(0u128.into())];
            func.call(&mut store, &args, &mut results)
                .map(|()| {
                    results
                        .iter()
                        .map(|r| match r {
                            wasmi::Val::V128(x) => Val::V128(x.as_u128()),
                            other => panic!("unexpected wasmi result {other:?}"),
                        })
                        .collect()
                })
                .map_err(|_| ())
        })
        .collect()
}

#[test]
fn vectors_through_registers_slots_calls_and_branches_agree_with_wasmi() {
    let want = wasmi_results();
    let mut failures = Vec::new();
    for bounds_checks in [BoundsChecks::GuardPages, BoundsChecks::Explicit] {
        for (fuel, epoch) in [(false, false), (true, true)] {
            let config = Config {
                bounds_checks,
                fuel,
                epoch,
                ..Config::default()
            };
            let mut linker = Linker::new();
            linker.store().set_fuel(u64::MAX).unwrap();
            let mut inst = instantiate_configured(MODULE, &config, &linker);
            for ((name, args), want) in calls().iter().zip(&want) {
                let got = inst.call(name, args).map_err(|_| ());
                if &got != want {
                    failures.push(format!(
                        "{config:?}: {name}{args:x?} = {got:x?}, wasmi {want:x?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn x86_64_simd_needs_sse41_and_the_artifact_says_so() {
    use vibewasm_format::{cpu, Target};
    let simd = r#"(module (func (export "f") (param v128 v128) (result v128)
        (i64x2.gt_s (local.get 0) (local.get 1))))"#;
    let baseline = Target::by_name("x86_64-linux").unwrap();
    let config = |cpu_features| Config {
        target: Some(Target {
            cpu_features,
            ..baseline
        }),
        ..Config::default()
    };
    let bytes = compile(&wasm(simd), &config(baseline.cpu_features)).expect("baseline compiles");
    let header = vibewasm_format::Header::decode(&bytes).expect("header");
    assert_eq!(
        header.target.cpu_features & (cpu::SSE41 | cpu::SSE42),
        cpu::SSE41 | cpu::SSE42,
        "the artifact requires what the code uses"
    );
    for missing in [cpu::SSE41, cpu::SSE42] {
        let err = compile(&wasm(simd), &config(baseline.cpu_features & !missing)).unwrap_err();
        assert!(
            matches!(err, CompileError::Unsupported { .. })
                && err.to_string().contains(&cpu::names(missing)),
            "{err}"
        );
    }
    // Scalar code needs neither.
    let scalar = r#"(module (func (export "f") (param i32) (result i32) local.get 0))"#;
    let bytes = compile(&wasm(scalar), &config(0)).expect("scalar code compiles");
    let header = vibewasm_format::Header::decode(&bytes).expect("header");
    assert_eq!(header.target.cpu_features & (cpu::SSE41 | cpu::SSE42), 0);
}
