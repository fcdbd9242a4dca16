//! One tenant's scheduler loop: it owns the tenant's session slots and call pacer, submits due
//! targets (response first, then fairly), polls in-flight actions in batches, withdraws actions
//! that offline devices never pick up, reconciles uncertain submissions, re-checks offline
//! devices, expires and cancels, and closes runs. Everything it decides is written to the store
//! first, so after a crash `Worker::resume` rebuilds the same picture from SQLite.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use fleetlr_defender::DefenderClient;
use fleetlr_defender::models::{ActionStatus, LiveResponseRequest, MachineAction};
use fleetlr_defender::odata::{Filter, ODataQuery};
use fleetlr_playbook::{Catalogue, CompiledPlaybook, ParamValue, RenderedCall, TemplateContext};
use fleetlr_store::{
    CallEnd, Priority, Run, RunState, Store, Submission, Target, TargetState, parse_stamp,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Limits;
use crate::artifacts;
use crate::budget::ApiBudget;
use crate::fairness::FairQueue;
use crate::mix::CallMix;
use crate::outcome::{self, Next};
use crate::pacer::CallPacer;
use crate::pickup::PickupLatency;
use crate::playbooks::facts_from_json;
use crate::recapture::{self, Recapture};
use crate::reconcile::{ListedAction, Verdict, reconcile};
use crate::slots::SessionSlots;
use crate::wall_clock::WallClock;

/// Finished targets needed before the circuit breaker judges a run.
const BREAKER_MIN_SAMPLE: u64 = 5;
/// Due targets fetched per run when looking for the next submission.
const CANDIDATES_PER_RUN: u32 = 64;
/// Queued targets of a cancelled or expired run ended per transaction (and per tick).
const END_BATCH: u32 = 500;
/// Shortest poll interval (tenant time), used while every collection slot is taken.
const BUSY_POLL_FLOOR: Duration = Duration::from_secs(4);
/// Shortest poll interval in wall-clock time, whatever a simulated tenant's speed-up.
const BUSY_POLL_FLOOR_WALL: Duration = Duration::from_millis(50);
/// Longest the loop sleeps without a reason to wake.
const IDLE_TICK: Duration = Duration::from_secs(5);

/// A tenant as the engine drives it.
pub(crate) struct Tenant {
    pub name: String,
    pub client: DefenderClient,
    pub limits: Limits,
    pub budget: ApiBudget,
    pub pacer: CallPacer,
    pub wake: Notify,
    /// Set once the state in SQLite has been loaded after start-up.
    pub ready: AtomicBool,
    /// The wall clock as the tenant's stored deadlines read it.
    pub clock: WallClock,
}

impl Tenant {
    pub fn new(name: String, client: DefenderClient, limits: Limits) -> Self {
        let budget = ApiBudget::new(
            limits.api_calls_per_minute,
            limits.api_calls_per_hour,
            limits.time_scale,
        )
        .for_tenant(&name);
        let pacer = CallPacer::new(
            limits.live_response_calls,
            limits.wall(limits.live_response_window),
            limits.pacing_margin,
            limits.wall(limits.response_call_within),
        );
        Self {
            name,
            client,
            limits,
            budget,
            pacer,
            wake: Notify::new(),
            ready: AtomicBool::new(false),
            clock: WallClock::new(),
        }
    }
}

/// An accepted action fleetlr waits on.
struct Flight {
    submission_id: i64,
    target_id: i64,
    run_id: String,
    device_id: String,
    action_id: String,
    call_index: u32,
    watched_since: Instant,
    /// Whether the device has been seen working on it (to learn pickup times once per action).
    picked_up: bool,
    cancel_sent: bool,
    /// When its request went out, if this process sent it (to learn how long the call holds a
    /// session).
    sent_at: Option<Instant>,
}

impl Flight {
    /// Starts watching the accepted action of `submission`.
    fn watch(submission: &Submission, action_id: String) -> Self {
        Self {
            submission_id: submission.id,
            target_id: submission.target_id,
            run_id: submission.run_id.clone(),
            device_id: submission.device_id.clone(),
            action_id,
            call_index: submission.call_index,
            watched_since: Instant::now(),
            picked_up: false,
            cancel_sent: false,
            sent_at: None,
        }
    }
}

/// A run's compiled playbook and bound values, kept while the run is open.
struct Plan {
    run: Run,
    compiled: Arc<CompiledPlaybook>,
    params: Arc<BTreeMap<String, ParamValue>>,
    alert: Option<Arc<BTreeMap<String, String>>>,
}

impl Plan {
    fn load(run: Run) -> Result<Self, String> {
        let catalogue = Catalogue {
            files: facts_from_json(&run.library),
            ..Catalogue::new("the run's library snapshot")
        };
        let compiled = fleetlr_playbook::load(&run.playbook_name, &run.playbook_source, &catalogue)
            .map_err(|problems| format!("the stored playbook no longer compiles:\n{problems}"))?;
        let supplied: BTreeMap<String, String> = run
            .parameters
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        let params = compiled.bind_parameters(&supplied).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let alert = run.alert.as_ref().and_then(|alert| {
            serde_json::from_value::<BTreeMap<String, String>>(alert.clone()).ok()
        });
        Ok(Self {
            run,
            compiled: Arc::new(compiled),
            params: Arc::new(params),
            alert: alert.map(Arc::new),
        })
    }

    fn render(&self, target: &Target) -> Result<Vec<RenderedCall>, String> {
        render(
            &self.compiled,
            &self.params,
            self.alert.as_deref(),
            &self.run.id,
            target,
        )
    }

    fn is_cancelling(&self) -> bool {
        self.run.state == RunState::Cancelling
    }

    /// Past its expiry at `now`: its queued targets are ended, none is submitted.
    fn is_expired(&self, now: DateTime<Utc>) -> bool {
        parse_stamp(&self.run.expires_at).is_some_and(|at| at <= now)
    }
}

fn render(
    compiled: &CompiledPlaybook,
    params: &BTreeMap<String, ParamValue>,
    alert: Option<&BTreeMap<String, String>>,
    run_id: &str,
    target: &Target,
) -> Result<Vec<RenderedCall>, String> {
    let ctx = TemplateContext {
        run_id,
        device_id: &target.device_id,
        device_name: target.device_name.as_deref().unwrap_or(&target.device_id),
        params,
        alert,
    };
    fleetlr_playbook::render(compiled, &ctx).map_err(|err| err.to_string())
}

pub(crate) struct Worker {
    tenant: Arc<Tenant>,
    store: Store,
    artifacts: PathBuf,
    stop: CancellationToken,
    flights: HashMap<String, Flight>,
    /// Submissions whose answer was lost, each with when this process began waiting on it, on
    /// the monotonic clock: a wall clock jumping forward must not cut the settle period short.
    uncertain: Vec<(Submission, Instant)>,
    /// Devices with an action fleetlr started and has not finished recording.
    busy: HashSet<String>,
    slots: SessionSlots,
    fair: FairQueue<String>,
    /// How long each run's calls hold their sessions, to choose which due call goes next.
    mix: CallMix,
    plans: HashMap<String, Plan>,
    next_poll: Instant,
    quiet_polls: u32,
    finishing: JoinSet<String>,
    /// The batch of results being fetched again, if any (`recapture`).
    recapturing: Option<tokio::task::JoinHandle<()>>,
    next_recapture: Instant,
    wake_at: Instant,
    /// When recent `runliveresponse` calls were sent, for the budget gauge.
    recent_calls: VecDeque<Instant>,
    /// Runs whose first submission this process has measured.
    first_measured: HashSet<String>,
    /// How fast this tenant's devices pick actions up, which sets when one counts as offline.
    pickup: PickupLatency,
}

impl Worker {
    pub fn new(
        tenant: Arc<Tenant>,
        store: Store,
        artifacts: PathBuf,
        stop: CancellationToken,
    ) -> Self {
        let limits = &tenant.limits;
        let slots = SessionSlots::new(
            limits.max_sessions as usize,
            limits.sessions_kept_for_portal as usize,
            limits.sessions_reserved_for_response as usize,
        );
        Self {
            tenant,
            store,
            artifacts,
            stop,
            flights: HashMap::new(),
            uncertain: Vec::new(),
            busy: HashSet::new(),
            slots,
            fair: FairQueue::default(),
            mix: CallMix::default(),
            plans: HashMap::new(),
            next_poll: Instant::now(),
            quiet_polls: 0,
            finishing: JoinSet::new(),
            recapturing: None,
            next_recapture: Instant::now(),
            wake_at: Instant::now(),
            recent_calls: VecDeque::new(),
            first_measured: HashSet::new(),
            pickup: PickupLatency::default(),
        }
    }

    fn wall(&self, period: Duration) -> Duration {
        self.tenant.limits.wall(period)
    }

    /// Loads what a previous process left in flight or uncertain, then schedules until stopped.
    pub async fn run(mut self, grace: Arc<std::sync::Mutex<Duration>>) {
        while let Err(err) = self.resume().await {
            tracing::error!(tenant = %self.tenant.name, error = %err, "loading scheduler state failed; retrying");
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        self.tenant.ready.store(true, Ordering::SeqCst);
        while !self.stop.is_cancelled() {
            self.wake_at = Instant::now() + IDLE_TICK;
            if let Err(err) = self.tick().await {
                tracing::error!(tenant = %self.tenant.name, error = %err, "scheduler step failed; retrying");
                self.wake_at = Instant::now() + Duration::from_secs(1);
            }
            tokio::select! {
                () = self.stop.cancelled() => {}
                () = self.tenant.wake.notified() => {}
                () = tokio::time::sleep_until(self.wake_at) => {}
                Some(done) = self.finishing.join_next(), if !self.finishing.is_empty() => self.finished(done),
            }
        }
        // Stop: no more submissions; let result captures in progress end within the grace period.
        let grace = *grace.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + grace;
        while !self.finishing.is_empty() {
            match tokio::time::timeout_at(deadline, self.finishing.join_next()).await {
                Ok(Some(done)) => self.finished(done),
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(tenant = %self.tenant.name, "result captures still running at shutdown; they resume at the next start");
                    self.finishing.abort_all();
                    break;
                }
            }
        }
    }

    async fn resume(&mut self) -> fleetlr_store::Result<()> {
        self.flights.clear();
        self.busy.clear();
        let name = self.tenant.name.clone();
        let calls = self.tenant.limits.live_response_calls.get();
        let (wall, now) = (Utc::now(), Instant::now());
        let made = self.store.recent_call_answers(&name, calls).await?;
        self.tenant.pacer.remember(made.into_iter().map(|answered| {
            // A call with no recorded answer may have reached the service up to now; a stamp
            // in the future (the clock was set back) counts as made just now too.
            answered
                .and_then(|at| now.checked_sub((wall - at).to_std().ok()?))
                .unwrap_or(now)
        }));
        for submission in self.store.in_flight(&name).await? {
            let Some(action_id) = submission.machine_action_id.clone() else {
                continue;
            };
            self.slots.occupy();
            self.busy.insert(submission.device_id.clone());
            self.flights
                .insert(action_id.clone(), Flight::watch(&submission, action_id));
        }
        let now = Instant::now();
        self.uncertain = self
            .store
            .open_intents(&name)
            .await?
            .into_iter()
            .map(|submission| (submission, now))
            .collect();
        for (submission, _) in &self.uncertain {
            // An uncertain POST may hold a session; count it until reconciled.
            self.slots.occupy();
            self.busy.insert(submission.device_id.clone());
        }
        if !self.flights.is_empty() || !self.uncertain.is_empty() {
            tracing::info!(tenant = %name, in_flight = self.flights.len(), uncertain = self.uncertain.len(), "resumed scheduler state");
        }
        Ok(())
    }

    fn finished(&mut self, done: Result<String, tokio::task::JoinError>) {
        match done {
            Ok(device_id) => {
                self.busy.remove(&device_id);
            }
            Err(err) => {
                // The flight stays recorded as in flight; a restart picks it up again.
                tracing::error!(tenant = %self.tenant.name, error = %err, "result capture task failed");
            }
        }
        self.tenant.wake.notify_one();
    }

    fn wake_within(&mut self, wait: Duration) {
        self.wake_at = self.wake_at.min(Instant::now() + wait);
    }

    async fn tick(&mut self) -> fleetlr_store::Result<()> {
        self.follow_wall_clock().await?;
        self.refresh_runs().await?;
        self.reconcile_uncertain().await?;
        if Instant::now() >= self.next_poll && !self.flights.is_empty() {
            self.poll().await?;
        }
        if !self.flights.is_empty() {
            let until_poll = self.next_poll.saturating_duration_since(Instant::now());
            self.wake_within(until_poll);
        }
        self.recheck_offline().await?;
        self.submit().await?;
        self.recapture_due().await?;
        self.report();
        Ok(())
    }

    /// Moves the tenant's stored deadlines by however far the wall clock jumped, so no period
    /// ends early or late because of it (see `wall_clock`).
    async fn follow_wall_clock(&mut self) -> fleetlr_store::Result<()> {
        let Some(jump) = self.tenant.clock.unshifted() else {
            return Ok(());
        };
        let moved = self.store.shift_deadlines(&self.tenant.name, jump).await?;
        self.tenant.clock.shifted(jump);
        tracing::warn!(tenant = %self.tenant.name, jump_seconds = jump.num_seconds(), deadlines = moved, "the wall clock jumped; stored deadlines moved with it");
        Ok(())
    }

    /// Starts fetching again, in the background, results whose writing failed and are due.
    async fn recapture_due(&mut self) -> fleetlr_store::Result<()> {
        let busy = self
            .recapturing
            .as_ref()
            .is_some_and(|job| !job.is_finished());
        if busy || Instant::now() < self.next_recapture {
            return Ok(());
        }
        self.next_recapture = Instant::now() + recapture::CHECK_EVERY;
        let due = self
            .store
            .due_captures(&self.tenant.name, self.tenant.clock.now(), recapture::BATCH)
            .await?;
        if !due.is_empty() {
            let job = Recapture {
                tenant: self.tenant.clone(),
                store: self.store.clone(),
                artifacts: self.artifacts.clone(),
            };
            self.recapturing = Some(tokio::spawn(job.run(due)));
        }
        Ok(())
    }

    fn report(&mut self) {
        let limits = &self.tenant.limits;
        let window = limits.wall(limits.live_response_window);
        while self
            .recent_calls
            .front()
            .is_some_and(|at| at.elapsed() >= window)
        {
            self.recent_calls.pop_front();
        }
        let name = &self.tenant.name;
        crate::metrics::sessions_in_use(name, self.slots.in_use());
        crate::metrics::live_response_window(
            name,
            self.recent_calls.len(),
            limits.live_response_calls.get(),
        );
    }

    /// Loads open runs, applies their controls (expiry, cancellation, breaker, canary) and
    /// closes the ones whose targets have all ended.
    async fn refresh_runs(&mut self) -> fleetlr_store::Result<()> {
        let runs = self.store.open_runs(&self.tenant.name).await?;
        let open: HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
        let closed: Vec<String> = self
            .plans
            .keys()
            .filter(|id| !open.contains(*id))
            .cloned()
            .collect();
        for id in closed {
            self.plans.remove(&id);
            self.fair.remove(&id);
            self.mix.forget(&id);
        }
        for run in runs {
            let id = run.id.clone();
            match self.plans.get_mut(&id) {
                Some(plan) => plan.run = run,
                None => match Plan::load(run) {
                    Ok(plan) => {
                        self.fair.add(id.clone(), plan.run.priority);
                        self.plans.insert(id.clone(), plan);
                    }
                    Err(reason) => {
                        tracing::error!(run = %id, %reason, "run cannot be scheduled");
                        self.store
                            .set_run_state(&id, RunState::Paused, &reason)
                            .await?;
                        continue;
                    }
                },
            }
            self.control_run(&id).await?;
        }
        Ok(())
    }

    #[tracing::instrument(name = "run", skip_all, fields(tenant = %self.tenant.name, run = %run_id))]
    async fn control_run(&mut self, run_id: &str) -> fleetlr_store::Result<()> {
        let Some(plan) = self.plans.get(run_id) else {
            return Ok(());
        };
        let run = plan.run.clone();
        let expired = plan.is_expired(self.tenant.clock.now());
        if run.state == RunState::Queued {
            self.store
                .set_run_state(run_id, RunState::Running, "scheduling started")
                .await?;
        }
        let ending = if run.state == RunState::Cancelling {
            Some(TargetState::Cancelled)
        } else {
            expired.then_some(TargetState::Expired)
        };
        if let Some(state) = ending
            && self.end_queued(run_id, state).await?
        {
            // More are queued: the next tick ends the next batch, after polling and serving the
            // tenant's other runs, so a response is never held up behind a big run's ending.
            self.wake_within(Duration::ZERO);
            return Ok(());
        }
        let counts: HashMap<TargetState, u64> = self
            .store
            .target_counts(run_id)
            .await?
            .into_iter()
            .collect();
        let count = |state| counts.get(&state).copied().unwrap_or(0);
        let open = counts
            .iter()
            .filter(|(state, _)| !state.is_final())
            .map(|(_, n)| n)
            .sum::<u64>();
        if open == 0 {
            let (state, reason) = if run.state == RunState::Cancelling {
                (RunState::Cancelled, "every target ended")
            } else {
                (RunState::Finished, "every target ended")
            };
            self.store.set_run_state(run_id, state, reason).await?;
            return Ok(());
        }
        if run.state != RunState::Running && run.state != RunState::Queued {
            return Ok(());
        }
        let bad = count(TargetState::Failed) + count(TargetState::TimedOut);
        let ended = counts
            .iter()
            .filter(|(state, _)| state.is_final())
            .map(|(_, n)| n)
            .sum::<u64>();
        if let Some(limit) = run.max_failure_percent
            && ended >= BREAKER_MIN_SAMPLE
            && bad * 100 > u64::from(limit) * ended
        {
            let reason = format!(
                "circuit breaker: {bad} of {ended} ended targets failed or timed out, over the run's limit of {limit}%; resume to continue without it, or cancel"
            );
            self.store
                .set_run_state(run_id, RunState::Paused, &reason)
                .await?;
            return Ok(());
        }
        if let Some(canary) = run.canary.filter(|n| *n > 0) {
            let canaries = self.store.first_targets(run_id, canary).await?;
            let failed = canaries
                .iter()
                .filter(|t| matches!(t.state, TargetState::Failed | TargetState::TimedOut))
                .count();
            let all_ended = canaries.iter().all(|t| t.state.is_final());
            if all_ended && failed > 0 {
                let reason = format!(
                    "canary: {failed} of the first {} targets failed; resume to run the rest anyway, or cancel",
                    canaries.len()
                );
                self.store
                    .set_run_state(run_id, RunState::Paused, &reason)
                    .await?;
            }
        }
        Ok(())
    }

    /// Ends up to `END_BATCH` of a run's queued targets (no action in flight) as cancelled or
    /// expired, in one transaction, each with an outcome for every command it will now never
    /// run; answers whether more may be queued.
    async fn end_queued(
        &mut self,
        run_id: &str,
        state: TargetState,
    ) -> fleetlr_store::Result<bool> {
        let (kind, reason) = match state {
            TargetState::Cancelled => (
                fleetlr_store::OutcomeKind::Cancelled,
                "the run was cancelled before this device's commands were sent",
            ),
            _ => (
                fleetlr_store::OutcomeKind::Expired,
                "the device did not come online before the run expired",
            ),
        };
        let far = Utc::now() + chrono::TimeDelta::days(36_500);
        let mut batch = Vec::new();
        for queued in [TargetState::Pending, TargetState::WaitingOffline] {
            let room = END_BATCH - batch.len() as u32;
            if room == 0 {
                break;
            }
            batch.extend(self.store.due_targets(run_id, queued, far, room).await?);
        }
        if batch.is_empty() {
            return Ok(false);
        }
        let full = batch.len() as u32 == END_BATCH;
        let ends: Vec<(i64, Vec<fleetlr_store::NewOutcome>)> = batch
            .iter()
            .map(|target| {
                let outcomes = match self.plans.get(run_id).map(|plan| plan.render(target)) {
                    Some(Ok(calls)) => {
                        outcome::unrun(&calls, target.call_index, kind, kind, Some(reason))
                    }
                    _ => Vec::new(),
                };
                (target.id, outcomes)
            })
            .collect();
        self.store.end_targets(state, reason, &ends).await?;
        Ok(full)
    }

    /// Resolves submissions whose answer was lost, by looking for their marker in the device's
    /// machine actions once the service has had time to list them.
    async fn reconcile_uncertain(&mut self) -> fleetlr_store::Result<()> {
        if self.uncertain.is_empty() {
            return Ok(());
        }
        let settle = self.wall(self.tenant.limits.reconcile_settle);
        let mut still = Vec::new();
        // A verdict that cannot be stored (database busy or full) leaves that submission and
        // the ones after it uncertain, to be settled at the next step.
        let mut stored = Ok(());
        let mut pending = std::mem::take(&mut self.uncertain).into_iter();
        while let Some((submission, since)) = pending.next() {
            let intended_at = parse_stamp(&submission.intended_at).map(SystemTime::from);
            let waited = settled_for(
                intended_at.and_then(|at| SystemTime::now().duration_since(at).ok()),
                since.elapsed(),
            );
            if waited < settle {
                self.wake_within(settle - waited);
                still.push((submission, since));
                continue;
            }
            let query = ODataQuery::new()
                .filter(Filter::eq("machineId", &submission.device_id))
                .top(200);
            let client = &self.tenant.client;
            let listed = match self
                .tenant
                .budget
                .call("machineactions.list", || {
                    client.list_machine_actions(&query)
                })
                .await
            {
                Ok(page) => page.value,
                Err(err) => {
                    tracing::warn!(marker = %submission.marker, error = %err, "could not list actions to reconcile a submission; will retry");
                    self.wake_within(Duration::from_secs(1).max(settle / 4));
                    still.push((submission, since));
                    continue;
                }
            };
            let listed: Vec<ListedAction> = listed
                .into_iter()
                .map(|action| ListedAction {
                    id: action.id,
                    comment: action.requestor_comment,
                })
                .collect();
            // Listed after `waited` had passed since the intent, by both clocks.
            match reconcile(&submission.marker, waited, &listed, settle) {
                Verdict::Landed { action_id } => {
                    tracing::info!(marker = %submission.marker, %action_id, "uncertain submission had landed; tracking it");
                    if let Err(err) = self.store.record_accepted(submission.id, &action_id).await {
                        still.push((submission, since));
                        still.extend(pending);
                        stored = Err(err);
                        break;
                    }
                    self.flights
                        .insert(action_id.clone(), Flight::watch(&submission, action_id));
                    self.next_poll = Instant::now();
                }
                Verdict::NeverLanded => {
                    tracing::info!(marker = %submission.marker, "uncertain submission never landed; it will be sent again");
                    if let Err(err) = self
                        .store
                        .record_refused(
                            submission.id,
                            "the request never reached the service",
                            None,
                        )
                        .await
                    {
                        still.push((submission, since));
                        still.extend(pending);
                        stored = Err(err);
                        break;
                    }
                    self.slots.release();
                    self.busy.remove(&submission.device_id);
                }
                Verdict::TooSoon => {
                    self.wake_within(settle);
                    still.push((submission, since));
                }
            }
        }
        self.uncertain = still;
        stored
    }

    fn mark_uncertain(&mut self, submission: Submission) {
        self.uncertain.push((submission, Instant::now()));
    }

    /// Polls every in-flight action (batched), hands final ones to result capture, and
    /// withdraws actions that offline devices have not picked up.
    async fn poll(&mut self) -> fleetlr_store::Result<()> {
        let ids: Vec<String> = self.flights.keys().cloned().collect();
        let tenant = self.tenant.clone();
        let client = &tenant.client;
        let actions = match tenant
            .budget
            .call("machineactions.list", || {
                client.machine_actions_by_ids(&ids)
            })
            .await
        {
            Ok(actions) => actions,
            Err(err) => {
                tracing::warn!(tenant = %self.tenant.name, error = %err, "polling actions failed; will retry");
                self.next_poll = Instant::now() + self.wall(self.tenant.limits.poll_interval);
                return Ok(());
            }
        };
        let mut changed = false;
        let limits = &self.tenant.limits;
        let offline_after = self.pickup.offline_after(
            limits.wall(limits.offline_after_min),
            limits.wall(limits.offline_after),
        );
        for action in actions {
            self.learn_pickup(&action);
            if action.status.is_final() {
                changed = true;
                self.land(action);
                continue;
            }
            let Some(flight) = self.flights.get_mut(&action.id) else {
                continue;
            };
            let cancelling = self
                .plans
                .get(&flight.run_id)
                .is_some_and(Plan::is_cancelling);
            let unpicked = action.status == ActionStatus::Pending
                && flight.watched_since.elapsed() >= offline_after;
            if action.status != ActionStatus::Pending {
                flight.watched_since = Instant::now();
            }
            if (cancelling || unpicked) && !flight.cancel_sent {
                flight.cancel_sent = true;
                changed = true;
                let comment = if cancelling {
                    "fleetlr: the run was cancelled"
                } else {
                    "fleetlr: the device did not pick this up; fleetlr queues it until the device is back"
                };
                let action_id = action.id.clone();
                match tenant
                    .budget
                    .call("machineactions.cancel", || {
                        client.cancel_machine_action(&action_id, comment)
                    })
                    .await
                {
                    Ok(cancelled) if cancelled.status.is_final() => self.land(cancelled),
                    Ok(_) => {}
                    // A 400 means it became final meanwhile; the next poll shows how it ended.
                    Err(err) => {
                        tracing::debug!(action = %action.id, error = %err, "cancel refused")
                    }
                }
            }
        }
        // While every collection slot is taken, each moment a finished action goes unseen is a
        // session lost to work that waits for it: poll faster. Otherwise every quiet poll
        // doubles the interval, up to four times the configured one.
        let slots_full = !self.slots.available(Priority::Collection);
        self.quiet_polls = if changed || slots_full {
            0
        } else {
            (self.quiet_polls + 1).min(2)
        };
        let limits = &self.tenant.limits;
        let interval = if slots_full {
            // On a sped-up tenant, polling more than 20 times a second would only spend the
            // daemon's CPU on answers the next tick handles anyway.
            self.wall(busy_poll_interval(limits.poll_interval))
                .max(BUSY_POLL_FLOOR_WALL)
        } else {
            self.wall(limits.poll_interval * (1 << self.quiet_polls))
        };
        self.next_poll = Instant::now() + interval;
        Ok(())
    }

    /// Learns from the first poll that shows a device working on (or done with) an action how
    /// long pickups take. Withdrawn and expired actions were never picked up and teach nothing.
    fn learn_pickup(&mut self, action: &MachineAction) {
        let Some(flight) = self.flights.get_mut(&action.id) else {
            return;
        };
        let picked = matches!(
            action.status,
            ActionStatus::InProgress | ActionStatus::Succeeded | ActionStatus::Failed
        );
        if picked && !flight.picked_up {
            flight.picked_up = true;
            self.pickup.observe(flight.watched_since.elapsed());
        }
    }

    /// An action ended: its session is free; its results are captured and recorded in the
    /// background (the device stays busy until then).
    fn land(&mut self, action: MachineAction) {
        let Some(flight) = self.flights.remove(&action.id) else {
            return;
        };
        self.slots.release();
        if let Some(sent) = flight.sent_at
            && matches!(
                action.status,
                ActionStatus::Succeeded | ActionStatus::Failed
            )
        {
            self.mix
                .observe(&flight.run_id, flight.call_index, sent.elapsed());
        }
        let Some(plan) = self.plans.get(&flight.run_id) else {
            // The run is closed (cannot be, while a target is in flight); keep the device
            // busy so nothing else is sent to it before a restart sorts it out.
            tracing::error!(run = %flight.run_id, action = %action.id, "finished action of a run that is not open");
            return;
        };
        let job = Finish {
            client: self.tenant.client.clone(),
            store: self.store.clone(),
            tenant: self.tenant.clone(),
            artifacts: self.artifacts.clone(),
            compiled: plan.compiled.clone(),
            params: plan.params.clone(),
            alert: plan.alert.clone(),
            cancelling: plan.is_cancelling(),
            flight,
            action,
        };
        self.finishing.spawn(job.run());
    }

    /// Moves offline targets whose re-check is due back into the queue when MDE reports their
    /// sensor active, one batched Machines query for all of them.
    async fn recheck_offline(&mut self) -> fleetlr_store::Result<()> {
        let now = self.tenant.clock.now();
        let mut due: Vec<Target> = Vec::new();
        for (id, plan) in &self.plans {
            if plan.run.state == RunState::Running {
                due.extend(
                    self.store
                        .due_targets(id, TargetState::WaitingOffline, now, 200)
                        .await?,
                );
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = due.iter().map(|t| t.device_id.as_str()).collect();
        let mut active: HashSet<String> = HashSet::new();
        for batch in ids.chunks(50) {
            let query = ODataQuery::new().filter(Filter::is_in("id", batch.iter().copied()));
            let client = &self.tenant.client;
            match self
                .tenant
                .budget
                .call("machines.list", || client.list_all_machines(&query))
                .await
            {
                Ok(machines) => active.extend(
                    machines
                        .iter()
                        .filter(|m| crate::targets::is_active(m))
                        .map(|m| m.id.clone()),
                ),
                Err(err) => {
                    tracing::warn!(tenant = %self.tenant.name, error = %err, "re-checking offline devices failed; will retry");
                    self.wake_within(Duration::from_secs(1));
                    return Ok(());
                }
            }
        }
        for target in due {
            if active.contains(&target.device_id) {
                self.store
                    .defer_target(
                        target.id,
                        TargetState::Pending,
                        None,
                        "the device reports as active again",
                    )
                    .await?;
            } else {
                let retry_at = self.tenant.clock.now()
                    + to_delta(self.wall(self.tenant.limits.inactive_recheck));
                self.store
                    .defer_target(
                        target.id,
                        TargetState::WaitingOffline,
                        Some(retry_at),
                        "the device still reports as inactive",
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Submits due targets while a session slot and the call pacer allow: response runs first,
    /// runs of one priority in turn, one action per device.
    async fn submit(&mut self) -> fleetlr_store::Result<()> {
        let mut candidates: HashMap<String, VecDeque<Target>> = HashMap::new();
        let mut fetched: HashSet<String> = HashSet::new();
        loop {
            if !self.slots.available(Priority::Response) {
                return Ok(());
            }
            // Fetch the due targets of runs that may start now (lazily, once per tick).
            for (id, plan) in &self.plans {
                if plan.run.state != RunState::Running && plan.run.state != RunState::Queued
                    || plan.is_expired(self.tenant.clock.now())
                {
                    continue;
                }
                if !self.slots.available(plan.run.priority) || !fetched.insert(id.clone()) {
                    continue;
                }
                let mut due = self
                    .store
                    .due_targets(
                        id,
                        TargetState::Pending,
                        self.tenant.clock.now(),
                        CANDIDATES_PER_RUN,
                    )
                    .await?;
                if let Some(canary) = plan.run.canary.filter(|n| *n > 0) {
                    let canaries = self.store.first_targets(id, canary).await?;
                    let failed = canaries
                        .iter()
                        .any(|t| matches!(t.state, TargetState::Failed | TargetState::TimedOut));
                    // Until every canary ended well only canaries go out: after a failed one the
                    // run pauses at its next check, and a canary can end between that check
                    // and this one.
                    if failed || !canaries.iter().all(|t| t.state.is_final()) {
                        due.retain(|t| canaries.iter().any(|c| c.id == t.id));
                    }
                }
                due.retain(|t| !self.busy.contains(&t.device_id));
                candidates.insert(id.clone(), due.into());
            }
            let slots = &self.slots;
            let Some((run_id, priority)) = self.fair.next(
                |id| candidates.get(id).is_some_and(|due| !due.is_empty()),
                |priority| slots.available(priority),
            ) else {
                self.wake_for_next_due();
                return Ok(());
            };
            // The run may have been paused or cancelled since this tick loaded it (by an
            // operator, or by its own breaker or canary a moment ago): nothing more of it goes
            // out. One SQLite read per submission, at most ten a minute.
            let state = self.store.run(&run_id).await?.state;
            if !matches!(state, RunState::Running | RunState::Queued) {
                if let Some(plan) = self.plans.get_mut(&run_id) {
                    plan.run.state = state;
                }
                candidates.remove(&run_id);
                continue;
            }
            let calls_scarce = self.tenant.pacer.places_free(priority) < self.slots.free(priority);
            if let Err(wait) = self.tenant.pacer.try_take(priority) {
                self.wake_within(wait);
                return Ok(());
            }
            let now = self.tenant.clock.now();
            let longest_wait = to_delta(self.wall(self.tenant.limits.live_response_window));
            let Some(target) = candidates.get_mut(&run_id).and_then(|due| {
                let next = self.mix.pick(&run_id, due, calls_scarce, now, longest_wait);
                due.remove(next)
            }) else {
                continue;
            };
            if self.busy.contains(&target.device_id) {
                continue;
            }
            // Two runs may target the same device; only one action at a time.
            for due in candidates.values_mut() {
                due.retain(|t| t.device_id != target.device_id);
            }
            self.slots.try_acquire(priority);
            self.submit_one(&run_id, target).await?;
        }
    }

    /// Sleeps no longer than until the earliest deferred target is due.
    fn wake_for_next_due(&mut self) {
        // Deferred targets are re-read every idle tick; nothing finer is needed for waits
        // measured in minutes. For sped-up tenants, tick faster.
        let tick = self.wall(IDLE_TICK * 6).min(IDLE_TICK);
        self.wake_within(tick);
    }

    /// The service answered but the answer could not be stored (the database is busy or
    /// full): the submission stays `intended` in the ledger, so it is settled exactly as after a
    /// crash, by reconciliation finding (or not) its marker. Its slot and device stay taken
    /// until then, so nothing else is sent to the device meanwhile.
    fn answer_not_recorded(&mut self, submission: Submission) {
        tracing::warn!(marker = %submission.marker, "the service's answer could not be recorded; reconciling");
        self.mark_uncertain(submission);
        self.wake_within(self.wall(self.tenant.limits.reconcile_settle));
    }

    #[tracing::instrument(name = "submit", skip_all, fields(tenant = %self.tenant.name, run = %run_id, target = target.id, device = %target.device_id, call = target.call_index))]
    async fn submit_one(&mut self, run_id: &str, target: Target) -> fleetlr_store::Result<()> {
        let Some(plan) = self.plans.get(run_id) else {
            self.slots.release();
            return Ok(());
        };
        let calls = match plan.render(&target) {
            Ok(calls) => calls,
            Err(reason) => {
                self.slots.release();
                return self
                    .store
                    .end_target(target.id, TargetState::Failed, &reason, &[])
                    .await;
            }
        };
        let Some(call) = calls.get(target.call_index as usize) else {
            self.slots.release();
            return self
                .store
                .end_target(target.id, TargetState::Succeeded, "no calls left", &[])
                .await;
        };
        if self.first_measured.insert(run_id.to_owned()) {
            // Measured once per run, and only when this is truly its first submission.
            if target.attempts == 0
                && target.call_index == 0
                && let Some(created) = parse_stamp(&plan.run.created_at)
                && !self.store.run_has_submissions(run_id).await?
            {
                let waited = (Utc::now() - created).to_std().unwrap_or_default();
                crate::metrics::first_submission(&self.tenant.name, waited.as_secs_f64());
            }
        }
        let submission = self
            .store
            .record_intent(target.id, target.call_index)
            .await?;
        self.busy.insert(target.device_id.clone());
        let comment = format!(
            "{} started by {} via fleetlr ({})",
            submission.marker, plan.run.started_by, plan.run.playbook_name
        );
        let request =
            LiveResponseRequest::new(comment, call.commands.iter().map(api_command).collect());
        let sent = Instant::now();
        self.recent_calls.push_back(sent);
        let answer = self
            .tenant
            .client
            .run_live_response(&target.device_id, &request)
            .await;
        self.tenant.pacer.answered();
        crate::metrics::api_call(&self.tenant.name, "runliveresponse", &answer);
        let limits = &self.tenant.limits;
        match answer {
            Ok(action) => {
                if let Err(err) = self.store.record_accepted(submission.id, &action.id).await {
                    self.answer_not_recorded(submission);
                    return Err(err);
                }
                let flight = Flight {
                    sent_at: Some(sent),
                    ..Flight::watch(&submission, action.id.clone())
                };
                self.flights.insert(action.id, flight);
                if self.flights.len() == 1 {
                    self.next_poll = Instant::now() + self.wall(limits.poll_interval);
                }
                return Ok(());
            }
            Err(err) if err.is_transient() => {
                // It may or may not have landed: never send it again blindly.
                tracing::warn!(marker = %submission.marker, error = %err, "submission answer lost; reconciling");
                let settle = self.wall(limits.reconcile_settle);
                self.mark_uncertain(submission);
                self.wake_within(settle);
                return Ok(());
            }
            Err(err) => {
                let refusal = err.to_string();
                let retry_at = if err.is_rate_limited() {
                    // Someone else spent the budget: wait as told; this is never a failure.
                    let wait = err
                        .retry_after()
                        .unwrap_or(limits.live_response_window)
                        .div_f64(limits.time_scale.max(1.0));
                    self.tenant.pacer.hold_for(wait);
                    None
                } else if err.is_busy() {
                    Some(self.tenant.clock.now() + to_delta(self.wall(limits.busy_retry)))
                } else if err.is_token_failure() || err.is_unauthorized() {
                    tracing::error!(tenant = %self.tenant.name, error = %err, "the tenant refuses fleetlr's credentials; submissions wait");
                    let wait = self.wall(Duration::from_secs(60));
                    self.tenant.pacer.hold_for(wait);
                    Some(self.tenant.clock.now() + to_delta(wait))
                } else {
                    None
                };
                if let Err(store_err) = self
                    .store
                    .record_refused(submission.id, &refusal, retry_at)
                    .await
                {
                    self.answer_not_recorded(submission);
                    return Err(store_err);
                }
                self.slots.release();
                self.busy.remove(&target.device_id);
                let lasting = !(err.is_rate_limited()
                    || err.is_busy()
                    || err.is_token_failure()
                    || err.is_unauthorized());
                if lasting {
                    // The request itself was refused (bad device, disallowed, bad command):
                    // trying again would get the same answer.
                    let outcomes = outcome::unrun(
                        &calls,
                        target.call_index,
                        fleetlr_store::OutcomeKind::Failed,
                        fleetlr_store::OutcomeKind::NotExecuted,
                        Some(&refusal),
                    );
                    self.store
                        .end_target(target.id, TargetState::Failed, &refusal, &outcomes)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// How long an uncertain submission has been settling: the shorter of the wall-clock time since
/// its intent was stored and the monotonic time this process has waited on it, so a wall clock
/// jumping forward cannot end the wait before it has truly passed. An intent stamped in the
/// future (`None`: the wall clock went back since) says nothing; the monotonic wait alone
/// counts, so a clock set back an hour does not hold the submission, and its device and
/// session, for that hour.
fn settled_for(since_intent: Option<Duration>, waited_here: Duration) -> Duration {
    since_intent.map_or(waited_here, |since| since.min(waited_here))
}

fn offline_backoff(limits: &Limits, times_offline: u32) -> chrono::TimeDelta {
    let doublings = times_offline
        .saturating_sub(limits.offline_rechecks_at_base.max(1))
        .min(16);
    let wait = limits
        .offline_recheck
        .saturating_mul(1 << doublings)
        .min(limits.offline_recheck_max);
    to_delta(limits.wall(wait))
}

/// The poll interval while every collection slot is taken: a third of the configured one, but
/// never under 4 s, so polls stay within 15 a minute (900 an hour, well inside the endpoint's
/// 1,500) whatever `poll_interval` says.
fn busy_poll_interval(poll_interval: Duration) -> Duration {
    (poll_interval / 3).max(BUSY_POLL_FLOOR).min(poll_interval)
}

fn to_delta(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}

fn api_command(command: &fleetlr_playbook::RenderedCommand) -> fleetlr_defender::models::Command {
    use fleetlr_defender::models::Command as Api;
    match &command.command {
        fleetlr_playbook::Command::PutFile { file_name } => Api::put_file(file_name.clone()),
        fleetlr_playbook::Command::RunScript { script_name, args } => {
            Api::run_script(script_name.clone(), args.clone())
        }
        fleetlr_playbook::Command::GetFile { path } => Api::get_file(path.clone()),
    }
}

/// First and longest wait before recording a finished action again while the database is
/// busy or full (wall-clock: these are the database's conditions, not the tenant's).
const RECORD_RETRY_FIRST: Duration = Duration::from_secs(1);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(30);

/// Recording how one action ended, off the scheduler loop (downloads can be large).
struct Finish {
    client: DefenderClient,
    store: Store,
    tenant: Arc<Tenant>,
    artifacts: PathBuf,
    compiled: Arc<CompiledPlaybook>,
    params: Arc<BTreeMap<String, ParamValue>>,
    alert: Option<Arc<BTreeMap<String, String>>>,
    cancelling: bool,
    flight: Flight,
    action: MachineAction,
}

impl Finish {
    /// Returns the device, which is free again once this is recorded.
    ///
    /// While the database is busy or full the whole recording is tried again (the results are
    /// fetched again too: a link can be had again for a completed command), so a locked or full
    /// disk delays the outcome rather than leaving the target in flight until a restart.
    async fn run(self) -> String {
        let device = self.flight.device_id.clone();
        let mut wait = RECORD_RETRY_FIRST;
        loop {
            match self.record().await {
                Ok(()) => break,
                Err(err) if err.unavailable().is_some() => {
                    tracing::warn!(action = %self.flight.action_id, error = %err, retry_in_secs = wait.as_secs(), "recording a finished action must wait: {}", err.unavailable().map_or("", |why| why.describe()));
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RECORD_RETRY_MAX);
                }
                Err(err) => {
                    // Left in flight in the store: the next start polls it and records it again.
                    tracing::error!(action = %self.flight.action_id, error = %err, "recording a finished action failed");
                    break;
                }
            }
        }
        device
    }

    #[tracing::instrument(name = "record", skip_all, fields(run = %self.flight.run_id, target = self.flight.target_id, device = %self.flight.device_id, action = %self.flight.action_id, status = %self.action.status))]
    async fn record(&self) -> fleetlr_store::Result<()> {
        let flight = &self.flight;
        let target = self.store.target(flight.target_id).await?;
        let calls = match render(
            &self.compiled,
            &self.params,
            self.alert.as_deref(),
            &flight.run_id,
            &target,
        ) {
            Ok(calls) => calls,
            Err(reason) => {
                tracing::error!(run = %flight.run_id, %reason, "cannot render the call again to record it");
                Vec::new()
            }
        };
        let (mut outcomes, next) = outcome::judge(
            &calls,
            flight.call_index,
            &self.action,
            self.cancelling,
            flight.cancel_sent,
        );
        if next == Next::DeviceOffline {
            // Nothing ran: the withdrawal is in the event log, the commands get their outcomes
            // when the device is back.
            outcomes.clear();
        }
        let call = calls.get(flight.call_index as usize);
        for outcome in &mut outcomes {
            let command = call.and_then(|c| c.commands.get(outcome.command_index as usize));
            let Some(command) = command else { continue };
            if outcome.outcome != fleetlr_store::OutcomeKind::Completed
                || matches!(command.command, fleetlr_playbook::Command::PutFile { .. })
            {
                continue;
            }
            match artifacts::capture(
                &self.client,
                &self.tenant.budget,
                &self.artifacts,
                &flight.run_id,
                &flight.device_id,
                &flight.action_id,
                flight.call_index,
                outcome.command_index,
                &command.command,
            )
            .await
            {
                Ok(evidence) => {
                    outcome.exit_code = evidence.exit_code;
                    outcome.output_preview = evidence.output_preview;
                    outcome.artifact_path = Some(evidence.path);
                    outcome.artifact_sha256 = Some(evidence.sha256);
                    outcome.artifact_bytes = Some(evidence.bytes);
                }
                Err(error) => {
                    outcome
                        .errors
                        .push(format!("{}{error}", fleetlr_store::NOT_CAPTURED));
                    if error.is_local() {
                        // fleetlr's own storage failed, not the service: fetched again later.
                        outcome.capture_retry = artifacts::artifact_name(&command.command);
                    }
                }
            }
        }
        if let Next::Ends(state) = next
            && state != TargetState::Succeeded
        {
            // The calls after this one will never be sent: each of their commands gets its
            // outcome now, so every command of every target has one.
            let kind = match state {
                TargetState::Cancelled => fleetlr_store::OutcomeKind::Cancelled,
                TargetState::Expired => fleetlr_store::OutcomeKind::Expired,
                _ => fleetlr_store::OutcomeKind::NotExecuted,
            };
            outcomes.extend(outcome::unrun(
                &calls,
                flight.call_index + 1,
                kind,
                kind,
                None,
            ));
        }
        let end = match next {
            Next::Continue { next_call } => CallEnd::Continue { next_call },
            Next::Ends(state) => CallEnd::Ends(state),
            Next::DeviceOffline => CallEnd::DeviceOffline {
                retry_at: self.tenant.clock.now()
                    + offline_backoff(&self.tenant.limits, target.offline_count + 1),
            },
        };
        self.store
            .finish_call(
                flight.submission_id,
                self.action.status.as_str(),
                &outcomes,
                &end,
            )
            .await?;
        self.tenant.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_cannot_end_the_settle_period_early() {
        let minute = Duration::from_secs(60);
        // The wall clock jumped an hour ahead while this process waited a minute.
        assert_eq!(settled_for(Some(minute * 61), minute), minute);
        // After a restart, an intent stored a second before is still young.
        assert_eq!(settled_for(Some(minute / 60), minute * 5), minute / 60);
    }

    #[test]
    fn a_wall_clock_set_back_does_not_hold_an_uncertain_submission_for_the_jump() {
        let minute = Duration::from_secs(60);
        // The clock went back an hour: the intent is stamped in the future.
        assert_eq!(settled_for(None, minute * 2), minute * 2);
    }

    #[test]
    fn polls_quicken_while_slots_are_full_but_never_past_the_floor() {
        assert_eq!(
            [1, 6, 15, 60].map(|s| busy_poll_interval(Duration::from_secs(s)).as_secs()),
            [1, 4, 5, 20]
        );
    }

    #[test]
    fn offline_rechecks_keep_their_base_pace_then_double_up_to_the_cap_in_tenant_time() {
        let limits = Limits {
            offline_recheck: Duration::from_secs(15 * 60),
            offline_rechecks_at_base: 3,
            offline_recheck_max: Duration::from_secs(4 * 3600),
            ..Limits::default()
        };
        let minutes = |n| offline_backoff(&limits, n).num_minutes();
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 8, 40].map(minutes),
            [15, 15, 15, 30, 60, 120, 240, 240, 240]
        );
        let fast = Limits {
            time_scale: 60.0,
            ..limits
        };
        assert_eq!(offline_backoff(&fast, 1).num_seconds(), 15);
    }
}
