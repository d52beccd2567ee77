//! The `.vwa` artifact: deterministic output, header fields, every way a
//! damaged or foreign artifact is refused (cleanly, naming the field), and
//! position independence (the same code mapped at different addresses).

use vibewasm_format::{
    file_checksum, Header, Target, CHECKSUM_RANGE, CODE_ALIGN, HEADER_SIZE, MAGIC,
};
use vibewasm_loader::LoadError;
use vibewasm_tests::*;

const MODULE: &str = r#"
(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (type $i_i (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $sq $fib)
  (global $g (mut i64) (i64.const 5))
  (data (i32.const 0) "vibewasm")
  (func $sq (type $i_i) (i32.mul (local.get 0) (local.get 0)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "run") (param i32) (result i32)
    (i32.add
      (call_indirect (type $i_i) (local.get 0) (i32.const 0))
      (i32.add (call $twice (local.get 0))
               (i32.add (i32.load8_u (i32.const 1))
                        (i32.div_s (i32.const 100) (local.get 0))))))
  (func (export "g") (result i64)
    (global.set $g (i64.add (global.get $g) (i64.const 1))) (global.get $g))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
)"#;

fn linker() -> Linker {
    let mut linker = Linker::new();
    linker.func_wrap("env", "twice", |x: i32| x * 2).unwrap();
    linker
}

/// What the module computes, so every loaded copy can be checked.
fn exercise(artifact: &std::sync::Arc<Artifact>) {
    let mut inst = linker().instantiate_artifact(artifact).unwrap();
    // 7*7 + 14 + 'i' (105) + 100/7
    assert_eq!(
        call_i32(&mut inst, "run", &[Val::I32(7)]),
        49 + 14 + 105 + 14
    );
    assert_eq!(call_i32(&mut inst, "fib", &[Val::I32(20)]), 6765);
    assert_eq!(call_i64(&mut inst, "g", &[]), 6);
    assert_eq!(call_i32(&mut inst, "grow", &[]), 1);
    expect_trap(
        &mut inst,
        "run",
        &[Val::I32(0)],
        TrapCode::IntegerDivideByZero,
    );
    assert_eq!(
        call_i32(&mut inst, "run", &[Val::I32(1)]),
        1 + 2 + 105 + 100
    );
}

fn artifact_bytes() -> Vec<u8> {
    compile_wat(MODULE)
}

fn header_of(bytes: &[u8]) -> Header {
    Header::decode(bytes).expect("header decodes")
}

/// Loads `bytes` both ways (from memory, and from a file with
/// `Artifact::open`); both must fail, and the messages must contain `word`.
fn assert_refused(bytes: &[u8], word: &str, what: &str) {
    let err = match Artifact::from_bytes(bytes) {
        Ok(_) => panic!("{what}: from_bytes accepted a bad artifact"),
        Err(e) => e,
    };
    assert!(
        matches!(err, LoadError::Format { .. }),
        "{what}: from_bytes: {err:?}"
    );
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains(&word.to_lowercase()),
        "{what}: from_bytes message {text:?} does not mention {word:?}"
    );
    let dir = TempDir::new();
    let path = dir.join("bad.vwa");
    std::fs::write(&path, bytes).unwrap();
    let err = match Artifact::open(&path) {
        Ok(_) => panic!("{what}: open accepted a bad artifact"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains(&word.to_lowercase()),
        "{what}: open message {text:?} does not mention {word:?}"
    );
    assert!(
        text.contains("bad.vwa"),
        "{what}: open message {text:?} does not name the file"
    );
}

#[test]
fn recompiling_is_byte_identical() {
    let wasm = wasm(MODULE);
    let a = compile(&wasm, &Config::default()).unwrap();
    let b = compile(&wasm, &Config::default()).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a == b, "two compilations of the same module differ");
    // Also for a bigger, real program.
    let kernel = std::fs::read(kernels_dir().join("interp.wasm")).unwrap();
    let a = compile(&kernel, &Config::default()).unwrap();
    let b = compile(&kernel, &Config::default()).unwrap();
    assert!(a == b, "two compilations of interp.wasm differ");
}

#[test]
fn header_fields() {
    let wasm = wasm(MODULE);
    let bytes = compile(&wasm, &Config::default()).unwrap();
    assert_eq!(bytes[..8], MAGIC);
    let h = header_of(&bytes);
    assert_eq!(h.version_major, vibewasm_format::VERSION_MAJOR);
    assert!(
        h.compiler_version.starts_with("vibewasmc"),
        "{}",
        h.compiler_version
    );
    assert_eq!(h.wasm_sha256, vibewasm_format::sha256(&wasm));
    assert_eq!(h.file_len, bytes.len() as u64);
    assert_eq!(h.metadata_offset, HEADER_SIZE as u64);
    // Short code follows the tables (after the metadata) closely: no page
    // of padding.
    let view = vibewasm_format::read_artifact(&bytes).unwrap();
    let (strings, strings_len) = view.metadata.site_tables.name_strings;
    let tables_end = h.metadata_offset + h.metadata_len + strings + strings_len;
    assert!(h.code_len < vibewasm_format::MAPPED_CODE_MIN);
    assert_eq!(h.code_offset % vibewasm_format::CODE_MIN_ALIGN, 0);
    assert!(h.code_offset >= tables_end);
    assert!(h.code_offset < tables_end + 16);
    assert_eq!(h.code_offset + h.code_len, h.file_len);
    assert!(h.code_len > 0);
    assert_eq!(h.checksum, file_checksum(&bytes));
    assert_eq!(Some(h.target.arch), Target::host().map(|t| t.arch));
    assert_eq!(h.target.pointer_width, 8);
    // The loaded artifact reports the same.
    let artifact = open_artifact_bytes(&bytes);
    assert_eq!(artifact.header(), &h);
    assert_eq!(artifact.code_len() as u64, h.code_len);
    let meta = artifact.metadata();
    assert_eq!(
        artifact.tables().num_functions(),
        6,
        "1 import + 5 defined functions"
    );
    let exports: Vec<&str> = meta.exports.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(exports, ["memory", "fib", "run", "g", "grow"]);
}

#[test]
fn truncated_at_every_section_boundary() {
    let bytes = artifact_bytes();
    let h = header_of(&bytes);
    let meta_end = (h.metadata_offset + h.metadata_len) as usize;
    let code = h.code_offset as usize;
    let end = bytes.len();
    let cuts = [
        (0, "empty file"),
        (1, "one byte"),
        (7, "inside the magic"),
        (8, "after the magic"),
        (12, "inside the header"),
        (HEADER_SIZE - 1, "header end - 1"),
        (HEADER_SIZE, "header end / metadata start"),
        (HEADER_SIZE + 1, "metadata start + 1"),
        (meta_end - 1, "metadata end - 1"),
        (meta_end, "metadata end"),
        (code - 1, "code start - 1"),
        (code, "code start"),
        (code + 1, "code start + 1"),
        (end - 1, "code end - 1"),
    ];
    for (len, what) in cuts {
        assert_refused(
            &bytes[..len],
            "truncated",
            &format!("cut at {len} ({what})"),
        );
    }
}

#[test]
fn truncated_at_random_lengths() {
    let bytes = artifact_bytes();
    let mut rng = Rng::new(42);
    for _ in 0..300 {
        let len = rng.below(bytes.len() as u64) as usize;
        let err = Artifact::from_bytes(&bytes[..len]).expect_err("truncated artifact accepted");
        assert!(err.to_string().contains("truncated"), "cut at {len}: {err}");
    }
}

#[test]
fn appended_bytes_are_refused() {
    let mut bytes = artifact_bytes();
    bytes.push(0);
    assert_refused(&bytes, "file length", "one byte appended");
    // Even with a fixed checksum, the length field disagrees.
    refix_checksum(&mut bytes);
    assert_refused(&bytes, "file length", "one byte appended, checksum fixed");
}

#[test]
fn flipped_bytes_fail_the_checksum() {
    let bytes = artifact_bytes();
    let h = header_of(&bytes);
    let meta = h.metadata_offset as usize;
    let meta_end = meta + h.metadata_len as usize;
    let code = h.code_offset as usize;
    for (at, what) in [
        (code, "first code byte"),
        (code + h.code_len as usize / 2, "middle of code"),
        (bytes.len() - 1, "last code byte"),
        (meta, "first metadata byte"),
        (meta_end - 1, "last metadata byte"),
        ((meta + meta_end) / 2, "middle of metadata"),
        (meta_end, "padding after metadata"),
        (64, "wasm hash in the header"),
        (20, "compiler version in the header"),
        (CHECKSUM_RANGE.start, "the checksum itself"),
    ] {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            assert_refused(&bad, "checksum", &format!("{what} (byte {at}) ^ {flip:#x}"));
        }
    }
}

#[test]
fn wrong_magic() {
    let mut bytes = artifact_bytes();
    bytes[1] = b'X';
    assert_refused(&bytes, "magic", "wrong magic");
    // A text-mode transfer that turned \r\n into \n.
    let mut mangled = artifact_bytes();
    mangled.remove(4);
    assert_refused(&mangled, "magic", "CRLF mangled");
}

#[test]
fn wasm_file_given_as_artifact() {
    let wasm = wasm(MODULE);
    assert_refused(&wasm, "magic", "a wasm module");
    assert_refused(b"(module)", "magic", "WAT text");
}

#[test]
fn wrong_version() {
    let bytes = artifact_bytes();
    for (at, value, what) in [
        (8, vibewasm_format::VERSION_MAJOR + 1, "newer major"),
        (
            8,
            vibewasm_format::VERSION_MAJOR.wrapping_sub(1),
            "older major",
        ),
        (10, vibewasm_format::VERSION_MINOR + 1, "newer minor"),
    ] {
        let mut bad = bytes.clone();
        bad[at..at + 2].copy_from_slice(&value.to_le_bytes());
        refix_checksum(&mut bad);
        assert_refused(&bad, "version", what);
    }
}

#[test]
fn wrong_target() {
    let bytes = artifact_bytes();
    // A real artifact of the other architecture (cross-compiled): refused,
    // naming both.
    let (other, host_name, other_name) = if cfg!(target_arch = "x86_64") {
        ("aarch64-linux", "X86_64", "Aarch64")
    } else {
        ("x86_64-linux", "Aarch64", "X86_64")
    };
    let config = Config {
        target: Target::by_name(other),
        ..Config::default()
    };
    let foreign = compile_wat_with(MODULE, &config);
    assert_refused(&foreign, "arch", "foreign artifact");
    let text = Artifact::from_bytes(&foreign).err().unwrap().to_string();
    assert!(
        text.contains(host_name) && text.contains(other_name),
        "{text}"
    );
    // The header's byte of another known architecture.
    let mut bad = bytes.clone();
    bad[48] = if cfg!(target_arch = "x86_64") { 2 } else { 1 };
    refix_checksum(&mut bad);
    assert_refused(&bad, "arch", "other-arch artifact");
    // An unknown architecture byte.
    let mut bad = bytes.clone();
    bad[48] = 0x7e;
    refix_checksum(&mut bad);
    assert_refused(&bad, "arch", "unknown arch");
    // Another OS.
    let mut bad = bytes.clone();
    bad[49] = 2; // macOS
    refix_checksum(&mut bad);
    assert_refused(&bad, "os", "macOS artifact");
    // Another pointer width.
    let mut bad = bytes.clone();
    bad[50] = 4;
    refix_checksum(&mut bad);
    assert_refused(&bad, "pointer_width", "32-bit artifact");
}

#[test]
fn cpu_features_the_host_lacks() {
    let bytes = artifact_bytes();
    let mut bad = bytes.clone();
    let features = u64::from_le_bytes(bad[56..64].try_into().unwrap()) | 1 << 63;
    bad[56..64].copy_from_slice(&features.to_le_bytes());
    refix_checksum(&mut bad);
    assert_refused(&bad, "CPU features", "unknown CPU feature bit");
}

#[test]
fn unknown_code_options_are_refused() {
    let mut bad = artifact_bytes();
    bad[52] = 9; // no such bounds-check strategy
    refix_checksum(&mut bad);
    assert_refused(&bad, "bounds_checks", "bounds-check strategy 9");
}

/// The header's bounds-check strategy is what the loader builds memories
/// for: code claiming explicit checks gets no guard region and no fault
/// handler, so guard-page code (whose unchecked accesses the fault sites
/// list) relabelled "explicit" would read and write past its memory.
#[test]
fn explicit_bounds_checks_with_fault_sites_are_refused() {
    let guard = compile_wat_with(
        MODULE,
        &Config {
            bounds_checks: vibewasm_compiler::BoundsChecks::GuardPages,
            ..Config::default()
        },
    );
    let view = vibewasm_format::read_artifact(&guard).unwrap();
    let sites = view.tables.num_fault_sites();
    assert!(sites > 0, "guard-page code of MODULE has fault sites");
    let mut bad = guard.clone();
    assert_eq!(bad[52], vibewasm_format::BoundsChecks::GuardPages as u8);
    bad[52] = vibewasm_format::BoundsChecks::Explicit as u8;
    refix_checksum(&mut bad);
    assert_refused(
        &bad,
        "explicit bounds checks",
        "guard-page code relabelled explicit",
    );
    assert_refused(&bad, &format!("{sites} fault sites"), "the count");
    // Code compiled with explicit checks has none, and loads.
    let explicit = compile_wat_with(
        MODULE,
        &Config {
            bounds_checks: vibewasm_compiler::BoundsChecks::Explicit,
            ..Config::default()
        },
    );
    let view = vibewasm_format::read_artifact(&explicit).unwrap();
    assert_eq!(view.tables.num_fault_sites(), 0);
    exercise(&open_artifact_bytes(&explicit));
}

#[test]
fn section_ranges_are_checked() {
    let bytes = artifact_bytes();
    let h = header_of(&bytes);
    // code offset not aligned / past the end; metadata length past the end
    let edits: [(usize, u64, &str); 4] = [
        (112, h.code_offset + 1, "code"),
        (120, h.code_len + 4096, "code end"),
        (104, h.file_len, "metadata end"),
        (96, 8, "metadata offset"),
    ];
    for (at, value, word) in edits {
        let mut bad = bytes.clone();
        bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
        refix_checksum(&mut bad);
        assert_refused(&bad, word, &format!("header field at {at} = {value}"));
    }
}

/// Corrupting the metadata behind a valid checksum must still be caught
/// (as a decode or consistency error) or be harmless: never a panic.
#[test]
fn corrupted_metadata_with_valid_checksum_never_panics() {
    let bytes = artifact_bytes();
    let h = header_of(&bytes);
    let meta = h.metadata_offset as usize..(h.metadata_offset + h.metadata_len) as usize;
    let mut refused = 0;
    let mut rng = Rng::new(99);
    for at in meta.clone() {
        for _ in 0..3 {
            let mut bad = bytes.clone();
            bad[at] ^= 1 << rng.below(8);
            refix_checksum(&mut bad);
            if let Err(e) = Artifact::from_bytes(&bad) {
                refused += 1;
                assert!(matches!(e, LoadError::Format { .. }), "byte {at}: {e:?}");
            }
        }
    }
    assert!(refused > 0, "no corrupted metadata was refused");
}

#[test]
fn same_artifact_loaded_twice_runs_at_different_addresses() {
    let bytes = artifact_bytes();
    let dir = TempDir::new();
    let path = dir.join("m.vwa");
    std::fs::write(&path, &bytes).unwrap();
    let a = std::sync::Arc::new(Artifact::open(&path).unwrap());
    let b = std::sync::Arc::new(Artifact::open(&path).unwrap());
    let c = std::sync::Arc::new(Artifact::from_bytes(&bytes).unwrap());
    assert_ne!(a.code_base(), b.code_base());
    assert_ne!(a.code_base(), c.code_base());
    for art in [&a, &b, &c] {
        exercise(art);
    }
    // Interleaved instances of different mappings.
    let mut ia = linker().instantiate_artifact(&a).unwrap();
    let mut ib = linker().instantiate_artifact(&b).unwrap();
    let mut ic = linker().instantiate_artifact(&c).unwrap();
    for n in 1..20 {
        let ra = call_i32(&mut ia, "run", &[Val::I32(n)]);
        let rb = call_i32(&mut ib, "run", &[Val::I32(n)]);
        let rc = call_i32(&mut ic, "run", &[Val::I32(n)]);
        assert_eq!((ra, rb), (rc, rc));
        assert_eq!(ra, n * n + 2 * n + 105 + 100 / n);
    }
    // A typed handle from one artifact refuses another artifact's instance.
    let fib = ia.get_typed_func::<i32, i32>("fib").unwrap();
    assert_eq!(fib.call(&mut ia, 10).unwrap(), 55);
    assert!(fib.call(&mut ib, 10).is_err());
}

#[test]
fn artifact_outlives_its_file() {
    let bytes = artifact_bytes();
    let dir = TempDir::new();
    let path = dir.join("gone.vwa");
    std::fs::write(&path, &bytes).unwrap();
    let artifact = std::sync::Arc::new(Artifact::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    exercise(&artifact);
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new();
    let err = Artifact::open(dir.join("nope.vwa")).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.vwa"), "{err}");
}

/// The `/proc/self/maps` line of the mapping that holds `address`.
fn mapping_of(address: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .find(|line| {
            let range = line.split_whitespace().next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            (start..end).contains(&address)
        })
        .unwrap_or_else(|| panic!("no mapping holds {address:#x}"))
        .to_string()
}

/// Long code is page-aligned in the file and mapped from it (shared
/// between processes); short code is packed after the metadata and copied
/// to fresh pages at load. Both run.
#[test]
fn long_code_is_mapped_from_the_file_and_short_code_is_copied() {
    let dir = TempDir::new();
    // 1,000 functions of a few dozen instructions: well over 64 KiB of code.
    let mut wat = String::from("(module\n");
    for i in 0..1000 {
        wat.push_str(&format!(
            "(func (export \"f{i}\") (param i64) (result i64) \
             (i64.add (i64.mul (local.get 0) (i64.const {i})) \
             (i64.xor (i64.rotl (local.get 0) (i64.const 7)) (i64.div_u (local.get 0) (i64.const 3)))))\n"
        ));
    }
    wat.push(')');
    for (name, wat, mapped) in [("long", wat.as_str(), true), ("short", MODULE, false)] {
        let bytes = compile_wat(wat);
        let h = header_of(&bytes);
        assert_eq!(
            h.code_len >= vibewasm_format::MAPPED_CODE_MIN,
            mapped,
            "{name}: {} bytes of code",
            h.code_len
        );
        assert_eq!(h.code_offset.is_multiple_of(CODE_ALIGN), mapped, "{name}");
        let path = dir.join(&format!("{name}.vwa"));
        std::fs::write(&path, &bytes).unwrap();
        let artifact = std::sync::Arc::new(Artifact::open(&path).unwrap());
        let mapping = mapping_of(artifact.code_base() as usize);
        assert_eq!(
            mapping.ends_with(&format!("{name}.vwa")),
            mapped,
            "{name}: {mapping}"
        );
        if mapped {
            let mut inst = Linker::new().instantiate_artifact(&artifact).unwrap();
            let want = 20 + (10i64.rotate_left(7) ^ 3);
            assert_eq!(call_i64(&mut inst, "f2", &[Val::I64(10)]), want);
        } else {
            exercise(&artifact);
        }
    }
}
