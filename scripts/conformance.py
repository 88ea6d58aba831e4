#!/usr/bin/env python3
"""Conformance check of `flowlogs parse` against the peer-project corpus in ../shared/conformance.

For every peer sample that is a flow-log record, the line(s) are fed to `flowlogs parse` the way
the peer fed them (with the header line of the file, or as `--log-format` for headerless input, or
with the default v2 format), and every field value the peer expects is compared with ours after
normalising names (`_` -> `-`, ECS/OTel attribute names -> AWS field names), times (RFC 3339 ->
Unix seconds), numbers the peer stringifies ("3" -> 3) and absence (omitted key <-> null).
Lines the peer rejects are checked too: we should skip them as well.

The corpus is other projects' test data under various licences (see its README.md); this script
only reads it at run time and copies nothing of it into this repository.

Usage:
    python3 scripts/conformance.py [--shared DIR] [--flowlogs BIN] [--strict] [--verbose]

Exit status: 0, or with --strict 1 when a disagreement is not explained by KNOWN_DIFFERENCES
(or the harness could not map our output to the input lines).
Python 3.11 and PyYAML (the pinned tools venv has it: `scripts/tools.sh cfn-lint`; without it in
the interpreter running this script, the script runs itself again with .tools/venv/bin/python).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parent.parent
TOOLS_VENV = REPO / ".tools/venv"

try:
    import yaml
except ImportError:
    if (TOOLS_VENV / "bin/python").exists() and Path(sys.prefix).resolve() != TOOLS_VENV.resolve():
        os.execv(TOOLS_VENV / "bin/python", [str(TOOLS_VENV / "bin/python"), __file__, *sys.argv[1:]])
    raise SystemExit("conformance.py needs PyYAML: `scripts/tools.sh cfn-lint` installs it in .tools/venv")

# ---------------------------------------------------------------------------------------------
# Known intentional differences. Each entry matches disagreements by peer (prefix), kind
# ("field": a value differs; "skipped": the peer reads a record we skip; "accepted": the peer
# rejects a line we read), and optional regexes on the source name, the line and the field.
# `ours`/`theirs`, when given, must equal the two values exactly.
# ---------------------------------------------------------------------------------------------
KNOWN_DIFFERENCES: list[dict[str, Any]] = [
    {
        "id": "surplus-value",
        "peer": "panther",
        "kind": "skipped",
        "line": r" extra-data-should-not-break$",
        "reason": "Panther ignores a value beyond the header's columns; AWS never writes more values "
        "than columns, so we skip the line as field_count rather than guess which value is extra.",
    },
    {
        "id": "json-wrapped",
        "peer": "elastic-integrations",
        "kind": "skipped",
        "line": r'^\{"message":',
        "reason": "Elastic's pipeline unwraps a JSON {\"message\": ...} event; such a line is not a "
        "flow-log record in an S3 object (unwrapping is the transport's job, e.g. CloudWatch).",
    },
    {
        "id": "tgw-unknown-as-text",
        "peer": "elastic-beats",
        "kind": "field",
        "field": r"^(packets-lost-[a-z-]+|resource-type|tgw-[a-z-]+)$",
        "reason": "Transit Gateway (v6 family) fields are not VPC flow-log fields; with a header or "
        "format naming them we keep them as text (\"1\"), Beats types packets-lost-* as integers.",
    },
    {
        "id": "account-unknown",
        "peer": "panther",
        "kind": "field",
        "field": r"^account-id$",
        "ours": "unknown",
        "theirs": None,
        "reason": "AWS documents the literal account-id `unknown` (service-owned interfaces); we keep "
        "it as written, Panther drops it as if it were `-`.",
    },
    {
        "id": "start-9-digit-typo",
        "peer": "",
        "kind": "field",
        "field": r"^start$",
        "line": r" 164000066 ",
        "reason": "Elastic's v5 sample has a 9-digit start (typo for 1640000066). We keep the number "
        "as written (1975-03-14), as Elastic's expected output does; listed so that a peer or a "
        "future expectation that 'repairs' it is not reported as our bug.",
    },
    {
        "id": "parquet",
        "peer": "flowlogs-reader",
        "kind": "skipped",
        "source": r"\.parquet",
        "reason": "Parquet objects are not read (text/gzip only; binary input fails as not a flow "
        "log). The file is a pandas-written fixture, not an AWS object.",
    },
    {
        "id": "tgw-object-without-vpc-fields",
        "peer": "flowlogs-reader",
        "kind": "skipped",
        "source": r"s3-v6-tgw",
        "reason": "A Transit Gateway object whose header names no VPC flow-log field is not taken "
        "for a header, so the object is refused as not a VPC flow log (TGW logs are a different "
        "record family; routing them is out of scope).",
    },
]

# ---------------------------------------------------------------------------------------------
# AWS fields (versions 2-11) and how values are compared.
# ---------------------------------------------------------------------------------------------
AWS_FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start "
    "end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr "
    "region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service "
    "flow-direction traffic-path ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn "
    "ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name "
    "ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason resource-id encryption-status "
    "instance-tag instance-tag-2 interface-tag interface-tag-2 asg-tag asg-tag-2 interface-type "
    "next-hop-interface-id next-hop-subnet-id next-hop-az-id next-hop-vpc-id "
    "next-hop-interface-type"
).split()
KNOWN = set(AWS_FIELDS)
INT_FIELDS = set(
    "version srcport dstport protocol packets bytes tcp-flags traffic-path encryption-status".split()
)
TIME_FIELDS = {"start", "end"}
ADDR_FIELDS = {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"}
V2 = AWS_FIELDS[:14]
V5 = AWS_FIELDS[:29]
ECS = AWS_FIELDS[29:39]
# Transit Gateway default order (the Beats v6 format, preceded by `version` as in the
# Elastic Integrations 36-token samples).
TGW = (
    "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id "
    "tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id "
    "tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr "
    "srcport dstport protocol packets bytes start end log-status type packets-lost-no-route "
    "packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region "
    "flow-direction pkt-src-aws-service pkt-dst-aws-service"
).split()

IANA = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ipv6-icmp": 58, "icmpv6": 58}


def rfc3339(value: str) -> int:
    """RFC 3339 text -> Unix seconds."""
    stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return int(stamp.timestamp())


def normalise(field: str, value: Any) -> Any:
    """A peer's value in our typing: `-` -> None, numeric strings of numeric fields -> int,
    RFC 3339 start/end -> Unix seconds."""
    if value == "-":
        return None
    if field in TIME_FIELDS and isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            return rfc3339(value)
        except ValueError:
            return value
    if field in INT_FIELDS and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def same(field: str, ours: Any, theirs: Any) -> bool:
    if field in ADDR_FIELDS and isinstance(ours, str) and isinstance(theirs, str):
        try:
            return ipaddress.ip_address(ours) == ipaddress.ip_address(theirs)
        except ValueError:
            return ours == theirs
    if field == "action" and isinstance(theirs, str):
        theirs = theirs.upper()
    return type(ours) is type(theirs) and ours == theirs


# ---------------------------------------------------------------------------------------------
# Samples and the inputs they are fed in.
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Expect:
    field: str  # AWS name
    value: Any  # normalised peer value (None = absent / null)
    key: str  # the peer's own key, for messages


@dataclasses.dataclass
class Sample:
    peer: str
    source: str
    line_no: int  # 1-based line in the unit's content
    line: str
    # None: the peer only asserts that the line parses. Otherwise the values it expects.
    expects: list[Expect] | None = None
    # Fields of our record that the peer would report if they had a value (omitted <-> null).
    covered: Callable[[str], bool] = lambda f: f in KNOWN
    peer_valid: bool = True  # False: the peer rejects the line
    note: str = ""
    # filled by the run
    outcome: str = ""  # record | skipped | header | error | harness
    ours: dict | None = None
    detail: str = ""


@dataclasses.dataclass
class Unit:
    """One input to `flowlogs parse`: a file's bytes, optionally gzip'd, with --format."""

    peer: str
    name: str
    content: bytes
    fmt: str | None = None
    gzip: bool = False
    samples: list[Sample] = dataclasses.field(default_factory=list)
    header_only: int | None = None  # expected record count for a header-only case
    records: list[dict] = dataclasses.field(default_factory=list)
    error: str = ""

    def add(self, line_no: int, line: str, expects: list[Expect] | None = None, **kw: Any) -> None:
        """Appends a sample of this unit's line `line_no` (keywords: see Sample)."""
        self.samples.append(Sample(self.peer, self.name, line_no, line, expects, **kw))


def lines_of(content: bytes) -> list[bytes]:
    parts = content.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p[:-1] if p.endswith(b"\r") else p for p in parts]


def text_unit(peer: str, name: str, lines: Iterable[str], fmt: str | None = None) -> Unit:
    return Unit(peer, name, ("\n".join(lines) + "\n").encode(), fmt)


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                out.update(flatten(v, key))
            else:
                out[key] = v
    return out


# ECS (Elastic) dotted keys -> AWS field.
ECS_KEYS = {
    "source.address": "srcaddr",
    "source.ip": "srcaddr",
    "destination.address": "dstaddr",
    "destination.ip": "dstaddr",
    "source.port": "srcport",
    "destination.port": "dstport",
    "network.iana_number": "protocol",
    "source.packets": "packets",
    "network.packets": "packets",
    "source.bytes": "bytes",
    "network.bytes": "bytes",
    "event.start": "start",
    "event.end": "end",
    "event.action": "action",
    "event.reason": "reject-reason",
    "cloud.account.id": "account-id",
    "cloud.instance.id": "instance-id",
    "cloud.region": "region",
    "cloud.availability_zone": "az-id",
    "network.direction": "flow-direction",
    "orchestrator.cluster.id": "ecs-cluster-arn",
    "orchestrator.cluster.name": "ecs-cluster-name",
    "orchestrator.resource.id": "ecs-container-instance-id",
    "orchestrator.resource.name": "ecs-container-instance-arn",
    "container.id": "ecs-container-id",
    "service.name": "ecs-service-name",
}
VPCFLOW_RENAMES = {
    "pkt_src_service": "pkt-src-aws-service",
    "pkt_dst_service": "pkt-dst-aws-service",
}
ECS_IGNORED = re.compile(
    r"^(@timestamp|message|tags|ecs\.version|log\.offset|input\.type|fileset\.name|service\.type"
    r"|cloud\.provider|related\.ip|network\.(type|transport|community_id)|orchestrator\.(type|resource\.type)"
    r"|event\.(original|outcome|type|kind|category|dataset|module)|aws\.vpcflow\.tcp_flags_array"
    r"|(source|destination)\.(geo|as)\..*)$"
)


def ecs_expects(doc: dict, unmapped: set[str]) -> list[Expect]:
    out = []
    for key, value in flatten(doc).items():
        if key.startswith("aws.vpcflow.") and key != "aws.vpcflow.tcp_flags_array":
            name = key[len("aws.vpcflow.") :]
            field = VPCFLOW_RENAMES.get(name, name.replace("_", "-"))
        elif key in ECS_KEYS:
            field = ECS_KEYS[key]
        else:
            if not ECS_IGNORED.match(key):
                unmapped.add(key)
            continue
        out.append(Expect(field, normalise(field, value), key))
    return out


def ecs_parsed(doc: dict) -> bool:
    return any(k.startswith(("aws.vpcflow.", "event.start", "source.")) for k in flatten(doc))


# ---------------------------------------------------------------------------------------------
# Peers.
# ---------------------------------------------------------------------------------------------
def beats_processor(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "elastic-beats/processor-aws_vpcflow"
    table = yaml.safe_load((base / "aws-vpc-flow-logs.yml").read_text())
    units = []
    for case, spec in table.items():
        golden = base / f"{case}.golden.json"
        if not golden.exists():
            continue
        docs = json.loads(golden.read_text())
        unit = text_unit("elastic-beats/processor", f"{case}.golden", spec["samples"], spec["format"])
        for i, (line, doc) in enumerate(zip(spec["samples"], docs, strict=True), 1):
            if doc.get("message") not in (None, line):
                raise SystemExit(f"{golden}: sample {i} does not match its golden message")
            unit.add(i, line, ecs_expects(doc, unmapped), note=spec.get("mode", "ecs"))
        units.append(unit)
    return units


def beats_module(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "elastic-beats/module-aws-vpcflow"
    units = []
    for log in sorted(base.glob("*.log")):
        content = log.read_bytes()
        docs = json.loads((base / f"{log.name}-expected.json").read_text())
        offsets, at = {}, 0
        for no, line in enumerate(content.split(b"\n"), 1):
            offsets[at] = no
            at += len(line) + 1
        unit = Unit("elastic-beats/module", log.name, content)
        lines = lines_of(content)
        for doc in docs:
            no = offsets[doc["log.offset"]]
            line = lines[no - 1].decode()
            assert doc["event.original"] == line, (log, no)
            valid = ecs_parsed(doc)
            unit.add(no, line, ecs_expects(doc, unmapped) if valid else None, peer_valid=valid)
        units.append(unit)
    return units


INTEGRATIONS_FORMATS = {
    "test-extra-samples.log": None,
    "test-tcp-flag-sequence.log": None,
    "test-v5-all-fields.log": None,
    "test-with-message-field.log": None,
    "test-ecs-samples.log": V5 + ECS,
    "test-v8-samples.log": V5 + ECS + ["reject-reason"],
    "test-tgw-samples.log": TGW,
}
INTEGRATIONS_ORDER = {
    14: V2,
    21: "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport "
    "dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status".split(),
    29: V5,
}


def elastic_integrations(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "elastic-integrations"
    units = []
    for log in sorted(base.glob("*.log")):
        content = log.read_bytes()
        lines = [l.decode() for l in lines_of(content)]
        fields = INTEGRATIONS_FORMATS.get(log.name)
        if fields is None:
            # The pipeline picks the field order by token count; give it as --log-format unless it
            # is the default format.
            counts = {len(l.split()) for l in lines}
            fields = INTEGRATIONS_ORDER.get(counts.pop()) if len(counts) == 1 else None
        fmt = " ".join(f"${{{f}}}" for f in fields) if fields and fields != V2 else None
        unit = Unit("elastic-integrations", log.name, content, fmt)
        expected_path = base / f"{log.name}-expected.json"
        docs = json.loads(expected_path.read_text())["expected"] if expected_path.exists() else None
        for no, line in enumerate(lines, 1):
            expects = None
            if docs is not None:
                doc = docs[no - 1]
                original = flatten(doc).get("event.original")
                unwrapped = json.loads(line)["message"] if line.startswith("{") else line
                if original not in (None, unwrapped):
                    raise SystemExit(f"{expected_path}: entry {no} does not match line {no}")
                expects = ecs_expects(doc, unmapped)
            unit.add(no, line, expects, note="" if docs is not None else "expected output not in corpus: parse check only")
        units.append(unit)
    return units


def vector_vrl(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "vector-vrl"
    units = []

    def expects_of(want: dict) -> list[Expect]:
        return [Expect(k.replace("_", "-"), normalise(k.replace("_", "-"), v), k) for k, v in want.items()]

    docs = json.loads((base / "parse_aws_vpc_flow_log.json").read_text())
    for i, example in enumerate(docs["examples"], 1):
        literals = [json.loads(f'"{s}"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', example["source"])]
        line, fmt = literals[0], (literals[1] if len(literals) > 1 else None)
        unit = text_unit("vector-vrl", f"docs example {i}", [line], fmt)
        # VRL returns every format field, `-` as null: a missing key would be a difference.
        unit.add(1, line, expects_of(example["return"]), covered=lambda f: True)
        units.append(unit)
    cases = json.loads((base / "parse_aws_vpc_flow_log.test-cases.json").read_text())
    for case in cases["exact_cases"]:
        unit = text_unit("vector-vrl", f"test {case['name']}", [case["value"]], case["format"])
        unit.add(1, case["value"], expects_of(case["want"]), covered=lambda f: True)
        units.append(unit)
    for i, group in enumerate(cases["accept_cases"], 1):
        unit = text_unit("vector-vrl", f"accept group {i}", group["lines"], group["format"])
        for no, line in enumerate(group["lines"], 1):
            unit.add(no, line, note="asserted only to parse")
        units.append(unit)
    return units


def flowlogs_reader(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "flowlogs-reader"
    spec = json.loads((base / "expected.json").read_text())

    def expects_of(record: dict) -> list[Expect]:
        return [Expect(k.replace("_", "-"), normalise(k.replace("_", "-"), v), k) for k, v in record.items()]

    # file -> line -> (expected values or None, whether the peer gave the whole record)
    by_line: dict[str, dict[int, tuple[list[Expect] | None, bool]]] = {}
    whole: dict[str, list[dict]] = {}
    for case in spec["cases"]:
        inp = case["input"]
        if "aggregate_by" in case:
            continue
        if "line" in inp:
            if "expected" in case:
                by_line.setdefault(inp["file"], {})[inp["line"]] = (expects_of(case["expected"]), True)
            else:
                by_line.setdefault(inp["file"], {})[inp["line"]] = (expects_of(case["expected_subset"]), False)
        elif "lines" in inp:
            for no in inp["lines"]:
                by_line.setdefault(inp["file"], {}).setdefault(no, (None, False))
        else:
            whole[inp["file"]] = case["expected"]
    units = []
    for name, wanted in by_line.items():
        content = (base / name).read_bytes()
        lines = lines_of(content)
        unit = Unit("flowlogs-reader", name, content)
        for no in sorted(wanted):
            expects, full = wanted[no]
            unit.add(
                no,
                lines[no - 1].decode(),
                expects,
                covered=(lambda f: f in KNOWN) if full else (lambda f: False),
                note="" if expects is not None else "asserted only to parse",
            )
        units.append(unit)
    for name, records in whole.items():
        content = (base / name).read_bytes()
        if name.endswith(".parquet"):
            unit = Unit("flowlogs-reader", name, content)
            for i, record in enumerate(records, 1):
                unit.add(i, f"<parquet row {i}>", expects_of(record))
            units.append(unit)
            continue
        # The tests serve the text bodies gzip'd from S3: do the same.
        unit = Unit("flowlogs-reader", name, content, gzip=True)
        lines = [l.decode() for l in lines_of(content)]
        width = len(lines[0].split())
        pending = iter(records)
        for no, line in enumerate(lines[1:], 2):
            if len(line.split()) != width:  # flowlogs-reader skips such lines ("bogus line")
                unit.add(no, line, peer_valid=False)
                continue
            unit.add(no, line, expects_of(next(pending)))
        units.append(unit)
    return units


OTEL_KEYS = {
    "aws.vpc.flow.log.version": "version",
    "network.interface.name": "interface-id",
    "source.port": "srcport",
    "destination.port": "dstport",
    "network.protocol.name": "protocol",
    "aws.vpc.flow.packets": "packets",
    "aws.vpc.flow.bytes": "bytes",
    "aws.vpc.flow.start": "start",
    "aws.vpc.flow.action": "action",
    "aws.vpc.flow.status": "log-status",
    "source.address": "srcaddr",
    "destination.address": "dstaddr",
    "network.local.address": "srcaddr",
    "aws.ecs.cluster.arn": "ecs-cluster-arn",
    "aws.ecs.cluster.name": "ecs-cluster-name",
    "aws.ecs.container.instance.arn": "ecs-container-instance-arn",
    "aws.ecs.container.instance.id": "ecs-container-instance-id",
    "aws.ecs.container.id": "ecs-container-id",
    "aws.ecs.second.container.id": "ecs-second-container-id",
    "aws.ecs.service.name": "ecs-service-name",
    "aws.ecs.task.definition.arn": "ecs-task-definition-arn",
    "aws.ecs.task.arn": "ecs-task-arn",
    "aws.ecs.task.id": "ecs-task-id",
}
OTEL_COVERED = set(OTEL_KEYS.values()) | {"end", "account-id"}


def otel_records(path: Path, unmapped: set[str]) -> list[list[Expect]]:
    def value(v: dict) -> Any:
        if "intValue" in v:
            return int(v["intValue"])
        return next(iter(v.values()))

    out = []
    for resource in yaml.safe_load(path.read_text())["resourceLogs"]:
        res = {a["key"]: value(a["value"]) for a in resource["resource"].get("attributes") or []}
        for scope in resource["scopeLogs"]:
            for record in scope["logRecords"]:
                attrs = {a["key"]: value(a["value"]) for a in record.get("attributes") or []}
                expects = []
                for key, val in attrs.items():
                    field = OTEL_KEYS.get(key)
                    if field is None:
                        unmapped.add(key)
                        continue
                    if key == "source.address" and "network.local.address" in attrs:
                        field = "pkt-srcaddr"
                    if field == "protocol" and isinstance(val, str):
                        val = IANA.get(val.lower(), val)
                    expects.append(Expect(field, normalise(field, val), key))
                if "timeUnixNano" in record:
                    expects.append(Expect("end", int(record["timeUnixNano"]) // 10**9, "timeUnixNano"))
                if "cloud.account.id" in res:
                    expects.append(Expect("account-id", res["cloud.account.id"], "resource cloud.account.id"))
                out.append(expects)
    return out


def opentelemetry(root: Path, unmapped: set[str]) -> list[Unit]:
    base = root / "opentelemetry-collector-contrib"
    covered = lambda f: f in OTEL_COVERED  # noqa: E731
    units = []
    files = {
        "valid_vpc_flow_log.log": "valid_vpc_flow_log_single_expected.yaml",
        "valid_vpc_flow_log_multi.log": "valid_vpc_flow_log_expected_multi.yaml",
        "valid_vpc_flow_log_ecs.log": "valid_vpc_flow_log_ecs_expected.yaml",
        "vpc_flow_log_too_few_fields.log": None,
        "vpc_flow_log_too_many_fields.log": None,
    }
    for name, expected in files.items():
        content = (base / name).read_bytes()
        unit = Unit("opentelemetry", name, content, gzip=True)  # the tests gzip the S3 bodies
        lines = [l.decode() for l in lines_of(content)]
        records = iter(otel_records(base / expected, unmapped)) if expected else None
        for no, line in enumerate(lines[1:], 2):
            if records is None:
                unit.add(no, line, peer_valid=False, note="peer: error")
            else:
                unit.add(no, line, next(records), covered=covered)
        units.append(unit)
    cloudwatch = {
        "valid_vpc_flow_cw.json": ("valid_vpc_flow_cw_expected.yaml", None),
        "valid_vpc_flow_cw_custom.json": ("valid_vpc_flow_cw_custom_expected.yaml", "version interface-id srcaddr dstaddr"),
    }
    for name, (expected, fmt) in cloudwatch.items():
        payload = json.loads((base / name).read_text())
        messages = [e["message"] for e in payload["logEvents"]]
        fmt = " ".join(f"${{{f}}}" for f in fmt.split()) if fmt else None
        unit = text_unit("opentelemetry", f"{name} (CloudWatch events)", messages, fmt)
        for no, (line, expects) in enumerate(zip(messages, otel_records(base / expected, unmapped), strict=True), 1):
            unit.add(no, line, expects, covered=covered)
        units.append(unit)
    return units


def panther(root: Path, unmapped: set[str]) -> list[Unit]:
    spec = json.loads((root / "panther/vpc_flow_test-cases.json").read_text())
    units = []
    for case in spec["cases"]:
        if "header" not in case:  # a header line alone: no event, no error
            unit = text_unit("panther", case["test"], [case["line"]])
            unit.header_only = case["expected_events"]
            units.append(unit)
            continue
        unit = text_unit("panther", case["test"], [case["header"], case["line"]])
        expects = [Expect(k, normalise(k, v), k) for k, v in case["expected"].items()]
        unit.add(2, case["line"], expects)
        units.append(unit)
    return units


PEERS = [
    ("elastic-beats/processor", beats_processor),
    ("elastic-beats/module", beats_module),
    ("elastic-integrations", elastic_integrations),
    ("vector-vrl", vector_vrl),
    ("flowlogs-reader", flowlogs_reader),
    ("opentelemetry", opentelemetry),
    ("panther", panther),
]

# ---------------------------------------------------------------------------------------------
# Running flowlogs and mapping its output back to the input lines.
# ---------------------------------------------------------------------------------------------
SUMMARY = re.compile(
    r"^(?P<name>.*): (?P<records>[\d,]+) records? \(OK [\d,]+, NODATA [\d,]+, SKIPDATA [\d,]+\), "
    r"(?P<skipped>[\d,]+) lines? skipped(?: \[(?P<samples>.*)\])?$"
)
HEADERISH = re.compile(rb"^[a-z][a-z0-9_-]*( +[a-z][a-z0-9_-]*)* *$")


def run_unit(binary: Path, unit: Unit, workdir: Path, index: int) -> None:
    path = workdir / f"unit{index}.log{'.gz' if unit.gzip else ''}"
    path.write_bytes(gzip.compress(unit.content) if unit.gzip else unit.content)
    cmd = [str(binary), "parse"] + (["--log-format", unit.fmt] if unit.fmt else []) + [str(path)]
    proc = subprocess.run(cmd, capture_output=True)
    stderr = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        unit.error = stderr.replace(str(path), unit.name)
        for sample in unit.samples:
            sample.outcome, sample.detail = "error", unit.error
        return
    unit.records = [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]
    match = SUMMARY.match(stderr.splitlines()[-1]) if stderr else None
    if not match:
        unit.error = f"unexpected stderr: {stderr!r}"
        for sample in unit.samples:
            sample.outcome, sample.detail = "harness", unit.error
        return
    skips = {}
    for part in (match["samples"] or "").split("; "):
        if part:
            no, _, reason = part.partition(": ")
            skips[int(no.split()[1])] = reason
    # Walk the lines: skipped (from the report), header (header-shaped, not skipped) or record.
    kinds: dict[int, tuple[str, Any]] = {}
    records = iter(unit.records)
    consumed = 0
    for no, line in enumerate(lines_of(unit.content), 1):
        if no in skips:
            kinds[no] = ("skipped", skips[no])
        elif HEADERISH.match(line):
            kinds[no] = ("header", None)
        else:
            kinds[no] = ("record", next(records, None))
            consumed += 1
    consistent = (
        consumed == len(unit.records) == int(match["records"].replace(",", ""))
        and len(skips) == int(match["skipped"].replace(",", ""))
        and all(v is not None for k, v in kinds.values() if k == "record")
    )
    for sample in unit.samples:
        if not consistent:
            sample.outcome, sample.detail = "harness", "could not map output records to input lines"
            continue
        kind, value = kinds[sample.line_no]
        sample.outcome = kind
        if kind == "record":
            sample.ours = value
        else:
            sample.detail = value or ""


def reader_aggregation(root: Path, binary: Path, workdir: Path) -> list[tuple[str, str, str]]:
    """flowlogs-reader's aggregated_records() cases against `flowlogs analyze --json`.

    Ours aggregates per source address; a peer case is comparable when its key includes srcaddr
    and no two expected groups share a source. Returns (case, verdict, detail) with verdict
    agree | disagree | n/a.
    """
    base = root / "flowlogs-reader"
    spec = json.loads((base / "expected.json").read_text())
    out = []
    for case in spec["cases"]:
        if "aggregate_by" not in case:
            continue
        name = case["test"].split(".")[-1]
        groups = case["expected"]
        sources = [g.get("srcaddr") for g in groups]
        if "srcaddr" not in case["aggregate_by"] or len(set(sources)) != len(sources):
            out.append((name, "n/a", f"keyed by {'/'.join(case['aggregate_by'])}: not comparable with per-source totals"))
            continue
        lines = lines_of((base / case["input"]["file"]).read_bytes())
        picked = {n: lines[n - 1].decode() for n in case["input"]["lines"]}
        flip = re.match(r"line (\d+) has REJECT replaced by ACCEPT", case["input"].get("transform", ""))
        if flip:
            n = int(flip.group(1))
            picked[n] = picked[n].replace(" REJECT ", " ACCEPT ")
        path = workdir / f"aggregate-{name}.log"
        path.write_text("\n".join(picked.values()) + "\n")
        proc = subprocess.run([str(binary), "analyze", "--json", str(path)], capture_output=True)
        if proc.returncode != 0:
            out.append((name, "disagree", proc.stderr.decode(errors="replace").strip()))
            continue
        ours = {s["source"]: s for s in json.loads(proc.stdout)["sources"]}
        problems = []
        if set(ours) != set(sources):
            problems.append(f"sources ours {sorted(ours)} vs theirs {sorted(sources)}")
        for group in groups:
            mine = ours.get(group["srcaddr"], {})
            for theirs_key, our_key in (("packets", "packets"), ("bytes", "bytes"), ("start", "first_start"), ("end", "last_end")):
                want = normalise(theirs_key, group[theirs_key])
                if mine.get(our_key) != want:
                    problems.append(f"{group['srcaddr']} {our_key}: ours {show(mine.get(our_key))} vs theirs {show(want)}")
        out.append((name, "disagree" if problems else "agree", "; ".join(problems) or f"{len(groups)} sources: packets, bytes, first start, last end"))
    return out


# ---------------------------------------------------------------------------------------------
# Comparing and reporting.
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Difference:
    sample: Sample
    kind: str  # field | skipped | accepted | count | harness
    field: str = ""
    ours: Any = None
    theirs: Any = None
    key: str = ""
    known: dict | None = None


def explain(diff: Difference) -> dict | None:
    for entry in KNOWN_DIFFERENCES:
        s = diff.sample
        if not s.peer.startswith(entry["peer"]) or entry["kind"] != diff.kind:
            continue
        if "source" in entry and not re.search(entry["source"], s.source):
            continue
        if "line" in entry and not re.search(entry["line"], s.line):
            continue
        if "field" in entry and not re.search(entry["field"], diff.field):
            continue
        if "ours" in entry and diff.ours != entry["ours"]:
            continue
        if "theirs" in entry and diff.theirs != entry["theirs"]:
            continue
        return entry
    return None


def compare(sample: Sample) -> tuple[list[Difference], int]:
    """Differences of one sample, and how many field values were compared."""
    if sample.outcome == "harness":
        return [Difference(sample, "harness", ours=sample.detail)], 0
    if not sample.peer_valid:
        if sample.outcome == "record":
            return [Difference(sample, "accepted", ours=sample.ours)], 0
        return [], 0
    if sample.outcome != "record":
        return [Difference(sample, "skipped", ours=f"{sample.outcome}: {sample.detail}")], 0
    if sample.expects is None:
        return [], 0
    ours = sample.ours or {}
    diffs, compared, seen = [], 0, set()
    for e in sample.expects:
        seen.add(e.field)
        compared += 1
        if e.field not in ours:
            if e.value is not None:
                diffs.append(Difference(sample, "field", e.field, "<no such column>", e.value, e.key))
            continue
        if not same(e.field, ours[e.field], e.value):
            diffs.append(Difference(sample, "field", e.field, ours[e.field], e.value, e.key))
    for field, value in ours.items():
        if field in seen or not sample.covered(field):
            continue
        compared += 1  # the peer omits it: it must be null for us too
        if value is not None:
            diffs.append(Difference(sample, "field", field, value, None, "(omitted)"))
    return diffs, compared


def show(value: Any) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared directory (default: ../shared)")
    parser.add_argument("--flowlogs", type=Path, help="flowlogs binary (default: built by scripts/cargo-bin.sh)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on unexplained disagreements")
    parser.add_argument("--verbose", action="store_true", help="also list explained differences in full and unmapped peer keys")
    args = parser.parse_args()
    root = args.shared / "conformance"
    if not (root / "README.md").exists():
        print(f"conformance corpus not found under {root}", file=sys.stderr)
        return 2
    if args.flowlogs is None:
        built = subprocess.run([str(REPO / "scripts/cargo-bin.sh"), "flowlogs"], stdout=subprocess.PIPE, text=True)
        if built.returncode != 0:
            return 2
        args.flowlogs = Path(built.stdout.strip())
    if not args.flowlogs.exists():
        print(f"{args.flowlogs} not found: run `cargo build -p flowlogs` first", file=sys.stderr)
        return 2

    unmapped: set[str] = set()
    units: list[Unit] = []
    for _, load in PEERS:
        units.extend(load(root, unmapped))
    with tempfile.TemporaryDirectory(prefix="conformance.") as tmp:
        for i, unit in enumerate(units):
            run_unit(args.flowlogs, unit, Path(tmp), i)
        aggregation = reader_aggregation(root, args.flowlogs, Path(tmp))

    rows: dict[str, dict[str, int]] = {}
    diffs: list[Difference] = []
    for unit in units:
        row = rows.setdefault(
            unit.peer,
            dict.fromkeys(("samples", "agree", "disagree", "skipped", "fields", "rejected", "rejected_ok", "known", "unexplained"), 0),
        )
        if unit.header_only is not None:
            row["samples"] += 1
            if not unit.error and len(unit.records) == unit.header_only:
                row["agree"] += 1
            else:
                row["disagree"] += 1
                got = unit.error or f"{len(unit.records)} records"
                diffs.append(Difference(Sample(unit.peer, unit.name, 1, unit.content.decode().strip()), "count", ours=got, theirs=f"{unit.header_only} records"))
            continue
        for sample in unit.samples:
            found, compared = compare(sample)
            row["fields"] += compared
            if not sample.peer_valid:
                row["rejected"] += 1
                row["rejected_ok"] += not found
            else:
                row["samples"] += 1
                if sample.outcome not in ("record", "harness") or any(d.kind == "harness" for d in found):
                    row["skipped"] += 1
                elif found:
                    row["disagree"] += 1
                else:
                    row["agree"] += 1
            diffs.extend(found)
    for d in diffs:
        d.known = explain(d)
        rows[d.sample.peer]["known" if d.known else "unexplained"] += 1

    header = ("peer", "samples", "agree", "disagree", "skipped-by-us", "fields cmp", "peer-rejects (we too)", "diffs known", "unexplained")
    table = [header]
    total = dict.fromkeys(rows[next(iter(rows))], 0)
    for peer, r in rows.items():
        for k in total:
            total[k] += r[k]
    for peer, r in list(rows.items()) + [("TOTAL", total)]:
        table.append(
            (peer, r["samples"], r["agree"], r["disagree"], r["skipped"], r["fields"], f"{r['rejected']} ({r['rejected_ok']})", r["known"], r["unexplained"])
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    print("Conformance of `flowlogs parse` against", root)
    print()
    for n, row in enumerate(table):
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0 or n == len(table) - 2:
            print("  ".join("-" * w for w in widths))

    def describe(d: Difference) -> str:
        s = d.sample
        where = f"{s.peer} {s.source}:{s.line_no}"
        if d.kind == "field":
            what = f"field {d.field} ({d.key}): ours {show(d.ours)} vs theirs {show(d.theirs)}"
        elif d.kind == "skipped":
            what = f"peer parses it, we do not ({d.ours})"
        elif d.kind == "accepted":
            what = "peer rejects it, we parse it"
        elif d.kind == "count":
            what = f"ours {d.ours} vs theirs {d.theirs}"
        else:
            what = f"harness: {d.ours}"
        return f"{where}: {what}\n      line: {s.line}"

    print()
    print("Aggregation: flowlogs-reader aggregated_records() vs `flowlogs analyze --json` (per source)")
    for name, verdict, detail in aggregation:
        print(f"  {name}: {verdict} ({detail})")

    unexplained = [d for d in diffs if not d.known]
    known = [d for d in diffs if d.known]
    print()
    print(f"Unexplained disagreements: {len(unexplained)}")
    for d in unexplained:
        print("  - " + describe(d))
    print()
    print(f"Known intentional differences: {len(known)}")
    by_id: dict[str, list[Difference]] = {}
    for d in known:
        by_id.setdefault(d.known["id"], []).append(d)
    for entry in KNOWN_DIFFERENCES:
        hits = by_id.get(entry["id"], [])
        print(f"  [{entry['id']}] x{len(hits)}: {entry['reason']}")
        for d in hits if args.verbose else hits[:3]:
            print("    - " + describe(d).replace("\n", "\n  "))
        if not args.verbose and len(hits) > 3:
            print(f"    ... {len(hits) - 3} more (--verbose)")
    notes = sorted({(u.peer, u.name, s.note) for u in units for s in u.samples if s.note and s.expects is None and s.peer_valid})
    if notes:
        print()
        print("Parse-only samples (the peer asserts no values):")
        for peer, name, note in notes:
            print(f"  {peer} {name}: {note}")
    if args.verbose and unmapped:
        print()
        print("Peer keys not mapped to a flow-log field (ignored):", ", ".join(sorted(unmapped)))
    failed = unexplained or any(v == "disagree" for _, v, _ in aggregation)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
