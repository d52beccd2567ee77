//! The initial memory image (`vibewasm_format::MemoryImage`): memory 0's
//! active data segments applied at compile time and mapped copy-on-write
//! from the artifact file at instantiation (copied from `from_bytes`).
//! Contents, privacy (other instances, the file), growth and bulk
//! operations across the image's end, when the compiler falls back to
//! copying segments, the dropped-segment semantics, both bounds-check
//! strategies, and forged image records.

use std::sync::Arc;

use vibewasm_format::{
    file_checksum, read_artifact, BoundsChecks, GlobalType, Header, Metadata, ValType,
    CHECKSUM_RANGE,
};
use vibewasm_loader::LoadError;
use vibewasm_tests::*;

fn configs() -> [Config; 2] {
    [BoundsChecks::GuardPages, BoundsChecks::Explicit].map(|bounds_checks| Config {
        bounds_checks,
        ..Config::default()
    })
}

fn i(v: i32) -> Val {
    Val::I32(v)
}

/// A WAT string literal of `len` bytes, byte `k` being `(k * 7 + seed) % 251`.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|k| ((k * 7 + seed) % 251) as u8).collect()
}

fn wat_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// Functions every test module has, after its memory and data.
const FUNCS: &str = r#"
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init0") (param i32 i32 i32) (memory.init 0 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop0") (data.drop 0))
"#;

/// 5000 bytes at 1000, overwritten at 3000 by a later segment, and a
/// passive segment: an image of 4096..8192 (memory offset 0).
fn dense_module() -> (String, Vec<u8>) {
    let first = pattern(5000, 1);
    let second = b"LATER SEGMENT WINS".to_vec();
    let mut expected = vec![0u8; 2 * 65536];
    expected[1000..6000].copy_from_slice(&first);
    expected[3000..3000 + second.len()].copy_from_slice(&second);
    let wat = format!(
        r#"(module
  (memory (export "memory") 2 8)
  (data (i32.const 1000) "{}")
  (data (i32.const 3000) "{}")
  (data "passive")
  {FUNCS})"#,
        wat_string(&first),
        wat_string(&second)
    );
    (wat, expected)
}

fn memory_of(inst: &mut Instance) -> Vec<u8> {
    inst.memory().expect("memory 0").to_vec()
}

/// The line of `/proc/self/maps` for the mapping containing `address`.
fn mapping_at(address: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .find(|line| {
            let range = line.split(' ').next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            start <= address && address < end
        })
        .unwrap_or_else(|| panic!("no mapping at {address:#x}"))
        .to_string()
}

#[test]
fn image_is_built_for_constant_in_bounds_segments() {
    let (wat, _) = dense_module();
    let artifact = compile_wat(&wat);
    let view = read_artifact(&artifact).unwrap();
    let image = view.metadata.memory_image.as_ref().expect("an image");
    assert_eq!(image.memory_offset, 0);
    assert_eq!(image.len, 8192, "1000..6000 rounded to pages");
    assert_eq!(image.segments, [0, 1]);
    assert!(view.metadata.data[0].bytes.is_empty() && view.metadata.data[1].bytes.is_empty());
    assert_eq!(
        view.metadata.data[2].bytes, b"passive",
        "passive segments stay"
    );
    assert_eq!(image.offset % 4096, 0);
    assert!(image.offset + image.len <= view.header.code_offset);
}

#[test]
fn image_is_mapped_private_and_grows() {
    let (wat, expected) = dense_module();
    for config in configs() {
        let what = config.bounds_checks.name();
        let dir = TempDir::new();
        let path = dir.join("image.vwa");
        let bytes = compile_wat_with(&wat, &config);
        std::fs::write(&path, &bytes).unwrap();
        let artifact = Arc::new(Artifact::open(&path).unwrap());
        let linker = Linker::new();
        let mut a = linker.instantiate_artifact(&artifact).unwrap();
        let mut b = linker.instantiate_artifact(&artifact).unwrap();
        assert_eq!(memory_of(&mut a), expected, "{what}");
        assert_eq!(memory_of(&mut b), expected, "{what}");

        // The image's pages are the file's, mapped (copy-on-write).
        let base = a.memory().unwrap().as_ptr() as usize;
        let line = mapping_at(base);
        assert!(line.ends_with(path.to_str().unwrap()), "{what}: {line}");
        assert!(line.contains(" rw-p "), "{what}: {line}");
        assert!(!mapping_at(base + 8192).contains("image.vwa"), "{what}");

        // Writable; writes stay in their instance and out of the file.
        call(&mut a, "store8", &[i(1000), i(0xab)]);
        call(&mut a, "store8", &[i(0), i(0xcd)]);
        assert_eq!(call_i32(&mut a, "load8", &[i(1000)]), 0xab);
        assert_eq!(call_i32(&mut b, "load8", &[i(1000)]), expected[1000] as i32);
        assert_eq!(call_i32(&mut b, "load8", &[i(0)]), 0);
        let c = linker.instantiate_artifact(&artifact).unwrap();
        drop(c);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{what}: the file changed"
        );

        // Bulk operations across the image's end (8192), then growth.
        call(&mut a, "fill", &[i(8000), i(0x11), i(400)]);
        call(&mut a, "copy", &[i(8100), i(5990), i(20)]);
        let mut model = expected.clone();
        model[1000] = 0xab;
        model[0] = 0xcd;
        model[8000..8400].fill(0x11);
        model.copy_within(5990..6010, 8100);
        assert_eq!(memory_of(&mut a), model, "{what}");
        assert_eq!(call_i32(&mut a, "grow", &[i(2)]), 2);
        call(&mut a, "store8", &[i(4 * 65536 - 1), i(7)]);
        call(&mut a, "copy", &[i(3 * 65536), i(990), i(30)]);
        model.resize(4 * 65536, 0);
        model[4 * 65536 - 1] = 7;
        model.copy_within(990..1020, 3 * 65536);
        assert_eq!(memory_of(&mut a), model, "{what}");
        expect_trap(
            &mut a,
            "load8",
            &[i(4 * 65536)],
            TrapCode::MemoryOutOfBounds,
        );
        assert_eq!(memory_of(&mut b), expected, "{what}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{what}: the file changed"
        );
    }
}

#[test]
fn image_from_bytes_is_copied() {
    let (wat, expected) = dense_module();
    for config in configs() {
        let bytes = compile_wat_with(&wat, &config);
        let artifact = Arc::new(Artifact::from_bytes(&bytes).unwrap());
        let mut a = Linker::new().instantiate_artifact(&artifact).unwrap();
        let mut b = Linker::new().instantiate_artifact(&artifact).unwrap();
        assert_eq!(memory_of(&mut a), expected);
        call(&mut a, "store8", &[i(3000), i(0)]);
        assert_eq!(call_i32(&mut a, "load8", &[i(3000)]), 0);
        assert_eq!(memory_of(&mut b), expected);
        assert_eq!(call_i32(&mut a, "grow", &[i(1)]), 2);
    }
}

#[test]
fn image_segments_count_as_dropped() {
    let (wat, expected) = dense_module();
    for config in configs() {
        let mut inst = instantiate_configured(&wat, &config, &Linker::new());
        // Like any active segment after instantiation: length 0 is fine
        // (up to the memory's end), anything more traps.
        call(&mut inst, "init0", &[i(0), i(0), i(0)]);
        call(&mut inst, "init0", &[i(2 * 65536), i(0), i(0)]);
        let err = expect_trap(
            &mut inst,
            "init0",
            &[i(0), i(0), i(1)],
            TrapCode::MemoryOutOfBounds,
        );
        assert!(
            err.to_string().contains("out of bounds memory access"),
            "{err}"
        );
        call(&mut inst, "drop0", &[]);
        call(&mut inst, "init0", &[i(10), i(0), i(0)]);
        assert_eq!(memory_of(&mut inst), expected);
    }
}

/// Compiles `wat` with each config, checks that it got no image, and
/// instantiates each artifact.
fn without_image(wat: &str, linker: &Linker) -> Vec<Instance> {
    configs()
        .iter()
        .map(|config| {
            let bytes = compile_wat_with(wat, config);
            let view = read_artifact(&bytes).unwrap();
            assert_eq!(view.metadata.memory_image, None);
            assert!(view.memory_image.is_empty());
            linker
                .instantiate_artifact(&open_artifact_bytes(&bytes))
                .unwrap()
        })
        .collect()
}

#[test]
fn sparse_segments_are_copied() {
    let data = pattern(8192, 3);
    // 8 KiB at 0 and a byte at 10 MB: a 10 MB image for 8 KiB of data.
    let wat = format!(
        r#"(module (memory (export "memory") 200)
  (data (i32.const 0) "{}") (data (i32.const 10000000) "!") {FUNCS})"#,
        wat_string(&data)
    );
    for mut inst in without_image(&wat, &Linker::new()) {
        assert_eq!(call_i32(&mut inst, "load8", &[i(8191)]), data[8191] as i32);
        assert_eq!(call_i32(&mut inst, "load8", &[i(10_000_000)]), b'!' as i32);
        call(&mut inst, "init0", &[i(0), i(0), i(0)]);
        expect_trap(
            &mut inst,
            "init0",
            &[i(0), i(0), i(1)],
            TrapCode::MemoryOutOfBounds,
        );
    }
    // Little data: copied too.
    let wat = format!(r#"(module (memory 1) (data (i32.const 5) "small") {FUNCS})"#);
    for mut inst in without_image(&wat, &Linker::new()) {
        assert_eq!(call_i32(&mut inst, "load8", &[i(5)]), b's' as i32);
    }
}

#[test]
fn global_offset_is_copied() {
    let data = pattern(8192, 5);
    let wat = format!(
        r#"(module (import "env" "base" (global $base i32)) (memory (export "memory") 1)
  (data (i32.const 0) "{}") (data (global.get $base) "GLOBAL") {FUNCS})"#,
        wat_string(&data)
    );
    let mut linker = Linker::new();
    linker
        .define_global(
            "env",
            "base",
            GlobalType {
                ty: ValType::I32,
                mutable: false,
            },
            i(100),
        )
        .unwrap();
    for mut inst in without_image(&wat, &linker) {
        assert_eq!(call_i32(&mut inst, "load8", &[i(99)]), data[99] as i32);
        assert_eq!(call_i32(&mut inst, "load8", &[i(100)]), b'G' as i32);
        assert_eq!(call_i32(&mut inst, "load8", &[i(106)]), data[106] as i32);
    }
}

#[test]
fn out_of_bounds_segment_still_fails_instantiation() {
    let data = pattern(8192, 7);
    let wat = format!(
        r#"(module (memory (export "memory") 1)
  (data (i32.const 0) "{}") (data (i32.const 65530) "0123456789") {FUNCS})"#,
        wat_string(&data)
    );
    for config in configs() {
        let bytes = compile_wat_with(&wat, &config);
        assert_eq!(read_artifact(&bytes).unwrap().metadata.memory_image, None);
        let err = Linker::new()
            .instantiate_artifact(&open_artifact_bytes(&bytes))
            .expect_err("instantiation fails");
        assert_eq!(
            err.to_string(),
            "data segment 1 does not fit memory 0 (offset 65530, 10 bytes, memory has 65536): \
             out of bounds memory access",
        );
    }
}

#[test]
fn image_is_not_applied_when_an_element_segment_fails_first() {
    // Element segments go first: the one at 5 fails, after $read went into
    // the imported table at 0. $read must see the memory the data segments
    // never reached: zeros.
    let data = pattern(8192, 9);
    let wat = format!(
        r#"(module (import "host" "tab" (table 2 funcref)) (memory 1)
  (elem (i32.const 0) $read) (elem (i32.const 5) $read)
  (data (i32.const 0) "{}")
  (func $read (result i32) (i32.load8_u (i32.const 1))))"#,
        wat_string(&data)
    );
    let caller = r#"(module (import "host" "tab" (table 2 funcref))
  (func (export "call0") (result i32) (call_indirect (result i32) (i32.const 0))))"#;
    for config in configs() {
        let bytes = compile_wat_with(&wat, &config);
        assert!(read_artifact(&bytes)
            .unwrap()
            .metadata
            .memory_image
            .is_some());
        let mut linker = Linker::new();
        linker
            .define_table(
                "host",
                "tab",
                vibewasm_format::TableType {
                    element: ValType::FuncRef,
                    min: 2,
                    max: None,
                    index64: false,
                },
                Val::FuncRef(None),
            )
            .unwrap();
        let err = linker
            .instantiate_artifact(&open_artifact_bytes(&bytes))
            .expect_err("the element segment fails");
        assert!(err.to_string().contains("element segment 1"), "{err}");
        let caller = compile_wat_with(caller, &config);
        let mut inst = linker
            .instantiate_artifact(&open_artifact_bytes(&caller))
            .unwrap();
        assert_ne!(data[1], 0);
        assert_eq!(call_i32(&mut inst, "call0", &[]), 0);
    }
}

/// `bytes` with the image record changed by `edit`, the metadata encoded
/// again in place (the tables after it moved along, into the padding
/// before the image if it grows) and the checksum fixed, so that only the
/// image check can refuse it.
fn forge_image(bytes: &[u8], edit: impl FnOnce(&mut Metadata, &Header)) -> Vec<u8> {
    let view = read_artifact(bytes).unwrap();
    let mut metadata = view.metadata.clone();
    let mut header = view.header.clone();
    let image_offset = metadata.memory_image.as_ref().unwrap().offset;
    edit(&mut metadata, &header);
    let encoded = postcard::to_stdvec(&metadata).unwrap();
    // The tables section follows the metadata: move it along.
    let (strings, strings_len) = metadata.site_tables.name_strings;
    let tables = &bytes[view.tables_range.start..][..(strings + strings_len) as usize];
    let start = header.metadata_offset as usize;
    let tables_end = start + encoded.len() + tables.len();
    assert!(tables_end as u64 <= image_offset);
    let mut new = bytes.to_vec();
    new[start..start + encoded.len()].copy_from_slice(&encoded);
    new[start + encoded.len()..tables_end].copy_from_slice(tables);
    new[tables_end..image_offset as usize].fill(0);
    let mut bytes = new;
    header.metadata_len = encoded.len() as u64;
    bytes[..header.encode().len()].copy_from_slice(&header.encode());
    let sum = file_checksum(&bytes);
    bytes[CHECKSUM_RANGE].copy_from_slice(&sum);
    bytes
}

/// Both ways of loading refuse `bytes` with a format error mentioning `word`.
fn refused(bytes: &[u8], word: &str) {
    let check = |err: LoadError| {
        assert!(matches!(err, LoadError::Format { .. }), "{word}: {err:?}");
        assert!(err.to_string().contains(word), "{word}: {err}");
    };
    check(Artifact::from_bytes(bytes).expect_err("from_bytes refuses"));
    let dir = TempDir::new();
    let path = dir.join("forged.vwa");
    std::fs::write(&path, bytes).unwrap();
    check(Artifact::open(&path).expect_err("open refuses"));
}

#[test]
fn forged_images_are_refused() {
    let (wat, _) = dense_module();
    let bytes = compile_wat(&wat);
    // The forging itself keeps a valid artifact valid.
    Artifact::from_bytes(&forge_image(&bytes, |_, _| {})).unwrap();
    refused(
        &forge_image(&bytes, |m, h| {
            m.memory_image.as_mut().unwrap().offset = h.file_len.next_multiple_of(4096)
        }),
        "memory image end",
    );
    refused(
        &forge_image(&bytes, |m, h| {
            // From the image's place to the end of the file.
            let image = m.memory_image.as_mut().unwrap();
            image.len = h.file_len - image.offset;
        }),
        "overlaps the code",
    );
    refused(
        &forge_image(&bytes, |m, _| {
            m.memory_image.as_mut().unwrap().offset -= 100
        }),
        "memory image offset alignment",
    );
    refused(
        &forge_image(&bytes, |m, _| {
            m.memory_image.as_mut().unwrap().memory_offset = 2 * 65536
        }),
        "memory image end in memory 0",
    );
    refused(
        &forge_image(&bytes, |m, _| m.memories[0].min_pages = 0),
        "memory image end in memory 0 out of range: 8192 (limit 0)",
    );
}
