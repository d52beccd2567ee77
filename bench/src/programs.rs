//! The program corpus (`bench/corpus/`): WASI preview1 command programs
//! (`wasm/NAME.wasm`), their workloads and expected outputs, listed in
//! `programs.tsv`.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Which of a program's two workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// The benchmark's workload (`expected/NAME.bench.txt`).
    Bench,
    /// The corpus test's small workload (`expected/NAME.txt`): a quick check.
    Test,
}

pub struct Program {
    pub name: String,
    pub wasm: Vec<u8>,
    /// The program's arguments for the chosen workload (without `argv[0]`).
    pub args: Vec<String>,
    /// What it must write to stdout.
    pub expected_stdout: Vec<u8>,
}

impl Program {
    /// `argv` as the program sees it: its name (the file name without
    /// `.wasm`, as the corpus's reference runner gives it), then its arguments.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// One line of `programs.tsv`.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    test_args: Vec<String>,
    bench_args: Vec<String>,
    /// The expected stdout files, relative to the corpus directory.
    test_expected: String,
    bench_expected: String,
}

/// Loads the programs of `dir` in the order of its `programs.tsv`, keeping
/// only those named in `only` when it is not empty.
pub fn load(dir: &Path, only: &[String], workload: WorkloadKind) -> Result<Vec<Program>> {
    let tsv_path = dir.join("programs.tsv");
    let tsv = std::fs::read_to_string(&tsv_path)
        .with_context(|| format!("reading {}", tsv_path.display()))?;
    let entries = parse(&tsv).with_context(|| tsv_path.display().to_string())?;
    for name in only {
        if !entries.iter().any(|e| &e.name == name) {
            let known: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            bail!(
                "no program {name} in {} (known: {})",
                tsv_path.display(),
                known.join(", ")
            );
        }
    }
    let mut programs = Vec::new();
    for entry in entries {
        if !only.is_empty() && !only.contains(&entry.name) {
            continue;
        }
        let wasm_path = dir.join("wasm").join(format!("{}.wasm", entry.name));
        let wasm = std::fs::read(&wasm_path)
            .with_context(|| format!("reading {}", wasm_path.display()))?;
        let (args, expected) = match workload {
            WorkloadKind::Bench => (entry.bench_args, entry.bench_expected),
            WorkloadKind::Test => (entry.test_args, entry.test_expected),
        };
        let expected_path = dir.join(expected);
        let expected_stdout = std::fs::read(&expected_path)
            .with_context(|| format!("reading {}", expected_path.display()))?;
        programs.push(Program {
            name: entry.name,
            wasm,
            args,
            expected_stdout,
        });
    }
    if programs.is_empty() {
        bail!("no programs to run in {}", dir.display());
    }
    Ok(programs)
}

/// `name<TAB>test args<TAB>bench args<TAB>test expected stdout<TAB>bench
/// expected stdout` lines (arguments separated by spaces, the files
/// relative to the corpus); `#` starts a comment line.
fn parse(tsv: &str) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for (number, line) in tsv.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, test, bench, test_expected, bench_expected] = fields[..] else {
            bail!(
                "line {}: expected 5 fields: name, test args, bench args, \
                 test expected stdout, bench expected stdout",
                number + 1
            );
        };
        if out.iter().any(|e| e.name == name) {
            bail!("line {}: {name} listed twice", number + 1);
        }
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
        out.push(Entry {
            name: name.to_string(),
            test_args: words(test),
            bench_args: words(bench),
            test_expected: test_expected.to_string(),
            bench_expected: bench_expected.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse() {
        let tsv = "# name\ttest\tbench\ttest out\tbench out\n\
                   sqlite\t100\t20000 x\texpected/sqlite.txt\texpected/sqlite.bench.txt\n";
        assert_eq!(
            parse(tsv).unwrap(),
            [Entry {
                name: "sqlite".into(),
                test_args: vec!["100".into()],
                bench_args: vec!["20000".into(), "x".into()],
                test_expected: "expected/sqlite.txt".into(),
                bench_expected: "expected/sqlite.bench.txt".into(),
            }]
        );
        assert!(parse("a\t1\t2\n").is_err());
        assert!(parse("a\t1\t2\tx\ty\na\t1\t2\tx\ty\n").is_err());
    }
}
