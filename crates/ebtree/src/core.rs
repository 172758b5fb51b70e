//! The key-agnostic engine shared by every tree kind: the arena, the links, and the
//! descent, delete and walk algorithms of HAProxy's ebtree, written over indices.
//!
//! # Layout
//!
//! Every entry owns one slot of the arena, and a slot holds both halves of an ebtree
//! node: the *leaf* part (the entry itself, hung from its parent by `leaf_p`) and the
//! *node* part (an internal branching node with two children `b`, hung by `node_p`). A
//! tree of `n` entries needs `n - 1` branching nodes, so every entry but one lends its
//! node part to the structure and nothing else is ever allocated: this is what makes
//! the tree *elastic*. Slot 0 is the root, whose only child hangs on its left branch.
//!
//! Links are `u32`s: a child link is `index << 1 | is_node`, a parent reference is
//! `index << 1 | side`. The empty link is 0 (the root is never a leaf).
//!
//! # Keys as bit strings
//!
//! The engine sees every key as a string of bits (MSB first) and asks a [`Probe`] two
//! questions: where does the probed key first differ from a stored key, and what is its
//! bit at a position. A branching node at position `q` (its `bit`) splits a subtree
//! whose keys all agree on positions `< q`: keys with a 0 at `q` go left. Duplicates of
//! one key hang below a node with a negative `bit` (a *dup tree*), in insertion order.
//! Integer keys are their own bit strings; prefixes and variable-length strings use a
//! prefix-free encoding (see `prefix.rs` and `bytes.rs`), so one descent serves all.

use crate::Handle;
use std::sync::atomic::{AtomicU32, Ordering};

/// The root's slot.
pub(crate) const ROOT: u32 = 0;
/// The empty link.
const NIL: u32 = 0;
/// An unused node part (`node_p`), a free slot (`leaf_p`), or the end of the free list.
const NONE: u32 = u32::MAX;
pub(crate) const LEFT: usize = 0;
pub(crate) const RIGHT: usize = 1;
/// Slots are addressed with 31 bits, and the last index is kept for `NONE`.
const MAX_SLOTS: usize = (u32::MAX >> 1) as usize;

#[inline(always)]
const fn leaf_link(i: u32) -> u32 {
    i << 1
}
#[inline(always)]
const fn node_link(i: u32) -> u32 {
    (i << 1) | 1
}
#[inline(always)]
const fn is_node(link: u32) -> bool {
    link & 1 != 0
}
#[inline(always)]
const fn index(link: u32) -> u32 {
    link >> 1
}
#[inline(always)]
const fn parent_ref(i: u32, side: usize) -> u32 {
    (i << 1) | side as u32
}
#[inline(always)]
const fn side_of(r: u32) -> usize {
    (r & 1) as usize
}

/// One arena slot: a stored key, the node part, the leaf part and the generation.
///
/// 36 bytes with a `u32` key and a `u32` value; the fields a descent reads (`key`, `bit`,
/// `b`) come first.
#[derive(Debug)]
pub(crate) struct Node<R, T> {
    /// The stored key (or nothing, for trees that keep their keys with the values).
    pub(crate) key: R,
    /// Branching position of the node part; negative inside a dup tree.
    pub(crate) bit: i32,
    /// The node part's children (links).
    pub(crate) b: [u32; 2],
    /// Parent reference of the node part, `NONE` when the node part is unused. On a free
    /// slot, the next free slot.
    pub(crate) node_p: u32,
    /// Parent reference of the leaf part, `NONE` when the slot is free.
    pub(crate) leaf_p: u32,
    /// Generation, bumped every time the slot is freed.
    pub(crate) generation: u32,
    /// The value (with the key, for trees whose keys are not fixed-width); `None` when
    /// the slot is free.
    /// Kept in the slot so that removing an entry touches one cache line less.
    pub(crate) val: Option<T>,
}

/// How a key kind answers the engine's questions about one probed key.
pub(crate) trait Probe<R> {
    /// First bit position where the probed key differs from the key of slot `idx`
    /// (stored as `key`), or `None` when they are equal. The caller guarantees that
    /// they agree on every position below `from`.
    fn diff(&self, idx: u32, key: &R, from: u32) -> Option<u32>;
    /// The probed key's bit at `pos` (0 or 1).
    fn side(&self, pos: u32) -> usize;
    /// Whether the probed key differs from the key of slot `idx` before position `pos`
    /// (they agree below `from`): the test a descent makes on every level, so key kinds
    /// with a cheaper answer than a full [`diff`](Self::diff) give it.
    #[inline(always)]
    fn differs_before(&self, idx: u32, key: &R, from: u32, pos: u32) -> bool {
        matches!(self.diff(idx, key, from), Some(d) if d < pos)
    }
}

/// Where a new entry goes, decided by a read-only descent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Plan {
    /// The tree is empty.
    Empty,
    /// Insert above the subtree `troot` hanging from `parent.b[side]`.
    Above {
        troot: u32,
        parent: u32,
        side: usize,
        /// First differing position with the subtree's keys; `None`: a duplicate.
        diff: Option<u32>,
        /// Whether the new leaf goes right of `troot`.
        right: bool,
        /// Whether the new leaf becomes the first of the tree.
        leftmost: bool,
    },
}

impl Plan {
    /// The first entry holding the probed key, if the plan found it present.
    pub(crate) fn existing<R: Copy + Default, T>(&self, core: &Core<R, T>) -> Option<u32> {
        match *self {
            Plan::Above {
                troot, diff: None, ..
            } => Some(core.walk_down(troot, LEFT)),
            _ => None,
        }
    }
}

static TREE_COUNTER: AtomicU32 = AtomicU32::new(1);

/// A first generation for a new arena of handles (a tree's, or a timer queue's slot
/// table): a different one each time, so that a handle used on the wrong structure is
/// caught with high probability.
pub(crate) fn new_generation_base() -> u32 {
    TREE_COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9)
}

/// The arena and the tree algorithms. `R` is the raw key a descent compares, `T` the
/// value (or, for byte strings, the key and the value).
#[derive(Debug)]
pub(crate) struct Core<R, T> {
    nodes: Vec<Node<R, T>>,
    free_head: u32,
    free_count: usize,
    /// The first leaf, kept so that `first` (a timer queue's hottest call) is O(1).
    head: u32,
    len: usize,
    /// First generation given to a slot; differs between trees so that a handle used
    /// on the wrong tree is caught with high probability.
    gen_base: u32,
}

impl<R: Copy + Default, T> Core<R, T> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let gen_base = new_generation_base();
        let mut nodes = Vec::with_capacity(n.saturating_add(1));
        nodes.push(Node {
            key: R::default(),
            bit: 0,
            b: [NIL, NIL],
            node_p: NONE,
            leaf_p: NONE,
            generation: gen_base,
            val: None,
        });
        Core {
            nodes,
            free_head: NONE,
            free_count: 0,
            head: NONE,
            len: 0,
            gen_base,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `n` more entries, after which inserting them allocates nothing.
    pub(crate) fn reserve(&mut self, n: usize) {
        let need = n.saturating_sub(self.free_count);
        self.nodes.reserve(need);
    }

    /// Slots allocated (live, free and the root), for memory accounting.
    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// Bytes used by the arena, as allocated.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<R, T>>()
    }

    /// Drops every entry and invalidates every handle, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.nodes[ROOT as usize].b = [NIL, NIL];
        self.head = NONE;
        self.free_head = NONE;
        self.free_count = 0;
        self.len = 0;
        // Rebuild the free list from the top so that low slots are reused first.
        for i in (1..self.nodes.len()).rev() {
            let gen_base = self.gen_base;
            let n = &mut self.nodes[i];
            if n.leaf_p != NONE {
                n.generation = n.generation.wrapping_add(1);
                n.leaf_p = NONE;
            }
            n.val = None;
            if n.generation != gen_base {
                n.node_p = self.free_head;
                self.free_head = i as u32;
                self.free_count += 1;
            }
        }
    }

    /// Takes a slot for a new entry; its links are set when it is attached.
    fn alloc(&mut self, key: R, val: T) -> u32 {
        self.len += 1;
        if self.free_head != NONE {
            let i = self.free_head;
            let n = &mut self.nodes[i as usize];
            self.free_head = n.node_p;
            self.free_count -= 1;
            n.key = key;
            n.val = Some(val);
            return i;
        }
        let i = self.nodes.len();
        assert!(i < MAX_SLOTS, "ebtree: more than 2^31 - 2 entries");
        self.nodes.push(Node {
            key,
            bit: 0,
            b: [NIL, NIL],
            node_p: NONE,
            leaf_p: NONE,
            generation: self.gen_base,
            val: Some(val),
        });
        i as u32
    }

    /// Returns an unlinked slot to the free list, with a new generation. A slot whose
    /// generation went all the way round is retired instead, so a handle can never
    /// become valid again.
    fn release(&mut self, i: u32) -> T {
        self.len -= 1;
        let n = &mut self.nodes[i as usize];
        n.generation = n.generation.wrapping_add(1);
        n.leaf_p = NONE;
        n.node_p = NONE;
        if n.generation != self.gen_base {
            n.node_p = self.free_head;
            self.free_head = i;
            self.free_count += 1;
        }
        match n.val.take() {
            Some(v) => v,
            None => unreachable!("ebtree: a linked slot always holds its value"),
        }
    }

    // ----- handles -----

    #[inline]
    pub(crate) fn handle(&self, i: u32) -> Handle {
        Handle {
            idx: i,
            generation: self.nodes[i as usize].generation,
        }
    }

    /// The slot a handle designates, if the handle is still valid.
    #[inline]
    pub(crate) fn resolve(&self, h: Handle) -> Option<u32> {
        let n = self.nodes.get(h.idx as usize)?;
        (h.idx != ROOT && n.generation == h.generation && n.leaf_p != NONE).then_some(h.idx)
    }

    /// Whether slot `i` holds a live entry (for callers that keep slot indices, not
    /// handles, and check the entry's identity themselves).
    #[inline]
    pub(crate) fn is_linked(&self, i: u32) -> bool {
        i != ROOT && self.nodes.get(i as usize).is_some_and(|n| n.leaf_p != NONE)
    }

    #[inline]
    pub(crate) fn key(&self, i: u32) -> &R {
        &self.nodes[i as usize].key
    }

    /// Changes the stored key of an unlinked slot.
    pub(crate) fn set_key(&mut self, i: u32, key: R) {
        self.nodes[i as usize].key = key;
    }

    #[inline]
    pub(crate) fn val(&self, i: u32) -> &T {
        match &self.nodes[i as usize].val {
            Some(v) => v,
            None => unreachable!("ebtree: a linked slot always holds its value"),
        }
    }

    #[inline]
    pub(crate) fn val_mut(&mut self, i: u32) -> &mut T {
        match &mut self.nodes[i as usize].val {
            Some(v) => v,
            None => unreachable!("ebtree: a linked slot always holds its value"),
        }
    }

    // ----- insertion -----

    /// Descends to where the probed key belongs, without changing anything.
    #[inline]
    pub(crate) fn plan<P: Probe<R>>(&self, p: &P) -> Plan {
        let nodes = &self.nodes[..];
        let mut troot = nodes[ROOT as usize].b[LEFT];
        if troot == NIL {
            return Plan::Empty;
        }
        let mut parent = ROOT;
        let mut side = LEFT;
        let mut from = 0;
        let mut all_left = true;
        loop {
            let i = index(troot);
            let n = &nodes[i as usize];
            // Stop above a leaf, above a dup tree, or where the keys stop agreeing.
            if !is_node(troot) || n.bit < 0 || p.differs_before(i, &n.key, from, n.bit as u32) {
                let diff = p.diff(i, &n.key, from);
                let right = diff.is_none_or(|d| p.side(d) == RIGHT);
                return Plan::Above {
                    troot,
                    parent,
                    side,
                    diff,
                    right,
                    leftmost: all_left && !right,
                };
            }
            let q = n.bit as u32;
            parent = i;
            side = p.side(q);
            all_left &= side == LEFT;
            troot = n.b[side];
            from = q + 1;
        }
    }

    /// Like [`plan`](Self::plan), but starts from the leaf `finger` (any linked slot)
    /// instead of the root: it walks up to the lowest branching node whose keys agree
    /// with the probe, then down from there. When the probed key is close to the
    /// finger's, this visits a few nodes instead of a whole root-to-leaf path.
    ///
    /// The walk up gives up after `max_up` nodes and descends from the root instead, so
    /// that a far key costs at most that many extra steps.
    pub(crate) fn plan_near<P: Probe<R>>(&self, p: &P, finger: u32, max_up: u32) -> Plan {
        let nodes = &self.nodes[..];
        let Some(f) = nodes.get(finger as usize).filter(|n| n.leaf_p != NONE) else {
            return self.plan(p);
        };
        if p.diff(finger, &f.key, 0).is_none() {
            return self.plan_after_equal(finger);
        }
        let mut r = f.leaf_p;
        for _ in 0..max_up {
            let a = index(r);
            if a == ROOT {
                break;
            }
            let n = &nodes[a as usize];
            if n.bit >= 0 {
                let q = n.bit as u32;
                if !p.differs_before(a, &n.key, 0, q) {
                    // The probe belongs below `a`: descend as a root descent would.
                    let mut plan = self.plan_below(p, a, q);
                    if let Plan::Above { leftmost, .. } = &mut plan {
                        let head = self.head;
                        *leftmost = p
                            .diff(head, &nodes[head as usize].key, 0)
                            .is_some_and(|d| p.side(d) == LEFT);
                    }
                    return plan;
                }
            }
            r = n.node_p;
        }
        self.plan(p)
    }

    /// Whether the linked slot `i` may take the probed key where it stands: when its
    /// leaf hangs from a branching node at `q` and the probe first differs from the
    /// sibling subtree exactly at `q`, the probe agrees with everything above and stays
    /// on the same side, so the tree keeps its shape and order (and no equal key exists
    /// elsewhere, so the duplicate order is not at stake). O(1): a re-keyed server or
    /// re-armed timer that stays between its neighbours moves without a search.
    pub(crate) fn fits_in_place<P: Probe<R>>(&self, p: &P, i: u32) -> bool {
        let lp = self.nodes[i as usize].leaf_p;
        let parent = index(lp);
        if parent == ROOT {
            return true;
        }
        let pn = &self.nodes[parent as usize];
        if pn.bit < 0 {
            return false;
        }
        let sib = index(pn.b[1 - side_of(lp)]);
        p.diff(sib, &self.nodes[sib as usize].key, 0) == Some(pn.bit as u32)
    }

    /// Where a new entry whose key equals that of the linked slot `finger` goes: after
    /// the group of entries holding that key, which is the finger's leaf or the dup tree
    /// above it (the first ancestor with a non-negative bit ends it). A timer armed with
    /// the same timeout in the same tick as the previous one lands here, without a
    /// descent.
    fn plan_after_equal(&self, finger: u32) -> Plan {
        let nodes = &self.nodes[..];
        let mut troot = leaf_link(finger);
        let mut r = nodes[finger as usize].leaf_p;
        loop {
            let a = index(r);
            if a == ROOT || nodes[a as usize].bit >= 0 {
                break;
            }
            troot = node_link(a);
            r = nodes[a as usize].node_p;
        }
        Plan::Above {
            troot,
            parent: index(r),
            side: side_of(r),
            diff: None,
            right: true,
            leftmost: false,
        }
    }

    /// The descent of [`plan`](Self::plan) from branching node `a` (at position `q`),
    /// which the probe is known to belong below. `leftmost` is left for the caller.
    fn plan_below<P: Probe<R>>(&self, p: &P, a: u32, q: u32) -> Plan {
        let nodes = &self.nodes[..];
        let mut parent = a;
        let mut side = p.side(q);
        let mut troot = nodes[a as usize].b[side];
        let mut from = q + 1;
        loop {
            let i = index(troot);
            let n = &nodes[i as usize];
            if !is_node(troot) || n.bit < 0 || p.differs_before(i, &n.key, from, n.bit as u32) {
                let diff = p.diff(i, &n.key, from);
                let right = diff.is_none_or(|d| p.side(d) == RIGHT);
                return Plan::Above {
                    troot,
                    parent,
                    side,
                    diff,
                    right,
                    leftmost: false,
                };
            }
            let q = n.bit as u32;
            parent = i;
            side = p.side(q);
            troot = n.b[side];
            from = q + 1;
        }
    }

    /// Stores a new entry and links it where `plan` (made on the current tree) says.
    #[inline]
    pub(crate) fn insert_planned(&mut self, plan: Plan, key: R, val: T) -> u32 {
        let new = self.alloc(key, val);
        self.link(plan, new);
        new
    }

    /// Links the unlinked slot `new` where `plan` says.
    #[inline]
    pub(crate) fn link(&mut self, plan: Plan, new: u32) {
        let nodes = &mut self.nodes[..];
        match plan {
            Plan::Empty => {
                self.head = new;
                nodes[ROOT as usize].b[LEFT] = leaf_link(new);
                let n = &mut nodes[new as usize];
                n.leaf_p = parent_ref(ROOT, LEFT);
                n.node_p = NONE;
            }
            Plan::Above {
                troot,
                parent,
                side,
                diff,
                right,
                leftmost,
            } => {
                if leftmost {
                    self.head = new;
                }
                let old = index(troot);
                let bit = match diff {
                    None if is_node(troot) => {
                        // A dup tree is already there.
                        self.insert_dup(old, new);
                        return;
                    }
                    None => -1,
                    Some(d) => d as i32,
                };
                let up = {
                    let n = &mut nodes[new as usize];
                    n.bit = bit;
                    n.node_p = parent_ref(parent, side);
                    if right {
                        n.b = [troot, leaf_link(new)];
                        n.leaf_p = parent_ref(new, RIGHT);
                        parent_ref(new, LEFT)
                    } else {
                        n.b = [leaf_link(new), troot];
                        n.leaf_p = parent_ref(new, LEFT);
                        parent_ref(new, RIGHT)
                    }
                };
                if is_node(troot) {
                    nodes[old as usize].node_p = up;
                } else {
                    nodes[old as usize].leaf_p = up;
                }
                nodes[parent as usize].b[side] = node_link(new);
            }
        }
    }

    /// Adds `new` as the last duplicate of the dup tree whose top is `sub`'s node part.
    ///
    /// The dup tree is kept balanced without any comparison: node parts carry negative
    /// depths (-1 just above two leaves), and the new entry fills the deepest hole on
    /// the right spine, or tops the whole tree when there is none (HAProxy's
    /// `__eb_insert_dup`).
    fn insert_dup(&mut self, sub: u32, new: u32) {
        let nodes = &mut self.nodes[..];
        let mut sub = sub;
        let mut head = sub;
        while is_node(nodes[head as usize].b[RIGHT]) {
            let last = head;
            head = index(nodes[head as usize].b[RIGHT]);
            if nodes[head as usize].bit > nodes[last as usize].bit + 1 {
                sub = head; // there's a hole here
            }
        }
        if nodes[head as usize].bit < -1 {
            // A hole just above the last leaf: insert there.
            let last_leaf = index(nodes[head as usize].b[RIGHT]);
            nodes[head as usize].b[RIGHT] = node_link(new);
            let up = nodes[last_leaf as usize].leaf_p;
            nodes[last_leaf as usize].leaf_p = parent_ref(new, LEFT);
            let n = &mut nodes[new as usize];
            n.bit = -1;
            n.node_p = up;
            n.leaf_p = parent_ref(new, RIGHT);
            n.b = [leaf_link(last_leaf), leaf_link(new)];
        } else {
            // No hole: put the new node above `sub`, one level lower.
            let up = nodes[sub as usize].node_p;
            nodes[index(up) as usize].b[side_of(up)] = node_link(new);
            nodes[sub as usize].node_p = parent_ref(new, LEFT);
            let bit = nodes[sub as usize].bit - 1;
            let n = &mut nodes[new as usize];
            n.bit = bit;
            n.node_p = up;
            n.leaf_p = parent_ref(new, RIGHT);
            n.b = [node_link(sub), leaf_link(new)];
        }
    }

    // ----- deletion -----

    /// Unlinks slot `i` from the tree in O(1) (HAProxy's `__eb_delete`); the slot keeps
    /// its key, value and generation.
    pub(crate) fn unlink(&mut self, i: u32) {
        if self.head == i {
            self.head = self.next(i).unwrap_or(NONE);
        }
        let nodes = &mut self.nodes[..];
        let lp = nodes[i as usize].leaf_p;
        let pside = side_of(lp);
        let parent = index(lp);
        if parent == ROOT {
            // The only entry: the tree becomes empty.
            nodes[ROOT as usize].b[LEFT] = NIL;
            nodes[i as usize].leaf_p = NONE;
            return;
        }
        // Release the parent's node part: hang our sibling from the grandparent.
        let gp = nodes[parent as usize].node_p;
        let sib = nodes[parent as usize].b[1 - pside];
        nodes[index(gp) as usize].b[side_of(gp)] = sib;
        if is_node(sib) {
            nodes[index(sib) as usize].node_p = gp;
        } else {
            nodes[index(sib) as usize].leaf_p = gp;
        }
        nodes[parent as usize].node_p = NONE;
        // If our own node part is in use (it may have just been released, when the
        // parent was ourselves), move it into the parent's now-free node part. The
        // parent's key is below our node part, so it still agrees on the node's prefix.
        let np = nodes[i as usize].node_p;
        if np != NONE {
            let (bit, b) = (nodes[i as usize].bit, nodes[i as usize].b);
            let p = &mut nodes[parent as usize];
            p.node_p = np;
            p.bit = bit;
            p.b = b;
            nodes[index(np) as usize].b[side_of(np)] = node_link(parent);
            for (s, &child) in b.iter().enumerate() {
                if is_node(child) {
                    nodes[index(child) as usize].node_p = parent_ref(parent, s);
                } else {
                    nodes[index(child) as usize].leaf_p = parent_ref(parent, s);
                }
            }
        }
        let n = &mut nodes[i as usize];
        n.node_p = NONE;
        n.leaf_p = NONE;
    }

    /// Unlinks and frees slot `i`, returning its key and value.
    pub(crate) fn remove(&mut self, i: u32) -> (R, T) {
        self.unlink(i);
        let key = self.nodes[i as usize].key;
        (key, self.release(i))
    }

    // ----- walks -----

    /// The first (side LEFT) or last (side RIGHT) leaf below the non-empty link `link`.
    #[inline]
    pub(crate) fn walk_down(&self, mut link: u32, side: usize) -> u32 {
        while is_node(link) {
            link = self.nodes[index(link) as usize].b[side];
        }
        index(link)
    }

    #[inline]
    pub(crate) fn first(&self) -> Option<u32> {
        (self.head != NONE).then_some(self.head)
    }

    #[inline]
    pub(crate) fn last(&self) -> Option<u32> {
        let top = self.nodes[ROOT as usize].b[LEFT];
        (top != NIL).then(|| self.walk_down(top, RIGHT))
    }

    /// The first leaf after the subtree hanging from parent reference `r`.
    #[inline]
    fn next_after(&self, mut r: u32) -> Option<u32> {
        while side_of(r) != LEFT {
            // Walking up from a right branch: never the root, which has only a left one.
            r = self.nodes[index(r) as usize].node_p;
        }
        let right = self.nodes[index(r) as usize].b[RIGHT];
        (right != NIL).then(|| self.walk_down(right, LEFT))
    }

    /// The last leaf before the subtree hanging from parent reference `r`.
    #[inline]
    fn prev_before(&self, mut r: u32) -> Option<u32> {
        while side_of(r) == LEFT {
            if index(r) == ROOT {
                return None;
            }
            r = self.nodes[index(r) as usize].node_p;
        }
        let left = self.nodes[index(r) as usize].b[LEFT];
        Some(self.walk_down(left, RIGHT))
    }

    #[inline]
    pub(crate) fn next(&self, i: u32) -> Option<u32> {
        self.next_after(self.nodes[i as usize].leaf_p)
    }

    #[inline]
    pub(crate) fn prev(&self, i: u32) -> Option<u32> {
        self.prev_before(self.nodes[i as usize].leaf_p)
    }

    // ----- lookups -----

    /// The first entry equal to the probed key.
    #[inline]
    pub(crate) fn lookup<P: Probe<R>>(&self, p: &P) -> Option<u32> {
        let nodes = &self.nodes[..];
        let mut troot = nodes[ROOT as usize].b[LEFT];
        if troot == NIL {
            return None;
        }
        let mut from = 0;
        loop {
            let i = index(troot);
            let n = &nodes[i as usize];
            if !is_node(troot) || n.bit < 0 {
                return p
                    .diff(i, &n.key, from)
                    .is_none()
                    .then(|| self.walk_down(troot, LEFT));
            }
            let q = n.bit as u32;
            if p.differs_before(i, &n.key, from, q) {
                return None;
            }
            troot = n.b[p.side(q)];
            from = q + 1;
        }
    }

    /// The parent reference of the non-empty link `link` (of its node or leaf part).
    #[inline]
    fn up_ref(&self, link: u32) -> u32 {
        let n = &self.nodes[index(link) as usize];
        if is_node(link) { n.node_p } else { n.leaf_p }
    }

    /// The first entry whose key is greater than or equal to the probed key.
    #[inline]
    pub(crate) fn lookup_ge<P: Probe<R>>(&self, p: &P) -> Option<u32> {
        self.lookup_bound::<P, true>(p)
    }

    /// The last entry whose key is less than or equal to the probed key.
    #[inline]
    pub(crate) fn lookup_le<P: Probe<R>>(&self, p: &P) -> Option<u32> {
        self.lookup_bound::<P, false>(p)
    }

    /// `lookup_ge` when `GREATER`, else `lookup_le`: the two are mirror images, and the
    /// const parameter keeps each a straight descent with no run-time branch on the side.
    #[inline]
    fn lookup_bound<P: Probe<R>, const GREATER: bool>(&self, p: &P) -> Option<u32> {
        let (beyond, inward) = if GREATER {
            (RIGHT, LEFT)
        } else {
            (LEFT, RIGHT)
        };
        let nodes = &self.nodes[..];
        let mut troot = nodes[ROOT as usize].b[LEFT];
        if troot == NIL {
            return None;
        }
        let mut from = 0;
        loop {
            let i = index(troot);
            let n = &nodes[i as usize];
            if !is_node(troot) || n.bit < 0 || p.differs_before(i, &n.key, from, n.bit as u32) {
                let diff = p.diff(i, &n.key, from);
                // The whole subtree is on one side of the probe. Its parent reference is
                // read only here, not on every level.
                return match diff {
                    Some(d) if p.side(d) == beyond => {
                        let up = self.up_ref(troot);
                        if GREATER {
                            self.next_after(up)
                        } else {
                            self.prev_before(up)
                        }
                    }
                    _ => Some(self.walk_down(troot, inward)),
                };
            }
            let q = n.bit as u32;
            troot = n.b[p.side(q)];
            from = q + 1;
        }
    }

    /// Descends along the probed key and returns, for every branching node met whose
    /// keys agree with the probe so far, `(bit, left child, right child)` to `visit`;
    /// stops at the first disagreement. Returns the final leaf or dup-tree top reached
    /// (as a link), if it was reached without disagreement above it.
    ///
    /// Used by longest-prefix match, which needs the cover nodes met on the way down.
    #[inline]
    pub(crate) fn descend_path<P: Probe<R>>(
        &self,
        p: &P,
        mut visit: impl FnMut(u32, u32, u32),
    ) -> Option<(u32, Option<u32>)> {
        let nodes = &self.nodes[..];
        let mut troot = nodes[ROOT as usize].b[LEFT];
        if troot == NIL {
            return None;
        }
        let mut from = 0;
        loop {
            let i = index(troot);
            let n = &nodes[i as usize];
            let diff = p.diff(i, &n.key, from);
            if !is_node(troot) || n.bit < 0 {
                return Some((troot, diff));
            }
            let q = n.bit as u32;
            if matches!(diff, Some(d) if d < q) {
                return None;
            }
            visit(q, n.b[LEFT], n.b[RIGHT]);
            troot = n.b[p.side(q)];
            from = q + 1;
        }
    }

    /// Checks the structural invariants; for tests. Returns the number of leaves.
    #[cfg(test)]
    pub(crate) fn check(&self) -> usize {
        let top = self.nodes[ROOT as usize].b[LEFT];
        if top == NIL {
            assert_eq!(self.len, 0);
            assert_eq!(self.head, NONE);
            return 0;
        }
        assert_eq!(self.head, self.walk_down(top, LEFT), "cached first leaf");
        let mut leaves = 0;
        let mut stack = vec![(top, parent_ref(ROOT, LEFT))];
        while let Some((link, up)) = stack.pop() {
            let n = &self.nodes[index(link) as usize];
            if is_node(link) {
                assert_eq!(n.node_p, up, "node_p of {}", index(link));
                stack.push((n.b[LEFT], parent_ref(index(link), LEFT)));
                stack.push((n.b[RIGHT], parent_ref(index(link), RIGHT)));
            } else {
                assert_eq!(n.leaf_p, up, "leaf_p of {}", index(link));
                leaves += 1;
            }
        }
        assert_eq!(leaves, self.len);
        leaves
    }
}

/// A double-ended walk over the leaves between two entries, both included.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    front: u32,
    back: u32,
    done: bool,
}

impl Span {
    /// The walk from `front` to `back`; `None` makes it empty. The caller guarantees that
    /// `front` does not come after `back`.
    pub(crate) fn new(ends: Option<(u32, u32)>) -> Self {
        match ends {
            Some((front, back)) => Span {
                front,
                back,
                done: false,
            },
            None => Span {
                front: 0,
                back: 0,
                done: true,
            },
        }
    }

    #[inline]
    pub(crate) fn next<R: Copy + Default, T>(&mut self, core: &Core<R, T>) -> Option<u32> {
        if self.done {
            return None;
        }
        let i = self.front;
        if i == self.back {
            self.done = true;
        } else {
            match core.next(i) {
                Some(n) => self.front = n,
                None => self.done = true,
            }
        }
        Some(i)
    }

    #[inline]
    pub(crate) fn next_back<R: Copy + Default, T>(&mut self, core: &Core<R, T>) -> Option<u32> {
        if self.done {
            return None;
        }
        let i = self.back;
        if i == self.front {
            self.done = true;
        } else {
            match core.prev(i) {
                Some(p) => self.back = p,
                None => self.done = true,
            }
        }
        Some(i)
    }
}

#[cfg(test)]
impl<R: Copy + Default, T> Core<R, T> {
    /// (max depth, mean depth) of the leaves; for tests.
    pub(crate) fn depths(&self) -> (usize, f64) {
        let top = self.nodes[ROOT as usize].b[LEFT];
        if top == NIL {
            return (0, 0.0);
        }
        let (mut max, mut sum, mut n) = (0, 0usize, 0usize);
        let mut stack = vec![(top, 1usize)];
        while let Some((link, d)) = stack.pop() {
            if is_node(link) {
                let nd = &self.nodes[index(link) as usize];
                stack.push((nd.b[LEFT], d + 1));
                stack.push((nd.b[RIGHT], d + 1));
            } else {
                max = max.max(d);
                sum += d;
                n += 1;
            }
        }
        (max, sum as f64 / n as f64)
    }
}
