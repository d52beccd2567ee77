//! `vibewasm-bench`: runs the shared compute kernels through vibewasm,
//! wasmtime (Cranelift and Winch), Wasmer (singlepass), wasmi and a native
//! clang build, checks every checksum, and prints markdown tables of
//! compile time, load + instantiate time, run time and their ratios. Its
//! `programs` mode runs the WASI programs of `bench/corpus/` through
//! vibewasm, wasmtime and Wasmer, checks their output, and prints compile
//! (one thread and all threads), artifact size, load, instantiate and run
//! time. Its `simd` mode runs the SIMD builds of the kernels
//! (`../shared/bench/kernels-simd/`) and compares them with their scalar
//! twins. See `bench/README.md`.

mod code_size;
mod engines;
mod harness;
mod kernels;
mod large;
mod native;
mod programs;
mod programs_report;
mod report;
mod simd;
mod simd_report;
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
use simd_report::{SimdKernel, SimdReport};

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

/// The options that only the kernels mode uses (their clap ids), besides
/// `kernels`, which the `simd` mode takes too.
const KERNEL_ONLY: &[&str] = &["quick", "nop_calls", "large_mb", "large_from"];

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
    /// `native_main.c`) [default: ../shared/bench/kernels from the workspace
    /// root; for `simd`, ../shared/bench/kernels-simd]
    #[arg(long, global = true)]
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
    /// Runs the SIMD builds of the kernels (`X-simd.wasm`) on every engine
    /// and natively (`X.c` built as the kernels mode does), and their scalar
    /// twins (`X.wasm`) on vibewasm and Cranelift; prints run and compile
    /// time with vibewasm/engine and SIMD/scalar ratios. An engine without
    /// SIMD is shown as refusing the kernels.
    Simd(SimdArgs),
}

#[derive(clap::Args)]
struct SimdArgs {
    /// Directory of the scalar twins and the C sources (`X.wasm`, `X.c`,
    /// `checksums.tsv`, `native_main.c`) [default: ../kernels beside the
    /// SIMD kernels' directory]
    #[arg(long)]
    scalar: Option<PathBuf>,
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
            Some(Mode::Simd(simd)) => bench_simd(&args, simd, &matches),
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

/// The engines of a kernels run.
struct Lineup {
    /// The wasm engines selected, in table order.
    engines: Vec<Box<dyn Engine>>,
    /// Every engine selected, native included: name -> what it is.
    described: Vec<(String, String)>,
    /// Whether the native builds run (selected, and clang is there).
    native: bool,
    /// Why native is skipped, if it is.
    notes: Vec<String>,
}

/// Whether `--engines` selects `name` (all when it is empty).
fn selected(args: &Args, name: &str) -> bool {
    args.engines.is_empty() || args.engines.iter().any(|e| e == name)
}

/// Checks `--engines` and builds the selected engines of [`ENGINES`].
fn lineup(args: &Args) -> Result<Lineup> {
    for name in &args.engines {
        if !ENGINES.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = ENGINES.iter().map(|(n, _)| *n).collect();
            bail!("unknown engine {name:?} (known: {})", known.join(", "));
        }
    }
    let mut notes = Vec::new();
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    let mut described = Vec::new();
    for (name, what) in ENGINES.iter().filter(|(n, _)| *n != "native") {
        if selected(args, name) {
            engines.push(make_engine(name, args)?);
            described.push((name.to_string(), what.to_string()));
        }
    }
    if let Some((_, what)) = described.iter_mut().find(|(n, _)| n == "vibewasm") {
        what.push_str(vibewasm_what(args));
    }
    let native = selected(args, "native") && {
        let found = native::clang_available();
        if !found {
            let note = "native skipped: `clang` is not installed (Debian: apt-get install clang)";
            eprintln!("NOTE: {note}");
            notes.push(note.to_string());
        }
        found
    };
    if native {
        described.push((
            "native".into(),
            format!(
                "clang {} (build.sh's native build)",
                native::CFLAGS.join(" ")
            ),
        ));
    }
    Ok(Lineup {
        engines,
        described,
        native,
        notes,
    })
}

/// Refuses the options of `ids` (clap ids) given on the command line: they
/// belong to another mode.
fn refuse_options(matches: &ArgMatches, ids: &[&str], mode: &str) -> Result<()> {
    for id in ids {
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            bail!(
                "--{} is not an option of the `{mode}` mode",
                id.replace('_', "-")
            );
        }
    }
    Ok(())
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
    let kernels_dir = args.kernels.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels")
    });
    let kernels = kernels::load(&kernels_dir, &args.only)?;
    let scratch = TempDir::new()?;
    let Lineup {
        mut engines,
        described,
        native,
        notes,
    } = lineup(&args)?;

    let mut harness = Harness::new(scratch.0.clone(), args.reps);
    let mut kernel_reports = Vec::new();
    for kernel in &kernels {
        eprintln!("{} ({} bytes of wasm)", kernel.name, kernel.wasm.len());
        let binary = match (&kernel.c_source, native) {
            (Some(source), true) => harness.native_build(&kernel.name, source, &kernels_dir),
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
    write_json(args.json.as_deref(), &report)?;
    Ok(report_failures(
        &report.failures,
        "checksum mismatches or errors",
    ))
}

/// The programs mode; `Ok(false)` when an engine failed or gave a wrong output.
fn bench_programs(args: &Args, mode: &ProgramsArgs, matches: &ArgMatches) -> Result<bool> {
    refuse_options(matches, &["kernels"], "programs")?;
    refuse_options(matches, KERNEL_ONLY, "programs")?;
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
        if !PROGRAM_ENGINES.contains(name) || !selected(args, name) {
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

    let mut harness = Harness::new(scratch.0.clone(), args.reps);
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
    write_json(args.json.as_deref(), &report)?;
    Ok(report_failures(&report.failures, "wrong outputs or errors"))
}

/// The `simd` mode; `Ok(false)` when a checksum or an engine failed.
fn bench_simd(args: &Args, mode: &SimdArgs, matches: &ArgMatches) -> Result<bool> {
    refuse_options(matches, KERNEL_ONLY, "simd")?;
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let dir = args.kernels.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/kernels-simd")
    });
    let scalar_dir = mode
        .scalar
        .clone()
        .unwrap_or_else(|| simd::default_scalar_dir(&dir));
    let mut kernels = kernels::load(&dir, &simd::simd_names(&args.only))?;
    let twins = simd::twins(&mut kernels, &scalar_dir)?;
    let scratch = TempDir::new()?;
    let Lineup {
        mut engines,
        mut described,
        native,
        mut notes,
    } = lineup(args)?;
    if let Some((_, what)) = described.iter_mut().find(|(n, _)| n == "native") {
        *what = format!(
            "clang {} of the scalar kernels' `X.c` (the kernels mode's native build)",
            native::CFLAGS.join(" ")
        );
        notes.push(format!(
            "native: `{}` (the kernels mode's flags: no `-march`, so x86-64's baseline \
             with SSE2; clang's loop and SLP vectorisers are on at -O2): the same binary \
             as the scalar kernels' native column",
            native::command()
        ));
    }

    let mut harness = Harness::new(scratch.0.clone(), args.reps);
    let mut no_simd = Vec::new();
    for engine in &mut engines {
        if let Some(error) = simd::refusal(engine.as_mut()) {
            eprintln!("NOTE: {} has no SIMD: {error}", engine.name());
            harness.may_refuse.push(engine.name());
            no_simd.push((engine.name().to_string(), error));
        }
    }
    let mut scalar_engines = simd::SCALAR_ENGINES
        .iter()
        .filter(|name| selected(args, name))
        .map(|name| make_engine(name, args))
        .collect::<Result<Vec<_>>>()?;

    let mut reports = Vec::new();
    for (kernel, twin) in kernels.iter().zip(&twins) {
        eprintln!("{} ({} bytes of wasm)", kernel.name, kernel.wasm.len());
        let binary = match (&kernel.c_source, native) {
            (Some(source), true) => harness.native_build(&kernel.name, source, &scalar_dir),
            _ => None,
        };
        let simd = harness.kernel(&mut engines, binary.as_deref(), kernel);
        let scalar = (!scalar_engines.is_empty()).then(|| {
            eprintln!(
                "{} ({} bytes of wasm), scalar twin",
                twin.name,
                twin.wasm.len()
            );
            harness.kernel(&mut scalar_engines, None, twin)
        });
        reports.push(SimdKernel { simd, scalar });
    }

    let report = SimdReport {
        engines: described,
        reps: args.reps,
        no_simd,
        kernels: reports,
        notes,
        failures: harness.failures,
    };
    print!("{}", report.markdown());
    write_json(args.json.as_deref(), &report)?;
    Ok(report_failures(
        &report.failures,
        "checksum mismatches or errors",
    ))
}

/// Writes `report` as JSON to `path`, when `--json` asked for it.
fn write_json(path: Option<&Path>, report: &impl serde::Serialize) -> Result<()> {
    if let Some(path) = path {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
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
