//! Sharing partitions between processes (`DESIGN.md` §3, layer 6).
//!
//! - [`acl`]: the access-control list of one shared partition: grants to
//!   process or program identities, re-grants that only narrow, mappings,
//!   transitive revoke.
//!
//! Pure state, tested on the host; the system calls that create grants,
//! carry them as handles over `ipc` and map them into a grantee's space
//! through the VASS build on it.

pub mod acl;
