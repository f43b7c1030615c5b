//! Sharing partitions between processes (`DESIGN.md` §3, layer 6).
//!
//! - [`acl`]: the access-control list of one shared partition: grants to
//!   process or program identities, re-grants that only narrow, mappings,
//!   transitive revoke.
//! - [`registry`]: every shared partition's ACL and the views its
//!   mappings made; grant, map, revoke and the ends of partitions and
//!   processes, over the VASS (`vass::engine::view` is the mechanism).
//! - [`text`]: the text store: the read-only pieces of program images held
//!   once by the kernel and mapped into every instance of the program.
//!
//! Pure state, tested on the host against the simulated MMU; the system
//! calls (`process::share_calls`) carry grants as handles over `ipc`.

pub mod acl;
pub mod registry;
pub mod text;
