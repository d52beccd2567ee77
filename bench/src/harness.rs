//! Timing engines: kernels (compile, load + instantiate, run, checksum),
//! host-to-wasm calls, and compiling a large module.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use crate::engines::Engine;
use crate::kernels::Kernel;
use crate::native;
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
}

/// One repetition's figures.
struct Sample {
    compile_s: f64,
    artifact_bytes: Option<u64>,
    instantiate_s: f64,
    run_s: f64,
    checksum: i64,
}

fn one_rep(engine: &mut dyn Engine, wasm: &[u8], dir: &Path) -> Result<Sample> {
    engine.reset();
    let start = Instant::now();
    engine.compile(wasm)?;
    let compile_s = start.elapsed().as_secs_f64();
    let artifact_bytes = engine.save(dir)?;
    let start = Instant::now();
    engine.instantiate()?;
    let instantiate_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let checksum = engine.run()?;
    let run_s = start.elapsed().as_secs_f64();
    engine.reset();
    Ok(Sample {
        compile_s,
        artifact_bytes,
        instantiate_s,
        run_s,
        checksum,
    })
}

impl Harness {
    fn fail(&mut self, run: &mut EngineRun, message: String) {
        eprintln!("\n!!!!!!!! FAILURE: {message}\n");
        self.failures.push(message.clone());
        run.error = Some(message);
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
                if run.error.is_some() {
                    continue;
                }
                let name = engine.name();
                let outcome = self
                    .engine_dir(name)
                    .and_then(|dir| one_rep(engine.as_mut(), &kernel.wasm, &dir));
                match outcome {
                    Ok(s) => {
                        eprintln!(
                            "  {:<14} {name:<10} rep {rep}: compile {:8.3} ms  load+inst {:7.3} ms  run {:7.3} s",
                            kernel.name,
                            s.compile_s * 1e3,
                            s.instantiate_s * 1e3,
                            s.run_s
                        );
                        run.compile_samples_s.push(s.compile_s);
                        run.instantiate_samples_s.push(s.instantiate_s);
                        run.run_samples_s.push(s.run_s);
                        run.artifact_bytes = s.artifact_bytes;
                        if s.checksum != kernel.checksum {
                            self.fail(
                                run,
                                format!(
                                    "CHECKSUM MISMATCH: {name} on {}: got {}, expected {}",
                                    kernel.name, s.checksum, kernel.checksum
                                ),
                            );
                        }
                    }
                    Err(e) => self.fail(run, format!("{name} on {}: {e:#}", kernel.name)),
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
                                run,
                                format!(
                                    "CHECKSUM MISMATCH: native on {}: got {checksum}, expected {}",
                                    kernel.name, kernel.checksum
                                ),
                            );
                        }
                    }
                    Err(e) => self.fail(run, format!("native on {}: {e:#}", kernel.name)),
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
            engine.compile(&wasm)?;
            engine.save(&self.engine_dir(name)?)?;
            engine.instantiate()?;
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
                let outcome = engine.compile(wasm);
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
