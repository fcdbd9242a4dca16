//! Simulated devices: identity, tags, groups and when each is online.

use crate::scenario::{DurationRange, Scenario, mix, unit};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// A device group and whether it allows live response.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub automation: bool,
}

/// A period during which a device is offline; `until: None` means it never returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfflineWindow {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub os_platform: String,
    pub tags: Vec<String>,
    pub group: Option<usize>,
    pub aad_device_id: String,
    pub ip: String,
    pub first_seen: DateTime<Utc>,
    /// Sorted, non-overlapping offline windows.
    pub offline: Vec<OfflineWindow>,
    /// Full device reports happen at `report_phase + k * report_interval`; `lastSeen` follows them.
    pub report_phase: DateTime<Utc>,
    pub report_interval: Duration,
    pub isolated: bool,
}

impl Device {
    pub fn is_online(&self, at: DateTime<Utc>) -> bool {
        self.window_at(at).is_none()
    }

    fn window_at(&self, at: DateTime<Utc>) -> Option<&OfflineWindow> {
        self.offline
            .iter()
            .find(|w| w.from <= at && w.until.is_none_or(|until| at < until))
    }

    /// The first moment at or after `at` when the device is online; `None` if it never is.
    pub fn next_online(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut at = at;
        while let Some(window) = self.window_at(at) {
            at = window.until?;
        }
        Some(at)
    }

    /// The first moment after `at` when the device goes offline, if it ever does.
    pub fn next_offline(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.offline
            .iter()
            .map(|w| w.from)
            .filter(|from| *from > at)
            .min()
    }

    /// Adds an offline window starting now (admin endpoint and scenario faults).
    pub fn go_offline(&mut self, from: DateTime<Utc>, until: Option<DateTime<Utc>>) {
        self.offline.push(OfflineWindow { from, until });
        self.offline.sort_by_key(|w| w.from);
    }

    /// Ends every offline window that covers `at`, so the device is online from `at` on.
    pub fn come_online(&mut self, at: DateTime<Utc>) {
        for window in &mut self.offline {
            if window.from <= at && window.until.is_none_or(|until| until > at) {
                window.until = Some(at);
            }
        }
        self.offline
            .retain(|w| w.until.is_none_or(|until| until > w.from));
    }

    /// `lastSeen` as MDE reports it: the last full report the device sent while online. It is
    /// deliberately coarse (daily by default), so it cannot tell whether a device is online now.
    pub fn last_seen(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let interval = TimeDelta::from_std(self.report_interval).unwrap_or(TimeDelta::days(1));
        if interval <= TimeDelta::zero() {
            return now;
        }
        let ticks = (now - self.report_phase)
            .num_milliseconds()
            .div_euclid(interval.num_milliseconds());
        let mut tick = self.report_phase + interval * i32::try_from(ticks).unwrap_or(i32::MAX);
        // Walk back over reports missed while offline; bounded so a pathological schedule stays cheap.
        for _ in 0..10_000 {
            if tick <= self.first_seen || self.is_online(tick) {
                return tick.max(self.first_seen);
            }
            tick -= interval;
        }
        self.first_seen
    }
}

/// Builds the groups and devices a scenario describes, deterministically for `seed`.
pub fn build_fleet(
    scenario: &Scenario,
    generated: usize,
    seed: u64,
    epoch: DateTime<Utc>,
) -> (Vec<Group>, Vec<Device>) {
    let mut groups: Vec<Group> = scenario
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| Group {
            id: 1000 + i as i64,
            name: g.name.clone(),
            automation: g.automation,
        })
        .collect();
    let report_interval = scenario.timing.report_interval;
    let count = scenario.fleet.count.unwrap_or(generated);
    let mut devices = Vec::with_capacity(count + scenario.devices.len());
    for index in 0..count {
        let key = format!("device-{index}");
        let (prefix, platform) = platform(seed, &key);
        let name = format!("{prefix}-{index:05}.corp.contoso.com");
        let mut device = new_device(seed, &key, name, platform, epoch, report_interval);
        for share in &scenario.fleet.tags {
            if unit(seed, &format!("{key}/tag/{}", share.tag)) < share.fraction {
                device.tags.push(share.tag.clone());
            }
        }
        let group_draw = unit(seed, &format!("{key}/group"));
        let mut cumulative = 0.0;
        for (i, spec) in scenario.groups.iter().enumerate() {
            cumulative += spec.fraction;
            if group_draw < cumulative {
                device.group = Some(i);
                break;
            }
        }
        for (i, share) in scenario.fleet.offline.iter().enumerate() {
            let rule = format!("{key}/offline/{i}");
            if unit(seed, &rule) < share.fraction {
                let from = epoch + draw(seed, &format!("{rule}/from"), share.from.as_ref());
                let until = share
                    .until
                    .as_ref()
                    .map(|range| epoch + draw(seed, &format!("{rule}/until"), Some(range)));
                device.go_offline(from, until.filter(|until| *until > from));
            }
        }
        devices.push(device);
    }
    for (i, spec) in scenario.devices.iter().enumerate() {
        let key = format!("explicit-{i}-{}", spec.name);
        let platform = spec.os_platform.as_deref().unwrap_or("Windows11");
        let mut device = new_device(
            seed,
            &key,
            spec.name.clone(),
            platform,
            epoch,
            report_interval,
        );
        if let Some(id) = &spec.id {
            device.id = id.clone();
        }
        device.tags = spec.tags.clone();
        device.group = spec
            .group
            .as_ref()
            .map(|name| group_index(&mut groups, name));
        for (w, window) in spec.offline.iter().enumerate() {
            let from = epoch
                + draw(
                    seed,
                    &format!("{key}/offline/{w}/from"),
                    window.from.as_ref(),
                );
            let until = window
                .until
                .as_ref()
                .map(|range| epoch + draw(seed, &format!("{key}/offline/{w}/until"), Some(range)));
            device.go_offline(from, until);
        }
        devices.push(device);
    }
    (groups, devices)
}

fn group_index(groups: &mut Vec<Group>, name: &str) -> usize {
    if let Some(i) = groups.iter().position(|g| g.name == name) {
        return i;
    }
    groups.push(Group {
        id: 1000 + groups.len() as i64,
        name: name.to_owned(),
        automation: true,
    });
    groups.len() - 1
}

fn draw(seed: u64, key: &str, range: Option<&DurationRange>) -> TimeDelta {
    let value = range.map_or(Duration::ZERO, |r| r.pick(unit(seed, key)));
    TimeDelta::from_std(value).unwrap_or(TimeDelta::MAX)
}

/// A host-name prefix and the matching `osPlatform`: mostly workstations, some servers and Linux.
fn platform(seed: u64, key: &str) -> (&'static str, &'static str) {
    match mix(seed, &format!("{key}/os")) % 10 {
        0..=5 => ("ws", "Windows11"),
        6..=8 => ("srv", "WindowsServer2022"),
        _ => ("lnx", "Linux"),
    }
}

fn new_device(
    seed: u64,
    key: &str,
    name: String,
    os_platform: &str,
    epoch: DateTime<Utc>,
    report_interval: DurationRange,
) -> Device {
    let id = format!(
        "{:016x}{:016x}{:08x}",
        mix(seed, &format!("{key}/id/0")),
        mix(seed, &format!("{key}/id/1")),
        mix(seed, &format!("{key}/id/2")) as u32
    );
    let interval = report_interval.pick(unit(seed, &format!("{key}/report")));
    let phase = TimeDelta::from_std(interval.mul_f64(unit(seed, &format!("{key}/phase"))))
        .unwrap_or(TimeDelta::zero());
    let aad = mix(seed, &format!("{key}/aad"));
    Device {
        id,
        name,
        os_platform: os_platform.to_owned(),
        tags: Vec::new(),
        group: None,
        aad_device_id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            aad >> 32,
            (aad >> 16) & 0xffff,
            aad & 0xfff,
            (aad >> 20) & 0xfff,
            mix(seed, &format!("{key}/aad2")) & 0xffff_ffff_ffff
        ),
        ip: format!(
            "10.{}.{}.{}",
            (aad >> 8) & 0xff,
            (aad >> 16) & 0xff,
            (aad & 0xfe) + 1
        ),
        first_seen: epoch - TimeDelta::days(30 + (aad % 300) as i64),
        offline: Vec::new(),
        report_phase: epoch - phase,
        report_interval: interval,
        isolated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(text: &str, count: usize) -> (Vec<Group>, Vec<Device>, DateTime<Utc>) {
        let scenario: Scenario = fleetlr_playbook::yaml::from_str("s", text).expect("scenario");
        let epoch = Utc::now();
        let (groups, devices) = build_fleet(&scenario, count, 42, epoch);
        (groups, devices, epoch)
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet() {
        let (_, a, _) = fleet("{}", 20);
        let (_, b, _) = fleet("{}", 20);
        assert_eq!(
            a.iter().map(|d| &d.id).collect::<Vec<_>>(),
            b.iter().map(|d| &d.id).collect::<Vec<_>>()
        );
        assert!(a.iter().all(|d| d.id.len() == 40));
    }

    #[test]
    fn offline_windows_drive_availability() {
        let (_, devices, epoch) = fleet("fleet: {offline: [{fraction: 1.0, until: 1h}]}", 3);
        let device = &devices[0];
        assert!(!device.is_online(epoch + TimeDelta::minutes(30)));
        assert_eq!(device.next_online(epoch), Some(epoch + TimeDelta::hours(1)));
        assert!(device.is_online(epoch + TimeDelta::hours(2)));
    }

    #[test]
    fn a_device_offline_for_good_never_comes_online() {
        let (_, devices, epoch) = fleet("fleet: {offline: [{fraction: 1.0}]}", 1);
        assert_eq!(devices[0].next_online(epoch), None);
    }

    #[test]
    fn last_seen_moves_only_with_reports_while_online() {
        let (_, mut devices, epoch) = fleet("{}", 1);
        let device = &mut devices[0];
        let day = TimeDelta::days(1);
        let seen = device.last_seen(epoch + day * 3);
        assert!(seen <= epoch + day * 3 && seen > epoch + day * 2);
        device.go_offline(epoch + day, None);
        assert!(device.last_seen(epoch + day * 3) < epoch + day);
    }

    #[test]
    fn coming_online_ends_the_current_window() {
        let (_, mut devices, epoch) = fleet("fleet: {offline: [{fraction: 1.0}]}", 1);
        devices[0].come_online(epoch + TimeDelta::minutes(5));
        assert!(devices[0].is_online(epoch + TimeDelta::minutes(6)));
    }
}
