//! A program's image laid out before anything is made of it: the sealed
//! partitions the loader creates, the bytes it writes into them and the
//! registers the program starts with, computed from the ELF's load plan
//! (`exec::plan`) and the arguments alone. Pure, so the host tests it
//! against the simulated MMU; `process::loader` carries the steps out in
//! order through the memory service.
//!
//! For each segment: a partition of its pages that hold file bytes (code
//! `R-X` or data with the segment's rights, committed now: every page is
//! eager) and the write of those bytes, one [`Step::Image`] for a
//! read-only segment (the same in every instance of the program, so the
//! loader may share it: `share::text`); then, if the segment's memory runs
//! past them, a data partition for the bss tail, committed zeroed on first
//! touch. Then the 1 MiB stack at the top of the stack window, committed on
//! first touch except its top pages, which hold the arguments: the
//! strings from the top down, then below them, 16-byte aligned, an array
//! of `abi::Arg` (address, length) that `rsi` points to, with the count in
//! `rdi`.

#![forbid(unsafe_code)]

use crate::exec::LoadPlan;
use crate::mm::layout;
use crate::vass::{PAGE_SIZE, PartitionKind, Window};
use abi::{Error, Rights};
use alloc::borrow::Cow;
use alloc::vec::Vec;

/// Size of the user stack region (committed on demand, top pages eagerly).
pub const STACK_SIZE: u64 = 1 << 20;

/// Where the loader may place image partitions, in pages.
pub const IMAGE_WINDOW: Window = Window { start: layout::USER_IMAGE.start / PAGE_SIZE, end: layout::USER_IMAGE.end / PAGE_SIZE };

/// Where the stack partition lives, in pages.
pub const STACK_WINDOW: Window = Window { start: layout::USER_STACK.start / PAGE_SIZE, end: layout::USER_STACK.end / PAGE_SIZE };

/// One sealed partition the loader creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First page.
    pub at: u64,
    /// Size in pages.
    pub pages: u64,
    /// What it holds.
    pub kind: PartitionKind,
    /// Its rights.
    pub rights: Rights,
    /// Where it must lie.
    pub window: Window,
    /// How many of its last pages to commit now.
    pub eager: u64,
}

/// One step of laying out an image, in the order the loader takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Create (and seal, and commit the eager pages of) a partition.
    Partition(Piece),
    /// A read-only piece of the file (code, or headers and constants):
    /// the sealed, committed partition `piece` holding `bytes` from byte
    /// `offset` of its first page on (zero elsewhere). No instance can
    /// change it, so every instance of the program may map one copy.
    Image {
        /// The partition (every page eager).
        piece: Piece,
        /// Where the bytes start, from the piece's first byte.
        offset: u64,
        /// The file's bytes.
        bytes: &'a [u8],
    },
    /// Write `bytes` at virtual `address` (inside pages committed by an
    /// earlier step).
    Write {
        /// Where.
        address: u64,
        /// What: file contents and argument strings borrowed, the argument
        /// array built here.
        bytes: Cow<'a, [u8]>,
    },
}

/// Where the program starts: its first instruction, stack pointer and
/// arguments (count and array).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// The entry point.
    pub rip: u64,
    /// The stack pointer (the argument array's address).
    pub rsp: u64,
    /// The number of arguments.
    pub rdi: u64,
    /// The argument array's address.
    pub rsi: u64,
}

/// A program's image laid out (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayout<'a> {
    /// What the loader does, in order.
    pub steps: Vec<Step<'a>>,
    /// Where the program starts.
    pub start: Start,
}

/// Lays out the image `image`, planned as `plan`, started with
/// `arguments`. [`Error::TooLarge`] if the arguments would take more than
/// half the stack.
pub fn lay_out<'a>(plan: &LoadPlan, image: &'a [u8], arguments: &[&'a str]) -> Result<ImageLayout<'a>, Error> {
    let mut steps = Vec::new();
    for segment in &plan.segments {
        let mut rights = Rights::READ;
        rights.set(Rights::WRITE, segment.writable);
        rights.set(Rights::EXECUTE, segment.executable);
        let kind = if segment.executable { PartitionKind::Code } else { PartitionKind::Data };
        let first = segment.page_start() / PAGE_SIZE;
        let end = segment.page_end() / PAGE_SIZE;
        // Pages holding file bytes are loaded now; the bss tail past them
        // is its own partition, committed zeroed on first touch.
        let loaded_end = (segment.vaddr + segment.file_size).div_ceil(PAGE_SIZE).clamp(first, end);
        if loaded_end > first {
            let pages = loaded_end - first;
            let piece = Piece { at: first, pages, kind, rights, window: IMAGE_WINDOW, eager: pages };
            let file = image.get(segment.file_offset as usize..(segment.file_offset + segment.file_size) as usize).ok_or(Error::BadExecutable)?;
            if segment.writable {
                steps.push(Step::Partition(piece));
                steps.push(Step::Write { address: segment.vaddr, bytes: Cow::Borrowed(file) });
            } else {
                steps.push(Step::Image { piece, offset: segment.vaddr - first * PAGE_SIZE, bytes: file });
            }
        }
        if end > loaded_end {
            let bss = Piece { at: loaded_end, pages: end - loaded_end, kind: PartitionKind::Data, rights, window: IMAGE_WINDOW, eager: 0 };
            steps.push(Step::Partition(bss));
        }
    }
    // The stack: arguments at the top, an array of `abi::Arg` below them.
    let strings: u64 = arguments.iter().map(|a| a.len() as u64).sum();
    let array_size = arguments.len() as u64 * size_of::<abi::Arg>() as u64;
    let needed = (strings + array_size + 64).next_multiple_of(PAGE_SIZE);
    if needed > STACK_SIZE / 2 {
        return Err(Error::TooLarge);
    }
    let stack_pages = STACK_SIZE / PAGE_SIZE;
    let stack_top = layout::USER_STACK.end;
    steps.push(Step::Partition(Piece {
        at: stack_top / PAGE_SIZE - stack_pages,
        pages: stack_pages,
        kind: PartitionKind::Stack,
        rights: Rights::READ | Rights::WRITE,
        window: STACK_WINDOW,
        eager: needed / PAGE_SIZE + 1,
    }));
    let mut cursor = stack_top;
    let mut array = Vec::with_capacity(arguments.len() * size_of::<abi::Arg>());
    for argument in arguments {
        cursor -= argument.len() as u64;
        steps.push(Step::Write { address: cursor, bytes: Cow::Borrowed(argument.as_bytes()) });
        array.extend_from_slice(&cursor.to_le_bytes());
        array.extend_from_slice(&(argument.len() as u64).to_le_bytes());
    }
    cursor = (cursor - array.len() as u64) & !0xf;
    steps.push(Step::Write { address: cursor, bytes: Cow::Owned(array) });
    Ok(ImageLayout { steps, start: Start { rip: plan.entry, rsp: cursor, rdi: arguments.len() as u64, rsi: cursor } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::builder::{build, typical};
    use crate::exec::plan;
    use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
    use crate::vass::{PageRange, SpaceId, Vass};
    use elf::abi::{EM_X86_64, ET_EXEC};

    fn typical_image() -> Vec<u8> {
        let (segments, entry) = typical();
        build(ET_EXEC, EM_X86_64, entry, &segments, 0x400)
    }

    fn pieces<'a>(layout: &'a ImageLayout<'_>) -> impl Iterator<Item = &'a Piece> {
        layout.steps.iter().filter_map(|step| match step {
            Step::Partition(piece) | Step::Image { piece, .. } => Some(piece),
            Step::Write { .. } => None,
        })
    }

    #[test]
    fn segments_become_loaded_and_bss_partitions_and_the_stack_holds_the_arguments() {
        let image = typical_image();
        let plan = plan(&image).unwrap();
        let layout = lay_out(&plan, &image, &["bin/demo", "-x"]).unwrap();
        let pieces: Vec<&Piece> = pieces(&layout).collect();
        // Headers (R), code (R-X), data (RW) with a bss tail, the stack.
        let kinds: Vec<(PartitionKind, Rights, u64, u64)> = pieces.iter().map(|p| (p.kind, p.rights, p.at, p.pages)).collect();
        let rw = Rights::READ | Rights::WRITE;
        assert_eq!(
            kinds[..4],
            [
                (PartitionKind::Data, Rights::READ, 0x400, 1),
                (PartitionKind::Code, Rights::READ | Rights::EXECUTE, 0x401, 1),
                (PartitionKind::Data, rw, 0x402, 1),
                (PartitionKind::Data, rw, 0x403, 2),
            ]
        );
        assert!(pieces[..3].iter().all(|p| p.eager == p.pages), "loaded pages are committed now");
        // The read-only segments are image pieces (shareable), with their
        // bytes where the segment puts them; the writable one is written.
        let images: Vec<(u64, u64, usize)> = layout
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Image { piece, offset, bytes } => Some((piece.at, *offset, bytes.len())),
                _ => None,
            })
            .collect();
        let (segments, _) = typical();
        let read_only: Vec<(u64, u64, usize)> = segments
            .iter()
            .filter(|segment| segment.flags & elf::abi::PF_W == 0)
            .map(|segment| (segment.vaddr / PAGE_SIZE, segment.vaddr % PAGE_SIZE, segment.file_size as usize))
            .collect();
        assert_eq!(images, read_only);
        assert_eq!(images.len(), 2, "headers and code");
        let written = layout.steps.iter().filter(|step| matches!(step, Step::Write { address, .. } if address / PAGE_SIZE == 0x402)).count();
        assert_eq!(written, 1, "the data segment's bytes are written into its own partition");
        assert_eq!(pieces[3].eager, 0, "the bss tail is committed on first touch");
        let stack = pieces[4];
        assert_eq!((stack.kind, stack.pages, stack.eager), (PartitionKind::Stack, STACK_SIZE / PAGE_SIZE, 2));
        assert_eq!(stack.at + stack.pages, layout::USER_STACK.end / PAGE_SIZE);
        // The argument array: each entry points at its string, below the top.
        let start = layout.start;
        assert_eq!((start.rip, start.rdi, start.rsi), (0x40_1210, 2, start.rsp));
        assert_eq!(start.rsp % 16, 0);
        let Some(Step::Write { address, bytes }) = layout.steps.last() else { panic!("the array is written last") };
        assert_eq!(*address, start.rsp);
        let words: Vec<u64> = bytes.chunks(8).map(|word| u64::from_le_bytes(word.try_into().unwrap())).collect();
        assert_eq!(words[1], 8);
        assert_eq!(words[3], 2);
        assert_eq!(words[0], layout::USER_STACK.end - 8, "the first string right under the top");
        assert_eq!(words[2], layout::USER_STACK.end - 10);
    }

    #[test]
    fn every_write_lands_in_pages_the_steps_before_it_committed_in_the_simulated_mmu() {
        let image = typical_image();
        let plan = plan(&image).unwrap();
        let layout = lay_out(&plan, &image, &["bin/demo", "a", "bb"]).unwrap();
        let (mut vass, mut mmu, mut frames) = (Vass::new(), SimulatedMmu::default(), SimulatedFrames::new(64));
        let space = SpaceId(1);
        for step in &layout.steps {
            match step {
                Step::Partition(piece) => {
                    let (id, range) = vass.create(space, piece.pages, piece.kind, piece.rights, Some(piece.at), piece.window).unwrap();
                    vass.seal(id);
                    if piece.eager > 0 {
                        let eager = PageRange::new(range.end - piece.eager, range.end);
                        assert_eq!(vass.populate(space, id, eager, &mut mmu, &mut frames), Ok(piece.eager));
                    }
                }
                Step::Image { piece, offset, bytes } => {
                    let (id, range) = vass.create(space, piece.pages, piece.kind, piece.rights, Some(piece.at), piece.window).unwrap();
                    vass.seal(id);
                    assert_eq!(piece.eager, piece.pages);
                    assert_eq!(vass.populate(space, id, range, &mut mmu, &mut frames), Ok(piece.pages));
                    assert!(offset + bytes.len() as u64 <= piece.pages * PAGE_SIZE, "the bytes lie in the piece");
                }
                Step::Write { address, bytes } => {
                    let pages = address / PAGE_SIZE..(address + bytes.len() as u64).div_ceil(PAGE_SIZE);
                    for page in pages {
                        assert!(mmu.translate(space, page).is_some(), "write at {address:#x}: page {page:#x} is committed");
                    }
                }
            }
        }
        vass.check_invariants(&mmu, &frames).unwrap();
        let loaded = vass.space_counters(space).unwrap().loaded;
        assert_eq!(loaded, 3 + 2, "three segment pages and two stack pages, nothing else");
    }

    #[test]
    fn arguments_over_half_the_stack_are_refused_and_bad_offsets_are_bad_executables() {
        let image = typical_image();
        let plan = plan(&image).unwrap();
        let long = "x".repeat((STACK_SIZE / 2) as usize);
        assert_eq!(lay_out(&plan, &image, &[&long]), Err(Error::TooLarge));
        let mut broken = plan.clone();
        broken.segments[0].file_offset = 1 << 40;
        assert_eq!(lay_out(&broken, &image, &[]), Err(Error::BadExecutable));
    }
}
