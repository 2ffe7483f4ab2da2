//! The picker's half of the endgame: which requested blocks may take one more owner. Which of
//! them are worth racing is the engine's call (`engine::endgame`), since it knows the peers'
//! rates and queues.

use crate::geometry::{BlockRef, BLOCK_LEN};

use super::{BlockState, PeerKey, Picker, ENDGAME_OWNERS, MAX_DUPLICATES};

impl Picker {
    /// Whether `peer` may take a duplicate request for `block`: we are in endgame, the block is
    /// requested from fewer than [`ENDGAME_OWNERS`] peers (not `peer`), its piece is not kept
    /// whole for a peer on parole, and fewer than [`MAX_DUPLICATES`] duplicates are out.
    pub fn can_duplicate(&self, block: BlockRef, peer: PeerKey) -> bool {
        if self.duplicates >= MAX_DUPLICATES || !self.in_endgame() {
            return false;
        }
        let Some(part) = self.partials.get(&block.piece) else {
            return false;
        };
        let i = (block.offset / BLOCK_LEN) as usize;
        part.owner.is_none()
            && matches!(part.blocks.get(i), Some(BlockState::Requested { owners, .. })
                if owners.len() < ENDGAME_OWNERS && !owners.contains(&peer))
    }

    /// Adds `peer` as one more owner of `block`; false if it may not (see
    /// [`Picker::can_duplicate`]).
    pub fn duplicate(&mut self, block: BlockRef, peer: PeerKey) -> bool {
        if !self.can_duplicate(block, peer) {
            return false;
        }
        let i = (block.offset / BLOCK_LEN) as usize;
        match self
            .partials
            .get_mut(&block.piece)
            .and_then(|part| part.blocks.get_mut(i))
        {
            Some(BlockState::Requested { owners, .. }) => {
                owners.push(peer);
                self.duplicates += 1;
                true
            }
            _ => false,
        }
    }
}
