//! A host that compiles each module once per machine and loads it many
//! times: the artifact cache, the Engine/Store/Module API, and one module
//! shared by instances on several threads.
//!
//! ```sh
//! cargo run -p vibewasm-tests --example cached_module
//! ```

use std::sync::Arc;

use vibewasm_compiler::cache::{Cache, Outcome, DEFAULT_MAX_BYTES};
use vibewasm_loader::{Engine, Linker, Store, Value};

const WAT: &str = r#"
(module
  (func $fib (export "fib") (param $n i32) (result i64)
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wasm = wat::parse_str(WAT)?;
    let engine = Arc::new(Engine::default());
    // The default directory is $VIBEWASM_CACHE_DIR or ~/.cache/vibewasm;
    // this example keeps its cache in a temporary directory.
    let cache = Cache::new(
        std::env::temp_dir().join("vibewasm-example-cache"),
        DEFAULT_MAX_BYTES,
    )?;

    // The first run compiles and stores the artifact; later runs (and other
    // processes) map it from the cache file.
    let (module, outcome) = cache.module(&engine, &wasm)?;
    println!(
        "module {}",
        match outcome {
            Outcome::Hit => "loaded from the cache",
            Outcome::Compiled => "compiled and cached",
        }
    );

    // A Module is immutable and shareable: one instance per thread.
    let workers: Vec<_> = (25..29)
        .map(|n| {
            let (engine, module) = (engine.clone(), module.clone());
            std::thread::spawn(move || -> Result<Vec<Value>, vibewasm_loader::Error> {
                let mut store = Store::new(engine);
                let instance = Linker::new().instantiate(&mut store, &module)?;
                let fib = instance.get_func(&store, "fib").expect("exported");
                store.call(fib, &[Value::I32(n)])
            })
        })
        .collect();
    for (n, worker) in (25..29).zip(workers) {
        let results = worker.join().expect("worker thread")?;
        println!("fib({n}) = {:?}", results[0]);
    }
    Ok(())
}
