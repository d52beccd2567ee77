//! The shared compute kernels: `*.wasm` files with their expected checksums
//! from `checksums.tsv` and the C source each was built from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The kernels `--quick` runs: one each for calls, memory, floats, integer
/// bit operations and `br_table` dispatch.
pub const QUICK: &[&str] = &["fib", "sieve", "matmul", "sha256", "interp"];

pub struct Kernel {
    pub name: String,
    pub wasm: Vec<u8>,
    /// What `run` must return.
    pub checksum: i64,
    /// The C file of the native build (`bulkmem-modern` shares `bulkmem.c`).
    pub c_source: Option<PathBuf>,
}

/// Loads the kernels of `dir` in the order of its `checksums.tsv`, keeping
/// only those named in `only` when it is not empty. A `.wasm` file without
/// a checksum is an error: it could not be checked.
pub fn load(dir: &Path, only: &[String]) -> Result<Vec<Kernel>> {
    let tsv_path = dir.join("checksums.tsv");
    let tsv = std::fs::read_to_string(&tsv_path)
        .with_context(|| format!("reading {}", tsv_path.display()))?;
    let checksums = parse_checksums(&tsv).with_context(|| tsv_path.display().to_string())?;

    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                on_disk.push(stem.to_string());
            }
        }
    }
    for name in &on_disk {
        if !checksums.iter().any(|(n, _)| n == name) {
            bail!("{name}.wasm has no line in {}", tsv_path.display());
        }
    }
    for name in only {
        if !on_disk.contains(name) {
            bail!("no kernel {name}.wasm in {}", dir.display());
        }
    }

    let mut kernels = Vec::new();
    for (name, checksum) in checksums {
        if !on_disk.contains(&name) || (!only.is_empty() && !only.contains(&name)) {
            continue;
        }
        let path = dir.join(format!("{name}.wasm"));
        let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        kernels.push(Kernel {
            c_source: c_source(dir, &name),
            name,
            wasm,
            checksum,
        });
    }
    if kernels.is_empty() {
        bail!("no kernels to run in {}", dir.display());
    }
    Ok(kernels)
}

/// `name<TAB>checksum<TAB>...` lines; `#` starts a comment line.
fn parse_checksums(tsv: &str) -> Result<Vec<(String, i64)>> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for (number, line) in tsv.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(name), Some(sum)) = (fields.next(), fields.next()) else {
            bail!("line {}: expected name<TAB>checksum", number + 1);
        };
        let sum: i64 = sum
            .trim()
            .parse()
            .with_context(|| format!("line {}: checksum {sum:?}", number + 1))?;
        if seen.insert(name.to_string(), sum).is_some() {
            bail!("line {}: {name} listed twice", number + 1);
        }
        out.push((name.to_string(), sum));
    }
    Ok(out)
}

/// `NAME.c`, or for a variant `BASE-suffix` the file `BASE.c`.
fn c_source(dir: &Path, name: &str) -> Option<PathBuf> {
    let base = name.split('-').next().unwrap_or(name);
    [name, base]
        .iter()
        .map(|n| dir.join(format!("{n}.c")))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse_with_comments_and_negative_values() {
        let tsv = "# name\tchecksum\nfib\t5685263316320466982\t0.4\nsieve\t-87\t-\n";
        let parsed = parse_checksums(tsv).unwrap();
        assert_eq!(
            parsed,
            [
                ("fib".to_string(), 5685263316320466982),
                ("sieve".to_string(), -87)
            ]
        );
        assert!(parse_checksums("fib\tx\n").is_err());
        assert!(parse_checksums("fib\t1\nfib\t2\n").is_err());
    }
}
