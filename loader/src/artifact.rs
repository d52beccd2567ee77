//! Opening an artifact: every check of `vibewasm_format::read_artifact`, then
//! the code section mapped read+execute. No page of code is ever writable.

use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, MmapMut, MmapOptions};
use vibewasm_format::{read_artifact, Header, Metadata};

use crate::error::LoadError;

/// A checked, loaded artifact. Instantiate it with [`crate::Linker`]; one
/// artifact can back any number of instances, on any threads.
pub struct Artifact {
    header: Header,
    metadata: Metadata,
    /// `None` when the artifact has no code.
    code: Option<Mmap>,
}

impl Artifact {
    /// Opens the artifact at `path`: checks it completely, then maps its
    /// code section executable straight from the file.
    ///
    /// The file must not be writable by anyone less trusted than the process
    /// (see the crate docs): the checks run on a mapping of the file, so a
    /// concurrent writer could change bytes after they were checked.
    pub fn open(path: impl AsRef<Path>) -> Result<Artifact, LoadError> {
        let path = path.as_ref();
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the mapping is private and read-only; the bytes are only
        // read through the returned slice, which lives only in this function.
        // The file changing underneath is the documented trust assumption
        // (artifact files are not writable by untrusted parties).
        let bytes = unsafe { Mmap::map(&file) }.map_err(io)?;
        let view = read_artifact(&bytes).map_err(|source| LoadError::Format {
            path: Some(path.to_path_buf()),
            source,
        })?;
        let (header, metadata) = (view.header, view.metadata);
        let code = map_code_from_file(&file, &header).map_err(|source| LoadError::Map {
            path: Some(path.to_path_buf()),
            source,
        })?;
        Ok(Artifact {
            header,
            metadata,
            code,
        })
    }

    /// Checks an artifact held in memory and copies its code into a fresh
    /// executable mapping.
    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact, LoadError> {
        let view =
            read_artifact(bytes).map_err(|source| LoadError::Format { path: None, source })?;
        let code = if view.code.is_empty() {
            None
        } else {
            let map = || -> std::io::Result<Mmap> {
                let mut map = MmapMut::map_anon(view.code.len())?;
                map.copy_from_slice(view.code);
                // Writable until here, executable from here on: never both.
                map.make_exec()
            };
            Some(map().map_err(|source| LoadError::Map { path: None, source })?)
        };
        Ok(Artifact {
            header: view.header,
            metadata: view.metadata,
            code,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Start of the executable code section (null when there is no code).
    /// `metadata().functions[f].offset` and the trampoline offsets are
    /// relative to it.
    pub fn code_base(&self) -> *const u8 {
        self.code.as_ref().map_or(std::ptr::null(), |m| m.as_ptr())
    }

    /// Length of the code section in bytes.
    pub fn code_len(&self) -> usize {
        self.code.as_ref().map_or(0, |m| m.len())
    }
}

fn map_code_from_file(file: &File, header: &Header) -> std::io::Result<Option<Mmap>> {
    if header.code_len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(header.code_len)
        .map_err(|_| std::io::Error::other("code section larger than the address space"))?;
    // SAFETY: a private read+execute mapping of a range `read_artifact`
    // checked to lie inside the file, at an offset it checked to be
    // CODE_ALIGN (16 KiB, a multiple of the page size) aligned. Same trust
    // assumption about concurrent writers as for the checked bytes.
    let map = unsafe {
        MmapOptions::new()
            .offset(header.code_offset)
            .len(len)
            .map_exec(file)?
    };
    Ok(Some(map))
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("compiler_version", &self.header.compiler_version)
            .field("target", &self.header.target)
            .field("functions", &self.metadata.functions.len())
            .field("exports", &self.metadata.exports.len())
            .field("code_base", &self.code_base())
            .field("code_len", &self.code_len())
            .finish()
    }
}
