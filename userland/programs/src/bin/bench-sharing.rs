//! Benchmark for `cargo xtask bench sharing`: grant + map + first touch +
//! unmap of 1 and of 512 pages, revoking a partition mapped by 1, 8 and
//! 64 processes (destroying it revokes every view; each mapper had touched
//! all 16 of its pages), a replica read fault (512 of them, in a
//! replicating view of this process's own partition), a write that
//! invalidates 1, 8 and 64 replicas (one per reader process), and passing
//! 1 MiB from one process to another
//! through a shared ring with a doorbell call per 64 KiB, against copying
//! it through 128-byte messages. Timed with the TSC; prints `bench <name>
//! <iterations> <tsc cycles>` lines (see xtask's bench).

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, HandleRights, PartitionKind, Rights, PAGE_SIZE};
use alloc::vec::Vec;
use programs::SharePeer as Peer;
use runtime::ipc;
use runtime::share::{self, Identity};
use runtime::{println, sys};

const RW: Rights = Rights::READ.union(Rights::WRITE);

fn touch(address: u64) {
    // SAFETY: every address passed lies in a partition of this process.
    unsafe { core::ptr::read_volatile(address as *const u64) };
}

fn fill(address: u64, value: u64) {
    // SAFETY: as for `touch`, writable.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) };
}

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    match run() {
        Ok(()) => 0,
        Err(error) => {
            println!("bench-sharing: {error}");
            1
        }
    }
}

fn run() -> Result<(), Error> {
    println!("bench-tsc-hz {}", sys::clock().tsc_hz);
    map_touch_unmap()?;
    let peers = revoke()?;
    replicas(peers)?;
    ring_versus_messages()
}

/// Grant + map + first touch of every page + unmap, in one process (the
/// owner's pages are committed: the touches are minor faults of sharing).
fn map_touch_unmap() -> Result<(), Error> {
    let me = Identity::Process(sys::getpid());
    for (name, pages, iterations) in [("share-map-touch-unmap-1", 1u64, 200u64), ("share-map-touch-unmap-512", 512, 10)] {
        let source = sys::partition_create(pages * PAGE_SIZE, PartitionKind::Shared, RW)?;
        sys::partition_commit(source.id, 0, pages * PAGE_SIZE)?;
        let start = sys::tsc();
        for _ in 0..iterations {
            let grant = share::grant_create(source.id, me, RW, 0, pages * PAGE_SIZE)?;
            let view = share::grant_map(grant, RW, 0)?;
            for page in 0..pages {
                touch(view.base + page * PAGE_SIZE);
            }
            sys::partition_destroy(view.id)?;
            share::grant_revoke(grant)?;
            grant.close()?;
        }
        println!("bench {name} {iterations} {}", sys::tsc() - start);
        sys::partition_destroy(source.id)?;
    }
    Ok(())
}

/// Destroying a partition that 1, 8 and 64 processes map (each touched all
/// 16 pages): every view is revoked, every entry unmapped and flushed.
fn revoke() -> Result<Vec<Peer>, Error> {
    const PAGES: u64 = 16;
    const ROUNDS: u64 = 4;
    let mut peers: Vec<Peer> = Vec::new();
    for mappers in [1usize, 8, 64] {
        while peers.len() < mappers {
            peers.push(Peer::start(0)?);
        }
        let mut cycles = 0;
        for _ in 0..ROUNDS {
            let source = sys::partition_create(PAGES * PAGE_SIZE, PartitionKind::Shared, RW)?;
            sys::partition_commit(source.id, 0, PAGES * PAGE_SIZE)?;
            for peer in &peers[..mappers] {
                let grant = share::grant_create(source.id, Identity::Process(peer.pid), Rights::READ, 0, PAGES * PAGE_SIZE)?;
                peer.value(1, &[u64::from(Rights::READ.bits()), 0], &[ipc::moved(grant)])?;
                peer.value(9, &[PAGES], &[])?;
            }
            let start = sys::tsc();
            sys::partition_destroy(source.id)?;
            cycles += sys::tsc() - start;
            // The peers let go of their revoked views.
            for peer in &peers[..mappers] {
                peer.value(6, &[], &[])?;
            }
        }
        println!("bench share-revoke-{mappers}-mappers {ROUNDS} {cycles}");
    }
    Ok(peers)
}

/// Replica read faults, then writes that invalidate 1, 8 and 64 replicas
/// of one page (each reader replicates it again between rounds).
fn replicas(peers: Vec<Peer>) -> Result<(), Error> {
    const PAGES: u64 = 512;
    const ROUNDS: u64 = 4;
    let me = Identity::Process(sys::getpid());
    let source = sys::partition_create(PAGES * PAGE_SIZE, PartitionKind::Shared, RW)?;
    sys::partition_commit(source.id, 0, PAGES * PAGE_SIZE)?;
    let grant = share::grant_create(source.id, me, Rights::READ, 0, PAGES * PAGE_SIZE)?;
    let view = share::grant_map(grant, Rights::READ, 0)?;
    sys::partition_advise(view.id, 0, PAGES * PAGE_SIZE, abi::Advice::Replicate)?;
    let start = sys::tsc();
    for page in 0..PAGES {
        touch(view.base + page * PAGE_SIZE);
    }
    println!("bench share-replica-read-fault {PAGES} {}", sys::tsc() - start);
    sys::partition_destroy(view.id)?;
    share::grant_revoke(grant)?;
    grant.close()?;
    sys::partition_destroy(source.id)?;

    for readers in [1usize, 8, 64] {
        let source = sys::partition_create(PAGE_SIZE, PartitionKind::Shared, RW)?;
        fill(source.base, 1);
        for peer in &peers[..readers] {
            let grant = share::grant_create(source.id, Identity::Process(peer.pid), Rights::READ, 0, PAGE_SIZE)?;
            peer.value(1, &[u64::from(Rights::READ.bits()), 0], &[ipc::moved(grant)])?;
            peer.value(18, &[1], &[])?;
            peer.value(3, &[0], &[])?;
        }
        let mut cycles = 0;
        for round in 0..ROUNDS {
            let start = sys::tsc();
            fill(source.base, round + 2);
            cycles += sys::tsc() - start;
            for peer in &peers[..readers] {
                if peer.value(3, &[0], &[])? != round + 2 {
                    println!("bench-sharing: a reader saw a stale replica");
                    return Err(Error::InvalidArgument);
                }
            }
        }
        println!("bench share-invalidate-{readers}-replicas {ROUNDS} {cycles}");
        for peer in &peers[..readers] {
            peer.value(6, &[], &[])?;
        }
        sys::partition_destroy(source.id)?;
    }
    for peer in peers {
        let _ = peer.end();
    }
    Ok(())
}

/// 1 MiB from this process to a consumer: through a shared ring (the
/// consumer maps it once; a call per 64 KiB chunk rings its doorbell and
/// it sums the chunk), against 128-byte messages (each a call the consumer
/// sums and answers).
fn ring_versus_messages() -> Result<(), Error> {
    const BYTES: u64 = 1 << 20;
    const CHUNK: u64 = 64 * 1024;
    const ROUNDS: u64 = 4;
    let ring = sys::partition_create(CHUNK * 2, PartitionKind::Shared, RW)?;
    let consumer = Peer::start(0)?;
    let grant = share::grant_create(ring.id, Identity::Process(consumer.pid), Rights::READ, 0, CHUNK * 2)?;
    consumer.value(1, &[u64::from(Rights::READ.bits()), 0], &[ipc::moved(grant)])?;
    // Both sides touch the ring once: the rounds measure the steady state.
    for offset in (0..CHUNK * 2).step_by(PAGE_SIZE as usize) {
        fill(ring.base + offset, 0);
    }
    consumer.value(17, &[0, CHUNK * 2], &[])?;
    let mut expected = 0u64;
    let mut seen = 0u64;
    let start = sys::tsc();
    for round in 0..ROUNDS {
        for chunk in 0..BYTES / CHUNK {
            // Two halves: the producer fills one while the consumer reads the other.
            let half = (chunk % 2) * CHUNK;
            for offset in (0..CHUNK).step_by(8) {
                let value = round ^ chunk ^ offset;
                fill(ring.base + half + offset, value);
                expected = expected.wrapping_add(value);
            }
            seen = seen.wrapping_add(consumer.value(17, &[half, CHUNK], &[])?);
        }
    }
    println!("bench share-ring-1MiB {ROUNDS} {}", sys::tsc() - start);
    if seen != expected {
        println!("bench-sharing: the ring delivered {seen:#x}, not {expected:#x}");
        return Err(Error::InvalidArgument);
    }
    let _ = consumer.end();
    sys::partition_destroy(ring.id)?;

    let endpoint = ipc::endpoint_create()?;
    let sink = endpoint.duplicate(HandleRights::SEND)?;
    let pid = ipc::spawn_with_handles("bin/ipc-peer", &["sink"], 0, &[ipc::moved_with(endpoint, HandleRights::RECEIVE)])?;
    ipc::call_endpoint(sink, b"", &[])?;
    let mut message = [0u8; ipc::MAX_BYTES];
    let start = sys::tsc();
    for round in 0..ROUNDS {
        for index in 0..BYTES / ipc::MAX_BYTES as u64 {
            message[0] = (round ^ index) as u8;
            core::hint::black_box(ipc::call_endpoint(sink, &message, &[])?);
        }
    }
    println!("bench ipc-copy-1MiB {ROUNDS} {}", sys::tsc() - start);
    sink.close()?;
    sys::wait(pid)?;
    Ok(())
}
