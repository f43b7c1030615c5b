use super::*;
use crate::vass::sim::{SimulatedFrames, SimulatedMmu};
use crate::vass::{Access, FaultOutcome, PartitionKind};
use proptest::prelude::*;

const WINDOW: Window = Window { start: 0x100, end: 0x10_0000 };
const RW: Rights = Rights::READ.union(Rights::WRITE);
const OWNER: Caller = Caller { pid: 1, program: 0xa };
const BOB: Caller = Caller { pid: 2, program: 0xb };
const CAROL: Caller = Caller { pid: 3, program: 0xc };
const BOB_TWIN: Caller = Caller { pid: 5, program: 0xb };

struct World {
    vass: Vass,
    mmu: SimulatedMmu,
    frames: SimulatedFrames,
    shares: Shares,
}

impl World {
    fn new() -> World {
        World { vass: Vass::new(), mmu: SimulatedMmu::default(), frames: SimulatedFrames::new(1024), shares: Shares::new() }
    }

    fn map(&mut self, caller: Caller, grant: GrantRef, rights: Rights) -> Result<(PartitionId, PageRange), ShareError> {
        let mapped = self.shares.map(&mut self.vass, &mut self.mmu, &mut self.frames, caller, grant, rights, None, WINDOW, false);
        self.vass.check_invariants(&self.mmu, &self.frames).unwrap();
        mapped
    }

    fn revoke(&mut self, caller: Caller, grant: GrantRef) -> Result<usize, ShareError> {
        let revoked = self.shares.revoke(&mut self.vass, &mut self.mmu, &mut self.frames, caller, grant);
        self.vass.check_invariants(&self.mmu, &self.frames).unwrap();
        revoked
    }

    fn fault(&mut self, caller: Caller, page: Page, access: Access) -> FaultOutcome {
        let outcome = self.vass.fault(SpaceId(caller.pid), page, access, &mut self.mmu, &mut self.frames).outcome;
        self.vass.check_invariants(&self.mmu, &self.frames).unwrap();
        outcome
    }
}

fn offsets(start: u64, end: u64) -> acl::PageRange {
    acl::PageRange { start, end }
}

#[test]
fn a_grant_maps_for_its_identity_only_and_within_its_rights() {
    let mut world = World::new();
    let (source, _) = world.vass.create(SpaceId(OWNER.pid), 8, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let vass = &world.vass;
    assert_eq!(world.shares.grant(vass, BOB, Through::Owner(source), Identity::Process(BOB.pid), RW, offsets(0, 8)), Err(AclError::NotYours.into()));
    let grant = world.shares.grant(vass, OWNER, Through::Owner(source), Identity::Process(BOB.pid), Rights::READ, offsets(2, 6)).unwrap();
    assert_eq!(world.map(CAROL, grant, Rights::READ), Err(AclError::NotYours.into()), "a third party");
    assert_eq!(world.map(BOB_TWIN, grant, Rights::READ), Err(AclError::NotYours.into()), "another instance of the program");
    assert_eq!(world.map(BOB, grant, RW), Err(AclError::TooManyRights.into()));
    let (view, at) = world.map(BOB, grant, Rights::READ).unwrap();
    assert_eq!(at.len(), 4);
    assert_eq!(world.map(BOB, grant, Rights::READ), Err(AclError::AlreadyMapped.into()));
    assert_eq!(world.fault(BOB, at.start, Access::Write), FaultOutcome::RightsViolation);
    assert_eq!(world.fault(BOB, at.start, Access::Read), FaultOutcome::Committed);
    assert_eq!(world.vass.view_target(view, at.start).map(|(partition, _)| partition), Some(source));
    let rows = world.shares.rows(&world.vass, OWNER, source).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].identity, rows[0].rights, rows[0].range, rows[0].granted_by, rows[0].mappings), (Identity::Process(BOB.pid), Rights::READ, offsets(2, 6), None, 1));
    assert_eq!(world.shares.rows(&world.vass, BOB, source), Err(AclError::NotYours.into()), "only the owner reads the list");
    // A program identity: any instance of it.
    let program = world.shares.grant(&world.vass, OWNER, Through::Owner(source), Identity::Program(BOB.program), Rights::READ, offsets(0, 1)).unwrap();
    world.map(BOB_TWIN, program, Rights::READ).unwrap();
    world.map(BOB, program, Rights::READ).unwrap();
    assert_eq!(world.map(CAROL, program, Rights::READ), Err(AclError::NotYours.into()));
    // A view is not shared on its own authority.
    assert_eq!(world.shares.grant(&world.vass, BOB, Through::Owner(view), Identity::Process(CAROL.pid), Rights::READ, offsets(0, 1)), Err(ShareError::NotShareable));
}

#[test]
fn re_grants_narrow_and_revoke_reaches_every_view_down_the_chain() {
    let mut world = World::new();
    let (source, range) = world.vass.create(SpaceId(OWNER.pid), 8, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let to_bob = world.shares.grant(&world.vass, OWNER, Through::Owner(source), Identity::Process(BOB.pid), RW | Rights::GRANT, offsets(0, 8)).unwrap();
    let plain = world.shares.grant(&world.vass, OWNER, Through::Owner(source), Identity::Process(BOB.pid), RW, offsets(0, 8)).unwrap();
    assert_eq!(world.shares.grant(&world.vass, BOB, Through::Grant(plain), Identity::Process(CAROL.pid), Rights::READ, offsets(0, 8)), Err(AclError::TooManyRights.into()), "no GRANT right");
    assert_eq!(world.shares.grant(&world.vass, BOB, Through::Grant(to_bob), Identity::Process(CAROL.pid), Rights::EXECUTE, offsets(0, 4)), Err(AclError::TooManyRights.into()));
    let to_carol = world.shares.grant(&world.vass, BOB, Through::Grant(to_bob), Identity::Process(CAROL.pid), Rights::READ, offsets(4, 8)).unwrap();
    let (_, bob_at) = world.map(BOB, to_bob, RW).unwrap();
    let (carol_view, carol_at) = world.map(CAROL, to_carol, Rights::READ).unwrap();
    assert_eq!(carol_at.len(), 4);
    assert_eq!(world.fault(BOB, bob_at.start + 4, Access::Write), FaultOutcome::Committed);
    assert_eq!(world.fault(CAROL, carol_at.start, Access::Read), FaultOutcome::Mapped, "the same page, through the re-grant");
    assert_eq!(world.mmu.translate(SpaceId(CAROL.pid), carol_at.start).map(|(frame, _)| frame), world.mmu.translate(SpaceId(OWNER.pid), range.start + 4).map(|(frame, _)| frame).or(world.mmu.translate(SpaceId(BOB.pid), bob_at.start + 4).map(|(frame, _)| frame)));
    assert_eq!(world.revoke(CAROL, to_carol), Err(AclError::NotYours.into()), "a grantee cannot revoke its own grant");
    assert_eq!(world.revoke(CAROL, to_bob), Err(AclError::NotYours.into()), "nor upwards");
    // The owner revokes Bob's grant: Carol's, made from it, goes too.
    assert_eq!(world.revoke(OWNER, to_bob), Ok(2));
    assert_eq!(world.fault(CAROL, carol_at.start, Access::Read), FaultOutcome::Revoked);
    assert_eq!(world.fault(BOB, bob_at.start, Access::Read), FaultOutcome::Revoked);
    assert!(world.vass.partition(carol_view).unwrap().revoked());
    assert_eq!(world.map(CAROL, to_carol, Rights::READ), Err(AclError::Revoked.into()));
    assert_eq!(world.revoke(OWNER, to_bob), Err(AclError::Revoked.into()));
    assert!(!world.shares.is_live(to_carol) && world.shares.is_live(plain));
    // The frames stay the owner's; the plain grant still maps.
    assert_eq!(world.frames.in_use, 1);
    let (_, again) = world.map(BOB, plain, Rights::READ).unwrap();
    assert_eq!(world.fault(BOB, again.start + 4, Access::Read), FaultOutcome::Mapped);
}

#[test]
fn a_granter_revokes_what_it_granted_and_nothing_else() {
    let mut world = World::new();
    let (source, _) = world.vass.create(SpaceId(OWNER.pid), 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let to_bob = world.shares.grant(&world.vass, OWNER, Through::Owner(source), Identity::Process(BOB.pid), Rights::READ | Rights::GRANT, offsets(0, 4)).unwrap();
    let to_carol = world.shares.grant(&world.vass, BOB, Through::Grant(to_bob), Identity::Process(CAROL.pid), Rights::READ, offsets(0, 4)).unwrap();
    world.map(BOB, to_bob, Rights::READ).unwrap();
    let (_, carol_at) = world.map(CAROL, to_carol, Rights::READ).unwrap();
    assert_eq!(world.revoke(BOB, to_carol), Ok(1));
    assert_eq!(world.fault(CAROL, carol_at.start, Access::Read), FaultOutcome::Revoked);
    assert!(world.shares.is_live(to_bob), "Bob's own grant stays");
}

#[test]
fn ends_of_partitions_and_processes_revoke_and_give_mappings_back() {
    let mut world = World::new();
    let (source, _) = world.vass.create(SpaceId(OWNER.pid), 4, PartitionKind::Shared, RW, None, WINDOW).unwrap();
    let grant = world.shares.grant(&world.vass, OWNER, Through::Owner(source), Identity::Program(BOB.program), RW, offsets(0, 4)).unwrap();
    let (bob_view, _) = world.map(BOB, grant, RW).unwrap();
    let (_, twin_at) = world.map(BOB_TWIN, grant, RW).unwrap();
    // Bob destroys its view: its mapping is given back, it may map again.
    world.vass.destroy(SpaceId(BOB.pid), bob_view, &mut world.mmu, &mut world.frames).unwrap();
    world.shares.view_destroyed(bob_view);
    assert_eq!(world.shares.rows(&world.vass, OWNER, source).unwrap()[0].mappings, 1);
    let (bob_view, _) = world.map(BOB, grant, RW).unwrap();
    // Bob ends.
    world.vass.destroy_space(SpaceId(BOB.pid), &mut world.mmu, &mut world.frames);
    world.shares.process_ended(BOB.pid);
    assert_eq!(world.shares.grant_of(bob_view), None);
    assert_eq!(world.shares.rows(&world.vass, OWNER, source).unwrap()[0].mappings, 1);
    // The owner ends: the twin's view is revoked, the grant is gone.
    world.vass.destroy_space(SpaceId(OWNER.pid), &mut world.mmu, &mut world.frames);
    world.shares.process_ended(OWNER.pid);
    world.vass.check_invariants(&world.mmu, &world.frames).unwrap();
    assert_eq!(world.fault(BOB_TWIN, twin_at.start, Access::Read), FaultOutcome::Revoked);
    assert_eq!(world.map(BOB_TWIN, grant, Rights::READ), Err(AclError::Revoked.into()));
    assert_eq!(world.frames.in_use, 0);
}

#[test]
fn errors_reach_programs_typed() {
    assert_eq!(Error::from(ShareError::Acl(AclError::Revoked)), Error::Revoked);
    assert_eq!(Error::from(ShareError::Acl(AclError::NotYours)), Error::PermissionDenied);
    assert_eq!(Error::from(ShareError::Vass(VassError::Revoked)), Error::Revoked);
    assert_eq!(Error::from(ShareError::Vass(VassError::Overlap)), Error::AddressInUse);
    assert_eq!(Error::from(ShareError::NotShareable), Error::InvalidArgument);
}

/// One step of the model check: a caller (0..4: owner, three others)
/// grants, re-grants, maps, touches or revokes, or a process other than
/// the owner ends.
#[derive(Clone, Debug)]
enum Step {
    Grant { by: usize, through: usize, to: usize, rights: u8, start: u64, len: u64 },
    Map { by: usize, grant: usize, rights: u8 },
    Touch { by: usize, grant: usize, offset: u64, write: bool },
    Revoke { by: usize, grant: usize },
    /// A process other than the owner ends.
    End { by: usize },
}

const CALLERS: [Caller; 4] = [OWNER, BOB, CAROL, Caller { pid: 4, program: 0xd }];
const PAGES: u64 = 8;

#[test]
fn an_instance_shares_its_program_text_read_execute_through_the_grant_every_instance_holds() {
    use crate::share::text::{TextKey, TextStore};
    let mut world = World::new();
    let mut store = TextStore::new();
    let rx = Rights::READ | Rights::EXECUTE;
    let key = TextKey { program: BOB.program, at: 0x401, pages: 4, rights: rx };
    let held = store.hold(&mut world.vass, key, &mut world.mmu, &mut world.frames).unwrap();
    let (text, range) = store.map(&mut world.vass, key, SpaceId(BOB.pid), WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    let (twin_text, _) = store.map(&mut world.vass, key, SpaceId(BOB_TWIN.pid), WINDOW, &mut world.mmu, &mut world.frames).unwrap();
    let to_carol = |world: &mut World, by: Caller, view, rights| world.shares.grant(&world.vass, by, Through::Owner(view), Identity::Process(CAROL.pid), rights, offsets(0, 4));
    assert_eq!(to_carol(&mut world, BOB, text, RW), Err(AclError::TooManyRights.into()), "text is never granted writable");
    assert_eq!(to_carol(&mut world, OWNER, text, rx), Err(ShareError::NotShareable), "not the owner's view");
    let grant = to_carol(&mut world, BOB, text, rx).unwrap();
    assert_eq!(grant.partition, held.partition, "a re-grant of the store's piece");
    let (view, at) = world.map(CAROL, grant, rx).unwrap();
    assert_eq!(world.fault(CAROL, at.start, Access::Execute), FaultOutcome::Mapped, "the store's frame");
    assert_eq!(world.mmu.translate(SpaceId(CAROL.pid), at.start).map(|(frame, _)| frame), world.mmu.translate(SpaceId(BOB.pid), range.start).map(|(frame, _)| frame));
    assert_eq!(world.fault(CAROL, at.start + 1, Access::Write), FaultOutcome::RightsViolation);
    let onward = world.shares.grant(&world.vass, CAROL, Through::Owner(view), Identity::Process(OWNER.pid), rx, offsets(0, 4));
    assert_eq!(onward, Err(ShareError::NotShareable), "a grant's view of the text is not an instance's: no GRANT to re-grant with");
    assert_eq!(world.revoke(BOB_TWIN, grant), Err(AclError::NotYours.into()), "the other instance did not make it");
    // The other instance shares too; its grant is its own.
    let twin_grant = to_carol(&mut world, BOB_TWIN, twin_text, Rights::READ).unwrap();
    assert_eq!(world.revoke(BOB, grant), Ok(1));
    assert_eq!(world.fault(CAROL, at.start, Access::Execute), FaultOutcome::Revoked);
    assert_eq!(world.shares.rows(&world.vass, BOB, held.partition), Err(AclError::NotYours.into()), "the ACL is the store's");
    // Every instance ends: the piece is cached, and every grant of it ends.
    world.vass.destroy(SpaceId(CAROL.pid), view, &mut world.mmu, &mut world.frames).unwrap();
    world.shares.view_destroyed(view);
    for pid in [BOB.pid, BOB_TWIN.pid] {
        world.vass.destroy_space(SpaceId(pid), &mut world.mmu, &mut world.frames);
        world.shares.process_ended(pid);
    }
    let retired = store.retire_unused(&mut world.vass, &mut world.mmu, &mut world.frames);
    assert_eq!(retired, vec![held.partition]);
    world.shares.text_released(held.partition);
    assert_eq!(world.map(CAROL, twin_grant, Rights::READ), Err(AclError::Revoked.into()));
    assert_eq!(store.drop_cache(&mut world.vass, &mut world.mmu, &mut world.frames), vec![held.partition]);
    assert_eq!(world.frames.in_use, 0);
    world.vass.check_invariants(&world.mmu, &world.frames).unwrap();
}

fn rights_of(bits: u8) -> Rights {
    let mut rights = Rights::empty();
    rights.set(Rights::READ, bits & 1 != 0);
    rights.set(Rights::WRITE, bits & 2 != 0);
    rights.set(Rights::GRANT, bits & 4 != 0);
    rights
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, 0..8usize, 1..4usize, 0..8u8, 0..PAGES, 1..PAGES).prop_map(|(by, through, to, rights, start, len)| Step::Grant { by, through, to, rights, start, len }),
        3 => (1..4usize, 0..8usize, 0..4u8).prop_map(|(by, grant, rights)| Step::Map { by, grant, rights }),
        4 => (1..4usize, 0..8usize, 0..PAGES, any::<bool>()).prop_map(|(by, grant, offset, write)| Step::Touch { by, grant, offset, write }),
        1 => (0..4usize, 0..8usize).prop_map(|(by, grant)| Step::Revoke { by, grant }),
        1 => (1..4usize).prop_map(|by| Step::End { by }),
    ]
}

/// The reference: each grant's parent, rights, range, grantee and whether
/// it is live; rights along a chain intersect.
#[derive(Clone, Copy, Debug)]
struct Model {
    parent: Option<usize>,
    rights: Rights,
    range: (u64, u64),
    to: usize,
    live: bool,
}

fn effective(model: &[Model], mut at: usize) -> Option<Rights> {
    let mut rights = Rights::all();
    loop {
        let grant = model[at];
        if !grant.live {
            return None;
        }
        rights &= grant.rights;
        match grant.parent {
            Some(parent) => at = parent,
            None => return Some(rights),
        }
    }
}

fn ancestors_held_by(model: &[Model], at: usize, by: usize) -> bool {
    let mut parent = model[at].parent;
    while let Some(up) = parent {
        if model[up].to == by {
            return true;
        }
        parent = model[up].parent;
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every map and touch is allowed exactly when the reference ACL says
    /// (a mapping's rights are the intersection along its chain, and it
    /// is mapped only by its grantee); after a revoke, nothing of the
    /// revoked subtree maps or faults in; a process that ends gives its
    /// mappings back (the ACL's counts follow); the checker holds
    /// throughout.
    #[test]
    fn grants_maps_and_revokes_follow_the_reference(steps in proptest::collection::vec(step(), 1..60)) {
        let mut world = World::new();
        let (source, _) = world.vass.create(SpaceId(OWNER.pid), PAGES, PartitionKind::Shared, RW, None, WINDOW).unwrap();
        let mut grants: Vec<GrantRef> = Vec::new();
        let mut model: Vec<Model> = Vec::new();
        // (grant index, caller) → (view start page, rights mapped)
        let mut mapped: BTreeMap<(usize, usize), (Page, Rights)> = BTreeMap::new();
        let mut ended = [false; 4];
        for step in steps {
            // An ended process does nothing more (pids are never reused).
            let actor = match step {
                Step::Grant { by, .. } | Step::Map { by, .. } | Step::Touch { by, .. } | Step::Revoke { by, .. } | Step::End { by } => by,
            };
            if ended[actor] {
                continue;
            }
            match step {
                Step::Grant { by, through, to, rights, start, len } => {
                    let rights = rights_of(rights);
                    let end = (start + len).min(PAGES);
                    let parent = (by != 0).then(|| through % grants.len().max(1)).filter(|_| !grants.is_empty());
                    let via = match parent {
                        None => Through::Owner(source),
                        Some(parent) => Through::Grant(grants[parent]),
                    };
                    let result = world.shares.grant(&world.vass, CALLERS[by], via, Identity::Process(CALLERS[to].pid), rights, offsets(start, end));
                    let allowed = match parent {
                        None => by == 0,
                        Some(parent) => {
                            let held = effective(&model, parent);
                            model[parent].to == by
                                && held.is_some_and(|held| held.contains(Rights::GRANT) && held.contains(rights))
                                && model[parent].range.0 <= start
                                && end <= model[parent].range.1
                        }
                    } && start < end;
                    prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
                    if let Ok(grant) = result {
                        grants.push(grant);
                        model.push(Model { parent, rights, range: (start, end), to, live: true });
                    }
                }
                Step::Map { by, grant, rights } => {
                    if grants.is_empty() { continue; }
                    let index = grant % grants.len();
                    let rights = rights_of(rights) & PAGE_RIGHTS;
                    let result = world.map(CALLERS[by], grants[index], rights);
                    let allowed = model[index].to == by
                        && effective(&model, index).is_some_and(|held| held.contains(rights))
                        && !mapped.contains_key(&(index, by));
                    prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
                    if let Ok((_, at)) = result {
                        prop_assert_eq!(at.len(), model[index].range.1 - model[index].range.0);
                        mapped.insert((index, by), (at.start, rights));
                    }
                }
                Step::Touch { by, grant, offset, write } => {
                    if grants.is_empty() { continue; }
                    let index = grant % grants.len();
                    let Some(&(start, rights)) = mapped.get(&(index, by)) else { continue };
                    let len = model[index].range.1 - model[index].range.0;
                    let page = start + offset % len;
                    let access = if write { Access::Write } else { Access::Read };
                    let present = world.mmu.translate(SpaceId(CALLERS[by].pid), page);
                    if let Some((_, entry)) = present {
                        prop_assert!(effective(&model, index).is_some(), "a revoked view still maps");
                        prop_assert!(rights.contains(entry));
                        continue;
                    }
                    let outcome = world.fault(CALLERS[by], page, access);
                    let expected_ok = effective(&model, index).is_some() && rights.contains(access.right());
                    if effective(&model, index).is_none() {
                        prop_assert_eq!(outcome, FaultOutcome::Revoked);
                    } else if expected_ok {
                        prop_assert!(matches!(outcome, FaultOutcome::Committed | FaultOutcome::Mapped), "{:?}", outcome);
                    } else {
                        prop_assert_eq!(outcome, FaultOutcome::RightsViolation);
                    }
                }
                Step::Revoke { by, grant } => {
                    if grants.is_empty() { continue; }
                    let index = grant % grants.len();
                    let result = world.revoke(CALLERS[by], grants[index]);
                    let allowed = model[index].live && (by == 0 || ancestors_held_by(&model, index, by));
                    prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
                    if allowed {
                        // The subtree goes.
                        let mut frontier = alloc::vec![index];
                        while let Some(at) = frontier.pop() {
                            model[at].live = false;
                            frontier.extend((0..model.len()).filter(|&child| model[child].parent == Some(at) && model[child].live));
                        }
                    }
                }
                Step::End { by } => {
                    world.vass.destroy_space(SpaceId(CALLERS[by].pid), &mut world.mmu, &mut world.frames);
                    world.shares.process_ended(CALLERS[by].pid);
                    world.vass.check_invariants(&world.mmu, &world.frames).unwrap();
                    ended[by] = true;
                    mapped.retain(|&(_, mapper), _| mapper != by);
                    // Its mappings were given back.
                    for (index, grant) in grants.iter().enumerate() {
                        let rows = world.shares.rows(&world.vass, OWNER, source).unwrap();
                        if let Some(row) = rows.iter().find(|row| row.grant == grant.grant) {
                            let expected = mapped.keys().filter(|&&(mapped_grant, _)| mapped_grant == index).count() as u64;
                            prop_assert_eq!(row.mappings, expected);
                        }
                    }
                }
            }
        }
        // Every view is a live mapping's: nothing refused stayed behind.
        let live = mapped.keys().filter(|&&(index, _)| effective(&model, index).is_some()).count();
        prop_assert_eq!(world.vass.views_of(source).count(), live);
        // Nothing revoked maps anything.
        for (&(index, by), &(start, _)) in &mapped {
            let len = model[index].range.1 - model[index].range.0;
            let any = (start..start + len).any(|page| world.mmu.translate(SpaceId(CALLERS[by].pid), page).is_some());
            prop_assert!(!any || effective(&model, index).is_some());
        }
    }
}
