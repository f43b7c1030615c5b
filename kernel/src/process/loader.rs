//! The loader: a program's ELF image laid out as sealed partitions (code
//! and data loaded, bss and stack committed on first touch, the arguments
//! at the top of the stack).
//!
//! Everything a program has is a partition: a segment's loaded pages are
//! committed with the rights its flags give (code R-X), the bss tail of a
//! data segment is committed zeroed on first touch, and the 1 MiB stack is
//! committed on first touch except the top pages, which hold the arguments
//! (the strings, then an array of `abi::Arg`). Sealed partitions can be
//! protected (never beyond their creation rights), committed and
//! decommitted, but not destroyed, resized or extended. The runtime's heap
//! and every other partition the program creates come later, from the
//! partition system calls.

use crate::arch::context::UserEntry;
use crate::arch::gdt;
use crate::exec;
use crate::history::{Cause, Change, Event};
use crate::mm::layout;
use crate::memory;
use crate::mm::user::UserSpace;
use crate::vass::{PageRange, PartitionKind, VassError, Window};
use abi::{Error, Rights};
use alloc::vec::Vec;
use super::memory::PAGE_SIZE;
use super::recorder::History;
use x86_64::VirtAddr;
use super::table::*;
use crate::vass::SpaceId;
/// Size of the user stack region (committed on demand, top pages eagerly).
pub const STACK_SIZE: u64 = 1 << 20;

/// Where the loader may place image partitions, in pages.
pub(super) const IMAGE_WINDOW: Window = Window { start: layout::USER_IMAGE.start / PAGE_SIZE, end: layout::USER_IMAGE.end / PAGE_SIZE };

/// Where the stack partition lives, in pages.
pub(super) const STACK_WINDOW: Window = Window { start: layout::USER_STACK.start / PAGE_SIZE, end: layout::USER_STACK.end / PAGE_SIZE };

/// Builds the address space of process `pid`: a sealed partition per
/// loaded part of each segment (code or data, committed and filled), one
/// per bss tail (data, committed on first touch), and the stack (committed
/// on first touch, except its top pages, which hold the arguments).
/// With a `budget`, the process holds at most that many pages from its
/// first one on (the loader's included).
pub(super) fn load(pid: Pid, image: &[u8], arguments: &[&str], budget: Option<u64>, history: &mut History) -> Result<(UserSpace, UserEntry), Error> {
    let plan = exec::plan(image).map_err(|error| {
        log::warn!("rejecting executable: {error}");
        Error::BadExecutable
    })?;
    let mut space = UserSpace::new().map_err(|_| Error::OutOfMemory)?;
    if budget.is_some() {
        // `destroy_space` below drops it again if the layout fails.
        memory::lock().set_budget(SpaceId(pid), budget);
    }
    match lay_out(pid, &plan, image, arguments, &mut space, history) {
        Ok(entry) => Ok((space, entry)),
        Err(error) => {
            memory::lock().destroy_detached(SpaceId(pid), &mut space);
            Err(error)
        }
    }
}

/// One partition the loader lays out.
pub(super) struct Piece {
    /// First page.
    pub(super) at: u64,
    /// Size in pages.
    pub(super) pages: u64,
    pub(super) kind: PartitionKind,
    pub(super) rights: Rights,
    pub(super) window: Window,
    /// How many of its last pages to commit now.
    pub(super) eager: u64,
}

/// Creates a sealed partition for the loader and commits its eager pages.
pub(super) fn loader_partition(pid: Pid, space: &mut UserSpace, piece: Piece, history: &mut History) -> Result<(), Error> {
    let mut memory = memory::lock();
    let (id, range) = memory.create(SpaceId(pid), piece.pages, piece.kind, piece.rights, Some(piece.at), piece.window).map_err(|error| match error {
        VassError::OutOfFrames | VassError::PageTable => Error::OutOfMemory,
        _ => Error::BadExecutable,
    })?;
    memory.seal(id);
    history.record(Event::Partition { partition: id, change: Change::Created, range, kind: piece.kind.code() });
    let mut session = memory.detached(SpaceId(pid), space);
    if piece.eager > 0 {
        let committed = PageRange::new(range.end - piece.eager.min(piece.pages), range.end);
        let populated = session.vass.populate(SpaceId(pid), id, committed, &mut session.tables, &mut session.frames);
        let Ok(pages) = populated else {
            // Charged, but left unchecked: the layout fails and the space goes.
            session.check_over(None);
            return Err(Error::OutOfMemory);
        };
        history.record(Event::Commit { partition: id, range: committed, committed: pages, cause: Cause::Loader });
    }
    Ok(())
}

pub(super) fn lay_out(
    pid: Pid,
    plan: &exec::LoadPlan,
    image: &[u8],
    arguments: &[&str],
    space: &mut UserSpace,
    history: &mut History,
) -> Result<UserEntry, Error> {
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
            loader_partition(pid, space, Piece { at: first, pages, kind, rights, window: IMAGE_WINDOW, eager: pages }, history)?;
            let file = &image[segment.file_offset as usize..(segment.file_offset + segment.file_size) as usize];
            space.write(VirtAddr::new(segment.vaddr), file).map_err(|_| Error::OutOfMemory)?;
        }
        if end > loaded_end {
            let bss = Piece { at: loaded_end, pages: end - loaded_end, kind: PartitionKind::Data, rights, window: IMAGE_WINDOW, eager: 0 };
            loader_partition(pid, space, bss, history)?;
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
    let eager = needed / PAGE_SIZE + 1;
    let stack = Piece {
        at: stack_top / PAGE_SIZE - stack_pages,
        pages: stack_pages,
        kind: PartitionKind::Stack,
        rights: Rights::READ | Rights::WRITE,
        window: STACK_WINDOW,
        eager,
    };
    loader_partition(pid, space, stack, history)?;
    let mut cursor = stack_top;
    let mut array = Vec::with_capacity(arguments.len() * size_of::<abi::Arg>());
    for argument in arguments {
        cursor -= argument.len() as u64;
        space.write(VirtAddr::new(cursor), argument.as_bytes()).map_err(|_| Error::OutOfMemory)?;
        array.extend_from_slice(&cursor.to_le_bytes());
        array.extend_from_slice(&(argument.len() as u64).to_le_bytes());
    }
    cursor = (cursor - array.len() as u64) & !0xf;
    space.write(VirtAddr::new(cursor), &array).map_err(|_| Error::OutOfMemory)?;
    let selectors = gdt::selectors();
    Ok(UserEntry {
        rip: plan.entry,
        rsp: cursor,
        rdi: arguments.len() as u64,
        rsi: cursor,
        cs: u64::from(selectors.user_code.0),
        ss: u64::from(selectors.user_data.0),
    })
}
