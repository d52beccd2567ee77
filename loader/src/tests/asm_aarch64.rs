//! A tiny aarch64 encoder for the hand-written test code: just the
//! instruction forms the tests use (encodings checked against GNU `as`),
//! memory operands `[base, #offset]` so vmctx offsets can come from the
//! format's constants instead of being baked in.

pub const X0: u32 = 0;
pub const X1: u32 = 1;
pub const X2: u32 = 2;
pub const X8: u32 = 8;
pub const X9: u32 = 9;
pub const X10: u32 = 10;

#[derive(Default)]
pub struct Asm {
    pub code: Vec<u8>,
}

impl Asm {
    pub fn offset(&self) -> u32 {
        self.code.len() as u32
    }

    fn inst(&mut self, word: u32) {
        self.code.extend_from_slice(&word.to_le_bytes());
    }

    /// Pads with `brk #0` to a multiple of 16 and returns the offset.
    pub fn align(&mut self) -> u32 {
        while !self.code.len().is_multiple_of(16) {
            self.inst(0xd420_0000);
        }
        self.offset()
    }

    /// The scaled unsigned 12-bit offset field of a load or store.
    fn offset_field(disp: i32, scale: u32) -> u32 {
        let disp = u32::try_from(disp).expect("non-negative offset");
        assert!(
            disp.is_multiple_of(scale) && disp / scale < 4096,
            "offset {disp}"
        );
        (disp / scale) << 10
    }

    /// `ldr xt, [xn, #disp]`
    pub fn load(&mut self, rt: u32, rn: u32, disp: i32) {
        self.inst(0xf940_0000 | Self::offset_field(disp, 8) | rn << 5 | rt);
    }

    /// `ldr wt, [xn, #disp]` (zero-extends to 64 bits)
    pub fn load32(&mut self, rt: u32, rn: u32, disp: i32) {
        self.inst(0xb940_0000 | Self::offset_field(disp, 4) | rn << 5 | rt);
    }

    /// `ldrb wt, [xn, #disp]`
    pub fn load8(&mut self, rt: u32, rn: u32, disp: i32) {
        self.inst(0x3940_0000 | Self::offset_field(disp, 1) | rn << 5 | rt);
    }

    /// `ldrb wt, [xn, xm]`
    pub fn load8_indexed(&mut self, rt: u32, rn: u32, rm: u32) {
        self.inst(0x3860_6800 | rm << 16 | rn << 5 | rt);
    }

    /// `str xt, [xn, #disp]`
    pub fn store(&mut self, rn: u32, disp: i32, rt: u32) {
        self.inst(0xf900_0000 | Self::offset_field(disp, 8) | rn << 5 | rt);
    }

    /// `str wt, [xn, #disp]`
    pub fn store32(&mut self, rn: u32, disp: i32, rt: u32) {
        self.inst(0xb900_0000 | Self::offset_field(disp, 4) | rn << 5 | rt);
    }

    /// `mov wd, #imm` (`movz`)
    pub fn mov_imm16(&mut self, rd: u32, imm: u16) {
        self.inst(0x5280_0000 | u32::from(imm) << 5 | rd);
    }

    /// `br xn`
    pub fn br(&mut self, rn: u32) {
        self.inst(0xd61f_0000 | rn << 5);
    }

    /// `ret` (to `x30`)
    pub fn ret(&mut self) {
        self.inst(0xd65f_03c0);
    }

    pub fn finish(self) -> Vec<u8> {
        self.code
    }
}

/// The encodings above, against what GNU `as` assembles (see the module
/// documentation) for the same instructions.
#[test]
fn encodings() {
    let mut a = Asm::default();
    a.br(X2);
    a.load(X8, X0, 8);
    a.load32(9, X1, 0);
    a.load8_indexed(X10, X8, X9);
    a.load8(X10, X9, 0);
    a.store(X1, 0, X10);
    a.store32(X8, 16, X1);
    a.store(X8, 24, X0);
    a.mov_imm16(X0, 1);
    a.ret();
    a.align();
    let words: Vec<u32> = a
        .finish()
        .chunks(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    assert_eq!(
        words,
        [
            0xd61f0040, 0xf9400408, 0xb9400029, 0x3869690a, 0x3940012a, 0xf900002a, 0xb9001101,
            0xf9000d00, 0x52800020, 0xd65f03c0, 0xd4200000, 0xd4200000,
        ]
    );
}
