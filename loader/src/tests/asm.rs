//! A tiny x86-64 encoder for the hand-written test code: just the
//! instruction forms the tests use, memory operands always `[base + disp32]`
//! so vmctx offsets can come from `VmctxLayout` instead of being baked in.

pub const RAX: u8 = 0;
pub const RCX: u8 = 1;
pub const RDX: u8 = 2;
pub const RBX: u8 = 3;
pub const RSP: u8 = 4;
pub const RSI: u8 = 6;
pub const RDI: u8 = 7;
pub const R13: u8 = 13;

/// Condition codes for `jcc`.
pub const JB: u8 = 0x2;
pub const JAE: u8 = 0x3;
pub const JE: u8 = 0x4;
pub const JNE: u8 = 0x5;

#[derive(Clone, Copy)]
pub struct Label(usize);

#[derive(Default)]
pub struct Asm {
    pub code: Vec<u8>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub fn offset(&self) -> u32 {
        self.code.len() as u32
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    /// Pads with `int3` to a multiple of 16 and returns the offset.
    pub fn align(&mut self) -> u32 {
        while !self.code.len().is_multiple_of(16) {
            self.code.push(0xcc);
        }
        self.offset()
    }

    fn rex(&mut self, wide: bool, reg: u8, base: u8) {
        let rex = 0x40 | (wide as u8) << 3 | (reg >> 3 & 1) << 2 | (base >> 3 & 1);
        if rex != 0x40 {
            self.code.push(rex);
        }
    }

    fn mem(&mut self, reg: u8, base: u8, disp: i32) {
        assert!(base & 7 != 4, "rsp/r12 bases need a SIB byte");
        self.code.push(0x80 | (reg & 7) << 3 | (base & 7));
        self.raw(&disp.to_le_bytes());
    }

    fn reg_reg(&mut self, reg: u8, rm: u8) {
        self.code.push(0xc0 | (reg & 7) << 3 | (rm & 7));
    }

    /// `mov dst, qword [base + disp]`
    pub fn load(&mut self, dst: u8, base: u8, disp: i32) {
        self.rex(true, dst, base);
        self.code.push(0x8b);
        self.mem(dst, base, disp);
    }

    /// `mov dst32, dword [base + disp]`
    pub fn load32(&mut self, dst: u8, base: u8, disp: i32) {
        self.rex(false, dst, base);
        self.code.push(0x8b);
        self.mem(dst, base, disp);
    }

    /// `mov qword [base + disp], src`
    pub fn store(&mut self, base: u8, disp: i32, src: u8) {
        self.rex(true, src, base);
        self.code.push(0x89);
        self.mem(src, base, disp);
    }

    /// `mov dword [base + disp], src32`
    pub fn store32(&mut self, base: u8, disp: i32, src: u8) {
        self.rex(false, src, base);
        self.code.push(0x89);
        self.mem(src, base, disp);
    }

    /// `mov dword [base + disp], imm`
    pub fn store_imm32(&mut self, base: u8, disp: i32, imm: u32) {
        self.rex(false, 0, base);
        self.code.push(0xc7);
        self.mem(0, base, disp);
        self.raw(&imm.to_le_bytes());
    }

    /// `cmp reg, [base + disp]` (64-bit if `wide`)
    pub fn cmp_mem(&mut self, wide: bool, reg: u8, base: u8, disp: i32) {
        self.rex(wide, reg, base);
        self.code.push(0x3b);
        self.mem(reg, base, disp);
    }

    /// `call qword [base + disp]`
    pub fn call_mem(&mut self, base: u8, disp: i32) {
        self.rex(false, 0, base);
        self.code.push(0xff);
        self.mem(2, base, disp);
    }

    /// `jmp qword [base + disp]`
    pub fn jmp_mem(&mut self, base: u8, disp: i32) {
        self.rex(false, 0, base);
        self.code.push(0xff);
        self.mem(4, base, disp);
    }

    /// `jmp reg`
    pub fn jmp_reg(&mut self, reg: u8) {
        self.rex(false, 0, reg);
        self.code.push(0xff);
        self.reg_reg(4, reg);
    }

    /// `mov dst, src` (64-bit)
    pub fn mov(&mut self, dst: u8, src: u8) {
        self.rex(true, src, dst);
        self.code.push(0x89);
        self.reg_reg(src, dst);
    }

    /// `test reg, reg` (64-bit if `wide`)
    pub fn test(&mut self, wide: bool, reg: u8) {
        self.rex(wide, reg, reg);
        self.code.push(0x85);
        self.reg_reg(reg, reg);
    }

    /// `mov reg32, imm`
    pub fn mov_imm32(&mut self, reg: u8, imm: u32) {
        self.rex(false, 0, reg);
        self.code.push(0xb8 + (reg & 7));
        self.raw(&imm.to_le_bytes());
    }

    pub fn push(&mut self, reg: u8) {
        self.rex(false, 0, reg);
        self.code.push(0x50 + (reg & 7));
    }

    pub fn pop(&mut self, reg: u8) {
        self.rex(false, 0, reg);
        self.code.push(0x58 + (reg & 7));
    }

    pub fn ret(&mut self) {
        self.code.push(0xc3);
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.code.len());
    }

    fn rel32(&mut self, label: Label) {
        self.fixups.push((self.code.len(), label));
        self.raw(&[0; 4]);
    }

    pub fn jcc(&mut self, cc: u8, label: Label) {
        self.raw(&[0x0f, 0x80 + cc]);
        self.rel32(label);
    }

    pub fn jmp(&mut self, label: Label) {
        self.code.push(0xe9);
        self.rel32(label);
    }

    pub fn call(&mut self, label: Label) {
        self.code.push(0xe8);
        self.rel32(label);
    }

    pub fn finish(mut self) -> Vec<u8> {
        for (at, label) in std::mem::take(&mut self.fixups) {
            let target = self.labels[label.0].expect("label bound");
            let rel = target as i64 - (at as i64 + 4);
            self.code[at..at + 4].copy_from_slice(&(rel as i32).to_le_bytes());
        }
        self.code
    }
}

#[test]
fn encodings_match_the_assembler() {
    // Checked with `objdump -D -b binary -m i386:x86-64` (which shows the
    // AT&T forms in the comments; `as` itself would pick disp8 forms).
    let mut a = Asm::default();
    a.load(RAX, RDI, 0x98); // mov 0x98(%rdi),%rax
    a.load32(RCX, RSI, 0); // mov 0x0(%rsi),%ecx
    a.store(R13, 8, RDX); // mov %rdx,0x8(%r13)
    a.store_imm32(RAX, 16, 5); // movl $5,0x10(%rax)
    a.cmp_mem(true, RSP, RAX, 8); // cmp 0x8(%rax),%rsp
    a.call_mem(RBX, 0x40); // call *0x40(%rbx)
    a.jmp_reg(RDX); // jmp *%rdx
    a.mov(RBX, RDI); // mov %rdi,%rbx
    a.test(true, RAX); // test %rax,%rax
    a.mov_imm32(RAX, 1); // mov $1,%eax
    a.push(R13); // push %r13
    a.pop(RBX); // pop %rbx
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x48, 0x8b, 0x87, 0x98, 0, 0, 0,
        0x8b, 0x8e, 0, 0, 0, 0,
        0x49, 0x89, 0x95, 8, 0, 0, 0,
        0xc7, 0x80, 0x10, 0, 0, 0, 5, 0, 0, 0,
        0x48, 0x3b, 0xa0, 8, 0, 0, 0,
        0xff, 0x93, 0x40, 0, 0, 0,
        0xff, 0xe2,
        0x48, 0x89, 0xfb,
        0x48, 0x85, 0xc0,
        0xb8, 1, 0, 0, 0,
        0x41, 0x55,
        0x5b,
    ];
    assert_eq!(a.finish(), expected);
}
