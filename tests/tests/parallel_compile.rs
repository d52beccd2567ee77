//! Parallel compilation: the artifact is the same bytes whatever the number
//! of threads, calls and traps cross chunk boundaries correctly, and an
//! invalid module gets the same error (its first invalid function's) on
//! any number of threads.

use vibewasm_compiler::{compile, CompileError, Config};
use vibewasm_tests::*;

fn with_threads(threads: usize) -> Config {
    Config {
        threads,
        ..Config::default()
    }
}

/// `count` functions `f0..`, each with a body of about 1.2 KB of wasm
/// (several chunks in all): `f{i}(x)` computes a sum, calls `f{i-1}`
/// (the chain crosses chunks), then divides by `x`, which traps on 0 from
/// whichever chunk. `invalid` functions return an i64 from an i32 function.
fn module(count: usize, invalid: &[usize]) -> Vec<u8> {
    let mut wat = String::from("(module\n");
    for i in 0..count {
        wat.push_str(&format!(
            "(func $f{i} (export \"f{i}\") (param $x i32) (result i32) (local $acc i32)\n"
        ));
        for k in 0..100 {
            wat.push_str(&format!(
                "(local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $x) (i32.const {}))))\n",
                k + 1_000_000
            ));
        }
        if invalid.contains(&i) {
            wat.push_str("i64.const 1)\n");
            continue;
        }
        let previous = if i == 0 {
            "(i32.const 0)".to_string()
        } else {
            format!("(call $f{} (local.get $x))", i - 1)
        };
        wat.push_str(&format!(
            "(i32.add {previous} (i32.div_u (local.get $acc) (local.get $x))))\n"
        ));
    }
    wat.push(')');
    let bytes = wat.as_bytes();
    // Unvalidated: the invalid functions must reach the compiler.
    wat::parse_bytes(bytes)
        .expect("well-formed text")
        .into_owned()
}

#[test]
fn artifacts_are_identical_whatever_the_threads() {
    let wasm = module(120, &[]);
    assert!(
        wasm.len() > 100 * 1024,
        "several chunks: {} bytes",
        wasm.len()
    );
    let one = compile(&wasm, &with_threads(1)).unwrap();
    for threads in [2, 3, 8, 0] {
        let many = compile(&wasm, &with_threads(threads)).unwrap();
        assert!(one == many, "{threads} threads gave other bytes");
    }
    // The linked calls and trap jumps work across chunks.
    let artifact = open_artifact_bytes(&one);
    let mut instance = vibewasm_loader::Linker::new()
        .instantiate_artifact(&artifact)
        .unwrap();
    let sum_of_k: u32 = (0..100u32).map(|k| k + 1_000_000).sum();
    let expected = (sum_of_k.wrapping_mul(3) / 3).wrapping_mul(120);
    assert_eq!(
        call_i32(&mut instance, "f119", &[Val::I32(3)]),
        expected as i32
    );
    let err = call_err(&mut instance, "f119", &[Val::I32(0)]);
    assert_trap(&err, TrapCode::IntegerDivideByZero);
    // The trap is in the innermost frame: f0, the first chunk's.
    let Error::Trap(trap) = err else {
        unreachable!()
    };
    assert_eq!(trap.func, Some(0), "{trap:?}");
    assert_eq!(trap.backtrace.len(), 120, "{trap:?}");
}

#[test]
fn the_corpus_compiles_to_the_same_bytes_on_one_and_many_threads() {
    let corpus = workspace_root().join("bench/corpus/wasm");
    for name in ["sqlite", "regex"] {
        let wasm = std::fs::read(corpus.join(format!("{name}.wasm"))).unwrap();
        let one = compile(&wasm, &with_threads(1)).unwrap();
        let two = compile(&wasm, &with_threads(2)).unwrap();
        let eight = compile(&wasm, &with_threads(8)).unwrap();
        assert!(one == two && one == eight, "{name}: bytes differ");
    }
}

#[test]
fn the_first_invalid_function_is_reported_on_any_number_of_threads() {
    // Functions 30 and 100 are invalid, in different chunks.
    let wasm = module(120, &[30, 100]);
    for threads in [1, 2, 8] {
        match compile(&wasm, &with_threads(threads)) {
            Err(CompileError::Invalid { func, message, .. }) => {
                assert_eq!(func, Some(30), "{threads} threads: {message}");
            }
            other => panic!("{threads} threads: {:?}", other.map(|a| a.len())),
        }
    }
}
