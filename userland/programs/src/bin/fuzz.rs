//! Helper: a seeded, deterministic system-call fuzzer.
//!
//! `fuzz <seed> <calls>` makes `calls` system calls with random numbers
//! and arguments drawn from boundary values (null, kernel, non-canonical,
//! unaligned, read-only, huge) and from a private scratch buffer, so the
//! kernel may write through valid pointers without hurting this program
//! (pointers into its own heap are redirected to the scratch buffer, and
//! the ids of the partitions it started with, its code, data, stack and
//! heap, to an id that names none: destroying or dropping them would end
//! it legitimately, which is no finding).
//! Some calls spawn children that fault or exit; each is waited for. It
//! keeps the handles its calls returned and often passes one as the
//! first argument of a handle call, so endpoints, duplicates, sends and
//! receives are reached past the handle check; likewise it keeps the
//! partitions it made and often grants one of them (half the time with a
//! well-formed grant, to itself or its program), so grants are made,
//! mapped, re-granted and revoked. It never calls `exit` by
//! number, caps sleeps, never injects a swap fault into its own pages
//! (`swap_debug` gets an unknown operation), receives only without
//! blocking and never calls one of its own endpoints (nobody else would
//! answer), so it cannot end or hang itself. Prints a summary and exits 0 if every result was a valid one.

#![no_std]
#![no_main]

extern crate alloc;

use abi::Syscall;
use runtime::{println, sys};

const SCRATCH_SIZE: usize = 128 * 1024;
/// Pointers go into the first half of the scratch buffer only: the kernel
/// may write a structure or a buffer's worth through one, and the second
/// half keeps that off whatever the linker put after the buffer (the
/// runtime's heap lock, once, which a write near the end overwrote: the
/// fuzzer then spun on its own lock forever).
const POINTER_SPAN: u64 = SCRATCH_SIZE as u64 / 2;
static mut SCRATCH: [u8; SCRATCH_SIZE] = [0; SCRATCH_SIZE];

/// xorshift64*: small, fast, and deterministic for a given seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

const PROGRAMS: [&str; 4] = ["bin/exit-code", "bin/read-address", "bin/fault-write-code", "bin/no-such-program"];

/// Where this program's heap and anonymous mappings live (the kernel's
/// `USER_HEAP` region). The kernel may legitimately write through a pointer
/// into it, which would corrupt the fuzzer's own allocator, so such values
/// are redirected to the scratch buffer.
const OWN_HEAP: core::ops::Range<u64> = 0x0000_2000_0000_0000..0x0000_3000_0000_0000;

fn argument(random: &mut Random, own: &[u64]) -> u64 {
    let scratch = (&raw mut SCRATCH) as u64;
    let value = raw_argument(random, scratch);
    if OWN_HEAP.contains(&value) {
        scratch
    } else if own.contains(&value) {
        u64::MAX
    } else {
        value
    }
}

fn raw_argument(random: &mut Random, scratch: u64) -> u64 {
    match random.below(14) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => 0xffff_8000_0000_0000 + random.below(1 << 30),
        4 => 0xffff_ffff_8000_0000,
        5 => 0x8000_0000_0000_0000 | random.next(),
        6 => 0x40_0000 + random.below(0x4000),
        7 => scratch + random.below(POINTER_SPAN),
        8 => scratch + random.below(POINTER_SPAN / 2) * 2 + 1,
        9 => random.below(4096),
        10 => random.below(1 << 20),
        11 => 1 << random.below(64),
        12 => i64::MAX as u64,
        _ => random.next(),
    }
}

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let calls: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut ok, mut failed, mut invalid, mut children) = (0u64, 0u64, 0u64, 0u64);
    // The runtime makes its heap partition at the first allocation (a
    // spawn's arguments need one): make it now, so it is listed.
    drop(core::hint::black_box(alloc::boxed::Box::new(0u64)));
    let mut own = [0u64; 16];
    let count = sys::partition_list(&mut own).unwrap_or(0).min(own.len());
    let own = &own[..count];
    let mut handles: alloc::vec::Vec<u64> = alloc::vec::Vec::new();
    // Two partitions to share from the start (random creates rarely succeed).
    let mut made: alloc::vec::Vec<u64> = [4, 16]
        .iter()
        .filter_map(|&pages| sys::partition_create(pages * abi::PAGE_SIZE, abi::PartitionKind::Shared, abi::Rights::READ | abi::Rights::WRITE).ok())
        .map(|partition| partition.id)
        .collect();
    let mut grants: alloc::vec::Vec<u64> = alloc::vec::Vec::new();
    // Successful grant_create, grant_derive, grant_map, grant_revoke, acl_read.
    let mut sharing = [0u64; 5];
    for _ in 0..calls {
        let number = match random.below(20) {
            0 => random.next(),
            _ => 1 + random.below(Syscall::ALL.len() as u64 + 2),
        };
        let mut arguments = [0u64; 6];
        for slot in &mut arguments {
            *slot = argument(&mut random, own);
        }
        let call = Syscall::from_number(number);
        let takes_handle = matches!(
            call,
            Some(
                Syscall::HandleClose
                    | Syscall::HandleDuplicate
                    | Syscall::HandleInfo
                    | Syscall::IpcSend
                    | Syscall::IpcReceive
                    | Syscall::IpcCall
                    | Syscall::IpcReplyReceive
                    | Syscall::GrantDerive
                    | Syscall::GrantMap
                    | Syscall::GrantRevoke
            )
        );
        if takes_handle && !handles.is_empty() && random.below(2) == 0 {
            arguments[0] = handles[random.below(handles.len() as u64) as usize];
        }
        // Half the grants ask for something that can be granted: to this
        // process or its program, some rights, the first page.
        let spec = [1 + random.below(2), 0, random.below(16), 0, abi::PAGE_SIZE];
        let mut spec = spec;
        if spec[0] == abi::GrantSpec::PROCESS {
            spec[1] = sys::getpid();
        }
        if matches!(call, Some(Syscall::GrantCreate | Syscall::GrantDerive)) && random.below(2) == 0 {
            arguments[1] = spec.as_ptr() as u64;
        }
        if matches!(call, Some(Syscall::GrantDerive | Syscall::GrantMap | Syscall::GrantRevoke)) && !grants.is_empty() && random.below(2) == 0 {
            arguments[0] = grants[random.below(grants.len() as u64) as usize];
        }
        if call == Some(Syscall::GrantMap) && random.below(2) == 0 {
            arguments[1] = [1, 3, 5][random.below(3) as usize];
            arguments[2] = 0;
            arguments[3] = 0;
        }
        if matches!(call, Some(Syscall::GrantCreate | Syscall::AclRead)) && !made.is_empty() && random.below(2) == 0 {
            arguments[0] = made[random.below(made.len() as u64) as usize];
        }
        match call {
            Some(Syscall::Exit) => continue,
            Some(Syscall::SwapDebug) if matches!(arguments[0], abi::SWAP_DEBUG_CORRUPT | abi::SWAP_DEBUG_FAIL_READ) => {
                arguments[0] = u64::MAX;
            }
            Some(Syscall::IpcReceive) => arguments[2] |= abi::ipc::ReceiveFlags::NONBLOCK.bits(),
            Some(Syscall::IpcReplyReceive) => arguments[5] |= abi::ipc::ReceiveFlags::NONBLOCK.bits(),
            Some(Syscall::IpcCall) if handles.contains(&arguments[0]) => continue,
            Some(Syscall::Sleep) => arguments[0] %= 2,
            Some(Syscall::Wait) => arguments[0] = 0,
            // Valid writes would flood the console with scratch bytes.
            Some(Syscall::Write) if arguments[1] <= abi::limits::MAX_WRITE => {
                arguments[1] = 0;
            }
            Some(Syscall::Spawn) if random.below(8) == 0 => {
                let program = PROGRAMS[random.below(PROGRAMS.len() as u64) as usize];
                let argument = ["0", "ffff800000000000", "5"][random.below(3) as usize];
                if sys::spawn(program, &[argument]).is_ok() {
                    children += 1;
                }
                while sys::wait(0).is_ok() {}
                continue;
            }
            _ => {}
        }
        // SAFETY: pointer arguments are invalid, read-only, or inside the
        // private scratch buffer, which nothing else in this program reads.
        let raw = unsafe {
            sys::syscall6(number, arguments[0], arguments[1], arguments[2], arguments[3], arguments[4], arguments[5])
        };
        match abi::decode(raw) {
            Ok(value) => {
                ok += 1;
                let makes_handle =
                    matches!(call, Some(Syscall::EndpointCreate | Syscall::HandleDuplicate | Syscall::HandleStartup));
                if makes_handle && handles.len() < 512 {
                    handles.push(value);
                }
                if let Some(index) = number.checked_sub(Syscall::GrantCreate as u64).filter(|&index| index < 5) {
                    sharing[index as usize] += 1;
                }
                if matches!(call, Some(Syscall::GrantCreate | Syscall::GrantDerive)) && grants.len() < 64 {
                    grants.push(value);
                }
                if call == Some(Syscall::PartitionCreate) && made.len() < 64 {
                    made.push(value);
                }
            }
            Err(_) if (raw as i64) < 0 && abi::Error::from_code(-(raw as i64)).is_some() => failed += 1,
            Err(_) => invalid += 1,
        }
        // A successful spawn by fuzzing leaves a child: reap it.
        if number == Syscall::Spawn as u64 && (raw as i64) > 0 {
            children += 1;
            while sys::wait(0).is_ok() {}
        }
    }
    while sys::wait(0).is_ok() {}
    println!("fuzz: seed {seed}: {calls} calls, {ok} succeeded, {failed} refused, {invalid} malformed results, {children} children");
    let [grants, derived, maps, revokes, reads] = sharing;
    println!("fuzz: seed {seed}: sharing: {grants} grants, {derived} re-grants, {maps} maps, {revokes} revokes, {reads} ACL reads succeeded");
    if invalid == 0 { 0 } else { 1 }
}
