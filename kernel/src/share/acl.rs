//! The access-control list of one shared partition: who may map which of
//! its pages with which rights, who granted it, and where it is mapped.
//!
//! - The **owner** (the partition's process) holds every right over every
//!   page. A **grant** gives an [`Identity`] rights over a page range of
//!   the partition; it is made by the owner, or by the holder of another
//!   grant that carries [`Rights::GRANT`] (a *re-grant*), and then covers
//!   at most the granter's range with at most its rights. So along any
//!   chain of grants rights and ranges only shrink, and a grant's
//!   **effective** rights are always the intersection along its chain
//!   (checked again on every use, as [`Acl::effective`] walks the chain).
//! - A grantee **maps** a grant into its own space: the ACL records each
//!   [`Mapping`] (process, address, rights at most the grant's). Every map,
//!   fault and protect asks [`Acl::effective`] first.
//! - **Revoke** (by the owner, or by a granter for what it granted)
//!   removes the grant and, transitively, every grant made from it, and
//!   returns every mapping of them, for the caller to unmap in every space
//!   and flush. A revoked grant's id never names anything again:
//!   [`AclError::Revoked`].
//!
//! An identity is a process (its pid: the kernel never reuses a pid, so a
//! grant to a process that ended is never inherited by a newcomer) or a
//! program (the hash of its ELF file, as layout proposals use: any
//! instance of that program).
//!
//! Pure state, tested on the host against a reference model.

#![forbid(unsafe_code)]

use abi::Rights;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// A process id.
pub type Pid = u64;

/// Who a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    /// One process (pids are never reused).
    Process(Pid),
    /// Every instance of the program whose ELF file has this hash.
    Program(u64),
}

/// A process as the ACL sees it: its pid and its program's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Its pid.
    pub pid: Pid,
    /// The hash of its ELF file.
    pub program: u64,
}

impl Caller {
    /// Whether `identity` names this process.
    pub fn is(&self, identity: Identity) -> bool {
        match identity {
            Identity::Process(pid) => pid == self.pid,
            Identity::Program(program) => program == self.program,
        }
    }
}

/// A grant's kernel-wide name (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId(pub u64);

/// Pages `[start, end)` of the partition, as page offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageRange {
    /// The first page.
    pub start: u64,
    /// One past the last.
    pub end: u64,
}

impl PageRange {
    /// Whether it holds at least one page.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Whether `other` lies inside it.
    pub fn covers(&self, other: PageRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether page `page` lies inside it.
    pub fn contains(&self, page: u64) -> bool {
        self.start <= page && page < self.end
    }

    /// Pages in it.
    pub fn pages(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Who made a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granter {
    /// The partition's owner.
    Owner,
    /// The holder of this grant (a re-grant).
    Grant(GrantId),
}

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Its id.
    pub id: GrantId,
    /// Whom it is for.
    pub identity: Identity,
    /// The rights it gives (within its granter's).
    pub rights: Rights,
    /// The pages it covers (within its granter's).
    pub range: PageRange,
    /// Who made it.
    pub granted_by: Granter,
    /// The pid of the process that made it.
    pub granted_by_pid: Pid,
}

/// One mapping of a grant in a grantee's space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The grant mapped.
    pub grant: GrantId,
    /// The process whose space maps it.
    pub pid: Pid,
    /// The virtual address of the grant's first page there.
    pub address: u64,
    /// The rights of the mapping (at most the grant's effective rights).
    pub rights: Rights,
}

/// Why the ACL refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclError {
    /// No such grant was ever made.
    NoSuchGrant,
    /// The grant was revoked (or its granter's was).
    Revoked,
    /// The caller is not whom the grant is for, not the owner, or not the
    /// granter of what it tries to revoke.
    NotYours,
    /// The rights asked for are not all held (or re-granting without
    /// [`Rights::GRANT`]).
    TooManyRights,
    /// The range is empty or not inside the granter's (or the partition).
    BadRange,
    /// The process maps this grant already.
    AlreadyMapped,
    /// The process does not map this grant.
    NotMapped,
}

impl From<AclError> for abi::Error {
    fn from(error: AclError) -> abi::Error {
        match error {
            AclError::NoSuchGrant => abi::Error::NotFound,
            AclError::Revoked => abi::Error::Revoked,
            AclError::NotYours | AclError::TooManyRights => abi::Error::PermissionDenied,
            AclError::BadRange => abi::Error::InvalidArgument,
            AclError::AlreadyMapped => abi::Error::AddressInUse,
            AclError::NotMapped => abi::Error::NotFound,
        }
    }
}

/// The ACL of one shared partition of `pages` pages.
#[derive(Clone, Debug)]
pub struct Acl {
    owner: Pid,
    pages: u64,
    grants: BTreeMap<GrantId, Grant>,
    /// By grant and mapping process: one mapping each.
    mappings: BTreeMap<(GrantId, Pid), Mapping>,
    revoked: BTreeSet<GrantId>,
    next: u64,
}

impl Acl {
    /// An empty list for `owner`'s partition of `pages` pages; grant ids
    /// start at `first_id` (ids are unique kernel-wide when each ACL gets
    /// its own block, see `share`).
    pub fn new(owner: Pid, pages: u64, first_id: u64) -> Acl {
        Acl { owner, pages, grants: BTreeMap::new(), mappings: BTreeMap::new(), revoked: BTreeSet::new(), next: first_id }
    }

    /// The partition has grown to `pages` pages: grants may cover them
    /// (it never shrinks under its grants' ranges here; the VASS keeps a
    /// partition from shrinking under its views).
    pub fn grow(&mut self, pages: u64) {
        self.pages = self.pages.max(pages);
    }

    /// The owner's pid.
    pub fn owner(&self) -> Pid {
        self.owner
    }

    /// The live grants, in the order made.
    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.grants.values()
    }

    /// Every mapping of every live grant.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    /// The grant `id`, if live.
    pub fn grant(&self, id: GrantId) -> Result<&Grant, AclError> {
        match self.grants.get(&id) {
            Some(grant) => Ok(grant),
            None if self.revoked.contains(&id) => Err(AclError::Revoked),
            None => Err(AclError::NoSuchGrant),
        }
    }

    /// The rights and range `caller` holds through `through` (the owner:
    /// everything; a grant: its effective rights, the intersection along
    /// its chain, if the grant is for `caller`).
    pub fn held(&self, caller: Caller, through: Granter) -> Result<(Rights, PageRange), AclError> {
        match through {
            Granter::Owner if caller.pid == self.owner => Ok((Rights::all(), PageRange { start: 0, end: self.pages })),
            Granter::Owner => Err(AclError::NotYours),
            Granter::Grant(id) => {
                let grant = self.grant(id)?;
                if !caller.is(grant.identity) {
                    return Err(AclError::NotYours);
                }
                Ok((self.effective(id)?, grant.range))
            }
        }
    }

    /// The rights grant `id` gives now: its own, intersected with every
    /// granter's up the chain.
    pub fn effective(&self, id: GrantId) -> Result<Rights, AclError> {
        let mut rights = Rights::all();
        let mut at = Granter::Grant(id);
        while let Granter::Grant(id) = at {
            let grant = self.grant(id)?;
            rights &= grant.rights;
            at = grant.granted_by;
        }
        Ok(rights)
    }

    /// `caller` grants `rights` over `range` to `identity`, through
    /// `through` (as owner, or re-granting a grant it holds, which needs
    /// [`Rights::GRANT`]).
    pub fn grant_to(&mut self, caller: Caller, through: Granter, identity: Identity, rights: Rights, range: PageRange) -> Result<GrantId, AclError> {
        let (held, held_range) = self.held(caller, through)?;
        if through != Granter::Owner && !held.contains(Rights::GRANT) {
            return Err(AclError::TooManyRights);
        }
        if !held.contains(rights) {
            return Err(AclError::TooManyRights);
        }
        if range.is_empty() || !held_range.covers(range) {
            return Err(AclError::BadRange);
        }
        let id = GrantId(self.next);
        self.next += 1;
        self.grants.insert(id, Grant { id, identity, rights, range, granted_by: through, granted_by_pid: caller.pid });
        Ok(id)
    }

    /// `caller` maps grant `id` at `address` with `rights` (at most the
    /// grant's effective rights; the caller must be whom it is for).
    pub fn map(&mut self, caller: Caller, id: GrantId, address: u64, rights: Rights) -> Result<Mapping, AclError> {
        let (held, _) = self.held(caller, Granter::Grant(id))?;
        if !held.contains(rights) {
            return Err(AclError::TooManyRights);
        }
        if self.mappings.contains_key(&(id, caller.pid)) {
            return Err(AclError::AlreadyMapped);
        }
        let mapping = Mapping { grant: id, pid: caller.pid, address, rights };
        self.mappings.insert((id, caller.pid), mapping);
        Ok(mapping)
    }

    /// The mapping of grant `id` by `pid`.
    pub fn mapping_of(&self, id: GrantId, pid: Pid) -> Result<Mapping, AclError> {
        self.grant(id)?;
        self.mappings.get(&(id, pid)).copied().ok_or(AclError::NotMapped)
    }

    /// Changes the rights of `pid`'s mapping of `id` to `rights` (a
    /// protect), within the grant's effective rights.
    pub fn protect(&mut self, id: GrantId, pid: Pid, rights: Rights) -> Result<Mapping, AclError> {
        let mapping = self.mapping_of(id, pid)?;
        if !self.effective(id)?.contains(rights) {
            return Err(AclError::TooManyRights);
        }
        let changed = Mapping { rights, ..mapping };
        self.mappings.insert((id, pid), changed);
        Ok(changed)
    }

    /// Forgets `pid`'s mapping of `id` (it unmapped it).
    pub fn unmap(&mut self, id: GrantId, pid: Pid) -> Result<Mapping, AclError> {
        self.grant(id)?;
        self.mappings.remove(&(id, pid)).ok_or(AclError::NotMapped)
    }

    /// Whether `caller` may revoke `id`: the owner may revoke any grant;
    /// a granter what it granted, and (transitively) what was granted
    /// from that. The granter is the process that made the grant, not
    /// every holder of the grant it was made through: of a grant to a
    /// program, one instance's re-grants are its own to revoke.
    fn may_revoke(&self, caller: Caller, id: GrantId) -> Result<bool, AclError> {
        if caller.pid == self.owner {
            self.grant(id)?;
            return Ok(true);
        }
        let mut grant = self.grant(id)?;
        loop {
            if grant.granted_by != Granter::Owner && grant.granted_by_pid == caller.pid {
                return Ok(true);
            }
            match grant.granted_by {
                Granter::Grant(parent) => grant = self.grant(parent)?,
                Granter::Owner => return Ok(false),
            }
        }
    }

    /// `caller` revokes grant `id` and every grant made from it: returns
    /// the grants removed and their mappings, which the caller unmaps in
    /// every space (and flushes) before anything else maps them.
    pub fn revoke(&mut self, caller: Caller, id: GrantId) -> Result<(Vec<GrantId>, Vec<Mapping>), AclError> {
        if !self.may_revoke(caller, id)? {
            return Err(AclError::NotYours);
        }
        Ok(self.revoke_tree(id))
    }

    /// Revokes every grant (the partition is destroyed or its owner ended).
    pub fn revoke_all(&mut self) -> (Vec<GrantId>, Vec<Mapping>) {
        let roots: Vec<GrantId> = self.grants.values().filter(|grant| grant.granted_by == Granter::Owner).map(|grant| grant.id).collect();
        let mut all = (Vec::new(), Vec::new());
        for root in roots {
            let (grants, mappings) = self.revoke_tree(root);
            all.0.extend(grants);
            all.1.extend(mappings);
        }
        all
    }

    /// Forgets every mapping `pid` holds (the process ended): returns them.
    pub fn forget_process(&mut self, pid: Pid) -> Vec<Mapping> {
        let gone: Vec<Mapping> = self.mappings.values().filter(|mapping| mapping.pid == pid).copied().collect();
        for mapping in &gone {
            self.mappings.remove(&(mapping.grant, mapping.pid));
        }
        gone
    }

    fn revoke_tree(&mut self, root: GrantId) -> (Vec<GrantId>, Vec<Mapping>) {
        let mut removed = Vec::new();
        let mut frontier = alloc::vec![root];
        while let Some(id) = frontier.pop() {
            if self.grants.remove(&id).is_none() {
                continue;
            }
            self.revoked.insert(id);
            removed.push(id);
            frontier.extend(self.grants.values().filter(|grant| grant.granted_by == Granter::Grant(id)).map(|grant| grant.id));
        }
        let unmapped: Vec<Mapping> = self.mappings.values().filter(|mapping| removed.contains(&mapping.grant)).copied().collect();
        for mapping in &unmapped {
            self.mappings.remove(&(mapping.grant, mapping.pid));
        }
        (removed, unmapped)
    }
}

#[cfg(test)]
mod tests;
