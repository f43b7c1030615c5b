//! Inter-process communication: the kernel objects processes name through
//! handles, and the handles themselves.
//!
//! - [`handles`]: a process's handle table (generation-checked handles
//!   with rights that only shrink when passed on).
//! - [`endpoint`]: an endpoint's queue of small messages with handles, its
//!   waiting receivers and what closing a side does.
//!
//! - [`registry`]: every endpoint and every process's handles, and the
//!   operations the system calls make on them (send, receive, call and
//!   answer, close, a process's start and end), returning whom to wake.
//!
//! All three are pure state, tested on the host; `calls` (bare metal) is
//! the system calls that copy messages from and to user memory, block
//! and wake tasks over them (the design is in `DESIGN.md` §3).

#[cfg(target_os = "none")]
pub mod calls;
pub mod endpoint;
pub mod handles;
pub mod registry;
