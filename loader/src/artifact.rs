//! Opening an artifact: every check of `vibewasm_format::read_artifact`, then
//! the code section made executable: mapped read+execute from the file,
//! copied once into executable memory, or (from a static buffer the
//! platform says is executable) run where it is. No page of code is ever
//! writable and executable at once.

#[cfg(feature = "std")]
use std::fs::File;
#[cfg(feature = "std")]
use std::path::Path;

#[cfg(feature = "std")]
use memmap2::{Mmap, MmapMut, MmapOptions};
use vibewasm_format::{read_artifact, CodeRange, ExternKind, Header, Metadata, Tables};

use crate::error::LoadError;
use crate::platform::{self, PlatformCode};
use crate::prelude::*;
#[cfg(feature = "std")]
use crate::signals::{self, FaultTable, Registration};
#[cfg(feature = "std")]
use crate::sync::Mutex;

/// A checked, loaded artifact. Instantiate it with [`crate::Linker`]; one
/// artifact can back any number of instances, on any threads.
pub struct Artifact {
    header: Header,
    metadata: Metadata,
    /// `None` when the artifact has no code.
    code: Option<Code>,
    /// The bytes of the tables section, read in place ([`Tables`]).
    tables: TableBytes,
    /// The initial memory image, if the metadata has one.
    image: Option<Image>,
    /// A name for backtraces: the file name the artifact was opened from.
    name: Option<String>,
    num_imported_funcs: u32,
    /// The fault table of guard-page code, registered with the signal
    /// handler before the first instance runs; dropped (unregistered)
    /// before the code is unmapped.
    #[cfg(feature = "std")]
    faults: Mutex<Option<Registration>>,
    /// Whether this artifact's lines went to the perf map (`perf_map.rs`).
    #[cfg(feature = "std")]
    pub(crate) perf_map: crate::perf_map::Published,
}

#[cfg(feature = "std")]
impl Drop for Artifact {
    fn drop(&mut self) {
        // Unregister before `code` is unmapped (fields drop after this).
        drop(self.faults.get_mut().take());
    }
}

/// Where an artifact's executable code is.
enum Code {
    /// Mapped read+execute from the file, or copied to fresh pages.
    #[cfg(feature = "std")]
    Mapped(Mmap),
    /// Copied into executable memory by the installed [`platform::Platform`].
    Platform(PlatformCode),
    /// Run where it is: a static buffer the platform says is executable.
    InPlace(&'static [u8]),
}

impl Code {
    fn as_ptr(&self) -> *const u8 {
        match self {
            #[cfg(feature = "std")]
            Code::Mapped(map) => map.as_ptr(),
            Code::Platform(code) => code.as_ptr(),
            Code::InPlace(bytes) => bytes.as_ptr(),
        }
    }

    fn len(&self) -> usize {
        match self {
            #[cfg(feature = "std")]
            Code::Mapped(map) => map.len(),
            Code::Platform(code) => code.len(),
            Code::InPlace(bytes) => bytes.len(),
        }
    }
}

impl Artifact {
    /// Opens the artifact at `path`: checks it completely, then maps its
    /// code section executable straight from the file. The file stays open
    /// if the artifact has a memory image: each instantiation maps the
    /// image copy-on-write from it.
    ///
    /// The file must not be writable by anyone less trusted than the process
    /// (see the crate docs): the checks run on a mapping of the file, so a
    /// concurrent writer could change bytes after they were checked.
    ///
    /// With `VIBEWASM_PERF_MAP=1` in the environment the code is copied to
    /// anonymous pages instead, where `perf` looks it up in the perf map
    /// (see [`crate::EngineConfig::perf_map`]).
    #[cfg(feature = "std")]
    pub fn open(path: impl AsRef<Path>) -> Result<Artifact, LoadError> {
        Artifact::open_for(path.as_ref(), crate::perf_map::env_enabled())
    }

    /// [`Artifact::open`], with the code copied to anonymous pages if
    /// `copy_code` (perf attributes samples in file-backed code to the
    /// file, never to the perf map).
    #[cfg(feature = "std")]
    pub(crate) fn open_for(path: &Path, copy_code: bool) -> Result<Artifact, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the mapping is private and read-only, and only ever read
        // through slices of it (kept for the tables section, which is read
        // in place). The file changing underneath is the documented trust
        // assumption (artifact files are not writable by untrusted parties).
        let bytes = unsafe { Mmap::map(&file) }.map_err(io)?;
        let view = read_artifact(&bytes).map_err(|source| LoadError::Format {
            path: Some(path.to_path_buf()),
            source,
        })?;
        // Short code sections are not page-aligned in the file (see
        // `vibewasm_format::MAPPED_CODE_MIN`), nor are long ones aligned
        // for smaller pages than this host's (4 KiB-aligned code on a 16
        // KiB-page aarch64 host, see "Page sizes" in the format's
        // documentation): they are copied.
        let map_error = |source: std::io::Error| LoadError::Map {
            path: Some(path.to_path_buf()),
            reason: source.to_string(),
        };
        let code = if copy_code || view.header.code_offset % page_size() != 0 {
            copy_code_out(view.code).map_err(|reason| LoadError::Map {
                path: Some(path.to_path_buf()),
                reason,
            })?
        } else {
            map_code_from_file(&file, &view.header)
                .map_err(map_error)?
                .map(Code::Mapped)
        };
        let image = match &view.metadata.memory_image {
            Some(image) => {
                Some(Image::from_file(file, image.offset, image.len).map_err(map_error)?)
            }
            None => None,
        };
        let (header, metadata, range) = (view.header, view.metadata, view.tables_range);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let tables = TableBytes::InFile { file: bytes, range };
        Ok(Artifact::new(header, metadata, code, tables, image, name))
    }

    fn new(
        header: Header,
        metadata: Metadata,
        code: Option<Code>,
        tables: TableBytes,
        image: Option<Image>,
        name: Option<String>,
    ) -> Self {
        let num_imported_funcs = metadata.num_imported(ExternKind::Func);
        Artifact {
            num_imported_funcs,
            header,
            metadata,
            code,
            tables,
            image,
            name,
            #[cfg(feature = "std")]
            faults: Mutex::new(None),
            #[cfg(feature = "std")]
            perf_map: Default::default(),
        }
    }

    /// Checks an artifact held in memory and copies its code into fresh
    /// executable memory (and its memory image, if any, into memory of
    /// its own, copied into each instance's memory).
    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact, LoadError> {
        Artifact::from_bytes_checked(bytes, None)
    }

    /// [`Artifact::from_bytes`], refusing it unless `trusted` (if given)
    /// signed it: checked once, before any code is copied.
    pub(crate) fn from_bytes_checked(
        bytes: &[u8],
        trusted: Option<&crate::TrustedKeys>,
    ) -> Result<Artifact, LoadError> {
        let view = read_checked(bytes, trusted)?;
        let code =
            copy_code_out(view.code).map_err(|reason| LoadError::Map { path: None, reason })?;
        let image = match view.memory_image {
            [] => None,
            bytes => Some(Image::owned(bytes)),
        };
        let tables = TableBytes::Copied(bytes[view.tables_range].into());
        Ok(Artifact::new(
            view.header,
            view.metadata,
            code,
            tables,
            image,
            None,
        ))
    }

    /// Checks an artifact in a buffer that lives as long as the program
    /// (a `static`, or flash) and uses it without copying: the tables and
    /// the memory image are read where they are, and the code runs in
    /// place when the installed [`crate::Platform`] says the buffer is
    /// executable (execute-in-place flash, or memory the host made
    /// executable), and its code section is aligned as the code needs (16
    /// bytes for x86-64; 4 KiB for aarch64, whose code addresses its data
    /// page-relatively: code sections of 64 KiB and more are, smaller ones
    /// when compiled with `vibewasmc compile --xip`); otherwise the code is
    /// copied once into executable memory, as by
    /// [`Artifact::from_bytes`]. The checks (checksum, signature block,
    /// structure) are those of every other way of loading.
    pub fn from_static(bytes: &'static [u8]) -> Result<Artifact, LoadError> {
        Artifact::from_static_checked(bytes, None)
    }

    /// [`Artifact::from_static`], refusing it unless `trusted` (if given)
    /// signed it: checked once, before any code is used.
    pub(crate) fn from_static_checked(
        bytes: &'static [u8],
        trusted: Option<&crate::TrustedKeys>,
    ) -> Result<Artifact, LoadError> {
        let view = read_checked(bytes, trusted)?;
        let in_place = !view.code.is_empty()
            && (view.code.as_ptr() as usize)
                .is_multiple_of(code_alignment(view.header.target.arch))
            && platform::installed().is_some_and(|p| p.executes_in_place(view.code));
        let code = if in_place {
            Some(Code::InPlace(view.code))
        } else {
            copy_code_out(view.code).map_err(|reason| LoadError::Map { path: None, reason })?
        };
        let image = match view.memory_image {
            [] => None,
            bytes => Some(Image::borrowed(bytes)),
        };
        let tables = TableBytes::Static(&bytes[view.tables_range]);
        Ok(Artifact::new(
            view.header,
            view.metadata,
            code,
            tables,
            image,
            None,
        ))
    }

    /// Whether the code runs from the buffer it was loaded from
    /// ([`Artifact::from_static`] on an executable buffer).
    pub fn code_in_place(&self) -> bool {
        matches!(self.code, Some(Code::InPlace(_)))
    }

    /// The memory image (`metadata().memory_image`'s bytes).
    pub(crate) fn image(&self) -> Option<&Image> {
        self.image.as_ref()
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The per-function and per-site tables, read in place.
    pub fn tables(&self) -> Tables<'_> {
        let section = match &self.tables {
            #[cfg(feature = "std")]
            TableBytes::InFile { file, range } => &file[range.clone()],
            TableBytes::Copied(bytes) => &bytes[..],
            TableBytes::Static(bytes) => bytes,
        };
        // `read_artifact` built the same view from the same bytes when the
        // artifact was opened, so this cannot fail (an empty view if the
        // file changed underneath, which the trust assumption rules out).
        Tables::new(section, &self.metadata.site_tables).unwrap_or_default()
    }

    /// The code range of function `index`, checked to lie in the code.
    pub fn function(&self, index: u32) -> Option<CodeRange> {
        self.tables()
            .checked_function(index, self.code_len() as u64)
    }

    /// The code range of every function (imports first), each checked to
    /// lie in the code (`None` if it does not): one view of the tables for
    /// all of them.
    pub fn functions(&self) -> impl Iterator<Item = Option<CodeRange>> + '_ {
        let (tables, code_len) = (self.tables(), self.code_len() as u64);
        (0..tables.num_functions() as u32).map(move |f| tables.checked_function(f, code_len))
    }

    /// Start of the executable code section (null when there is no code).
    /// Function code offsets ([`Artifact::function`]) and the trampoline
    /// offsets are relative to it.
    pub fn code_base(&self) -> *const u8 {
        self.code.as_ref().map_or(core::ptr::null(), Code::as_ptr)
    }

    /// Length of the code section in bytes.
    pub fn code_len(&self) -> usize {
        self.code.as_ref().map_or(0, Code::len)
    }

    /// What backtraces call the module: the file name the artifact was
    /// opened from, or the name given with [`Artifact::with_name`] (`None`
    /// for one loaded from bytes).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The artifact, called `name` in backtraces (e.g. the name of the
    /// source file it was compiled from).
    pub fn with_name(mut self, name: impl Into<String>) -> Artifact {
        self.name = Some(name.into());
        self
    }

    /// The function whose code contains code offset `offset`, if any (the
    /// trampoline at the start of the code belongs to none).
    pub(crate) fn func_at(&self, offset: usize) -> Option<u32> {
        self.tables().func_at(u32::try_from(offset).ok()?)
    }

    /// How many functions are imported (their code is a stub calling the host
    /// or another instance).
    pub(crate) fn num_imported_funcs(&self) -> u32 {
        self.num_imported_funcs
    }

    /// Whether `address` lies in this artifact's code.
    pub(crate) fn contains_code(&self, address: usize) -> bool {
        let base = self.code_base() as usize;
        !self.code_base().is_null() && address >= base && address - base < self.code_len()
    }

    /// Registers the artifact's unchecked memory accesses with the fault
    /// handler (installing it on first use in the process), once; they stay
    /// registered until the artifact is dropped. Artifacts without
    /// guard-page code have none.
    #[cfg(feature = "std")]
    pub(crate) fn register_fault_sites(&self) -> Result<(), String> {
        let mut faults = self.faults.lock();
        if faults.is_some() || self.code_base().is_null() {
            return Ok(());
        }
        let sites = self.tables().fault_site_bytes();
        let Some(trampolines) = self.metadata.trampolines.filter(|_| !sites.is_empty()) else {
            return Ok(());
        };
        let base = self.code_base() as usize;
        // The table stays where it is (in the file mapping or the copied
        // section), which outlives the registration (see `Drop`).
        *faults = Some(signals::register(FaultTable {
            code_start: base,
            code_end: base + self.code_len(),
            resume: base + trampolines.trap_path as usize,
            sites: sites.as_ptr(),
            sites_len: sites.len(),
        })?);
        Ok(())
    }
}

/// Every check of `read_artifact`, then (for a trusted load) the signature:
/// damage is reported as damage, not as a bad signature.
fn read_checked<'a>(
    bytes: &'a [u8],
    trusted: Option<&crate::TrustedKeys>,
) -> Result<vibewasm_format::ArtifactView<'a>, LoadError> {
    let format = |source| LoadError::Format { path: None, source };
    let view = read_artifact(bytes).map_err(format)?;
    if let Some(keys) = trusted {
        keys.verify(bytes).map_err(format)?;
    }
    Ok(view)
}

/// Where an artifact's tables section lives.
enum TableBytes {
    /// In the read-only mapping of the artifact file.
    #[cfg(feature = "std")]
    InFile {
        file: Mmap,
        range: core::ops::Range<usize>,
    },
    /// Copied from the caller's bytes ([`Artifact::from_bytes`]).
    Copied(Box<[u8]>),
    /// In the caller's static buffer ([`Artifact::from_static`]).
    Static(&'static [u8]),
}

/// The alignment `arch`'s code needs in memory (see "Page sizes" in the
/// format's documentation).
fn code_alignment(arch: vibewasm_format::Arch) -> usize {
    match arch {
        vibewasm_format::Arch::Aarch64 => 4096,
        _ => 16,
    }
}

/// `code` copied into fresh executable memory (`None` if empty): by the
/// installed platform if there is one, else (`std`) into pages mapped for
/// it. `Err` says why not.
fn copy_code_out(code: &[u8]) -> Result<Option<Code>, String> {
    if code.is_empty() {
        return Ok(None);
    }
    if platform::installed().is_some() || cfg!(not(feature = "std")) {
        return PlatformCode::copy(code)
            .map(|code| Some(Code::Platform(code)))
            .map_err(String::from);
    }
    #[cfg(feature = "std")]
    {
        map_code_copy(code)
            .map(|map| Some(Code::Mapped(map)))
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "std"))]
    unreachable!("no_std always copies through the platform")
}

/// `code` (not empty) copied into a fresh executable mapping.
#[cfg(feature = "std")]
fn map_code_copy(code: &[u8]) -> std::io::Result<Mmap> {
    let mut map = MmapMut::map_anon(code.len())?;
    map.copy_from_slice(code);
    // Writable until here, executable from here on: never both.
    let map = map.make_exec()?;
    // The code was written as data: on aarch64 the instruction cache is
    // not coherent with those writes, so it is cleaned and invalidated for
    // these addresses before anything can run them (`__clear_cache`; a
    // no-op on x86-64). Code mapped from the file needs none: the kernel
    // keeps page-cache pages it maps executable coherent.
    crate::arch::sync_instruction_cache(&map);
    Ok(map)
}

/// A memory image ([`vibewasm_format::MemoryImage`]) ready to initialise
/// memories: its bytes, and the file to map them from where possible.
pub(crate) struct Image {
    bytes: ImageBytes,
    /// The artifact file, kept open, and the image's offset in it, when
    /// both that offset and the length are multiples of the page size:
    /// then instantiation maps the range copy-on-write.
    #[cfg(feature = "std")]
    file: Option<(File, u64)>,
}

/// Where a memory image's bytes are.
enum ImageBytes {
    /// A private read-only mapping of the file's range.
    #[cfg(feature = "std")]
    Mapped(Mmap),
    /// A copy of the caller's bytes.
    Owned(Box<[u8]>),
    /// In the caller's static buffer.
    Static(&'static [u8]),
}

impl Image {
    #[cfg(feature = "std")]
    fn from_file(file: File, offset: u64, len: u64) -> std::io::Result<Image> {
        let len_usize = usize::try_from(len)
            .map_err(|_| std::io::Error::other("memory image larger than the address space"))?;
        // SAFETY: a private read-only mapping of a range `read_artifact`
        // checked to lie inside the file (memmap2 aligns the offset down to
        // a page itself). Same trust assumption about concurrent writers as
        // for the checked bytes.
        let bytes = unsafe {
            MmapOptions::new()
                .offset(offset)
                .len(len_usize)
                .map(&file)?
        };
        let page = page_size();
        let mappable = offset.is_multiple_of(page) && len.is_multiple_of(page);
        Ok(Image {
            bytes: ImageBytes::Mapped(bytes),
            file: mappable.then_some((file, offset)),
        })
    }

    fn owned(bytes: &[u8]) -> Image {
        Image {
            bytes: ImageBytes::Owned(bytes.into()),
            #[cfg(feature = "std")]
            file: None,
        }
    }

    fn borrowed(bytes: &'static [u8]) -> Image {
        Image {
            bytes: ImageBytes::Static(bytes),
            #[cfg(feature = "std")]
            file: None,
        }
    }

    /// The image's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.bytes {
            #[cfg(feature = "std")]
            ImageBytes::Mapped(map) => map,
            ImageBytes::Owned(bytes) => bytes,
            ImageBytes::Static(bytes) => bytes,
        }
    }

    /// The file descriptor and offset to map the image from, if it can be
    /// mapped (see `file`).
    #[cfg(feature = "std")]
    pub(crate) fn file(&self) -> Option<(std::os::fd::BorrowedFd<'_>, u64)> {
        use std::os::fd::AsFd;
        self.file.as_ref().map(|(f, offset)| (f.as_fd(), *offset))
    }
}

/// The size of a memory page, the granularity of file mappings.
#[cfg(feature = "std")]
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096).max(1)
}

#[cfg(feature = "std")]
fn map_code_from_file(file: &File, header: &Header) -> std::io::Result<Option<Mmap>> {
    if header.code_len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(header.code_len)
        .map_err(|_| std::io::Error::other("code section larger than the address space"))?;
    // SAFETY: a private read+execute mapping of a range `read_artifact`
    // checked to lie inside the file, at an offset the caller checked to
    // be page-aligned. Same trust
    // assumption about concurrent writers as for the checked bytes.
    let map = unsafe {
        MmapOptions::new()
            .offset(header.code_offset)
            .len(len)
            .map_exec(file)?
    };
    Ok(Some(map))
}

impl core::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Artifact")
            .field("compiler_version", &self.header.compiler_version)
            .field("target", &self.header.target)
            .field("functions", &self.tables().num_functions())
            .field("exports", &self.metadata.exports.len())
            .field("code_base", &self.code_base())
            .field("code_len", &self.code_len())
            .finish()
    }
}
