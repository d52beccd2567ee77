//! Embedding vibewasm: compile a module ahead of time, write the artifact
//! to a file, load it, give it a host function, call an export.
//!
//! ```sh
//! cargo run -p vibewasm-tests --example embed
//! ```
//!
//! The logic is in [`run`] so that the test suite (`tests/tests/example.rs`)
//! runs exactly this code too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vibewasm_loader::{Artifact, Caller, Linker, Trap};

/// A module that sums the squares of 1..=n, asks the host to log each
/// step, and writes a greeting into its memory for the host to read.
const WAT: &str = r#"
(module
  (import "host" "log" (func $log (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from wasm")
  (func (export "sum_squares") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.gt_s (local.get $i) (local.get $n)))
        (local.set $acc
          (i64.add (local.get $acc)
                   (i64.extend_i32_s (i32.mul (local.get $i) (local.get $i)))))
        (call $log (local.get $i) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
)"#;

/// What [`run`] found out.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The export's result.
    pub result: i64,
    /// How many times the host function was called.
    pub host_calls: u64,
    /// The greeting read from the instance's memory.
    pub greeting: String,
}

/// Compiles [`WAT`], writes the artifact into `dir`, loads it, instantiates
/// it with a host `log` function and calls `sum_squares(n)`.
pub fn run(dir: &std::path::Path, n: i32) -> Result<Outcome, Box<dyn std::error::Error>> {
    // 1. Ahead of time: wasm -> .vwa artifact on disk.
    let wasm = wat::parse_str(WAT)?;
    let bytes = vibewasm_compiler::compile(&wasm, &vibewasm_compiler::Config::default())?;
    let path = dir.join("embed.vwa");
    std::fs::write(&path, bytes)?;

    // 2. At run time: load the artifact (checked, code mapped executable).
    let artifact = Arc::new(Artifact::open(&path)?);

    // 3. Host functions the module imports.
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let mut linker = Linker::new();
    linker.func_wrap(
        "host",
        "log",
        move |caller: &mut Caller<'_>, i: i32, acc: i64| -> Result<(), Trap> {
            counter.fetch_add(1, Ordering::Relaxed);
            if caller.memory().is_none() {
                return Err(Trap::new("the module has no memory"));
            }
            if acc > 1_000_000_000 {
                return Err(Trap::new(format!("sum too large at step {i}")));
            }
            Ok(())
        },
    )?;

    // 4. Instantiate and call.
    let mut instance = linker.instantiate_artifact(&artifact)?;
    let sum_squares = instance.get_typed_func::<i32, i64>("sum_squares")?;
    let result = sum_squares.call(&mut instance, n)?;
    let memory = instance.memory().ok_or("no memory")?;
    let greeting = String::from_utf8_lossy(&memory[..15]).into_owned();
    Ok(Outcome {
        result,
        host_calls: calls.load(Ordering::Relaxed),
        greeting,
    })
}

#[allow(dead_code)] // unused when this file is included by the tests
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("vibewasm-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = run(&dir, 10);
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = outcome?;
    println!("sum_squares(10) = {}", outcome.result);
    println!("host function called {} times", outcome.host_calls);
    println!("memory says: {}", outcome.greeting);
    Ok(())
}
