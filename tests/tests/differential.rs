//! Differential testing against wasmi: `wasm-smith` modules (Wasm 2.0
//! without SIMD), compiled by vibewasm through an artifact file, run
//! side by side with the wasmi interpreter; results, traps, memories,
//! globals and tables compared (see `fuzz/common/differential.rs`, shared
//! with the cargo-fuzz target `fuzz/fuzz_targets/differential.rs`).
//!
//! The smoke test runs `VIBEWASM_FUZZ_CASES` cases (default 500) from a
//! deterministic seed sequence starting at `VIBEWASM_FUZZ_SEED` (default
//! 0). A mismatch fails with the seed and the module as WAT; a case where
//! only wasmi traps is printed but does not fail (see the module docs of
//! the shared file). Every real mismatch found becomes a regression test
//! at the end of this file, with the reduced module as WAT.

#[path = "../../fuzz/common/differential.rs"]
#[allow(dead_code)]
mod differential;

use arbitrary::Unstructured;
use differential::{generate_with, run_case, Load, Verdict};
use vibewasm_tests::*;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number")),
        Err(_) => default,
    }
}

/// `VIBEWASM_FUZZ_BIG` set: bigger modules (for long runs).
fn big() -> bool {
    std::env::var_os("VIBEWASM_FUZZ_BIG").is_some()
}

/// The input bytes of case `seed`: 1..8 KiB (4..32 KiB if big) from
/// xorshift64*.
pub fn case_bytes(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03);
    let scale = if big() { 4 } else { 1 };
    let len = scale * (1024 + rng.below(7 * 1024) as usize);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[derive(Default, Debug)]
struct Tally {
    agree: usize,
    skipped: usize,
    inconclusive: usize,
    wasmi_only_trap: usize,
    calls: usize,
    not_instantiated: usize,
    mismatches: Vec<String>,
}

fn run_seeds(seeds: std::ops::Range<u64>) -> Tally {
    let dir = TempDir::new();
    let path = dir.join("case.vwa");
    let mut tally = Tally::default();
    for seed in seeds {
        let bytes = case_bytes(seed);
        let mut u = Unstructured::new(&bytes);
        let smith = if big() {
            differential::big_smith_config()
        } else {
            differential::smith_config()
        };
        let Ok(case) = generate_with(&mut u, smith) else {
            tally.skipped += 1;
            continue;
        };
        let report = run_case(&case, &mut u, Load::File(&path));
        tally.calls += report.calls;
        tally.not_instantiated += usize::from(!report.instantiated);
        if std::env::var_os("VIBEWASM_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "seed {seed}: {} bytes of wasm, {} calls, {:?}",
                case.wasm.len(),
                report.calls,
                report.verdict
            );
        }
        match report.verdict {
            Verdict::Agree => tally.agree += 1,
            Verdict::Skipped(_) => tally.skipped += 1,
            Verdict::Inconclusive(why) => {
                tally.inconclusive += 1;
                if std::env::var_os("VIBEWASM_FUZZ_VERBOSE").is_some() {
                    eprintln!("seed {seed}: inconclusive: {why}");
                }
            }
            Verdict::WasmiOnlyTrap(why) => {
                tally.wasmi_only_trap += 1;
                eprintln!("seed {seed}: only wasmi traps (not counted): {why}");
            }
            Verdict::Mismatch(why) => {
                eprintln!(
                    "seed {seed}: MISMATCH: {why}\n{}",
                    differential::wat(&case.wasm)
                );
                tally.mismatches.push(format!("seed {seed}: {why}"));
            }
        }
    }
    tally
}

/// Half of the cases each, so the two run in parallel.
fn smoke(half: u64) {
    let cases = env_u64("VIBEWASM_FUZZ_CASES", 500);
    let first = env_u64("VIBEWASM_FUZZ_SEED", 0);
    let mid = first + cases / 2;
    let seeds = if half == 0 {
        first..mid
    } else {
        mid..first + cases
    };
    let start = std::time::Instant::now();
    let tally = run_seeds(seeds.clone());
    eprintln!(
        "differential seeds {seeds:?}: {} agree, {} skipped, {} inconclusive (stack), \
         {} wasmi-only traps, {} mismatches; {} failed to instantiate in both; \
         {} calls compared in {:.1?}",
        tally.agree,
        tally.skipped,
        tally.inconclusive,
        tally.wasmi_only_trap,
        tally.mismatches.len(),
        tally.not_instantiated,
        tally.calls,
        start.elapsed()
    );
    assert!(
        tally.mismatches.is_empty(),
        "vibewasm and wasmi disagree:\n{}",
        tally.mismatches.join("\n")
    );
    // The generator must produce comparable modules, not only skips.
    assert!(
        tally.agree * 2 >= (seeds.end - seeds.start) as usize,
        "too few comparable cases: {tally:?}"
    );
}

#[test]
fn smoke_first_half() {
    smoke(0);
}

#[test]
fn smoke_second_half() {
    smoke(1);
}
