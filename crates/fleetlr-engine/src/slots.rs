//! Live response session slots: the tenant's concurrent session cap, minus what analysts keep
//! for the portal, with a reserve only response runs may use, so a bulk collection holding every
//! other slot can never block an alert response.

use fleetlr_store::Priority;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSlots {
    usable: usize,
    reserved_for_response: usize,
    in_use: usize,
}

impl SessionSlots {
    /// `cap` sessions in the tenant; `kept_for_portal` never used by fleetlr; `reserved_for_response`
    /// of the rest usable only by response runs.
    pub fn new(cap: usize, kept_for_portal: usize, reserved_for_response: usize) -> Self {
        let usable = cap.saturating_sub(kept_for_portal);
        Self {
            usable,
            reserved_for_response: reserved_for_response.min(usable),
            in_use: 0,
        }
    }

    /// Whether `priority` may have a slot now.
    pub fn available(&self, priority: Priority) -> bool {
        self.free(priority) > 0
    }

    /// How many slots `priority` may have now.
    pub fn free(&self, priority: Priority) -> usize {
        let limit = match priority {
            Priority::Response => self.usable,
            Priority::Collection => self.usable - self.reserved_for_response,
        };
        limit.saturating_sub(self.in_use)
    }

    /// Takes a slot if `priority` may have one now.
    pub fn try_acquire(&mut self, priority: Priority) -> bool {
        let free = self.available(priority);
        if free {
            self.in_use += 1;
        }
        free
    }

    /// Counts a session that exists whatever the pool says (found in flight after a restart).
    pub fn occupy(&mut self) {
        self.in_use += 1;
    }

    pub fn release(&mut self) {
        self.in_use = self.in_use.saturating_sub(1);
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_cannot_take_the_response_reserve() {
        let mut slots = SessionSlots::new(25, 2, 3);
        let collection = (0..30)
            .filter(|_| slots.try_acquire(Priority::Collection))
            .count();
        assert_eq!(collection, 20);
        assert_eq!(slots.free(Priority::Collection), 0);
        assert_eq!(slots.free(Priority::Response), 3);
        let response = (0..30)
            .filter(|_| slots.try_acquire(Priority::Response))
            .count();
        assert_eq!(response, 3);
        assert_eq!(slots.in_use(), 23);
        slots.release();
        assert!(
            !slots.try_acquire(Priority::Collection),
            "the freed slot is in the reserve"
        );
        assert!(slots.try_acquire(Priority::Response));
    }

    #[test]
    fn a_reserve_larger_than_the_cap_leaves_collection_nothing() {
        let mut slots = SessionSlots::new(2, 0, 5);
        assert!(!slots.try_acquire(Priority::Collection));
        assert!(slots.try_acquire(Priority::Response));
    }
}
