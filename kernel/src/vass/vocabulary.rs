//! The VASS's vocabulary: how a page was touched, what a fault came to,
//! where a page is, a program's advice, and why an operation was refused.

#![forbid(unsafe_code)]

use super::partition::*;
use super::swap::Slot;
use abi::Rights;

/// How a page was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Execute,
}

impl Access {
    /// The right the access needs.
    pub fn right(self) -> Rights {
        match self {
            Access::Read => Rights::READ,
            Access::Write => Rights::WRITE,
            Access::Execute => Rights::EXECUTE,
        }
    }
}

/// Why a VASS operation was refused. Nothing changed when one is returned,
/// except that `commit` keeps the pages it committed before running out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VassError {
    /// No such partition.
    UnknownPartition,
    /// The partition belongs to another address space.
    NotOwner,
    /// Zero size, or a range that is empty or leaves the allowed window.
    BadRange,
    /// The range overlaps another partition.
    Overlap,
    /// The range is not inside the partition.
    OutsideGrant,
    /// The request asks for rights the partition was not created with.
    RightsEscalation,
    /// No free virtual range of that size.
    NoVirtualSpace,
    /// No physical frame left.
    OutOfFrames,
    /// The page tables refused the change.
    PageTable,
    /// The partition was laid out by the loader (program image or stack):
    /// it cannot be destroyed, resized or extended by the program.
    Sealed,
    /// A swapped-out page could not be read back (device error or a
    /// checksum mismatch): its contents are lost.
    SwapFailed,
    /// Locking the range would take the space past
    /// [`abi::MAX_LOCKED_PAGES`] pages of locked ranges.
    TooManyLocked,
    /// The partition is a view that was revoked: it reaches nothing.
    Revoked,
    /// The change would take pages from under a view of the partition (a
    /// shrink past what a view maps), or is not one a view can make.
    Shared,
}


/// How much [`Vass::check`] examines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every space, and every page of every partition range up to 4096
    /// pages checked unmapped unless committed.
    Full,
    /// The structures and counters of all spaces, but committed pages,
    /// frames and page tables only of one space (cheap enough after every
    /// system call in a debug kernel; frames shared across spaces are
    /// caught by `Full` checks).
    Space(SpaceId),
    /// As `Space`, but only the pages of `range` (and the 2 MiB pages it
    /// touches): after every page fault in a debug kernel.
    Pages {
        /// The space.
        space: SpaceId,
        /// The pages.
        range: PageRange,
    },
}

/// Where `create` may place a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Lowest page a partition may use.
    pub start: Page,
    /// One past the highest.
    pub end: Page,
}

/// What [`Vass::fault`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// A fresh page was committed: retry the access.
    Committed,
    /// The page was already committed (committed ahead, or by a racing
    /// commit): retry.
    AlreadyCommitted,
    /// No partition covers the address: a real fault.
    NotInPartition,
    /// The partition does not allow this access: a real fault.
    RightsViolation,
    /// Memory is exhausted.
    OutOfFrames,
    /// The page was swapped out and has been read back: retry (a major
    /// fault).
    SwappedIn,
    /// The page was swapped out and could not be read back (device error
    /// or checksum mismatch): its contents are lost; the slot is
    /// quarantined.
    SwapFailed,
    /// The page of a view was committed already in its source (by another
    /// mapper or the owner) and is now mapped here too: retry (a minor
    /// fault).
    Mapped,
    /// The page lies in a view that was revoked: a real fault.
    Revoked,
    /// A read in a replicating view: the view got its own copy of the
    /// source's page: retry.
    Replicated,
    /// A write to a page with replicas (write-protected while they exist):
    /// they were invalidated and the page is writable again: retry.
    Invalidated,
}

impl FaultOutcome {
    /// Every outcome, in code order (the history's record codes).
    pub const ALL: [FaultOutcome; 11] = [
        FaultOutcome::Committed,
        FaultOutcome::AlreadyCommitted,
        FaultOutcome::NotInPartition,
        FaultOutcome::RightsViolation,
        FaultOutcome::OutOfFrames,
        FaultOutcome::SwappedIn,
        FaultOutcome::SwapFailed,
        FaultOutcome::Mapped,
        FaultOutcome::Revoked,
        FaultOutcome::Replicated,
        FaultOutcome::Invalidated,
    ];
}

/// Where a faulting page lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The partition holding it.
    pub partition: PartitionId,
    /// The partition's range holding it.
    pub range: PageRange,
    /// The partition's kind.
    pub kind: PartitionKind,
}

/// What [`Vass::fault`] (or [`Vass::refuse`]) did with a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// What became of it.
    pub outcome: FaultOutcome,
    /// Where the page lies (`None`: in no partition).
    pub placement: Option<Placement>,
}

impl Resolution {
    /// Whether the engine gave the page a frame (fresh or read back from
    /// swap): the faulting access is retried and the policy plans.
    pub fn served(&self) -> bool {
        matches!(self.outcome, FaultOutcome::Committed | FaultOutcome::SwappedIn | FaultOutcome::Mapped | FaultOutcome::Replicated)
    }

    /// Whether the faulting access can be retried.
    pub fn retry(&self) -> bool {
        self.served() || matches!(self.outcome, FaultOutcome::AlreadyCommitted | FaultOutcome::Invalidated)
    }
}

/// Where a page of a partition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residence {
    /// Never committed, or dropped since: it reads as zeros.
    Uncommitted,
    /// Committed to `frame` (inside a 2 MiB page if `huge`); `copy` is the
    /// slot still holding a clean copy of it, if any.
    Committed {
        /// The frame.
        frame: Frame,
        /// Whether a 2 MiB page maps it.
        huge: bool,
        /// A slot with a clean copy.
        copy: Option<Slot>,
    },
    /// Swapped out to `slot`; `lost` if the slot failed or is corrupt (the
    /// contents are gone).
    Swapped {
        /// The slot.
        slot: Slot,
        /// Whether it can no longer be read back.
        lost: bool,
    },
}

/// One page as the VASM holds it ([`Vass::page_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageState {
    /// The partition holding it.
    pub partition: PartitionId,
    /// Its rights.
    pub rights: Rights,
    /// Where it is.
    pub residence: Residence,
    /// Committed ahead of use and not seen touched yet.
    pub untouched: bool,
    /// Whether (and why) it is held cold.
    pub cold: Option<Cold>,
    /// Whether it lies in a locked range ([`Advice::Lock`]).
    pub locked: bool,
}

/// What the PAE task did for one address space in one pass
/// ([`Vass::add_pae_work`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaeWork {
    /// Model steps.
    pub steps: u64,
    /// TSC cycles.
    pub cycles: u64,
    /// Of those, TSC cycles in the model's steps.
    pub model_cycles: u64,
    /// Steps that waited for a later tick.
    pub deferred: u64,
    /// History events lost so far (a running total, not an increment).
    pub lost: u64,
    /// Partitions demoted.
    pub demotions: u64,
}

/// A program's hint for a range of a partition (`partition_advise`): the
/// ABI's own type, decoded at the system-call boundary ([`Vass::advise`]
/// applies it).
pub use abi::Advice;
