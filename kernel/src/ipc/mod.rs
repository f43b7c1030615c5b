//! Inter-process communication: the kernel objects processes name through
//! handles, and the handles themselves.
//!
//! - [`handles`]: a process's handle table (generation-checked handles
//!   with rights that only shrink when passed on).
//!
//! Endpoints (messages with handles, call/reply) and grants of partitions
//! build on it; the design is in `DESIGN.md` §3.

pub mod handles;
