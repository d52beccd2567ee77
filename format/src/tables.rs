//! The tables section: what the loader needs per function and per site
//! (code ranges, trap sites, fault sites, call sites, function names),
//! stored as arrays of fixed-width little-endian records and read in place.
//!
//! Loading never walks these tables: [`crate::read_artifact`] checks only
//! that each table lies inside the section and is a whole number of
//! records, and every lookup checks what it reads (an index, a UTF-8
//! name, a trap code) when it reads it. A module with hundreds of
//! thousands of memory accesses therefore loads as fast as a small one;
//! the trap handler and backtraces binary-search the mapped file.
//!
//! | table | record | fields (little-endian) | order |
//! |---|---:|---|---|
//! | functions | 12 | code offset u32, length u32, frame size u32 | function index (imports first); code offsets ascending |
//! | traps | 9 | function u32, wasm offset u32, [`TrapCode`] u8 | trap-site number |
//! | fault sites | 2-4 | delta-coded (see below): code offset, wasm offset, and the access's length as the extra byte; the trap is always [`TrapCode::MemoryOutOfBounds`] | code offset, ascending, not overlapping |
//! | call sites | 2-3 | delta-coded: return offset, wasm offset | return offset, ascending |
//! | names | 12 | function u32, offset u32, length u32 (into the name strings) | function index, ascending |
//! | name strings | 1 | UTF-8 bytes | |
//!
//! Fault and call sites, one per memory access of guard-page code and one
//! per call, are most of what is not code; they are stored as
//! differences from the previous record, in blocks of 32 behind an index
//! of absolute values (`site_stream.rs` documents the encoding).
//!
//! Tables sorted by a key are binary-searched. A forged file whose tables
//! are not sorted gets wrong answers from those searches (a wrong name or
//! wasm offset in a backtrace, a fault that is not recognised as a trap),
//! never a read outside the section: every record is read through a
//! bounds-checked slice.

use crate::prelude::*;
use serde::{Deserialize, Serialize};

use crate::site_stream::{self, Site, SiteStream};
use crate::{CodeRange, FormatError, TrapCode};

/// One place in the code that raises a trap through a stub: generated code
/// stores its number in the runtime state before unwinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapSite {
    /// Function index (imports first) the site belongs to.
    pub func: u32,
    /// Byte offset in the source wasm of the instruction that traps.
    pub wasm_offset: u32,
    pub code: TrapCode,
}

impl TrapSite {
    /// Bytes between the stack pointer the trap path records for this site
    /// and the trapping function's return address. Most sites trap inside
    /// the function's body, where that is the function's
    /// [`CodeRange::frame_size`]. A [`TrapCode::StackOverflow`] site traps
    /// in the prologue *before* the frame is built (checking first means
    /// the trap path never runs a frame's size below the stack limit); its
    /// stub moves the stack pointer down by [`OVERFLOW_STUB_SHIFT`] bytes
    /// only, to align it for the call into the runtime.
    pub fn frame_size(&self, function: &CodeRange) -> u32 {
        match self.code {
            TrapCode::StackOverflow => OVERFLOW_STUB_SHIFT,
            _ => function.frame_size,
        }
    }
}

/// What a stack-overflow stub subtracts from the stack pointer at function
/// entry, where it points at the return address (x86-64: `sub rsp, 8`
/// restores the 16-byte alignment calls need).
pub const OVERFLOW_STUB_SHIFT: u32 = 8;

/// A memory access compiled without a bounds check (guard-page mode): a
/// fault with the program counter in `[start, start + len)` raises `code`.
/// The fault handler resumes at the shared trap path
/// ([`crate::Trampolines::trap_path`]) with [`FAULT_SITE_FLAG`] | the
/// site's index in the trap-site register ([`TRAP_SITE_REGISTER_X86_64`])
/// and every other register as the access left it. The site's function is
/// the one whose code contains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultSite {
    pub start: u32,
    pub len: u8,
    /// Byte offset in the source wasm of the access.
    pub wasm_offset: u32,
    pub code: TrapCode,
}

impl FaultSite {
    pub fn end(&self) -> u32 {
        self.start.saturating_add(self.len.into())
    }
}

/// Set in a trap-site number that names a fault site (by its index in the
/// fault-site table) rather than a trap stub's site.
pub const FAULT_SITE_FLAG: u32 = 1 << 31;

/// The machine register (x86-64 encoding: 6 is `rsi`) that holds the trap
/// site's number when the shared trap path is entered; the fault handler
/// sets it before resuming there (see [`FaultSite`]).
pub const TRAP_SITE_REGISTER_X86_64: u8 = 6;

/// The same register on aarch64: 1 is `x1`, where SLJIT's `R1` lives there
/// (`reg_map` in SLJIT's `sljitNativeARM_64.c`: R0 = x0, R1 = x1).
pub const TRAP_SITE_REGISTER_AARCH64: u8 = 1;

/// A call instruction in wasm code: its return address identifies the
/// caller's position in a backtrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSite {
    /// Offset in the code section of the instruction after the call.
    pub return_offset: u32,
    /// Byte offset in the source wasm of the calling instruction.
    pub wasm_offset: u32,
}

/// The tables of one artifact as the compiler produces them (and tests
/// build them): owned, to be encoded by [`encode_tables`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteTables {
    /// Code of every function, imported ones first (an import's code is a
    /// stub that calls the host through its vmctx slot), at ascending
    /// offsets.
    pub functions: Vec<CodeRange>,
    /// Indexed by the trap-site number generated code stores in `vmctx`.
    pub traps: Vec<TrapSite>,
    /// Unchecked memory accesses, sorted by `start` (guard-page code only).
    pub fault_sites: Vec<FaultSite>,
    /// Every call from wasm code, sorted by `return_offset`.
    pub call_sites: Vec<CallSite>,
    /// Function names from the name section, `(function index, name)`,
    /// sorted by function index.
    pub func_names: Vec<(u32, String)>,
}

/// Where each table lies, as `(offset, length)` in bytes from the start of
/// the tables section (which starts where the metadata ends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRanges {
    pub functions: (u64, u64),
    pub traps: (u64, u64),
    pub fault_sites: (u64, u64),
    pub call_sites: (u64, u64),
    pub names: (u64, u64),
    pub name_strings: (u64, u64),
}

const FUNCTION_RECORD: usize = 12;
const TRAP_RECORD: usize = 9;
const NAME_RECORD: usize = 12;

/// Encodes `tables`: the section's bytes and where each table is in them.
/// Fails if a table is not in the order the format requires or a value
/// does not fit its field (a compiler bug: the loader relies on both).
pub fn encode_tables(tables: &SiteTables) -> Result<(Vec<u8>, TableRanges), String> {
    let mut out = Vec::new();
    let place = |out: &mut Vec<u8>, write: &mut dyn FnMut(&mut Vec<u8>)| {
        let start = out.len();
        write(out);
        (start as u64, (out.len() - start) as u64)
    };
    check_sorted(
        "function code offsets",
        tables.functions.iter().map(|f| f.offset),
    )?;
    check_sorted("fault sites", tables.fault_sites.iter().map(|f| f.start))?;
    check_sorted(
        "call sites",
        tables.call_sites.iter().map(|c| c.return_offset),
    )?;
    check_sorted("function names", tables.func_names.iter().map(|n| n.0))?;
    if tables.traps.len() >= FAULT_SITE_FLAG as usize {
        return Err(format!("{} trap sites", tables.traps.len()));
    }
    if let Some(f) = tables
        .fault_sites
        .iter()
        .find(|f| f.code != TrapCode::MemoryOutOfBounds)
    {
        return Err(format!("a fault site at {} raises {}", f.start, f.code));
    }
    let functions = place(&mut out, &mut |out| {
        for f in &tables.functions {
            put32(out, f.offset);
            put32(out, f.len);
            put32(out, f.frame_size);
        }
    });
    let traps = place(&mut out, &mut |out| {
        for t in &tables.traps {
            put32(out, t.func);
            put32(out, t.wasm_offset);
            out.push(t.code as u8);
        }
    });
    let fault_sites: Vec<Site> = tables
        .fault_sites
        .iter()
        .map(|f| Site {
            code_offset: f.start,
            wasm_offset: f.wasm_offset,
            extra: f.len,
        })
        .collect();
    let fault_sites = place(&mut out, &mut |out| {
        site_stream::encode(&fault_sites, true, out)
    });
    let call_sites: Vec<Site> = tables
        .call_sites
        .iter()
        .map(|c| Site {
            code_offset: c.return_offset,
            wasm_offset: c.wasm_offset,
            extra: 0,
        })
        .collect();
    let call_sites = place(&mut out, &mut |out| {
        site_stream::encode(&call_sites, false, out)
    });
    let mut strings = Vec::new();
    let mut string_offsets = Vec::with_capacity(tables.func_names.len());
    for (_, name) in &tables.func_names {
        string_offsets.push(strings.len());
        strings.extend_from_slice(name.as_bytes());
    }
    if u32::try_from(strings.len()).is_err() {
        return Err("function names above 4 GiB".into());
    }
    let names = place(&mut out, &mut |out| {
        for ((func, name), offset) in tables.func_names.iter().zip(&string_offsets) {
            put32(out, *func);
            put32(out, *offset as u32);
            put32(out, name.len() as u32);
        }
    });
    let name_strings = place(&mut out, &mut |out| out.extend_from_slice(&strings));
    let ranges = TableRanges {
        functions,
        traps,
        fault_sites,
        call_sites,
        names,
        name_strings,
    };
    Ok((out, ranges))
}

fn check_sorted(what: &str, keys: impl Iterator<Item = u32>) -> Result<(), String> {
    let mut previous = None;
    for key in keys {
        if previous.is_some_and(|p| p > key) {
            return Err(format!(
                "{what} are not in ascending order ({key} after {p})",
                p = previous.unwrap_or(0)
            ));
        }
        previous = Some(key);
    }
    Ok(())
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn u32_at(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(record[at..at + 4].try_into().expect("4 bytes"))
}

/// An array of `N`-byte records.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Records<'a, const N: usize>(pub(crate) &'a [u8]);

impl<'a, const N: usize> Records<'a, N> {
    pub(crate) fn len(&self) -> usize {
        self.0.len() / N
    }

    pub(crate) fn get(&self, index: usize) -> Option<&'a [u8]> {
        let start = index.checked_mul(N)?;
        self.0.get(start..start.checked_add(N)?)
    }

    /// The index of the last record whose key is at most `key`, if any
    /// (records sorted by key).
    pub(crate) fn last_at_most(&self, key: u32, key_of: impl Fn(&[u8]) -> u32) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        // Invariant: records below `low` have keys <= `key`, records from
        // `high` on have keys > `key`.
        while low < high {
            let mid = low + (high - low) / 2;
            if key_of(self.get(mid)?) <= key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low.checked_sub(1)
    }
}

/// The tables of a loaded artifact, read in place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tables<'a> {
    functions: Records<'a, FUNCTION_RECORD>,
    traps: Records<'a, TRAP_RECORD>,
    fault_sites: SiteStream<'a>,
    /// The fault-site table's bytes (for the fault handler).
    fault_site_bytes: &'a [u8],
    call_sites: SiteStream<'a>,
    names: Records<'a, NAME_RECORD>,
    name_strings: &'a [u8],
}

impl<'a> Tables<'a> {
    /// The tables in `section` (the bytes of the tables section) at
    /// `ranges`: each must lie inside and hold whole records.
    pub fn new(section: &'a [u8], ranges: &TableRanges) -> Result<Tables<'a>, FormatError> {
        fn table<'a, const N: usize>(
            section: &'a [u8],
            what: &str,
            (offset, len): (u64, u64),
        ) -> Result<Records<'a, N>, FormatError> {
            let bytes = slice(section, what, offset, len)?;
            if bytes.len() % N != 0 {
                return Err(FormatError::Invalid(format!(
                    "the {what} table is {len} bytes, not a whole number of {N}-byte records"
                )));
            }
            Ok(Records(bytes))
        }
        Ok(Tables {
            functions: table(section, "functions", ranges.functions)?,
            traps: table(section, "traps", ranges.traps)?,
            fault_sites: stream(section, "fault sites", ranges.fault_sites, true)?,
            fault_site_bytes: slice(
                section,
                "fault sites",
                ranges.fault_sites.0,
                ranges.fault_sites.1,
            )?,
            call_sites: stream(section, "call sites", ranges.call_sites, false)?,
            names: table(section, "names", ranges.names)?,
            name_strings: slice(
                section,
                "name strings",
                ranges.name_strings.0,
                ranges.name_strings.1,
            )?,
        })
    }

    pub fn num_functions(&self) -> usize {
        self.functions.len()
    }

    /// The code range of function `index` (imports first). Its offset and
    /// length are unchecked: the caller compares them with the code.
    pub fn function(&self, index: u32) -> Option<CodeRange> {
        let r = self.functions.get(index as usize)?;
        Some(CodeRange {
            offset: u32_at(r, 0),
            len: u32_at(r, 4),
            frame_size: u32_at(r, 8),
        })
    }

    /// The code range of function `index` if it is not empty and lies in
    /// code of `code_len` bytes: the check every user of a range makes.
    pub fn checked_function(&self, index: u32, code_len: u64) -> Option<CodeRange> {
        let range = self.function(index)?;
        let end = u64::from(range.offset) + u64::from(range.len);
        (range.len > 0 && end <= code_len).then_some(range)
    }

    /// The function whose code contains code offset `offset`, if any.
    pub fn func_at(&self, offset: u32) -> Option<u32> {
        let i = self.functions.last_at_most(offset, |r| u32_at(r, 0))?;
        let range = self.function(i as u32)?;
        (offset - range.offset < range.len).then_some(i as u32)
    }

    pub fn num_traps(&self) -> usize {
        self.traps.len()
    }

    /// Trap site `number` (a stub's, without [`FAULT_SITE_FLAG`]), if it
    /// exists and names a known trap code.
    pub fn trap(&self, number: u32) -> Option<TrapSite> {
        let r = self.traps.get(number as usize)?;
        Some(TrapSite {
            func: u32_at(r, 0),
            wasm_offset: u32_at(r, 4),
            code: TrapCode::from_u8(r[8])?,
        })
    }

    pub fn num_fault_sites(&self) -> usize {
        self.fault_sites.len()
    }

    /// Fault site `index`, if it exists and decodes.
    pub fn fault_site(&self, index: u32) -> Option<FaultSite> {
        self.fault_sites.get(index).map(fault_site)
    }

    /// The index of the fault site whose access contains code offset
    /// `offset` (see [`find_fault_site`]).
    pub fn fault_site_at(&self, offset: u32) -> Option<u32> {
        find_fault_site(self.fault_site_bytes, offset)
    }

    /// The fault-site table's bytes, for [`find_fault_site`].
    pub fn fault_site_bytes(&self) -> &'a [u8] {
        self.fault_site_bytes
    }

    /// The trap a trap-site number from generated code or the fault
    /// handler stands for: a stub's site, or (with [`FAULT_SITE_FLAG`]) a
    /// fault site's, whose function is the one containing it.
    pub fn trap_for_number(&self, number: u32) -> Option<TrapSite> {
        if number & FAULT_SITE_FLAG == 0 {
            return self.trap(number);
        }
        let site = self.fault_site(number & !FAULT_SITE_FLAG)?;
        Some(TrapSite {
            func: self.func_at(site.start)?,
            wasm_offset: site.wasm_offset,
            code: site.code,
        })
    }

    pub fn num_call_sites(&self) -> usize {
        self.call_sites.len()
    }

    pub fn call_site(&self, index: u32) -> Option<CallSite> {
        self.call_sites.get(index).map(|site| CallSite {
            return_offset: site.code_offset,
            wasm_offset: site.wasm_offset,
        })
    }

    /// The wasm offset of the call that returns to code offset
    /// `return_offset`, if there is one.
    pub fn call_wasm_offset(&self, return_offset: u32) -> Option<u32> {
        let (_, site) = self.call_sites.last_at_most(return_offset)?;
        (site.code_offset == return_offset).then_some(site.wasm_offset)
    }

    pub fn num_names(&self) -> usize {
        self.names.len()
    }

    /// Name record `index`: a function index and its name (if the name is
    /// inside the strings and UTF-8).
    pub fn name_entry(&self, index: u32) -> Option<(u32, &'a str)> {
        let r = self.names.get(index as usize)?;
        let (offset, len) = (u32_at(r, 4) as usize, u32_at(r, 8) as usize);
        let bytes = self.name_strings.get(offset..offset.checked_add(len)?)?;
        Some((u32_at(r, 0), core::str::from_utf8(bytes).ok()?))
    }

    /// The name-section name of function `func`, if there is one.
    pub fn func_name(&self, func: u32) -> Option<&'a str> {
        let i = self.names.last_at_most(func, |r| u32_at(r, 0))?;
        let (found, name) = self.name_entry(i as u32)?;
        (found == func).then_some(name)
    }

    /// The owned form of every table (inspection, tests); records that do
    /// not decode (an unknown trap code, a name outside the strings, a
    /// site stream from where it stops decoding) are left out.
    pub fn to_owned(&self) -> SiteTables {
        let n = |len: usize| 0..len as u32;
        SiteTables {
            functions: n(self.num_functions())
                .filter_map(|i| self.function(i))
                .collect(),
            traps: n(self.num_traps()).filter_map(|i| self.trap(i)).collect(),
            fault_sites: self
                .fault_sites
                .decode_all()
                .into_iter()
                .map(fault_site)
                .collect(),
            call_sites: (self.call_sites.decode_all().into_iter())
                .map(|site| CallSite {
                    return_offset: site.code_offset,
                    wasm_offset: site.wasm_offset,
                })
                .collect(),
            func_names: n(self.num_names())
                .filter_map(|i| self.name_entry(i))
                .map(|(f, s)| (f, s.to_string()))
                .collect(),
        }
    }
}

/// The index of the fault site in `table` (the bytes of a fault-site
/// table, [`Tables::fault_site_bytes`]) whose access contains code offset
/// `offset`. Async-signal-safe, for the fault handler: it only reads, and
/// allocates nothing.
pub fn find_fault_site(table: &[u8], offset: u32) -> Option<u32> {
    let sites = SiteStream::new(table, true)?;
    let (index, site) = sites.last_at_most(offset)?;
    (offset - site.code_offset < u32::from(site.extra)).then_some(index)
}

/// A fault-site record as its table stores it: the extra byte is the
/// access's length, and the trap always an out-of-bounds access.
fn fault_site(site: Site) -> FaultSite {
    FaultSite {
        start: site.code_offset,
        len: site.extra,
        wasm_offset: site.wasm_offset,
        code: TrapCode::MemoryOutOfBounds,
    }
}

/// A delta-coded table in `section` at `(offset, len)`, whose count and
/// block index must fit.
fn stream<'a>(
    section: &'a [u8],
    what: &str,
    (offset, len): (u64, u64),
    with_extra: bool,
) -> Result<SiteStream<'a>, FormatError> {
    let bytes = slice(section, what, offset, len)?;
    SiteStream::new(bytes, with_extra).ok_or_else(|| {
        FormatError::Invalid(format!(
            "the {what} table ({len} bytes) is shorter than its count and block index"
        ))
    })
}

fn slice<'a>(
    section: &'a [u8],
    what: &str,
    offset: u64,
    len: u64,
) -> Result<&'a [u8], FormatError> {
    let end = offset
        .checked_add(len)
        .filter(|&end| end <= section.len() as u64);
    match end {
        Some(end) => Ok(&section[offset as usize..end as usize]),
        None => Err(FormatError::OutOfRange {
            field: format!("{what} table end"),
            value: offset.saturating_add(len),
            limit: section.len() as u64,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SiteTables {
        SiteTables {
            functions: vec![
                CodeRange {
                    offset: 16,
                    len: 32,
                    frame_size: 8,
                },
                CodeRange {
                    offset: 48,
                    len: 64,
                    frame_size: 24,
                },
            ],
            traps: vec![TrapSite {
                func: 1,
                wasm_offset: 77,
                code: TrapCode::Unreachable,
            }],
            fault_sites: vec![
                FaultSite {
                    start: 50,
                    len: 4,
                    wasm_offset: 80,
                    code: TrapCode::MemoryOutOfBounds,
                },
                FaultSite {
                    start: 60,
                    len: 3,
                    wasm_offset: 90,
                    code: TrapCode::MemoryOutOfBounds,
                },
            ],
            call_sites: vec![
                CallSite {
                    return_offset: 20,
                    wasm_offset: 5,
                },
                CallSite {
                    return_offset: 70,
                    wasm_offset: 95,
                },
            ],
            func_names: vec![(0, "first".into()), (1, "second".into())],
        }
    }

    fn tables<'a>(bytes: &'a [u8], ranges: &TableRanges) -> Tables<'a> {
        Tables::new(bytes, ranges).unwrap()
    }

    #[test]
    fn round_trip_and_lookups() {
        let owned = sample();
        let (bytes, ranges) = encode_tables(&owned).unwrap();
        let t = tables(&bytes, &ranges);
        assert_eq!(t.to_owned(), owned);
        assert_eq!(t.func_at(15), None);
        assert_eq!(t.func_at(16), Some(0));
        assert_eq!(t.func_at(47), Some(0));
        assert_eq!(t.func_at(48), Some(1));
        assert_eq!(t.func_at(111), Some(1));
        assert_eq!(t.func_at(112), None);
        assert_eq!(t.fault_site_at(49), None);
        assert_eq!(t.fault_site_at(53), Some(0));
        assert_eq!(t.fault_site_at(54), None);
        assert_eq!(t.fault_site_at(62), Some(1));
        assert_eq!(t.fault_site_at(63), None);
        assert_eq!(t.call_wasm_offset(70), Some(95));
        assert_eq!(t.call_wasm_offset(71), None);
        assert_eq!(t.func_name(1), Some("second"));
        assert_eq!(t.func_name(2), None);
        let fault = t.trap_for_number(FAULT_SITE_FLAG | 1).unwrap();
        assert_eq!((fault.func, fault.wasm_offset), (1, 90));
        assert_eq!(t.trap_for_number(0).unwrap().wasm_offset, 77);
        assert_eq!(t.trap_for_number(1), None);
        assert_eq!(t.trap_for_number(FAULT_SITE_FLAG | 2), None);
    }

    #[test]
    fn unsorted_tables_are_not_encoded() {
        let mut owned = sample();
        owned.fault_sites.swap(0, 1);
        assert!(encode_tables(&owned).unwrap_err().contains("fault sites"));
    }

    #[test]
    fn tables_outside_the_section_or_not_whole_records_are_refused() {
        let (bytes, ranges) = encode_tables(&sample()).unwrap();
        let mut bad = ranges;
        bad.traps.1 += 1;
        assert!(Tables::new(&bytes, &bad).is_err());
        let mut bad = ranges;
        bad.name_strings.0 = u64::MAX;
        assert!(Tables::new(&bytes, &bad).is_err());
        assert!(Tables::new(&bytes[..bytes.len() - 1], &ranges).is_err());
    }

    #[test]
    fn garbage_records_give_no_answer_rather_than_a_wrong_kind() {
        let (mut bytes, ranges) = encode_tables(&sample()).unwrap();
        // The trap's code byte.
        bytes[ranges.traps.0 as usize + 8] = 0xee;
        let t = tables(&bytes, &ranges);
        assert_eq!(t.trap(0), None);
        // A name pointing past the strings.
        let names = ranges.names.0 as usize;
        bytes[names + 8..names + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let t = tables(&bytes, &ranges);
        assert_eq!(t.func_name(0), None);
    }
}
