//! Deciding, after a crash, whether a submission whose answer was never recorded reached MDE.
//!
//! The ledger's `intended` row carries a marker that went into the action's `Comment`. Listing
//! the device's machine actions either shows the marker (the POST landed: adopt that action, do
//! not submit again) or not. "Not there" proves nothing until the listing is taken long enough
//! after the intent for the service to show new actions; before that the answer is "look again".

use std::time::Duration;

/// A machine action as listed for the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAction {
    pub id: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The POST landed: track this action instead of submitting again.
    Landed { action_id: String },
    /// The POST never reached the service: submitting again is safe.
    NeverLanded,
    /// Too early to tell: list again after the settle period.
    TooSoon,
}

/// Judges one open intent from a listing of the device's actions taken `listed_after` the
/// intent was recorded.
pub fn reconcile(
    marker: &str,
    listed_after: Duration,
    listed: &[ListedAction],
    settle: Duration,
) -> Verdict {
    // The marker is a whole token in the Comment; `fleetlr:r:1:0:1` must not match `fleetlr:r:1:0:10`.
    let carries_marker = |comment: &str| {
        comment
            .split_whitespace()
            .any(|word| word.trim_matches(|c| c == '[' || c == ']') == marker)
    };
    if let Some(action) = listed
        .iter()
        .find(|a| a.comment.as_deref().is_some_and(carries_marker))
    {
        return Verdict::Landed {
            action_id: action.id.clone(),
        };
    }
    if listed_after >= settle {
        Verdict::NeverLanded
    } else {
        Verdict::TooSoon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "fleetlr:run-1:7:0:1";
    const SETTLE: Duration = Duration::from_secs(30);

    fn after(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn action(id: &str, comment: &str) -> ListedAction {
        ListedAction {
            id: id.into(),
            comment: Some(comment.into()),
        }
    }

    #[test]
    fn a_listed_marker_means_the_post_landed_whenever_we_look() {
        let listed = [
            action("a1", "by alice"),
            action("a2", &format!("triage by alice [{MARKER}]")),
        ];
        assert_eq!(
            reconcile(MARKER, after(1), &listed, SETTLE),
            Verdict::Landed {
                action_id: "a2".into()
            }
        );
    }

    #[test]
    fn absence_proves_nothing_until_the_settle_period_has_passed() {
        let listed = [action("a1", "fleetlr:run-1:7:0:10")];
        assert_eq!(
            reconcile(MARKER, after(10), &listed, SETTLE),
            Verdict::TooSoon
        );
        assert_eq!(
            reconcile(MARKER, after(30), &listed, SETTLE),
            Verdict::NeverLanded
        );
    }
}
