//! The embedding API of a host that links the compiler too: Engine, Store,
//! Module (compiled in memory or through the cache), Linker, Instance.

use std::sync::Arc;

use vibewasm_compiler::cache::{Cache, Outcome, DEFAULT_MAX_BYTES};
use vibewasm_compiler::ModuleExt;
use vibewasm_loader::{Engine, Linker, Module, Store, Value};

const ADD: &str = r#"(module (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add))"#;

/// The usage example of the original vibewasm design, as written.
#[test]
fn the_design_example_works_as_written() -> Result<(), Box<dyn std::error::Error>> {
    let wasm = wat::parse_str(ADD)?;
    let engine = Arc::new(Engine::default());
    let mut store = Store::new(engine.clone());
    let module = Module::new(&engine, &wasm)?;
    let linker = Linker::new();
    let instance = linker.instantiate(&mut store, &module)?;
    let add = instance.get_func(&store, "add").unwrap();
    assert_eq!(
        store.call(add, &[Value::I32(40), Value::I32(2)])?,
        vec![Value::I32(42)]
    );
    Ok(())
}

#[test]
fn one_module_many_instances_on_many_threads() {
    let engine = Arc::new(Engine::default());
    let module = Module::new(&engine, &wat::parse_str(ADD).unwrap()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (engine, module) = (engine.clone(), module.clone());
            std::thread::spawn(move || {
                let mut store = Store::new(engine);
                let instance = Linker::new().instantiate(&mut store, &module).unwrap();
                let add = instance.get_func(&store, "add").unwrap();
                store.call(add, &[Value::I32(i), Value::I32(1)]).unwrap()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), vec![Value::I32(i as i32 + 1)]);
    }
}

#[test]
fn a_function_of_another_store_is_refused() {
    let engine = Arc::new(Engine::default());
    let module = Module::new(&engine, &wat::parse_str(ADD).unwrap()).unwrap();
    let mut a = Store::new(engine.clone());
    let mut b = Store::new(engine);
    let instance = Linker::new().instantiate(&mut a, &module).unwrap();
    assert!(instance.get_func(&b, "add").is_none());
    let add = instance.get_func(&a, "add").unwrap();
    assert!(b.call(add, &[Value::I32(1), Value::I32(2)]).is_err());
}

#[test]
fn the_cache_compiles_once_and_loads_from_its_file() {
    let dir = std::env::temp_dir().join(format!("vibewasm-embedding-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
    let engine = Arc::new(Engine::default());
    let wasm = wat::parse_str(ADD).unwrap();
    let (first, outcome) = cache.module(&engine, &wasm).unwrap();
    assert_eq!(outcome, Outcome::Compiled);
    let (second, outcome) = cache.module(&engine, &wasm).unwrap();
    assert_eq!(outcome, Outcome::Hit);
    for module in [first, second, cache.get_or_compile(&engine, &wasm).unwrap()] {
        let mut store = Store::new(engine.clone());
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let add = instance.get_func(&store, "add").unwrap();
        assert_eq!(
            store.call(add, &[Value::I32(2), Value::I32(3)]).unwrap(),
            vec![Value::I32(5)]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_engine_epoch_interrupts_its_stores() {
    use vibewasm_loader::{EngineConfig, TrapCode};
    let mut config = EngineConfig::default();
    config.code_options.epoch = true;
    let engine = Arc::new(Engine::new(config));
    let wasm = wat::parse_str(r#"(module (func (export "spin") (loop (br 0))))"#).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(engine.clone());
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    store.set_epoch_deadline(1).unwrap();
    let ticker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            engine.increment_epoch();
        })
    };
    let spin = instance.get_func(&store, "spin").unwrap();
    let err = store.call(spin, &[]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::Interrupted), "{err}");
    ticker.join().unwrap();
}
