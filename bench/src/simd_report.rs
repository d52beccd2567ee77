//! What the `simd` mode measured (also written as JSON) and its markdown
//! tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{
    columns_table, compile_ms, geomean_cell, run_s, Cell, Column, KernelReport, Metric, VIBEWASM,
};

/// What a cell says for an engine that refused a SIMD module.
pub const REFUSED: &str = "no SIMD: refused";

#[derive(Serialize)]
pub struct SimdReport {
    /// Engine name -> what it is (crate and version, or compiler).
    pub engines: Vec<(String, String)>,
    pub reps: usize,
    /// Engines that refused a one-instruction SIMD module, with their error.
    pub no_simd: Vec<(String, String)>,
    pub kernels: Vec<SimdKernel>,
    pub notes: Vec<String>,
    /// Checksum mismatches and errors; any makes the exit code non-zero.
    pub failures: Vec<String>,
}

#[derive(Serialize)]
pub struct SimdKernel {
    /// `X-simd` on every engine (native: `X.c` built as the kernels mode does).
    pub simd: KernelReport,
    /// The scalar twin `X` on vibewasm and Cranelift (`None`: neither ran).
    pub scalar: Option<KernelReport>,
}

impl SimdKernel {
    fn simd(&self, engine: &str, metric: Metric) -> Cell {
        self.simd.cell(engine, metric, REFUSED)
    }

    fn scalar(&self, engine: &str, metric: Metric) -> Cell {
        match &self.scalar {
            Some(k) => k.cell(engine, metric, REFUSED),
            None => Cell::Absent,
        }
    }
}

impl SimdReport {
    fn engine_names(&self) -> Vec<&str> {
        self.engines.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn refused(&self, engine: &str) -> bool {
        self.no_simd.iter().any(|(n, _)| n == engine)
    }

    /// Whether `engine` has `metric` on at least one SIMD kernel.
    fn has_figures(&self, engine: &str, metric: Metric) -> bool {
        self.kernels
            .iter()
            .any(|k| k.simd(engine, metric).ok().is_some())
    }

    /// Whether `engine` ran at least one scalar twin.
    fn has_scalar(&self, engine: &str) -> bool {
        self.kernels
            .iter()
            .any(|k| k.scalar.as_ref().is_some_and(|s| s.get(engine).is_some()))
    }

    /// A column per engine, then vibewasm/engine for every other engine
    /// with figures, then (for each of `with_scalar` that ran the scalar
    /// twins) its scalar figure and SIMD/scalar.
    fn columns<'a>(
        &'a self,
        engines: &[&'a str],
        with_scalar: &[&'a str],
        metric: Metric,
    ) -> Vec<Column<'a, SimdKernel>> {
        let mut columns: Vec<Column<'a, SimdKernel>> = engines
            .iter()
            .map(|&e| Column::new(e, move |k: &SimdKernel| k.simd(e, metric)))
            .collect();
        if engines.contains(&VIBEWASM) {
            for &e in engines {
                if e != VIBEWASM && self.has_figures(e, metric) {
                    columns.push(Column::ratio(
                        format!("vw/{e}"),
                        move |k: &SimdKernel| k.simd(VIBEWASM, metric),
                        move |k: &SimdKernel| k.simd(e, metric),
                    ));
                }
            }
        }
        for &e in with_scalar {
            if engines.contains(&e) && self.has_scalar(e) {
                let short = if e == VIBEWASM { "vw" } else { e };
                columns.push(Column::new(
                    format!("{short} scalar"),
                    move |k: &SimdKernel| k.scalar(e, metric),
                ));
                columns.push(Column::ratio(
                    format!("{short} SIMD/scalar"),
                    move |k: &SimdKernel| k.simd(e, metric),
                    move |k: &SimdKernel| k.scalar(e, metric),
                ));
            }
        }
        columns
    }

    fn table(&self, out: &mut String, title: &str, columns: &[Column<'_, SimdKernel>]) {
        columns_table(
            out,
            title,
            "kernel",
            &self.kernels,
            |k| (k.simd.name.as_str(), k.simd.wasm_bytes),
            columns,
        );
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        self.summary(&mut out);
        let all = self.engine_names();
        let wasm_engines: Vec<&str> = all.iter().copied().filter(|&e| e != "native").collect();
        let _ = writeln!(
            out,
            "`vw/ENGINE`: vibewasm's figure over that engine's (below 1: vibewasm is faster). \
             `scalar`: the same engine on the scalar build of the same C source \
             (`../kernels/X.wasm`); `SIMD/scalar`: the SIMD build's figure over the scalar \
             build's (below 1: SIMD is faster).\n"
        );
        self.table(
            &mut out,
            "Run time of `run` (s): SIMD builds, and SIMD/scalar",
            &self.columns(&all, crate::simd::SCALAR_ENGINES, run_s),
        );
        self.table(
            &mut out,
            "Compile time (ms), one thread",
            &self.columns(&wasm_engines, crate::simd::SCALAR_ENGINES, compile_ms),
        );
        for (engine, error) in &self.no_simd {
            let refusals = self
                .kernels
                .iter()
                .filter(|k| k.simd.get(engine).is_some_and(|r| r.refused.is_some()))
                .count();
            let _ = writeln!(
                out,
                "- {engine} has no SIMD: it refused a one-instruction SIMD module \
                 (`{}`) and {refusals} of the {} SIMD kernels (compile errors); \
                 `{REFUSED}` is not counted as a failure",
                error.lines().next().unwrap_or_default(),
                self.kernels.len()
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() || !self.no_simd.is_empty() {
            out.push('\n');
        }
        out
    }

    fn summary(&self, out: &mut String) {
        let n = self.kernels.len();
        let _ = writeln!(
            out,
            "## SIMD kernels: geometric means over {n} kernels, medians of {} repetition(s)\n",
            self.reps
        );
        let _ = writeln!(
            out,
            "| engine | what | SIMD | compile ms | run s | vibewasm/engine run | SIMD/scalar run |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|");
        for (name, what) in &self.engines {
            let name = name.as_str();
            let geo = |cell: &dyn Fn(&SimdKernel) -> Cell| {
                let values: Vec<f64> = self.kernels.iter().filter_map(|k| cell(k).ok()).collect();
                geomean_cell(&values, n)
            };
            let refused = self.refused(name);
            let or_refused = |s: String| if refused { REFUSED.to_string() } else { s };
            let simd = match (refused, name) {
                (true, _) => "no",
                (false, "native") => "SSE2 (clang's vectorisers)",
                (false, _) => "yes",
            };
            let compile = if name == "native" {
                "-".to_string()
            } else {
                or_refused(geo(&|k| k.simd(name, compile_ms)))
            };
            let run = or_refused(geo(&|k| k.simd(name, run_s)));
            let ratio = if name == VIBEWASM {
                "1".to_string()
            } else {
                or_refused(geo(&|k| {
                    Cell::Value(
                        k.simd(VIBEWASM, run_s)
                            .ok()
                            .zip(k.simd(name, run_s).ok())
                            .map(|(a, b)| a / b),
                    )
                }))
            };
            let simd_scalar = if self.has_scalar(name) {
                geo(&|k| {
                    Cell::Value(
                        k.simd(name, run_s)
                            .ok()
                            .zip(k.scalar(name, run_s).ok())
                            .map(|(a, b)| a / b),
                    )
                })
            } else {
                "-".to_string()
            };
            let _ = writeln!(
                out,
                "| {name} | {what} | {simd} | {compile} | {run} | {ratio} | {simd_scalar} |"
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::EngineRun;

    fn run(engine: &str, compile_s: f64, run_s: f64) -> EngineRun {
        EngineRun {
            engine: engine.to_string(),
            compile_s: Some(compile_s),
            run_s: Some(run_s),
            ..EngineRun::default()
        }
    }

    fn kernel(name: &str, engines: Vec<EngineRun>) -> KernelReport {
        KernelReport {
            name: name.into(),
            wasm_bytes: 1000,
            checksum: 1,
            engines,
        }
    }

    #[test]
    fn tables_have_refusals_ratios_and_simd_over_scalar() {
        let refused = || EngineRun {
            engine: "singlepass".into(),
            refused: Some("compiling: SIMD is not supported".into()),
            ..EngineRun::default()
        };
        let report = SimdReport {
            engines: vec![
                ("vibewasm".into(), "this".into()),
                ("singlepass".into(), "Wasmer".into()),
                ("native".into(), "clang".into()),
            ],
            reps: 1,
            no_simd: vec![("singlepass".into(), "SIMD is not supported".into())],
            kernels: vec![
                SimdKernel {
                    simd: kernel(
                        "a-simd",
                        vec![
                            run("vibewasm", 0.001, 1.0),
                            refused(),
                            EngineRun {
                                compile_s: None,
                                ..run("native", 0.0, 0.5)
                            },
                        ],
                    ),
                    scalar: Some(kernel("a", vec![run("vibewasm", 0.001, 2.0)])),
                },
                SimdKernel {
                    simd: kernel(
                        "b-simd",
                        vec![
                            run("vibewasm", 0.004, 4.0),
                            refused(),
                            EngineRun {
                                compile_s: None,
                                ..run("native", 0.0, 2.0)
                            },
                        ],
                    ),
                    scalar: Some(kernel("b", vec![run("vibewasm", 0.002, 2.0)])),
                },
            ],
            notes: Vec::new(),
            failures: Vec::new(),
        };
        let md = report.markdown();
        // Columns: vibewasm, singlepass, native, vw/native (no vw/singlepass:
        // it has no figures), vw scalar, vw SIMD/scalar.
        assert!(
            md.contains("| kernel | wasm bytes | vibewasm | singlepass | native | vw/native | vw scalar | vw SIMD/scalar |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| a-simd | 1000 | 1.00 | no SIMD: refused | 0.500 | 2.00 | 2.00 | 0.500 |"
            ),
            "{md}"
        );
        // SIMD/scalar 0.5 and 2: geometric mean 1.
        assert!(
            md.contains("| **geomean** | | 2.00 | - | 1.00 | 2.00 | 2.00 | 1.00 |"),
            "{md}"
        );
        // Compile time: no native column.
        assert!(
            md.contains("| a-simd | 1000 | 1.00 | no SIMD: refused | 1.00 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| singlepass | Wasmer | no | no SIMD: refused | no SIMD: refused | no SIMD: refused | - |"),
            "{md}"
        );
        assert!(
            md.contains("| vibewasm | this | yes | 2.00 | 2.00 | 1 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("- singlepass has no SIMD: it refused a one-instruction SIMD module (`SIMD is not supported`) and 2 of the 2 SIMD kernels"),
            "{md}"
        );
    }
}
