//! The initial memory image: memory 0's active data segments applied ahead
//! of time, stored page-aligned in the artifact so that the loader maps it
//! copy-on-write over a new memory instead of copying every segment (see
//! `vibewasm_format::MemoryImage`).
//!
//! The rule: a module gets an image when
//!
//! - memory 0 is defined by the module (an imported memory has contents of
//!   its own, which mapping would replace),
//! - every active data segment is one of memory 0 with an `i32.const`
//!   offset and lies within the memory's minimum size (then applying them
//!   cannot fail, and applying them all at once is what instantiation
//!   does; one out-of-bounds or `global.get` offset and the module gets no
//!   image, so instantiation applies, and fails, exactly as without),
//! - the segments hold at least [`IMAGE_MIN_DATA`] bytes (below, a copy
//!   costs less than a mapping, and the image's page alignment would
//!   make the artifact up to 8 KiB longer), and
//! - the image is not sparse: it spans from the 4 KiB page of the lowest
//!   segment start to the 4 KiB page boundary after the highest segment end
//!   (zeros below the data, e.g. a Rust program's stack, are not stored),
//!   and that span is at most `max(64 KiB, 2 x the segments' bytes)`.
//!
//! Segments in the image keep their index and mode in the metadata with
//! empty bytes: after instantiation an active segment counts as dropped,
//! so `memory.init` and `data.drop` see no difference.

use vibewasm_format::{ConstExpr, ExternKind, MemoryImage, Metadata, SegmentMode, IMAGE_ALIGN};

/// Fewer segment bytes than this are copied at instantiation.
pub(crate) const IMAGE_MIN_DATA: u64 = 4096;
/// An image may always span this much, however little data it holds.
pub(crate) const IMAGE_SPARSE_SLACK: u64 = 64 * 1024;

const WASM_PAGE: u64 = 65536;

/// Builds the memory image of `m` if the rule above allows one: sets
/// `m.memory_image` (its file offset and length are the writer's) and
/// empties the bytes of the segments it covers. Returns the image bytes,
/// empty if there is no image (and `m` is unchanged).
pub(crate) fn build_memory_image(m: &mut Metadata) -> Vec<u8> {
    let Some((segments, lo, hi)) = plan(m) else {
        return Vec::new();
    };
    let mut image = vec![0u8; (hi - lo) as usize];
    for &s in &segments {
        let seg = &mut m.data[s as usize];
        let SegmentMode::Active {
            offset: ConstExpr::I32(offset),
            ..
        } = seg.mode
        else {
            unreachable!("plan takes active segments with constant offsets only");
        };
        // In module order: a later segment overwrites an earlier one, as
        // applying them one by one does.
        let start = (offset as u32 as u64 - lo) as usize;
        let bytes = std::mem::take(&mut seg.bytes);
        if !bytes.is_empty() {
            image[start..start + bytes.len()].copy_from_slice(&bytes);
        }
    }
    m.memory_image = Some(MemoryImage {
        offset: 0,
        len: 0,
        memory_offset: lo,
        segments,
    });
    image
}

/// The segments an image would cover and its memory range `[lo, hi)`, or
/// `None` when the rule says copy.
fn plan(m: &Metadata) -> Option<(Vec<u32>, u64, u64)> {
    if m.num_imported(ExternKind::Memory) != 0 {
        return None;
    }
    let memory = m.memories.first()?;
    if memory.index64 {
        // Its segments have i64 offsets; the image is for 32-bit memories.
        return None;
    }
    let min_bytes = memory.min_pages.checked_mul(WASM_PAGE)?;
    let mut segments = Vec::new();
    let (mut lo, mut hi, mut total) = (u64::MAX, 0u64, 0u64);
    for (s, seg) in (0u32..).zip(&m.data) {
        let offset = match &seg.mode {
            SegmentMode::Active {
                index: 0,
                offset: ConstExpr::I32(offset),
            } => *offset as u32 as u64,
            SegmentMode::Active { .. } => return None,
            SegmentMode::Passive | SegmentMode::Declared => continue,
        };
        let len = seg.bytes.len() as u64;
        let end = offset.checked_add(len)?;
        if end > min_bytes {
            return None;
        }
        segments.push(s);
        if len > 0 {
            lo = lo.min(offset);
            hi = hi.max(end);
            total += len;
        }
    }
    if total < IMAGE_MIN_DATA {
        return None;
    }
    // `hi` rounds up to at most `min_bytes`, a multiple of 64 KiB.
    let (lo, hi) = (
        lo / IMAGE_ALIGN * IMAGE_ALIGN,
        hi.next_multiple_of(IMAGE_ALIGN),
    );
    if hi - lo > IMAGE_SPARSE_SLACK.max(2 * total) {
        return None;
    }
    Some((segments, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vibewasm_format::{DataSegment, Import, ImportKind, MemoryType};

    fn memory(min_pages: u64) -> MemoryType {
        MemoryType {
            min_pages,
            max_pages: None,
            index64: false,
        }
    }

    fn active(offset: ConstExpr, bytes: Vec<u8>) -> DataSegment {
        DataSegment {
            mode: SegmentMode::Active { index: 0, offset },
            bytes,
        }
    }

    fn module(min_pages: u64, data: Vec<DataSegment>) -> Metadata {
        Metadata {
            memories: vec![memory(min_pages)],
            data,
            ..Metadata::default()
        }
    }

    #[test]
    fn overlapping_segments_later_wins_and_bytes_move_to_the_image() {
        let mut m = module(
            1,
            vec![
                active(ConstExpr::I32(5000), vec![1; 5000]),
                DataSegment {
                    mode: SegmentMode::Passive,
                    bytes: vec![9; 3],
                },
                active(ConstExpr::I32(6000), vec![2; 10]),
                active(ConstExpr::I32(65536), vec![]),
            ],
        );
        let image = build_memory_image(&mut m);
        let info = m.memory_image.clone().expect("an image");
        assert_eq!(info.memory_offset, 4096);
        assert_eq!(image.len(), 8192, "4096..12288 covers 5000..10000");
        assert_eq!(info.segments, [0, 2, 3]);
        assert_eq!(image[..5000 - 4096], vec![0; 5000 - 4096][..]);
        assert_eq!(image[5000 - 4096], 1);
        assert_eq!(image[6000 - 4096..6010 - 4096], [2; 10]);
        assert_eq!(image[6010 - 4096], 1);
        assert_eq!(image[9999 - 4096], 1);
        assert!(image[10000 - 4096..].iter().all(|&b| b == 0));
        assert!(m.data[0].bytes.is_empty() && m.data[2].bytes.is_empty());
        assert_eq!(m.data[1].bytes, [9; 3], "passive segments keep their bytes");
    }

    #[test]
    fn copied_instead() {
        let big = || vec![7u8; 8192];
        let cases: Vec<(&str, Metadata)> = vec![
            ("no memory", Metadata::default()),
            (
                "too little data",
                module(1, vec![active(ConstExpr::I32(0), vec![1; 4095])]),
            ),
            (
                "global.get offset",
                module(
                    1,
                    vec![
                        active(ConstExpr::I32(0), big()),
                        active(ConstExpr::GlobalGet(0), vec![1]),
                    ],
                ),
            ),
            (
                "out of bounds",
                module(
                    1,
                    vec![
                        active(ConstExpr::I32(0), big()),
                        active(ConstExpr::I32(65536 - 8191), big()),
                    ],
                ),
            ),
            (
                "negative offset (4 GiB - 1)",
                module(1, vec![active(ConstExpr::I32(-1), big())]),
            ),
            (
                "sparse",
                module(
                    200,
                    vec![
                        active(ConstExpr::I32(0), big()),
                        active(ConstExpr::I32(10 << 20), vec![1]),
                    ],
                ),
            ),
            (
                "imported memory",
                Metadata {
                    imports: vec![Import {
                        module: "env".into(),
                        name: "memory".into(),
                        kind: ImportKind::Memory(memory(1)),
                    }],
                    data: vec![active(ConstExpr::I32(0), big())],
                    ..Metadata::default()
                },
            ),
        ];
        for (what, mut m) in cases {
            let before = m.clone();
            assert!(build_memory_image(&mut m).is_empty(), "{what}");
            assert_eq!(m, before, "{what}");
        }
    }

    #[test]
    fn dense_enough_far_up_is_fine() {
        // 8 KiB of data 100 MB up: a two-page image, nothing below it.
        let mut m = module(
            2000,
            vec![active(ConstExpr::I32(100_000_000), vec![3; 8192])],
        );
        let image = build_memory_image(&mut m);
        let info = m.memory_image.unwrap();
        assert_eq!(info.memory_offset, 100_000_000 / 4096 * 4096);
        assert_eq!(image.len(), 12288);
        // 64 KiB spans are always allowed; 2x the data beyond that.
        let mut m = module(
            2,
            vec![
                active(ConstExpr::I32(0), vec![1; 4096]),
                active(ConstExpr::I32(65536 - 4096), vec![1; 4096]),
            ],
        );
        assert_eq!(build_memory_image(&mut m).len(), 65536);
    }
}
