//! Differential fuzzing: wasm-smith modules run by vibewasm (through an
//! artifact) and by wasmi; any difference in results, traps, memories,
//! globals or tables is a crash. See `../common/differential.rs`.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

#[path = "../common/differential.rs"]
#[allow(dead_code)]
mod differential;

use differential::{generate, run_case, Load, Verdict};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(case) = generate(&mut u) else {
        return;
    };
    match run_case(&case, &mut u, Load::Bytes).verdict {
        Verdict::Mismatch(why) => {
            panic!(
                "vibewasm and wasmi disagree: {why}\n{}",
                differential::wat(&case.wasm)
            )
        }
        Verdict::WasmiOnlyTrap(why) | Verdict::TrapKindDiffers(why) => {
            // Not a crash (wasmi is not an oracle, and trap kinds are
            // compared loosely), but kept for a second opinion: the module
            // goes to wasmi-only-traps/.
            let dir = std::path::Path::new("wasmi-only-traps");
            let _ = std::fs::create_dir_all(dir);
            let name = format!("{:016x}", fxhash(&case.wasm));
            let _ = std::fs::write(dir.join(format!("{name}.wasm")), &case.wasm);
            let _ = std::fs::write(dir.join(format!("{name}.txt")), &why);
            eprintln!("kept for a second opinion as wasmi-only-traps/{name}.wasm: {why}");
        }
        Verdict::Agree | Verdict::Skipped(_) | Verdict::Inconclusive(_) => {}
    }
});

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
