//! Timing engines: kernels (compile, load + instantiate, run, checksum),
//! host-to-wasm calls, and compiling a large module.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::engines::{Engine, Threads, WasiArgs, WasiExit};
use crate::kernels::Kernel;
use crate::native;
use crate::programs::Program;
use crate::programs_report::{ProgramReport, ProgramRun};
use crate::report::{mb_per_s, CallOverhead, EngineRun, KernelReport, LargeCompile, LargeReport};
use crate::stats::median;

/// A module with one empty export, for the call-overhead figure.
const NOP_WAT: &str = r#"(module (func (export "nop")))"#;

pub struct Harness {
    /// Scratch directory for artifacts and native binaries.
    pub dir: PathBuf,
    pub reps: usize,
    /// Everything that went wrong, in the words printed at the time.
    pub failures: Vec<String>,
    /// Engines known to lack a feature the kernels may use (e.g. SIMD):
    /// when one of them fails to compile a kernel, that is recorded as a
    /// refusal ([`EngineRun::refused`]), not as a failure.
    pub may_refuse: Vec<&'static str>,
}

/// The context of an error of [`Engine::compile`] in [`one_rep`], so that
/// a refusal to compile can be told from a later error.
#[derive(Debug)]
pub struct CompileFailed;

impl std::fmt::Display for CompileFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("compiling")
    }
}

/// What a repetition runs once instantiated.
pub enum Workload<'a> {
    /// A kernel: instantiate with no imports, call `run`.
    Kernel,
    /// A WASI command: compile on every thread too (timed, then compiled
    /// again on one thread for the rest), instantiate with WASI and these
    /// arguments, call `_start`.
    Program(&'a WasiArgs),
}

/// What the workload gave back.
pub enum Outcome {
    Checksum(i64),
    Exit(WasiExit),
}

/// One repetition's figures.
pub struct Sample {
    /// Programs only: the compile on every thread.
    pub compile_all_s: Option<f64>,
    pub compile_s: f64,
    pub artifact_bytes: Option<u64>,
    pub load_s: f64,
    pub instantiate_s: f64,
    pub run_s: f64,
    pub outcome: Outcome,
}

/// One repetition from nothing: compile, save, load, instantiate, run. The
/// same steps for the kernels and the programs (which add a compile on
/// every thread first).
pub fn one_rep(
    engine: &mut dyn Engine,
    wasm: &[u8],
    dir: &Path,
    workload: &Workload<'_>,
) -> Result<Sample> {
    engine.reset();
    let compile_all_s = match workload {
        Workload::Kernel => None,
        Workload::Program(_) => {
            let start = Instant::now();
            engine.compile(wasm, Threads::All)?;
            let seconds = start.elapsed().as_secs_f64();
            engine.reset();
            Some(seconds)
        }
    };
    let start = Instant::now();
    engine.compile(wasm, Threads::One).context(CompileFailed)?;
    let compile_s = start.elapsed().as_secs_f64();
    let artifact_bytes = engine.save(dir)?;
    let start = Instant::now();
    engine.load()?;
    let loaded = Instant::now();
    engine.instantiate(match workload {
        Workload::Kernel => None,
        Workload::Program(wasi) => Some(wasi),
    })?;
    let instantiated = Instant::now();
    let (load_s, instantiate_s) = (
        (loaded - start).as_secs_f64(),
        (instantiated - loaded).as_secs_f64(),
    );
    let start = Instant::now();
    let outcome = match workload {
        Workload::Kernel => Outcome::Checksum(engine.run()?),
        Workload::Program(_) => Outcome::Exit(engine.run_start()?),
    };
    let run_s = start.elapsed().as_secs_f64();
    engine.reset();
    Ok(Sample {
        compile_all_s,
        compile_s,
        artifact_bytes,
        load_s,
        instantiate_s,
        run_s,
        outcome,
    })
}

impl Harness {
    pub fn new(dir: PathBuf, reps: usize) -> Harness {
        Harness {
            dir,
            reps,
            failures: Vec::new(),
            may_refuse: Vec::new(),
        }
    }

    /// Builds the native binary of `kernel` from `c_source` and the
    /// `native_main.c` of `main_dir` (into the scratch directory); `None`,
    /// with the failure recorded, when clang fails.
    pub fn native_build(
        &mut self,
        kernel: &str,
        c_source: &Path,
        main_dir: &Path,
    ) -> Option<PathBuf> {
        match native::build(c_source, main_dir, &self.dir) {
            Ok(binary) => Some(binary),
            Err(e) => {
                let message = format!("native build of {kernel}: {e:#}");
                eprintln!("\n!!!!!!!! FAILURE: {message}\n");
                self.failures.push(message);
                None
            }
        }
    }

    /// Reports `message` loudly and records it, also in `error`.
    fn fail(&mut self, error: &mut Option<String>, message: String) {
        eprintln!("\n!!!!!!!! FAILURE: {message}\n");
        self.failures.push(message.clone());
        *error = Some(message);
    }

    fn engine_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Runs `kernel` `reps` times on every engine (the repetition loop is
    /// the outer one, so slow drifts of the machine hit every engine alike)
    /// and on the native binary when there is one.
    pub fn kernel(
        &mut self,
        engines: &mut [Box<dyn Engine>],
        native_binary: Option<&Path>,
        kernel: &Kernel,
    ) -> KernelReport {
        let mut runs: Vec<EngineRun> = engines
            .iter()
            .map(|e| EngineRun {
                engine: e.name().to_string(),
                ..EngineRun::default()
            })
            .collect();
        let mut native_run = native_binary.map(|_| EngineRun {
            engine: "native".to_string(),
            ..EngineRun::default()
        });

        for rep in 1..=self.reps {
            for (engine, run) in engines.iter_mut().zip(&mut runs) {
                if run.error.is_some() || run.refused.is_some() {
                    continue;
                }
                let name = engine.name();
                let outcome = self.engine_dir(name).and_then(|dir| {
                    one_rep(engine.as_mut(), &kernel.wasm, &dir, &Workload::Kernel)
                });
                let outcome = match outcome {
                    Err(e)
                        if e.downcast_ref::<CompileFailed>().is_some()
                            && self.may_refuse.contains(&name)
                            && run.run_samples_s.is_empty() =>
                    {
                        eprintln!("  {:<14} {name:<10} refused: {e:#}", kernel.name);
                        engine.reset();
                        run.refused = Some(format!("{e:#}"));
                        continue;
                    }
                    outcome => outcome,
                };
                match outcome {
                    Ok(s) => {
                        let load_instantiate_s = s.load_s + s.instantiate_s;
                        eprintln!(
                            "  {:<14} {name:<10} rep {rep}: compile {:8.3} ms  load+inst {:7.3} ms  run {:7.3} s",
                            kernel.name,
                            s.compile_s * 1e3,
                            load_instantiate_s * 1e3,
                            s.run_s
                        );
                        run.compile_samples_s.push(s.compile_s);
                        run.instantiate_samples_s.push(load_instantiate_s);
                        run.run_samples_s.push(s.run_s);
                        run.artifact_bytes = s.artifact_bytes;
                        let checksum = match s.outcome {
                            Outcome::Checksum(c) => Some(c),
                            Outcome::Exit(_) => None,
                        };
                        if checksum != Some(kernel.checksum) {
                            self.fail(
                                &mut run.error,
                                format!(
                                    "CHECKSUM MISMATCH: {name} on {}: got {}, expected {}",
                                    kernel.name,
                                    checksum.map_or("nothing".to_string(), |c| c.to_string()),
                                    kernel.checksum
                                ),
                            );
                        }
                    }
                    Err(e) => {
                        self.fail(&mut run.error, format!("{name} on {}: {e:#}", kernel.name))
                    }
                }
            }
            if let (Some(binary), Some(run)) = (native_binary, native_run.as_mut()) {
                if run.error.is_some() {
                    continue;
                }
                match native::run(binary) {
                    Ok((checksum, seconds)) => {
                        eprintln!(
                            "  {:<14} {:<10} rep {rep}: {:58} run {seconds:7.3} s",
                            kernel.name, "native", ""
                        );
                        run.run_samples_s.push(seconds);
                        if checksum != kernel.checksum {
                            self.fail(
                                &mut run.error,
                                format!(
                                    "CHECKSUM MISMATCH: native on {}: got {checksum}, expected {}",
                                    kernel.name, kernel.checksum
                                ),
                            );
                        }
                    }
                    Err(e) => {
                        self.fail(&mut run.error, format!("native on {}: {e:#}", kernel.name))
                    }
                }
            }
        }

        for run in runs.iter_mut().chain(native_run.as_mut()) {
            if run.error.is_none() {
                run.compile_s = median(&run.compile_samples_s);
                run.instantiate_s = median(&run.instantiate_samples_s);
                run.run_s = median(&run.run_samples_s);
            }
        }
        runs.extend(native_run);
        KernelReport {
            name: kernel.name.clone(),
            wasm_bytes: kernel.wasm.len(),
            checksum: kernel.checksum,
            engines: runs,
        }
    }

    /// Runs `program` `reps` times on every engine (repetitions outer, as
    /// for the kernels). A wrong output or exit status is a failure: that
    /// engine gets no figures for the program and is not run on it again.
    pub fn program(&mut self, engines: &mut [Box<dyn Engine>], program: &Program) -> ProgramReport {
        let wasi = WasiArgs {
            argv: program.argv(),
        };
        let mut runs: Vec<ProgramRun> = engines
            .iter()
            .map(|e| ProgramRun {
                engine: e.name().to_string(),
                compile_threads: e.parallel_threads().unwrap_or(1),
                ..ProgramRun::default()
            })
            .collect();
        for rep in 1..=self.reps {
            for (engine, run) in engines.iter_mut().zip(&mut runs) {
                if run.error.is_some() {
                    continue;
                }
                let name = engine.name();
                let outcome = self.engine_dir(name).and_then(|dir| {
                    one_rep(
                        engine.as_mut(),
                        &program.wasm,
                        &dir,
                        &Workload::Program(&wasi),
                    )
                });
                let sample = match outcome {
                    Ok(sample) => sample,
                    Err(e) => {
                        self.fail(&mut run.error, format!("{name} on {}: {e:#}", program.name));
                        continue;
                    }
                };
                let Outcome::Exit(exit) = &sample.outcome else {
                    continue;
                };
                for call in &exit.unsupported_calls {
                    if !run.unsupported_calls.contains(call) {
                        run.unsupported_calls.push(call.clone());
                    }
                }
                if let Some(wrong) = check_exit(exit, &program.expected_stdout) {
                    self.fail(
                        &mut run.error,
                        format!("WRONG OUTPUT: {name} on {}: {wrong}", program.name),
                    );
                    continue;
                }
                eprintln!(
                    "  {:<10} {name:<10} rep {rep}: compile {:8.2} ms (all threads {:8.2})  load {:6.3} ms  inst {:6.3} ms  run {:7.3} s",
                    program.name,
                    sample.compile_s * 1e3,
                    sample.compile_all_s.unwrap_or(f64::NAN) * 1e3,
                    sample.load_s * 1e3,
                    sample.instantiate_s * 1e3,
                    sample.run_s
                );
                run.compile_samples_s.push(sample.compile_s);
                run.compile_all_samples_s.extend(sample.compile_all_s);
                run.artifact_bytes = sample.artifact_bytes;
                run.load_samples_s.push(sample.load_s);
                run.instantiate_samples_s.push(sample.instantiate_s);
                run.run_samples_s.push(sample.run_s);
            }
        }
        for run in &mut runs {
            run.finish();
        }
        ProgramReport {
            name: program.name.clone(),
            wasm_bytes: program.wasm.len(),
            argv: wasi.argv,
            engines: runs,
        }
    }

    /// Nanoseconds per call of an empty export: `samples` loops of `calls`
    /// calls each after a warm-up loop; the median loop counts.
    pub fn call_overhead(
        &mut self,
        engine: &mut dyn Engine,
        calls: u64,
        samples: usize,
    ) -> CallOverhead {
        let name = engine.name();
        let mut measure = || -> Result<Vec<f64>> {
            let wasm = wat::parse_str(NOP_WAT)?;
            engine.reset();
            engine.compile(&wasm, Threads::One)?;
            engine.save(&self.engine_dir(name)?)?;
            engine.load()?;
            engine.instantiate(None)?;
            engine.call_nop(calls / 10 + 1)?;
            let mut ns = Vec::new();
            for _ in 0..samples {
                let elapsed = engine.call_nop(calls)?;
                ns.push(elapsed.as_nanos() as f64 / calls as f64);
            }
            engine.reset();
            Ok(ns)
        };
        let result = measure();
        let mut report = CallOverhead {
            engine: name.to_string(),
            calls_per_sample: calls,
            ns_per_call: None,
            samples_ns: Vec::new(),
            error: None,
        };
        match result {
            Ok(ns) => {
                report.ns_per_call = median(&ns);
                eprintln!(
                    "  call overhead {name:<10}: {:.1} ns/call",
                    report.ns_per_call.unwrap_or(f64::NAN)
                );
                report.samples_ns = ns;
            }
            Err(e) => {
                let message = format!("{name} on the nop module: {e:#}");
                eprintln!("\n!!!!!!!! FAILURE: {message}\n");
                self.failures.push(message.clone());
                report.error = Some(message);
            }
        }
        report
    }

    /// Compile time of `wasm` on every engine, `reps` times each.
    pub fn large_module(
        &mut self,
        engines: &mut [Box<dyn Engine>],
        wasm: &[u8],
        from_kernel: &str,
        copies: u32,
    ) -> LargeReport {
        let mut results = Vec::new();
        for engine in engines.iter_mut() {
            let name = engine.name();
            let mut samples = Vec::new();
            let mut error = None;
            for rep in 1..=self.reps {
                engine.reset();
                let start = Instant::now();
                let outcome = engine.compile(wasm, Threads::One);
                let seconds = start.elapsed().as_secs_f64();
                engine.reset();
                match outcome {
                    Ok(()) => {
                        eprintln!(
                            "  large module   {name:<10} rep {rep}: compile {seconds:7.3} s ({:.1} MB/s)",
                            mb_per_s(wasm.len(), seconds)
                        );
                        samples.push(seconds);
                    }
                    Err(e) => {
                        let message = format!("{name} on the large module: {e:#}");
                        eprintln!("\n!!!!!!!! FAILURE: {message}\n");
                        self.failures.push(message.clone());
                        error = Some(message);
                        break;
                    }
                }
            }
            let compile_s = if error.is_none() {
                median(&samples)
            } else {
                None
            };
            results.push(LargeCompile {
                engine: name.to_string(),
                compile_s,
                mb_per_s: compile_s.map(|s| mb_per_s(wasm.len(), s)),
                samples_s: samples,
                error,
            });
        }
        LargeReport {
            from_kernel: from_kernel.to_string(),
            copies,
            wasm_bytes: wasm.len(),
            engines: results,
        }
    }
}

/// What is wrong with how a program ended, if anything: a status other
/// than 0, or stdout other than `expected` (the first differing line).
pub fn check_exit(exit: &WasiExit, expected: &[u8]) -> Option<String> {
    let stderr_tail = || {
        let text = String::from_utf8_lossy(&exit.stderr);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    };
    if exit.status != 0 {
        return Some(format!(
            "exit status {} (stderr ends: {:?})",
            exit.status,
            stderr_tail()
        ));
    }
    if exit.stdout == expected {
        return None;
    }
    let got: Vec<&[u8]> = exit.stdout.split(|&b| b == b'\n').collect();
    let want: Vec<&[u8]> = expected.split(|&b| b == b'\n').collect();
    let line = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let show = |lines: &[&[u8]]| match lines.get(line) {
        Some(l) => {
            let text = String::from_utf8_lossy(l);
            format!("{:?}", text.chars().take(120).collect::<String>())
        }
        None => "end of output".to_string(),
    };
    Some(format!(
        "stdout differs from the expected output at line {}: got {}, expected {} \
         ({} bytes, expected {}; stderr ends: {:?})",
        line + 1,
        show(&got),
        show(&want),
        exit.stdout.len(),
        expected.len(),
        stderr_tail()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(status: i32, stdout: &str) -> WasiExit {
        WasiExit {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: b"note\n".to_vec(),
            unsupported_calls: Vec::new(),
        }
    }

    /// An engine that refuses every module.
    struct Refuser;

    impl Engine for Refuser {
        fn name(&self) -> &'static str {
            "refuser"
        }
        fn compile(&mut self, _: &[u8], _: Threads) -> Result<()> {
            anyhow::bail!("not yet implemented: V128Const")
        }
        fn save(&mut self, _: &Path) -> Result<Option<u64>> {
            Ok(None)
        }
        fn load(&mut self) -> Result<()> {
            Ok(())
        }
        fn instantiate(&mut self, _: Option<&WasiArgs>) -> Result<()> {
            Ok(())
        }
        fn run(&mut self) -> Result<i64> {
            Ok(0)
        }
        fn call_nop(&mut self, _: u64) -> Result<std::time::Duration> {
            Ok(std::time::Duration::ZERO)
        }
        fn reset(&mut self) {}
    }

    #[test]
    fn compile_errors_are_refusals_only_when_expected() {
        let kernel = Kernel {
            name: "k-simd".into(),
            wasm: Vec::new(),
            checksum: 1,
            c_source: None,
        };
        let dir =
            std::env::temp_dir().join(format!("vibewasm-bench-harness-{}", std::process::id()));
        let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(Refuser)];

        let mut harness = Harness::new(dir.clone(), 2);
        let report = harness.kernel(&mut engines, None, &kernel);
        assert_eq!(harness.failures.len(), 1, "{:?}", harness.failures);
        assert!(report.engines[0].refused.is_none());
        assert!(report.engines[0].error.is_some());

        let mut harness = Harness::new(dir.clone(), 2);
        harness.may_refuse.push("refuser");
        let report = harness.kernel(&mut engines, None, &kernel);
        assert!(harness.failures.is_empty(), "{:?}", harness.failures);
        let run = &report.engines[0];
        assert_eq!(
            run.refused.as_deref(),
            Some("compiling: not yet implemented: V128Const")
        );
        assert!(run.error.is_none() && run.run_s.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn outputs_are_checked() {
        assert_eq!(check_exit(&exit(0, "a\nb\n"), b"a\nb\n"), None);
        let wrong = check_exit(&exit(0, "a\nc\n"), b"a\nb\n").unwrap();
        assert!(
            wrong.contains("line 2: got \"c\", expected \"b\""),
            "{wrong}"
        );
        let short = check_exit(&exit(0, "a\n"), b"a\nb\n").unwrap();
        assert!(
            short.contains("line 2: got \"\", expected \"b\""),
            "{short}"
        );
        let status = check_exit(&exit(3, "a\nb\n"), b"a\nb\n").unwrap();
        assert!(status.contains("exit status 3"), "{status}");
    }
}
