use super::*;

/// A one-function artifact for the host.
pub(crate) fn sample() -> Vec<u8> {
    let metadata = Metadata {
        types: vec![FuncType {
            params: vec![],
            results: vec![ValType::I32],
        }],
        func_types: vec![0],
        trampolines: Some(Trampolines {
            host_entry: 0,
            trap_path: 8,
        }),
        exports: vec![Export {
            name: "f".into(),
            kind: ExternKind::Func,
            index: 0,
        }],
        ..Metadata::default()
    };
    write_artifact(&ArtifactParts {
        compiler_version: "test",
        target: Target::host().unwrap(),
        options: CodeOptions::default(),
        wasm: b"\0asm",
        metadata: &metadata,
        tables: &SiteTables {
            functions: vec![CodeRange {
                offset: 16,
                len: 8,
                frame_size: 8,
            }],
            func_names: vec![(0, "f".into())],
            ..SiteTables::default()
        },
        code: &[0x90; 32],
    })
    .unwrap()
}

#[test]
fn round_trip() {
    let file = sample();
    let view = read_artifact(&file).unwrap();
    assert_eq!(view.code, &[0x90; 32]);
    assert_eq!(view.metadata.exports[0].name, "f");
    assert_eq!(view.tables.func_name(0), Some("f"));
    assert_eq!(view.tables.function(0).map(|f| f.offset), Some(16));
    assert_eq!(view.header.code_offset % CODE_MIN_ALIGN, 0);
    assert_eq!(view.header.wasm_sha256, sha256(b"\0asm"));
}

#[test]
fn deterministic() {
    assert_eq!(sample(), sample());
}

#[test]
fn every_truncation_is_refused() {
    let file = sample();
    for len in 0..file.len() {
        assert!(
            read_artifact(&file[..len]).is_err(),
            "length {len} accepted"
        );
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    let file = sample();
    for at in (0..file.len()).step_by(7) {
        let mut bad = file.clone();
        bad[at] ^= 0x40;
        assert!(read_artifact(&bad).is_err(), "flip at {at} accepted");
    }
}

#[test]
fn wrong_magic_version_and_target_name_the_field() {
    let file = sample();
    let mut bad = file.clone();
    bad[1] = b'X';
    let err = read_artifact(&bad).unwrap_err().to_string();
    assert!(err.contains("magic"), "{err}");

    let mut bad = file.clone();
    bad[8] = 9;
    let err = read_artifact(&bad).unwrap_err().to_string();
    assert!(
        err.contains("format version") && err.contains("9.0"),
        "{err}"
    );

    let mut host = Target::host().unwrap();
    host.arch = if host.arch == Arch::X86_64 {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let err = read_artifact_for(&file, host, 0).unwrap_err().to_string();
    assert!(err.contains("target.arch"), "{err}");
}

#[test]
fn missing_cpu_features_are_refused() {
    let metadata = Metadata::default();
    let mut target = Target::host().unwrap();
    target.cpu_features = cpu::LZCNT;
    let file = write_artifact(&ArtifactParts {
        compiler_version: "test",
        target,
        options: CodeOptions::default(),
        wasm: b"",
        metadata: &metadata,
        tables: &SiteTables::default(),
        code: &[],
    })
    .unwrap();
    let err = read_artifact_for(&file, Target::host().unwrap(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lzcnt"), "{err}");
    assert!(read_artifact_for(&file, Target::host().unwrap(), cpu::LZCNT).is_ok());
}

#[test]
fn checksum_mismatch_names_both_values() {
    let mut file = sample();
    let last = file.len() - 1;
    file[last] ^= 1;
    match read_artifact(&file) {
        Err(FormatError::ChecksumMismatch { stored, computed }) => assert_ne!(stored, computed),
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[test]
fn the_tree_checksum_is_the_same_hash_for_any_number_of_threads() {
    // Lengths around the parallel threshold and the tree's power-of-two
    // cuts, with bytes that differ everywhere.
    let lengths = [
        PARALLEL_HASH_MIN - 1,
        PARALLEL_HASH_MIN,
        PARALLEL_HASH_MIN + 1,
        PARALLEL_HASH_MIN + 1023,
        2 * PARALLEL_HASH_MIN + 4097,
        5 * PARALLEL_HASH_MIN + 12345,
    ];
    let big: Vec<u8> = (0..*lengths.iter().max().unwrap() as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for len in lengths {
        let file = &big[..len];
        let mut zeroed = file.to_vec();
        zeroed[CHECKSUM_RANGE].fill(0);
        let expected: [u8; 32] = blake3::hash(&zeroed).into();
        for threads in [1, 2, 3, 4, 8] {
            assert_eq!(
                tree_checksum(file, threads),
                expected,
                "{len} bytes, {threads} threads"
            );
        }
    }
}
