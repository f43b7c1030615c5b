//! Benchmark for `cargo xtask bench ipc`: call/reply round trips to a
//! server process (`bin/ipc-peer echo`), empty and with 128 bytes each
//! way, and send + receive within one process, bare and carrying a
//! handle, timed with the TSC. Prints `bench <name> <iterations> <tsc
//! cycles>` lines (see xtask's bench).

#![no_std]
#![no_main]

use abi::HandleRights;
use runtime::ipc::{self, Handle};
use runtime::{println, sys};

const CALLS: u64 = 10_000;
const SENDS: u64 = 10_000;

runtime::entry!(main);

fn main(_args: runtime::Args) -> i32 {
    match run() {
        Ok(()) => 0,
        Err(error) => {
            println!("bench-ipc: {error}");
            1
        }
    }
}

fn run() -> Result<(), abi::Error> {
    println!("bench-tsc-hz {}", sys::clock().tsc_hz);
    let endpoint = ipc::endpoint_create()?;
    let server = endpoint.duplicate(HandleRights::SEND)?;
    let pid = ipc::spawn_with_handles("bin/ipc-peer", &["echo"], 0, &[ipc::moved_with(endpoint, HandleRights::RECEIVE)])?;
    // The first call lets the server start and block in its receive.
    ipc::call_endpoint(server, b"", &[])?;
    for (name, bytes) in [("ipc-call-reply", &[][..]), ("ipc-call-reply-128B", &[7u8; ipc::MAX_BYTES][..])] {
        let start = sys::tsc();
        for _ in 0..CALLS {
            core::hint::black_box(ipc::call_endpoint(server, bytes, &[])?);
        }
        println!("bench {name} {CALLS} {}", sys::tsc() - start);
    }
    server.close()?;
    sys::wait(pid)?;

    let local = ipc::endpoint_create()?;
    let start = sys::tsc();
    for _ in 0..SENDS {
        ipc::send(local, b"8 bytes!", &[])?;
        core::hint::black_box(ipc::try_receive(local)?);
    }
    println!("bench ipc-send-receive {SENDS} {}", sys::tsc() - start);

    let carried = ipc::endpoint_create()?;
    let start = sys::tsc();
    for _ in 0..SENDS {
        ipc::send(local, b"8 bytes!", &[ipc::duplicated(carried, HandleRights::SEND)])?;
        let message = ipc::try_receive(local)?;
        for handle in message.received_handles() {
            Handle(handle.handle).close()?;
        }
    }
    println!("bench ipc-send-receive-handle {SENDS} {}", sys::tsc() - start);
    Ok(())
}
