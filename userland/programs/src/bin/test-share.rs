//! Sharing partitions: grants made, carried as handles, mapped by their
//! identity only and within their rights, re-granted narrower, read back
//! from the ACL, revoked (the next touch is `fault=revoked`), a program's
//! code shared read+execute, and 64 processes mapping one partition.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, ExitReason, FaultKind, HandleRights, PartitionKind, Rights, Syscall, PAGE_SIZE};
use alloc::vec::Vec;
use programs::SharePeer as Peer;
use runtime::ipc::{self, Handle};
use runtime::share::{self, Identity};
use runtime::{check, check_eq, sys, take};

const RW: Rights = Rights::READ.union(Rights::WRITE);

fn word(address: u64) -> u64 {
    // SAFETY: every address passed lies in a partition of this process.
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

fn set(address: u64, value: u64) {
    // SAFETY: as for `word`, in a writable partition.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) }
}

fn raw(call: Syscall, args: [u64; 6]) -> Result<u64, Error> {
    // SAFETY: every pointer passed in these tests is either invalid (the
    // kernel must refuse it) or points into a live local buffer.
    abi::decode(unsafe { sys::syscall6(call as u64, args[0], args[1], args[2], args[3], args[4], args[5]) })
}

/// A function a peer executes from its view of our code.
#[inline(never)]
extern "C" fn forty_two() -> u64 {
    42
}

runtime::tests! {
    fn a_grant_to_oneself_maps_the_same_pages_twice() {
        let source = take!(sys::partition_create(4 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base + PAGE_SIZE, 7);
        let me = sys::getpid();
        let grant = take!(share::grant_create(source.id, Identity::Process(me), RW, 0, 4 * PAGE_SIZE));
        check_eq!(grant.info(), Ok((abi::ipc::ObjectKind::Grant, share::GRANT_RIGHTS)));
        let view = take!(share::grant_map(grant, RW, 0));
        check!(view.base != source.base);
        check_eq!(word(view.base + PAGE_SIZE), 7, "the owner's write, through the view");
        set(view.base + 3 * PAGE_SIZE, 9);
        check_eq!(word(source.base + 3 * PAGE_SIZE), 9, "the view's write, in the source");
        let info = take!(sys::partition_query(view.id));
        check_eq!((info.kind, info.size, info.owner), (PartitionKind::Shared.code(), 4 * PAGE_SIZE, me));
        let counters = sys::memory_counters();
        check!(counters.faults_shared >= 1, "a minor fault mapped the owner's page");
        let acl = take!(share::acl_read(source.id));
        check_eq!(acl.len(), 1);
        check_eq!((acl[0].identity_kind, acl[0].identity, acl[0].rights, acl[0].mappings), (abi::GrantSpec::PROCESS, me, u64::from(RW.bits()), 1));
        check_eq!(share::grant_map(grant, Rights::READ, 0).map(|p| p.id), Err(Error::AddressInUse), "mapped once per process");
        take!(sys::partition_destroy(view.id));
        check_eq!(take!(share::acl_read(source.id))[0].mappings, 0, "destroying the view gave its mapping back");
        check_eq!(word(source.base + 3 * PAGE_SIZE), 9, "the data stays with the source");
        take!(share::grant_revoke(grant));
        take!(sys::partition_destroy(source.id));
        take!(grant.close());
    }

    fn a_peer_reads_and_writes_through_its_view_until_revoked() {
        let source = take!(sys::partition_create(8 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base, 0x1234);
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), RW, 0, 8 * PAGE_SIZE));
        let keep = take!(grant.duplicate(HandleRights::empty()));
        let (_, base) = take!(peer.map(grant, RW));
        check!(base != 0);
        check_eq!(peer.read(0), Ok(0x1234));
        take!(peer.write(5 * PAGE_SIZE + 16, 0xbeef));
        check_eq!(word(source.base + 5 * PAGE_SIZE + 16), 0xbeef, "the peer's write reached the owner");
        check_eq!(take!(share::grant_revoke(keep)), 1, "one view revoked");
        check_eq!(share::grant_revoke(keep), Err(Error::Revoked), "revoked once");
        // The peer's next touch faults and kills it: its call ends unanswered.
        check_eq!(peer.read(0).err(), Some(Error::PeerClosed));
        match peer.end() {
            Some(ExitReason::Faulted { kind, address }) => {
                check_eq!(kind, FaultKind::Revoked);
                check_eq!(address, base);
            }
            other => check!(false, "the peer ended {other:?}"),
        }
        check_eq!(word(source.base + 5 * PAGE_SIZE + 16), 0xbeef, "the owner keeps its data");
        take!(sys::partition_destroy(source.id));
        take!(keep.close());
    }

    fn a_view_gives_no_more_than_its_grant() {
        let source = take!(sys::partition_create(2 * PAGE_SIZE, PartitionKind::Shared, RW));
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), Rights::READ, 0, PAGE_SIZE));
        let spare = take!(grant.duplicate(share::GRANT_RIGHTS));
        check_eq!(peer.map(spare, RW).err(), Some(Error::PermissionDenied), "more than the grant's rights");
        take!(peer.map(grant, Rights::READ));
        check_eq!(peer.read(0), Ok(0));
        check_eq!(peer.call(8, &[u64::from(RW.bits())], &[]).map(|answer| answer.0), Ok(Err(Error::PermissionDenied)), "protect cannot widen a view");
        // A write through the read-only view kills it.
        check_eq!(peer.write(0, 1).err(), Some(Error::PeerClosed));
        match peer.end() {
            Some(ExitReason::Faulted { kind: FaultKind::WriteToReadOnly, .. }) => {}
            other => check!(false, "the peer ended {other:?}"),
        }
        check_eq!(word(source.base), 0, "the refused write changed nothing");
        take!(sys::partition_destroy(source.id));
    }

    fn only_the_grants_identity_maps_it() {
        let source = take!(sys::partition_create(PAGE_SIZE, PartitionKind::Shared, RW));
        let alice = take!(Peer::start(0));
        let mallory = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(alice.pid), RW, 0, PAGE_SIZE));
        let copy = take!(grant.duplicate(share::GRANT_RIGHTS));
        check_eq!(mallory.map(copy, Rights::READ).err(), Some(Error::PermissionDenied), "a third party holding the handle");
        check_eq!(share::grant_map(grant, Rights::READ, 0).map(|p| p.id), Err(Error::PermissionDenied), "nor the owner");
        take!(alice.map(grant, RW));
        let own = take!(share::grant_create(source.id, Identity::OwnProgram, Rights::READ, 0, PAGE_SIZE));
        check_eq!(alice.map(own, Rights::READ).err(), Some(Error::PermissionDenied), "another program");
        check!(matches!(alice.end(), Some(ExitReason::Exited(0))));
        check!(matches!(mallory.end(), Some(ExitReason::Exited(0))));
        take!(sys::partition_destroy(source.id));
    }

    fn forged_closed_and_wrong_handles_are_refused() {
        let source = take!(sys::partition_create(PAGE_SIZE, PartitionKind::Shared, RW));
        let grant = take!(share::grant_create(source.id, Identity::Process(sys::getpid()), RW, 0, PAGE_SIZE));
        let mut value = 0x2545_f491_4f6c_dd1du64;
        let mut refused = 0;
        for _ in 0..500 {
            value ^= value << 13;
            value ^= value >> 7;
            value ^= value << 17;
            for forged in [value, value & 0xffff] {
                if forged == grant.raw() {
                    continue;
                }
                check_eq!(share::grant_map(Handle(forged), Rights::READ, 0).map(|p| p.id), Err(Error::BadHandle), "{forged:#x}");
                check_eq!(share::grant_revoke(Handle(forged)), Err(Error::BadHandle), "{forged:#x}");
                refused += 1;
            }
        }
        check_eq!(refused, 1000);
        let endpoint = take!(ipc::endpoint_create());
        check_eq!(share::grant_map(endpoint, Rights::READ, 0).map(|p| p.id), Err(Error::InvalidArgument), "an endpoint is no grant");
        let no_map = take!(grant.duplicate(HandleRights::TRANSFER));
        check_eq!(share::grant_map(no_map, Rights::READ, 0).map(|p| p.id), Err(Error::PermissionDenied), "a handle without MAP");
        take!(no_map.close());
        take!(grant.close());
        check_eq!(share::grant_map(grant, Rights::READ, 0).map(|p| p.id), Err(Error::BadHandle), "closed");
        take!(endpoint.close());
        take!(sys::partition_destroy(source.id));
    }

    fn bad_grants_are_refused_with_typed_errors() {
        let source = take!(sys::partition_create(4 * PAGE_SIZE, PartitionKind::Shared, RW));
        let me = Identity::Process(sys::getpid());
        check_eq!(share::grant_create(source.id, me, RW, 1, PAGE_SIZE).map(|h| h.raw()), Err(Error::InvalidArgument), "unaligned");
        check_eq!(share::grant_create(source.id, me, RW, 0, 0).map(|h| h.raw()), Err(Error::InvalidArgument), "empty");
        check_eq!(share::grant_create(source.id, me, RW, 0, 5 * PAGE_SIZE).map(|h| h.raw()), Err(Error::InvalidArgument), "past the end");
        check_eq!(share::grant_create(source.id, me, Rights::empty(), 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::InvalidArgument), "no rights");
        check_eq!(share::grant_create(source.id, me, Rights::READ | Rights::EXECUTE, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::PermissionDenied), "beyond the partition's rights");
        check_eq!(share::grant_create(source.id, me, Rights::WRITE, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::InvalidArgument), "writing without reading");
        check_eq!(share::grant_create(source.id, Identity::Process(1 << 40), RW, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::NotFound), "no such process");
        check_eq!(share::grant_create(1 << 40, me, RW, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::NotFound), "no such partition");
        let words = [9u64, 0, u64::from(RW.bits()), 0, PAGE_SIZE];
        check_eq!(raw(Syscall::GrantCreate, [source.id, words.as_ptr() as u64, 0, 0, 0, 0]), Err(Error::InvalidArgument), "unknown identity kind");
        check_eq!(raw(Syscall::GrantCreate, [source.id, 0x10, 0, 0, 0, 0]), Err(Error::BadAddress), "a bad pointer");
        check_eq!(raw(Syscall::GrantCreate, [source.id, words.as_ptr() as u64 + 1, 0, 0, 0, 0]), Err(Error::BadAddress), "unaligned pointer");
        let grant = take!(share::grant_create(source.id, me, Rights::READ, 0, PAGE_SIZE));
        check_eq!(share::grant_map(grant, Rights::READ | Rights::GRANT, 0).map(|p| p.id), Err(Error::InvalidArgument), "GRANT is no page right");
        check_eq!(share::grant_map(grant, Rights::READ, 0x1234).map(|p| p.id), Err(Error::InvalidArgument), "unaligned address");
        check_eq!(share::grant_map(grant, Rights::READ, source.base).map(|p| p.id), Err(Error::AddressInUse), "on top of the source");
        check_eq!(share::grant_derive(grant, me, Rights::READ, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::PermissionDenied), "no GRANT right to re-grant");
        check_eq!(share::acl_read(1 << 40).map(|acl| acl.len()), Err(Error::NotFound));
        take!(grant.close());
        take!(sys::partition_destroy(source.id));
    }

    fn a_grant_to_a_process_that_ended_is_never_usable() {
        let source = take!(sys::partition_create(PAGE_SIZE, PartitionKind::Shared, RW));
        let gone = take!(Peer::start(0));
        let pid = gone.pid;
        let grant = take!(share::grant_create(source.id, Identity::Process(pid), RW, 0, PAGE_SIZE));
        check!(matches!(gone.end(), Some(ExitReason::Exited(0))));
        check_eq!(share::grant_create(source.id, Identity::Process(pid), RW, 0, PAGE_SIZE).map(|h| h.raw()), Err(Error::NotFound), "no grant to an ended pid");
        // The next process gets a new pid: the old grant is not its.
        let next = take!(Peer::start(0));
        check!(next.pid != pid, "pids are never reused");
        check_eq!(next.map(grant, RW).err(), Some(Error::PermissionDenied));
        check!(matches!(next.end(), Some(ExitReason::Exited(0))));
        take!(sys::partition_destroy(source.id));
    }

    fn destroying_a_shared_partition_revokes_every_view() {
        let source = take!(sys::partition_create(2 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base, 5);
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), RW, 0, 2 * PAGE_SIZE));
        let keep = take!(grant.duplicate(share::GRANT_RIGHTS));
        take!(peer.map(grant, RW));
        check_eq!(peer.read(0), Ok(5));
        take!(sys::partition_destroy(source.id));
        check_eq!(share::grant_revoke(keep), Err(Error::Revoked));
        check_eq!(peer.read(0).err(), Some(Error::PeerClosed), "the next touch killed it");
        check!(matches!(peer.end(), Some(ExitReason::Faulted { kind: FaultKind::Revoked, .. })));
        take!(keep.close());
    }

    fn re_grants_narrow_and_the_acl_shows_the_chain() {
        let source = take!(sys::partition_create(4 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base + 2 * PAGE_SIZE, 77);
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), RW | Rights::GRANT, 0, 4 * PAGE_SIZE));
        let keep = take!(grant.duplicate(share::GRANT_RIGHTS));
        let (peer_view, _) = take!(peer.map(grant, RW));
        // The peer re-grants us a narrower part; wider is refused.
        let (status, _, _) = take!(peer.call(4, &[0, 4 * PAGE_SIZE, u64::from((RW | Rights::EXECUTE).bits())], &[]));
        check_eq!(status, Err(Error::PermissionDenied));
        let (status, _, answer) = take!(peer.call(4, &[2 * PAGE_SIZE, PAGE_SIZE, u64::from(Rights::READ.bits())], &[]));
        check_eq!(status, Ok(0));
        let derived = Handle(take!(answer.received_handles().next().ok_or(Error::NotFound)).handle);
        let view = take!(share::grant_map(derived, Rights::READ, 0));
        check_eq!(word(view.base), 77, "offset 2 pages of the source");
        let acl = take!(share::acl_read(source.id));
        check_eq!(acl.len(), 2);
        let first = acl[0];
        let second = acl[1];
        check_eq!((first.granted_by, first.rights, first.mappings), (0, u64::from((RW | Rights::GRANT).bits()), 1));
        check_eq!((second.granted_by, second.granted_by_pid, second.identity, second.offset, second.length), (first.grant, peer.pid, sys::getpid(), 2 * PAGE_SIZE, PAGE_SIZE));
        check_eq!(second.effective, u64::from(Rights::READ.bits()));
        check_eq!(share::acl_read(peer_view).map(|acl| acl.len()), Err(Error::PermissionDenied), "another process's partition");
        // Revoking the first grant takes the re-grant (our view) with it.
        check_eq!(take!(share::grant_revoke(keep)), 2);
        check_eq!(share::grant_map(derived, Rights::READ, 0).map(|p| p.id), Err(Error::Revoked));
        check_eq!(sys::page_query(view.base).map(|_| ()), Err(Error::Revoked), "a system call on a revoked view");
        check_eq!(raw(Syscall::PartitionQuery, [source.id, view.base, 0, 0, 0, 0]), Err(Error::Revoked), "a pointer into a revoked view");
        check_eq!(take!(share::acl_read(source.id)).len(), 0);
        take!(sys::partition_destroy(view.id));
        let _ = peer.end();
        take!(sys::partition_destroy(source.id));
        take!(keep.close());
        take!(derived.close());
    }

    fn code_is_shared_read_and_execute() {
        let address = forty_two as *const () as u64;
        let mut ids = [0u64; 64];
        let count = take!(sys::partition_list(&mut ids));
        let code = take!(ids[..count]
            .iter()
            .filter_map(|&id| sys::partition_query(id).ok())
            .find(|info| info.base <= address && address < info.base + info.size)
            .ok_or(Error::NotFound));
        let rx = Rights::READ | Rights::EXECUTE;
        check_eq!((code.rights, code.max_rights, code.sealed), (u64::from(rx.bits()), u64::from(rx.bits()), 1));
        if code.kind == PartitionKind::Shared.code() {
            // `text=shared` (the default): our text is the kernel's text
            // store's, one copy mapped into every instance of this program
            // (the kernel's tests compare their frames). We run it, and
            // may share it read+execute (re-granting the grant every
            // instance holds), never write or destroy it.
            check_eq!(sys::partition_destroy(code.id), Err(Error::PermissionDenied));
            check_eq!(sys::partition_protect(code.id, 0, code.size, RW), Err(Error::PermissionDenied));
        } else {
            // `text=private` (`tests/text.rs` boots so): our own code partition.
            check_eq!(code.kind, PartitionKind::Code.code());
        }
        check_eq!(share::grant_create(code.id, Identity::Process(sys::getpid()), RW, 0, PAGE_SIZE).map(|h| h.raw()).err(), Some(Error::PermissionDenied), "code is never granted writable");
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(code.id, Identity::Process(peer.pid), Rights::READ | Rights::EXECUTE, 0, code.size));
        take!(peer.map(grant, Rights::READ | Rights::EXECUTE));
        let (status, words, _) = take!(peer.call(7, &[address - code.base], &[]));
        check_eq!((status, words.first().copied()), (Ok(0), Some(42)), "the peer ran our code from its view");
        check!(matches!(peer.end(), Some(ExitReason::Exited(0))));
    }

    fn two_instances_of_a_program_run_the_same_frames_of_text_under_text_shared() {
        let first = take!(Peer::start(0));
        let second = take!(Peer::start(0));
        let (status, one, _) = take!(first.call(20, &[], &[]));
        check_eq!(status, Ok(0));
        let (status, two, _) = take!(second.call(20, &[], &[]));
        check_eq!(status, Ok(0));
        check_eq!(one[1], two[1], "both load text the same way");
        check!(one[0] != 0 && two[0] != 0, "mapped at load");
        if one[1] == PartitionKind::Shared.code() {
            check_eq!(one[0], two[0], "one copy of the text for both");
        } else {
            check!(one[0] != two[0], "text=private: a copy each");
        }
        // The first ends; the second still runs its text.
        check!(matches!(first.end(), Some(ExitReason::Exited(0))));
        let (status, again, _) = take!(second.call(20, &[], &[]));
        check_eq!((status, again[0]), (Ok(0), two[0]));
        let (status, words, _) = take!(second.call(11, &[], &[]));
        check_eq!(status.map(|_| ()), Ok(()));
        let (status, words, _) = take!(second.call(13, &[2, words[0]], &[]));
        check_eq!(status.map(|_| words.first().copied()), Ok(Some(42)), "and runs it");
        check!(matches!(second.end(), Some(ExitReason::Exited(0))));
    }

    fn shared_pages_are_charged_to_the_owner_and_come_back_from_swap() {
        const PAGES: u64 = 96;
        const BUDGET: u64 = 64;
        let owner = take!(Peer::start(BUDGET));
        check_eq!(take!(owner.call(10, &[PAGES * PAGE_SIZE, u64::from(RW.bits())], &[])).0, Ok(0));
        let (status, _, answer) = take!(owner.call(12, &[sys::getpid(), u64::from(RW.bits())], &[]));
        check_eq!(status, Ok(0));
        let grant = Handle(take!(answer.received_handles().next().ok_or(Error::NotFound)).handle);
        let view = take!(share::grant_map(grant, RW, 0));
        let before = sys::memory_counters();
        // Every page written through our view: more than the owner's budget.
        for page in 1..PAGES {
            set(view.base + page * PAGE_SIZE, page * 3 + 1);
        }
        let (status, words, _) = take!(owner.call(16, &[], &[]));
        check_eq!(status, Ok(0));
        let (committed, swap_outs, budget) = (words[0], words[1], words[2]);
        check_eq!(budget, BUDGET);
        check!(committed <= BUDGET, "the owner is charged and held to its budget: {committed} committed");
        check!(swap_outs > 0, "pages went to swap");
        // Read back through the view: the pages come back (major faults).
        for page in 1..PAGES {
            check_eq!(word(view.base + page * PAGE_SIZE), page * 3 + 1, "page {page}");
        }
        let after = sys::memory_counters();
        check_eq!(after.committed, before.committed, "a mapper is charged nothing");
        check!(after.faults_major > before.faults_major, "our faults read pages back");
        check_eq!(word(view.base), 0, "the owner's own first page, offsets from 0");
        take!(sys::partition_destroy(view.id));
        let _ = owner.end();
        take!(grant.close());
    }

    fn replicas_stay_coherent_when_the_owner_writes() {
        let source = take!(sys::partition_create(4 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base, 1);
        let readers: Vec<Peer> = (0..2).filter_map(|_| Peer::start(0).ok()).collect();
        check_eq!(readers.len(), 2);
        for reader in &readers {
            let grant = take!(share::grant_create(source.id, Identity::Process(reader.pid), Rights::READ, 0, 4 * PAGE_SIZE));
            take!(reader.map(grant, Rights::READ));
            check_eq!(take!(reader.call(18, &[1], &[])).0, Ok(0), "replicate");
            check_eq!(reader.read(0), Ok(1));
        }
        let info = take!(sys::page_query(source.base));
        check_eq!(info.rights, u64::from(RW.bits()), "the VASS still grants us writing");
        let before = sys::memory_counters();
        // Our write faults once (the page is write-protected while it has
        // replicas), invalidates both, and each reader copies it anew.
        set(source.base, 2);
        let after = sys::memory_counters();
        check_eq!(after.replica_invalidations, before.replica_invalidations + 1);
        for reader in &readers {
            check_eq!(reader.read(0), Ok(2), "never the stale copy");
            let (status, words, _) = take!(reader.call(16, &[], &[]));
            check_eq!(status, Ok(0));
            check_eq!(words[3], 2, "two replica faults: before and after the write");
        }
        set(source.base + 8, 3);
        check_eq!(sys::memory_counters().replica_invalidations, after.replica_invalidations + 1);
        for reader in readers {
            check_eq!(reader.read(8), Ok(3));
            check_eq!(reader.call(2, &[0, 9], &[]).map(|answer| answer.0).err(), Some(Error::PeerClosed), "a replica is read-only");
            check!(matches!(reader.end(), Some(ExitReason::Faulted { kind: FaultKind::WriteToReadOnly, .. })));
        }
        take!(sys::partition_destroy(source.id));
    }

    fn a_copy_on_write_mapping_is_a_private_snapshot() {
        let source = take!(sys::partition_create(2 * PAGE_SIZE, PartitionKind::Shared, RW));
        set(source.base, 1);
        let peer = take!(Peer::start(0));
        let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), Rights::READ, 0, 2 * PAGE_SIZE));
        let spare = take!(grant.duplicate(share::GRANT_RIGHTS));
        check_eq!(take!(peer.call(1, &[u64::from(RW.bits()), 0], &[ipc::moved(spare)])).0, Err(Error::PermissionDenied), "shared, a read grant maps read-only");
        let (status, _, _) = take!(peer.call(19, &[u64::from(RW.bits())], &[ipc::moved(grant)]));
        check_eq!(status, Ok(0), "a snapshot may be writable: its writes are its own");
        check_eq!(peer.read(0), Ok(1));
        // Our write (it faults once: the page is kept for the snapshot),
        // and the snapshot keeps what it had.
        let before = sys::memory_counters().replica_invalidations;
        set(source.base, 2);
        check_eq!(sys::memory_counters().replica_invalidations, before + 1);
        check_eq!(peer.read(0), Ok(1), "the snapshot");
        // Its write: never ours.
        take!(peer.write(PAGE_SIZE, 9));
        check_eq!((word(source.base + PAGE_SIZE), peer.read(PAGE_SIZE)), (0, Ok(9)));
        let (status, words, _) = take!(peer.call(16, &[], &[]));
        check_eq!((status, words[0] > 0), (Ok(0), true), "its copies are charged to it");
        check!(matches!(peer.end(), Some(ExitReason::Exited(0))));
        // Nothing keeps our pages write-protected any more: no fault.
        let before = sys::memory_counters().replica_invalidations;
        set(source.base, 3);
        check_eq!(sys::memory_counters().replica_invalidations, before);
        take!(sys::partition_destroy(source.id));
    }

    fn sixty_four_processes_map_one_partition() {
        const PAGES: u64 = 16;
        let source = take!(sys::partition_create(PAGES * PAGE_SIZE, PartitionKind::Shared, RW));
        for page in 0..PAGES {
            set(source.base + page * PAGE_SIZE, page + 1);
        }
        let expected: u64 = (1..=PAGES).sum();
        let mut peers = Vec::new();
        for _ in 0..64 {
            let peer = take!(Peer::start(0));
            let grant = take!(share::grant_create(source.id, Identity::Process(peer.pid), Rights::READ, 0, PAGES * PAGE_SIZE));
            take!(peer.map(grant, Rights::READ));
            peers.push(peer);
        }
        for peer in &peers {
            let (status, words, _) = take!(peer.call(9, &[PAGES], &[]));
            check_eq!((status, words.first().copied()), (Ok(0), Some(expected)));
        }
        let acl = take!(share::acl_read(source.id));
        check_eq!((acl.len(), acl.iter().map(|entry| entry.mappings).sum::<u64>()), (64, 64));
        let info = take!(sys::partition_query(source.id));
        check_eq!(info.committed_pages, PAGES, "one frame per page for all 65");
        for peer in peers {
            check!(matches!(peer.end(), Some(ExitReason::Exited(0))));
        }
        check_eq!(take!(share::acl_read(source.id)).iter().map(|entry| entry.mappings).sum::<u64>(), 0, "every mapping given back");
        take!(sys::partition_destroy(source.id));
    }
}
