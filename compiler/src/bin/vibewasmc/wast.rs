//! `vibewasmc wast FILE...`: runs WebAssembly specification scripts and
//! prints, per file, how many directives passed, failed and were skipped.
//!
//! Each script runs in a child process of its own (this same binary, with
//! `--child`), several at a time: a crash in generated code (a signal, not
//! a trap) or a hang then costs only the rest of that one file, which is
//! reported as failed with the reason, and never the runner. Inside a
//! script, every directive is run under `catch_unwind` and traps are plain
//! errors, so one directive cannot take down the others.
//!
//! Counting: every directive is one check. `module`, `register` and
//! `invoke` pass when they succeed; assertions when they hold. A module
//! that fails to build (e.g. the compiler says "unsupported") fails itself
//! and every later directive that uses it. Skips are only for directives
//! that do not apply to a core wasm compiler (components, threads in
//! scripts, custom-section annotations, invalid text the parser already
//! refuses), each with its reason.

mod protocol;
mod script;
mod values;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocol::{parse_line, Event, Outcome, Reporter};

use super::Failure;

#[derive(clap::Args)]
pub struct WastArgs {
    /// `.wast` scripts; a directory stands for the `*.wast` files in it.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// List every failure and skip reason in full (default: the first 5
    /// failures per file, messages shortened).
    #[arg(short, long)]
    verbose: bool,
    /// Print the results but exit 0 even if assertions failed.
    #[arg(long)]
    no_fail: bool,
    /// Scripts run at the same time (default: the number of CPUs).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Seconds one script may take before it is stopped.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// A heading for the results table.
    #[arg(long)]
    title: Option<String>,
    /// Print only the table (no failures or skip reasons).
    #[arg(long)]
    table_only: bool,
    /// Run the single script given and write protocol lines (internal).
    #[arg(long, hide = true)]
    child: bool,
    /// The bounds-check strategy every module is compiled with.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = super::sandbox::default_bounds())]
    bounds_checks: super::sandbox::BoundsArg,
}

pub fn cmd_wast(args: WastArgs) -> Result<(), Failure> {
    if args.child {
        let [file] = &args.files[..] else {
            return Err("--child takes exactly one script".into());
        };
        script::set_bounds_checks(args.bounds_checks.strategy());
        let stdout = std::io::stdout();
        let mut reporter = Reporter::new(stdout.lock());
        return script::run_file(file, &mut reporter)
            .map_err(|e| format!("cannot write results: {e}").into());
    }
    let files = expand(&args.files)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let reports = run_all(
        &files,
        jobs.max(1),
        Duration::from_secs(args.timeout),
        args.bounds_checks,
    )?;
    print_reports(
        &reports,
        args.title.as_deref(),
        args.verbose,
        args.table_only,
    );
    let failed: usize = reports.iter().map(|r| r.failed).sum();
    if failed > 0 && !args.no_fail {
        return Err(format!("{failed} spec test directive(s) failed").into());
    }
    Ok(())
}

/// The scripts named: files as given, directories as their `*.wast` files.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| format!("cannot read directory {}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "wast"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("no such script or directory: {}", path.display()).into());
        }
    }
    Ok(files)
}

/// The results of one script.
#[derive(Default)]
struct FileReport {
    path: PathBuf,
    passed: usize,
    failed: usize,
    skipped: usize,
    /// `(line, kind, message)`.
    failures: Vec<(usize, String, String)>,
    /// Skip reason -> count.
    skips: BTreeMap<String, usize>,
}

/// A command that runs this program again. Under qemu-user without
/// binfmt_misc (an aarch64 build tested on x86-64) a program cannot exec
/// itself: the exec fails, or (through posix_spawn) the child exits with
/// status 127 and no output. Then the runner named in
/// `VIBEWASM_TEST_RUNNER` (`qemu-aarch64 -L /usr/aarch64-linux-gnu`, as
/// `.cargo/config.toml` sets for tests) runs it, if that is set.
fn self_command(exe: &Path) -> Command {
    static CAN_EXEC_SELF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let can = *CAN_EXEC_SELF.get_or_init(|| {
        Command::new(exe)
            .arg("--version")
            .output()
            .is_ok_and(|out| !(out.status.code() == Some(127) && out.stdout.is_empty()))
    });
    let runner = std::env::var("VIBEWASM_TEST_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    match (can, runner.next()) {
        (false, Some(program)) => {
            let mut command = Command::new(program);
            command.args(runner).arg(exe);
            command
        }
        _ => Command::new(exe),
    }
}

struct Running {
    index: usize,
    child: Child,
    started: Instant,
    events: Arc<Mutex<Vec<Event>>>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

fn spawn(path: &Path, index: usize, bounds: super::sandbox::BoundsArg) -> Result<Running, Failure> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = self_command(&exe);
    let mut child = command
        .arg("wast")
        .arg("--child")
        .arg("--bounds-checks")
        .arg(match bounds {
            super::sandbox::BoundsArg::Guard => "guard",
            super::sandbox::BoundsArg::Explicit => "explicit",
        })
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start a script runner: {e}"))?;
    let events = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().expect("piped");
    let sink = events.clone();
    let stdout = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(event) = parse_line(&line) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(event);
            }
        }
    });
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let stderr = std::thread::spawn(move || {
        // Keep draining so the child never blocks; remember the end.
        let mut all = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        let tail: String = text
            .chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        tail.trim().to_string()
    });
    Ok(Running {
        index,
        child,
        started: Instant::now(),
        events,
        stdout,
        stderr,
    })
}

fn run_all(
    files: &[PathBuf],
    jobs: usize,
    timeout: Duration,
    bounds: super::sandbox::BoundsArg,
) -> Result<Vec<FileReport>, Failure> {
    let mut reports: Vec<Option<FileReport>> = files.iter().map(|_| None).collect();
    let mut next = 0;
    let mut running: Vec<Running> = Vec::new();
    while next < files.len() || !running.is_empty() {
        while running.len() < jobs && next < files.len() {
            running.push(spawn(&files[next], next, bounds)?);
            next += 1;
        }
        let mut k = 0;
        while k < running.len() {
            let r = &mut running[k];
            let status = r
                .child
                .try_wait()
                .map_err(|e| format!("cannot wait for a runner: {e}"))?;
            let timed_out = status.is_none() && r.started.elapsed() > timeout;
            if status.is_none() && !timed_out {
                k += 1;
                continue;
            }
            let mut r = running.swap_remove(k);
            let status = match status {
                Some(status) => status,
                None => {
                    let _ = r.child.kill();
                    r.child
                        .wait()
                        .map_err(|e| format!("cannot wait for a runner: {e}"))?
                }
            };
            let _ = r.stdout.join();
            let stderr = r.stderr.join().unwrap_or_default();
            let events = std::mem::take(&mut *r.events.lock().unwrap_or_else(|e| e.into_inner()));
            let end = timed_out.then_some(timeout);
            reports[r.index] = Some(report(&files[r.index], events, status, end, &stderr));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(reports.into_iter().map(|r| r.unwrap_or_default()).collect())
}

fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                _ => "",
            };
            return format!("was killed by signal {signal}{name}");
        }
    }
    format!("exited with {status}")
}

fn report(
    path: &Path,
    events: Vec<Event>,
    status: ExitStatus,
    timed_out: Option<Duration>,
    stderr: &str,
) -> FileReport {
    let mut report = FileReport {
        path: path.to_path_buf(),
        ..FileReport::default()
    };
    let (mut total, mut ended, mut last_line) = (None, false, 0);
    for event in events {
        match event {
            Event::Total(n) => total = Some(n),
            Event::End => ended = true,
            Event::Result {
                line,
                kind,
                outcome,
            } => {
                last_line = line;
                match outcome {
                    Outcome::Pass => report.passed += 1,
                    Outcome::Fail(message) => {
                        report.failed += 1;
                        report.failures.push((line, kind, message));
                    }
                    Outcome::Skip(reason) => {
                        report.skipped += 1;
                        *report.skips.entry(format!("{kind}: {reason}")).or_default() += 1;
                    }
                }
            }
        }
    }
    if !ended {
        let seen = report.passed + report.failed + report.skipped;
        let not_run = total.map_or(1, |t| t.saturating_sub(seen).max(1));
        let how = match timed_out {
            Some(t) => format!("timed out after {}s", t.as_secs()),
            None => describe_status(status),
        };
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!("; its last output: {stderr}")
        };
        report.failed += not_run;
        report.failures.push((
            last_line,
            "runner".into(),
            format!(
                "the script's runner process {how} after line {last_line}; \
                 {not_run} directive(s) not run, counted as failed{detail}"
            ),
        ));
    }
    report
}

/// The longest directory all `paths` are in.
fn common_dir(paths: &[&Path]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for path in paths {
        let dir = path.parent().unwrap_or(Path::new(""));
        common = Some(match common {
            None => dir.to_path_buf(),
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_default()
}

fn shorten(message: &str, verbose: bool) -> String {
    const MAX: usize = 300;
    if verbose || message.chars().count() <= MAX {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX).collect();
    format!("{cut}...")
}

fn print_reports(reports: &[FileReport], title: Option<&str>, verbose: bool, table_only: bool) {
    let paths: Vec<&Path> = reports.iter().map(|r| r.path.as_path()).collect();
    let root = common_dir(&paths);
    let name = |r: &FileReport| {
        r.path
            .strip_prefix(&root)
            .unwrap_or(&r.path)
            .display()
            .to_string()
    };
    let width = reports
        .iter()
        .map(|r| name(r).len())
        .max()
        .unwrap_or(4)
        .max(20);
    if let Some(title) = title {
        println!("{title}");
    }
    println!(
        "{:<width$} {:>8} {:>8} {:>8}",
        "file", "passed", "failed", "skipped"
    );
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for r in reports {
        println!(
            "{:<width$} {:>8} {:>8} {:>8}",
            name(r),
            r.passed,
            r.failed,
            r.skipped
        );
        passed += r.passed;
        failed += r.failed;
        skipped += r.skipped;
    }
    let total = format!("total ({} files)", reports.len());
    println!("{total:<width$} {passed:>8} {failed:>8} {skipped:>8}");
    if table_only {
        return;
    }

    let with_failures: Vec<&FileReport> = reports.iter().filter(|r| r.failed > 0).collect();
    if !with_failures.is_empty() {
        println!(
            "\nfailures{}:",
            if verbose {
                ""
            } else {
                " (first 5 per file; -v for all)"
            }
        );
        for r in with_failures {
            println!("{} ({} failed)", name(r), r.failed);
            let shown = if verbose { r.failures.len() } else { 5 };
            for (line, kind, message) in r.failures.iter().take(shown) {
                println!("  line {line}: {kind}: {}", shorten(message, verbose));
            }
        }
    }
    let with_skips: Vec<&FileReport> = reports.iter().filter(|r| r.skipped > 0).collect();
    if !with_skips.is_empty() {
        println!("\nskipped (with reasons):");
        for r in with_skips {
            for (reason, count) in &r.skips {
                println!("  {}: {count} x {reason}", name(r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn status(raw: i32) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        ExitStatus::from_raw(raw)
    }

    #[cfg(unix)]
    #[test]
    fn crashed_scripts_count_what_did_not_run_as_failed() {
        let result = |line, outcome| Event::Result {
            line,
            kind: "assert_return".into(),
            outcome,
        };
        let events = vec![
            Event::Total(5),
            result(3, Outcome::Pass),
            result(4, Outcome::Skip("why".into())),
        ];
        // Killed by SIGSEGV (raw wait status 11).
        let r = report(Path::new("a.wast"), events, status(11), None, "boom");
        assert_eq!((r.passed, r.failed, r.skipped), (1, 3, 1));
        let message = &r.failures[0].2;
        assert!(
            message.contains("signal 11 (SIGSEGV) after line 4"),
            "{message}"
        );
        assert!(message.contains("3 directive(s) not run"), "{message}");
        assert!(message.contains("boom"), "{message}");

        let events = vec![Event::Total(1), result(1, Outcome::Pass), Event::End];
        let r = report(Path::new("b.wast"), events, status(0), None, "");
        assert_eq!((r.passed, r.failed, r.skipped), (1, 0, 0));
        let r = report(
            Path::new("c.wast"),
            vec![],
            status(0),
            Some(Duration::from_secs(2)),
            "",
        );
        assert_eq!(r.failed, 1);
        assert!(r.failures[0].2.contains("timed out after 2s"));
    }

    #[test]
    fn common_directory_of_the_scripts() {
        let a = PathBuf::from("/x/wasm-3.0/a.wast");
        let b = PathBuf::from("/x/wasm-3.0/proposals/t/b.wast");
        assert_eq!(common_dir(&[&a, &b]), PathBuf::from("/x/wasm-3.0"));
        assert_eq!(common_dir(&[&a]), PathBuf::from("/x/wasm-3.0"));
    }
}
