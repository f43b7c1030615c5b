use super::*;
use alloc::vec;
use proptest::prelude::*;

const OWNER: Caller = Caller { pid: 1, program: 0xa };
const BOB: Caller = Caller { pid: 2, program: 0xb };
const CAROL: Caller = Caller { pid: 3, program: 0xc };
const MALLORY: Caller = Caller { pid: 4, program: 0xd };
const RW: Rights = Rights::READ.union(Rights::WRITE);

fn range(start: u64, end: u64) -> PageRange {
    PageRange { start, end }
}

#[test]
fn the_owner_grants_and_the_grantee_maps_within_its_rights() {
    let mut acl = Acl::new(OWNER.pid, 16, 100);
    let grant = acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW, range(0, 8)).unwrap();
    assert_eq!(grant, GrantId(100));
    assert_eq!(acl.map(MALLORY, grant, 0x1000, Rights::READ), Err(AclError::NotYours));
    assert_eq!(acl.map(BOB, grant, 0x1000, Rights::READ | Rights::EXECUTE), Err(AclError::TooManyRights));
    let mapping = acl.map(BOB, grant, 0x1000, Rights::READ).unwrap();
    assert_eq!(mapping, Mapping { grant, pid: BOB.pid, address: 0x1000, rights: Rights::READ });
    assert_eq!(acl.map(BOB, grant, 0x2000, Rights::READ), Err(AclError::AlreadyMapped));
    assert_eq!(acl.protect(grant, BOB.pid, RW).unwrap().rights, RW, "up to the grant's rights");
    assert_eq!(acl.protect(grant, BOB.pid, Rights::all()), Err(AclError::TooManyRights));
    assert_eq!(acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW, range(8, 17)), Err(AclError::BadRange));
    assert_eq!(acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW, range(3, 3)), Err(AclError::BadRange));
    assert_eq!(acl.grant_to(BOB, Granter::Owner, Identity::Process(CAROL.pid), RW, range(0, 1)), Err(AclError::NotYours));
}

#[test]
fn re_grants_need_the_grant_right_and_never_widen() {
    let mut acl = Acl::new(OWNER.pid, 16, 0);
    let plain = acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW, range(0, 8)).unwrap();
    assert_eq!(acl.grant_to(BOB, Granter::Grant(plain), Identity::Process(CAROL.pid), Rights::READ, range(0, 4)), Err(AclError::TooManyRights));
    let regrantable = acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW | Rights::GRANT, range(4, 12)).unwrap();
    let carol = Identity::Process(CAROL.pid);
    assert_eq!(acl.grant_to(BOB, Granter::Grant(regrantable), carol, Rights::EXECUTE, range(4, 8)), Err(AclError::TooManyRights));
    assert_eq!(acl.grant_to(BOB, Granter::Grant(regrantable), carol, Rights::READ, range(0, 8)), Err(AclError::BadRange));
    assert_eq!(acl.grant_to(CAROL, Granter::Grant(regrantable), carol, Rights::READ, range(4, 8)), Err(AclError::NotYours));
    let second = acl.grant_to(BOB, Granter::Grant(regrantable), carol, Rights::READ | Rights::GRANT, range(4, 8)).unwrap();
    assert_eq!(acl.effective(second), Ok(Rights::READ | Rights::GRANT));
    assert_eq!(acl.grant(second).unwrap().granted_by_pid, BOB.pid);
    assert_eq!(acl.map(CAROL, second, 0x9000, RW), Err(AclError::TooManyRights));
}

#[test]
fn of_a_grant_to_a_program_each_instance_revokes_only_its_own_re_grants() {
    const TWIN_A: Caller = Caller { pid: 5, program: 0xe };
    const TWIN_B: Caller = Caller { pid: 6, program: 0xe };
    let mut acl = Acl::new(OWNER.pid, 16, 0);
    let to_program = acl.grant_to(OWNER, Granter::Owner, Identity::Program(0xe), Rights::READ | Rights::GRANT, range(0, 16)).unwrap();
    let by_a = acl.grant_to(TWIN_A, Granter::Grant(to_program), Identity::Process(CAROL.pid), Rights::READ, range(0, 4)).unwrap();
    let by_b = acl.grant_to(TWIN_B, Granter::Grant(to_program), Identity::Process(CAROL.pid), Rights::READ, range(4, 8)).unwrap();
    assert_eq!(acl.revoke(TWIN_B, by_a), Err(AclError::NotYours), "another instance of the program did not make it");
    assert_eq!(acl.revoke(TWIN_A, to_program), Err(AclError::NotYours), "nor does an instance revoke the grant it holds");
    assert_eq!(acl.revoke(TWIN_A, by_a).map(|(grants, _)| grants), Ok(vec![by_a]));
    assert_eq!(acl.effective(by_b), Ok(Rights::READ), "the other instance's re-grant stays");
    assert_eq!(acl.revoke(OWNER, by_b).map(|(grants, _)| grants), Ok(vec![by_b]), "the owner revokes anything");
}

#[test]
fn revoke_is_transitive_unmaps_everywhere_and_is_final() {
    let mut acl = Acl::new(OWNER.pid, 16, 0);
    let to_bob = acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), RW | Rights::GRANT, range(0, 16)).unwrap();
    let to_carol = acl.grant_to(BOB, Granter::Grant(to_bob), Identity::Process(CAROL.pid), Rights::READ | Rights::GRANT, range(0, 8)).unwrap();
    let to_any_d = acl.grant_to(CAROL, Granter::Grant(to_carol), Identity::Program(MALLORY.program), Rights::READ, range(0, 2)).unwrap();
    let other = acl.grant_to(OWNER, Granter::Owner, Identity::Process(CAROL.pid), Rights::READ, range(8, 16)).unwrap();
    acl.map(BOB, to_bob, 0x1000, RW).unwrap();
    acl.map(CAROL, to_carol, 0x2000, Rights::READ).unwrap();
    acl.map(MALLORY, to_any_d, 0x3000, Rights::READ).unwrap();
    acl.map(CAROL, other, 0x4000, Rights::READ).unwrap();
    assert_eq!(acl.revoke(MALLORY, to_carol), Err(AclError::NotYours), "a grantee cannot revoke upwards");
    assert_eq!(acl.revoke(CAROL, to_carol), Err(AclError::NotYours), "nor its own grant");
    let (grants, unmapped) = acl.revoke(BOB, to_carol).unwrap();
    assert_eq!(grants.len(), 2);
    assert!(grants.contains(&to_carol) && grants.contains(&to_any_d));
    assert_eq!(unmapped.iter().map(|m| m.pid).collect::<BTreeSet<_>>(), [CAROL.pid, MALLORY.pid].into());
    assert_eq!(acl.map(CAROL, to_carol, 0x2000, Rights::READ), Err(AclError::Revoked));
    assert_eq!(acl.effective(to_any_d), Err(AclError::Revoked));
    assert_eq!(acl.mappings().count(), 2, "Bob's and Carol's other mapping stay");
    let (grants, unmapped) = acl.revoke_all();
    assert_eq!((grants.len(), unmapped.len()), (2, 2));
    assert_eq!(acl.grants().count(), 0);
    assert_eq!(acl.grant(GrantId(99)), Err(AclError::NoSuchGrant));
}

#[test]
fn a_program_identity_covers_every_instance_and_a_process_identity_one() {
    let mut acl = Acl::new(OWNER.pid, 4, 0);
    let program = acl.grant_to(OWNER, Granter::Owner, Identity::Program(0xb), Rights::READ, range(0, 4)).unwrap();
    let twin = Caller { pid: 22, program: 0xb };
    assert!(acl.map(BOB, program, 0x1000, Rights::READ).is_ok());
    assert!(acl.map(twin, program, 0x1000, Rights::READ).is_ok());
    let process = acl.grant_to(OWNER, Granter::Owner, Identity::Process(BOB.pid), Rights::READ, range(0, 4)).unwrap();
    assert_eq!(acl.map(twin, process, 0x1000, Rights::READ), Err(AclError::NotYours), "same program, other pid");
    assert_eq!(acl.forget_process(twin.pid).len(), 1);
}

#[derive(Clone, Debug)]
enum Op {
    Grant { by: usize, through: usize, to: usize, rights: u32, start: u64, len: u64 },
    Map { who: usize, grant: usize, rights: u32 },
    Protect { who: usize, grant: usize, rights: u32 },
    Revoke { who: usize, grant: usize },
}

const CALLERS: [Caller; 4] = [OWNER, BOB, CAROL, MALLORY];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // `by` 4: the holder of `through` (so re-grant chains grow);
        // GRANT in half the grants; ranges mostly inside the partition.
        (0..5usize, 0..9usize, 0..4usize, 0..8u32, any::<bool>(), 0..12u64, 0..8u64).prop_map(|(by, through, to, rights, regrant, start, len)| {
            let rights = rights | if regrant { Rights::GRANT.bits() } else { 0 };
            Op::Grant { by, through, to, rights, start, len }
        }),
        (0..4usize, 0..8usize, 0..16u32).prop_map(|(who, grant, rights)| Op::Map { who, grant, rights }),
        (0..4usize, 0..8usize, 0..16u32).prop_map(|(who, grant, rights)| Op::Protect { who, grant, rights }),
        (0..4usize, 0..8usize).prop_map(|(who, grant)| Op::Revoke { who, grant }),
    ]
}

/// The reference: each grant's identity pid, rights, range and parent,
/// with effective rights computed from the records alone.
#[derive(Default)]
struct Model {
    grants: BTreeMap<GrantId, (Pid, Rights, PageRange, Option<GrantId>)>,
}

impl Model {
    fn effective(&self, mut id: GrantId) -> Option<Rights> {
        let mut rights = Rights::all();
        loop {
            let &(_, own, _, parent) = self.grants.get(&id)?;
            rights &= own;
            match parent {
                Some(parent) => id = parent,
                None => return Some(rights),
            }
        }
    }

    fn ancestors(&self, id: GrantId) -> Vec<Pid> {
        let mut pids = Vec::new();
        let mut at = self.grants.get(&id).and_then(|g| g.3);
        while let Some(parent) = at {
            pids.push(self.grants[&parent].0);
            at = self.grants[&parent].3;
        }
        pids
    }
}

proptest! {
    /// Against the model: a grant, map or protect succeeds exactly when
    /// the model allows it; a mapping's rights are always within the
    /// intersection of rights along its grant's chain; after a revoke
    /// nothing of the subtree is mapped or usable.
    #[test]
    fn the_acl_agrees_with_a_reference_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut acl = Acl::new(OWNER.pid, 16, 0);
        let mut model = Model::default();
        let mut made: Vec<GrantId> = Vec::new();
        let pick = |made: &Vec<GrantId>, index: usize| made.get(index % made.len().max(1)).copied();
        for op in ops {
            match op {
                Op::Grant { by, through, to, rights, start, len } => {
                    let through = if through == 8 { None } else { pick(&made, through) };
                    let holder = through.and_then(|id| model.grants.get(&id)).and_then(|g| CALLERS.iter().find(|c| c.pid == g.0));
                    let caller = if by == 4 { holder.copied().unwrap_or(OWNER) } else { CALLERS[by] };
                    let granter = through.map_or(Granter::Owner, Granter::Grant);
                    let mut rights = Rights::from_bits_truncate(rights);
                    let mut range = PageRange { start, end: start + len };
                    // The holder's re-grants mostly ask for what it may give
                    // (a share of its rights and a part of its range), so
                    // chains grow; other callers' are mostly refused.
                    if let (4, Some(&(_, held, parent, _))) = (by, through.and_then(|id| model.grants.get(&id))) {
                        rights &= held | Rights::GRANT;
                        let first = parent.start + start % parent.pages().max(1);
                        range = PageRange { start: first, end: (first + 1 + len).min(parent.end) };
                    }
                    let allowed = match through {
                        None => caller.pid == OWNER.pid,
                        Some(id) => model.grants.get(&id).is_some_and(|&(pid, _, _, _)| pid == caller.pid)
                            && model.effective(id).is_some_and(|held| held.contains(rights | Rights::GRANT)),
                    } && !range.is_empty()
                        && through.map_or(PageRange { start: 0, end: 16 }, |id| model.grants[&id].2).covers(range);
                    let result = acl.grant_to(caller, granter, Identity::Process(CALLERS[to].pid), rights, range);
                    prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
                    if let Ok(id) = result {
                        model.grants.insert(id, (CALLERS[to].pid, rights, range, through));
                        made.push(id);
                    }
                }
                Op::Map { who, grant, rights } => {
                    let Some(id) = pick(&made, grant) else { continue };
                    let caller = CALLERS[who];
                    let rights = Rights::from_bits_truncate(rights);
                    let already = acl.mapping_of(id, caller.pid).is_ok();
                    let allowed = !already
                        && model.grants.get(&id).is_some_and(|g| g.0 == caller.pid)
                        && model.effective(id).is_some_and(|held| held.contains(rights));
                    prop_assert_eq!(acl.map(caller, id, 0x1000, rights).is_ok(), allowed);
                }
                Op::Protect { who, grant, rights } => {
                    let Some(id) = pick(&made, grant) else { continue };
                    let rights = Rights::from_bits_truncate(rights);
                    let pid = CALLERS[who].pid;
                    let mapped = acl.mapping_of(id, pid).is_ok();
                    let allowed = mapped && model.effective(id).is_some_and(|held| held.contains(rights));
                    prop_assert_eq!(acl.protect(id, pid, rights).is_ok(), allowed);
                }
                Op::Revoke { who, grant } => {
                    let Some(id) = pick(&made, grant) else { continue };
                    let caller = CALLERS[who];
                    let allowed = model.grants.contains_key(&id)
                        && (caller.pid == OWNER.pid || model.ancestors(id).contains(&caller.pid));
                    let result = acl.revoke(caller, id);
                    prop_assert_eq!(result.is_ok(), allowed);
                    if let Ok((removed, _)) = result {
                        // The model's subtree of `id`.
                        let mut subtree = vec![id];
                        let mut grew = true;
                        while grew {
                            grew = false;
                            for (&child, g) in &model.grants {
                                if g.3.is_some_and(|parent| subtree.contains(&parent)) && !subtree.contains(&child) {
                                    subtree.push(child);
                                    grew = true;
                                }
                            }
                        }
                        let removed: BTreeSet<GrantId> = removed.into_iter().collect();
                        prop_assert_eq!(removed, subtree.iter().copied().collect::<BTreeSet<_>>());
                        for gone in subtree {
                            model.grants.remove(&gone);
                            prop_assert_eq!(acl.effective(gone), Err(AclError::Revoked));
                        }
                    }
                }
            }
            for mapping in acl.mappings() {
                let effective = model.effective(mapping.grant);
                prop_assert!(effective.is_some(), "a mapping of a revoked grant survived");
                prop_assert!(effective.is_some_and(|held| held.contains(mapping.rights)), "rights grew along a chain");
                prop_assert_eq!(acl.effective(mapping.grant).ok(), effective);
            }
        }
    }
}
