//! The ramdisk: a ustar archive loaded by the bootloader next to the kernel.
//!
//! It holds the boot command line, the user programs, the PAE's model and
//! the replay files. Reading is delegated to `tar-no-std` (allocation-free,
//! validates checksums and block layout up front); this module adds path
//! normalisation and typed errors. Until the heap exists a lookup scans the
//! archive; once it does, [`Ramdisk::index`] builds a name index, and a
//! lookup is O(log n) instead of a scan of every file.

#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;
use tar_no_std::{CorruptDataError, TarArchiveRef};

/// Why the ramdisk could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamdiskError {
    /// The archive failed validation (bad checksum, truncated, not tar at all).
    Corrupt(CorruptDataError),
}

impl fmt::Display for RamdiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RamdiskError::Corrupt(error) => write!(f, "corrupt ramdisk archive: {error:?}"),
        }
    }
}

/// A validated, read-only view of the ramdisk archive.
#[derive(Clone, Debug)]
pub struct Ramdisk<'a> {
    archive: TarArchiveRef<'a>,
    bytes: usize,
    /// Every file by normalised name, once [`Ramdisk::index`] built it
    /// (the archive is read before the heap exists; a scan costs about
    /// 100 instructions per file, and spawn looks a program up every time).
    index: Option<BTreeMap<String, &'a [u8]>>,
}

/// One regular file in the ramdisk.
#[derive(Clone, Copy, Debug)]
pub struct RamdiskFile<'a> {
    /// The file's data.
    pub data: &'a [u8],
}

impl<'a> Ramdisk<'a> {
    /// Validates `bytes` as a tar archive.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RamdiskError> {
        let archive = TarArchiveRef::new(bytes).map_err(RamdiskError::Corrupt)?;
        Ok(Ramdisk { archive, bytes: bytes.len(), index: None })
    }

    /// Builds the name index (needs the heap): from now on [`Ramdisk::file`]
    /// finds a file in O(log n). A name that appears twice keeps its first
    /// file, as the scan does.
    pub fn index(&mut self) {
        let mut index = BTreeMap::new();
        for entry in self.archive.entries() {
            if let Ok(name) = entry.filename().as_str() {
                index.entry(String::from(normalise(name))).or_insert(entry.data());
            }
        }
        self.index = Some(index);
    }

    /// Size of the archive in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether the archive is empty (it never is once validated).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The data of the file at `path` (leading `/` or `./` ignored), if present.
    pub fn file(&self, path: &str) -> Option<&'a [u8]> {
        let wanted = normalise(path);
        if let Some(index) = &self.index {
            return index.get(wanted).copied();
        }
        self.archive.entries().find_map(|entry| {
            let name = entry.filename();
            let name = name.as_str().ok()?;
            (normalise(name) == wanted).then(|| entry.data())
        })
    }

    /// Number of regular files.
    pub fn file_count(&self) -> usize {
        self.archive.entries().count()
    }

    /// Calls `visit` with the name and size of every regular file.
    pub fn for_each_file(&self, mut visit: impl FnMut(&str, usize)) {
        for entry in self.archive.entries() {
            if let Ok(name) = entry.filename().as_str() {
                visit(normalise(name), entry.size());
            }
        }
    }
}

fn normalise(path: &str) -> &str {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.trim_start_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn finds_files_by_normalised_path() {
        let bytes = archive(&[("boot/cmdline", b"mode=test"), ("bin/init", b"\x7fELF")]);
        let ramdisk = Ramdisk::new(&bytes).unwrap();
        assert_eq!(ramdisk.file("boot/cmdline"), Some(&b"mode=test"[..]));
        assert_eq!(ramdisk.file("/boot/cmdline"), Some(&b"mode=test"[..]));
        assert_eq!(ramdisk.file("./bin/init"), Some(&b"\x7fELF"[..]));
        assert_eq!(ramdisk.file("bin/missing"), None);
        assert_eq!(ramdisk.file_count(), 2);
    }

    #[test]
    fn an_indexed_ramdisk_finds_what_a_scan_finds() {
        let bytes = archive(&[("boot/cmdline", b"mode=test"), ("bin/init", b"\x7fELF"), ("bin/init", b"second"), ("./bin/x", b"x")]);
        let scanned = Ramdisk::new(&bytes).unwrap();
        let mut indexed = scanned.clone();
        indexed.index();
        for path in ["boot/cmdline", "/boot/cmdline", "bin/init", "./bin/init", "bin/x", "/bin/x", "bin/missing", "", "bin"] {
            assert_eq!(indexed.file(path), scanned.file(path), "{path}");
        }
        assert_eq!(indexed.file("bin/init"), Some(&b"\x7fELF"[..]), "the first of two files of one name");
    }

    #[test]
    fn lists_files_with_sizes() {
        let bytes = archive(&[("a", b"1"), ("b/c", b"234")]);
        let ramdisk = Ramdisk::new(&bytes).unwrap();
        let mut seen = Vec::new();
        ramdisk.for_each_file(|name, size| seen.push((alloc::string::String::from(name), size)));
        assert_eq!(seen, [("a".into(), 1), ("b/c".into(), 3)]);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(Ramdisk::new(&[]).is_err());
        assert!(Ramdisk::new(&[0x55; 1024]).is_err());
        let bytes = archive(&[("file", &[7u8; 2000])]);
        assert!(Ramdisk::new(&bytes[..1024]).is_err());
        let mut corrupted = bytes.clone();
        corrupted[0] ^= 0xff;
        assert!(Ramdisk::new(&corrupted).is_err());
    }
}
