//! `vibewasm-bench`: runs the shared compute kernels through vibewasm,
//! wasmtime (Cranelift and Winch), Wasmer (singlepass), wasmi and a native
//! clang build, checks every checksum, and prints markdown tables of
//! compile time, load + instantiate time, run time and their ratios. Its
//! `programs` mode runs the WASI programs of `bench/corpus/` through
//! vibewasm, wasmtime and Wasmer, checks their output, and prints compile
//! (one thread and all threads), artifact size, load, instantiate and run
//! time. See `bench/README.md`.

mod code_size;
mod engines;
mod harness;
mod kernels;
mod large;
mod native;
mod programs;
mod programs_report;
mod report;
mod stats;
mod wasi_shim;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use engines::{available_threads, Engine, Singlepass, Vibewasm, Wasmi, Wasmtime, WasmtimeStrategy};
use harness::Harness;
use programs::WorkloadKind;
use programs_report::ProgramsReport;
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

/// The engines of the programs mode (each runs WASI programs).
const PROGRAM_ENGINES: &[&str] = &["vibewasm", "cranelift", "winch", "singlepass"];

/// The options that only the kernels mode uses (their clap ids).
const KERNEL_ONLY: &[&str] = &["kernels", "quick", "nop_calls", "large_mb", "large_from"];

#[derive(Parser)]
#[command(
    version,
    about = "Benchmarks vibewasm against wasmtime (Cranelift, Winch), Wasmer \
    (singlepass), wasmi and native code on the shared kernels, or (`programs`) \
    on the WASI programs of bench/corpus"
)]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,

    /// Directory of the kernels (`*.wasm`, `checksums.tsv`, `*.c`,
    /// `native_main.c`) [default: ../shared/bench/kernels from the workspace root]
    #[arg(long)]
    kernels: Option<PathBuf>,

    /// Repetitions of every measurement; tables show medians.
    #[arg(long, default_value_t = 3, global = true)]
    reps: usize,

    /// One repetition of a subset of kernels (fib, sieve, matmul, sha256, interp).
    #[arg(long)]
    quick: bool,

    /// Only these kernels, or programs (comma-separated names).
    #[arg(long, value_delimiter = ',', global = true)]
    only: Vec<String>,

    /// Only these engines (comma-separated: vibewasm, cranelift, winch,
    /// singlepass, wasmi, native; the programs mode has the first four).
    #[arg(long, value_delimiter = ',', global = true)]
    engines: Vec<String>,

    /// Also write everything measured, with every sample, to this JSON file.
    #[arg(long, global = true)]
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
    #[arg(long, value_enum, default_value_t = BoundsChecks::GuardPages, global = true)]
    bounds_checks: BoundsChecks,
}

#[derive(Subcommand)]
enum Mode {
    /// Runs the WASI programs of the corpus (bench/corpus) through vibewasm,
    /// wasmtime (Cranelift, Winch) and Wasmer (singlepass), checks each
    /// one's stdout, and prints compile time (one thread, all threads),
    /// artifact size, load, instantiate and run time with ratios.
    Programs(ProgramsArgs),
    /// Machine code bytes per kernel for x86-64 and aarch64: vibewasm's
    /// code section and the .text of wasmtime's Cranelift and Winch
    /// `.cwasm`, all cross-compiled where needed; nothing runs.
    CodeSize,
}

#[derive(clap::Args)]
struct ProgramsArgs {
    /// Directory of the corpus (`programs.tsv`, `wasm/`, `expected/`)
    /// [default: bench/corpus]
    #[arg(long)]
    corpus: Option<PathBuf>,

    /// Which workload of each program: the benchmark's, or the corpus
    /// test's small one (a quick check of every engine).
    #[arg(long, value_enum, default_value_t = WorkloadKind::Bench)]
    workload: WorkloadKind,
}

#[derive(Clone, Copy, ValueEnum)]
enum BoundsChecks {
    /// Compare every address with the memory size.
    Explicit,
    /// No compares: guard pages and a signal handler.
    GuardPages,
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let outcome = Args::from_arg_matches(&matches)
        .map_err(anyhow::Error::from)
        .and_then(|args| match &args.mode {
            Some(Mode::Programs(programs)) => bench_programs(&args, programs, &matches),
            Some(Mode::CodeSize) => {
                let dir = args.kernels.clone().unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels")
                });
                code_size::report(&kernels::load(&dir, &args.only)?).map(|()| true)
            }
            None => bench(args),
        });
    match outcome {
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

/// The description of vibewasm's code in the tables.
fn vibewasm_what(args: &Args) -> &'static str {
    match args.bounds_checks {
        BoundsChecks::Explicit => ", explicit bounds checks",
        BoundsChecks::GuardPages => ", guard pages",
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
        what.push_str(vibewasm_what(&args));
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
    Ok(report_failures(
        &report.failures,
        "checksum mismatches or errors",
    ))
}

/// The programs mode; `Ok(false)` when an engine failed or gave a wrong output.
fn bench_programs(args: &Args, mode: &ProgramsArgs, matches: &ArgMatches) -> Result<bool> {
    for id in KERNEL_ONLY {
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            bail!(
                "--{} is an option of the kernels mode, not of `programs`",
                id.replace('_', "-")
            );
        }
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    for name in &args.engines {
        if !PROGRAM_ENGINES.contains(&name.as_str()) {
            bail!(
                "the programs mode has no engine {name:?} (it has: {})",
                PROGRAM_ENGINES.join(", ")
            );
        }
    }
    let corpus = mode
        .corpus
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let programs = programs::load(&corpus, &args.only, mode.workload)?;
    let scratch = TempDir::new()?;

    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    let mut described = Vec::new();
    for (name, what) in ENGINES {
        if !PROGRAM_ENGINES.contains(name)
            || !(args.engines.is_empty() || args.engines.iter().any(|e| e == name))
        {
            continue;
        }
        engines.push(make_engine(name, args)?);
        let what = if *name == "vibewasm" {
            format!("{what}{}; its own WASI", vibewasm_what(args))
        } else {
            format!("{what}; the bench's WASI shim")
        };
        described.push((name.to_string(), what));
    }

    let mut harness = Harness {
        dir: scratch.0.clone(),
        reps: args.reps,
        failures: Vec::new(),
    };
    let mut reports = Vec::new();
    for program in &programs {
        eprintln!(
            "{} ({} bytes of wasm): {}",
            program.name,
            program.wasm.len(),
            program.argv().join(" ")
        );
        reports.push(harness.program(&mut engines, program));
    }

    let mut notes = Vec::new();
    for p in &reports {
        for run in &p.engines {
            if !run.unsupported_calls.is_empty() {
                notes.push(format!(
                    "{} on {} called WASI functions its host does not implement (they returned ENOSYS): {}",
                    run.engine,
                    p.name,
                    run.unsupported_calls.join(", ")
                ));
            }
        }
    }
    let report = ProgramsReport {
        engines: described,
        reps: args.reps,
        workload: mode.workload,
        threads: available_threads(),
        programs: reports,
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
    Ok(report_failures(&report.failures, "wrong outputs or errors"))
}

/// Repeats the failures at the end (stderr and the markdown); `true` when
/// there were none.
fn report_failures(failures: &[String], what: &str) -> bool {
    if failures.is_empty() {
        return true;
    }
    eprintln!("\n!!!!!!!! {} FAILURE(S):", failures.len());
    for failure in failures {
        eprintln!("!!!!!!!!   {failure}");
    }
    println!("\n**{} FAILURE(S)** ({what}, see above)", failures.len());
    false
}
