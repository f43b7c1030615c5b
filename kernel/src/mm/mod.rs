//! Memory management: physical frames, page tables, the kernel heap, and the
//! virtual address layout that ties them together.

pub mod buddy;
pub mod layout;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod frame;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod heap;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod paging;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod user;
