//! The ACL matrix: every right a grant can carry × every operation (read,
//! write, execute, map, re-grant, protect, revoke) × every role (the
//! partition's owner, the grantee, a re-grantee, a third party holding the
//! grant's handle) × before and after the owner revokes the grant, each
//! cell done for real by `bin/share-peer` processes and checked to be
//! allowed or refused exactly as the ACL says. An access refused kills
//! the process that tried (its fault is checked), so each access cell
//! runs in a scene of its own.

#![no_std]
#![no_main]

extern crate alloc;

use abi::ipc::{HandleTransfer, Received};
use abi::{Error, ExitReason, Rights, PAGE_SIZE};
use alloc::format;
use alloc::vec::Vec;
use programs::SharePeer as Peer;
use runtime::ipc::{moved, Handle};
use runtime::{check, check_eq, println, sys, take};

const R: Rights = Rights::READ;
const RW: Rights = Rights::READ.union(Rights::WRITE);
/// The rights a grant carries in each row of the matrix: reading, and
/// each other right on top of it.
const SETS: [Rights; 4] = [R, RW, R.union(Rights::EXECUTE), R.union(Rights::GRANT)];
/// Bytes of the data partitions shared (the executable rows share the
/// owner's code partition).
const SIZE: u64 = 4 * PAGE_SIZE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Owner,
    Grantee,
    Regrantee,
    Third,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Execute,
    Map,
    Regrant,
    Protect,
    Revoke,
}

const ROLES: [Role; 4] = [Role::Owner, Role::Grantee, Role::Regrantee, Role::Third];
const ACCESSES: [Op; 3] = [Op::Read, Op::Write, Op::Execute];

/// What the ACL (and the owner's partition) allow: the reference every
/// cell is checked against.
fn expected(set: Rights, role: Role, op: Op, revoked: bool) -> bool {
    // The executable rows share the owner's code (read+execute); the
    // others a read+write data partition.
    let code = set.contains(Rights::EXECUTE);
    match role {
        Role::Owner => match op {
            Op::Read => true,
            Op::Write | Op::Protect => !code,
            Op::Execute => code,
            // The grant is not for the owner.
            Op::Map => false,
            // The owner grants anew whatever it revoked.
            Op::Regrant => true,
            Op::Revoke => !revoked,
        },
        Role::Grantee => {
            !revoked
                && match op {
                    Op::Read | Op::Map => true,
                    Op::Write | Op::Protect => set.contains(Rights::WRITE),
                    Op::Execute => set.contains(Rights::EXECUTE),
                    Op::Regrant => set.contains(Rights::GRANT),
                    // Not its granter.
                    Op::Revoke => false,
                }
        }
        // Re-granted reading only, and only where the grant carries GRANT.
        Role::Regrantee => !revoked && set.contains(Rights::GRANT) && matches!(op, Op::Read | Op::Map),
        Role::Third => false,
    }
}

/// Whether operation `op` was allowed for `peer`; a peer the operation
/// killed (its call ends unanswered) must have died of a fault.
fn attempt(peer: &Peer, op: u8, arguments: &[u64], transfers: &[HandleTransfer]) -> Result<Attempt, Error> {
    match peer.call(op, arguments, transfers) {
        Ok((Ok(_), words, _)) => Ok(Attempt::Allowed(words.first().copied().unwrap_or(0))),
        Ok((Err(error), _, _)) => Ok(Attempt::Refused(error)),
        Err(Error::PeerClosed) => match sys::wait(peer.pid).ok().and_then(|status| status.reason()) {
            Some(ExitReason::Faulted { kind, .. }) => Ok(Attempt::Killed(kind)),
            _ => Err(Error::PeerClosed),
        },
        Err(error) => Err(error),
    }
}

/// What became of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    Allowed(u64),
    Refused(Error),
    Killed(abi::FaultKind),
}

/// One scene: an owner that shares a partition with `set`, and the roles
/// a cell needs (the grantee maps its grant, a re-grantee maps what the
/// grantee re-grants it, a third party holds the grant's handle).
struct Scene {
    owner: Peer,
    grantee: Option<Peer>,
    regrantee: Option<Peer>,
    third: Option<Peer>,
    /// Where `forty_two` is in the shared code (executable rows) or 0.
    function: u64,
}

fn handle_of(answer: &Received) -> Result<Handle, Error> {
    answer.received_handles().next().map(|handle| Handle(handle.handle)).ok_or(Error::NotFound)
}

fn scene(set: Rights, roles: &[Role], revoked: bool) -> Result<Scene, Error> {
    let owner = Peer::start(0)?;
    let function = if set.contains(Rights::EXECUTE) {
        let (status, words, _) = owner.call(11, &[], &[])?;
        status?;
        words[0]
    } else {
        owner.call(10, &[SIZE, u64::from(RW.bits())], &[])?.0?;
        0
    };
    let needs = |role| roles.contains(&role);
    // Every scene has its grantee: "after revoke" is after its grant went.
    let grantee = Some(Peer::start(0)?);
    let mut scene = Scene { owner, grantee: None, regrantee: None, third: None, function };
    if let Some(grantee) = grantee {
        let (status, _, answer) = scene.owner.call(12, &[grantee.pid, u64::from(set.bits())], &[])?;
        status?;
        let grant = handle_of(&answer)?;
        let copy = grant.duplicate(abi::ipc::GRANT_RIGHTS)?;
        grantee.call(1, &[u64::from((set - Rights::GRANT).bits()), 0], &[moved(grant)])?.0?;
        if needs(Role::Regrantee) {
            let regrantee = Peer::start(0)?;
            // Reading, re-granted: refused where the grant lacks GRANT.
            if let (Ok(_), _, answer) = grantee.call(4, &[0, PAGE_SIZE, u64::from(R.bits()), regrantee.pid], &[])? {
                regrantee.call(1, &[u64::from(R.bits()), 0], &[moved(handle_of(&answer)?)])?.0?;
            }
            scene.regrantee = Some(regrantee);
        }
        if needs(Role::Third) {
            let third = Peer::start(0)?;
            // It holds the handle; mapping it is refused (checked as a cell).
            let _ = third.call(1, &[u64::from(R.bits()), 0], &[moved(copy)])?;
            scene.third = Some(third);
        } else {
            let _ = copy.close();
        }
        scene.grantee = Some(grantee);
    }
    if revoked {
        scene.owner.call(5, &[], &[])?.0?;
    }
    Ok(scene)
}

impl Scene {
    fn peer(&self, role: Role) -> Option<&Peer> {
        match role {
            Role::Owner => Some(&self.owner),
            Role::Grantee => self.grantee.as_ref(),
            Role::Regrantee => self.regrantee.as_ref(),
            Role::Third => self.third.as_ref(),
        }
    }

    /// Does `op` as `role`.
    fn attempt(&self, role: Role, op: Op) -> Result<Attempt, Error> {
        let Some(peer) = self.peer(role) else { return Ok(Attempt::Refused(Error::NotFound)) };
        let third = self.third.as_ref().map_or(0, |third| third.pid);
        match (role, op) {
            (Role::Owner, Op::Read) => attempt(peer, 13, &[0, 8], &[]),
            (Role::Owner, Op::Write) => attempt(peer, 13, &[1, 16], &[]),
            (Role::Owner, Op::Execute) => attempt(peer, 13, &[2, self.function], &[]),
            (_, Op::Read) => attempt(peer, 3, &[8], &[]),
            (_, Op::Write) => attempt(peer, 2, &[16, 0xfeed], &[]),
            (_, Op::Execute) => attempt(peer, 7, &[self.function], &[]),
            // The owner maps its own grant; the others map theirs anew.
            (Role::Owner, Op::Map) => attempt(peer, 15, &[u64::from(R.bits())], &[]),
            (_, Op::Map) => {
                let _ = peer.call(6, &[], &[])?;
                attempt(peer, 15, &[u64::from(R.bits())], &[])
            }
            (Role::Owner, Op::Regrant) => attempt(peer, 12, &[third.max(peer.pid), u64::from(R.bits())], &[]),
            (_, Op::Regrant) => attempt(peer, 4, &[0, PAGE_SIZE, u64::from(R.bits()), third.max(peer.pid)], &[]),
            (Role::Owner, Op::Protect) => attempt(peer, 14, &[u64::from(RW.bits())], &[]),
            (_, Op::Protect) => attempt(peer, 8, &[u64::from(RW.bits())], &[]),
            (_, Op::Revoke) => attempt(peer, 5, &[], &[]),
        }
    }

    fn end(self) {
        for peer in [Some(self.owner), self.grantee, self.regrantee, self.third].into_iter().flatten() {
            let _ = peer.end();
        }
    }
}

/// Whether the attempt's outcome is the one `allowed` says, with the
/// right evidence (an allowed execute returned 42; a write landed; a
/// killed process died of a fault that names the refusal).
fn agrees(attempt: Attempt, allowed: bool, op: Op, revoked: bool) -> bool {
    match (attempt, allowed) {
        (Attempt::Allowed(value), true) => op != Op::Execute || value == 42,
        (Attempt::Refused(_), false) => true,
        (Attempt::Killed(kind), false) => match (revoked, op) {
            (true, _) => matches!(kind, abi::FaultKind::Revoked | abi::FaultKind::WriteToReadOnly | abi::FaultKind::ExecuteNonExecutable),
            (false, Op::Write) => kind == abi::FaultKind::WriteToReadOnly,
            (false, Op::Execute) => kind == abi::FaultKind::ExecuteNonExecutable,
            (false, _) => false,
        },
        _ => false,
    }
}

runtime::tests! {
    fn every_cell_of_the_acl_matrix_is_enforced() {
        let mut cells = 0u32;
        let mut wrong = Vec::new();
        for set in SETS {
            for revoked in [false, true] {
                // Accesses: a scene each (a refused one kills the peer).
                for role in ROLES {
                    for op in ACCESSES {
                        let scene = take!(scene(set, &[role], revoked));
                        let attempt = take!(scene.attempt(role, op));
                        let allowed = expected(set, role, op, revoked);
                        if !agrees(attempt, allowed, op, revoked) {
                            wrong.push(format!("{set:?} {role:?} {op:?} revoked={revoked}: expected {} got {attempt:?}", if allowed { "allowed" } else { "refused" }));
                        }
                        // A write allowed reached the owner's partition.
                        if op == Op::Write && role != Role::Owner && matches!(attempt, Attempt::Allowed(_)) {
                            let seen = take!(scene.owner.call(13, &[0, 16], &[]));
                            if seen.1.first() != Some(&0xfeed) {
                                wrong.push(format!("{set:?} {role:?} write did not reach the owner: {:?}", seen.1));
                            }
                        }
                        cells += 1;
                        scene.end();
                    }
                }
                // The other operations in one scene, revocations last.
                let scene = take!(scene(set, &ROLES, revoked));
                for op in [Op::Protect, Op::Regrant, Op::Map, Op::Revoke] {
                    let order = if op == Op::Revoke { [Role::Grantee, Role::Regrantee, Role::Third, Role::Owner] } else { ROLES };
                    for role in order {
                        let attempt = take!(scene.attempt(role, op));
                        let allowed = expected(set, role, op, revoked);
                        if !agrees(attempt, allowed, op, revoked) {
                            wrong.push(format!("{set:?} {role:?} {op:?} revoked={revoked}: expected {} got {attempt:?}", if allowed { "allowed" } else { "refused" }));
                        }
                        cells += 1;
                    }
                }
                scene.end();
            }
        }
        for line in &wrong {
            println!("test-acl: {line}");
        }
        println!("test-acl: ACL matrix: {} of {cells} cells enforced as the ACL says", cells as usize - wrong.len());
        check_eq!(cells, 4 * 4 * 7 * 2);
        check!(wrong.is_empty(), "{} cells disagree", wrong.len());
    }
}
