//! Inter-process communication: the kernel objects processes name through
//! handles, and the handles themselves.
//!
//! - [`handles`]: a process's handle table (generation-checked handles
//!   with rights that only shrink when passed on).
//! - [`endpoint`]: an endpoint's queue of small messages with handles, its
//!   waiting receivers and what closing a side does.
//!
//! Both are pure state, tested on the host; the system calls that block
//! and wake tasks over them, call/reply and grants of partitions build on
//! them (the design is in `DESIGN.md` §3).

pub mod endpoint;
pub mod handles;
