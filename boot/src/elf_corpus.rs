//! A corpus of malformed executables, made by mutating a valid one.
//!
//! Every mutant breaks one rule of the kernel's loader (`kernel::exec`) in a
//! way that is invalid by construction; the user test `test-elf-corpus`
//! spawns each from the ramdisk and expects a clean `BadExecutable`.

/// A deliberately broken executable.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// Short unique name saying what was broken.
    pub name: String,
    /// The file.
    pub bytes: Vec<u8>,
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

fn read(bytes: &[u8], at: usize, width: usize) -> u64 {
    bytes[at..at + width].iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte))
}

fn write(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    for (index, byte) in bytes[at..at + width].iter_mut().enumerate() {
        *byte = (value >> (8 * index)) as u8;
    }
}

/// A program header of the valid input, by table index.
#[derive(Clone, Copy, Debug)]
struct Header {
    index: usize,
    at: usize,
    kind: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

// Offsets of fields inside a program header.
const P_TYPE: usize = 0;
const P_FLAGS: usize = 4;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;
const P_ALIGN: usize = 48;

fn headers(valid: &[u8]) -> Vec<Header> {
    let offset = read(valid, 32, 8) as usize;
    let count = read(valid, 56, 2) as usize;
    (0..count)
        .map(|index| {
            let at = offset + 56 * index;
            Header {
                index,
                at,
                kind: read(valid, at + P_TYPE, 4) as u32,
                offset: read(valid, at + P_OFFSET, 8),
                vaddr: read(valid, at + P_VADDR, 8),
                file_size: read(valid, at + P_FILESZ, 8),
                mem_size: read(valid, at + P_MEMSZ, 8),
                align: read(valid, at + P_ALIGN, 8),
            }
        })
        .collect()
}

/// The malformed variants of `valid`, a valid static x86_64 `ET_EXEC`
/// with at least two loadable segments. Deterministic.
pub fn mutants(valid: &[u8]) -> Vec<Mutant> {
    let mut out: Vec<Mutant> = Vec::new();
    let mut add = |name: String, change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.to_vec();
        change(&mut bytes);
        out.push(Mutant { name, bytes });
    };
    let headers = headers(valid);
    let loads: Vec<Header> = headers.iter().copied().filter(|h| h.kind == PT_LOAD).collect();
    let table_end = read(valid, 32, 8) as usize + 56 * headers.len();
    let file_end = loads.iter().map(|h| h.offset + h.file_size).max().unwrap_or(0) as usize;
    let entry = read(valid, 24, 8);

    for length in [0, 1, 4, 16, 32, 63, 64, table_end - 1] {
        add(format!("truncated-to-{length}"), &|bytes| bytes.truncate(length));
    }
    if file_end > table_end {
        add(format!("truncated-in-segment-data-{}", file_end - 1), &|bytes| bytes.truncate(file_end - 1));
    }
    for index in 0..4 {
        add(format!("bad-magic-byte-{index}"), &|bytes| bytes[index] ^= 0x20);
    }
    for class in [0u8, 1, 3] {
        add(format!("class-{class}"), &|bytes| bytes[4] = class);
    }
    for data in [0u8, 2] {
        add(format!("data-encoding-{data}"), &|bytes| bytes[5] = data);
    }
    add("ident-version-0".into(), &|bytes| bytes[6] = 0);
    for version in [0u64, 2] {
        add(format!("e-version-{version}"), &|bytes| write(bytes, 20, 4, version));
    }
    for machine in [0u64, 3, 0x28, 0xb7, 0xf3] {
        add(format!("machine-{machine:#x}"), &|bytes| write(bytes, 18, 2, machine));
    }
    for kind in [0u64, 1, 3, 4, 0xfe00] {
        add(format!("type-{kind:#x}"), &|bytes| write(bytes, 16, 2, kind));
    }
    for size in [0u64, 32, 57, 64] {
        add(format!("phentsize-{size}"), &|bytes| write(bytes, 54, 2, size));
    }
    add("phoff-past-end".into(), &|bytes| write(bytes, 32, 8, valid.len() as u64));
    add("phoff-max".into(), &|bytes| write(bytes, 32, 8, u64::MAX));
    add("phnum-max".into(), &|bytes| write(bytes, 56, 2, 0xffff));
    add("phnum-zero".into(), &|bytes| write(bytes, 56, 2, 0));
    add("no-loadable-segment".into(), &|bytes| {
        for load in &loads {
            write(bytes, load.at + P_TYPE, 4, 0);
        }
    });
    if let Some(other) = headers.iter().find(|h| h.kind != PT_LOAD) {
        add(format!("segment-{}-interp", other.index), &|bytes| write(bytes, other.at + P_TYPE, 4, PT_INTERP.into()));
        add(format!("segment-{}-dynamic", other.index), &|bytes| write(bytes, other.at + P_TYPE, 4, PT_DYNAMIC.into()));
    }
    for load in &loads {
        let i = load.index;
        let at = load.at;
        add(format!("segment-{i}-writable-and-executable"), &|bytes| {
            write(bytes, at + P_FLAGS, 4, u64::from(4 | PF_W | PF_X))
        });
        add(format!("segment-{i}-filesz-exceeds-memsz"), &|bytes| {
            write(bytes, at + P_FILESZ, 8, load.mem_size + 1);
        });
        add(format!("segment-{i}-offset-past-end"), &|bytes| write(bytes, at + P_OFFSET, 8, valid.len() as u64 + 0x1000));
        add(format!("segment-{i}-offset-overflows"), &|bytes| {
            write(bytes, at + P_OFFSET, 8, u64::MAX - 1);
            write(bytes, at + P_FILESZ, 8, 16.max(load.file_size));
        });
        add(format!("segment-{i}-in-kernel-half"), &|bytes| {
            write(bytes, at + P_VADDR, 8, 0xffff_8000_0000_0000 | (load.vaddr & 0xfff))
        });
        add(format!("segment-{i}-non-canonical"), &|bytes| {
            write(bytes, at + P_VADDR, 8, 0x0000_8000_0000_0000 | (load.vaddr & 0xfff))
        });
        add(format!("segment-{i}-in-null-page"), &|bytes| write(bytes, at + P_VADDR, 8, load.vaddr & 0xfff));
        add(format!("segment-{i}-wraps-around"), &|bytes| {
            write(bytes, at + P_VADDR, 8, 0xffff_ffff_ffff_f000 | (load.vaddr & 0xfff));
            write(bytes, at + P_MEMSZ, 8, 0x10_0000);
        });
        add(format!("segment-{i}-memsz-huge"), &|bytes| write(bytes, at + P_MEMSZ, 8, u64::MAX - load.vaddr + 1));
        add(format!("segment-{i}-empty"), &|bytes| {
            write(bytes, at + P_FILESZ, 8, 0);
            write(bytes, at + P_MEMSZ, 8, 0);
        });
        add(format!("segment-{i}-align-3"), &|bytes| write(bytes, at + P_ALIGN, 8, 3));
        if load.align > 1 {
            add(format!("segment-{i}-vaddr-offset-incongruent"), &|bytes| write(bytes, at + P_VADDR, 8, load.vaddr + 1));
        }
    }
    for pair in loads.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        add(format!("segments-{}-and-{}-overlap", first.index, second.index), &|bytes| {
            // Same page as the first segment, same offset within the page.
            let vaddr = (first.vaddr & !0xfff) | (second.offset & 0xfff);
            write(bytes, second.at + P_VADDR, 8, vaddr);
        });
    }
    let data = loads.iter().find(|h| read(valid, h.at + P_FLAGS, 4) as u32 & PF_X == 0);
    for (name, value) in [
        ("entry-zero", Some(0)),
        ("entry-in-kernel", Some(0xffff_ffff_8000_0000)),
        ("entry-non-canonical", Some(0x8000_0000_0000_0000)),
        ("entry-in-data", data.map(|h| h.vaddr)),
        ("entry-past-code", loads.iter().find(|h| read(valid, h.at + P_FLAGS, 4) as u32 & PF_X != 0).map(|h| h.vaddr + h.mem_size)),
    ] {
        if let Some(value) = value.filter(|&value| value != entry) {
            add(name.into(), &|bytes| write(bytes, 24, 8, value));
        }
    }
    out
}

/// A small valid executable for tests: an R segment holding the headers at
/// 0x400000, an RX segment with the entry point, an RW segment with bss.
pub fn sample_executable() -> Vec<u8> {
    let mut bytes = vec![0u8; 0x400];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2;
    bytes[5] = 1;
    bytes[6] = 1;
    write(&mut bytes, 16, 2, 2);
    write(&mut bytes, 18, 2, 0x3e);
    write(&mut bytes, 20, 4, 1);
    write(&mut bytes, 24, 8, 0x40_1210);
    write(&mut bytes, 32, 8, 64);
    write(&mut bytes, 52, 2, 64);
    write(&mut bytes, 54, 2, 56);
    write(&mut bytes, 56, 2, 4);
    let segments = [
        (PT_LOAD, 4u32, 0u64, 0x40_0000u64, 0x200u64, 0x200u64),
        (PT_LOAD, 5, 0x200, 0x40_1200, 0x100, 0x100),
        (PT_LOAD, 6, 0x300, 0x40_2300, 0x80, 0x2000),
        (0x6474_e551, 6, 0, 0, 0, 0),
    ];
    for (index, (kind, flags, offset, vaddr, file_size, mem_size)) in segments.into_iter().enumerate() {
        let at = 64 + 56 * index;
        write(&mut bytes, at + P_TYPE, 4, kind.into());
        write(&mut bytes, at + P_FLAGS, 4, flags.into());
        write(&mut bytes, at + P_OFFSET, 8, offset);
        write(&mut bytes, at + P_VADDR, 8, vaddr);
        write(&mut bytes, at + 24, 8, vaddr);
        write(&mut bytes, at + P_FILESZ, 8, file_size);
        write(&mut bytes, at + P_MEMSZ, 8, mem_size);
        write(&mut bytes, at + P_ALIGN, 8, if kind == PT_LOAD { 0x1000 } else { 0x10 });
    }
    bytes[0x210] = 0xf4; // hlt at the entry point
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_sample_is_valid() {
        let plan = kernel::exec::plan(&sample_executable()).expect("the sample must load");
        assert_eq!(plan.segments.len(), 3);
    }

    #[test]
    fn every_mutant_is_rejected_with_a_unique_name() {
        let all = mutants(&sample_executable());
        assert!(all.len() >= 60, "only {} mutants", all.len());
        let names: HashSet<_> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names.len(), all.len(), "duplicate names");
        for mutant in &all {
            assert!(kernel::exec::plan(&mutant.bytes).is_err(), "{} was accepted", mutant.name);
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let first = mutants(&sample_executable());
        let second = mutants(&sample_executable());
        assert!(first.iter().zip(&second).all(|(a, b)| a.name == b.name && a.bytes == b.bytes));
    }
}
