//! A process's commit policy, as the process table holds it: one of the
//! plain policies (`policy::plain`, or the oracle over a replay's future),
//! or the PAE's predictor for the process, which the PAE task steps from
//! the process's history (never in the fault path: its `on_fault` plans
//! nothing). Which one it is, is a type ([`CommitPolicy`]), never a name.

#![forbid(unsafe_code)]

use crate::pae::Pae;
use crate::policy::{self, CommitPolicy, Policy};
use alloc::boxed::Box;

/// A process's commit policy.
pub enum ProcessPolicy {
    /// A policy that plans in the fault path.
    Plain(Box<dyn Policy>),
    /// The PAE's predictor for this process.
    Pae(Box<Pae>),
}

impl ProcessPolicy {
    /// A fresh policy `identity`: `pae` over `model()` (the model in
    /// service; readahead without one), the oracle (which needs a replayed
    /// trace's future) as demand paging.
    pub fn new(identity: CommitPolicy, model: impl FnOnce() -> Option<Pae>) -> ProcessPolicy {
        match identity {
            CommitPolicy::Pae => match model() {
                Some(pae) => ProcessPolicy::Pae(Box::new(pae)),
                None => ProcessPolicy::Plain(Box::new(policy::Readahead::default())),
            },
            other => ProcessPolicy::Plain(policy::plain(other).unwrap_or_else(|| Box::new(policy::Demand))),
        }
    }

    /// Which policy it is.
    pub fn identity(&self) -> CommitPolicy {
        match self {
            ProcessPolicy::Plain(policy) => policy.identity(),
            ProcessPolicy::Pae(_) => CommitPolicy::Pae,
        }
    }

    /// Whether the PAE serves the process.
    pub fn is_pae(&self) -> bool {
        matches!(self, ProcessPolicy::Pae(_))
    }

    /// The policy the engine's fault path and partition calls hear.
    pub fn as_policy(&mut self) -> &mut dyn Policy {
        match self {
            ProcessPolicy::Plain(policy) => policy.as_mut(),
            ProcessPolicy::Pae(pae) => pae.as_mut(),
        }
    }

    /// The PAE's predictor, if the PAE serves the process.
    pub fn pae(&mut self) -> Option<&mut Pae> {
        match self {
            ProcessPolicy::Pae(pae) => Some(pae),
            ProcessPolicy::Plain(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_identity_makes_its_policy_and_pae_falls_back_without_a_model() {
        for identity in policy::PLAIN {
            let made = ProcessPolicy::new(identity, || None);
            assert_eq!(made.identity(), identity);
            assert!(!made.is_pae());
        }
        let mut fallback = ProcessPolicy::new(CommitPolicy::Pae, || None);
        assert_eq!(fallback.identity(), CommitPolicy::Readahead, "no model: readahead");
        assert!(fallback.pae().is_none());
        assert_eq!(ProcessPolicy::new(CommitPolicy::Oracle, || None).identity(), CommitPolicy::Demand, "no future: demand paging");
    }
}
