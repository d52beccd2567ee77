//! Runs the code of `examples/embed.rs` (included as a module, so the test
//! and the example cannot drift apart).

#[path = "../../examples/embed.rs"]
mod embed;

use vibewasm_tests::TempDir;

#[test]
fn embed_example_runs() {
    let dir = TempDir::new();
    let outcome = embed::run(dir.path(), 10).expect("example runs");
    assert_eq!(
        outcome,
        embed::Outcome {
            result: 385,
            host_calls: 11, // i = 0..=10
            greeting: "hello from wasm".into(),
        }
    );
    assert!(dir.join("embed.vwa").is_file());
}

#[test]
fn embed_example_host_trap() {
    // The sum of squares passes 10^9 at i = 1442; the host function
    // refuses it, which surfaces as a trap from the call.
    let dir = TempDir::new();
    let err = embed::run(dir.path(), 2000).expect_err("host trap");
    let trap = err
        .downcast_ref::<vibewasm_tests::Trap>()
        .unwrap_or_else(|| panic!("not a trap: {err}"));
    assert_eq!(trap.code, vibewasm_tests::TrapCode::HostError);
    assert_eq!(trap.message, "sum too large at step 1442");
    assert_eq!(trap.func, Some(0), "the trap is located at the import");
}
