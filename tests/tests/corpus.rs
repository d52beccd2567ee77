//! The corpus of real programs (`bench/corpus/`, see its README.md): SQLite
//! and Rust programs over registry crates, built for wasm32-wasi by
//! `bench/corpus/build.sh` and committed with what wasmtime prints for
//! them. Each goes through the CLI as a user runs it: `vibewasmc compile`
//! to an artifact file, then `vibewasmc run ART -- ARGS` with the test
//! workload of `programs.tsv`; its standard output must be exactly the
//! expected file's, its standard error empty and its exit status 0. The
//! corpus itself is checked too (at least five programs, 5 MB of wasm
//! together, one above 2 MB) so that it cannot shrink unnoticed.

use std::path::PathBuf;

use vibewasm_tests::*;

fn corpus_dir() -> PathBuf {
    workspace_root().join("bench").join("corpus")
}

/// One line of `programs.tsv`.
#[derive(Debug)]
struct Program {
    name: String,
    test_args: Vec<String>,
    bench_args: Vec<String>,
    expected: PathBuf,
    bench_expected: PathBuf,
}

impl Program {
    fn wasm(&self) -> PathBuf {
        corpus_dir()
            .join("wasm")
            .join(format!("{}.wasm", self.name))
    }
}

fn programs() -> Vec<Program> {
    let path = corpus_dir().join("programs.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "programs.tsv: not 5 fields: {line:?}");
            let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
            Program {
                name: fields[0].to_string(),
                test_args: words(fields[1]),
                bench_args: words(fields[2]),
                expected: corpus_dir().join(fields[3]),
                bench_expected: corpus_dir().join(fields[4]),
            }
        })
        .collect()
}

fn program(name: &str) -> Program {
    programs()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not in bench/corpus/programs.tsv"))
}

/// The first line where `got` and `want` differ, for the failure message.
fn first_difference(got: &str, want: &str) -> String {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}:\n  got:  {g:?}\n  want: {w:?}", i + 1);
        }
    }
    format!(
        "{} lines, expected {} (or a difference in the final newline)",
        got.lines().count(),
        want.lines().count()
    )
}

/// `vibewasmc compile` + `vibewasmc run` of corpus program `name` with its
/// test arguments, checked against its expected output.
fn run_program(name: &str) {
    let program = program(name);
    let dir = TempDir::new();
    let artifact = dir.join(&format!("{name}.vwa"));
    let out = run_cli([
        "compile".as_ref(),
        program.wasm().as_os_str(),
        "-o".as_ref(),
        artifact.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "vibewasmc compile {}: {}\n{}",
        program.wasm().display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let mut args = vec!["run".into(), artifact.into_os_string(), "--".into()];
    args.extend(program.test_args.iter().map(Into::into));
    let out = run_cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = std::fs::read_to_string(&program.expected)
        .unwrap_or_else(|e| panic!("{}: {e}", program.expected.display()));
    assert!(
        out.status.success(),
        "vibewasmc run {name} {:?}: {}\nstderr:\n{stderr}\nstdout:\n{stdout}",
        program.test_args,
        out.status
    );
    assert!(
        stdout == want,
        "{name} {:?}: stdout differs from {} (what wasmtime prints) at {}",
        program.test_args,
        program.expected.display(),
        first_difference(&stdout, &want)
    );
    assert!(stderr.is_empty(), "{name}: unexpected stderr:\n{stderr}");
}

/// One test per program, so they run in parallel and fail by name; the
/// list must be the one in programs.tsv (`every_program_has_a_test`).
macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_program(stringify!($name));
            }
        )*
    };
}

corpus_tests!(sqlite, regex, json, compress, image, prettyplease, js);

#[test]
fn every_program_has_a_test() {
    let listed: Vec<String> = programs().into_iter().map(|p| p.name).collect();
    assert_eq!(listed, TESTED, "programs.tsv and corpus_tests! disagree");
}

#[test]
fn corpus_is_big_enough() {
    let programs = programs();
    assert!(
        programs.len() >= 5,
        "{} programs, want at least 5",
        programs.len()
    );
    let mut total = 0;
    let mut largest = 0;
    for p in &programs {
        let wasm =
            std::fs::read(p.wasm()).unwrap_or_else(|e| panic!("{}: {e}", p.wasm().display()));
        assert!(
            wasm.starts_with(b"\0asm"),
            "{}: not a wasm binary",
            p.wasm().display()
        );
        total += wasm.len();
        largest = largest.max(wasm.len());
        assert!(
            !p.test_args.is_empty() && !p.bench_args.is_empty(),
            "{}: no arguments",
            p.name
        );
        for expected in [&p.expected, &p.bench_expected] {
            let text = std::fs::read_to_string(expected)
                .unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
            assert!(!text.is_empty(), "{}: empty", expected.display());
        }
    }
    assert!(
        total >= 5_000_000,
        "corpus holds {total} bytes of wasm, want at least 5 MB"
    );
    assert!(
        largest > 2_000_000,
        "largest module {largest} bytes, want one above 2 MB"
    );
}
