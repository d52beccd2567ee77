//! The native baseline: each kernel's C source built with clang exactly as
//! the kernels' `build.sh` does (`clang -O2 -o NAME.native NAME.c
//! native_main.c -lm`), run as a process that prints its checksum and the
//! seconds `run` took.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// clang's options before the output and the sources (`-O2`: no `-march`,
/// so x86-64's baseline, SSE2; clang's loop and SLP vectorisers are on at
/// `-O2`).
pub const CFLAGS: &[&str] = &["-O2"];

/// `clang FLAGS NAME.c native_main.c -lm`, for the tables.
pub fn command() -> String {
    format!("clang {} NAME.c native_main.c -lm", CFLAGS.join(" "))
}

/// Whether `clang` can be run.
pub fn clang_available() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds `c_source` with the kernels' `native_main.c` into `out_dir`.
pub fn build(c_source: &Path, kernels_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let stem = c_source
        .file_stem()
        .and_then(|s| s.to_str())
        .context("C source without a name")?;
    let binary = out_dir.join(format!("{stem}.native"));
    if binary.is_file() {
        return Ok(binary);
    }
    let output = Command::new("clang")
        .args(CFLAGS)
        .arg("-o")
        .arg(&binary)
        .arg(c_source)
        .arg(kernels_dir.join("native_main.c"))
        .arg("-lm")
        .output()
        .context("running clang")?;
    if !output.status.success() {
        bail!(
            "clang failed on {}:\n{}",
            c_source.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(binary)
}

/// Runs a native binary; returns its checksum and the seconds it printed.
pub fn run(binary: &Path) -> Result<(i64, f64)> {
    let output = Command::new(binary)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!("{} exited with {}", binary.display(), output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_output(&stdout).with_context(|| format!("{} printed {stdout:?}", binary.display()))
}

/// `native_main.c` prints `CHECKSUM SECONDS`.
fn parse_output(stdout: &str) -> Result<(i64, f64)> {
    let mut fields = stdout.split_whitespace();
    let (Some(sum), Some(secs), None) = (fields.next(), fields.next(), fields.next()) else {
        bail!("expected \"CHECKSUM SECONDS\"");
    };
    Ok((sum.parse()?, secs.parse()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_checksum_and_seconds() {
        assert_eq!(
            super::parse_output("-8770319287910378500 0.349123\n").unwrap(),
            (-8770319287910378500, 0.349123)
        );
        assert!(super::parse_output("12\n").is_err());
    }
}
