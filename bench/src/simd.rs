//! The `simd` mode's kernels: the SIMD builds of
//! `../shared/bench/kernels-simd/` (`X-simd.wasm`, clang's auto-vectoriser
//! with `-msimd128`), each paired with its scalar twin `X.wasm` and its C
//! source `X.c` from the scalar kernels' directory; and the probe that
//! tells which engines have no SIMD at all.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::engines::{Engine, Threads};
use crate::kernels::{self, Kernel};

/// What the SIMD build of kernel `X` is called: `X-simd`.
pub const SUFFIX: &str = "-simd";

/// The engines that also run the scalar twins (for the SIMD/scalar ratio).
pub const SCALAR_ENGINES: &[&str] = &["vibewasm", "cranelift"];

/// A module with one SIMD function: an engine without SIMD refuses it.
const PROBE_WAT: &str = r#"(module
  (func (export "probe") (result i32)
    (i32x4.extract_lane 3
      (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 5 6 7 8)))))"#;

/// The scalar twin's name of SIMD kernel `X-simd`: `X`.
pub fn scalar_name(simd_name: &str) -> Option<&str> {
    simd_name
        .strip_suffix(SUFFIX)
        .filter(|base| !base.is_empty())
}

/// The SIMD kernels that `--only` names: `X` and `X-simd` both mean `X-simd`.
pub fn simd_names(only: &[String]) -> Vec<String> {
    only.iter()
        .map(|name| match scalar_name(name) {
            Some(_) => name.clone(),
            None => format!("{name}{SUFFIX}"),
        })
        .collect()
}

/// Where the scalar twins and the C sources are by default: `../kernels`
/// beside the SIMD kernels' directory.
pub fn default_scalar_dir(simd_dir: &Path) -> PathBuf {
    simd_dir.join("..").join("kernels")
}

/// Loads the scalar twin of every SIMD kernel from `scalar_dir` (checked
/// against that directory's `checksums.tsv`), in the same order, and gives
/// each SIMD kernel its twin's C source. Both builds of one C file must
/// return the same checksum.
pub fn twins(kernels: &mut [Kernel], scalar_dir: &Path) -> Result<Vec<Kernel>> {
    let bases = kernels
        .iter()
        .map(|k| {
            scalar_name(&k.name)
                .map(str::to_string)
                .with_context(|| format!("SIMD kernel {} is not named NAME{SUFFIX}", k.name))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut scalar = kernels::load(scalar_dir, &bases)
        .with_context(|| format!("loading the scalar twins from {}", scalar_dir.display()))?;
    let mut twins = Vec::new();
    for (kernel, base) in kernels.iter_mut().zip(&bases) {
        let Some(at) = scalar.iter().position(|s| &s.name == base) else {
            bail!("{base}.wasm listed twice for the SIMD kernels");
        };
        let twin = scalar.remove(at);
        if twin.checksum != kernel.checksum {
            bail!(
                "{} expects checksum {} but its scalar twin {base} expects {}",
                kernel.name,
                kernel.checksum,
                twin.checksum
            );
        }
        kernel.c_source.clone_from(&twin.c_source);
        twins.push(twin);
    }
    Ok(twins)
}

/// What `engine` said when it refused to compile a one-instruction SIMD
/// module, or `None` when it compiled it.
pub fn refusal(engine: &mut dyn Engine) -> Option<String> {
    let wasm = match wat::parse_str(PROBE_WAT) {
        Ok(wasm) => wasm,
        Err(e) => return Some(format!("internal: the probe module: {e}")),
    };
    engine.reset();
    let outcome = engine.compile(&wasm, Threads::One);
    engine.reset();
    outcome.err().map(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_kernels_map_to_their_scalar_twins() {
        assert_eq!(scalar_name("sieve-simd"), Some("sieve"));
        assert_eq!(scalar_name("bulkmem-modern-simd"), Some("bulkmem-modern"));
        assert_eq!(scalar_name("sieve"), None);
        assert_eq!(scalar_name("-simd"), None);
        assert_eq!(
            simd_names(&["sieve".into(), "matmul-simd".into()]),
            ["sieve-simd", "matmul-simd"]
        );
        assert_eq!(
            default_scalar_dir(Path::new("a/kernels-simd")),
            Path::new("a/kernels-simd/../kernels")
        );
    }

    #[test]
    fn twins_come_from_the_scalar_directory_in_simd_order() {
        let root = std::env::temp_dir().join(format!("vibewasm-bench-simd-{}", std::process::id()));
        let (simd_dir, scalar_dir) = (root.join("kernels-simd"), root.join("kernels"));
        for dir in [&simd_dir, &scalar_dir] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let write = |path: PathBuf, text: &str| std::fs::write(path, text).unwrap();
        write(simd_dir.join("checksums.tsv"), "b-simd\t2\na-simd\t1\n");
        write(scalar_dir.join("checksums.tsv"), "a\t1\nb\t2\nc\t3\n");
        for name in ["a-simd", "b-simd"] {
            write(simd_dir.join(format!("{name}.wasm")), "");
        }
        for name in ["a", "b", "c"] {
            write(scalar_dir.join(format!("{name}.wasm")), "");
            write(scalar_dir.join(format!("{name}.c")), "");
        }

        let mut simd = kernels::load(&simd_dir, &[]).unwrap();
        assert_eq!(simd[0].c_source, None);
        let scalar = twins(&mut simd, &scalar_dir).unwrap();
        let names: Vec<&str> = scalar.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(simd[0].c_source, Some(scalar_dir.join("b.c")));
        assert_eq!(simd[1].c_source, Some(scalar_dir.join("a.c")));

        // A twin whose checksum differs is an error.
        write(scalar_dir.join("checksums.tsv"), "a\t1\nb\t5\nc\t3\n");
        let mut simd = kernels::load(&simd_dir, &[]).unwrap();
        let Err(error) = twins(&mut simd, &scalar_dir) else {
            panic!("a twin with another checksum was accepted");
        };
        let error = error.to_string();
        assert!(error.contains("its scalar twin b expects 5"), "{error}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
