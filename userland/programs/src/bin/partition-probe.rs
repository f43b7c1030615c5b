//! Helper: `partition-probe OPERATION ID` applies one partition operation
//! to partition ID and exits with 0 on success or the error code (to show
//! that another process's partitions are out of reach).

#![no_std]
#![no_main]

use abi::{Advice, Dependency, Rights};
use runtime::sys;

runtime::entry!(main);

fn main(args: runtime::Args) -> i32 {
    let operation = args.get(1).unwrap_or("");
    let id: u64 = args.get(2).and_then(|id| id.parse().ok()).unwrap_or(0);
    let result = match operation {
        "query" => sys::partition_query(id).map(|_| ()),
        "destroy" => sys::partition_destroy(id),
        "commit" => sys::partition_commit(id, 0, 4096).map(|_| ()),
        "decommit" => sys::partition_decommit(id, 0, 4096).map(|_| ()),
        "resize" => sys::partition_resize(id, 8192),
        "add-range" => sys::partition_add_range(id, 4096, 0).map(|_| ()),
        "protect" => sys::partition_protect(id, 0, 4096, Rights::READ),
        "advise" => sys::partition_advise(id, 0, 4096, Advice::WillNeed).map(|_| ()),
        "declare" => sys::resource_request(0, 0, &[Dependency { kind: Dependency::PARTITION, value: id, length: 0 }]),
        _ => return 100,
    };
    match result {
        Ok(()) => 0,
        Err(error) => error.code() as i32,
    }
}
