//! BEP 42 in a [`DhtNode`]: which nodes have ids their addresses allow, and our own id kept
//! one that the address other nodes see us at allows, so that nodes enforcing BEP 42 keep us.
//!
//! Our address comes from the `ip` key of answers to our queries (spoofed answers are already
//! dropped: an answer counts only from the address its query went to). When
//! [`VOTES_FOR_IP`] nodes at different IPs name the same address, it is ours; if BEP 42 does
//! not allow our id there, we take one it allows and rebuild the table around it.

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;

use super::{DhtAction, DhtConfig, DhtNode};
use crate::dht::id::NodeId;

/// Answering nodes, at different IPs, that must name the same address before it is ours.
pub const VOTES_FOR_IP: usize = 3;

/// Addresses we keep votes for, and voters per address: bounded whatever nodes claim.
const MAX_VOTED_IPS: usize = 8;
const MAX_VOTERS: usize = 16;

/// Whether BEP 42 allows `id` for a node at `ip`, under `config`'s exemption of local
/// addresses.
pub(super) fn verified(config: &DhtConfig, id: &NodeId, ip: IpAddr) -> bool {
    if config.exempt_local {
        id.valid_for(ip)
    } else {
        id.derived_from(ip)
    }
}

impl DhtNode {
    /// Our address as other nodes see it, once [`VOTES_FOR_IP`] of them agree.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external
    }

    /// A node at `voter` answered us and said we are at `seen`.
    pub(super) fn vote_external(&mut self, now: Duration, voter: IpAddr, seen: IpAddr) {
        if seen.is_unspecified() || seen.is_multicast() {
            return;
        }
        if self.ip_votes.len() >= MAX_VOTED_IPS && !self.ip_votes.contains_key(&seen) {
            // Too many different claims: start the count again.
            self.ip_votes.clear();
        }
        let voters = self.ip_votes.entry(seen).or_default();
        if voters.len() < MAX_VOTERS {
            voters.insert(voter);
        }
        if voters.len() < VOTES_FOR_IP {
            return;
        }
        self.ip_votes.clear();
        if self.external == Some(seen) {
            return;
        }
        self.external = Some(seen);
        if verified(&self.config, &self.id(), seen) {
            return;
        }
        let id = NodeId::for_ip(seen, self.rng.gen(), self.rng.gen());
        self.table = self.table.with_own_id(id);
        self.actions
            .push_back(DhtAction::NewId { id, external: seen });
        // Learn the neighbourhood of the new id, as a bootstrap does.
        let seeds = self.seed_candidates(&id);
        let _ = self.start(now, id, false, None, seeds);
    }
}

#[cfg(test)]
mod tests;
