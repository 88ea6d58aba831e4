//! End to end against a local moto server: the handler on real SNS and schedule events, the
//! real SDK adapters on WAFv2 IP sets and EC2 network ACLs, the block registry in a DynamoDB
//! state table, and the reports read back from an SQS queue subscribed to the topic.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::RuleAction;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_wafv2::types::{IpAddressVersion, Scope};
use flood_response::config::{IpSetRef, NaclSettings, WafScope, WafSettings};
use flood_response::firewall::nacl::NaclFirewall;
use flood_response::firewall::waf::{Backoff, IpSetView, IpSets, UpdateError, WafFirewall};
use flood_response::firewall::{ApiError, Firewall, SdkIpSets, SdkNetworkAcls};
use flood_response::guard::Guard;
use flood_response::sns::SnsReports;
use flood_response::{App, Policy};
use flowlog_core::Severity;
use flowlog_lambda::DynamoStore;
use flowlog_lambda::fakes::ManualClock;
use moto_harness::{MotoServer, unique_name as unique};
use serde_json::Value;

const FLOODER: &str = "203.0.113.7";
/// The sample notices' first flagged minute; the clock starts a little after it.
const T0: i64 = 1_764_000_400;

async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(moto_harness::REGION))
        .endpoint_url(MotoServer::shared().endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../events/response/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The sample SNS event of `stage` (`started`, `ended`) about `source`.
fn notice(stage: &str, source: &str) -> Value {
    let mut event = sample(&format!("sns-{stage}.json"));
    let message = event["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .replace(FLOODER, source);
    event["Records"][0]["Sns"]["Message"] = Value::String(message);
    event
}

struct Fixture {
    sdk: SdkConfig,
    table: String,
    topic_arn: String,
    queue_url: String,
    clock: ManualClock,
}

impl Fixture {
    async fn new() -> Fixture {
        let sdk = sdk().await;
        let table = unique("state");
        flowlog_lambda::fakes::create_state_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic_arn = sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("reports"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Fixture {
            sdk,
            table,
            topic_arn,
            queue_url,
            clock: ManualClock::at(T0),
        }
    }

    fn policy(&self, dry_run: bool, max_entries: usize) -> Policy {
        Policy {
            guard: Guard::new(
                Severity::High,
                vec!["198.51.100.0/24".parse().unwrap()],
                vec!["172.31.0.0/16".parse().unwrap()],
            ),
            dry_run,
            max_entries,
            max_block_secs: 3600,
            fifo: false,
        }
    }

    fn app<F: Firewall>(
        &self,
        firewall: F,
        policy: Policy,
    ) -> App<F, DynamoStore, SnsReports, ManualClock> {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.table,
            flood_response::REGISTRY_RETENTION_SECS,
        )
        .with_clock(self.clock.clone());
        let reports = SnsReports::new(aws_sdk_sns::Client::new(&self.sdk), &self.topic_arn);
        App::new(firewall, store, reports, self.clock.clone(), policy)
    }

    /// Every report waiting in the queue (removed): the documents, with their `stage`
    /// attribute.
    async fn reports(&self) -> Vec<(String, Value)> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                let stage = envelope["MessageAttributes"]["stage"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let doc = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
                all.push((stage, doc));
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// `(action, network)` of each report, checking each is a `flowlog.response` that never
/// matches the function's own subscription filter.
fn actions(reports: &[(String, Value)]) -> Vec<(String, String)> {
    reports
        .iter()
        .map(|(stage, doc)| {
            assert_eq!(stage, "RESPONSE");
            assert_eq!(doc["type"], "flowlog.response");
            (
                doc["action"].as_str().unwrap().to_owned(),
                doc["network"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(action: &str, network: &str) -> (String, String) {
    (action.into(), network.into())
}

// ------------------------------------------------------------------------------------ WAF

struct Waf {
    client: aws_sdk_wafv2::Client,
    v4: IpSetRef,
    v6: IpSetRef,
}

impl Waf {
    async fn new(sdk: &SdkConfig) -> Waf {
        let client = aws_sdk_wafv2::Client::new(sdk);
        let mut sets = Vec::new();
        for version in [IpAddressVersion::Ipv4, IpAddressVersion::Ipv6] {
            let name = unique("block");
            let out = client
                .create_ip_set()
                .name(&name)
                .scope(Scope::Regional)
                .ip_address_version(version)
                .description("flood-response e2e")
                .set_addresses(Some(Vec::new()))
                .send()
                .await
                .unwrap();
            let id = out.summary.unwrap().id.unwrap();
            sets.push(IpSetRef { name, id });
        }
        let v6 = sets.pop().unwrap();
        let v4 = sets.pop().unwrap();
        Waf { client, v4, v6 }
    }

    fn settings(&self) -> WafSettings {
        WafSettings {
            scope: WafScope::Regional,
            ipv4: Some(self.v4.clone()),
            ipv6: Some(self.v6.clone()),
        }
    }

    fn firewall<P: IpSets>(&self, sets: P) -> WafFirewall<P> {
        let backoff = Backoff {
            attempts: 6,
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        };
        WafFirewall::new(sets, self.settings(), moto_harness::REGION, backoff)
    }

    fn sdk_firewall(&self) -> WafFirewall<SdkIpSets> {
        self.firewall(SdkIpSets::new(self.client.clone(), WafScope::Regional))
    }

    async fn addresses(&self, set: &IpSetRef) -> Vec<String> {
        let out = self
            .client
            .get_ip_set()
            .scope(Scope::Regional)
            .name(&set.name)
            .id(&set.id)
            .send()
            .await
            .unwrap();
        out.ip_set.unwrap().addresses
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_a_flood_from_started_to_ended_is_added_to_the_ip_set_then_removed() {
    let fx = Fixture::new().await;
    let waf = Waf::new(&fx.sdk).await;
    let app = fx.app(waf.sdk_firewall(), fx.policy(false, 100));

    app.handle(notice("started", FLOODER)).await.unwrap();
    app.handle(notice("started", "2001:db8:1:2::/64"))
        .await
        .unwrap();
    assert_eq!(waf.addresses(&waf.v4).await, ["203.0.113.7/32"]);
    assert_eq!(waf.addresses(&waf.v6).await, ["2001:db8:1:2::/64"]);
    // A redelivered STARTED changes nothing and reports nothing again.
    app.handle(notice("started", FLOODER)).await.unwrap();
    assert_eq!(waf.addresses(&waf.v4).await, ["203.0.113.7/32"]);
    let blocked = fx.reports().await;
    assert_eq!(
        actions(&blocked),
        [
            pair("blocked", "203.0.113.7/32"),
            pair("blocked", "2001:db8:1:2::/64")
        ]
    );
    let undo = blocked[0].1["undo"].as_str().unwrap();
    assert!(
        undo.contains(&format!("--name {} --id {}", waf.v4.name, waf.v4.id)),
        "{undo}"
    );
    assert!(
        undo.contains("(.IPSet.Addresses - [\"203.0.113.7/32\"])"),
        "{undo}"
    );

    fx.clock.advance(1200);
    app.handle(notice("ended", FLOODER)).await.unwrap();
    assert!(waf.addresses(&waf.v4).await.is_empty());
    assert_eq!(waf.addresses(&waf.v6).await, ["2001:db8:1:2::/64"]);
    let released = fx.reports().await;
    assert_eq!(actions(&released), [pair("released", "203.0.113.7/32")]);
    assert_eq!(released[0].1["release_reason"], "ended");
}

/// IP sets whose first update races with another writer's real `UpdateIPSet`: that writer
/// uses the token just read, so ours goes stale and WAF (moto) refuses it.
struct RacingIpSets {
    inner: SdkIpSets,
    client: aws_sdk_wafv2::Client,
    raced: std::sync::atomic::AtomicBool,
}

impl IpSets for RacingIpSets {
    async fn get(&self, set: &IpSetRef) -> Result<IpSetView, ApiError> {
        self.inner.get(set).await
    }

    async fn update(&self, set: &IpSetRef, next: IpSetView) -> Result<(), UpdateError> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let current = self.inner.get(set).await.unwrap();
            let mut theirs = current.addresses.clone();
            theirs.push("192.0.2.55/32".into());
            self.client
                .update_ip_set()
                .scope(Scope::Regional)
                .name(&set.name)
                .id(&set.id)
                .set_addresses(Some(theirs))
                .set_description(current.description)
                .lock_token(&next.lock_token)
                .send()
                .await
                .unwrap();
        }
        self.inner.update(set, next).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_a_concurrent_update_makes_the_lock_token_stale_and_the_retry_keeps_both_changes() {
    let fx = Fixture::new().await;
    let waf = Waf::new(&fx.sdk).await;
    let racing = RacingIpSets {
        inner: SdkIpSets::new(waf.client.clone(), WafScope::Regional),
        client: waf.client.clone(),
        raced: Default::default(),
    };
    let app = fx.app(waf.firewall(racing), fx.policy(false, 100));
    app.handle(notice("started", FLOODER)).await.unwrap();
    assert_eq!(
        waf.addresses(&waf.v4).await,
        ["192.0.2.55/32", "203.0.113.7/32"]
    );
    assert_eq!(
        actions(&fx.reports().await),
        [pair("blocked", "203.0.113.7/32")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_a_dry_run_reports_what_it_would_do_and_leaves_the_ip_set_alone() {
    let fx = Fixture::new().await;
    let waf = Waf::new(&fx.sdk).await;
    let app = fx.app(waf.sdk_firewall(), fx.policy(true, 100));
    app.handle(notice("started", FLOODER)).await.unwrap();
    app.handle(notice("ended", FLOODER)).await.unwrap();
    assert!(waf.addresses(&waf.v4).await.is_empty());
    let reports = fx.reports().await;
    assert_eq!(
        actions(&reports),
        [
            pair("blocked", "203.0.113.7/32"),
            pair("released", "203.0.113.7/32")
        ]
    );
    assert!(reports.iter().all(|(_, doc)| doc["dry_run"] == true));
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_allowlisted_vpc_and_private_sources_are_never_blocked() {
    let fx = Fixture::new().await;
    let waf = Waf::new(&fx.sdk).await;
    let app = fx.app(waf.sdk_firewall(), fx.policy(false, 100));
    for source in ["198.51.100.9", "172.31.5.5", "10.0.3.3", "fd00::1"] {
        let out = app.handle(notice("started", source)).await.unwrap();
        assert_eq!(out["skipped"], 1, "{source}: {out}");
    }
    assert!(waf.addresses(&waf.v4).await.is_empty());
    assert!(waf.addresses(&waf.v6).await.is_empty());
    assert!(fx.reports().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn waf_the_cap_blocks_nothing_more_and_says_so() {
    let fx = Fixture::new().await;
    let waf = Waf::new(&fx.sdk).await;
    let app = fx.app(waf.sdk_firewall(), fx.policy(false, 2));
    for source in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        app.handle(notice("started", source)).await.unwrap();
    }
    assert_eq!(
        waf.addresses(&waf.v4).await,
        ["203.0.113.1/32", "203.0.113.2/32"]
    );
    let reports = fx.reports().await;
    assert_eq!(
        actions(&reports),
        [
            pair("blocked", "203.0.113.1/32"),
            pair("blocked", "203.0.113.2/32"),
            pair("not_blocked", "203.0.113.3/32")
        ]
    );
    assert!(
        reports[2].1["refusal"]
            .as_str()
            .unwrap()
            .contains("MAX_ENTRIES=2"),
        "{}",
        reports[2].1
    );
}

// ----------------------------------------------------------------------------------- NACL

struct Nacl {
    client: aws_sdk_ec2::Client,
    acl_id: String,
}

impl Nacl {
    async fn new(sdk: &SdkConfig) -> Nacl {
        let client = aws_sdk_ec2::Client::new(sdk);
        let vpc = client
            .create_vpc()
            .cidr_block("10.42.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        let acl_id = client
            .create_network_acl()
            .vpc_id(vpc)
            .send()
            .await
            .unwrap()
            .network_acl
            .unwrap()
            .network_acl_id
            .unwrap();
        // The user's own rules: allow everything at 100, and one of theirs inside our range.
        for (rule, action, cidr) in [
            (100, RuleAction::Allow, "0.0.0.0/0"),
            (1, RuleAction::Deny, "192.0.2.0/24"),
        ] {
            client
                .create_network_acl_entry()
                .network_acl_id(&acl_id)
                .rule_number(rule)
                .protocol("-1")
                .rule_action(action)
                .egress(false)
                .cidr_block(cidr)
                .send()
                .await
                .unwrap();
        }
        Nacl { client, acl_id }
    }

    fn firewall(&self) -> NaclFirewall<SdkNetworkAcls> {
        let settings = NaclSettings {
            acl_id: self.acl_id.clone(),
            rules: 1..=99,
        };
        NaclFirewall::new(
            SdkNetworkAcls::new(self.client.clone()),
            settings,
            moto_harness::REGION,
        )
    }

    /// Inbound `(rule number, action, CIDR)`, sorted.
    async fn inbound(&self) -> Vec<(i32, String, String)> {
        let out = self
            .client
            .describe_network_acls()
            .network_acl_ids(&self.acl_id)
            .send()
            .await
            .unwrap();
        let mut rules: Vec<(i32, String, String)> = out.network_acls()[0]
            .entries()
            .iter()
            .filter(|e| e.egress() == Some(false))
            .map(|e| {
                (
                    e.rule_number().unwrap(),
                    e.rule_action().unwrap().as_str().to_owned(),
                    e.cidr_block()
                        .or(e.ipv6_cidr_block())
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        rules.sort();
        rules
    }
}

fn rule(number: i32, action: &str, cidr: &str) -> (i32, String, String) {
    (number, action.into(), cidr.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn nacl_a_flood_from_started_to_ended_gets_a_deny_entry_then_loses_it() {
    let fx = Fixture::new().await;
    let acl = Nacl::new(&fx.sdk).await;
    let app = fx.app(acl.firewall(), fx.policy(false, 100));

    app.handle(notice("started", FLOODER)).await.unwrap();
    app.handle(notice("started", "2001:db8::9")).await.unwrap();
    app.handle(notice("started", FLOODER)).await.unwrap();
    assert_eq!(
        acl.inbound().await,
        [
            rule(1, "deny", "192.0.2.0/24"),
            rule(2, "deny", "203.0.113.7/32"),
            rule(3, "deny", "2001:db8::9/128"),
            rule(100, "allow", "0.0.0.0/0"),
        ]
    );
    let blocked = fx.reports().await;
    assert_eq!(
        actions(&blocked),
        [
            pair("blocked", "203.0.113.7/32"),
            pair("blocked", "2001:db8::9/128")
        ]
    );
    assert_eq!(blocked[0].1["location"]["rule_number"], 2);
    assert_eq!(
        blocked[0].1["undo"],
        format!(
            "aws ec2 delete-network-acl-entry --region us-east-1 --network-acl-id {} --ingress --rule-number 2",
            acl.acl_id
        )
    );

    fx.clock.advance(1200);
    app.handle(notice("ended", FLOODER)).await.unwrap();
    assert_eq!(
        acl.inbound().await,
        [
            rule(1, "deny", "192.0.2.0/24"),
            rule(3, "deny", "2001:db8::9/128"),
            rule(100, "allow", "0.0.0.0/0"),
        ]
    );
    assert_eq!(
        actions(&fx.reports().await),
        [pair("released", "203.0.113.7/32")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nacl_a_block_past_its_maximum_time_is_released_by_the_schedule() {
    let fx = Fixture::new().await;
    let acl = Nacl::new(&fx.sdk).await;
    let app = fx.app(acl.firewall(), fx.policy(false, 100));
    app.handle(notice("started", FLOODER)).await.unwrap();
    app.handle(sample("schedule.json")).await.unwrap();
    assert_eq!(acl.inbound().await.len(), 3, "not yet overdue");

    fx.clock.advance(3600);
    let out = app.handle(sample("schedule.json")).await.unwrap();
    assert_eq!(out["released"], 1, "{out}");
    assert_eq!(
        acl.inbound().await,
        [
            rule(1, "deny", "192.0.2.0/24"),
            rule(100, "allow", "0.0.0.0/0")
        ]
    );
    let reports = fx.reports().await;
    assert_eq!(
        actions(&reports),
        [
            pair("blocked", "203.0.113.7/32"),
            pair("released", "203.0.113.7/32")
        ]
    );
    assert_eq!(reports[1].1["release_reason"], "timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn nacl_an_entry_deleted_by_hand_is_released_as_already_gone_without_deleting_anything() {
    let fx = Fixture::new().await;
    let acl = Nacl::new(&fx.sdk).await;
    let app = fx.app(acl.firewall(), fx.policy(false, 100));
    app.handle(notice("started", FLOODER)).await.unwrap();
    acl.client
        .delete_network_acl_entry()
        .network_acl_id(&acl.acl_id)
        .rule_number(2)
        .egress(false)
        .send()
        .await
        .unwrap();
    // moto answers a delete of a missing entry with HTTP 500: the release reads first.
    app.handle(notice("ended", FLOODER)).await.unwrap();
    let reports = fx.reports().await;
    assert_eq!(reports[1].1["action"], "released");
    assert_eq!(reports[1].1["already"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn nacl_a_dry_run_names_the_rule_it_would_use_and_changes_nothing() {
    let fx = Fixture::new().await;
    let acl = Nacl::new(&fx.sdk).await;
    let app = fx.app(acl.firewall(), fx.policy(true, 100));
    app.handle(notice("started", FLOODER)).await.unwrap();
    assert_eq!(acl.inbound().await.len(), 2);
    let reports = fx.reports().await;
    assert_eq!(reports[0].1["dry_run"], true);
    assert_eq!(reports[0].1["location"]["rule_number"], 2);
    let command = reports[0].1["undo"].as_str().unwrap();
    assert!(
        command.starts_with("aws ec2 create-network-acl-entry")
            && command.contains("--rule-number 2"),
        "{command}"
    );
}
