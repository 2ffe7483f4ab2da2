//! The endgame: duplicate requests for the blocks that have waited longest, bounded per peer and
//! in total.

use std::time::Duration;

use crate::geometry::BlockRef;

use super::{Ask, BlockState, Picker, ENDGAME_MIN_AGE, ENDGAME_OWNERS};

impl Picker {
    pub(super) fn pick_endgame(
        &mut self,
        ask: &Ask<'_>,
        allowed: &dyn Fn(u32) -> bool,
        room: usize,
        out: &mut Vec<BlockRef>,
    ) {
        if room == 0 {
            return;
        }
        // The requests that have waited longest are the likeliest to be stuck.
        let mut waiting: Vec<(Duration, u32, usize)> = Vec::new();
        for (&piece, part) in &self.partials {
            if part.owner.is_some() || !allowed(piece) {
                continue;
            }
            for (i, state) in part.blocks.iter().enumerate() {
                if let BlockState::Requested { owners, since } = state {
                    let stuck = *since + ENDGAME_MIN_AGE <= ask.now;
                    if stuck && owners.len() < ENDGAME_OWNERS && !owners.contains(&ask.peer) {
                        waiting.push((*since, piece, i));
                    }
                }
            }
        }
        waiting.sort();
        for (_, piece, i) in waiting.into_iter().take(room) {
            if let Some(BlockState::Requested { owners, .. }) = self
                .partials
                .get_mut(&piece)
                .and_then(|part| part.blocks.get_mut(i))
            {
                owners.push(ask.peer);
                self.duplicates += 1;
                out.push(self.geometry.block(piece, i as u32));
            }
        }
    }

    /// In endgame, when the next request becomes old enough to duplicate (after `now`).
    pub fn next_endgame_at(&self, now: Duration) -> Option<Duration> {
        if !self.in_endgame() {
            return None;
        }
        self.partials
            .values()
            .filter(|part| part.owner.is_none())
            .flat_map(|part| &part.blocks)
            .filter_map(|state| match state {
                BlockState::Requested { owners, since } if owners.len() < ENDGAME_OWNERS => {
                    Some(*since + ENDGAME_MIN_AGE)
                }
                _ => None,
            })
            .filter(|t| *t > now)
            .min()
    }

    /// Whether some request is old enough to duplicate now.
    pub fn endgame_due(&self, now: Duration) -> bool {
        self.in_endgame()
            && self
                .partials
                .values()
                .filter(|p| p.owner.is_none())
                .any(|part| {
                    part.blocks.iter().any(|state| {
                        matches!(state, BlockState::Requested { owners, since }
                        if owners.len() < ENDGAME_OWNERS && *since + ENDGAME_MIN_AGE <= now)
                    })
                })
    }
}
