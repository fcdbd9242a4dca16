//! The two ways fleets are driven today, written as those tools behave (yardsticks, not straw
//! men), through the same API client fleetlr uses:
//!
//! - **sequential**: one device at a time, as the seed document's loop and most scripts do:
//!   submit a call, poll every 5 s until it ends (giving up after 10 minutes, as SOAR
//!   connectors do), then the device's next call, then the next device.
//! - **fire-and-retry**: submit to every device as fast as the API takes it, waiting out each
//!   429 for its `Retry-After`; poll in-flight actions in batches every 5 s and submit a
//!   device's next call when one ends. No session or offline awareness: a Pending action on an
//!   offline device simply holds its session until the device returns.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use fleetlr_defender::models::{ActionStatus, Command, LibraryUpload, LiveResponseRequest};
use fleetlr_defender::{DefenderClient, Error};

use crate::sim::Sim;

/// Simulated period between polls of an action, as SOAR connectors use.
const POLL: Duration = Duration::from_secs(5);
/// Simulated time a sequential tool waits for one action before giving up on it.
const GIVE_UP_ON_ACTION: Duration = Duration::from_secs(10 * 60);
/// A 429 without `Retry-After` is waited out this long (simulated), as clients default to.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a baseline run ended, in simulated seconds.
pub struct Ended {
    pub makespan_secs: f64,
    /// Every device reached an end before the deadline.
    pub finished: bool,
    pub devices_done: usize,
    pub devices_succeeded: usize,
}

/// Puts the playbook's scripts in the fresh tenant's library, as any tool must first.
pub async fn upload_scripts(sim: &Sim, scripts: &[String]) -> anyhow::Result<()> {
    let client = sim.client()?;
    for script in scripts {
        client
            .upload_library_file(&LibraryUpload {
                file_name: script.clone(),
                content: format!("# {script}\n").into_bytes().into(),
                description: None,
                parameters_description: None,
                has_parameters: false,
                override_if_exists: true,
            })
            .await?;
    }
    Ok(())
}

fn request(commands: &[Command]) -> LiveResponseRequest {
    LiveResponseRequest {
        commands: commands.to_vec(),
        comment: "baseline".into(),
    }
}

fn wait_after(err: &Error) -> Option<Duration> {
    (err.status() == Some(429)).then(|| err.retry_after().unwrap_or(DEFAULT_RETRY_AFTER))
}

/// One device at a time over `devices`, each running `calls` in order until one fails.
pub async fn sequential(
    sim: &Sim,
    devices: &[String],
    calls: &[Vec<Command>],
    deadline: Instant,
) -> anyhow::Result<Ended> {
    let client = sim.client()?;
    let clock = sim.clock().await?;
    let started = Instant::now();
    let (mut done, mut succeeded) = (0, 0);
    'devices: for device in devices {
        if Instant::now() > deadline {
            break;
        }
        for commands in calls {
            let Some(status) = run_one(sim, &client, device, commands, deadline).await? else {
                done += 1;
                continue 'devices;
            };
            if status != ActionStatus::Succeeded {
                done += 1;
                continue 'devices;
            }
        }
        done += 1;
        succeeded += 1;
    }
    Ok(Ended {
        makespan_secs: clock.simulated_secs(started, Instant::now()),
        finished: done == devices.len(),
        devices_done: done,
        devices_succeeded: succeeded,
    })
}

/// Submits one call and polls it to its end; `None` when it could not be submitted or was
/// given up on (and cancelled).
async fn run_one(
    sim: &Sim,
    client: &DefenderClient,
    device: &str,
    commands: &[Command],
    deadline: Instant,
) -> anyhow::Result<Option<ActionStatus>> {
    let action = loop {
        match client.run_live_response(device, &request(commands)).await {
            Ok(action) => break action,
            Err(err) => match wait_after(&err) {
                Some(wait) => tokio::time::sleep(sim.wall(wait)).await,
                None if err.is_busy() => tokio::time::sleep(sim.wall(POLL)).await,
                None => return Ok(None),
            },
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
    };
    let give_up = Instant::now() + sim.wall(GIVE_UP_ON_ACTION);
    loop {
        tokio::time::sleep(sim.wall(POLL)).await;
        match client.get_machine_action(&action.id).await {
            Ok(now) if now.status.is_final() => return Ok(Some(now.status)),
            Ok(_) => {}
            Err(err) => {
                if let Some(wait) = wait_after(&err) {
                    tokio::time::sleep(sim.wall(wait)).await;
                }
            }
        }
        if Instant::now() > give_up || Instant::now() > deadline {
            let _ = client
                .cancel_machine_action(&action.id, "baseline gave up")
                .await;
            return Ok(None);
        }
    }
}

/// Everything at once, retrying on 429, polling in batches.
pub async fn fire_and_retry(
    sim: &Sim,
    devices: &[String],
    calls: &[Vec<Command>],
    deadline: Instant,
) -> anyhow::Result<Ended> {
    let client = sim.client()?;
    let clock = sim.clock().await?;
    let started = Instant::now();
    let mut ready: VecDeque<(String, usize)> = devices.iter().map(|d| (d.clone(), 0)).collect();
    let mut in_flight: HashMap<String, (String, usize)> = HashMap::new();
    let (mut done, mut succeeded) = (0usize, 0usize);
    let mut blocked_until = Instant::now();
    let mut next_poll = Instant::now() + sim.wall(POLL);
    while (!ready.is_empty() || !in_flight.is_empty()) && Instant::now() < deadline {
        if Instant::now() >= next_poll {
            next_poll = Instant::now() + sim.wall(POLL);
            let ids: Vec<String> = in_flight.keys().cloned().collect();
            match client.machine_actions_by_ids(&ids).await {
                Ok(actions) => {
                    for action in actions.into_iter().filter(|a| a.status.is_final()) {
                        let Some((device, call)) = in_flight.remove(&action.id) else {
                            continue;
                        };
                        if action.status != ActionStatus::Succeeded {
                            done += 1;
                        } else if call + 1 < calls.len() {
                            ready.push_back((device, call + 1));
                        } else {
                            done += 1;
                            succeeded += 1;
                        }
                    }
                }
                Err(err) => {
                    if let Some(wait) = wait_after(&err) {
                        next_poll = Instant::now() + sim.wall(wait);
                    }
                }
            }
        }
        let now = Instant::now();
        if now < blocked_until || ready.is_empty() {
            let until = if ready.is_empty() {
                next_poll
            } else {
                blocked_until.min(next_poll)
            };
            tokio::time::sleep(until.saturating_duration_since(now)).await;
            continue;
        }
        let Some((device, call)) = ready.pop_front() else {
            continue;
        };
        match client
            .run_live_response(&device, &request(&calls[call]))
            .await
        {
            Ok(action) => {
                in_flight.insert(action.id, (device, call));
            }
            Err(err) => match wait_after(&err) {
                Some(wait) => {
                    blocked_until = Instant::now() + sim.wall(wait);
                    ready.push_front((device, call));
                }
                None if err.is_busy() => ready.push_back((device, call)),
                None => done += 1,
            },
        }
    }
    Ok(Ended {
        makespan_secs: clock.simulated_secs(started, Instant::now()),
        finished: ready.is_empty() && in_flight.is_empty(),
        devices_done: done,
        devices_succeeded: succeeded,
    })
}
