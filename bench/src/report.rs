//! What a run measured (also written as JSON) and its markdown tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::geomean;

/// The reference engine: every ratio is vibewasm's figure over another's.
pub const VIBEWASM: &str = "vibewasm";

#[derive(Serialize)]
pub struct Report {
    /// Engine name -> what it is (crate and version, or compiler).
    pub engines: Vec<(String, String)>,
    pub reps: usize,
    pub kernels: Vec<KernelReport>,
    pub call_overhead: Vec<CallOverhead>,
    pub large_module: Option<LargeReport>,
    /// Notes printed under the tables (e.g. why native was skipped).
    pub notes: Vec<String>,
    /// Checksum mismatches and errors; any makes the exit code non-zero.
    pub failures: Vec<String>,
}

#[derive(Serialize)]
pub struct KernelReport {
    pub name: String,
    pub wasm_bytes: usize,
    pub checksum: i64,
    pub engines: Vec<EngineRun>,
}

/// One engine on one kernel: medians over the repetitions (`None` when the
/// engine failed or has no such step) and the raw samples.
#[derive(Serialize, Default)]
pub struct EngineRun {
    pub engine: String,
    pub compile_s: Option<f64>,
    pub instantiate_s: Option<f64>,
    pub run_s: Option<f64>,
    pub artifact_bytes: Option<u64>,
    pub compile_samples_s: Vec<f64>,
    pub instantiate_samples_s: Vec<f64>,
    pub run_samples_s: Vec<f64>,
    pub error: Option<String>,
    /// The engine refused to compile the module (a feature it lacks, which
    /// the harness was told to expect): no figures, and not a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Serialize)]
pub struct CallOverhead {
    pub engine: String,
    pub calls_per_sample: u64,
    pub ns_per_call: Option<f64>,
    pub samples_ns: Vec<f64>,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct LargeReport {
    pub from_kernel: String,
    pub copies: u32,
    pub wasm_bytes: usize,
    pub engines: Vec<LargeCompile>,
}

#[derive(Serialize)]
pub struct LargeCompile {
    pub engine: String,
    pub compile_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    pub samples_s: Vec<f64>,
    pub error: Option<String>,
}

/// Decimal megabytes per second.
pub fn mb_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

impl KernelReport {
    pub(crate) fn get(&self, engine: &str) -> Option<&EngineRun> {
        self.engines.iter().find(|r| r.engine == engine)
    }

    /// `metric` of `engine` on this kernel, unless the engine failed on it.
    fn value(&self, engine: &str, metric: Metric) -> Option<f64> {
        self.get(engine)
            .filter(|r| r.error.is_none())
            .and_then(|r| metric(self, r))
    }

    /// `metric` of `engine` on this kernel as a table cell; `refused` is
    /// what the cell says when the engine refused the module.
    pub(crate) fn cell(&self, engine: &str, metric: Metric, refused: &'static str) -> Cell {
        match self.get(engine) {
            Some(r) if r.error.is_some() => Cell::Fail,
            Some(r) if r.refused.is_some() => Cell::Note(refused),
            Some(r) => Cell::Value(metric(self, r)),
            None => Cell::Absent,
        }
    }
}

/// A per-kernel figure of an engine, e.g. its median run time.
pub(crate) type Metric = fn(&KernelReport, &EngineRun) -> Option<f64>;

pub(crate) fn run_s(_: &KernelReport, r: &EngineRun) -> Option<f64> {
    r.run_s
}
pub(crate) fn compile_ms(_: &KernelReport, r: &EngineRun) -> Option<f64> {
    r.compile_s.map(|s| s * 1e3)
}
fn compile_mb_s(k: &KernelReport, r: &EngineRun) -> Option<f64> {
    r.compile_s.map(|s| mb_per_s(k.wasm_bytes, s))
}
fn instantiate_ms(_: &KernelReport, r: &EngineRun) -> Option<f64> {
    r.instantiate_s.map(|s| s * 1e3)
}
fn artifact_kib(_: &KernelReport, r: &EngineRun) -> Option<f64> {
    r.artifact_bytes.map(|b| b as f64 / 1024.0)
}

/// Three significant digits or so, without exponents.
fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub(crate) fn cell(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), num)
}

/// A geometric mean that says how many kernels it covers when not all.
pub(crate) fn geomean_cell(values: &[f64], of: usize) -> String {
    match geomean(values) {
        Some(g) if values.len() == of => num(g),
        Some(g) => format!("{} ({}/{of})", num(g), values.len()),
        None => "-".to_string(),
    }
}

/// One engine's figure on one kernel or program.
pub(crate) enum Cell {
    /// The engine did not run it.
    Absent,
    /// The engine failed on it (error or wrong answer).
    Fail,
    /// Why there is no figure, e.g. `"no SIMD: refused"`.
    Note(&'static str),
    /// The figure, `None` for a step the engine does not have.
    Value(Option<f64>),
}

impl Cell {
    pub(crate) fn ok(&self) -> Option<f64> {
        match self {
            Cell::Value(v) => *v,
            _ => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Cell::Absent => "-".to_string(),
            Cell::Fail => "FAIL".to_string(),
            Cell::Note(note) => note.to_string(),
            Cell::Value(v) => cell(*v),
        }
    }
}

/// A column of [`columns_table`]: its title and each row's cell.
pub(crate) struct Column<'a, R> {
    pub title: String,
    pub cell: Box<dyn Fn(&R) -> Cell + 'a>,
}

impl<'a, R> Column<'a, R> {
    pub(crate) fn new(title: impl Into<String>, cell: impl Fn(&R) -> Cell + 'a) -> Self {
        Column {
            title: title.into(),
            cell: Box::new(cell),
        }
    }

    /// `numerator / denominator` of the row, when both are figures.
    pub(crate) fn ratio(
        title: impl Into<String>,
        numerator: impl Fn(&R) -> Cell + 'a,
        denominator: impl Fn(&R) -> Cell + 'a,
    ) -> Self {
        Column::new(title, move |row| {
            Cell::Value(
                numerator(row)
                    .ok()
                    .zip(denominator(row).ok())
                    .map(|(a, b)| a / b),
            )
        })
    }
}

/// A table with `items` (kernels or programs: a name and a wasm size) as
/// rows and `columns`, and a geometric-mean row: of each column's figures
/// (over the items that have one).
pub(crate) fn columns_table<R>(
    out: &mut String,
    title: &str,
    label: &str,
    items: &[R],
    name: impl Fn(&R) -> (&str, usize),
    columns: &[Column<'_, R>],
) {
    let _ = writeln!(out, "### {title}\n");
    let mut header = format!("| {label} | wasm bytes |");
    let mut rule = "|---|---:|".to_string();
    for c in columns {
        let _ = write!(header, " {} |", c.title);
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for item in items {
        let (n, bytes) = name(item);
        let _ = write!(out, "| {n} | {bytes} |");
        for c in columns {
            let _ = write!(out, " {} |", (c.cell)(item).text());
        }
        out.push('\n');
    }
    let _ = write!(out, "| **geomean** | |");
    for c in columns {
        let values: Vec<f64> = items.iter().filter_map(|i| (c.cell)(i).ok()).collect();
        let _ = write!(out, " {} |", geomean_cell(&values, items.len()));
    }
    out.push_str("\n\n");
}

/// A table with `items` (kernels or programs: a name and a wasm size) as
/// rows and `engines` as columns, then (with `ratios`, when vibewasm is one
/// of them) one vibewasm/engine column per other engine, and a
/// geometric-mean row: of each engine's figures, and of the per-item
/// ratios (over the items where both have a figure).
#[allow(clippy::too_many_arguments)]
pub(crate) fn item_table<R>(
    out: &mut String,
    title: &str,
    label: &str,
    items: &[R],
    name: impl Fn(&R) -> (&str, usize),
    engines: &[&str],
    ratios: bool,
    value: impl Fn(&R, &str) -> Cell,
) {
    let value = &value;
    let mut columns: Vec<Column<'_, R>> = engines
        .iter()
        .map(|&e| Column::new(e, move |item| value(item, e)))
        .collect();
    if ratios && engines.contains(&VIBEWASM) {
        columns.extend(engines.iter().filter(|&&e| e != VIBEWASM).map(|&e| {
            Column::ratio(
                format!("vw/{e}"),
                move |item| value(item, VIBEWASM),
                move |item| value(item, e),
            )
        }));
    }
    columns_table(out, title, label, items, name, &columns);
}

impl Report {
    fn engine_names(&self) -> Vec<&str> {
        self.engines.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `metric` of `engine` on every kernel where it has a value.
    fn values(&self, engine: &str, metric: Metric) -> Vec<f64> {
        self.kernels
            .iter()
            .filter_map(|k| k.value(engine, metric))
            .collect()
    }

    /// vibewasm's `metric` over `other`'s, on every kernel where both have it.
    fn ratios(&self, other: &str, metric: Metric) -> Vec<f64> {
        self.kernels
            .iter()
            .filter_map(|k| Some(k.value(VIBEWASM, metric)? / k.value(other, metric)?))
            .collect()
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        self.summary(&mut out);
        let wasm_engines: Vec<&str> = self
            .engine_names()
            .into_iter()
            .filter(|&e| e != "native")
            .collect();
        let all = self.engine_names();
        self.kernel_table(&mut out, "Run time of `run` (s)", &all, run_s, true);
        self.kernel_table(
            &mut out,
            "Compile time (ms)",
            &wasm_engines,
            compile_ms,
            true,
        );
        self.kernel_table(
            &mut out,
            "Compile throughput (MB of wasm per s)",
            &wasm_engines,
            compile_mb_s,
            false,
        );
        self.kernel_table(
            &mut out,
            "Load + instantiate (ms)",
            &wasm_engines,
            instantiate_ms,
            true,
        );
        let with_files: Vec<&str> = wasm_engines
            .iter()
            .copied()
            .filter(|&e| e != "wasmi")
            .collect();
        self.kernel_table(
            &mut out,
            "Compiled artifact size (KiB)",
            &with_files,
            artifact_kib,
            true,
        );
        self.call_table(&mut out);
        self.large_table(&mut out);
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }

    fn summary(&self, out: &mut String) {
        let n = self.kernels.len();
        let _ = writeln!(
            out,
            "## Summary: geometric means over {n} kernels, medians of {} repetition(s)\n",
            self.reps
        );
        let _ = writeln!(
            out,
            "| engine | what | compile ms | compile MB/s | load+inst ms | run s | vibewasm/engine run | call ns | large-module MB/s |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, what) in &self.engines {
            let geo = |m: Metric| geomean_cell(&self.values(name, m), n);
            let native = name == "native";
            let skip = |s: String| if native { "-".to_string() } else { s };
            let ratio = if name == VIBEWASM {
                "1".to_string()
            } else {
                geomean_cell(&self.ratios(name, run_s), n)
            };
            let call = self
                .call_overhead
                .iter()
                .find(|c| &c.engine == name)
                .and_then(|c| c.ns_per_call);
            let large = self
                .large_module
                .as_ref()
                .and_then(|l| l.engines.iter().find(|e| &e.engine == name))
                .and_then(|e| e.mb_per_s);
            let _ = writeln!(
                out,
                "| {name} | {what} | {} | {} | {} | {} | {ratio} | {} | {} |",
                skip(geo(compile_ms)),
                skip(geo(compile_mb_s)),
                skip(geo(instantiate_ms)),
                geo(run_s),
                cell(call),
                cell(large),
            );
        }
        out.push('\n');
    }

    /// Kernels as rows, `engines` as columns, then (with `ratios`) one
    /// vibewasm/engine column per other engine; a geometric-mean row last.
    fn kernel_table(
        &self,
        out: &mut String,
        title: &str,
        engines: &[&str],
        metric: Metric,
        ratios: bool,
    ) {
        item_table(
            out,
            title,
            "kernel",
            &self.kernels,
            |k| (k.name.as_str(), k.wasm_bytes),
            engines,
            ratios,
            |k, e| k.cell(e, metric, "refused"),
        );
    }

    fn call_table(&self, out: &mut String) {
        if self.call_overhead.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "### Host-to-wasm call overhead (ns per call of an empty export)\n"
        );
        let _ = writeln!(out, "| engine | ns/call | calls per sample |");
        let _ = writeln!(out, "|---|---:|---:|");
        for c in &self.call_overhead {
            let value = if c.error.is_some() {
                "FAIL".to_string()
            } else {
                cell(c.ns_per_call)
            };
            let _ = writeln!(out, "| {} | {value} | {} |", c.engine, c.calls_per_sample);
        }
        out.push('\n');
    }

    fn large_table(&self, out: &mut String) {
        let Some(large) = &self.large_module else {
            return;
        };
        let _ = writeln!(
            out,
            "### Compile throughput on a large module ({:.1} MB: {} copies of every function of {}.wasm)\n",
            large.wasm_bytes as f64 / 1e6,
            large.copies,
            large.from_kernel
        );
        let ours = large
            .engines
            .iter()
            .find(|e| e.engine == VIBEWASM)
            .and_then(|e| e.compile_s);
        let _ = writeln!(out, "| engine | compile s | MB/s | vibewasm/engine time |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for e in &large.engines {
            let time = if e.error.is_some() {
                "FAIL".to_string()
            } else {
                cell(e.compile_s)
            };
            let ratio = ours.zip(e.compile_s).map(|(a, b)| a / b);
            let _ = writeln!(
                out,
                "| {} | {time} | {} | {} |",
                e.engine,
                cell(e.mb_per_s),
                cell(ratio)
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(engine: &str, compile_s: f64, run_s: f64) -> EngineRun {
        EngineRun {
            engine: engine.to_string(),
            compile_s: Some(compile_s),
            instantiate_s: Some(1e-4),
            run_s: Some(run_s),
            artifact_bytes: Some(4096),
            ..EngineRun::default()
        }
    }

    #[test]
    fn tables_have_ratios_and_geomeans() {
        let report = Report {
            engines: vec![
                ("vibewasm".into(), "this".into()),
                ("winch".into(), "wasmtime".into()),
            ],
            reps: 1,
            kernels: vec![
                KernelReport {
                    name: "a".into(),
                    wasm_bytes: 1000,
                    checksum: 1,
                    engines: vec![run("vibewasm", 0.001, 1.0), run("winch", 0.002, 2.0)],
                },
                KernelReport {
                    name: "b".into(),
                    wasm_bytes: 1000,
                    checksum: 1,
                    engines: vec![run("vibewasm", 0.001, 4.0), run("winch", 0.002, 2.0)],
                },
            ],
            call_overhead: Vec::new(),
            large_module: None,
            notes: Vec::new(),
            failures: Vec::new(),
        };
        let md = report.markdown();
        // Run-time ratios 0.5 and 2: geometric mean 1.
        assert!(md.contains("| a | 1000 | 1.00 | 2.00 | 0.500 |"), "{md}");
        assert!(
            md.contains("| **geomean** | | 2.00 | 2.00 | 1.00 |"),
            "{md}"
        );
        // 1000 bytes in 1 ms is 1 MB/s.
        assert!(md.contains("| vibewasm | this | 1.00 | 1.00 |"), "{md}");
    }
}
