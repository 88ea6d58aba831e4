//! One verdict over the shared state, and its notices published exactly once.
//!
//! A run loads every summary of the minutes it judges (all objects, however split or late),
//! takes the core's verdict on their merge, plans the incidents' changes
//! ([`flowlog_incidents::plan`]) and applies each: **claim** (the incident written with the
//! notice pending, conditional on the version read: of two detectors one wins), **publish**,
//! **confirm** (pending cleared, retried). A run that finds a notice pending for longer than
//! [`PENDING_RETRY_SECS`] (its detector crashed, or failed to publish or confirm) publishes
//! it again under the same alert id, which a FIFO topic deduplicates and any subscriber can.

use std::collections::BTreeMap;

use flowlog_core::{Detection, FloodRules, WINDOW_SECS, detect};
use flowlog_incidents::{
    AlertDocument, Change, Incident, Notice, Origin, Pending, Policy, Stage, plan,
};
use flowlog_lambda::{StateStore, StoreError, SummaryLog, Version};
use serde::Serialize;

use crate::alert::build_alert;
use crate::incident_store::{IncidentStore, Known};
use crate::sns::{AlertSink, PublishError};

/// A pending notice older than this is published again: a detector publishes and confirms
/// within a few seconds, and a FIFO topic still deduplicates it (its window is 5 minutes).
pub const PENDING_RETRY_SECS: i64 = 60;

/// The live verdict looks back at most this far: older minutes are a backfill, judged on
/// their own and announced as past floods.
pub const MAX_LIVE_SECS: i64 = 6 * 3600;

/// Confirmation writes tried before giving up (the notice is then published again later).
const CONFIRM_ATTEMPTS: usize = 3;

/// Why a run did not finish; what it did before stays done.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The state could not be read or written.
    #[error("state: {0}")]
    State(#[from] StoreError),
    /// A notice could not be published; it stays pending and is published by a later run.
    #[error("{alert_id}: not published: {error}")]
    Publish {
        /// The notice.
        alert_id: String,
        /// Why.
        error: PublishError,
    },
}

/// What a run judged and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Summaries merged.
    pub objects: usize,
    /// Summaries that could not be decoded.
    pub unreadable: usize,
    /// Flooding sources in the verdict.
    pub floods: usize,
    /// Targets under attack in the verdict.
    pub targets: usize,
    /// Notices published, by stage.
    pub started: usize,
    /// ONGOING notices.
    pub ongoing: usize,
    /// ENDED notices.
    pub ended: usize,
    /// Pending notices published again.
    pub republished: usize,
    /// Changes another detector made first (left to it).
    pub lost_races: usize,
    /// Incidents left alone because another detector is publishing about them right now.
    pub busy: usize,
}

impl Report {
    fn add(&mut self, other: &Report) {
        self.objects += other.objects;
        self.unreadable += other.unreadable;
        self.floods += other.floods;
        self.targets += other.targets;
        self.started += other.started;
        self.ongoing += other.ongoing;
        self.ended += other.ended;
        self.republished += other.republished;
        self.lost_races += other.lost_races;
        self.busy += other.busy;
    }

    fn count(&mut self, stage: Stage) {
        match stage {
            Stage::Started => self.started += 1,
            Stage::Ongoing => self.ongoing += 1,
            Stage::Ended => self.ended += 1,
        }
    }
}

/// What the detector is asked: now, and the minutes new data arrived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Wall time of the verdict (Unix seconds).
    pub now: i64,
    /// The earliest and latest new minute, if the run was asked for some.
    pub new_minutes: Option<(i64, i64)>,
}

/// The detector: summaries and incidents in one store, a sink for notices.
pub struct Detector<S, A> {
    summaries: SummaryLog<S>,
    live: IncidentStore<S>,
    backfill: IncidentStore<S>,
    sink: A,
    rules: FloodRules,
    policy: Policy,
    fifo: bool,
    origin: Origin,
}

/// How the detector judges and whom it names.
#[derive(Debug, Clone)]
pub struct Judging {
    /// The flood thresholds.
    pub rules: FloodRules,
    /// The incidents' lifecycle.
    pub policy: Policy,
    /// Whether the topic is FIFO.
    pub fifo: bool,
    /// VPC, account and region named in notices (`detected_at` and `backfill` are set per run).
    pub origin: Origin,
}

impl<S: StateStore + Clone, A: AlertSink + Sync> Detector<S, A> {
    /// A detector on `summaries` and the incidents in `incidents`.
    pub fn new(summaries: SummaryLog<S>, incidents: S, sink: A, judging: Judging) -> Self {
        Detector {
            summaries,
            live: IncidentStore::new(incidents.clone(), "incident"),
            backfill: IncidentStore::new(incidents, "backfill"),
            sink,
            rules: judging.rules,
            policy: judging.policy,
            fifo: judging.fifo,
            origin: judging.origin,
        }
    }

    /// Judges the live minutes (everything an open incident may still need, and the new
    /// minutes) and, when the new minutes are older than [`MAX_LIVE_SECS`], those as a backfill.
    pub async fn run(&self, run: Run) -> Result<Report, DetectError> {
        let (live_from, live_until) = self.policy.live_window(run.now);
        let mut report = Report::default();
        if let Some((from, until)) = run.new_minutes
            && from < run.now - MAX_LIVE_SECS
        {
            // Judged over its own minutes, at a time when all of them have settled and gone
            // quiet: its incidents start and end in this run.
            let until = until.min(run.now - MAX_LIVE_SECS);
            let settled = until + self.policy.settle_secs + self.policy.quiet_secs + WINDOW_SECS;
            report.add(
                &self
                    .judge(&self.backfill, from, until, settled, run.now, true)
                    .await?,
            );
        }
        // New minutes older than the live window (a late delivery) widen it, up to the backfill.
        let from = match run.new_minutes {
            Some((from, _)) => from.clamp(run.now - MAX_LIVE_SECS, live_from),
            None => live_from,
        };
        report.add(
            &self
                .judge(&self.live, from, live_until, run.now, run.now, false)
                .await?,
        );
        Ok(report)
    }

    /// One verdict over `[from, until)` planned at `plan_now`, notices stamped `now`.
    async fn judge(
        &self,
        incidents: &IncidentStore<S>,
        from: i64,
        until: i64,
        plan_now: i64,
        now: i64,
        backfill: bool,
    ) -> Result<Report, DetectError> {
        let loaded = self.summaries.load(from, until).await?;
        let detection = detect(&loaded.summary, &self.rules);
        let mut report = Report {
            objects: loaded.objects,
            unreadable: loaded.unreadable,
            floods: detection.floods.len(),
            targets: detection.targets.len(),
            ..Report::default()
        };
        let origin = Origin {
            detected_at: now,
            backfill,
            ..self.origin.clone()
        };
        let mut known = incidents.load().await?;
        self.settle_pending(incidents, &mut known, now, &origin, &mut report)
            .await?;
        for change in self.plan(&known, &detection, plan_now) {
            self.apply(incidents, &known, change, now, &origin, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// The plan over the incidents nobody else is publishing about.
    fn plan(&self, known: &Known, detection: &Detection, now: i64) -> Vec<Change> {
        let free: BTreeMap<String, Incident> = known
            .incidents
            .iter()
            .filter(|(_, i)| i.pending.is_none())
            .map(|(k, i)| (k.clone(), i.clone()))
            .collect();
        // A subject whose notice is pending is left out of the verdict too, or it would look new.
        let mut detection = detection.clone();
        let busy = |key: String| {
            known
                .incidents
                .get(&key)
                .is_some_and(|i| i.pending.is_some())
        };
        detection.floods.retain(|f| !busy(f.source.to_string()));
        detection
            .targets
            .retain(|t| !busy(format!("target-{}", t.target)));
        plan(&free, &detection, now, &self.policy)
    }

    /// Publishes again what stayed pending too long; leaves fresh claims to their detector.
    async fn settle_pending(
        &self,
        incidents: &IncidentStore<S>,
        known: &mut Known,
        now: i64,
        origin: &Origin,
        report: &mut Report,
    ) -> Result<(), DetectError> {
        let pending: Vec<(Incident, Pending)> = known
            .incidents
            .values()
            .filter_map(|i| i.pending.clone().map(|p| (i.clone(), p)))
            .collect();
        for (incident, pending) in pending {
            if now - pending.claimed_at < PENDING_RETRY_SECS {
                report.busy += 1;
                continue;
            }
            let notice = Notice::of_pending(&incident, &pending);
            let Some(version) = known.version(&incident.subject).cloned() else {
                continue;
            };
            // Claim it anew, so that only one detector publishes it again.
            let mut claimed = incident.clone();
            claimed.pending = Some(Pending {
                claimed_at: now,
                ..pending
            });
            let Some(version) = incidents.write(Some(&version), &claimed).await? else {
                report.lost_races += 1;
                continue;
            };
            let (confirmed, version) = self
                .publish_and_confirm(incidents, claimed, version, &notice, origin)
                .await?;
            tracing::warn!(alert_id = %notice.alert_id, "pending notice published again");
            report.republished += 1;
            known.update(confirmed, version);
        }
        Ok(())
    }

    async fn apply(
        &self,
        incidents: &IncidentStore<S>,
        known: &Known,
        change: Change,
        now: i64,
        origin: &Origin,
        report: &mut Report,
    ) -> Result<(), DetectError> {
        let version = change
            .before
            .as_ref()
            .and_then(|b| known.version(&b.subject));
        let Some(notice) = change.notice else {
            if incidents.write(version, &change.after).await?.is_none() {
                report.lost_races += 1;
            }
            return Ok(());
        };
        let mut claimed = change.after;
        claimed.pending = Some(Pending {
            stage: notice.stage,
            seq: notice.seq,
            claimed_at: now,
        });
        let Some(version) = incidents.write(version, &claimed).await? else {
            report.lost_races += 1;
            return Ok(());
        };
        self.publish_and_confirm(incidents, claimed, version, &notice, origin)
            .await?;
        report.count(notice.stage);
        Ok(())
    }

    async fn publish_and_confirm(
        &self,
        incidents: &IncidentStore<S>,
        mut claimed: Incident,
        version: Version,
        notice: &Notice,
        origin: &Origin,
    ) -> Result<(Incident, Version), DetectError> {
        let document = AlertDocument::new(&claimed, notice, origin.clone());
        let alert = build_alert(&document, self.fifo);
        self.sink
            .publish(&alert)
            .await
            .map_err(|error| DetectError::Publish {
                alert_id: notice.alert_id.clone(),
                error,
            })?;
        tracing::warn!(
            stage = notice.stage.as_str(),
            alert_id = %notice.alert_id,
            subject = %claimed.subject,
            rule = claimed.rule.as_str(),
            severity = claimed.severity.as_str(),
            backfill = origin.backfill,
            alert = %alert.subject,
            "flood notice published"
        );
        claimed.pending = None;
        let mut attempt = 1;
        loop {
            match incidents.write(Some(&version), &claimed).await {
                // Changed meanwhile (another detector settled it): the version read stands.
                Ok(written) => return Ok((claimed, written.unwrap_or(version))),
                Err(e) if attempt < CONFIRM_ATTEMPTS => {
                    tracing::warn!(alert_id = %notice.alert_id, error = %e, attempt, "confirmation not written: retrying");
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
