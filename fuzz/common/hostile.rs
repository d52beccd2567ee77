//! Loader robustness: mutated, truncated and re-checksummed artifacts fed
//! to `Artifact::from_bytes` and instantiated. The result must always be a
//! clean error or a working instance: never a panic, a crash or a hang.
//!
//! Shared, as a plain source file, by the cargo-fuzz target
//! `fuzz/fuzz_targets/hostile_artifact.rs` and the CI smoke test
//! `tests/tests/hostile_artifacts.rs` (included with `#[path]`).
//!
//! What may run: an artifact that passed every check is native code, and
//! code that was changed (or whose metadata contract with the code was
//! changed: types, function ranges, vmctx layout, relocations, trap sites,
//! bounds-check strategy...) can do anything; that is what signatures are
//! for, not structural validation. So [`check`] instantiates every
//! artifact that loads (instantiation runs no code of the artifact unless
//! it has a start function), and runs code (the start function, then
//! every exported function with zero arguments) only when the code and
//! that contract are those of one of the [`seeds`], i.e. when the mutation
//! touched only what the loader alone interprets: data and element
//! segments (their element types included: the loader checks them against
//! their table, at load for active segments and in the `table.init`
//! helper for passive ones), the memory image, global initial values, memory and table
//! limits, export names and indices, function names, the start function,
//! the compiler version and source hash in the header.
//!
//! Whatever came of it, every instantiated artifact's tables (exported or
//! imported) and exported globals are then read as a host reads them
//! ([`Table::get`], and [`Store::func`] on every `funcref`, which reads the
//! function's record): what an artifact can put there without running
//! code must be a value of the table's type. Runnable ones are read again
//! after their exports ran, and every function found there is called.
//!
//! Besides byte-level edits, [`mutate`] sometimes decodes the metadata and
//! changes types where they must agree ([`retype`]: element segments'
//! types, modes and items, table types, imported table types, global
//! types and initialisers), so that those checks are what is tested.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use vibewasm_compiler::{BoundsChecks, Config};
use vibewasm_format::{
    file_checksum, read_artifact, sha256, write_artifact, ArtifactParts, ConstExpr, ExternKind,
    Header, ImportKind, Metadata, SegmentMode, SiteTables, TableType, Tables, ValType,
    CHECKSUM_RANGE, HEADER_SIZE, SIGNATURE_OFFSET_RANGE,
};
use vibewasm_loader::{Artifact, Extern, ExternRef, Instance, Linker, Store, Table, Val};

/// The seed modules: small, with no loop or recursion whose length depends
/// on memory, globals or tables (so any mutation of those terminates), and
/// between them every section the metadata has.
pub const SEED_MODULES: &[(&str, &str)] = &[
    (
        "arith",
        r#"(module
  (type $ii (func (param i32) (result i32)))
  (func $sq (export "sq") (type $ii) (i32.mul (local.get 0) (local.get 0)))
  (func (export "mix") (param i64 f64 f32) (result i64 f64 f32)
    (i64.mul (local.get 0) (i64.const 3))
    (f64.sqrt (local.get 1))
    (f32.neg (local.get 2)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "loop") (result i32) (local i32 i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (call $sq (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 100))))
    (local.get 1))
  (func (export "conv") (param f64) (result i32) (i32.trunc_f64_s (local.get 0))))"#,
    ),
    (
        "memory",
        r#"(module
  (memory (export "mem") 1 3)
  (data (i32.const 8) "hello, hostile world")
  (data $p "passive")
  (global $g (export "g") (mut i32) (i32.const 5))
  (global $h i64 (i64.const -1))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 offset=3 (local.get 0) (local.get 1)))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
  (func (export "size") (result i32) (memory.size))
  (func (export "init") (memory.init $p (i32.const 100) (i32.const 0) (i32.const 7)) (data.drop $p))
  (func (export "fill") (memory.fill (i32.const 200) (i32.const 0x55) (i32.const 300)))
  (func (export "copy") (memory.copy (i32.const 1000) (i32.const 8) (i32.const 20)))
  (func (export "sum") (result i32) (local i32 i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.load8_u (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 64))))
    (local.get 1))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g))
  (func (export "h") (result i64) (global.get $h)))"#,
    ),
    (
        "tables",
        r#"(module
  (import "env" "x" (global $x externref))
  (type $v_i (func (result i32)))
  (table $t (export "tab") 4 8 funcref)
  (table $e (export "ext") 2 externref)
  (elem (i32.const 0) $one $two)
  (elem (table $e) (i32.const 1) externref (global.get $x))
  (elem $pe func $two $one)
  (elem declare func $three)
  (func $one (type $v_i) (i32.const 1))
  (func $two (type $v_i) (i32.const 2))
  (func $three (type $v_i) (i32.const 3))
  (func (export "call") (param i32) (result i32) (call_indirect (type $v_i) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "grow") (result i32) (table.grow $t (ref.func $three) (i32.const 2)))
  (func (export "init") (table.init $t $pe (i32.const 2) (i32.const 0) (i32.const 2)))
  (func (export "drop") (elem.drop $pe))
  (func (export "null") (result i32) (ref.is_null (table.get $e (i32.const 1))))
  (func (export "copy") (table.copy $t $t (i32.const 1) (i32.const 0) (i32.const 3))))"#,
    ),
    (
        "imports",
        r#"(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (import "env" "g" (global $ig i32))
  (import "env" "t" (table $it 2 funcref))
  (global $d (export "d") i32 (global.get $ig))
  (elem (table $it) (i32.const 1) func $start)
  (func (export "run") (param i32) (result i32)
    (i32.add (call $twice (local.get 0)) (global.get $ig)))
  (func $start (global.get $ig) (drop))
  (func (export "callt") (call_indirect $it (i32.const 1)))
  (start $start))"#,
    ),
    (
        // Three memories: data segments, accesses, sizes, grows and copies
        // naming memories other than 0 (the vmctx's memories region and
        // the memory helpers' immediates).
        "memories",
        r#"(module
  (memory $a (export "a") 1 2)
  (memory $b (export "b") 2 3)
  (memory $c (export "c") 0 1)
  (data (memory $b) (i32.const 65530) "multi memory")
  (data (memory $a) (i32.const 4) "first")
  (data $p "passive")
  (func (export "load_b") (param i32) (result i32) (i32.load $b (local.get 0)))
  (func (export "store_c") (param i32 i32) (i32.store16 $c offset=2 (local.get 0) (local.get 1)))
  (func (export "grow_c") (result i32) (memory.grow $c (i32.const 1)))
  (func (export "sizes") (result i32)
    (i32.add (memory.size $a) (i32.mul (memory.size $b) (memory.size $c))))
  (func (export "copy") (memory.copy $a $b (i32.const 0) (i32.const 65530) (i32.const 12)))
  (func (export "fill") (memory.fill $b (i32.const 0) (i32.const 7) (i32.const 9)))
  (func (export "init") (memory.init $c $p (i32.const 1) (i32.const 0) (i32.const 7))))"#,
    ),
    (
        // v128 globals (behind a pointer), parameters, results and
        // memory accesses: two argument slots per value.
        "simd",
        r#"(module
  (memory (export "mem") 1)
  (global $v (export "v") (mut v128) (v128.const i32x4 1 2 3 4))
  (global $w (export "w") v128 (v128.const f64x2 1.5 -0))
  (func (export "add") (param v128 i32 v128) (result v128 i32)
    (i32x4.add (local.get 0) (local.get 2))
    (i32.add (local.get 1) (i32x4.extract_lane 1 (global.get $v))))
  (func (export "memops") (param i32) (result v128)
    (v128.store (local.get 0) (f64x2.mul (global.get $w) (global.get $w)))
    (global.set $v (v128.load offset=8 (local.get 0)))
    (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
      (global.get $v) (v128.load8x8_s (local.get 0)))))"#,
    ),
];

/// A seed artifact, with its decoded metadata for comparisons.
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
    pub header: Header,
    pub metadata: Metadata,
    /// Its tables, as [`contract_tables`] compares them.
    pub tables: SiteTables,
    pub code: Vec<u8>,
}

/// Every seed module compiled with each bounds-check strategy, and with
/// fuel metering and epoch checks, plus a signed copy of the first (so the
/// signature block is exercised too).
pub fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        let image = ("image", image_seed());
        let modules = SEED_MODULES.iter().map(|&(n, w)| (n, w.to_string()));
        for (name, wat) in modules.chain([image]) {
            let wasm = wat::parse_str(&wat).expect("seed WAT parses");
            let configs = [
                ("explicit", BoundsChecks::Explicit, false),
                ("guard", BoundsChecks::GuardPages, false),
                ("metered", BoundsChecks::Explicit, true),
            ];
            for (what, bounds_checks, metered) in configs {
                let config = Config {
                    bounds_checks,
                    fuel: metered,
                    epoch: metered,
                    ..Config::default()
                };
                let bytes = vibewasm_compiler::compile(&wasm, &config).expect("seed compiles");
                seeds.push(seed(format!("{name}-{what}"), bytes));
            }
        }
        let key = vibewasm_format::SecretKey::from_seed(&[7; 32]);
        let signed = vibewasm_format::sign_artifact(&seeds[0].bytes, &key).expect("seed signs");
        seeds.push(seed(format!("{}-signed", seeds[0].name), signed));
        seeds
    })
}

/// A seed whose artifact has a memory image (its data segments hold more
/// than the compiler's 4 KiB minimum for one): the image record and bytes
/// are mutated too.
fn image_seed() -> String {
    let data: String = (0..5000u32).map(|k| format!("\\{:02x}", k % 251)).collect();
    format!(
        r#"(module
  (memory (export "mem") 1 2)
  (data (i32.const 100) "{data}")
  (data (i32.const 3000) "overlapping")
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "sum") (result i32) (local i32 i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.load8_u (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 8192))))
    (local.get 1))
  (func (export "init") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#
    )
}

fn seed(name: String, bytes: Vec<u8>) -> Seed {
    let view = read_artifact(&bytes).expect("seed artifact reads");
    let tables = contract_tables(&view.tables);
    let (header, metadata, code) = (view.header, view.metadata, view.code.to_vec());
    Seed {
        name,
        bytes,
        header,
        metadata,
        tables,
        code,
    }
}

/// The metadata with everything the loader alone interprets (see the
/// module docs) reset, so what remains is the contract with the code.
fn contract(m: &Metadata) -> Metadata {
    let mut m = m.clone();
    for d in &mut m.data {
        d.bytes.clear();
        d.mode = SegmentMode::Passive;
    }
    for e in &mut m.elements {
        e.items.clear();
        e.mode = SegmentMode::Passive;
        e.element = ValType::FuncRef;
    }
    for g in &mut m.globals {
        g.init = ConstExpr::I32(0);
    }
    // The programs of extended constants: initial values too.
    m.const_exprs.clear();
    for mem in &mut m.memories {
        mem.min_pages = 0;
        mem.max_pages = None;
    }
    for t in &mut m.tables {
        t.min = 0;
        t.max = None;
    }
    m.exports.clear();
    m.start = None;
    // Where the tables are is the loader's business; what they say is in
    // `contract_tables`.
    m.site_tables = Default::default();
    // Only initial memory contents, like the data segments.
    m.memory_image = None;
    m
}

/// The tables without what the loader alone interprets (function names).
fn contract_tables(tables: &Tables<'_>) -> SiteTables {
    let mut tables = tables.to_owned();
    tables.func_names.clear();
    tables
}

/// The seed whose code this artifact still runs as compiled, if any.
fn runnable_as(artifact: &Artifact) -> Option<&'static Seed> {
    let h = artifact.header();
    let code: &[u8] = if artifact.code_len() == 0 {
        &[]
    } else {
        // SAFETY: the artifact's code mapping is readable and this long.
        unsafe { std::slice::from_raw_parts(artifact.code_base(), artifact.code_len()) }
    };
    let meta = contract(artifact.metadata());
    let tables = contract_tables(&artifact.tables());
    seeds().iter().find(|s| {
        s.code == code
            && s.header.options == h.options
            && s.header.target == h.target
            && contract(&s.metadata) == meta
            && s.tables == tables
    })
}

/// What a checked artifact came to (none of these is a failure: a panic,
/// crash or hang is).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// `Artifact::from_bytes` refused it (the kind of error).
    Refused(String),
    /// Loaded, and instantiation refused it (link or instantiation error,
    /// or a trap in its start function).
    NotInstantiated,
    /// Loaded and instantiated; its code was not run (changed contract).
    Instantiated,
    /// Loaded, instantiated, and every export called.
    Ran,
}

/// Fuel for code compiled with fuel metering: more than any seed needs.
const FUEL: u64 = 10_000_000;

/// The `externref` the linker's global `env.x` holds: an address nothing
/// is mapped at, so that any path that took it for a `funcref` crashes.
const EXTERN_BITS: u64 = 0x4141_4141_4141;

/// A linker with every import of the seeds, and the tables among them.
fn linker() -> (Linker, Vec<Table>) {
    let mut linker = Linker::new();
    linker.store().set_fuel(FUEL).expect("set fuel");
    linker
        .func_wrap("env", "twice", |x: i32| x.wrapping_mul(2))
        .expect("define env.twice");
    let global = |ty| vibewasm_loader::GlobalType { ty, mutable: false };
    linker
        .define_global("env", "g", global(ValType::I32), Val::I32(40))
        .expect("define env.g");
    linker
        .define_global(
            "env",
            "x",
            global(ValType::ExternRef),
            Val::ExternRef(ExternRef::from_raw(EXTERN_BITS)),
        )
        .expect("define env.x");
    let ty = TableType {
        element: ValType::FuncRef,
        min: 2,
        max: None,
        index64: false,
    };
    let table = linker
        .define_table("env", "t", ty, Val::FuncRef(None))
        .expect("define env.t");
    (linker, vec![table])
}

/// Most elements of one table read by [`probe`]: all of a table up to
/// this size, else this many at each end.
const READ_ALL_UP_TO: u64 = 1 << 16;
/// Most distinct functions [`probe`] calls per artifact.
const MAX_TABLE_CALLS: usize = 64;

/// Reads every table `imported` lists or the instance exports, and every
/// global it exports, as a host does: each non-null `funcref` is turned
/// into a function with [`Store::func`] (which reads its record). With
/// `run`, calls each distinct function found (with zero arguments).
fn probe(instance: &Instance, imported: &[Table], run: bool) {
    let store: &Store = instance.store();
    let mut tables = imported.to_vec();
    let mut refs = Vec::new();
    let exports: Vec<(String, ExternKind)> = instance
        .exports()
        .map(|(name, kind)| (name.to_string(), kind))
        .collect();
    for (name, kind) in exports {
        match (kind, instance.get_export(&name)) {
            (ExternKind::Table, Some(Extern::Table(t))) => tables.push(t),
            (ExternKind::Global, Some(Extern::Global(g))) => refs.extend(g.get().ok()),
            _ => {}
        }
    }
    for table in &tables {
        let Ok(len) = table.size() else { continue };
        let indices = if len <= READ_ALL_UP_TO {
            0..len
        } else {
            0..READ_ALL_UP_TO / 2
        };
        let tail = len.saturating_sub(READ_ALL_UP_TO / 2).max(indices.end)..len;
        for i in indices.chain(tail) {
            let value = table.get(i).expect("an index below the size reads");
            refs.push(value);
        }
    }
    let mut called = HashSet::new();
    for value in refs {
        let Val::FuncRef(Some(handle)) = value else {
            continue;
        };
        let func = store
            .func(handle)
            .expect("a funcref of this store names a function");
        if !run || called.len() >= MAX_TABLE_CALLS || !called.insert(handle) {
            continue;
        }
        if let Some(args) = func
            .ty()
            .params
            .iter()
            .map(|t| zero(*t))
            .collect::<Option<Vec<Val>>>()
        {
            let _ = func.call(&args);
        }
    }
}

fn zero(ty: ValType) -> Option<Val> {
    Some(match ty {
        ValType::I32 => Val::I32(0),
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        ValType::FuncRef => Val::FuncRef(None),
        ValType::ExternRef => Val::ExternRef(None),
        ValType::V128 => Val::V128(0),
    })
}

/// Loads `bytes` from memory, instantiates it, and runs it if that is
/// safe (see the module docs).
pub fn check(bytes: &[u8]) -> Outcome {
    let artifact = match Artifact::from_bytes(bytes) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            // The kind of error: the variant of the FormatError, or of the
            // LoadError.
            let kind = match &e {
                vibewasm_loader::LoadError::Format { source, .. } => format!("{source:?}"),
                other => format!("{other:?}"),
            };
            let end = kind.find([' ', '(', '{']).unwrap_or(kind.len());
            return Outcome::Refused(kind[..end].to_string());
        }
    };
    let seed = runnable_as(&artifact);
    if seed.is_none() && artifact.metadata().start.is_some() {
        // Its start function would run code nobody vouches for.
        return Outcome::NotInstantiated;
    }
    let (linker, imported_tables) = linker();
    let Ok(mut instance) = linker.instantiate_artifact(&artifact) else {
        return Outcome::NotInstantiated;
    };
    probe(&instance, &imported_tables, false);
    if seed.is_none() {
        return Outcome::Instantiated;
    }
    let exports: Vec<String> = artifact
        .metadata()
        .exports
        .iter()
        .filter(|e| e.kind == vibewasm_format::ExternKind::Func)
        .map(|e| e.name.clone())
        .collect();
    for name in exports {
        let Ok((_, ty)) = instance.func_export(&name) else {
            continue;
        };
        let Some(args) = ty
            .params
            .iter()
            .map(|t| zero(*t))
            .collect::<Option<Vec<Val>>>()
        else {
            continue;
        };
        let _ = instance.call(&name, &args);
    }
    probe(&instance, &imported_tables, true);
    Outcome::Ran
}

/// Writes `sha256`-based checksum and returns the file (after a mutation,
/// so that structural validation, not the checksum, is what is tested).
pub fn refix_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= CHECKSUM_RANGE.end {
        let sum = file_checksum(&bytes);
        bytes[CHECKSUM_RANGE].copy_from_slice(&sum);
    }
    bytes
}

/// Also makes the header's file length match (for mutations that changed
/// the length), then re-fixes the checksum.
pub fn refix_length_and_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= HEADER_SIZE {
        let len = bytes.len() as u64;
        bytes[128..136].copy_from_slice(&len.to_le_bytes());
    }
    refix_checksum(bytes)
}

/// A small deterministic PRNG (splitmix64) driving [`mutate`].
pub struct Mutator(u64);

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Header fields that are offsets, lengths and counts (byte offset, size).
const HEADER_FIELDS: [(usize, usize); 9] = [
    (8, 2),   // version major
    (10, 2),  // version minor
    (12, 4),  // header size
    (52, 4),  // options
    (56, 8),  // cpu features
    (96, 8),  // metadata offset
    (104, 8), // metadata length
    (112, 8), // code offset
    (120, 8), // code length
];

fn interesting(m: &mut Mutator, file_len: u64) -> u64 {
    let choices = [
        0,
        1,
        2,
        7,
        8,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xfff,
        0x1000,
        0x1001,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        u64::MAX - 1,
        i64::MAX as u64,
        file_len,
        file_len.wrapping_sub(1),
        file_len + 1,
        HEADER_SIZE as u64,
        HEADER_SIZE as u64 - 1,
    ];
    choices[m.below(choices.len())]
}

/// One mutated artifact made from `base`: one time in ten [`retype`]d,
/// else one to four edits (bit flips, byte and field overwrites with
/// interesting values, LEB128 tweaks in the metadata, insertions and
/// deletions inside the metadata, truncation, extension), then, most of
/// the time, the checksum (and sometimes the file length) re-fixed so that
/// the structural checks are reached.
pub fn mutate(base: &[u8], m: &mut Mutator) -> Vec<u8> {
    if m.chance(10) {
        if let Some(f) = retype(base, m) {
            return f;
        }
    }
    let mut f = base.to_vec();
    let header = Header::decode(base).expect("seed header");
    let meta_start = header.metadata_offset as usize;
    let meta_len = header.metadata_len as usize;
    let code_start = header.code_offset as usize;
    let code_len = header.code_len as usize;
    // What lies between the metadata and the code: the tables section
    // (code ranges, trap, fault and call sites, names), and the memory
    // image if there is one.
    let tables_start = meta_start + meta_len;
    let tables_len = code_start.saturating_sub(tables_start);
    // Where an edit lands: the header, the metadata (most edits: it is
    // where the indices are), the tables, the code, or anywhere.
    let region = |m: &mut Mutator, f: &Vec<u8>| -> usize {
        let at = match m.below(10) {
            0 | 1 => m.below(HEADER_SIZE),
            2..=5 => meta_start + m.below(meta_len),
            6 => tables_start + m.below(tables_len.max(1)),
            7 => code_start + m.below(code_len.max(1)),
            _ => m.below(f.len()),
        };
        at.min(f.len().saturating_sub(1))
    };
    let edits = 1 + m.below(4);
    let mut length_changed = false;
    for _ in 0..edits {
        if f.is_empty() {
            break;
        }
        match m.below(12) {
            0 | 1 => {
                let at = region(m, &f);
                f[at] ^= 1 << m.below(8);
            }
            2 => {
                let at = region(m, &f);
                f[at] = m.next() as u8;
            }
            3 => {
                let at = region(m, &f);
                f[at] = [0, 1, 0x7f, 0x80, 0xff][m.below(5)];
            }
            4 | 5 => {
                // A varint in the metadata one up or down: indices off by one.
                let at = meta_start + m.below(meta_len);
                if at < f.len() {
                    let delta = if m.chance(50) { 1 } else { 0xff };
                    f[at] = f[at].wrapping_add(delta);
                }
            }
            6 => {
                let (at, size) = HEADER_FIELDS[m.below(HEADER_FIELDS.len())];
                let value = interesting(m, f.len() as u64).to_le_bytes();
                if at + size <= f.len() {
                    f[at..at + size].copy_from_slice(&value[..size]);
                }
            }
            7 => {
                // Insert bytes into the metadata, taking them from the
                // padding before the code, and grow the metadata length.
                let at = meta_start + m.below(meta_len + 1);
                let n = 1 + m.below(8);
                if at <= f.len() && code_start >= meta_start + meta_len + n && code_start <= f.len()
                {
                    let bytes: Vec<u8> = (0..n).map(|_| m.next() as u8).collect();
                    f.splice(at..at, bytes);
                    f.drain(code_start..code_start + n);
                    let new_len = (meta_len + n) as u64;
                    f[104..112].copy_from_slice(&new_len.to_le_bytes());
                }
            }
            8 => {
                // Delete bytes from the metadata (the code stays in place).
                let n = 1 + m.below(8).min(meta_len.saturating_sub(1));
                let at = meta_start + m.below(meta_len.saturating_sub(n) + 1);
                if at + n <= f.len() && code_start <= f.len() {
                    f.drain(at..at + n);
                    f.splice(code_start - n..code_start - n, std::iter::repeat_n(0, n));
                    let new_len = meta_len.saturating_sub(n) as u64;
                    f[104..112].copy_from_slice(&new_len.to_le_bytes());
                }
            }
            9 => {
                let len = m.below(f.len());
                f.truncate(len);
                length_changed = true;
            }
            10 => {
                let n = 1 + m.below(5000);
                f.extend((0..n).map(|_| m.next() as u8));
                length_changed = true;
            }
            _ => {
                // The signature offset: somewhere, or the end.
                let value = match m.below(3) {
                    0 => interesting(m, f.len() as u64),
                    1 => (f.len() as u64).saturating_sub(104),
                    _ => (code_start + code_len) as u64,
                };
                if SIGNATURE_OFFSET_RANGE.end <= f.len() {
                    f[SIGNATURE_OFFSET_RANGE].copy_from_slice(&value.to_le_bytes());
                }
            }
        }
    }
    match m.below(10) {
        0 | 1 => f,
        2..=4 if length_changed => refix_length_and_checksum(f),
        _ => refix_checksum(f),
    }
}

const VAL_TYPES: [ValType; 7] = [
    ValType::I32,
    ValType::I64,
    ValType::F32,
    ValType::F64,
    ValType::V128,
    ValType::FuncRef,
    ValType::ExternRef,
];

/// A value type, mostly a reference type (those pass the "is a reference
/// type" checks and reach the comparisons behind them).
fn any_type(m: &mut Mutator) -> ValType {
    if m.chance(75) {
        [ValType::FuncRef, ValType::ExternRef][m.below(2)]
    } else {
        VAL_TYPES[m.below(VAL_TYPES.len())]
    }
}

/// A constant of type `ty`: a function, a global of that type, a null or
/// a number.
fn item_of(m: &mut Mutator, ty: ValType, meta: &Metadata) -> ConstExpr {
    let globals: Vec<u32> = (0..meta.num_globals())
        .filter(|&g| meta.global_type(g).map(|t| t.ty) == Some(ty))
        .collect();
    if !globals.is_empty() && m.chance(40) {
        return ConstExpr::GlobalGet(globals[m.below(globals.len())]);
    }
    match ty {
        ValType::I32 => ConstExpr::I32(m.next() as i32),
        ValType::I64 => ConstExpr::I64(m.next() as i64),
        ValType::F32 => ConstExpr::F32(m.next() as u32),
        ValType::F64 => ConstExpr::F64(m.next()),
        ValType::FuncRef if meta.num_funcs() > 0 && m.chance(70) => {
            ConstExpr::RefFunc(m.below(meta.num_funcs() as usize) as u32)
        }
        _ => ConstExpr::RefNull(ty),
    }
}

/// `base` with its metadata decoded and one to three of its types changed
/// (an element segment's type, with its items made to fit it or not, its
/// mode or table, one of its items; a table's or an imported table's
/// element type; a global's type and initialiser), written again with a
/// valid checksum (and no signature). `None` if `base` does not read.
pub fn retype(base: &[u8], m: &mut Mutator) -> Option<Vec<u8>> {
    let view = read_artifact(base).ok()?;
    let mut meta = view.metadata.clone();
    for _ in 0..1 + m.below(3) {
        let segments = meta.elements.len();
        match m.below(7) {
            0 | 1 if segments > 0 => {
                let (s, ty) = (m.below(segments), any_type(m));
                meta.elements[s].element = ty;
                if m.chance(70) {
                    let n = meta.elements[s].items.len();
                    let items = (0..n).map(|_| item_of(m, ty, &meta)).collect();
                    meta.elements[s].items = items;
                }
            }
            2 if segments > 0 => {
                let s = m.below(segments);
                meta.elements[s].mode = match m.below(3) {
                    0 => SegmentMode::Passive,
                    1 => SegmentMode::Declared,
                    _ => SegmentMode::Active {
                        index: m.below(meta.num_tables() as usize + 1) as u32,
                        offset: ConstExpr::I32(m.below(4) as i32),
                    },
                };
            }
            3 if segments > 0 => {
                let s = m.below(segments);
                let n = meta.elements[s].items.len();
                if n > 0 {
                    let ty = any_type(m);
                    let item = item_of(m, ty, &meta);
                    meta.elements[s].items[m.below(n)] = item;
                }
            }
            4 if !meta.tables.is_empty() => {
                let t = m.below(meta.tables.len());
                meta.tables[t].element = any_type(m);
            }
            5 => {
                let tables: Vec<usize> = (0..meta.imports.len())
                    .filter(|&i| matches!(meta.imports[i].kind, ImportKind::Table(_)))
                    .collect();
                if !tables.is_empty() {
                    let ty = any_type(m);
                    if let ImportKind::Table(t) =
                        &mut meta.imports[tables[m.below(tables.len())]].kind
                    {
                        t.element = ty;
                    }
                }
            }
            _ if !meta.globals.is_empty() => {
                let g = m.below(meta.globals.len());
                let ty = any_type(m);
                if m.chance(70) {
                    meta.globals[g].ty.ty = ty;
                }
                meta.globals[g].init = item_of(m, ty, &meta);
            }
            _ => {}
        }
    }
    write_artifact(&ArtifactParts {
        compiler_version: &view.header.compiler_version,
        target: view.header.target,
        options: view.header.options,
        wasm: b"retyped",
        metadata: &meta,
        tables: &view.tables.to_owned(),
        memory_image: view.memory_image,
        code: view.code,
    })
    .ok()
}

/// A name for a mutated artifact in reports: its SHA-256 prefix.
pub fn short_hash(bytes: &[u8]) -> String {
    sha256(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
