//! Linux `perf` map files: where each wasm function's code lies, so that
//! `perf report` names samples in generated code.
//!
//! perf reads `/tmp/perf-PID.map` for samples in anonymous executable
//! memory; each line is `START SIZE NAME` (start and size in hex without
//! `0x`, the name is the rest of the line). The loader appends one line per
//! function of an artifact (`fib.vwa!fib`, `<unknown>!<wasm function 3>`:
//! the names of backtraces), plus one for the host entry trampoline, once
//! per artifact, before its code first runs: when the artifact becomes a
//! [`crate::Module`] of an engine with [`crate::EngineConfig::perf_map`], or
//! is first instantiated in a store of such an engine. Setting
//! `VIBEWASM_PERF_MAP=1` in the environment turns it on for every artifact
//! of the process. (Lines are not written in [`crate::Artifact::open`]
//! itself: a name given with [`crate::Artifact::with_name`] comes after.)
//!
//! perf attributes samples in code mapped from a file to that file and
//! never consults the map for them, so while perf maps are on, artifact
//! files are loaded like artifacts in memory: their code is copied to
//! anonymous pages (by [`crate::Module::from_file`] with the engine setting,
//! by [`crate::Artifact::open`] with the environment variable). An artifact
//! opened before the setting applied keeps its file mapping and, though
//! listed, shows in `perf report` as addresses in the `.vwa` file.
//!
//! The file is opened with `O_APPEND` (and `O_NOFOLLOW` and `O_NONBLOCK`,
//! created `0600`) and each artifact's lines go out in one `write`, so
//! modules loaded by several threads, or several runtimes in one process,
//! do not interleave lines. Only a regular file with one link, owned by the
//! effective user, is written to.
//!
//! Writing the map is best effort: a map that cannot be opened or written
//! (no `/tmp`, a full disk, a symlink, FIFO or another user's file planted
//! there) is skipped silently and never fails loading, logs nothing, and is
//! not retried for that artifact. Profiling is a diagnostic; a host must
//! not stop running its modules because of it. Lines are never removed: an address range that a dropped
//! artifact freed and a later one reuses appears twice (as with every JIT
//! that writes perf maps).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::artifact::Artifact;
use crate::backtrace::func_display_name;
use vibewasm_format::{Metadata, Tables};

/// The environment variable that turns perf maps on for every artifact.
const PERF_MAP_ENV: &str = "VIBEWASM_PERF_MAP";

/// Whether [`PERF_MAP_ENV`] is set to something other than empty or `0`
/// (read once per process).
pub(crate) fn env_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var_os(PERF_MAP_ENV).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Set once an artifact's lines were written (or tried).
#[derive(Debug, Default)]
pub(crate) struct Published(AtomicBool);

/// Appends `artifact`'s lines to this process's perf map if `requested`
/// (by the API) or the environment asks for it, unless they were before.
pub(crate) fn publish(artifact: &Artifact, requested: bool) {
    if !(requested || env_enabled()) || artifact.code_base().is_null() {
        return;
    }
    if artifact.perf_map.0.swap(true, Ordering::AcqRel) {
        return;
    }
    let text = lines(
        artifact.code_base() as usize,
        artifact.code_len(),
        artifact.metadata(),
        &artifact.tables(),
        artifact.name(),
    );
    append(&map_path(), text.as_bytes());
}

/// `/tmp/perf-PID.map`: perf looks there, whatever `TMPDIR` says.
fn map_path() -> PathBuf {
    PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()))
}

/// The lines for code of `code_len` bytes mapped at `base`.
fn lines(
    base: usize,
    code_len: usize,
    meta: &Metadata,
    tables: &Tables,
    module: Option<&str>,
) -> String {
    let module = clean(module.unwrap_or("<unknown>"));
    // Code ranges outside the code are left out.
    let function = |f: u32| tables.checked_function(f, code_len as u64);
    let num_funcs = tables.num_functions() as u32;
    let mut text = String::new();
    let mut line = |start: usize, size: usize, name: &str| {
        if size > 0 {
            let _ = writeln!(text, "{:x} {size:x} {module}!{}", base + start, clean(name));
        }
    };
    if let Some(t) = &meta.trampolines {
        // Emitted first; it ends where the first function after it starts.
        let start = t.host_entry as usize;
        let end = (0..num_funcs)
            .filter_map(function)
            .map(|r| r.offset as usize)
            .filter(|&o| o > start)
            .min()
            .unwrap_or(code_len);
        line(start, end - start, "<trampoline>");
    }
    for (index, range) in (0..num_funcs).filter_map(|f| Some((f, function(f)?))) {
        let name = func_display_name(meta, tables, index)
            .unwrap_or_else(|| format!("<wasm function {index}>"));
        line(range.offset as usize, range.len as usize, &name);
    }
    text
}

/// A name that cannot break a line of the map.
fn clean(name: &str) -> String {
    name.replace(|c: char| c.is_control(), "?")
}

/// One `write` of `bytes` at the end of `path`; errors are dropped (see
/// the module docs).
///
/// `/tmp` is everybody's, so whatever is at `path` may have been planted
/// there: the file is opened with `O_NOFOLLOW` (not through a symbolic
/// link) and `O_NONBLOCK` (opening a FIFO for writing would otherwise wait
/// for a reader, in the middle of loading), then checked on the open
/// descriptor: it must be a regular file, owned by the effective user,
/// with no other name (a hard link to a file elsewhere). Anything else is
/// skipped like any other failure, silently: a library must not write to
/// its host's stderr, and the map is a profiling aid (see the module docs).
fn append(path: &Path, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let Ok(mut file) = file else {
        return;
    };
    if !is_own_regular_file(&file) {
        return;
    }
    // A regular file takes the whole buffer in one call; `write_all` only
    // loops after a short write (a full disk). `O_NONBLOCK` does not apply
    // to regular files.
    let _ = file.write_all(bytes);
}

/// Whether `file` is a regular file with one name, owned by the effective
/// user.
fn is_own_regular_file(file: &std::fs::File) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    let euid = unsafe { libc::geteuid() };
    meta.file_type().is_file() && meta.uid() == euid && meta.nlink() == 1
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use vibewasm_format::{encode_tables, CodeRange, Import, ImportKind, SiteTables, Trampolines};

    fn range(offset: u32, len: u32) -> CodeRange {
        CodeRange {
            offset,
            len,
            frame_size: 0,
        }
    }

    #[test]
    fn one_line_per_function_named_as_in_backtraces() {
        let meta = Metadata {
            imports: vec![Import {
                module: "env".into(),
                name: "log".into(),
                kind: ImportKind::Func(0),
            }],
            trampolines: Some(Trampolines {
                host_entry: 0,
                trap_path: 0x40,
            }),
            ..Metadata::default()
        };
        let (bytes, ranges) = encode_tables(&SiteTables {
            functions: vec![range(0x80, 0x40), range(0xc0, 0x4c), range(0x110, 0x20)],
            func_names: vec![(1, "fib".into()), (2, "two\nlines".into())],
            ..SiteTables::default()
        })
        .unwrap();
        let tables = Tables::new(&bytes, &ranges).unwrap();
        let text = lines(0x7f12_a000_1000, 0x130, &meta, &tables, Some("m.vwa"));
        assert_eq!(
            text,
            "7f12a0001000 80 m.vwa!<trampoline>\n\
             7f12a0001080 40 m.vwa!env.log\n\
             7f12a00010c0 4c m.vwa!fib\n\
             7f12a0001110 20 m.vwa!two?lines\n"
        );
        let (bytes, ranges) = encode_tables(&SiteTables {
            functions: vec![range(0, 0x10), range(0x10, 0)],
            ..SiteTables::default()
        })
        .unwrap();
        let tables = Tables::new(&bytes, &ranges).unwrap();
        assert_eq!(
            lines(0x1000, 0x10, &Metadata::default(), &tables, None),
            "1000 10 <unknown>!<wasm function 0>\n"
        );
    }

    #[test]
    fn writing_never_fails_and_follows_no_symlink() {
        let dir = std::env::temp_dir().join(format!("vibewasm-perf-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A directory that does not exist: nothing happens.
        append(&dir.join("missing/perf.map"), b"1 1 x\n");
        let map = dir.join("perf.map");
        append(&map, b"1 1 a\n");
        append(&map, b"2 1 b\n");
        assert_eq!(std::fs::read_to_string(&map).unwrap(), "1 1 a\n2 1 b\n");
        let target = dir.join("target");
        std::fs::write(&target, "mine\n").unwrap();
        let link = dir.join("link.map");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        append(&link, b"3 1 c\n");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `f` on a thread; panics if it takes longer than 20 s.
    fn within_20s(f: impl FnOnce() + Send + 'static) {
        let (send, recv) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = send.send(());
        });
        recv.recv_timeout(std::time::Duration::from_secs(20))
            .expect("writing the perf map blocked");
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status();
        assert!(status.unwrap().success(), "mkfifo {}", path.display());
    }

    #[test]
    fn writes_only_to_a_regular_file_of_its_own() {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("vibewasm-perf-own-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        // A FIFO nobody reads: opening it must not block loading.
        let fifo = dir.join("fifo.map");
        mkfifo(&fifo);
        let path = fifo.clone();
        within_20s(move || append(&path, b"1 1 a\n"));
        // A FIFO somebody reads: nothing goes to it either.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let path = fifo.clone();
        within_20s(move || append(&path, b"1 1 a\n"));
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        assert_eq!(got, b"", "wrote to a FIFO");

        // A second name of a file (a hard link): not written.
        let file = dir.join("file");
        std::fs::write(&file, "mine\n").unwrap();
        let link = dir.join("hardlink.map");
        std::fs::hard_link(&file, &link).unwrap();
        append(&link, b"2 1 b\n");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");

        // Another user's file (only root can make one here).
        let theirs = dir.join("theirs.map");
        std::fs::write(&theirs, "").unwrap();
        let mine = std::fs::metadata(&theirs).unwrap().uid();
        if mine == 0 {
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            append(&theirs, b"3 1 c\n");
            assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "");
        } else {
            eprintln!("skipped the other-user case: needs root to chown");
        }

        // And its own file still is.
        let own = dir.join("own.map");
        append(&own, b"4 1 d\n");
        assert_eq!(std::fs::read_to_string(&own).unwrap(), "4 1 d\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
