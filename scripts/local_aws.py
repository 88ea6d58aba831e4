#!/usr/bin/env python3
"""Local AWS resources on a moto server for `make invoke`, and read-back of what the functions did.

Runs with the pinned tool venv's Python (moto brings boto3). The endpoint comes from
AWS_ENDPOINT_URL; credentials are moto's dummy ones.

  local_aws.py setup OBJECTS_DIR    bucket, state table, detect queue, alert topic + SQS inbox,
                                    sample objects uploaded; prints the topic ARN and queue URL
  local_aws.py detect-batch FILE    the detect queue's waiting requests written as the SQS event
                                    Lambda would invoke flood-alert with (and removed)
  local_aws.py schedule FILE SECS   a Scheduled Event SECS seconds from now written to FILE
  local_aws.py metrics NAMESPACE    per-source and all-traffic sums read back from CloudWatch
  local_aws.py alerts               the SNS notices that reached the SQS inbox
"""
import datetime
import json
import os
import sys

import boto3
from botocore.config import Config

BUCKET = "flowlogs-demo"
TABLE = "flowlogs-state"
DETECT_QUEUE = "flowlogs-detect"
TOPIC = "flowlogs-alerts"
QUEUE = "flowlogs-alerts-inbox"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def client(name):
    return boto3.client(name, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def setup(objects_dir):
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    with open(os.path.join(ROOT, "events", "uploads.tsv")) as manifest:
        for line in manifest:
            if line.startswith("#") or not line.strip():
                continue
            file, key = line.rstrip("\n").split("\t")
            path = os.path.join(objects_dir, os.path.basename(file))
            s3.upload_file(path, BUCKET, key)
            print(f"uploaded {os.path.basename(file):20} -> s3://{BUCKET}/{key}", file=sys.stderr)
    # Shaped like the template's StateTable.
    client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    sns, sqs = client("sns"), client("sqs")
    detect = sqs.create_queue(QueueName=DETECT_QUEUE)["QueueUrl"]
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    print(topic, detect)


def detect_batch(path):
    sqs = client("sqs")
    queue = sqs.get_queue_url(QueueName=DETECT_QUEUE)["QueueUrl"]
    records = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            break
        for m in batch:
            records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    with open(path, "w") as f:
        json.dump({"Records": records}, f)
    print(f"{len(records)} detect requests -> {path}", file=sys.stderr)


def schedule(path, offset):
    time = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(offset))
    event = {"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/incident-schedule"], "detail": {}}
    with open(path, "w") as f:
        json.dump(event, f)


def metrics(namespace):
    cw = client("cloudwatch")
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(hours=1)

    def total(name, dims):
        points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, StartTime=start,
                                          EndTime=end, Period=60, Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)

    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    sources = sorted({d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "SourceIp"})
    print(f"CloudWatch namespace {namespace}: {len(listed)} metric series")
    rows = [(ip, total("Flows", [{"Name": "SourceIp", "Value": ip}]),
             total("Bytes", [{"Name": "SourceIp", "Value": ip}]),
             total("RejectedFlows", [{"Name": "SourceIp", "Value": ip}])) for ip in sources]
    print(f"  {'SourceIp':40} {'Flows':>8} {'Bytes':>12} {'Rejected':>9}")
    for ip, flows, nbytes, rejected in sorted(rows, key=lambda r: -r[1])[:10]:
        print(f"  {ip:40} {flows:>8.0f} {nbytes:>12.0f} {rejected:>9.0f}")
    for name in ["Records", "SkippedLines", "NoDataRecords", "SkipDataRecords", "DeliveryLagSeconds"]:
        print(f"  {name:20} {total(name, []):>12.0f}")


def alerts():
    sqs = client("sqs")
    queue = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    received = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            break
        for m in batch:
            received.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    print(f"SNS notices received: {len(received)}")
    for envelope in received:
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        doc = json.loads(envelope["Message"])
        totals = doc["totals"]
        print(f"  {doc['stage']:8} subject:    {envelope.get('Subject')}")
        print(f"           attributes: {attributes}")
        print(f"           incident:   {doc['incident_id']} notice {doc['seq']} rule={doc['finding']['rule']} "
              f"minutes={totals['minutes']} flows={totals['flows']} peak={doc['peak']['flows_per_minute']}/min "
              f"duration={doc['duration_secs']}s")
    return received


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "setup":
        setup(sys.argv[2])
    elif command == "detect-batch":
        detect_batch(sys.argv[2])
    elif command == "schedule":
        schedule(sys.argv[2], sys.argv[3])
    elif command == "metrics":
        metrics(sys.argv[2])
    elif command == "alerts":
        alerts()
    else:
        sys.exit(__doc__)
