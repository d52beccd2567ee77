//! The shared benchmark kernels (`../shared/bench/kernels`): each is
//! compiled with `vibewasmc compile` to a temporary file and run with
//! `vibewasmc run K.vwa --invoke run` in a separate process; the printed
//! result must be the checksum in `checksums.tsv`. Each runs a second time
//! compiled with explicit bounds checks, under `ulimit -v` of 1 GiB: such
//! code's memory reserves only about what it uses.

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

/// Address space `vibewasmc run` gets for an explicit-check kernel
/// (`ulimit -v`, KiB): 1 GiB, less than one 4 GiB memory reservation.
const ADDRESS_SPACE_KIB: u64 = 1 << 20;

fn run_kernel(name: &str) {
    run_kernel_with(name, false);
}

/// With `limited`: compiled with explicit bounds checks and run with
/// [`ADDRESS_SPACE_KIB`] of address space.
fn run_kernel_with(name: &str, limited: bool) {
    let sums = checksums();
    let want = *sums
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in checksums.tsv"));
    let wasm = kernels_dir().join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{} is missing", wasm.display());
    let dir = TempDir::new();
    let art = dir.join(&format!("{name}.vwa"));
    let bounds_checks = if limited { "explicit" } else { "guard" };
    let out = run_cli_with_timeout(
        [
            "compile".as_ref(),
            "--bounds-checks".as_ref(),
            bounds_checks.as_ref(),
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
    let args = [
        "run".as_ref(),
        art.as_os_str(),
        "--invoke".as_ref(),
        "run".as_ref(),
    ];
    let out = if limited {
        run_cli_limited(args, LIMIT, ADDRESS_SPACE_KIB)
    } else {
        run_cli_with_timeout(args, LIMIT)
    };
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
    ($($test:ident, $limited:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_kernel($name);
            }

            #[test]
            #[cfg_attr(
                not(target_arch = "x86_64"),
                ignore = "qemu-user, which runs the aarch64 tests, needs more than 1 GiB \
                          of address space itself"
            )]
            fn $limited() {
                run_kernel_with($name, true);
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
    fib, fib_explicit_in_1_gib => "fib",
    sieve, sieve_explicit_in_1_gib => "sieve",
    sha256, sha256_explicit_in_1_gib => "sha256",
    sort, sort_explicit_in_1_gib => "sort",
    i64hash, i64hash_explicit_in_1_gib => "i64hash",
    interp, interp_explicit_in_1_gib => "interp",
    fnptr, fnptr_explicit_in_1_gib => "fnptr",
    bulkmem, bulkmem_explicit_in_1_gib => "bulkmem",
    bulkmem_modern, bulkmem_modern_explicit_in_1_gib => "bulkmem-modern",
    mandelbrot, mandelbrot_explicit_in_1_gib => "mandelbrot",
    matmul, matmul_explicit_in_1_gib => "matmul",
    nbody, nbody_explicit_in_1_gib => "nbody",
}
