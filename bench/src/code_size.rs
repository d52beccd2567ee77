//! The `code-size` mode: machine code bytes per kernel, for x86-64 and
//! aarch64, from vibewasm (the artifact's code section) and wasmtime 48's
//! Cranelift and Winch (the bytes the `.text` symbols of
//! `Engine::precompile_module`'s `.cwasm` cover: wasm functions and
//! trampolines; the section itself is padded to a page). Every engine compiles for both targets on
//! any host (vibewasm's `Config::target`, wasmtime's `Config::target` with
//! `all-arch`); nothing runs.

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};
use vibewasm_format::{Arch, Os, Target};
use wasmtime::{Config, Engine, Strategy};

use crate::kernels::Kernel;

const TARGETS: [(Arch, &str); 2] = [
    (Arch::X86_64, "x86_64-unknown-linux-gnu"),
    (Arch::Aarch64, "aarch64-unknown-linux-gnu"),
];

/// Code bytes of one kernel: `[vibewasm, Cranelift, Winch]` per target.
struct Sizes {
    name: String,
    per_target: Vec<[u64; 3]>,
}

/// Prints the table (markdown) and the geometric-mean ratios.
pub fn report(kernels: &[Kernel]) -> Result<()> {
    let mut rows = Vec::new();
    for kernel in kernels {
        let mut per_target = Vec::new();
        for (arch, triple) in TARGETS {
            per_target.push([
                vibewasm_code(&kernel.wasm, arch)?,
                wasmtime_text(&kernel.wasm, triple, Strategy::Cranelift)?,
                wasmtime_text(&kernel.wasm, triple, Strategy::Winch)?,
            ]);
        }
        rows.push(Sizes {
            name: kernel.name.clone(),
            per_target,
        });
    }
    println!("#### Machine code per kernel (bytes)\n");
    println!(
        "| kernel | vw x86-64 | vw aarch64 | aarch64/x86-64 | Cranelift aarch64 | Winch aarch64 | vw/Cranelift aarch64 | vw/Winch aarch64 | vw/Cranelift x86-64 | vw/Winch x86-64 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ratio = |a: u64, b: u64| a as f64 / b as f64;
    let mut logs = [0f64; 5];
    for row in &rows {
        let [x, xc, xw] = row.per_target[0];
        let [a, ac, aw] = row.per_target[1];
        let r = [
            ratio(a, x),
            ratio(a, ac),
            ratio(a, aw),
            ratio(x, xc),
            ratio(x, xw),
        ];
        for (log, r) in logs.iter_mut().zip(r) {
            *log += r.ln();
        }
        println!(
            "| {} | {x} | {a} | {:.2} | {ac} | {aw} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.name, r[0], r[1], r[2], r[3], r[4]
        );
    }
    let n = rows.len().max(1) as f64;
    let g: Vec<String> = logs
        .iter()
        .map(|l| format!("{:.2}", (l / n).exp()))
        .collect();
    println!(
        "| geomean | | | {} | | | {} | {} | {} | {} |",
        g[0], g[1], g[2], g[3], g[4]
    );
    Ok(())
}

fn vibewasm_code(wasm: &[u8], arch: Arch) -> Result<u64> {
    let config = vibewasm_compiler::Config {
        target: Some(Target::baseline(arch, Os::Linux)),
        threads: 1,
        ..Default::default()
    };
    let artifact = vibewasm_compiler::compile(wasm, &config)?;
    Ok(vibewasm_format::Header::decode(&artifact)?.code_len)
}

fn wasmtime_text(wasm: &[u8], triple: &str, strategy: Strategy) -> Result<u64> {
    let mut config = Config::new();
    config.strategy(strategy).parallel_compilation(false);
    config.target(triple)?;
    let cwasm = Engine::new(&config)?.precompile_module(wasm)?;
    let file = object::File::parse(&*cwasm).context("reading the .cwasm")?;
    let text = file
        .section_by_name(".text")
        .context("no .text in the .cwasm")?;
    // The section is padded to a page (64 KiB on aarch64): count what its
    // symbols (functions and trampolines) cover instead.
    let covered = file
        .symbols()
        .filter(|s| s.section_index() == Some(text.index()))
        .map(|s| s.size())
        .sum();
    Ok(covered)
}
