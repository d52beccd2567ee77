//! `vibewasm-bench`: runs the shared compute kernels through vibewasm,
//! wasmtime (Cranelift and Winch), Wasmer (singlepass), wasmi and a native
//! clang build, checks every checksum, and prints markdown tables of
//! compile time, load + instantiate time, run time and their ratios. See
//! `bench/README.md`.

mod engines;
mod harness;
mod kernels;
mod large;
mod native;
mod report;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use engines::{Engine, Singlepass, Vibewasm, Wasmi, Wasmtime, WasmtimeStrategy};
use harness::Harness;
use report::Report;

/// Every engine, in table order. `native` is the clang build.
const ENGINES: &[(&str, &str)] = &[
    (
        "vibewasm",
        concat!("vibewasm ", env!("CARGO_PKG_VERSION"), ", SLJIT"),
    ),
    ("cranelift", "wasmtime 48.0.8, Cranelift"),
    ("winch", "wasmtime 48.0.8, Winch"),
    ("singlepass", "Wasmer 7.4.2, singlepass"),
    ("wasmi", "wasmi 2.0.0, interpreter"),
    ("native", "clang -O2"),
];

#[derive(Parser)]
#[command(
    version,
    about = "Benchmarks vibewasm against wasmtime (Cranelift, Winch), Wasmer \
    (singlepass), wasmi and native code on the shared kernels"
)]
struct Args {
    /// Directory of the kernels (`*.wasm`, `checksums.tsv`, `*.c`,
    /// `native_main.c`) [default: ../shared/bench/kernels from the workspace root]
    #[arg(long)]
    kernels: Option<PathBuf>,

    /// Repetitions of every measurement; tables show medians.
    #[arg(long, default_value_t = 3)]
    reps: usize,

    /// One repetition of a subset of kernels (fib, sieve, matmul, sha256, interp).
    #[arg(long)]
    quick: bool,

    /// Only these kernels (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Only these engines (comma-separated: vibewasm, cranelift, winch,
    /// singlepass, wasmi, native).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,

    /// Also write everything measured, with every sample, to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,

    /// Calls per sample for the host-to-wasm call overhead.
    #[arg(long, default_value_t = 1_000_000)]
    nop_calls: u64,

    /// Size of the generated module for the compile-throughput check, in MB
    /// (0 skips the check).
    #[arg(long, default_value_t = 10.0)]
    large_mb: f64,

    /// The kernel whose functions the large module copies.
    #[arg(long, default_value = "interp")]
    large_from: String,

    /// Bounds-check mode of vibewasm's code (default: guard pages, as
    /// vibewasm's own default and as wasmtime and Wasmer use).
    #[arg(long, value_enum, default_value_t = BoundsChecks::GuardPages)]
    bounds_checks: BoundsChecks,
}

#[derive(Clone, Copy, ValueEnum)]
enum BoundsChecks {
    /// Compare every address with the memory size.
    Explicit,
    /// No compares: guard pages and a signal handler.
    GuardPages,
}

fn main() -> ExitCode {
    match bench(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vibewasm-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("vibewasm-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_engine(name: &str, args: &Args) -> Result<Box<dyn Engine>> {
    Ok(match name {
        "vibewasm" => {
            let bounds_checks = match args.bounds_checks {
                BoundsChecks::Explicit => vibewasm_compiler::BoundsChecks::Explicit,
                BoundsChecks::GuardPages => vibewasm_compiler::BoundsChecks::GuardPages,
            };
            Box::new(Vibewasm::new(vibewasm_compiler::Config {
                bounds_checks,
                ..Default::default()
            }))
        }
        "cranelift" => Box::new(Wasmtime::new(WasmtimeStrategy::Cranelift)?),
        "winch" => Box::new(Wasmtime::new(WasmtimeStrategy::Winch)?),
        "singlepass" => Box::new(Singlepass::new()),
        "wasmi" => Box::new(Wasmi::new()),
        _ => bail!("unknown engine {name}"),
    })
}

/// Runs everything; `Ok(false)` when a checksum or an engine failed.
fn bench(mut args: Args) -> Result<bool> {
    if args.quick {
        args.reps = 1;
        if args.only.is_empty() {
            args.only = kernels::QUICK.iter().map(|s| s.to_string()).collect();
        }
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    for name in &args.engines {
        if !ENGINES.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = ENGINES.iter().map(|(n, _)| *n).collect();
            bail!("unknown engine {name:?} (known: {})", known.join(", "));
        }
    }
    let selected = |name: &str| args.engines.is_empty() || args.engines.iter().any(|e| e == name);
    let kernels_dir = args.kernels.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels")
    });
    let kernels = kernels::load(&kernels_dir, &args.only)?;
    let scratch = TempDir::new()?;

    let mut notes = Vec::new();
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    let mut described = Vec::new();
    for (name, what) in ENGINES.iter().filter(|(n, _)| *n != "native") {
        if selected(name) {
            engines.push(make_engine(name, &args)?);
            described.push((name.to_string(), what.to_string()));
        }
    }
    if let Some((_, what)) = described.iter_mut().find(|(n, _)| n == "vibewasm") {
        what.push_str(match args.bounds_checks {
            BoundsChecks::Explicit => ", explicit bounds checks",
            BoundsChecks::GuardPages => ", guard pages",
        });
    }
    let use_native = selected("native") && {
        let found = native::clang_available();
        if !found {
            let note = "native skipped: `clang` is not installed (Debian: apt-get install clang)";
            eprintln!("NOTE: {note}");
            notes.push(note.to_string());
        }
        found
    };
    if use_native {
        described.push((
            "native".into(),
            "clang -O2 (build.sh's native build)".into(),
        ));
    }

    let mut harness = Harness {
        dir: scratch.0.clone(),
        reps: args.reps,
        failures: Vec::new(),
    };
    let mut kernel_reports = Vec::new();
    for kernel in &kernels {
        eprintln!("{} ({} bytes of wasm)", kernel.name, kernel.wasm.len());
        let binary = match (&kernel.c_source, use_native) {
            (Some(source), true) => match native::build(source, &kernels_dir, &scratch.0) {
                Ok(binary) => Some(binary),
                Err(e) => {
                    let message = format!("native build of {}: {e:#}", kernel.name);
                    eprintln!("\n!!!!!!!! FAILURE: {message}\n");
                    harness.failures.push(message);
                    None
                }
            },
            _ => None,
        };
        kernel_reports.push(harness.kernel(&mut engines, binary.as_deref(), kernel));
    }

    eprintln!("host-to-wasm calls");
    let samples = 5;
    let call_overhead = engines
        .iter_mut()
        .map(|e| harness.call_overhead(e.as_mut(), args.nop_calls, samples))
        .collect();

    let large_module = if args.large_mb > 0.0 && !engines.is_empty() {
        let path = kernels_dir.join(format!("{}.wasm", args.large_from));
        let source = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (wasm, copies) = large::replicate(&source, (args.large_mb * 1e6) as usize)
            .with_context(|| format!("building the large module from {}", path.display()))?;
        eprintln!(
            "large module: {:.1} MB, {copies} copies of {}.wasm",
            wasm.len() as f64 / 1e6,
            args.large_from
        );
        Some(harness.large_module(&mut engines, &wasm, &args.large_from, copies))
    } else {
        None
    };

    let report = Report {
        engines: described,
        reps: args.reps,
        kernels: kernel_reports,
        call_overhead,
        large_module,
        notes,
        failures: harness.failures,
    };
    print!("{}", report.markdown());
    if let Some(path) = &args.json {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), &report)?;
        eprintln!("wrote {}", path.display());
    }
    if report.failures.is_empty() {
        return Ok(true);
    }
    eprintln!("\n!!!!!!!! {} FAILURE(S):", report.failures.len());
    for failure in &report.failures {
        eprintln!("!!!!!!!!   {failure}");
    }
    println!(
        "\n**{} FAILURE(S)** (checksum mismatches or errors, see above)",
        report.failures.len()
    );
    Ok(false)
}
