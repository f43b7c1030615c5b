//! A producer and two consumers over a shared ring, with an endpoint for
//! doorbells: what sharing looks like from programs.
//!
//! The producer (`share-demo`) makes a ring partition of 6 slots of one
//! page, starts two consumers (`share-demo consume`, each given the
//! receive side of its own doorbell endpoint and a send handle to the
//! producer's acknowledgement endpoint), grants each one the ring to
//! read, and sends the grant as the first doorbell. It then writes 64
//! records (a sequence number, a length, a checksum and the payload) into
//! the slots, ringing both doorbells with each slot's number; a slot is
//! written again only once both consumers acknowledged it. Each consumer
//! maps the ring once and checks every record it is rung for. At the end
//! the producer prints the ring's ACL, revokes both grants and checks
//! both consumers ended well.

#![no_std]
#![no_main]

extern crate alloc;

use abi::{Error, ExitReason, HandleRights, PartitionKind, Rights, PAGE_SIZE};
use alloc::vec::Vec;
use runtime::ipc::{self, Handle};
use runtime::share::{self, Identity};
use runtime::{println, sys};

const SLOTS: u64 = 6;
const RECORDS: u64 = 64;
/// Words of payload per record.
const PAYLOAD: u64 = 256;
/// The doorbell that ends a consumer.
const DONE: u64 = u64::MAX;

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let result = match args.get(1) {
        Some("consume") => consume(),
        _ => produce(),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            println!("share-demo: {error}");
            1
        }
    }
}

fn checksum(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |sum, word| (sum ^ word).wrapping_mul(0x100_0000_01b3))
}

fn read(address: u64) -> u64 {
    // SAFETY: every address passed lies in the ring, mapped here.
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

fn write(address: u64, value: u64) {
    // SAFETY: as for `read`, in the producer's writable ring.
    unsafe { core::ptr::write_volatile(address as *mut u64, value) }
}

struct Consumer {
    doorbell: Handle,
    pid: u64,
    grant: Handle,
}

fn produce() -> Result<(), Error> {
    let ring = sys::partition_create(SLOTS * PAGE_SIZE, PartitionKind::Shared, Rights::READ | Rights::WRITE)?;
    let acks = ipc::endpoint_create()?;
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let doorbell = ipc::endpoint_create()?;
        let ring_here = doorbell.duplicate(HandleRights::SEND | HandleRights::TRANSFER)?;
        let ack_there = acks.duplicate(HandleRights::SEND | HandleRights::TRANSFER)?;
        let pid = ipc::spawn_with_handles(
            "bin/share-demo",
            &["consume"],
            0,
            &[ipc::moved_with(doorbell, HandleRights::RECEIVE), ipc::moved_with(ack_there, HandleRights::SEND)],
        )?;
        let grant = share::grant_create(ring.id, Identity::Process(pid), Rights::READ, 0, SLOTS * PAGE_SIZE)?;
        // The first doorbell carries the grant (we keep a handle to revoke).
        ipc::send(ring_here, &[], &[ipc::duplicated(grant, share::GRANT_RIGHTS)])?;
        consumers.push(Consumer { doorbell: ring_here, pid, grant });
    }
    println!("share-demo: ring of {SLOTS} slots at {:#x}, consumers {} and {}", ring.base, consumers[0].pid, consumers[1].pid);
    // Acknowledgements each slot still waits for.
    let mut pending = [0u32; SLOTS as usize];
    for sequence in 0..RECORDS {
        let slot = sequence % SLOTS;
        while pending[slot as usize] > 0 {
            let ack = ipc::receive(acks)?;
            let acked = u64::from_le_bytes(ack.data().try_into().map_err(|_| Error::InvalidArgument)?);
            pending[acked as usize] -= 1;
        }
        let base = ring.base + slot * PAGE_SIZE;
        let payload = (0..PAYLOAD).map(|index| sequence.wrapping_mul(0x9e37_79b9) ^ index);
        for (index, word) in payload.clone().enumerate() {
            write(base + 24 + 8 * index as u64, word);
        }
        write(base, sequence);
        write(base + 8, PAYLOAD);
        write(base + 16, checksum(payload));
        for consumer in &consumers {
            ipc::send(consumer.doorbell, &slot.to_le_bytes(), &[])?;
        }
        pending[slot as usize] = consumers.len() as u32;
    }
    while pending.iter().any(|&count| count > 0) {
        let ack = ipc::receive(acks)?;
        let acked = u64::from_le_bytes(ack.data().try_into().map_err(|_| Error::InvalidArgument)?);
        pending[acked as usize] -= 1;
    }
    for entry in share::acl_read(ring.id)? {
        println!(
            "share-demo: acl: grant {} to pid {} rights {:?} bytes {:#x}+{:#x} granted by pid {} mapped {}",
            entry.grant,
            entry.identity,
            Rights::from_bits_truncate(entry.rights as u32),
            entry.offset,
            entry.length,
            entry.granted_by_pid,
            entry.mappings
        );
    }
    let mut failures = 0;
    for consumer in consumers {
        ipc::send(consumer.doorbell, &DONE.to_le_bytes(), &[])?;
        match sys::wait(consumer.pid).ok().and_then(|status| status.reason()) {
            Some(ExitReason::Exited(0)) => {}
            other => {
                println!("share-demo: consumer {} ended {other:?}", consumer.pid);
                failures += 1;
            }
        }
        share::grant_revoke(consumer.grant)?;
    }
    sys::partition_destroy(ring.id)?;
    println!("share-demo: {RECORDS} records through the ring to 2 consumers, {failures} failures");
    if failures == 0 { Ok(()) } else { Err(Error::InvalidArgument) }
}

fn consume() -> Result<(), Error> {
    let doorbell = ipc::startup_handle(0)?;
    let acks = ipc::startup_handle(1)?;
    let first = ipc::receive(doorbell)?;
    let grant = first.received_handles().next().map(|handle| Handle(handle.handle)).ok_or(Error::NotFound)?;
    let ring = share::grant_map(grant, Rights::READ, 0)?;
    let (mut records, mut last) = (0u64, None);
    loop {
        let bell = ipc::receive(doorbell)?;
        let slot = u64::from_le_bytes(bell.data().try_into().map_err(|_| Error::InvalidArgument)?);
        if slot == DONE {
            break;
        }
        let base = ring.base + slot * PAGE_SIZE;
        let (sequence, length, sum) = (read(base), read(base + 8), read(base + 16));
        let seen = checksum((0..length).map(|index| read(base + 24 + 8 * index)));
        if seen != sum || last.is_some_and(|last| sequence != last + 1) {
            println!("share-demo: pid {}: record {sequence} in slot {slot} is wrong", sys::getpid());
            return Err(Error::InvalidArgument);
        }
        last = Some(sequence);
        records += 1;
        ipc::send(acks, &slot.to_le_bytes(), &[])?;
    }
    println!("share-demo: consumer {} read {records} records through its view at {:#x}, every checksum right", sys::getpid(), ring.base);
    Ok(())
}
