//! Values crossing the host/wasm boundary, and how they sit in the 8-byte
//! argument slots of the calling convention (see `vibewasm_format::vmctx`).

use crate::prelude::*;
use core::num::NonZeroU64;

use vibewasm_format::vmctx::FuncRef;
use vibewasm_format::ValType;

/// A non-null `funcref` value: a function of one [`crate::Store`].
///
/// It is a plain identifier (store id and record address) and is only ever
/// dereferenced after checking that it belongs to the store it is used in,
/// whose records live as long as the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FuncRefHandle {
    store: u64,
    ptr: NonZeroU64,
}

impl FuncRefHandle {
    pub(crate) fn new(store: u64, ptr: *const FuncRef) -> Option<FuncRefHandle> {
        Some(FuncRefHandle {
            store,
            ptr: NonZeroU64::new(ptr as usize as u64)?,
        })
    }

    /// The id of the store ([`crate::Store::id`]) the function belongs to.
    pub fn store_id(&self) -> u64 {
        self.store
    }

    pub(crate) fn ptr(&self) -> *const FuncRef {
        self.ptr.get() as usize as *const FuncRef
    }
}

/// A non-null `externref` value: an opaque 64-bit handle chosen by the host.
///
/// Wasm code can only pass it around. A host either uses its own numbering
/// ([`ExternRef::from_raw`]) or lets a store keep a Rust value for it
/// ([`crate::Store::extern_ref`], [`crate::Store::extern_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExternRef(NonZeroU64);

impl ExternRef {
    /// The handle with raw value `raw`; `None` for 0, which is `ref.null extern`.
    pub fn from_raw(raw: u64) -> Option<ExternRef> {
        NonZeroU64::new(raw).map(ExternRef)
    }

    pub fn raw(&self) -> u64 {
        self.0.get()
    }
}

/// A WebAssembly value. Floats are kept as bit patterns so NaN payloads
/// survive a round trip unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// Bit pattern of an `f32`.
    F32(u32),
    /// Bit pattern of an `f64`.
    F64(u64),
    /// A `funcref`; `None` is `ref.null func`.
    FuncRef(Option<FuncRefHandle>),
    /// An `externref`; `None` is `ref.null extern`.
    ExternRef(Option<ExternRef>),
    /// A `v128`, as the little-endian `u128` of its 16 bytes: lane 0 in the
    /// low bits (`i32x4 1 2 3 4` is `0x4_0000_0003_0000_0002_0000_0001`).
    V128(u128),
}

/// Why a [`Val`] cannot go into a slot of a given store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForeignFuncRef;

/// Why a [`Val`] cannot be written to argument slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotError {
    /// A `funcref` of another store.
    ForeignFuncRef,
    /// The slots end before the value does.
    TooShort,
}

/// A slice of argument slots too short for the value written to it
/// (see [`Val::write_slots`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfSlots;

impl core::fmt::Display for OutOfSlots {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the argument slots end before the value does")
    }
}

impl core::error::Error for OutOfSlots {}

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
            Val::V128(_) => ValType::V128,
        }
    }

    /// The null reference of `ty`, or `None` if `ty` is not a reference type.
    pub fn null(ty: ValType) -> Option<Val> {
        match ty {
            ValType::FuncRef => Some(Val::FuncRef(None)),
            ValType::ExternRef => Some(Val::ExternRef(None)),
            _ => None,
        }
    }

    /// The value as stored in an argument slot: 32-bit values in the low 4
    /// bytes with the upper bytes zero, so generated code may read either
    /// width. A function reference goes into slots of the store it belongs
    /// to only: `store` is that store's id. A `v128` gives its low 64 bits
    /// here (it takes two slots: see [`Val::write_slots_in`]).
    pub(crate) fn to_slot_in(self, store: u64) -> Result<u64, ForeignFuncRef> {
        Ok(match self {
            Val::FuncRef(Some(f)) if f.store != store => return Err(ForeignFuncRef),
            Val::FuncRef(Some(f)) => f.ptr.get(),
            v => v.to_slot(),
        })
    }

    /// The slot form of a one-slot value (see [`Val::to_slot_in`]);
    /// function references, which need a store, give 0 here, and a `v128`,
    /// which takes two slots, its low 64 bits (use [`Val::write_slots`]).
    pub fn to_slot(self) -> u64 {
        match self {
            Val::I32(v) => v as u32 as u64,
            Val::I64(v) => v as u64,
            Val::F32(bits) => bits as u64,
            Val::F64(bits) => bits,
            Val::ExternRef(r) => r.map_or(0, |r| r.raw()),
            Val::FuncRef(_) => 0,
            Val::V128(v) => v as u64,
        }
    }

    /// Writes the value to `slots[at..at + self.ty().slots()]`, the form of
    /// the calling convention (`vibewasm_format::vmctx`): one slot as
    /// [`Val::to_slot_in`] gives it, or for a `v128` its low 64 bits (lanes
    /// 0 first) then its high 64 bits. Nothing is written if the value
    /// does not fit.
    pub(crate) fn write_slots_in(
        self,
        slots: &mut [u64],
        at: usize,
        store: u64,
    ) -> Result<(), SlotError> {
        let n = self.ty().slots();
        let out = at
            .checked_add(n)
            .and_then(|end| slots.get_mut(at..end))
            .ok_or(SlotError::TooShort)?;
        match self {
            Val::V128(v) => {
                out[0] = v as u64;
                out[1] = (v >> 64) as u64;
            }
            v => out[0] = v.to_slot_in(store).map_err(|_| SlotError::ForeignFuncRef)?,
        }
        Ok(())
    }

    /// [`Val::write_slots_in`] for numbers and `externref`s (a `funcref`
    /// writes 0, as with [`Val::to_slot`]): the value goes to
    /// `slots[at..at + self.ty().slots()]`.
    pub fn write_slots(self, slots: &mut [u64], at: usize) -> Result<(), OutOfSlots> {
        let v = match self {
            Val::FuncRef(_) => Val::FuncRef(None),
            v => v,
        };
        v.write_slots_in(slots, at, 0).map_err(|_| OutOfSlots)
    }

    /// Reads a value of type `ty` from `slots[at..at + ty.slots()]` (the
    /// form [`Val::write_slots_in`] writes) in the store with id `store`.
    /// `None` if the slots end before the value does.
    pub(crate) fn read_slots_in(ty: ValType, slots: &[u64], at: usize, store: u64) -> Option<Val> {
        let s = slots.get(at..at.checked_add(ty.slots())?)?;
        Some(match ty {
            ValType::V128 => Val::V128(u128::from(s[0]) | (u128::from(s[1]) << 64)),
            ty => Val::from_slot_in(ty, s[0], store)?,
        })
    }

    /// Reads a number or an `externref` of type `ty` from
    /// `slots[at..at + ty.slots()]` (see [`Val::write_slots`]). `None` for a
    /// `funcref`, which needs its store, or if the slots end before the value.
    pub fn read_slots(ty: ValType, slots: &[u64], at: usize) -> Option<Val> {
        if ty == ValType::FuncRef {
            return None;
        }
        Val::read_slots_in(ty, slots, at, 0)
    }

    /// Reads a one-slot value of type `ty` from a slot of the store with
    /// id `store` (upper bytes of 32-bit values are ignored). `None` for
    /// v128, which takes two slots.
    pub(crate) fn from_slot_in(ty: ValType, slot: u64, store: u64) -> Option<Val> {
        Some(match ty {
            ValType::FuncRef => {
                Val::FuncRef(FuncRefHandle::new(store, slot as usize as *const FuncRef))
            }
            _ => Val::from_slot(ty, slot)?,
        })
    }

    /// Reads a number or an `externref` of type `ty` from a slot (upper bytes
    /// of 32-bit values are ignored). `None` for v128, which takes two slots
    /// ([`Val::read_slots`]), and `funcref`, which needs its store (see
    /// [`crate::Instance::call`]).
    pub fn from_slot(ty: ValType, slot: u64) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(slot as u32 as i32),
            ValType::I64 => Val::I64(slot as i64),
            ValType::F32 => Val::F32(slot as u32),
            ValType::F64 => Val::F64(slot),
            ValType::ExternRef => Val::ExternRef(ExternRef::from_raw(slot)),
            ValType::V128 | ValType::FuncRef => return None,
        })
    }

    /// Whether values of `ty` can be passed between host and wasm: all of
    /// them (kept for hosts written when `v128` could not).
    pub fn supports(ty: ValType) -> bool {
        let _ = ty;
        true
    }

    pub fn f32(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
    pub fn f64(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
    pub fn as_i32(&self) -> Option<i32> {
        match *self {
            Val::I32(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Val::I64(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Val::F32(bits) => Some(f32::from_bits(bits)),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Val::F64(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }
    pub fn as_func_ref(&self) -> Option<Option<FuncRefHandle>> {
        match *self {
            Val::FuncRef(f) => Some(f),
            _ => None,
        }
    }
    pub fn as_extern_ref(&self) -> Option<Option<ExternRef>> {
        match *self {
            Val::ExternRef(r) => Some(r),
            _ => None,
        }
    }
    /// A `v128` as the little-endian `u128` of its bytes (lane 0 lowest).
    pub fn as_v128(&self) -> Option<u128> {
        match *self {
            Val::V128(v) => Some(v),
            _ => None,
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}
impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::f32(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::f64(v)
    }
}
/// A `u128` is a `v128` (see [`Val::V128`]).
impl From<u128> for Val {
    fn from(v: u128) -> Val {
        Val::V128(v)
    }
}

impl core::fmt::Display for Val {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "i32:{v}"),
            Val::I64(v) => write!(f, "i64:{v}"),
            Val::F32(bits) => write!(f, "f32:{}", f32::from_bits(bits)),
            Val::F64(bits) => write!(f, "f64:{}", f64::from_bits(bits)),
            Val::FuncRef(None) => f.write_str("ref.null func"),
            Val::FuncRef(Some(r)) => write!(f, "ref.func@{:#x}", r.ptr.get()),
            Val::ExternRef(None) => f.write_str("ref.null extern"),
            Val::ExternRef(Some(r)) => write!(f, "ref.extern {}", r.raw()),
            Val::V128(v) => write!(f, "v128:{v:#034x}"),
        }
    }
}

mod sealed {
    /// Only this crate's value types: the calling code relies on their sizes.
    pub trait SealedTy {}
    pub trait SealedList {}
}

impl sealed::SealedTy for i32 {}
impl sealed::SealedTy for i64 {}
impl sealed::SealedTy for f32 {}
impl sealed::SealedTy for f64 {}
impl sealed::SealedTy for u128 {}

/// A Rust type that is one wasm value: `i32`, `i64`, `f32`, `f64`, or
/// `u128` for a `v128` (see [`Val::V128`] for its lanes).
pub trait WasmTy: sealed::SealedTy + Copy + Send + Sync + 'static {
    const TYPE: ValType;
    /// Writes the value to `slots[0..TYPE.slots()]` in the form of the
    /// calling convention (slots beyond the slice are dropped).
    fn write_slots(self, slots: &mut [u64]);
    /// Reads a value from `slots[0..TYPE.slots()]` (missing slots read as
    /// zero; upper bytes of 32-bit values are ignored).
    fn read_slots(slots: &[u64]) -> Self;
}

/// Slot `i` of `slots`, 0 if missing.
fn slot(slots: &[u64], i: usize) -> u64 {
    slots.get(i).copied().unwrap_or(0)
}

/// Sets slot `i` of `slots`, if there is one.
fn set_slot(slots: &mut [u64], i: usize, value: u64) {
    if let Some(s) = slots.get_mut(i) {
        *s = value;
    }
}

impl WasmTy for i32 {
    const TYPE: ValType = ValType::I32;
    fn write_slots(self, slots: &mut [u64]) {
        set_slot(slots, 0, self as u32 as u64);
    }
    fn read_slots(slots: &[u64]) -> i32 {
        slot(slots, 0) as u32 as i32
    }
}
impl WasmTy for i64 {
    const TYPE: ValType = ValType::I64;
    fn write_slots(self, slots: &mut [u64]) {
        set_slot(slots, 0, self as u64);
    }
    fn read_slots(slots: &[u64]) -> i64 {
        slot(slots, 0) as i64
    }
}
impl WasmTy for f32 {
    const TYPE: ValType = ValType::F32;
    fn write_slots(self, slots: &mut [u64]) {
        set_slot(slots, 0, self.to_bits() as u64);
    }
    fn read_slots(slots: &[u64]) -> f32 {
        f32::from_bits(slot(slots, 0) as u32)
    }
}
impl WasmTy for f64 {
    const TYPE: ValType = ValType::F64;
    fn write_slots(self, slots: &mut [u64]) {
        set_slot(slots, 0, self.to_bits());
    }
    fn read_slots(slots: &[u64]) -> f64 {
        f64::from_bits(slot(slots, 0))
    }
}
impl WasmTy for u128 {
    const TYPE: ValType = ValType::V128;
    fn write_slots(self, slots: &mut [u64]) {
        set_slot(slots, 0, self as u64);
        set_slot(slots, 1, (self >> 64) as u64);
    }
    fn read_slots(slots: &[u64]) -> u128 {
        u128::from(slot(slots, 0)) | (u128::from(slot(slots, 1)) << 64)
    }
}

/// A list of wasm values as a Rust type: `()`, one [`WasmTy`], or a tuple of
/// up to six. Used for the parameters and results of typed functions.
pub trait WasmTypeList: sealed::SealedList + Sized + Send + 'static {
    /// Number of values.
    const LEN: usize;
    /// Number of argument slots they take (a `v128` takes two).
    const SLOTS: usize;
    fn types() -> Vec<ValType>;
    /// Writes the values to `slots[0..SLOTS]`, each at its slot offset
    /// (`vibewasm_format::slot_offsets`); slots beyond the slice are
    /// dropped (callers always pass enough).
    fn store(self, slots: &mut [u64]);
    /// Reads the values from `slots[0..SLOTS]` (missing slots read as zero).
    fn load(slots: &[u64]) -> Self;
}

/// The slots from `at` on (none past the end).
fn tail(slots: &[u64], at: usize) -> &[u64] {
    slots.get(at..).unwrap_or(&[])
}

/// As [`tail`], writable.
fn tail_mut(slots: &mut [u64], at: usize) -> &mut [u64] {
    slots.get_mut(at..).unwrap_or(&mut [])
}

impl<T: WasmTy> sealed::SealedList for T {}
impl<T: WasmTy> WasmTypeList for T {
    const LEN: usize = 1;
    const SLOTS: usize = T::TYPE.slots();
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn store(self, slots: &mut [u64]) {
        self.write_slots(slots);
    }
    fn load(slots: &[u64]) -> T {
        T::read_slots(slots)
    }
}

macro_rules! impl_type_list {
    ($len:expr; $($t:ident $i:tt),*) => {
        impl<$($t: WasmTy),*> sealed::SealedList for ($($t,)*) {}
        impl<$($t: WasmTy),*> WasmTypeList for ($($t,)*) {
            const LEN: usize = $len;
            const SLOTS: usize = 0 $(+ $t::TYPE.slots())*;
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),*]
            }
            #[allow(unused_variables, unused_mut, unused_assignments)]
            fn store(self, slots: &mut [u64]) {
                let mut at = 0;
                $(
                    self.$i.write_slots(tail_mut(slots, at));
                    at += $t::TYPE.slots();
                )*
            }
            #[allow(unused_variables, unused_mut, unused_assignments, clippy::unused_unit)]
            fn load(slots: &[u64]) -> Self {
                let mut at = 0;
                ($({
                    let v = $t::read_slots(tail(slots, at));
                    at += $t::TYPE.slots();
                    v
                },)*)
            }
        }
    };
}

impl_type_list!(0;);
impl_type_list!(1; A 0);
impl_type_list!(2; A 0, B 1);
impl_type_list!(3; A 0, B 1, C 2);
impl_type_list!(4; A 0, B 1, C 2, D 3);
impl_type_list!(5; A 0, B 1, C 2, D 3, E 4);
impl_type_list!(6; A 0, B 1, C 2, D 3, E 4, F 5);

/// Most slots a [`WasmTypeList`] takes: six `v128`s.
pub(crate) const MAX_LIST_SLOTS: usize = 12;

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn slots_zero_the_upper_bytes() {
        assert_eq!(Val::I32(-1).to_slot(), 0xffff_ffff);
        assert_eq!(Val::F32(0x8000_0000).to_slot(), 0x8000_0000);
        assert_eq!(Val::I64(-1).to_slot(), u64::MAX);
        assert_eq!(Val::f64(1.5).to_slot(), 1.5f64.to_bits());
        let mut slots = [u64::MAX; 2];
        (-1i32).write_slots(&mut slots);
        assert_eq!(slots, [0xffff_ffff, u64::MAX]);
        (-0.0f32).write_slots(&mut slots);
        assert_eq!(slots[0], 0x8000_0000);
    }

    #[test]
    fn slots_round_trip_and_ignore_garbage_above_32_bits() {
        for v in [
            Val::I32(i32::MIN),
            Val::I64(i64::MIN),
            Val::F32(0x7fc0_0001),
            Val::F64(0x7ff8_0000_0000_0001),
        ] {
            assert_eq!(Val::from_slot(v.ty(), v.to_slot()), Some(v));
        }
        assert_eq!(
            Val::from_slot(ValType::I32, 0xdead_beef_0000_0007),
            Some(Val::I32(7))
        );
        assert_eq!(i32::read_slots(&[0xdead_beef_ffff_fffe]), -2);
        assert_eq!(Val::from_slot(ValType::V128, 0), None);
        assert!(Val::supports(ValType::V128));
        assert!(Val::supports(ValType::ExternRef));
    }

    #[test]
    fn v128_takes_two_slots_low_half_first() {
        let v = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100u128;
        assert_eq!(Val::V128(v).ty(), ValType::V128);
        assert_eq!(Val::from(v), Val::V128(v));
        assert_eq!(Val::V128(v).as_v128(), Some(v));
        // The slots hold the value's 16 little-endian bytes, lane 0 first.
        let mut slots = [0u64; 4];
        Val::V128(v).write_slots(&mut slots, 1).unwrap();
        assert_eq!(slots, [0, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, 0]);
        let mut bytes = Vec::new();
        for s in &slots[1..3] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        assert_eq!(bytes, (0u8..16).collect::<Vec<_>>());
        assert_eq!(
            Val::read_slots(ValType::V128, &slots, 1),
            Some(Val::V128(v))
        );
        // Neither half may be missing, and nothing is written then.
        assert_eq!(Val::V128(v).write_slots(&mut slots, 3), Err(OutOfSlots));
        assert_eq!(
            Val::V128(v).write_slots(&mut slots, usize::MAX),
            Err(OutOfSlots)
        );
        assert_eq!(slots[3], 0);
        assert_eq!(Val::read_slots(ValType::V128, &slots, 3), None);
        assert_eq!(Val::read_slots(ValType::V128, &slots, usize::MAX), None);
        // Extremes round trip.
        for v in [0, u128::MAX, 1 << 64, (1 << 64) - 1, 1 << 127] {
            let mut slots = [0u64; 2];
            Val::V128(v).write_slots(&mut slots, 0).unwrap();
            assert_eq!(
                Val::read_slots(ValType::V128, &slots, 0),
                Some(Val::V128(v))
            );
            assert_eq!(
                Val::read_slots_in(ValType::V128, &slots, 0, 9),
                Some(Val::V128(v))
            );
        }
        assert_eq!(
            Val::V128(1).to_string(),
            "v128:0x00000000000000000000000000000001"
        );
    }

    #[test]
    fn values_sit_at_their_slot_offsets() {
        let types = [ValType::I32, ValType::V128, ValType::F64, ValType::V128];
        let (offsets, total) = vibewasm_format::slot_offsets(&types);
        assert_eq!((offsets.as_slice(), total), ([0, 1, 3, 4].as_slice(), 6));
        let vals = [
            Val::I32(-1),
            Val::V128(u128::MAX - 1),
            Val::f64(2.5),
            Val::V128(7 << 64),
        ];
        let mut slots = vec![0u64; total];
        for (v, at) in vals.iter().zip(&offsets) {
            v.write_slots_in(&mut slots, *at, 1).unwrap();
        }
        assert_eq!(
            slots,
            [0xffff_ffff, u64::MAX - 1, u64::MAX, 2.5f64.to_bits(), 0, 7]
        );
        let back: Vec<Val> = types
            .iter()
            .zip(&offsets)
            .map(|(t, at)| Val::read_slots_in(*t, &slots, *at, 1).unwrap())
            .collect();
        assert_eq!(back, vals);
        // A funcref of another store is refused; one of this store is written.
        let record = FuncRef {
            code: core::ptr::null(),
            vmctx: core::ptr::null_mut(),
            type_id: 1,
        };
        let f = Val::FuncRef(FuncRefHandle::new(3, &record));
        assert_eq!(
            f.write_slots_in(&mut slots, 0, 4),
            Err(SlotError::ForeignFuncRef)
        );
        f.write_slots_in(&mut slots, 0, 3).unwrap();
        assert_eq!(slots[0], &record as *const FuncRef as u64);
        assert_eq!(Val::read_slots_in(ValType::FuncRef, &slots, 0, 3), Some(f));
        // Without a store, a funcref writes 0 and cannot be read back.
        f.write_slots(&mut slots, 0).unwrap();
        assert_eq!(slots[0], 0);
        assert_eq!(Val::read_slots(ValType::FuncRef, &slots, 0), None);
    }

    #[test]
    fn references_round_trip_within_their_store() {
        let r = ExternRef::from_raw(7).unwrap();
        assert_eq!(ExternRef::from_raw(0), None);
        assert_eq!(Val::ExternRef(Some(r)).to_slot_in(1), Ok(7));
        assert_eq!(Val::ExternRef(None).to_slot_in(1), Ok(0));
        assert_eq!(
            Val::from_slot_in(ValType::ExternRef, 7, 1),
            Some(Val::ExternRef(Some(r)))
        );
        let record = FuncRef {
            code: core::ptr::null(),
            vmctx: core::ptr::null_mut(),
            type_id: 1,
        };
        let f = FuncRefHandle::new(3, &record).unwrap();
        let slot = Val::FuncRef(Some(f)).to_slot_in(3).unwrap();
        assert_eq!(slot, &record as *const FuncRef as u64);
        assert_eq!(Val::FuncRef(Some(f)).to_slot_in(4), Err(ForeignFuncRef));
        assert_eq!(
            Val::from_slot_in(ValType::FuncRef, slot, 3),
            Some(Val::FuncRef(Some(f)))
        );
        assert_eq!(
            Val::from_slot_in(ValType::FuncRef, 0, 3),
            Some(Val::FuncRef(None))
        );
        assert_eq!(Val::null(ValType::I32), None);
        assert_eq!(Val::FuncRef(None).to_string(), "ref.null func");
    }

    #[test]
    fn type_lists_with_v128_use_slot_offsets() {
        type L = (i32, u128, f32, u128);
        assert_eq!(<L as WasmTypeList>::LEN, 4);
        assert_eq!(<L as WasmTypeList>::SLOTS, 6);
        let (_, total) = vibewasm_format::slot_offsets(&L::types());
        assert_eq!(total, L::SLOTS);
        let v = 0x1111_2222_3333_4444_5555_6666_7777_8888u128;
        let mut slots = [0u64; 6];
        (-2i32, v, 1.0f32, !v).store(&mut slots);
        assert_eq!(
            slots,
            [
                0xffff_fffe,
                0x5555_6666_7777_8888,
                0x1111_2222_3333_4444,
                1.0f32.to_bits() as u64,
                !0x5555_6666_7777_8888u64,
                !0x1111_2222_3333_4444u64,
            ]
        );
        assert_eq!(L::load(&slots), (-2, v, 1.0, !v));
        assert_eq!(<u128 as WasmTypeList>::SLOTS, 2);
        assert_eq!(
            <(u128, u128, u128, u128, u128, u128)>::SLOTS,
            MAX_LIST_SLOTS
        );
        // Short slices neither panic nor write out of bounds.
        (1i32, v).store(&mut slots[..2]);
        assert_eq!(slots[..2], [1, 0x5555_6666_7777_8888]);
        assert_eq!(<(i32, u128)>::load(&slots[..2]), (1, 0x5555_6666_7777_8888));
    }

    #[test]
    fn type_lists() {
        assert_eq!(<()>::types(), vec![]);
        assert_eq!(<(i32, f64)>::types(), vec![ValType::I32, ValType::F64]);
        let mut slots = [0u64; 3];
        (1i32, -2i64, 0.5f32).store(&mut slots);
        assert_eq!(slots, [1, (-2i64) as u64, 0.5f32.to_bits() as u64]);
        assert_eq!(<(i32, i64, f32)>::load(&slots), (1, -2, 0.5));
        // Short slices neither panic nor write out of bounds.
        (1i32, 2i32).store(&mut slots[..1]);
        assert_eq!(<(i32, i32)>::load(&slots[..1]), (1, 0));
    }
}
