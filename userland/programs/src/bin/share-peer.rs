//! Helper for `test-share` and `test-acl`: a process that does with
//! grants what it is told. Its startup handle 0 is the endpoint it serves
//! calls on; each call is an operation byte and little-endian `u64`
//! arguments, answered with an `i64` status (an `abi::Error` code when
//! negative) and, for some, more words:
//!
//! - `1 rights at`: maps the grant the call carries (`grant_map`); answers
//!   the view's id and address (the grant handle is kept, as handle 1).
//! - `2 offset value`: writes `value` at the view's `offset`.
//! - `3 offset`: reads the word at the view's `offset` (a revoked view
//!   kills it here with `fault=revoked`).
//! - `4 offset length rights pid`: re-grants its grant to `pid` (0: the
//!   caller) with `grant_derive` and sends the new grant back in the
//!   answer.
//! - `5`: revokes its grant (`grant_revoke`); answers the views revoked.
//! - `6`: destroys its view.
//! - `7 offset`: executes the code at the view's `offset` (a function
//!   `fn() -> u64`) and answers what it returned.
//! - `8 rights`: protects its whole view to `rights`.
//! - `9 pages`: reads the first word of each of the view's first `pages`
//!   pages and answers their sum.
//! - `10 size rights`: creates a partition of its own (kind shared) and
//!   writes its offset into each word of its first page.
//! - `11`: takes its own code partition as its partition.
//! - `12 pid rights`: grants `pid` `rights` over all of its partition,
//!   keeps a handle (to its first grant: the one `5` revokes) and sends
//!   another back in the answer.
//! - `13 how offset`: reads (0), writes (1) or executes (2: `forty_two`'s
//!   offset in its code) its own partition at `offset`.
//! - `14 rights`: protects its own partition to `rights`.
//! - `15 rights`: maps the grant it holds again (after `6`).
//! - `16`: answers its memory counters `committed`, `swap_outs`, `budget`.
//! - `17 offset length`: answers the wrapping sum of the words of its view
//!   in `[offset, offset + length)` (a consumer of a shared ring).
//! - `18 on`: makes its view read through replicas (`Advice::Replicate`;
//!   0: `Advice::Unreplicate`).
//! - `19 rights`: maps the grant the call carries as a private
//!   copy-on-write snapshot (`grant_map_private`), as `1` does.
//! - `20`: answers the frame backing `forty_two`'s page (`page_query`) and
//!   the kind of the partition holding it (two instances share their text
//!   under `text=shared`).
//!
//! It exits 0 when its caller is gone.

#![no_std]
#![no_main]

use abi::Error;
use runtime::ipc::{self, Handle};
use runtime::share;

runtime::entry!(main);

/// What the peer holds: its grant, its view and a partition of its own.
#[derive(Default)]
struct Held {
    grant: Option<Handle>,
    view: Option<(u64, u64)>,
    own: Option<(u64, u64, u64)>,
}

/// A function other processes execute from their view of this code.
#[inline(never)]
extern "C" fn forty_two() -> u64 {
    42
}

/// The code partition holding `forty_two` (our own with `text=private`,
/// our view of the text store's with `text=shared`): id, base, size.
fn own_code() -> Result<(u64, u64, u64), Error> {
    let address = forty_two as *const () as u64;
    let mut ids = [0u64; 32];
    let count = runtime::sys::partition_list(&mut ids)?;
    ids[..count]
        .iter()
        .filter_map(|&id| runtime::sys::partition_query(id).ok())
        .find(|info| info.base <= address && address < info.base + info.size)
        .map(|info| (info.id, info.base, info.size))
        .ok_or(Error::NotFound)
}

fn main(_args: runtime::Args) -> i32 {
    let Ok(endpoint) = ipc::startup_handle(0) else { return 2 };
    let mut held = Held::default();
    let mut next = ipc::receive(endpoint);
    loop {
        let request = match next {
            Ok(request) => request,
            Err(Error::PeerClosed) => return 0,
            Err(_) => return 1,
        };
        let mut answer = [0u8; 64];
        let (words, handle) = serve(&mut held, &request);
        for (chunk, word) in answer.as_chunks_mut::<8>().0.iter_mut().zip(&words) {
            *chunk = word.to_le_bytes();
        }
        let length = 8 * words.len().min(8);
        next = match handle {
            Some(grant) => ipc::reply(&request, &answer[..length], &[ipc::moved(grant)]).and_then(|()| ipc::receive(endpoint)),
            None => ipc::reply_receive(&request, &answer[..length], endpoint),
        };
    }
}

fn status(result: Result<u64, Error>) -> u64 {
    match result {
        Ok(value) => value,
        Err(error) => (-error.code()) as u64,
    }
}

/// Does what `request` says: the words to answer, and a grant to send back.
fn serve(held: &mut Held, request: &abi::ipc::Received) -> (alloc::vec::Vec<u64>, Option<Handle>) {
    let data = request.data();
    let argument = |index: usize| -> u64 {
        let start = 1 + 8 * index;
        data.get(start..start + 8).map_or(0, |bytes| u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
    };
    let rights = |bits: u64| abi::Rights::from_bits_truncate(bits as u32);
    let view_address = |held: &Held, offset: u64| held.view.map(|(_, base)| base + offset).ok_or(Error::NotFound);
    match data.first().copied().unwrap_or(0) {
        1 => {
            let Some(grant) = request.received_handles().next().map(|handle| Handle(handle.handle)) else {
                return (alloc::vec![status(Err(Error::InvalidArgument))], None);
            };
            held.grant = Some(grant);
            match share::grant_map(grant, rights(argument(0)), argument(1)) {
                Ok(view) => {
                    held.view = Some((view.id, view.base));
                    (alloc::vec![0, view.id, view.base], None)
                }
                Err(error) => (alloc::vec![status(Err(error))], None),
            }
        }
        19 => {
            let Some(grant) = request.received_handles().next().map(|handle| Handle(handle.handle)) else {
                return (alloc::vec![status(Err(Error::InvalidArgument))], None);
            };
            held.grant = Some(grant);
            match share::grant_map_private(grant, rights(argument(0)), 0) {
                Ok(view) => {
                    held.view = Some((view.id, view.base));
                    (alloc::vec![0, view.id, view.base], None)
                }
                Err(error) => (alloc::vec![status(Err(error))], None),
            }
        }
        2 => {
            let written = view_address(held, argument(0)).map(|address| {
                // SAFETY: the address lies in the view this process mapped;
                // a fault there is the kernel's to resolve or to kill for.
                unsafe { core::ptr::write_volatile(address as *mut u64, argument(1)) };
                0
            });
            (alloc::vec![status(written)], None)
        }
        3 => match view_address(held, argument(0)) {
            // SAFETY: as for a write.
            Ok(address) => (alloc::vec![0, unsafe { core::ptr::read_volatile(address as *const u64) }], None),
            Err(error) => (alloc::vec![status(Err(error))], None),
        },
        4 => {
            let Some(grant) = held.grant else { return (alloc::vec![status(Err(Error::NotFound))], None) };
            let pid = if argument(3) == 0 { request.sender } else { argument(3) };
            match share::grant_derive(grant, share::Identity::Process(pid), rights(argument(2)), argument(0), argument(1)) {
                Ok(derived) => (alloc::vec![0], Some(derived)),
                Err(error) => (alloc::vec![status(Err(error))], None),
            }
        }
        5 => match held.grant {
            Some(grant) => (alloc::vec![status(share::grant_revoke(grant))], None),
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        6 => match held.view.take() {
            Some((id, _)) => (alloc::vec![status(runtime::sys::partition_destroy(id).map(|()| 0))], None),
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        7 => match view_address(held, argument(0)) {
            Ok(address) => {
                // SAFETY: the caller put a function there (position
                // independent, no arguments); executing it is the test.
                let function: extern "C" fn() -> u64 = unsafe { core::mem::transmute(address as *const u8) };
                (alloc::vec![0, function()], None)
            }
            Err(error) => (alloc::vec![status(Err(error))], None),
        },
        8 => match held.view {
            Some((id, _)) => {
                let size = runtime::sys::partition_query(id).map(|info| info.size).unwrap_or(0);
                (alloc::vec![status(runtime::sys::partition_protect(id, 0, size, rights(argument(0))).map(|()| 0))], None)
            }
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        9 => match held.view {
            Some((_, base)) => {
                let sum = (0..argument(0)).map(|page| {
                    // SAFETY: as for a read.
                    unsafe { core::ptr::read_volatile((base + page * abi::PAGE_SIZE) as *const u64) }
                });
                (alloc::vec![0, sum.fold(0u64, u64::wrapping_add)], None)
            }
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        10 => {
            let created = runtime::sys::partition_create(argument(0), abi::PartitionKind::Shared, rights(argument(1))).map(|partition| {
                for offset in (0..abi::PAGE_SIZE.min(argument(0))).step_by(8) {
                    // SAFETY: the first page of the partition just made.
                    unsafe { core::ptr::write_volatile((partition.base + offset) as *mut u64, offset) };
                }
                held.own = Some((partition.id, partition.base, argument(0)));
                0
            });
            (alloc::vec![status(created)], None)
        }
        11 => match own_code() {
            Ok(code) => {
                held.own = Some(code);
                (alloc::vec![0, forty_two as *const () as u64 - code.1], None)
            }
            Err(error) => (alloc::vec![status(Err(error))], None),
        },
        12 => {
            let Some((id, _, size)) = held.own else { return (alloc::vec![status(Err(Error::NotFound))], None) };
            let made = share::grant_create(id, share::Identity::Process(argument(0)), rights(argument(1)), 0, size)
                .and_then(|grant| Ok((grant, grant.duplicate(share::GRANT_RIGHTS)?)));
            match made {
                Ok((kept, sent)) => {
                    // The first grant is the one it revokes (`5`).
                    held.grant.get_or_insert(kept);
                    (alloc::vec![0], Some(sent))
                }
                Err(error) => (alloc::vec![status(Err(error))], None),
            }
        }
        13 => {
            let Some((_, base, _)) = held.own else { return (alloc::vec![status(Err(Error::NotFound))], None) };
            let address = base + argument(1);
            let value = match argument(0) {
                // SAFETY: its own partition; a refused access kills it,
                // which is what the caller checks.
                0 => unsafe { core::ptr::read_volatile(address as *const u64) },
                1 => {
                    // SAFETY: as above.
                    unsafe { core::ptr::write_volatile(address as *mut u64, 0x5eed) };
                    0
                }
                _ => {
                    // SAFETY: as above; the caller names `forty_two`'s
                    // offset or non-executable memory.
                    let function: extern "C" fn() -> u64 = unsafe { core::mem::transmute(address as *const u8) };
                    function()
                }
            };
            (alloc::vec![0, value], None)
        }
        14 => match held.own {
            Some((id, _, size)) => (alloc::vec![status(runtime::sys::partition_protect(id, 0, size, rights(argument(0))).map(|()| 0))], None),
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        15 => match held.grant {
            Some(grant) => match share::grant_map(grant, rights(argument(0)), 0) {
                Ok(view) => {
                    held.view = Some((view.id, view.base));
                    (alloc::vec![0, view.id, view.base], None)
                }
                Err(error) => (alloc::vec![status(Err(error))], None),
            },
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        17 => match held.view {
            Some((_, base)) => {
                let (start, end) = (base + argument(0), base + argument(0) + argument(1));
                let sum = (start..end).step_by(8).map(|address| {
                    // SAFETY: as for a read.
                    unsafe { core::ptr::read_volatile(address as *const u64) }
                });
                (alloc::vec![0, sum.fold(0u64, u64::wrapping_add)], None)
            }
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        18 => match held.view {
            Some((id, _)) => {
                let advice = if argument(0) == 0 { abi::Advice::Unreplicate } else { abi::Advice::Replicate };
                let size = runtime::sys::partition_query(id).map(|info| info.size).unwrap_or(0);
                (alloc::vec![status(runtime::sys::partition_advise(id, 0, size, advice))], None)
            }
            None => (alloc::vec![status(Err(Error::NotFound))], None),
        },
        20 => {
            let address = forty_two as *const () as u64;
            match (runtime::sys::page_query(address), own_code()) {
                (Ok(page), Ok((id, _, _))) => {
                    let kind = runtime::sys::partition_query(id).map_or(0, |info| info.kind);
                    (alloc::vec![0, page.frame, kind], None)
                }
                (Err(error), _) | (_, Err(error)) => (alloc::vec![status(Err(error))], None),
            }
        }
        16 => {
            let counters = runtime::sys::memory_counters();
            (alloc::vec![0, counters.committed, counters.swap_outs, counters.budget, counters.faults_replica], None)
        }
        _ => (alloc::vec![status(Err(Error::InvalidArgument))], None),
    }
}

extern crate alloc;
