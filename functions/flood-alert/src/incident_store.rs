//! Incidents in the state store: one record per subject (its latest incident), read all at
//! once, written with compare-and-swap so that two detectors never both announce a change.

use std::collections::BTreeMap;

use flowlog_incidents::Incident;
use flowlog_lambda::{Created, Replaced, StateStore, StoreError, Version};

/// The incidents known, with the versions to replace them at.
#[derive(Debug, Default)]
pub struct Known {
    /// By subject.
    pub incidents: BTreeMap<String, Incident>,
    versions: BTreeMap<String, Version>,
}

impl Known {
    /// The version `subject`'s record was read at.
    pub fn version(&self, subject: &str) -> Option<&Version> {
        self.versions.get(subject)
    }

    /// Takes in `incident` as written at `version`.
    pub fn update(&mut self, incident: Incident, version: Version) {
        self.versions.insert(incident.subject.clone(), version);
        self.incidents.insert(incident.subject.clone(), incident);
    }
}

/// The incidents under one directory of a store (`incident` for live traffic, `backfill` for
/// floods found in old objects).
#[derive(Debug, Clone)]
pub struct IncidentStore<S> {
    store: S,
    directory: &'static str,
}

impl<S: StateStore> IncidentStore<S> {
    /// The incidents under `directory` of `store`.
    pub fn new(store: S, directory: &'static str) -> IncidentStore<S> {
        IncidentStore { store, directory }
    }

    /// Record name: the subject with `/` (an IPv6 /64) spelt `_`.
    fn name(&self, subject: &str) -> String {
        format!("{}/{}", self.directory, subject.replace('/', "_"))
    }

    /// Every incident; an undecodable record is logged and left out (the next change of its
    /// subject replaces it).
    pub async fn load(&self) -> Result<Known, StoreError> {
        let mut known = Known::default();
        for (name, stored) in self.store.list(self.directory).await? {
            match serde_json::from_slice::<Incident>(&stored.body) {
                Ok(incident) => {
                    known
                        .versions
                        .insert(incident.subject.clone(), stored.version);
                    known.incidents.insert(incident.subject.clone(), incident);
                }
                Err(e) => {
                    tracing::warn!(record = %self.store.locate(&name), error = %e, "unreadable incident left out")
                }
            }
        }
        Ok(known)
    }

    /// Writes `incident` if its record is still at `version` (absent for `None`); the new
    /// version, or `None` when another detector changed it first.
    pub async fn write(
        &self,
        version: Option<&Version>,
        incident: &Incident,
    ) -> Result<Option<Version>, StoreError> {
        let name = self.name(&incident.subject);
        let body = serde_json::to_vec(incident)
            .expect("an incident serializes: string keys, plain fields");
        Ok(match version {
            None => match self.store.create(&name, body).await? {
                Created::Created(v) => Some(v),
                Created::Exists => None,
            },
            Some(v) => match self.store.replace(&name, v, body).await? {
                Replaced::Replaced(v) => Some(v),
                Replaced::Conflict => None,
            },
        })
    }
}
