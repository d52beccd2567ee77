use super::*;

/// The tables of [`sample`]: one function, named.
fn sample_tables() -> SiteTables {
    SiteTables {
        functions: vec![CodeRange {
            offset: 16,
            len: 8,
            frame_size: 8,
        }],
        func_names: vec![(0, "f".into())],
        ..SiteTables::default()
    }
}

/// A one-function artifact for the host.
pub(crate) fn sample() -> Vec<u8> {
    sample_aligned(CODE_MIN_ALIGN).unwrap()
}

/// [`sample`] with its code at a multiple of `code_align` in the file.
fn sample_aligned(code_align: u64) -> Result<Vec<u8>, String> {
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
    write_artifact_aligned(
        &ArtifactParts {
            compiler_version: "test",
            target: Target::host().unwrap(),
            options: CodeOptions::default(),
            wasm: b"\0asm",
            metadata: &metadata,
            tables: &sample_tables(),
            memory_image: &[],
            code: &[0x90; 32],
        },
        code_align,
    )
}

#[test]
fn code_can_be_page_aligned_for_execution_in_place() {
    let file = sample_aligned(CODE_ALIGN).unwrap();
    let view = read_artifact(&file).unwrap();
    assert_eq!(view.header.code_offset % CODE_ALIGN, 0);
    assert_eq!(view.code, &[0x90; 32]);
    assert!(
        sample().len() < file.len(),
        "the default has no page of padding"
    );
    for bad in [0, 8, 24, 4095] {
        assert!(sample_aligned(bad).is_err(), "alignment {bad} accepted");
    }
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
        err.contains("format version") && err.contains(&format!("9.{VERSION_MINOR}")),
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
        memory_image: &[],
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

/// [`sample`]'s metadata with a defined 1-page memory 0 and one active
/// segment in a 2-page image.
fn image_module() -> (Metadata, Vec<u8>) {
    let mut image = vec![0u8; 8192];
    image[100..105].copy_from_slice(b"hello");
    let metadata = Metadata {
        memories: vec![MemoryType {
            min_pages: 1,
            max_pages: None,
            index64: false,
        }],
        data: vec![DataSegment {
            mode: SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(4196),
            },
            bytes: vec![],
        }],
        memory_image: Some(MemoryImage {
            offset: 0,
            len: 0,
            memory_offset: 4096,
            segments: vec![0],
        }),
        ..read_artifact(&sample()).unwrap().metadata
    };
    (metadata, image)
}

fn write_with_image(metadata: &Metadata, image: &[u8], code: &[u8]) -> Vec<u8> {
    write_with_tables(metadata, &sample_tables(), image, code)
}

fn write_with_tables(
    metadata: &Metadata,
    tables: &SiteTables,
    image: &[u8],
    code: &[u8],
) -> Vec<u8> {
    write_artifact(&ArtifactParts {
        compiler_version: "test",
        target: Target::host().unwrap(),
        options: CodeOptions::default(),
        wasm: b"\0asm",
        metadata,
        tables,
        memory_image: image,
        code,
    })
    .unwrap()
}

#[test]
fn memory_image_is_placed_page_aligned_between_metadata_and_code() {
    for code_len in [32, 70_000] {
        let (metadata, image) = image_module();
        let code = vec![0x90; code_len];
        let file = write_with_image(&metadata, &image, &code);
        let view = read_artifact(&file).unwrap();
        let placed = view.metadata.memory_image.clone().unwrap();
        assert_eq!(placed.offset % IMAGE_ALIGN, 0);
        assert_eq!(placed.len, 8192);
        assert!(placed.offset >= view.header.metadata_offset + view.header.metadata_len);
        assert!(placed.offset + placed.len <= view.header.code_offset);
        assert_eq!(view.memory_image, &image[..]);
        assert_eq!(
            &file[placed.offset as usize..][..8192],
            &image[..],
            "the bytes are at the recorded offset"
        );
        assert_eq!(view.code, &code[..]);
        assert_eq!(
            view.metadata,
            Metadata {
                memory_image: Some(placed),
                ..metadata
            }
        );
    }
    // Without an image, no padding: the code follows the tables.
    let file = sample();
    let view = read_artifact(&file).unwrap();
    assert!(view.memory_image.is_empty());
    let (strings, strings_len) = view.metadata.site_tables.name_strings;
    let tables_end = view.tables_range.start as u64 + strings + strings_len;
    assert_eq!(
        view.header.code_offset,
        tables_end.next_multiple_of(CODE_MIN_ALIGN)
    );
}

#[test]
fn placement_settles_when_the_offset_needs_a_longer_varint() {
    // Metadata and tables of about 4 KiB put the image at 8192 or 12288 (a
    // varint of two bytes either way), and 2 MB of names past 2^21, three
    // bytes.
    for names in [3800usize, 3900, 4000, 4090, 2_200_000] {
        let (metadata, image) = image_module();
        let tables = SiteTables {
            func_names: vec![(0, "x".repeat(names))],
            ..sample_tables()
        };
        let file = write_with_tables(&metadata, &tables, &image, &[0x90; 32]);
        let view = read_artifact(&file).unwrap();
        assert_eq!(view.memory_image, &image[..], "{names}");
    }
}

/// Rewrites the image's record in an artifact with `edit`, keeping every
/// byte where it is (the metadata is encoded again in place, and must not
/// grow), so that the check under test is what refuses it.
fn forge_image(edit: impl FnOnce(&mut MemoryImage, &Header)) -> Result<(), FormatError> {
    let (metadata, image) = image_module();
    // Long code: page-aligned right after the image.
    let mut file = write_with_image(&metadata, &image, &[0x90; 70_000]);
    let header = Header::decode(&file).unwrap();
    let mut metadata = read_artifact(&file).unwrap().metadata;
    edit(metadata.memory_image.as_mut().unwrap(), &header);
    let encoded = postcard::to_stdvec(&metadata).unwrap();
    // Into the padding before the image at 4096, if longer.
    assert!(header.metadata_offset + encoded.len() as u64 <= 4096);
    let start = header.metadata_offset as usize;
    file[start..start + encoded.len()].copy_from_slice(&encoded);
    let mut header = header;
    header.metadata_len = encoded.len() as u64;
    file[..HEADER_SIZE].copy_from_slice(&header.encode());
    let checksum = file_checksum(&file);
    file[CHECKSUM_RANGE].copy_from_slice(&checksum);
    read_artifact(&file).map(|_| ())
}

#[test]
fn forged_memory_images_are_refused() {
    assert_eq!(forge_image(|_, _| {}), Ok(()));
    type Edit = Box<dyn FnOnce(&mut MemoryImage, &Header)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("memory image end", Box::new(|i, h| i.offset = h.file_len)),
        (
            "memory image end",
            Box::new(|i, h| i.offset = h.file_len.next_multiple_of(4096) + 4096),
        ),
        ("memory image offset", Box::new(|i, _| i.offset = 0)),
        (
            "overlaps the code",
            Box::new(|i, h| i.offset = h.code_offset / 4096 * 4096),
        ),
        (
            "overlaps the metadata",
            Box::new(|i, _| i.offset = HEADER_SIZE as u64),
        ),
        ("offset alignment", Box::new(|i, _| i.offset -= 2048)),
        ("length alignment", Box::new(|i, _| i.len -= 16)),
        ("empty", Box::new(|i, _| i.len = 0)),
        (
            "memory image end in memory 0",
            Box::new(|i, _| i.memory_offset = 65536 - 4096),
        ),
        (
            "memory offset alignment",
            Box::new(|i, _| i.memory_offset = 100),
        ),
        (
            "memory_image.segments[0]",
            Box::new(|i, _| i.segments = vec![1]),
        ),
        ("not ascending", Box::new(|i, _| i.segments = vec![0, 0])),
    ];
    for (word, edit) in cases {
        let err = forge_image(edit).unwrap_err().to_string();
        assert!(err.contains(word), "{word}: {err}");
    }
}

#[test]
fn memory_image_needs_a_defined_memory_and_bare_segments() {
    let check = |edit: &dyn Fn(&mut Metadata)| {
        let (mut metadata, image) = image_module();
        edit(&mut metadata);
        let file = write_with_image(&metadata, &image, &[0x90; 32]);
        read_artifact(&file).unwrap_err().to_string()
    };
    let err = check(&|m| {
        m.memories.clear();
        m.imports.push(Import {
            module: "env".into(),
            name: "memory".into(),
            kind: ImportKind::Memory(MemoryType {
                min_pages: 1,
                max_pages: None,
                index64: false,
            }),
        });
    });
    assert!(err.contains("imported or missing"), "{err}");
    let err = check(&|m| {
        m.memories.clear();
        m.data.clear();
        m.memory_image.as_mut().unwrap().segments.clear();
    });
    assert!(err.contains("imported or missing"), "{err}");
    let err = check(&|m| m.data[0].bytes = vec![1]);
    assert!(err.contains("no bytes of its own"), "{err}");
    let err = check(&|m| m.data[0].mode = SegmentMode::Passive);
    assert!(err.contains("active segment of memory 0"), "{err}");
    let err = check(&|m| m.memories[0].min_pages = 0);
    assert!(err.contains("memory image end in memory 0"), "{err}");
}

/// Long code is aligned in the file for the largest page size of the
/// target's hosts (x86-64: 4 KiB, aarch64: 64 KiB); short code to 16 bytes
/// whatever the target. Each artifact reads back for its own target.
#[test]
fn mapped_code_is_aligned_for_the_targets_pages() {
    for (arch, align) in [(Arch::X86_64, 4096), (Arch::Aarch64, 65536)] {
        let target = Target {
            arch,
            ..Target::host().unwrap()
        };
        for (code_len, expected) in [(70_000, align), (32, CODE_MIN_ALIGN)] {
            let code = vec![0u8; code_len];
            let file = write_artifact(&ArtifactParts {
                compiler_version: "test",
                target,
                options: CodeOptions::default(),
                wasm: b"\0asm",
                metadata: &Metadata::default(),
                tables: &SiteTables::default(),
                memory_image: &[],
                code: &code,
            })
            .unwrap();
            let view = read_artifact_for(&file, target, 0).unwrap();
            assert_eq!(view.header.code_offset % expected, 0, "{arch:?}");
            // The first such boundary after the few bytes of metadata.
            assert!(view.header.code_offset <= expected.max(4096), "{arch:?}");
            assert_eq!(view.code, &code[..]);
        }
    }
    assert_eq!(mapped_code_align(Arch::X86_64), CODE_ALIGN);
    assert_eq!(mapped_code_align(Arch::Aarch64), CODE_ALIGN_AARCH64);
}

/// memory64: a 64-bit memory's limits go up to 2^48 pages and its active
/// segments have i64 offsets; forged types and offsets are refused.
#[test]
fn memory64_limits_and_segment_offsets() {
    let read = |edit: &dyn Fn(&mut Metadata)| {
        let (mut metadata, image) = image_module();
        metadata.memory_image = None;
        edit(&mut metadata);
        let file = write_with_image(&metadata, &image[..0], &[0x90; 32]);
        read_artifact(&file).map(|_| ()).map_err(|e| e.to_string())
    };
    let wide = |m: &mut Metadata| {
        m.memories[0].index64 = true;
        m.data[0].mode = SegmentMode::Active {
            index: 0,
            offset: ConstExpr::I64(1 << 40),
        };
    };
    read(&wide).unwrap();
    read(&|m| {
        wide(m);
        m.memories[0].max_pages = Some(1 << 48);
    })
    .unwrap();
    let err = read(&|m| {
        wide(m);
        m.memories[0].max_pages = Some((1 << 48) + 1);
    })
    .unwrap_err();
    assert!(err.contains("for a 64-bit memory"), "{err}");
    let err = read(&|m| m.memories[0].max_pages = Some(65537)).unwrap_err();
    assert!(err.contains("for a 32-bit memory"), "{err}");
    // An i32 offset for a 64-bit memory, an i64 one for a 32-bit memory.
    let err = read(&|m| m.memories[0].index64 = true).unwrap_err();
    assert!(err.contains("where i64 is needed"), "{err}");
    let err = read(&|m| {
        wide(m);
        m.memories[0].index64 = false;
    })
    .unwrap_err();
    assert!(err.contains("where i32 is needed"), "{err}");
    // The image is for 32-bit memories only.
    let err = {
        let (mut metadata, image) = image_module();
        metadata.memories[0].index64 = true;
        metadata.data.clear();
        metadata.memory_image.as_mut().unwrap().segments.clear();
        let file = write_with_image(&metadata, &image, &[0x90; 32]);
        read_artifact(&file).unwrap_err().to_string()
    };
    assert!(err.contains("64-bit memory 0"), "{err}");
}

/// table64: a 64-bit table's active segments have i64 offsets, a 32-bit
/// table's i32 ones; forged offsets are refused.
#[test]
fn table64_segment_offsets() {
    let read = |index64: bool, offset: ConstExpr| {
        let (mut metadata, image) = image_module();
        metadata.memory_image = None;
        metadata.tables = vec![TableType {
            element: ValType::FuncRef,
            min: 2,
            max: None,
            index64,
        }];
        metadata.elements = vec![ElementSegment {
            mode: SegmentMode::Active { index: 0, offset },
            element: ValType::FuncRef,
            items: vec![ConstExpr::RefNull(ValType::FuncRef)],
        }];
        let file = write_with_image(&metadata, &image[..0], &[0x90; 32]);
        read_artifact(&file).map(|_| ()).map_err(|e| e.to_string())
    };
    read(true, ConstExpr::I64(1)).unwrap();
    read(false, ConstExpr::I32(1)).unwrap();
    let err = read(true, ConstExpr::I32(1)).unwrap_err();
    assert!(err.contains("where i64 is needed"), "{err}");
    let err = read(false, ConstExpr::I64(1)).unwrap_err();
    assert!(err.contains("where i32 is needed"), "{err}");
}
