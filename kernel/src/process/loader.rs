//! The loader: a program's ELF image made into sealed partitions of a
//! fresh address space. What is created, written and where the program
//! starts is decided by `process::image` (pure, host-tested); this carries
//! the steps out in order through the memory service (create, seal and
//! commit each partition, write each piece of the file and the arguments
//! through the kernel's mapping) and adds the segment selectors.
//!
//! A read-only piece of the image (code, headers, constants) is the same in
//! every instance of the program: with `text=shared` (the default) it is
//! mapped from the text store (`share::text`, through
//! `memory::Guard::map_text`) as a sealed view, one copy for every
//! instance, charged to the store and not to the process; with
//! `text=private` each instance gets its own partition, written like the
//! writable segments.
//!
//! Everything a program has is a partition. Sealed partitions can be
//! protected (never beyond their creation rights), committed and
//! decommitted, but not destroyed, resized or extended. The runtime's heap
//! and every other partition the program creates come later, from the
//! partition system calls.

use super::image::{self, Piece, Step};
use super::recorder::History;
use super::table::*;
use crate::arch::context::UserEntry;
use crate::arch::gdt;
use crate::exec;
use crate::history::{Cause, Change, Event};
use crate::memory;
use crate::mm::user::UserSpace;
use crate::share::text::TextKey;
use crate::vass::{PageRange, PartitionKind, SpaceId, VassError, PAGE_SIZE};
use abi::Error;
use x86_64::VirtAddr;

/// Builds the address space of process `pid` from `image` started with
/// `arguments` (see `process::image`). With a `budget`, the process holds
/// at most that many pages from its first one on (the loader's included).
/// `program` is the image's identity (the hash of its file), which names
/// its text in the text store.
pub(super) fn load(pid: Pid, image: &[u8], program: u64, arguments: &[&str], budget: Option<u64>, history: &mut History) -> Result<(UserSpace, UserEntry), Error> {
    let plan = exec::plan(image).map_err(|error| {
        log::warn!("rejecting executable: {error}");
        Error::BadExecutable
    })?;
    let mut space = UserSpace::new().map_err(|_| Error::OutOfMemory)?;
    if budget.is_some() {
        // `destroy_detached` below drops it again if the layout fails.
        memory::lock().set_budget(SpaceId(pid), budget);
    }
    match lay_out(pid, &plan, image, program, arguments, &mut space, history) {
        Ok(entry) => Ok((space, entry)),
        Err(error) => {
            memory::lock().destroy_detached(SpaceId(pid), &mut space);
            Err(error)
        }
    }
}

/// Creates a sealed partition for the loader and commits its eager pages.
fn loader_partition(pid: Pid, space: &mut UserSpace, piece: Piece, history: &mut History) -> Result<(), Error> {
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

/// Maps the read-only image piece `piece` of `program` from the text store,
/// its bytes `bytes` from byte `offset` of the piece on (written into the
/// store by the first instance's load).
fn shared_piece(pid: Pid, space: &mut UserSpace, program: u64, piece: Piece, offset: u64, bytes: &[u8], history: &mut History) -> Result<(), Error> {
    let key = TextKey { program, at: piece.at, pages: piece.pages, rights: piece.rights };
    let (id, range) = memory::lock().map_text(SpaceId(pid), space, key, piece.window, offset, bytes).map_err(|error| match error {
        VassError::OutOfFrames | VassError::PageTable => Error::OutOfMemory,
        _ => Error::BadExecutable,
    })?;
    history.record(Event::Partition { partition: id, change: Change::Created, range, kind: PartitionKind::Shared.code() });
    // Mapped at load, committing none of its own (the store holds them).
    history.record(Event::Commit { partition: id, range, committed: 0, cause: Cause::Loader });
    Ok(())
}

/// Carries out the layout of `image` (of identity `program`) in `space`;
/// returns where the program starts.
fn lay_out(pid: Pid, plan: &exec::LoadPlan, image: &[u8], program: u64, arguments: &[&str], space: &mut UserSpace, history: &mut History) -> Result<UserEntry, Error> {
    let layout = image::lay_out(plan, image, arguments)?;
    let shared = memory::shared_text();
    for step in layout.steps {
        match step {
            Step::Partition(piece) => loader_partition(pid, space, piece, history)?,
            Step::Image { piece, offset, bytes } if shared => shared_piece(pid, space, program, piece, offset, bytes, history)?,
            Step::Image { piece, offset, bytes } => {
                loader_partition(pid, space, piece, history)?;
                space.write(VirtAddr::new(piece.at * PAGE_SIZE + offset), bytes).map_err(|_| Error::OutOfMemory)?;
            }
            Step::Write { address, bytes } => space.write(VirtAddr::new(address), &bytes).map_err(|_| Error::OutOfMemory)?,
        }
    }
    let selectors = gdt::selectors();
    let start = layout.start;
    Ok(UserEntry {
        rip: start.rip,
        rsp: start.rsp,
        rdi: start.rdi,
        rsi: start.rsi,
        cs: u64::from(selectors.user_code.0),
        ss: u64::from(selectors.user_data.0),
    })
}
