//! The kernel's sharing state: the ACL of every shared partition and the
//! view each mapping of a grant made, kept beside the VASS (in the memory
//! service, under its lock) and tested here on the host against the
//! simulated MMU.
//!
//! A grant is named by a [`GrantRef`] (the shared partition and the
//! grant's id in its ACL), which IPC handles carry (`ipc::registry`'s
//! `Object::Grant`): a handle is how a grant travels, the ACL is what it
//! allows. Every operation asks the ACL first and then the VASS:
//!
//! - **grant**: the owner of a partition (`Through::Owner`) or the holder
//!   of a grant with [`Rights::GRANT`] (`Through::Grant`, a re-grant)
//!   gives an identity rights over a range of the partition's pages; the
//!   partition's ACL is made at its first grant;
//! - **map**: the process the grant is for maps it with at most its
//!   effective rights: a view in its space (`Vass::map_view`) whose rights
//!   are the mapping's, so every fault and protect in the view is bounded
//!   by what the ACL said (the VASS checks the view's rights; only a
//!   revoke narrows a grant, and it reaches the views at once);
//! - **revoke**: the owner, or a granter up the chain, revokes a grant and
//!   every grant made from it; each of their views is revoked in the VASS
//!   (unmapped and flushed in its space); their frames stay the owner's.
//!
//! A view destroyed by its process gives its mapping back
//! ([`Shares::view_destroyed`]); a shared partition destroyed (by its owner
//! or with its process) revokes every grant of it
//! ([`Shares::source_destroyed`]: the VASS revoked the views already), and
//! its grants stay known as revoked; a process that ends gives back every
//! mapping it had ([`Shares::process_ended`]).
//!
//! **Program text** (`share::text`) is the kernel's: the text store owns
//! each piece (its ACL's owner is pid 0, the store's space, which no
//! process has). Every instance of the program holds one grant of it, to
//! the program's identity with the piece's rights and [`Rights::GRANT`],
//! made the first time an instance shares its text; an instance that
//! grants its text view (`Through::Owner` of the view) re-grants through
//! it, so what it gives is at most read+execute, it may revoke what it
//! gave, and nobody writes the text. An instance's text view is known from
//! the VASS alone (a view of a piece in the store's space that no grant's
//! mapping made: the loader's); the grant goes with the piece
//! ([`Shares::text_released`]).

#![forbid(unsafe_code)]

use super::acl::{self, Acl, AclError, Caller, GrantId, Granter, Identity, Pid};
use super::text::TextStore;
use crate::vass::{FrameSource, Page, PageRange, PageTable, PartitionId, SpaceId, Vass, VassError, Window, PAGE_SIZE};
use abi::{Error, Rights};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// A grant, as a handle names it: the shared partition and the grant's id
/// in its ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef {
    /// The shared partition (the owner's).
    pub partition: PartitionId,
    /// The grant.
    pub grant: GrantId,
}

/// On whose authority a grant is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Through {
    /// As the owner of this partition.
    Owner(PartitionId),
    /// As the holder of this grant (a re-grant).
    Grant(GrantRef),
}

/// Why a sharing operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareError {
    /// The ACL said no.
    Acl(AclError),
    /// The VASS said no.
    Vass(VassError),
    /// No such partition, or not one that can be shared (a view: re-grant
    /// through the grant instead).
    NotShareable,
}

impl From<AclError> for ShareError {
    fn from(error: AclError) -> ShareError {
        ShareError::Acl(error)
    }
}

impl From<VassError> for ShareError {
    fn from(error: VassError) -> ShareError {
        ShareError::Vass(error)
    }
}

impl From<ShareError> for Error {
    fn from(error: ShareError) -> Error {
        match error {
            ShareError::Acl(error) => error.into(),
            ShareError::Vass(VassError::Revoked) => Error::Revoked,
            ShareError::Vass(VassError::Overlap) => Error::AddressInUse,
            ShareError::Vass(VassError::BadRange | VassError::OutsideGrant) => Error::InvalidArgument,
            ShareError::Vass(VassError::NotOwner | VassError::RightsEscalation | VassError::Sealed) => Error::PermissionDenied,
            ShareError::Vass(VassError::UnknownPartition) => Error::NotFound,
            ShareError::Vass(VassError::Shared) => Error::Shared,
            ShareError::Vass(VassError::TooManyLocked) => Error::TooLarge,
            ShareError::Vass(VassError::NoVirtualSpace | VassError::OutOfFrames | VassError::PageTable | VassError::SwapFailed) => Error::OutOfMemory,
            ShareError::NotShareable => Error::InvalidArgument,
        }
    }
}

/// One row of a partition's ACL as its owner reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclRow {
    /// The grant.
    pub grant: GrantId,
    /// Whom it is for.
    pub identity: Identity,
    /// The rights it gives (its own; the effective ones are at most these).
    pub rights: Rights,
    /// The rights it gives now: the intersection along its chain.
    pub effective: Rights,
    /// The pages it covers, as offsets into the partition.
    pub range: acl::PageRange,
    /// The grant it was made through (`None`: by the owner).
    pub granted_by: Option<GrantId>,
    /// The process that made it.
    pub granted_by_pid: Pid,
    /// Processes that map it now.
    pub mappings: u64,
}

/// Grant ids of one ACL: each ACL numbers its grants from its own block.
const GRANTS_PER_ACL: u64 = 1 << 32;

/// Every shared partition's ACL and the views mappings made.
#[derive(Debug, Default)]
pub struct Shares {
    acls: BTreeMap<PartitionId, Acl>,
    /// Shared partitions destroyed: their grants are known as revoked.
    retired: BTreeSet<PartitionId>,
    /// Each live view a mapping made: its source, grant and process.
    views: BTreeMap<PartitionId, (GrantRef, Pid)>,
    /// The view of each mapping, by grant and process.
    by_mapping: BTreeMap<(GrantRef, Pid), PartitionId>,
    /// The grant every instance of its program holds of each text piece
    /// an instance has shared, by piece.
    text_grants: BTreeMap<PartitionId, GrantRef>,
    next_block: u64,
}

/// The owner of every piece of text: the text store's space, no process.
const TEXT_OWNER: Caller = Caller { pid: TextStore::SPACE.0, program: 0 };

/// The rights of a grant that reach a page table entry.
const PAGE_RIGHTS: Rights = Rights::READ.union(Rights::WRITE).union(Rights::EXECUTE);

impl Shares {
    /// Nothing shared.
    pub const fn new() -> Shares {
        Shares { acls: BTreeMap::new(), retired: BTreeSet::new(), views: BTreeMap::new(), by_mapping: BTreeMap::new(), text_grants: BTreeMap::new(), next_block: 1 }
    }

    fn acl(&self, partition: PartitionId) -> Result<&Acl, ShareError> {
        match self.acls.get(&partition) {
            Some(acl) => Ok(acl),
            None if self.retired.contains(&partition) => Err(AclError::Revoked.into()),
            None => Err(AclError::NoSuchGrant.into()),
        }
    }

    fn acl_mut(&mut self, partition: PartitionId) -> Result<&mut Acl, ShareError> {
        match self.acls.get_mut(&partition) {
            Some(acl) => Ok(acl),
            None if self.retired.contains(&partition) => Err(AclError::Revoked.into()),
            None => Err(AclError::NoSuchGrant.into()),
        }
    }

    /// `caller` grants `identity` `rights` over the pages at offsets
    /// `range` of a partition, on the authority of `through`.
    pub fn grant(&mut self, vass: &Vass, caller: Caller, through: Through, identity: Identity, rights: Rights, range: acl::PageRange) -> Result<GrantRef, ShareError> {
        match through {
            Through::Owner(id) => {
                let partition = vass.partition(id).ok_or(ShareError::Vass(VassError::UnknownPartition))?;
                if let Some(of) = partition.view {
                    let text = vass.partition(of.source).is_some_and(|source| source.space == TextStore::SPACE);
                    // The loader's view of its program's text (a grant's
                    // mapping made every other view of the store's).
                    if text && partition.space == SpaceId(caller.pid) && !self.views.contains_key(&id) {
                        // An instance shares its program's text through the
                        // grant every instance holds.
                        let held = self.text_grant(vass, of.source, caller.program)?;
                        let range = acl::PageRange { start: range.start.saturating_add(of.offset), end: range.end.saturating_add(of.offset) };
                        return self.grant(vass, caller, Through::Grant(held), identity, rights, range);
                    }
                    return Err(ShareError::NotShareable);
                }
                if partition.space != SpaceId(caller.pid) {
                    return Err(AclError::NotYours.into());
                }
                // The owner grants at most what the partition may ever be.
                if !(partition.max_rights | Rights::GRANT).contains(rights) {
                    return Err(AclError::TooManyRights.into());
                }
                let pages = partition.pages();
                if !self.acls.contains_key(&id) {
                    let first = self.next_block * GRANTS_PER_ACL;
                    self.next_block += 1;
                    self.acls.insert(id, Acl::new(caller.pid, pages, first));
                }
                let acl = self.acl_mut(id)?;
                acl.grow(pages);
                let grant = acl.grant_to(caller, Granter::Owner, identity, rights, range)?;
                Ok(GrantRef { partition: id, grant })
            }
            Through::Grant(held) => {
                let grant = self.acl_mut(held.partition)?.grant_to(caller, Granter::Grant(held.grant), identity, rights, range)?;
                Ok(GrantRef { partition: held.partition, grant })
            }
        }
    }

    /// The grant every instance of `program` holds of its text piece
    /// `piece`, made (with the piece's ACL) the first time it is asked for.
    fn text_grant(&mut self, vass: &Vass, piece: PartitionId, program: u64) -> Result<GrantRef, ShareError> {
        if let Some(&grant) = self.text_grants.get(&piece) {
            return Ok(grant);
        }
        let source = vass.partition(piece).ok_or(ShareError::Vass(VassError::UnknownPartition))?;
        let (pages, rights) = (source.pages(), source.max_rights | Rights::GRANT);
        let first = self.next_block * GRANTS_PER_ACL;
        self.next_block += 1;
        let mut acl = Acl::new(TEXT_OWNER.pid, pages, first);
        let grant = acl.grant_to(TEXT_OWNER, Granter::Owner, Identity::Program(program), rights, acl::PageRange { start: 0, end: pages })?;
        self.acls.insert(piece, acl);
        let grant = GrantRef { partition: piece, grant };
        self.text_grants.insert(piece, grant);
        Ok(grant)
    }

    /// The text store let piece `piece` go (no view maps it): every grant
    /// of it is revoked from now on.
    pub fn text_released(&mut self, piece: PartitionId) {
        self.text_grants.remove(&piece);
        self.source_destroyed(piece);
    }

    /// `caller` maps `grant` into its space with `rights` (at most the
    /// grant's effective rights, [`Rights::GRANT`] aside), at page `at` or
    /// wherever it fits in `window`: a view; with `private`, a
    /// copy-on-write snapshot, which may be writable whatever the grant
    /// says (its writes are its own). Returns the view and its range.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &mut self,
        vass: &mut Vass,
        table: &mut impl PageTable,
        frames: &mut impl FrameSource,
        caller: Caller,
        grant: GrantRef,
        rights: Rights,
        at: Option<Page>,
        window: Window,
        private: bool,
    ) -> Result<(PartitionId, PageRange), ShareError> {
        let acl = self.acl(grant.partition)?;
        let (held, range) = acl.held(caller, Granter::Grant(grant.grant))?;
        let rights = rights & PAGE_RIGHTS;
        // What the mapping reads of the source: a snapshot's writes are its own.
        let sourced = if private { rights - Rights::WRITE } else { rights };
        if !held.contains(sourced) {
            return Err(AclError::TooManyRights.into());
        }
        if acl.mapping_of(grant.grant, caller.pid).is_ok() {
            return Err(AclError::AlreadyMapped.into());
        }
        let owner = SpaceId(acl.owner());
        let offsets = PageRange::new(range.start, range.end);
        let (view, placed) = if private {
            vass.map_copy_on_write(owner, grant.partition, offsets, SpaceId(caller.pid), rights, at, window, table, frames)?
        } else {
            vass.map_view(owner, grant.partition, offsets, SpaceId(caller.pid), rights, at, window, table, frames)?
        };
        // Checked above, so the ACL takes it; were it to refuse, the view
        // goes again (nothing of a refused map stays behind).
        if let Err(error) = self.acl_mut(grant.partition).and_then(|acl| Ok(acl.map(caller, grant.grant, placed.start * PAGE_SIZE, sourced)?)) {
            let _ = vass.destroy(SpaceId(caller.pid), view, table, frames);
            return Err(error);
        }
        self.views.insert(view, (grant, caller.pid));
        self.by_mapping.insert((grant, caller.pid), view);
        Ok((view, placed))
    }

    /// `caller` revokes `grant` and every grant made from it: each of
    /// their views is revoked in the VASS. Returns how many views were.
    pub fn revoke(&mut self, vass: &mut Vass, table: &mut impl PageTable, frames: &mut impl FrameSource, caller: Caller, grant: GrantRef) -> Result<usize, ShareError> {
        let (_, mappings) = self.acl_mut(grant.partition)?.revoke(caller, grant.grant)?;
        let mut revoked = 0;
        for mapping in mappings {
            let key = (GrantRef { partition: grant.partition, grant: mapping.grant }, mapping.pid);
            if let Some(view) = self.by_mapping.remove(&key) {
                self.views.remove(&view);
                if vass.revoke_view(view, table, frames).is_ok() {
                    revoked += 1;
                }
            }
        }
        Ok(revoked)
    }

    /// The process that made view `view` destroyed it: its mapping is
    /// given back.
    pub fn view_destroyed(&mut self, view: PartitionId) {
        if let Some((grant, pid)) = self.views.remove(&view) {
            self.by_mapping.remove(&(grant, pid));
            if let Some(acl) = self.acls.get_mut(&grant.partition) {
                let _ = acl.unmap(grant.grant, pid);
            }
        }
    }

    /// Shared partition `partition` was destroyed (the VASS revoked its
    /// views): every grant of it is revoked from now on.
    pub fn source_destroyed(&mut self, partition: PartitionId) {
        if self.acls.remove(&partition).is_some() {
            self.retired.insert(partition);
            self.views.retain(|_, (grant, _)| grant.partition != partition);
            self.by_mapping.retain(|(grant, _), _| grant.partition != partition);
        }
    }

    /// Process `pid` ended: the partitions it owned are gone (and so every
    /// grant of them), and so are its views (their mappings are given
    /// back).
    pub fn process_ended(&mut self, pid: Pid) {
        let owned: Vec<PartitionId> = self.acls.iter().filter(|(_, acl)| acl.owner() == pid).map(|(&id, _)| id).collect();
        for id in owned {
            self.source_destroyed(id);
        }
        let views: Vec<PartitionId> = self.views.iter().filter(|(_, (_, mapper))| *mapper == pid).map(|(&view, _)| view).collect();
        for view in views {
            self.view_destroyed(view);
        }
        for acl in self.acls.values_mut() {
            acl.forget_process(pid);
        }
    }

    /// The ACL of partition `partition`, for `caller`, who must own it
    /// (empty if nothing was granted yet).
    pub fn rows(&self, vass: &Vass, caller: Caller, partition: PartitionId) -> Result<Vec<AclRow>, ShareError> {
        let entry = vass.partition(partition).ok_or(ShareError::Vass(VassError::UnknownPartition))?;
        if entry.space != SpaceId(caller.pid) {
            return Err(AclError::NotYours.into());
        }
        let Some(acl) = self.acls.get(&partition) else { return Ok(Vec::new()) };
        Ok(acl
            .grants()
            .map(|grant| AclRow {
                grant: grant.id,
                identity: grant.identity,
                rights: grant.rights,
                effective: acl.effective(grant.id).unwrap_or(Rights::empty()),
                range: grant.range,
                granted_by: match grant.granted_by {
                    Granter::Owner => None,
                    Granter::Grant(id) => Some(id),
                },
                granted_by_pid: grant.granted_by_pid,
                mappings: acl.mappings().filter(|mapping| mapping.grant == grant.id).count() as u64,
            })
            .collect())
    }

    /// The grant `view` was mapped from, if it was mapped from one and is
    /// live.
    #[cfg(test)]
    pub fn grant_of(&self, view: PartitionId) -> Option<GrantRef> {
        self.views.get(&view).map(|(grant, _)| *grant)
    }

    /// Whether grant `grant` is live (neither revoked nor of a partition
    /// that is gone).
    #[cfg(test)]
    pub fn is_live(&self, grant: GrantRef) -> bool {
        self.acls.get(&grant.partition).is_some_and(|acl| acl.grant(grant.grant).is_ok())
    }
}

#[cfg(test)]
mod tests;
