//! Which run gets the next submission: response runs first, then round-robin among runs of the
//! same priority, so a 10,000-device collection cannot starve a 5-device one.

use fleetlr_store::Priority;
use std::collections::VecDeque;
use std::hash::Hash;

#[derive(Debug)]
pub struct FairQueue<R> {
    response: VecDeque<R>,
    collection: VecDeque<R>,
}

impl<R: Clone + Eq + Hash> Default for FairQueue<R> {
    fn default() -> Self {
        Self {
            response: VecDeque::new(),
            collection: VecDeque::new(),
        }
    }
}

impl<R: Clone + Eq + Hash> FairQueue<R> {
    pub fn add(&mut self, run: R, priority: Priority) {
        let queue = self.queue(priority);
        if !queue.contains(&run) {
            queue.push_back(run);
        }
    }

    pub fn remove(&mut self, run: &R) {
        self.response.retain(|r| r != run);
        self.collection.retain(|r| r != run);
    }

    /// The next run that `has_work` among priorities that `may_start`, rotated to the back of its queue.
    pub fn next(
        &mut self,
        mut has_work: impl FnMut(&R) -> bool,
        mut may_start: impl FnMut(Priority) -> bool,
    ) -> Option<(R, Priority)> {
        for priority in [Priority::Response, Priority::Collection] {
            if !may_start(priority) {
                continue;
            }
            let queue = self.queue(priority);
            if let Some(position) = queue.iter().position(&mut has_work) {
                let run = queue.remove(position)?;
                queue.push_back(run.clone());
                return Some((run, priority));
            }
        }
        None
    }

    fn queue(&mut self, priority: Priority) -> &mut VecDeque<R> {
        match priority {
            Priority::Response => &mut self.response,
            Priority::Collection => &mut self.collection,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_goes_first_and_runs_of_a_priority_take_turns() {
        let mut queue = FairQueue::default();
        queue.add("big", Priority::Collection);
        queue.add("small", Priority::Collection);
        let order: Vec<_> = (0..4)
            .filter_map(|_| queue.next(|_| true, |_| true))
            .map(|(r, _)| r)
            .collect();
        assert_eq!(order, ["big", "small", "big", "small"]);
        queue.add("alert", Priority::Response);
        assert_eq!(
            queue.next(|_| true, |_| true),
            Some(("alert", Priority::Response))
        );
    }

    #[test]
    fn a_run_without_due_work_is_skipped_and_priorities_without_slots_wait() {
        let mut queue = FairQueue::default();
        queue.add("alert", Priority::Response);
        queue.add("done", Priority::Collection);
        queue.add("busy", Priority::Collection);
        assert_eq!(
            queue.next(|r| *r != "done", |p| p == Priority::Collection),
            Some(("busy", Priority::Collection))
        );
        queue.remove(&"alert");
        assert_eq!(queue.next(|_| true, |p| p == Priority::Response), None);
    }
}
