//! Turning memory faults in guard-page code into wasm traps.
//!
//! Code compiled with `BoundsChecks::GuardPages` does not compare addresses
//! with the memory size: an out-of-bounds access touches the inaccessible
//! part of the memory's reservation and faults. The artifact lists the code
//! ranges of those accesses (its fault-site table, read in place). The
//! handler installed here looks the faulting program counter up in the
//! registered artifacts; when it is such an access, it resumes the thread
//! at the shared trap path with the fault site's number in the trap-site
//! register, which records the trap and unwinds like any other trap
//! (the handler itself returns normally: no `longjmp` out of it).
//! Every other fault goes to the handler that was installed before ours, so
//! a host's own crash reporting keeps working, and faults in host code
//! (host functions included) are never swallowed.
//!
//! Two more conditions make a fault a trap (see [`classify`]):
//!
//! * The kernel raised it (`si_code > 0`). A SIGSEGV or SIGBUS some process
//!   sent with `kill`, `tgkill` or `sigqueue` (`si_code <= 0`) is forwarded
//!   like any other signal that is not ours, even when it interrupts wasm
//!   code at one of its unchecked accesses.
//! * The faulting address lies inside the address-space reservation of a
//!   linear memory made for guard-page code (registered here by
//!   `LinearMemory::new`, unregistered before it is unmapped; memories never
//!   move: they grow in place). An unchecked access of correct code cannot
//!   reach anywhere else, so a fault at a fault site outside every
//!   reservation means the generated code is wrong: the handler writes a
//!   message to stderr and aborts the process, as wasmtime does, rather than
//!   report an ordinary trap and let the host go on after a wild access.
//!
//! # Rules the handler keeps
//!
//! * It may run at any moment on any thread, so it takes no lock and
//!   allocates nothing: artifacts and memory reservations are registered in
//!   atomic slots (chunks of them, chained, never freed), and it only does
//!   atomic loads, a binary search, and (when forwarding) `sigaction`/
//!   `raise`, or (when aborting) `write`/`abort`, which are
//!   async-signal-safe.
//! * A registration is freed only once no handler can still be reading it:
//!   handlers count themselves in [`IN_HANDLER`] while they scan, and
//!   unregistering waits for that count to drop to zero after clearing the
//!   slot (see [`Registration::drop`]).
//! * It is installed with `SA_ONSTACK`, so it runs on the thread's
//!   alternate signal stack when there is one (Rust installs one on every
//!   thread it starts, for its own stack-overflow report), and otherwise on
//!   the faulting stack. Guard-page faults happen in wasm code, which keeps
//!   [`crate::RED_ZONE`] (128 KiB) of stack free below itself, so the
//!   handler always has room there; no stack of our own is needed. A host
//!   stack overflow on a thread without an alternate stack kills the
//!   process, as it would without this handler.
//! * No `SA_NODEFER`: a fault inside the handler itself (a bug) is then
//!   fatal at once instead of recursing.
//! * The previous handler's disposition is read before ours is installed,
//!   so a fault on another thread during installation is forwarded
//!   correctly.
//!
//! A host that installs its own SIGSEGV handler *after* the first
//! guard-page artifact was instantiated replaces ours; unless it forwards
//! to the previous handler, out-of-bounds accesses then crash. Hosts that
//! own their signal handlers compile with explicit bounds checks and say
//! so with [`crate::Linker::allow_signal_handlers`].

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

/// The fault sites of one artifact's code: its fault-site table, read in
/// place (`vibewasm_format::find_fault_site`).
pub(crate) struct FaultTable {
    pub(crate) code_start: usize,
    pub(crate) code_end: usize,
    /// The shared trap path, where every fault site resumes.
    pub(crate) resume: usize,
    /// The fault-site table's bytes, owned by the artifact, which drops
    /// the registration before them.
    pub(crate) sites: *const u8,
    pub(crate) sites_len: usize,
}

// SAFETY: the table's bytes are immutable and outlive the registration
// (see `sites`); sharing the pointer between threads only shares reads.
unsafe impl Send for FaultTable {}
// SAFETY: as above.
unsafe impl Sync for FaultTable {}

impl FaultTable {
    /// The address to resume at for a fault at `pc` and the trap-site
    /// number it raises, if `pc` is one of this table's unchecked accesses.
    fn resume_address(&self, pc: usize) -> Option<Resume> {
        if pc < self.code_start || pc >= self.code_end {
            return None;
        }
        let offset = u32::try_from(pc - self.code_start).ok()?;
        // SAFETY: `sites` and `sites_len` describe bytes the artifact owns
        // and keeps unchanged until after this table is unregistered.
        let sites = unsafe { std::slice::from_raw_parts(self.sites, self.sites_len) };
        let index = vibewasm_format::find_fault_site(sites, offset)?;
        Some(Resume {
            pc: self.resume,
            site: vibewasm_format::FAULT_SITE_FLAG | index,
        })
    }
}

/// The address-space reservation of one linear memory usable by guard-page
/// code: `start..end`.
pub(crate) struct AddressRange {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Registered tables and reservations live in chunks of this many slots: a
/// fixed first chunk, then more allocated as needed (never freed, so the
/// handler can always walk the chain; slots are reused).
const CHUNK: usize = 1024;

/// One chunk of a registry of `T`s: atomic slots holding null or a leaked
/// `Box<T>` owned by a [`Registration`].
struct Chunk<T: 'static> {
    slots: [AtomicPtr<T>; CHUNK],
    /// One past the highest slot ever used, to keep the handler's scan short.
    used: AtomicUsize,
    next: AtomicPtr<Chunk<T>>,
}

impl<T: 'static> Chunk<T> {
    const fn new() -> Chunk<T> {
        Chunk {
            slots: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNK],
            used: AtomicUsize::new(0),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The chunk after this one, if one was allocated.
    fn next(&self) -> Option<&'static Chunk<T>> {
        let next = self.next.load(Ordering::SeqCst);
        // SAFETY: chunks are leaked boxes, never freed (see `register_in`).
        (!next.is_null()).then(|| unsafe { &*next })
    }
}

/// The fault tables of the artifacts with guard-page code.
static TABLES: Chunk<FaultTable> = Chunk::new();
/// The reservations of the memories guard-page code may use.
static RESERVATIONS: Chunk<AddressRange> = Chunk::new();
/// Handlers currently reading registered tables or reservations.
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// A registered fault table (or reservation); unregistered when dropped.
pub(crate) struct Registration<T: 'static = FaultTable> {
    slot: &'static AtomicPtr<T>,
    value: *mut T,
}

// SAFETY: the registration only holds the value it owns; the value is
// immutable once registered and read by the handler through the atomic slot.
unsafe impl<T: Send + Sync> Send for Registration<T> {}
// SAFETY: as above; `&Registration` gives no access to the value.
unsafe impl<T: Send + Sync> Sync for Registration<T> {}

impl<T: 'static> Drop for Registration<T> {
    fn drop(&mut self) {
        self.slot.store(std::ptr::null_mut(), Ordering::SeqCst);
        // A handler on another thread (handling a fault anywhere) may have
        // loaded the pointer before the store above. All these operations
        // are SeqCst: a handler that counted itself in after this point
        // finds the slot empty; one that counted itself in before is waited
        // for. Handlers are short and never block, so this wait is too.
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        // SAFETY: the value was leaked from a Box in `register_in`, no
        // handler can reach it any more (above), and it is freed once.
        drop(unsafe { Box::from_raw(self.value) });
    }
}

/// Installs the handler (once per process) and registers `table`.
pub(crate) fn register(table: FaultTable) -> Result<Registration, String> {
    install()?;
    Ok(register_in(&TABLES, table))
}

/// Registers the reservation `start..start + len` of a memory guard-page
/// code may use, until the registration is dropped (which must happen
/// before the reservation is unmapped). Does not install the handler: a
/// memory may be made before any guard-page code, or in a process that
/// never runs any.
pub(crate) fn register_reservation(start: usize, len: usize) -> Registration<AddressRange> {
    register_in(
        &RESERVATIONS,
        AddressRange {
            start,
            end: start.saturating_add(len),
        },
    )
}

/// Puts `value` in a free slot of the registry starting at `first`.
fn register_in<T: 'static>(first: &'static Chunk<T>, value: T) -> Registration<T> {
    let value = Box::into_raw(Box::new(value));
    let mut chunk: &'static Chunk<T> = first;
    loop {
        for (i, slot) in chunk.slots.iter().enumerate() {
            if slot
                .compare_exchange(
                    std::ptr::null_mut(),
                    value,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            {
                chunk.used.fetch_max(i + 1, Ordering::SeqCst);
                return Registration { slot, value };
            }
        }
        chunk = match chunk.next() {
            Some(next) => next,
            None => {
                let fresh = Box::into_raw(Box::new(Chunk::new()));
                match chunk.next.compare_exchange(
                    std::ptr::null_mut(),
                    fresh,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    // Leaked on purpose: the handler may walk it any time.
                    // SAFETY: just allocated, now shared read-only.
                    Ok(_) => unsafe { &*fresh },
                    Err(other) => {
                        // SAFETY: ours was never shared; the winner's is
                        // leaked like every chunk.
                        unsafe {
                            drop(Box::from_raw(fresh));
                            &*other
                        }
                    }
                }
            }
        };
    }
}

static INSTALL: Once = Once::new();
/// The dispositions before ours, written once by `install` before our
/// handler is installed, read-only afterwards.
static mut PREVIOUS_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut PREVIOUS_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static INSTALL_ERROR: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler for SIGSEGV and SIGBUS, once per process.
pub(crate) fn install() -> Result<(), String> {
    if !crate::arch::SIGNALS_SUPPORTED {
        return Err("guard-page bounds checks are not supported on this target".into());
    }
    INSTALL.call_once(|| {
        // SAFETY: sigaction with valid pointers: our action, and static
        // storage for the previous ones that only this Once writes (the
        // handler reads it only after it is installed, below).
        unsafe {
            let segv = std::ptr::addr_of_mut!(PREVIOUS_SEGV).cast::<libc::sigaction>();
            let bus = std::ptr::addr_of_mut!(PREVIOUS_BUS).cast::<libc::sigaction>();
            // Read the previous dispositions first, so a fault on another
            // thread right after ours is installed finds them in place.
            if libc::sigaction(libc::SIGSEGV, std::ptr::null(), segv) != 0
                || libc::sigaction(libc::SIGBUS, std::ptr::null(), bus) != 0
            {
                INSTALL_ERROR.store(1, Ordering::SeqCst);
                return;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()) != 0
                || libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0
            {
                INSTALL_ERROR.store(1, Ordering::SeqCst);
            }
        }
    });
    if INSTALL_ERROR.load(Ordering::SeqCst) != 0 {
        return Err("cannot install the SIGSEGV/SIGBUS handler guard-page code needs".into());
    }
    Ok(())
}

/// The first `Some` that `f` gives for a value registered from `first`.
///
/// The caller must have counted itself in [`IN_HANDLER`] (see
/// `Registration::drop`); test code that owns every registration it may
/// see need not.
fn find<T: 'static, R>(first: &'static Chunk<T>, f: impl Fn(&T) -> Option<R>) -> Option<R> {
    let mut chunk = Some(first);
    while let Some(c) = chunk {
        let used = c.used.load(Ordering::SeqCst).min(CHUNK);
        for slot in &c.slots[..used] {
            let value = slot.load(Ordering::SeqCst);
            if value.is_null() {
                continue;
            }
            // SAFETY: the caller counted itself in `IN_HANDLER` before this
            // load, so the value is not freed before it counts itself out
            // (see `Registration::drop`).
            if let Some(found) = f(unsafe { &*value }) {
                return Some(found);
            }
        }
        chunk = c.next();
    }
    None
}

/// Where to resume a fault: the shared trap path (or the site's stub) and
/// the trap site's number for the trap-site register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resume {
    pc: usize,
    site: u32,
}

/// Where to resume a fault at `pc`, if it is an access of registered code.
fn lookup(pc: usize) -> Option<Resume> {
    find(&TABLES, |table| table.resume_address(pc))
}

/// Whether `address` lies in a registered memory reservation.
fn in_reservation(address: usize) -> bool {
    find(&RESERVATIONS, |r| {
        (r.start <= address && address < r.end).then_some(())
    })
    .is_some()
}

/// What the handler does with a SIGSEGV or SIGBUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// An out-of-bounds access of guard-page code: resume at its trap site.
    Resume(Resume),
    /// Not ours: to the handler installed before.
    Forward,
    /// An unchecked access of guard-page code faulted outside every memory
    /// reservation: the code is wrong; abort the process.
    Abort,
}

/// The decision for a signal with `si_code` `code`, raised while the thread
/// was at `pc`, for an access of `address` (`si_addr`, meaningful only when
/// the kernel raised it). The caller counts itself in [`IN_HANDLER`].
fn classify(code: libc::c_int, pc: usize, address: usize) -> Action {
    // Sent by a process (`kill`, `tgkill`, `sigqueue`, `raise`): not a
    // fault, wherever the thread happened to be.
    if code <= 0 {
        return Action::Forward;
    }
    match lookup(pc) {
        None => Action::Forward,
        Some(resume) if in_reservation(address) => Action::Resume(resume),
        Some(_) => Action::Abort,
    }
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext_t to SA_SIGINFO handlers.
    let pc_slot = unsafe { crate::arch::program_counter(context) };
    // SAFETY: as for `program_counter`.
    let site_slot = unsafe { crate::arch::trap_site_register(context) };
    if pc_slot.is_null() || site_slot.is_null() || info.is_null() {
        return forward(signal, info, context);
    }
    // SAFETY: `pc_slot` points into that ucontext_t; `info` is the valid
    // siginfo_t the kernel passes (`si_addr` is read as plain bytes; it is
    // only used when `si_code` says the kernel raised the signal).
    let (pc, code, address) = unsafe { (*pc_slot, (*info).si_code, (*info).si_addr() as usize) };
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    let action = classify(code, pc, address);
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
    match action {
        Action::Resume(resume) => {
            // SAFETY: rewriting the saved program counter and trap-site
            // register makes the kernel resume at the trap path of the
            // faulting access with its site number; every other register
            // is left as the wasm code had it, which is what the trap path
            // expects (vmctx in S0, the body's stack pointer).
            unsafe {
                *pc_slot = resume.pc;
                *site_slot = resume.site as usize;
            }
        }
        Action::Forward => forward(signal, info, context),
        Action::Abort => abort_wild_access(pc, address),
    }
}

/// Says on stderr that generated code accessed `address` outside every
/// memory at `pc`, and aborts. Async-signal-safe: the message is built in
/// a stack buffer and written with `write(2)`.
fn abort_wild_access(pc: usize, address: usize) -> ! {
    let mut buf = [0u8; 320];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    let (pc, pc_len) = hex(pc);
    let (address, address_len) = hex(address);
    put(b"vibewasm: fatal: the unchecked memory access of guard-page code at pc ");
    put(&pc[..pc_len]);
    put(b" faulted at address ");
    put(&address[..address_len]);
    put(
        b", outside every linear memory reservation: the generated code is wrong \
          (a compiler bug, or a corrupted artifact); aborting\n",
    );
    // SAFETY: write(2) of a valid buffer and abort(3) are async-signal-safe.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), len);
        libc::abort()
    }
}

/// `0x` and the hexadecimal digits of `value` (no leading zeros), in the
/// first `.1` bytes of `.0`.
fn hex(value: usize) -> ([u8; 18], usize) {
    let mut out = [0u8; 18];
    let digits = if value == 0 {
        1
    } else {
        (usize::BITS - value.leading_zeros()).div_ceil(4) as usize
    };
    out[0] = b'0';
    out[1] = b'x';
    for i in 0..digits {
        let nibble = (value >> (4 * (digits - 1 - i))) & 0xf;
        out[2 + i] = b"0123456789abcdef"[nibble];
    }
    (out, 2 + digits)
}

/// Whether the signal was sent by a process (`kill`, `raise`, `sigqueue`)
/// rather than raised by a faulting instruction.
fn sent_by_process(info: *const libc::siginfo_t) -> bool {
    // SAFETY: the kernel passes a valid siginfo_t to SA_SIGINFO handlers.
    !info.is_null() && unsafe { (*info).si_code } <= 0
}

/// Passes a fault that is not ours to the handler installed before, as the
/// kernel would have.
fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the previous actions were written once by `install` before
    // our handler could run, and are only read afterwards.
    let previous = unsafe {
        if signal == libc::SIGBUS {
            (*std::ptr::addr_of!(PREVIOUS_BUS)).assume_init_ref()
        } else {
            (*std::ptr::addr_of!(PREVIOUS_SEGV)).assume_init_ref()
        }
    };
    match previous.sa_sigaction {
        libc::SIG_IGN if sent_by_process(info) => {}
        libc::SIG_DFL | libc::SIG_IGN => {
            // Restore the default action. A faulting instruction runs again
            // when we return and the process dies of the signal, as it would
            // have without us (the kernel does not let a fault be ignored);
            // a signal sent by a process is raised again, and delivered
            // (fatally) once the handler returns and unblocks it.
            // SAFETY: resetting a disposition to its default, and raising a
            // signal, are async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
                if sent_by_process(info) {
                    libc::raise(signal);
                }
            }
        }
        f => {
            if previous.sa_flags & libc::SA_RESETHAND != 0 {
                // SAFETY: as above; the previous handler asked to be reset.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = libc::SIG_DFL;
                    libc::sigemptyset(&mut action.sa_mask);
                    libc::sigaction(signal, &action, std::ptr::null_mut());
                }
            }
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO,
                // so it has this signature; we call it as the kernel would.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(f) };
                f(signal, info, context);
            } else {
                // SAFETY: a plain handler takes only the signal number.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(f) };
                f(signal);
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use vibewasm_format::{encode_tables, FaultSite, SiteTables, TrapCode, FAULT_SITE_FLAG};

    /// A table for code at `code_start` whose faults resume at
    /// `code_start + resume`, with accesses at `sites` (`start..end`
    /// offsets). The table's bytes are leaked: tests only.
    fn table(code_start: usize, resume: usize, sites: &[(u32, u32)]) -> FaultTable {
        let tables = SiteTables {
            fault_sites: sites
                .iter()
                .map(|&(start, end)| FaultSite {
                    start,
                    len: (end - start) as u8,
                    wasm_offset: 0,
                    code: TrapCode::MemoryOutOfBounds,
                })
                .collect(),
            ..SiteTables::default()
        };
        let (bytes, ranges) = encode_tables(&tables).unwrap();
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let (offset, len) = ranges.fault_sites;
        let sites = &bytes[offset as usize..(offset + len) as usize];
        FaultTable {
            code_start,
            code_end: code_start + 0x100,
            resume: code_start + resume,
            sites: sites.as_ptr(),
            sites_len: sites.len(),
        }
    }

    #[test]
    fn resume_address_finds_only_recorded_ranges() {
        let table = table(0x1000, 0x80, &[(0x10, 0x14), (0x20, 0x28)]);
        let at = |site| {
            Some(Resume {
                pc: 0x1080,
                site: FAULT_SITE_FLAG | site,
            })
        };
        assert_eq!(table.resume_address(0x1010), at(0));
        assert_eq!(table.resume_address(0x1013), at(0));
        assert_eq!(table.resume_address(0x1014), None);
        assert_eq!(table.resume_address(0x1027), at(1));
        assert_eq!(table.resume_address(0x100f), None);
        assert_eq!(table.resume_address(0x3000), None);
    }

    #[test]
    fn registrations_come_and_go() {
        let make = |start| table(start, 0x80, &[(0, 4)]);
        let a = register(make(0x10_000)).unwrap();
        let b = register(make(0x20_000)).unwrap();
        assert!(!std::ptr::eq(a.slot, b.slot));
        assert_eq!(lookup(0x10_002).map(|r| r.pc), Some(0x10_080));
        assert_eq!(lookup(0x20_003).map(|r| r.pc), Some(0x20_080));
        let slot = a.slot;
        drop(a);
        assert!(slot.load(Ordering::SeqCst).is_null());
        assert_eq!(lookup(0x10_002), None);
        assert_eq!(lookup(0x20_003).map(|r| r.pc), Some(0x20_080));
    }

    /// Fault at a fault site: forwarded when a process sent the signal,
    /// a trap when the kernel raised it for an address in a memory
    /// reservation, an abort for any other address.
    #[test]
    fn only_kernel_faults_inside_a_reservation_are_traps() {
        let code = 0x3000_0000;
        let table = register(table(code, 0x80, &[(0x10, 0x14)])).unwrap();
        let site = code + 0x12;
        let stub = Resume {
            pc: code + 0x80,
            site: FAULT_SITE_FLAG,
        };
        let memory = 0x5000_0000;
        let reservation = register_reservation(memory, 0x2_0000);
        let inside = memory + 0x1_0004;
        let past_end = memory + 0x2_0000;
        // Sent by a process: SI_USER (kill), SI_QUEUE, SI_TKILL (tgkill).
        for sent in [libc::SI_USER, libc::SI_QUEUE, libc::SI_TKILL] {
            assert_eq!(classify(sent, site, inside), Action::Forward, "{sent}");
        }
        // Raised by the kernel: SEGV_MAPERR, SEGV_ACCERR, BUS_ADRERR,
        // SI_KERNEL (a general protection fault has address 0).
        for raised in [1, 2] {
            assert_eq!(classify(raised, site, inside), Action::Resume(stub));
            assert_eq!(classify(raised, site, memory), Action::Resume(stub));
            assert_eq!(classify(raised, site, past_end), Action::Abort);
            assert_eq!(classify(raised, site, 16), Action::Abort);
            assert_eq!(classify(raised, code + 0x14, inside), Action::Forward);
            assert_eq!(classify(raised, 0x10, inside), Action::Forward);
        }
        assert_eq!(classify(libc::SI_KERNEL, site, 0), Action::Abort);
        drop(reservation);
        assert!(!in_reservation(inside));
        assert_eq!(classify(2, site, inside), Action::Abort);
        drop(table);
        assert_eq!(classify(2, site, inside), Action::Forward);
    }

    #[test]
    fn addresses_in_the_abort_message() {
        let text = |v| {
            let (buf, len) = hex(v);
            String::from_utf8(buf[..len].to_vec()).unwrap()
        };
        assert_eq!(text(0), "0x0");
        assert_eq!(text(16), "0x10");
        assert_eq!(text(0x7f12_a000_1080), "0x7f12a0001080");
        assert_eq!(text(usize::MAX), "0xffffffffffffffff");
    }

    #[test]
    fn more_tables_than_a_chunk_holds() {
        let tables: Vec<Registration> = (0..CHUNK + 10)
            .map(|k| {
                let start = 0x1000_0000 + 0x1000 * k;
                register(table(start, 0x40, &[(8, 12)])).unwrap()
            })
            .collect();
        let last = 0x1000_0000 + 0x1000 * (CHUNK + 9);
        assert_eq!(lookup(last + 9).map(|r| r.pc), Some(last + 0x40));
        assert_eq!(
            lookup(0x1000_0000 + 8).map(|r| r.pc),
            Some(0x1000_0000 + 0x40)
        );
        drop(tables);
        assert_eq!(lookup(last + 9), None);
    }
}
