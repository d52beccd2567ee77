//! Values crossing the host/wasm boundary, and how they sit in the 8-byte
//! argument slots of the calling convention (see `vibewasm_format::vmctx`).

use std::num::NonZeroU64;

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
/// survive a round trip unchanged. `v128` values cannot cross the host
/// boundary (yet).
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
}

/// Why a [`Val`] cannot go into a slot of a given store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForeignFuncRef;

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
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
    /// to only: `store` is that store's id.
    pub(crate) fn to_slot_in(self, store: u64) -> Result<u64, ForeignFuncRef> {
        Ok(match self {
            Val::FuncRef(Some(f)) if f.store != store => return Err(ForeignFuncRef),
            Val::FuncRef(Some(f)) => f.ptr.get(),
            Val::FuncRef(None) | Val::ExternRef(None) => 0,
            Val::ExternRef(Some(r)) => r.raw(),
            v => v.num_to_slot(),
        })
    }

    fn num_to_slot(self) -> u64 {
        match self {
            Val::I32(v) => v as u32 as u64,
            Val::I64(v) => v as u64,
            Val::F32(bits) => bits as u64,
            Val::F64(bits) => bits,
            Val::FuncRef(_) | Val::ExternRef(_) => 0,
        }
    }

    /// The slot form of a number (see [`Val::to_slot_in`]); references,
    /// which need a store, give 0 here.
    pub fn to_slot(self) -> u64 {
        match self {
            Val::ExternRef(r) => r.map_or(0, |r| r.raw()),
            v => v.num_to_slot(),
        }
    }

    /// Reads a value of type `ty` from a slot of the store with id `store`
    /// (upper bytes of 32-bit values are ignored). `None` for v128.
    pub(crate) fn from_slot_in(ty: ValType, slot: u64, store: u64) -> Option<Val> {
        Some(match ty {
            ValType::FuncRef => {
                Val::FuncRef(FuncRefHandle::new(store, slot as usize as *const FuncRef))
            }
            _ => Val::from_slot(ty, slot)?,
        })
    }

    /// Reads a number or an `externref` of type `ty` from a slot (upper bytes
    /// of 32-bit values are ignored). `None` for v128 and `funcref`, which
    /// needs its store (see [`crate::Instance::call`]).
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

    /// Whether values of `ty` can be passed between host and wasm.
    pub fn supports(ty: ValType) -> bool {
        ty != ValType::V128
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

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "i32:{v}"),
            Val::I64(v) => write!(f, "i64:{v}"),
            Val::F32(bits) => write!(f, "f32:{}", f32::from_bits(bits)),
            Val::F64(bits) => write!(f, "f64:{}", f64::from_bits(bits)),
            Val::FuncRef(None) => f.write_str("ref.null func"),
            Val::FuncRef(Some(r)) => write!(f, "ref.func@{:#x}", r.ptr.get()),
            Val::ExternRef(None) => f.write_str("ref.null extern"),
            Val::ExternRef(Some(r)) => write!(f, "ref.extern {}", r.raw()),
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

/// A Rust type that is one wasm value: `i32`, `i64`, `f32` or `f64`.
pub trait WasmTy: sealed::SealedTy + Copy + Send + Sync + 'static {
    const TYPE: ValType;
    fn to_slot(self) -> u64;
    fn from_slot(slot: u64) -> Self;
}

impl WasmTy for i32 {
    const TYPE: ValType = ValType::I32;
    fn to_slot(self) -> u64 {
        self as u32 as u64
    }
    fn from_slot(slot: u64) -> i32 {
        slot as u32 as i32
    }
}
impl WasmTy for i64 {
    const TYPE: ValType = ValType::I64;
    fn to_slot(self) -> u64 {
        self as u64
    }
    fn from_slot(slot: u64) -> i64 {
        slot as i64
    }
}
impl WasmTy for f32 {
    const TYPE: ValType = ValType::F32;
    fn to_slot(self) -> u64 {
        self.to_bits() as u64
    }
    fn from_slot(slot: u64) -> f32 {
        f32::from_bits(slot as u32)
    }
}
impl WasmTy for f64 {
    const TYPE: ValType = ValType::F64;
    fn to_slot(self) -> u64 {
        self.to_bits()
    }
    fn from_slot(slot: u64) -> f64 {
        f64::from_bits(slot)
    }
}

/// A list of wasm values as a Rust type: `()`, one [`WasmTy`], or a tuple of
/// up to six. Used for the parameters and results of typed functions.
pub trait WasmTypeList: sealed::SealedList + Sized + Send + 'static {
    /// Number of values.
    const LEN: usize;
    fn types() -> Vec<ValType>;
    /// Writes the values to `slots[0..LEN]` (slots beyond the slice are dropped;
    /// callers always pass enough).
    fn store(self, slots: &mut [u64]);
    /// Reads the values from `slots[0..LEN]` (missing slots read as zero).
    fn load(slots: &[u64]) -> Self;
}

impl<T: WasmTy> sealed::SealedList for T {}
impl<T: WasmTy> WasmTypeList for T {
    const LEN: usize = 1;
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn store(self, slots: &mut [u64]) {
        if let Some(slot) = slots.first_mut() {
            *slot = self.to_slot();
        }
    }
    fn load(slots: &[u64]) -> T {
        T::from_slot(slots.first().copied().unwrap_or(0))
    }
}

macro_rules! impl_type_list {
    ($len:expr; $($t:ident $i:tt),*) => {
        impl<$($t: WasmTy),*> sealed::SealedList for ($($t,)*) {}
        impl<$($t: WasmTy),*> WasmTypeList for ($($t,)*) {
            const LEN: usize = $len;
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),*]
            }
            #[allow(unused_variables)]
            fn store(self, slots: &mut [u64]) {
                $(
                    if let Some(slot) = slots.get_mut($i) {
                        *slot = self.$i.to_slot();
                    }
                )*
            }
            #[allow(unused_variables, clippy::unused_unit)]
            fn load(slots: &[u64]) -> Self {
                ($($t::from_slot(slots.get($i).copied().unwrap_or(0)),)*)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_zero_the_upper_bytes() {
        assert_eq!(Val::I32(-1).to_slot(), 0xffff_ffff);
        assert_eq!(Val::F32(0x8000_0000).to_slot(), 0x8000_0000);
        assert_eq!(Val::I64(-1).to_slot(), u64::MAX);
        assert_eq!(Val::f64(1.5).to_slot(), 1.5f64.to_bits());
        assert_eq!((-1i32).to_slot(), 0xffff_ffff);
        assert_eq!((-0.0f32).to_slot(), 0x8000_0000);
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
        assert_eq!(i32::from_slot(0xdead_beef_ffff_fffe), -2);
        assert_eq!(Val::from_slot(ValType::V128, 0), None);
        assert!(!Val::supports(ValType::V128));
        assert!(Val::supports(ValType::ExternRef));
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
            code: std::ptr::null(),
            vmctx: std::ptr::null_mut(),
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
