//! Every state-store backend keeps the same contract: create once, replace only at the version
//! read, list one directory in name order. Run on the in-memory fake, and on DynamoDB served by
//! a local moto server through the real SDK.

use flowlog_lambda::fakes::MemoryStore;
use flowlog_lambda::{Created, DynamoStore, MAX_BODY_BYTES, Replaced, StateStore, Stored};
use moto_harness::{MotoServer, unique_name};

async fn the_contract_holds(store: &impl StateStore) {
    assert_eq!(store.get("dir/a").await.unwrap(), None);
    let Created::Created(v1) = store.create("dir/a", b"one".to_vec()).await.unwrap() else {
        panic!("the first create creates");
    };
    assert_eq!(
        store.create("dir/a", b"other".to_vec()).await.unwrap(),
        Created::Exists
    );
    let read = store.get("dir/a").await.unwrap().unwrap();
    assert_eq!(
        read,
        Stored {
            body: b"one".to_vec(),
            version: v1.clone()
        }
    );

    let Replaced::Replaced(v2) = store.replace("dir/a", &v1, b"two".to_vec()).await.unwrap() else {
        panic!("a replace at the version read replaces");
    };
    assert_ne!(v1, v2);
    assert_eq!(
        store
            .replace("dir/a", &v1, b"stale".to_vec())
            .await
            .unwrap(),
        Replaced::Conflict,
        "a replace at an older version is a lost race"
    );
    assert_eq!(
        store
            .replace("dir/missing", &v2, b"x".to_vec())
            .await
            .unwrap(),
        Replaced::Conflict
    );
    assert_eq!(store.get("dir/a").await.unwrap().unwrap().body, b"two");

    store.create("dir/b", Vec::new()).await.unwrap();
    store.create("dir/sub/c", b"deeper".to_vec()).await.unwrap();
    store
        .create("other/d", b"elsewhere".to_vec())
        .await
        .unwrap();
    store.create("top", b"no directory".to_vec()).await.unwrap();
    let listed: Vec<(String, Vec<u8>)> = store
        .list("dir")
        .await
        .unwrap()
        .into_iter()
        .map(|(name, s)| (name, s.body))
        .collect();
    assert_eq!(
        listed,
        [
            ("dir/a".to_owned(), b"two".to_vec()),
            ("dir/b".to_owned(), Vec::new())
        ]
    );
    assert_eq!(store.list("dir/sub").await.unwrap().len(), 1);
    assert!(store.list("nothing").await.unwrap().is_empty());
    assert_eq!(
        store.get("top").await.unwrap().unwrap().body,
        b"no directory"
    );
}

async fn sdk(moto: &MotoServer) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .load()
        .await
}

async fn table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique_name("state");
    flowlog_lambda::fakes::create_state_table(client, &name).await;
    name
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    the_contract_holds(&MemoryStore::default()).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_contract_and_sets_each_record_to_expire() {
    let moto = MotoServer::start().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    let name = table(&client).await;
    let store = DynamoStore::new(client.clone(), &name, 3600)
        .with_clock(flowlog_lambda::fakes::ManualClock::at(1_000_000));
    the_contract_holds(&store).await;

    let item = client
        .get_item()
        .table_name(&name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("dir".into()),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await
        .unwrap();
    let expires = item.item().unwrap()["expires_at"].as_n().unwrap().clone();
    assert_eq!(expires, "1003600");
    assert!(
        store
            .locate("dir/a")
            .starts_with(&format!("dynamodb://{name}/dir/a"))
    );
}

#[tokio::test]
async fn the_dynamodb_store_refuses_a_record_larger_than_an_item_naming_the_limit() {
    let moto = MotoServer::start().unwrap();
    let client = aws_sdk_dynamodb::Client::new(&sdk(&moto).await);
    let store = DynamoStore::new(client.clone(), table(&client).await, 3600);
    let error = store
        .create("dir/big", vec![0; MAX_BODY_BYTES + 1])
        .await
        .unwrap_err();
    assert!(error.message.contains("at most"), "{error}");
    assert!(matches!(
        store
            .create("dir/fits", vec![7; MAX_BODY_BYTES])
            .await
            .unwrap(),
        Created::Created(_)
    ));
    assert_eq!(
        store.get("dir/fits").await.unwrap().unwrap().body.len(),
        MAX_BODY_BYTES
    );
}
