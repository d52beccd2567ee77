//! Forged tables: the per-function and per-site tables are read in place,
//! checked by size at load and record by record where they are used (see
//! `vibewasm_format::Tables`). Behind a valid checksum, a table that lies
//! outside its section or is not a whole number of records is refused at
//! load, a code range outside the code at instantiation, and garbage in
//! the trap, fault, call and name records only makes traps and backtraces
//! less precise: never a panic, a crash or a read outside the file.

use vibewasm_format::{read_artifact, TableRanges};
use vibewasm_loader::LoadError;
use vibewasm_tests::*;

/// Traps of every kind of record: a stub (division), a guard-page fault
/// (load), and a deep stack (call sites), in named functions.
const MODULE: &str = r#"(module
  (memory 1)
  (func $div (export "div") (param i32) (result i32)
    (i32.div_u (i32.const 7) (local.get 0)))
  (func $load (export "load") (param i32) (result i32)
    (i32.load (local.get 0)))
  (func $deep (export "deep") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $load (i32.const 70000)))
      (else (call $deep (i32.sub (local.get 0) (i32.const 1)))))))"#;

/// The unsigned LEB128 encoding postcard gives a `u64`.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn encode_ranges(r: &TableRanges) -> Vec<u8> {
    let mut out = Vec::new();
    for (offset, len) in [
        r.functions,
        r.traps,
        r.fault_sites,
        r.call_sites,
        r.names,
        r.name_strings,
    ] {
        varint(offset, &mut out);
        varint(len, &mut out);
    }
    // `memory_image: None`, the last field.
    out.push(0);
    out
}

/// `bytes` with the table ranges at the end of its metadata changed by
/// `edit` (to values of the same encoded length) and the checksum fixed.
fn forge_ranges(bytes: &[u8], edit: impl FnOnce(&mut TableRanges)) -> Vec<u8> {
    let view = read_artifact(bytes).unwrap();
    let metadata_end = view.tables_range.start;
    let mut ranges = view.metadata.site_tables;
    assert!(view.metadata.memory_image.is_none());
    let old = encode_ranges(&ranges);
    assert!(
        bytes[..metadata_end].ends_with(&old),
        "the ranges are the metadata's last field but `memory_image`"
    );
    edit(&mut ranges);
    let new = encode_ranges(&ranges);
    assert_eq!(new.len(), old.len(), "the forged ranges keep their length");
    let mut bad = bytes.to_vec();
    bad[metadata_end - old.len()..metadata_end].copy_from_slice(&new);
    refix_checksum(&mut bad);
    bad
}

fn refused_at_load(bytes: &[u8], words: &[&str]) {
    let err = Artifact::from_bytes(bytes).expect_err("the forged artifact loads");
    assert!(matches!(err, LoadError::Format { .. }), "{err:?}");
    let text = err.to_string();
    for word in words {
        assert!(text.contains(word), "{text:?} does not mention {word:?}");
    }
}

#[test]
fn tables_outside_the_section_or_of_partial_records_are_refused_at_load() {
    let bytes = compile_wat(MODULE);
    refused_at_load(
        &forge_ranges(&bytes, |r| r.traps.1 += 1),
        &["traps", "whole number of 9-byte records"],
    );
    refused_at_load(
        &forge_ranges(&bytes, |r| r.fault_sites.1 = 3),
        &["fault sites", "shorter than its count"],
    );
    refused_at_load(
        // "div", "load", "deep": 12 bytes, and 127 encodes in one byte too.
        &forge_ranges(&bytes, |r| r.name_strings.1 = 127),
        &["name strings table end"],
    );
    // One function fewer than the module has.
    refused_at_load(
        &forge_ranges(&bytes, |r| r.functions.1 -= 12),
        &["code ranges for", "functions"],
    );
}

#[test]
fn a_code_range_outside_the_code_is_refused_at_instantiation() {
    let bytes = compile_wat(MODULE);
    let view = read_artifact(&bytes).unwrap();
    // Function 2's length field: far past the end of the code.
    let at = view.tables_range.start + view.metadata.site_tables.functions.0 as usize + 2 * 12 + 4;
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    refix_checksum(&mut bad);
    let artifact = std::sync::Arc::new(Artifact::from_bytes(&bad).expect("loads"));
    let err = Linker::new()
        .instantiate_artifact(&artifact)
        .expect_err("instantiates");
    assert!(
        err.to_string()
            .contains("function 2 has no code range inside the code"),
        "{err}"
    );
}

#[test]
fn garbage_in_site_records_never_crashes() {
    let bytes = compile_wat(MODULE);
    let view = read_artifact(&bytes).unwrap();
    let r = view.metadata.site_tables;
    let at = |offset: u64| view.tables_range.start + offset as usize;
    // The bytes garbage may hit: the trap, call-site and name tables. Not
    // the code ranges nor the fault sites: those are the contract with the
    // code (a fault the handler does not recognise is not a trap, as it
    // would not be for forged code).
    let mut targets: Vec<usize> = Vec::new();
    for (offset, len) in [r.traps, r.call_sites, r.names, r.name_strings] {
        targets.extend(at(offset)..at(offset + len));
    }
    assert!(r.fault_sites.1 > 0 && r.call_sites.1 > 0 && r.names.1 > 0);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut bad = bytes.clone();
        for _ in 0..1 + round % 8 {
            let target = targets[(next() as usize) % targets.len()];
            bad[target] = next() as u8;
        }
        refix_checksum(&mut bad);
        // A garbled count that no longer fits is refused at load.
        let artifact = match Artifact::from_bytes(&bad) {
            Ok(artifact) => std::sync::Arc::new(artifact),
            Err(e) => {
                assert!(matches!(e, LoadError::Format { .. }), "{e:?}");
                continue;
            }
        };
        let mut instance = Linker::new().instantiate_artifact(&artifact).unwrap();
        for (name, arg) in [("div", 0), ("load", 70000), ("deep", 30)] {
            let err = instance
                .call(name, &[Val::I32(arg)])
                .expect_err("the call traps");
            // The trap may name another function, offset or kind, or say
            // that its site is unknown: it is a trap either way.
            assert!(matches!(err, Error::Trap(_)), "round {round}: {err}");
            let _ = format!("{err} {err:?}");
        }
    }
}

#[test]
fn traps_and_backtraces_come_from_the_tables() {
    let mut instance = instantiate_wat(MODULE);
    let err = instance.call("deep", &[Val::I32(3)]).unwrap_err();
    let trap = err.as_trap().expect("a trap");
    assert_eq!(trap.code, TrapCode::MemoryOutOfBounds);
    let names: Vec<_> = trap
        .backtrace
        .iter()
        .map(|f| f.func_name.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["load", "deep", "deep", "deep", "deep"]);
    assert!(trap.backtrace.iter().all(|f| f.wasm_offset.is_some()));
    let err = instance.call("div", &[Val::I32(0)]).unwrap_err();
    assert_eq!(err.trap_code(), Some(TrapCode::IntegerDivideByZero));
    assert_eq!(err.as_trap().unwrap().func_name.as_deref(), Some("div"));
}
