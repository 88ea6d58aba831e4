//! In-memory stand-ins for the function's own ports (IP sets, network ACLs, reports), behaving
//! as AWS does where it matters: lock tokens that go stale, taken rule numbers, the default
//! entry quota, and errors for missing entries. Clones share their state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flowlog_core::IpNet;

use crate::config::IpSetRef;
use crate::firewall::ApiError;
use crate::firewall::nacl::{
    AclEntry, CreateError, DEFAULT_RULES_PER_DIRECTION, NetworkAcls, same_family,
};
use crate::firewall::waf::{IpSetView, IpSets, UpdateError};
use crate::report::Message;
use crate::sns::{PublishError, ReportSink};

#[derive(Debug, Default)]
struct Set {
    addresses: Vec<String>,
    description: Option<String>,
    token: u64,
    /// Addresses other writers add, one before each of our next updates.
    interference: Vec<String>,
}

#[derive(Debug, Default)]
struct Sets {
    sets: HashMap<String, Set>,
    updates: usize,
    stale: usize,
}

/// WAF IP sets in memory, by id.
#[derive(Debug, Clone, Default)]
pub struct MemoryIpSets(Arc<Mutex<Sets>>);

impl MemoryIpSets {
    /// One set `id` holding `addresses`.
    pub fn with(id: &str, addresses: &[&str], description: Option<&str>) -> Self {
        let fake = MemoryIpSets::default();
        fake.0.lock().unwrap().sets.insert(
            id.to_owned(),
            Set {
                addresses: addresses.iter().map(|a| a.to_string()).collect(),
                description: description.map(str::to_owned),
                ..Set::default()
            },
        );
        fake
    }

    /// Before each of the next updates of `id`, another writer adds one of `addresses` (and so
    /// makes the token read stale).
    pub fn interfere(&self, id: &str, addresses: &[&str]) {
        let mut inner = self.0.lock().unwrap();
        let set = inner.sets.get_mut(id).expect("a set of the fake");
        set.interference = addresses.iter().rev().map(|a| a.to_string()).collect();
    }

    /// The addresses of `id`.
    pub fn addresses(&self, id: &str) -> Vec<String> {
        self.0.lock().unwrap().sets[id].addresses.clone()
    }

    /// The description of `id`.
    pub fn description(&self, id: &str) -> Option<String> {
        self.0.lock().unwrap().sets[id].description.clone()
    }

    /// Updates that were applied.
    pub fn updates(&self) -> usize {
        self.0.lock().unwrap().updates
    }

    /// Updates refused for a stale token.
    pub fn stale_updates(&self) -> usize {
        self.0.lock().unwrap().stale
    }
}

fn missing(operation: &'static str, resource: &str, code: &str) -> ApiError {
    ApiError {
        operation,
        resource: resource.to_owned(),
        message: format!("{code}: not in the fake"),
    }
}

impl IpSets for MemoryIpSets {
    async fn get(&self, set: &IpSetRef) -> Result<IpSetView, ApiError> {
        let inner = self.0.lock().unwrap();
        let found = inner
            .sets
            .get(&set.id)
            .ok_or_else(|| missing("GetIPSet", &set.id, "WAFNonexistentItemException"))?;
        Ok(IpSetView {
            addresses: found.addresses.clone(),
            description: found.description.clone(),
            lock_token: found.token.to_string(),
        })
    }

    async fn update(&self, set: &IpSetRef, next: IpSetView) -> Result<(), UpdateError> {
        let mut inner = self.0.lock().unwrap();
        let found = inner
            .sets
            .get_mut(&set.id)
            .ok_or_else(|| missing("UpdateIPSet", &set.id, "WAFNonexistentItemException"))?;
        if let Some(other) = found.interference.pop() {
            found.addresses.push(other);
            found.token += 1;
        }
        if found.token.to_string() != next.lock_token {
            inner.stale += 1;
            return Err(UpdateError::StaleToken);
        }
        found.addresses = next.addresses;
        found.description = next.description;
        found.token += 1;
        inner.updates += 1;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Acls {
    acls: HashMap<String, Vec<AclEntry>>,
    /// (acl, rule number) another writer creates right before our next create.
    race: Option<(String, i32)>,
    creates: usize,
    deletes: usize,
}

/// Network ACLs in memory, by id.
#[derive(Debug, Clone, Default)]
pub struct MemoryAcls(Arc<Mutex<Acls>>);

impl MemoryAcls {
    /// One ACL with `entries`.
    pub fn with(acl_id: &str, entries: Vec<AclEntry>) -> Self {
        let fake = MemoryAcls::default();
        fake.0
            .lock()
            .unwrap()
            .acls
            .insert(acl_id.to_owned(), entries);
        fake
    }

    /// Another writer takes inbound rule `rule_number` right before our next create.
    pub fn take_before_next_create(&self, acl_id: &str, rule_number: i32) {
        self.0.lock().unwrap().race = Some((acl_id.to_owned(), rule_number));
    }

    /// Someone replaces inbound entry `rule_number` with a DENY of `net`.
    pub fn replace(&self, acl_id: &str, rule_number: i32, net: IpNet) {
        let mut inner = self.0.lock().unwrap();
        let entries = inner.acls.get_mut(acl_id).expect("an ACL of the fake");
        for e in entries
            .iter_mut()
            .filter(|e| !e.egress && e.rule_number == rule_number)
        {
            e.cidr = Some(net);
        }
    }

    /// The inbound rule numbers, sorted.
    pub fn rules(&self, acl_id: &str) -> Vec<i32> {
        let inner = self.0.lock().unwrap();
        let mut rules: Vec<i32> = inner.acls[acl_id]
            .iter()
            .filter(|e| !e.egress)
            .map(|e| e.rule_number)
            .collect();
        rules.sort_unstable();
        rules
    }

    /// Entries created.
    pub fn creates(&self) -> usize {
        self.0.lock().unwrap().creates
    }

    /// Entries deleted.
    pub fn deletes(&self) -> usize {
        self.0.lock().unwrap().deletes
    }
}

impl NetworkAcls for MemoryAcls {
    async fn entries(&self, acl_id: &str) -> Result<Vec<AclEntry>, ApiError> {
        let inner = self.0.lock().unwrap();
        inner.acls.get(acl_id).cloned().ok_or_else(|| {
            missing(
                "DescribeNetworkAcls",
                acl_id,
                "InvalidNetworkAclID.NotFound",
            )
        })
    }

    async fn create_deny(
        &self,
        acl_id: &str,
        rule_number: i32,
        net: IpNet,
    ) -> Result<(), CreateError> {
        let mut inner = self.0.lock().unwrap();
        let race = inner.race.take();
        let entries = inner.acls.get_mut(acl_id).ok_or_else(|| {
            missing(
                "CreateNetworkAclEntry",
                acl_id,
                "InvalidNetworkAclID.NotFound",
            )
        })?;
        if let Some((_, taken)) = race.filter(|(acl, _)| acl == acl_id) {
            entries.push(AclEntry {
                rule_number: taken,
                egress: false,
                allow: false,
                cidr: Some("192.0.2.99/32".parse().expect("a CIDR")),
            });
        }
        if entries
            .iter()
            .any(|e| !e.egress && e.rule_number == rule_number)
        {
            return Err(CreateError::Exists);
        }
        if same_family(entries, net) >= DEFAULT_RULES_PER_DIRECTION {
            return Err(CreateError::LimitExceeded);
        }
        entries.push(AclEntry {
            rule_number,
            egress: false,
            allow: false,
            cidr: Some(net),
        });
        inner.creates += 1;
        Ok(())
    }

    async fn delete(&self, acl_id: &str, rule_number: i32) -> Result<(), ApiError> {
        let mut inner = self.0.lock().unwrap();
        let entries = inner.acls.get_mut(acl_id).ok_or_else(|| {
            missing(
                "DeleteNetworkAclEntry",
                acl_id,
                "InvalidNetworkAclID.NotFound",
            )
        })?;
        let before = entries.len();
        entries.retain(|e| e.egress || e.rule_number != rule_number);
        if entries.len() == before {
            return Err(missing(
                "DeleteNetworkAclEntry",
                acl_id,
                "InvalidNetworkAclEntry.NotFound",
            ));
        }
        inner.deletes += 1;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Published {
    messages: Vec<Message>,
    failures: usize,
}

/// Reports kept in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryReports(Arc<Mutex<Published>>);

impl MemoryReports {
    /// Every report published so far.
    pub fn messages(&self) -> Vec<Message> {
        self.0.lock().unwrap().messages.clone()
    }

    /// The next `times` publishes fail.
    pub fn fail_next(&self, times: usize) {
        self.0.lock().unwrap().failures = times;
    }
}

impl ReportSink for MemoryReports {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        let mut inner = self.0.lock().unwrap();
        if inner.failures > 0 {
            inner.failures -= 1;
            return Err(PublishError {
                topic: "memory".into(),
                message: "InternalError: injected by the test".into(),
            });
        }
        inner.messages.push(message.clone());
        Ok(())
    }
}
