//! The shared benchmark kernels (`../shared/bench/kernels`): each is
//! compiled with `vibewasmc compile` to a temporary file and run with
//! `vibewasmc run K.vwa --invoke run` in a separate process; the printed
//! result must be the checksum in `checksums.tsv`.

use std::collections::HashMap;
use std::time::Duration;

use vibewasm_tests::*;

/// Generous: the slowest kernel takes about 7 s in a debug build.
const LIMIT: Duration = Duration::from_secs(180);

fn checksums() -> HashMap<String, i64> {
    let text = std::fs::read_to_string(kernels_dir().join("checksums.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut fields = l.split('\t');
            let name = fields.next().unwrap().to_string();
            let sum = fields.next().unwrap().parse().unwrap();
            (name, sum)
        })
        .collect()
}

fn run_kernel(name: &str) {
    let sums = checksums();
    let want = *sums
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in checksums.tsv"));
    let wasm = kernels_dir().join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} is missing", wasm.display());
    let dir = TempDir::new();
    let art = dir.join(&format!("{name}.vwa"));
    let out = run_cli_with_timeout(
        [
            "compile".as_ref(),
            wasm.as_os_str(),
            "-o".as_ref(),
            art.as_os_str(),
        ],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "compiling {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli_with_timeout(
        [
            "run".as_ref(),
            art.as_os_str(),
            "--invoke".as_ref(),
            "run".as_ref(),
        ],
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "running {name} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), want.to_string(), "{name}: wrong checksum");
}

macro_rules! kernels {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_kernel($name);
            }
        )*

        #[test]
        fn every_kernel_in_the_table_is_tested() {
            let tested = [$($name),*];
            for name in checksums().keys() {
                assert!(
                    tested.contains(&name.as_str()),
                    "kernel {name} in checksums.tsv has no test"
                );
            }
        }
    };
}

kernels! {
    fib => "fib",
    sieve => "sieve",
    sha256 => "sha256",
    sort => "sort",
    i64hash => "i64hash",
    interp => "interp",
    fnptr => "fnptr",
    bulkmem => "bulkmem",
    bulkmem_modern => "bulkmem-modern",
    mandelbrot => "mandelbrot",
    matmul => "matmul",
    nbody => "nbody",
}
