//! The loader against hostile artifacts: real artifacts of a few modules
//! (see `fuzz/common/hostile.rs`, shared with the cargo-fuzz target
//! `fuzz/fuzz_targets/hostile_artifact.rs`), mutated and truncated, most
//! with the checksum re-fixed so that structural validation is what has to
//! refuse them, and some with their metadata decoded and its types changed
//! (`retype`); each is loaded with `Artifact::from_bytes` and instantiated,
//! its tables and exported globals are read as a host reads them, and it is
//! run when its code contract is intact. Every one must end in a clean
//! error or a working instance: a panic fails the test (with the case
//! number and the artifact written to a file), a hang aborts it.
//!
//! `VIBEWASM_HOSTILE_CASES` (default 10,000) and `VIBEWASM_HOSTILE_SEED`
//! (default 0) choose the cases; each case is reproducible from its number.

#[path = "../../fuzz/common/hostile.rs"]
#[allow(dead_code)]
mod hostile;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostile::{
    check, mutate, refix_checksum, refix_length_and_checksum, retype, seeds, Mutator, Outcome,
};
use vibewasm_format::Header;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number")),
        Err(_) => default,
    }
}

/// Aborts the process if one case runs longer than `limit` (a hang); the
/// current case is in `current`.
fn watchdog(current: Arc<AtomicU64>, done: Arc<AtomicU64>, limit: Duration) {
    std::thread::spawn(move || {
        let mut last = (u64::MAX, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if done.load(Ordering::Relaxed) != 0 {
                return;
            }
            let case = current.load(Ordering::Relaxed);
            if case != last.0 {
                last = (case, Instant::now());
            } else if last.1.elapsed() > limit {
                eprintln!("hostile case {case} hangs (over {limit:?}): aborting");
                std::process::abort();
            }
        }
    });
}

/// Checks one artifact; a panic is reported with `what` and the bytes
/// saved to a file.
fn checked(what: &str, bytes: &[u8], failures: &mut Vec<String>) -> Option<Outcome> {
    match catch_unwind(AssertUnwindSafe(|| check(bytes))) {
        Ok(outcome) => Some(outcome),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = std::env::temp_dir().join(format!(
                "vibewasm-hostile-{}.vwa",
                hostile::short_hash(bytes)
            ));
            let _ = std::fs::write(&path, bytes);
            failures.push(format!(
                "{what}: panicked: {message} (artifact saved to {})",
                path.display()
            ));
            None
        }
    }
}

fn kind(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused(words) => format!("refused: {words}"),
        other => format!("{other:?}"),
    }
}

#[test]
fn mutated_artifacts_never_crash_the_loader() {
    let cases = env_u64("VIBEWASM_HOSTILE_CASES", 10_000);
    let first = env_u64("VIBEWASM_HOSTILE_SEED", 0);
    let seeds = seeds();
    let current = Arc::new(AtomicU64::new(first));
    let done = Arc::new(AtomicU64::new(0));
    watchdog(current.clone(), done.clone(), Duration::from_secs(30));
    let start = Instant::now();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in first..first + cases {
        current.store(case, Ordering::Relaxed);
        let seed = &seeds[(case % seeds.len() as u64) as usize];
        let bytes = mutate(&seed.bytes, &mut Mutator::new(case));
        let what = format!("case {case} (from {})", seed.name);
        if let Some(outcome) = checked(&what, &bytes, &mut failures) {
            *tally.entry(kind(&outcome)).or_default() += 1;
        }
    }
    done.store(1, Ordering::Relaxed);
    eprintln!(
        "hostile artifacts {first}..{}: {} in {:.1?}",
        first + cases,
        tally
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        start.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The mutations must reach every stage, not only the checksum.
    let count = |prefix: &str| -> usize {
        tally
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    if cases >= 10_000 {
        assert!(count("Ran") > 0, "{tally:?}");
        assert!(count("Instantiated") > 0, "{tally:?}");
        assert!(count("NotInstantiated") > 0, "{tally:?}");
        for reason in [
            "ChecksumMismatch",
            "Metadata",
            "OutOfRange",
            "Invalid",
            "Mismatch",
        ] {
            assert!(
                count(&format!("refused: {reason}")) > 0,
                "{reason}: {tally:?}"
            );
        }
    }
}

/// Metadata with changed types (element segments' types, modes and items,
/// table and imported table types, global types and initialisers) reaches
/// each outcome: refused by the type checks at load, not instantiated,
/// instantiated and read, and run (segment types are not part of the code
/// contract: the loader checks them).
#[test]
fn retyped_artifacts_reach_every_outcome() {
    let seeds = seeds();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in 0..400u64 {
        let seed = &seeds[(case % seeds.len() as u64) as usize];
        let bytes = retype(&seed.bytes, &mut Mutator::new(case)).expect("a seed reads");
        let what = format!("retyped case {case} (from {})", seed.name);
        if let Some(outcome) = checked(&what, &bytes, &mut failures) {
            *tally.entry(kind(&outcome)).or_default() += 1;
        }
    }
    eprintln!("retyped artifacts: {tally:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for outcome in ["refused: Invalid", "NotInstantiated", "Instantiated", "Ran"] {
        assert!(tally.contains_key(outcome), "no {outcome}: {tally:?}");
    }
}

/// Every prefix of every seed, as is (a length mismatch), with the
/// checksum re-fixed, and with the file length re-fixed too (so section
/// ranges, the metadata decoder and the signature block are what refuse
/// it); the header and metadata at every length, the code sampled.
#[test]
fn every_truncation_is_refused() {
    let mut failures = Vec::new();
    for seed in seeds() {
        let header = Header::decode(&seed.bytes).unwrap();
        let meta_end = (header.metadata_offset + header.metadata_len) as usize;
        for len in 0..seed.bytes.len() {
            if len > meta_end + 64 && len % 97 != 0 {
                continue;
            }
            let cut = seed.bytes[..len].to_vec();
            for (how, bytes) in [
                ("as is", cut.clone()),
                ("checksum re-fixed", refix_checksum(cut.clone())),
                ("length re-fixed", refix_length_and_checksum(cut)),
            ] {
                let what = format!("{} cut to {len}, {how}", seed.name);
                // The code (or the signature block) ends every seed, so
                // every cut loses some of it.
                match checked(&what, &bytes, &mut failures) {
                    Some(Outcome::Refused(_)) | None => {}
                    Some(other) => failures.push(format!("{what} was accepted: {other:?}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The seeds themselves load, instantiate and run.
#[test]
fn seeds_run() {
    for seed in seeds() {
        assert_eq!(check(&seed.bytes), Outcome::Ran, "{}", seed.name);
    }
}
