//! What the programs mode measured (also written as JSON) and its markdown
//! tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::programs::WorkloadKind;
use crate::report::{geomean_cell, item_table, Cell, VIBEWASM};
use crate::stats::median;

#[derive(Serialize)]
pub struct ProgramsReport {
    /// Engine name -> what it is (crate and version, compiler, WASI host).
    pub engines: Vec<(String, String)>,
    pub reps: usize,
    pub workload: WorkloadKind,
    /// Threads of a parallel compile ("all threads").
    pub threads: usize,
    pub programs: Vec<ProgramReport>,
    pub notes: Vec<String>,
    /// Wrong outputs and errors; any makes the exit code non-zero.
    pub failures: Vec<String>,
}

#[derive(Serialize)]
pub struct ProgramReport {
    pub name: String,
    pub wasm_bytes: usize,
    /// `argv`, the program's name first.
    pub argv: Vec<String>,
    pub engines: Vec<ProgramRun>,
}

/// One engine on one program: medians over the repetitions (`None` when
/// the engine failed) and the raw samples.
#[derive(Serialize, Default)]
pub struct ProgramRun {
    pub engine: String,
    /// Threads of its "all threads" compile (1: it has no parallel compile).
    pub compile_threads: usize,
    pub compile_s: Option<f64>,
    pub compile_all_s: Option<f64>,
    pub artifact_bytes: Option<u64>,
    pub load_s: Option<f64>,
    pub instantiate_s: Option<f64>,
    pub run_s: Option<f64>,
    pub compile_samples_s: Vec<f64>,
    pub compile_all_samples_s: Vec<f64>,
    pub load_samples_s: Vec<f64>,
    pub instantiate_samples_s: Vec<f64>,
    pub run_samples_s: Vec<f64>,
    /// WASI functions the program called that the host lacks (`ENOSYS`).
    pub unsupported_calls: Vec<String>,
    pub error: Option<String>,
}

impl ProgramRun {
    /// The medians of the samples, unless the engine failed.
    pub fn finish(&mut self) {
        if self.error.is_none() {
            self.compile_s = median(&self.compile_samples_s);
            self.compile_all_s = median(&self.compile_all_samples_s);
            self.load_s = median(&self.load_samples_s);
            self.instantiate_s = median(&self.instantiate_samples_s);
            self.run_s = median(&self.run_samples_s);
        }
    }
}

/// A per-program figure of an engine.
type Metric = fn(&ProgramRun) -> Option<f64>;

/// Every metric: column title of the summaries, table title, the figure.
const METRICS: &[(&str, &str, Metric)] = &[
    (
        "run ms",
        "Run time of `_start` with the workload (ms)",
        |r| r.run_s.map(|s| s * 1e3),
    ),
    (
        "compile ms (1 thread)",
        "Compile time on one thread (ms)",
        |r| r.compile_s.map(|s| s * 1e3),
    ),
    (
        "compile ms (all threads)",
        "Compile time on all threads (ms)",
        |r| r.compile_all_s.map(|s| s * 1e3),
    ),
    ("artifact KiB", "Compiled artifact size (KiB)", |r| {
        r.artifact_bytes.map(|b| b as f64 / 1024.0)
    }),
    (
        "load ms",
        "Load: artifact file to a module ready to instantiate (ms)",
        |r| r.load_s.map(|s| s * 1e3),
    ),
    (
        "instantiate ms",
        "Instantiate: store + WASI imports + instance (ms)",
        |r| r.instantiate_s.map(|s| s * 1e3),
    ),
];

impl ProgramReport {
    fn cell(&self, engine: &str, metric: Metric) -> Cell {
        match self.engines.iter().find(|r| r.engine == engine) {
            Some(r) if r.error.is_some() => Cell::Fail,
            Some(r) => Cell::Value(metric(r)),
            None => Cell::Absent,
        }
    }

    fn value(&self, engine: &str, metric: Metric) -> Option<f64> {
        match self.cell(engine, metric) {
            Cell::Value(v) => v,
            _ => None,
        }
    }
}

impl ProgramsReport {
    fn engine_names(&self) -> Vec<&str> {
        self.engines.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// vibewasm's `metric` over `other`'s on every program where both have it.
    fn ratios(&self, other: &str, metric: Metric) -> Vec<f64> {
        self.programs
            .iter()
            .filter_map(|p| Some(p.value(VIBEWASM, metric)? / p.value(other, metric)?))
            .collect()
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let n = self.programs.len();
        let engines = self.engine_names();
        let _ = writeln!(
            out,
            "## Programs: {n} WASI programs ({} workload), medians of {} repetition(s)\n",
            match self.workload {
                WorkloadKind::Bench => "bench",
                WorkloadKind::Test => "test",
            },
            self.reps
        );
        let _ = writeln!(out, "\"all threads\" is {} thread(s) here.\n", self.threads);

        // Geometric means of each engine's figures.
        let _ = write!(out, "| engine | what |");
        let mut rule = "|---|---|".to_string();
        for (column, _, _) in METRICS {
            let _ = write!(out, " {column} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "\n{rule}");
        for (name, what) in &self.engines {
            let _ = write!(out, "| {name} | {what} |");
            for (_, _, metric) in METRICS {
                let values: Vec<f64> = self
                    .programs
                    .iter()
                    .filter_map(|p| p.value(name, *metric))
                    .collect();
                let _ = write!(out, " {} |", geomean_cell(&values, n));
            }
            out.push('\n');
        }
        out.push('\n');

        // Geometric means of the per-program ratios.
        if engines.contains(&VIBEWASM) && engines.len() > 1 {
            let _ = writeln!(
                out,
                "vibewasm/engine, geometric means of the per-program ratios \
                 (below 1: vibewasm is faster or smaller):\n"
            );
            let _ = write!(out, "| vibewasm / |");
            for (column, _, _) in METRICS {
                let _ = write!(out, " {column} |");
            }
            let _ = writeln!(out, "\n{}", rule.replacen("|---|---|", "|---|", 1));
            for &other in engines.iter().filter(|&&e| e != VIBEWASM) {
                let _ = write!(out, "| {other} |");
                for (_, _, metric) in METRICS {
                    let _ = write!(out, " {} |", geomean_cell(&self.ratios(other, *metric), n));
                }
                out.push('\n');
            }
            out.push('\n');
        }

        for (_, title, metric) in METRICS {
            item_table(
                &mut out,
                title,
                "program",
                &self.programs,
                |p| (p.name.as_str(), p.wasm_bytes),
                &engines,
                true,
                |p, e| p.cell(e, *metric),
            );
        }

        let _ = writeln!(out, "Workloads (`argv`):\n");
        for p in &self.programs {
            let _ = writeln!(out, "- `{}`", p.argv.join(" "));
        }
        out.push('\n');
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(engine: &str, compile_s: f64, run_s: f64) -> ProgramRun {
        ProgramRun {
            engine: engine.to_string(),
            compile_threads: 1,
            compile_s: Some(compile_s),
            compile_all_s: Some(compile_s / 2.0),
            artifact_bytes: Some(4096),
            load_s: Some(1e-4),
            instantiate_s: Some(1e-4),
            run_s: Some(run_s),
            ..ProgramRun::default()
        }
    }

    #[test]
    fn tables_have_ratios_and_geomeans() {
        let program = |name: &str, vw: f64, winch: f64, winch_fails: bool| ProgramReport {
            name: name.into(),
            wasm_bytes: 1000,
            argv: vec![name.into(), "1".into()],
            engines: vec![run("vibewasm", 0.001, vw), {
                let mut r = run("winch", 0.002, winch);
                if winch_fails {
                    r.error = Some("wrong output".into());
                }
                r
            }],
        };
        let report = ProgramsReport {
            engines: vec![
                ("vibewasm".into(), "this".into()),
                ("winch".into(), "wasmtime".into()),
            ],
            reps: 1,
            workload: WorkloadKind::Bench,
            threads: 2,
            programs: vec![
                program("a", 1.0, 2.0, false),
                program("b", 4.0, 2.0, false),
                program("c", 1.0, 1.0, true),
            ],
            notes: Vec::new(),
            failures: Vec::new(),
        };
        let md = report.markdown();
        assert!(md.contains("| a | 1000 | 1000 | 2000 | 0.500 |"), "{md}");
        assert!(md.contains("| c | 1000 | 1000 | FAIL | - |"), "{md}");
        // Ratios 0.5 and 2 (c failed on winch): geometric mean 1, of 2 of 3.
        assert!(
            md.contains("| **geomean** | | 1587 | 2000 (2/3) | 1.00 (2/3) |"),
            "{md}"
        );
        // Summary of ratios: run, compile (0.5), compile all (0.5), artifact (1).
        assert!(
            md.contains("| winch | 1.00 (2/3) | 0.500 (2/3) | 0.500 (2/3) | 1.00 (2/3) |"),
            "{md}"
        );
        assert!(md.contains("- `a 1`"), "{md}");
    }
}
