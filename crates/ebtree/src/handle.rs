//! Handles: small `Copy` names for entries.

use std::fmt;

/// Names one entry of one tree, as long as that entry lives.
///
/// A handle is an arena index plus the generation the slot had when the entry was
/// inserted. Removing the entry bumps the generation, so every later use of the handle,
/// even after the slot was reused, is detected and answered with `None`. Generations
/// start at a different value in every tree, so a handle used on the wrong tree is also
/// caught, with high probability (not certainty: use each handle with its own tree).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    pub(crate) idx: u32,
    pub(crate) generation: u32,
}

impl Handle {
    /// The arena slot, stable while the entry lives; useful as a dense index in a side
    /// table (slots are reused after removal, so pair it with the handle itself).
    pub fn slot(self) -> u32 {
        self.idx
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}#{:08x})", self.idx, self.generation)
    }
}
