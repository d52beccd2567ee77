//! Delta-coded site tables: sorted `(code offset, wasm offset)` records
//! with one optional extra byte each, at 2-4 bytes a record instead of 8-10.
//!
//! Fault sites (one per memory access of guard-page code) and call sites
//! are most of what an artifact holds besides its code. Sorted by code
//! offset, consecutive records are close in the code and usually in the
//! wasm too, so each is stored as the difference from the one before:
//!
//! ```text
//! count                          u32
//! block index, one per BLOCK records:
//!   first code offset            u32
//!   first wasm offset            u32
//!   stream offset                u32 (from the start of the stream)
//! stream, per record:
//!   code offset delta            LEB128 (from the previous record of its block;
//!                                0 for a block's first, which the index gives)
//!   wasm offset delta            zigzag LEB128 (likewise)
//!   extra                        one byte, if the table has one
//! ```
//!
//! A lookup binary-searches the block index, then decodes at most
//! [`BLOCK`] records. Every read is bounds-checked and allocates nothing,
//! so the fault handler can use it; a forged stream decodes to wrong
//! records or to none, never to a read outside the table.

use crate::prelude::*;
use crate::tables::{u32_at, Records};

/// Records per block of the index.
pub const BLOCK: usize = 32;
const INDEX_ENTRY: usize = 12;

/// One decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    pub code_offset: u32,
    pub wasm_offset: u32,
    /// The extra byte (0 for tables without one).
    pub extra: u8,
}

/// Encodes `sites` (sorted by code offset) into `out`.
pub fn encode(sites: &[Site], with_extra: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&(sites.len() as u32).to_le_bytes());
    let mut stream = Vec::with_capacity(sites.len() * 3);
    let mut index = Vec::with_capacity(sites.len().div_ceil(BLOCK) * INDEX_ENTRY);
    for block in sites.chunks(BLOCK) {
        index.extend_from_slice(&block[0].code_offset.to_le_bytes());
        index.extend_from_slice(&block[0].wasm_offset.to_le_bytes());
        index.extend_from_slice(&(stream.len() as u32).to_le_bytes());
        let mut previous = block[0];
        for site in block {
            leb128(
                u64::from(site.code_offset - previous.code_offset),
                &mut stream,
            );
            let delta = i64::from(site.wasm_offset) - i64::from(previous.wasm_offset);
            leb128(((delta << 1) ^ (delta >> 63)) as u64, &mut stream);
            if with_extra {
                stream.push(site.extra);
            }
            previous = *site;
        }
    }
    out.extend_from_slice(&index);
    out.extend_from_slice(&stream);
}

fn leb128(mut value: u64, out: &mut Vec<u8>) {
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

/// An encoded table, read in place.
#[derive(Clone, Copy, Debug, Default)]
pub struct SiteStream<'a> {
    count: u32,
    index: &'a [u8],
    stream: &'a [u8],
    with_extra: bool,
}

impl<'a> SiteStream<'a> {
    /// The table in `bytes`, if its count and block index fit in it (the
    /// stream is checked as it is read).
    pub fn new(bytes: &'a [u8], with_extra: bool) -> Option<SiteStream<'a>> {
        if bytes.is_empty() {
            return Some(SiteStream {
                with_extra,
                ..SiteStream::default()
            });
        }
        let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
        let index_len = (count as usize).div_ceil(BLOCK).checked_mul(INDEX_ENTRY)?;
        let index = bytes.get(4..4usize.checked_add(index_len)?)?;
        Some(SiteStream {
            count,
            index,
            stream: &bytes[4 + index_len..],
            with_extra,
        })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Index entry `block`: first code offset, first wasm offset, stream
    /// offset.
    fn block(&self, block: usize) -> Option<(u32, u32, usize)> {
        let entry = Records::<INDEX_ENTRY>(self.index).get(block)?;
        Some((
            u32_at(entry, 0),
            u32_at(entry, 4),
            u32_at(entry, 8) as usize,
        ))
    }

    /// Decodes block `block` record by record, calling `visit(i, site)` for
    /// each (`i` its index in the table) until it returns `false` or the
    /// block ends.
    fn walk(&self, block: usize, mut visit: impl FnMut(usize, Site) -> bool) -> Option<()> {
        let (mut code, mut wasm, mut at) = self.block(block)?;
        let first = block * BLOCK;
        let end = (first + BLOCK).min(self.len());
        for i in first..end {
            let (code_delta, next) = read_leb128(self.stream, at)?;
            let (wasm_delta, next) = read_leb128(self.stream, next)?;
            at = next;
            let extra = if self.with_extra {
                let byte = *self.stream.get(at)?;
                at += 1;
                byte
            } else {
                0
            };
            code = u32::try_from(u64::from(code).checked_add(code_delta)?).ok()?;
            let delta = ((wasm_delta >> 1) as i64) ^ -((wasm_delta & 1) as i64);
            wasm = u32::try_from(i64::from(wasm).checked_add(delta)?).ok()?;
            let site = Site {
                code_offset: code,
                wasm_offset: wasm,
                extra,
            };
            if !visit(i, site) {
                break;
            }
        }
        Some(())
    }

    /// Record `index`, if it decodes.
    pub fn get(&self, index: u32) -> Option<Site> {
        let index = index as usize;
        if index >= self.len() {
            return None;
        }
        let mut found = None;
        self.walk(index / BLOCK, |i, site| {
            if i == index {
                found = Some(site);
            }
            i < index
        })?;
        found
    }

    /// The last record whose code offset is at most `offset`, with its
    /// index (records sorted by code offset).
    pub fn last_at_most(&self, offset: u32) -> Option<(u32, Site)> {
        // The last block whose first code offset is at most `offset`.
        let block = Records::<INDEX_ENTRY>(self.index).last_at_most(offset, |e| u32_at(e, 0))?;
        let mut found = None;
        self.walk(block, |i, site| {
            if site.code_offset > offset {
                return false;
            }
            found = Some((i as u32, site));
            true
        })?;
        found
    }

    /// Every record, in order, up to the first that does not decode.
    pub fn decode_all(self) -> Vec<Site> {
        let mut sites = Vec::with_capacity(self.len());
        for block in 0..self.len().div_ceil(BLOCK) {
            let complete = self.walk(block, |_, site| {
                sites.push(site);
                true
            });
            if complete.is_none() || sites.len() != ((block + 1) * BLOCK).min(self.len()) {
                break;
            }
        }
        sites
    }
}

/// The LEB128 value at `at` in `bytes` (at most 10 bytes) and where the
/// next field starts.
fn read_leb128(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(n: u32) -> Vec<Site> {
        // Code offsets climbing by 3..40, wasm offsets mostly climbing,
        // sometimes jumping back (another function's code).
        let mut code = 100u32;
        let mut wasm = 1_000_000u32;
        (0..n)
            .map(|i| {
                code += 3 + (i * 7) % 37;
                wasm = if i % 50 == 49 {
                    wasm - 3000
                } else {
                    wasm + (i % 5) * 3
                };
                Site {
                    code_offset: code,
                    wasm_offset: wasm,
                    extra: (i % 251) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn every_record_and_every_offset_is_found() {
        for n in [0, 1, 31, 32, 33, 100, 1000] {
            for with_extra in [false, true] {
                let sites = sites(n);
                let mut bytes = Vec::new();
                encode(&sites, with_extra, &mut bytes);
                let table = SiteStream::new(&bytes, with_extra).unwrap();
                assert_eq!(table.len(), n as usize);
                for (i, site) in sites.iter().enumerate() {
                    let want = Site {
                        extra: if with_extra { site.extra } else { 0 },
                        ..*site
                    };
                    assert_eq!(table.get(i as u32), Some(want), "{n} {i}");
                    assert_eq!(table.last_at_most(site.code_offset), Some((i as u32, want)));
                    assert_eq!(
                        table.last_at_most(site.code_offset + 1).map(|f| f.0),
                        Some(i as u32)
                    );
                }
                assert_eq!(table.get(n), None);
                assert_eq!(table.last_at_most(100), None);
                assert_eq!(table.decode_all().len(), n as usize);
                if n > 0 {
                    assert!(bytes.len() < n as usize * if with_extra { 5 } else { 4 } + 16);
                }
            }
        }
    }

    #[test]
    fn truncated_or_garbage_tables_read_nothing_outside() {
        let mut bytes = Vec::new();
        encode(&sites(100), true, &mut bytes);
        for len in 0..bytes.len() {
            if let Some(table) = SiteStream::new(&bytes[..len], true) {
                for i in 0..100 {
                    let _ = table.get(i);
                }
                let _ = table.last_at_most(u32::MAX);
            }
        }
        let mut seed = 12345u32;
        for _ in 0..500 {
            let mut bad = bytes.clone();
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = seed as usize % bad.len();
            bad[at] = (seed >> 16) as u8;
            if let Some(table) = SiteStream::new(&bad, true) {
                let _ = table.decode_all();
                let _ = table.last_at_most(3000);
            }
        }
        // A count far beyond the bytes is refused.
        let mut bad = bytes.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(SiteStream::new(&bad, true).is_none());
    }
}
