#!/usr/bin/env python3
"""Offline checks of template.yaml that cfn-lint cannot make: least privilege, encryption,
failure handling, and the wiring between the Rust code's settings and the template.

Usage: scripts/check_template.py [--template PATH] [--root PATH]

Prints one line per check ("ok   - ..." or "FAIL - ...: why"), then
"check_template: N passed, M failed", and exits 1 if any check failed.

The template is expanded with the SAM translator (aws-sam-translator, which the pinned cfn-lint
brings; run with .tools/venv/bin/python after `scripts/tools.sh cfn-lint`), so the IAM checked
is the IAM deployed, including what SAM adds by itself. Intrinsic functions are then evaluated
for three parameter sets: the defaults, an existing bucket with every prefix and name changed
(so that a hard-coded value cannot pass for a parameter), and the other inputs turned on (a
CloudWatch Logs group, an SSE-KMS key, delivery accounts).

The environment variables each function must have are not listed here: they are in its
settings list, functions/<function>/settings.txt, which the function's tests/settings.rs makes
from the Rust code itself (the names its Config asks for, in every mode, and those it reads
straight from the environment) and keeps current, so a new setting without a template parameter
fails the check.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

import yaml

# --------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags into their long (JSON) form."""


def _short_tag(tag: str) -> Callable[[CfnLoader, yaml.Node], dict]:
    key = "Ref" if tag == "Ref" else "Condition" if tag == "Condition" else f"Fn::{tag}"

    def construct(loader: CfnLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {key: value}

    return construct


for _tag in (
    "Ref Condition Sub GetAtt If Equals Not And Or Select Join Split FindInMap "
    "Base64 GetAZs ImportValue Cidr Length ToJsonString Transform"
).split():
    CfnLoader.add_constructor(f"!{_tag}", _short_tag(_tag))


def load_template(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)


def sam_translate(template: dict) -> dict:
    """The CloudFormation template SAM deploys (offline: no AWS call is made)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    # The translator wants packaged code; `sam build`/`sam deploy` replace the local path.
    globals_fn = sam.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_fn:
        globals_fn["CodeUri"] = "s3://bucket/code.zip"
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if "CodeUri" in props:
                props["CodeUri"] = "s3://bucket/code.zip"
    return Translator(managed_policy_map={}, sam_parser=Parser()).translate(
        sam_template=sam, parameter_values={}
    )


# --------------------------------------------------------------------------- evaluation

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "flowlogs-check"
NO_VALUE = object()


class Unresolvable(Exception):
    pass


class Scenario:
    """A template evaluated for one set of parameter values."""

    def __init__(self, name: str, template: dict, overrides: dict[str, str]):
        self.name = name
        self.template = template
        self.params: dict[str, str] = {}
        for pname, spec in template.get("Parameters", {}).items():
            default = spec.get("Default")
            self.params[pname] = "" if default is None else str(default)
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise Unresolvable(f"scenario {name}: unknown parameters {sorted(unknown)}")
        self.params.update(overrides)
        self.conditions: dict[str, bool] = {}
        for cname in template.get("Conditions", {}):
            self.condition(cname)
        self.resources = {
            lid: r
            for lid, r in template.get("Resources", {}).items()
            if "Condition" not in r or self.condition(r["Condition"])
        }

    # Names and ARNs the evaluator gives resources (what CloudFormation would generate).
    def physical(self, lid: str) -> str:
        return f"{STACK}-{lid.lower()}-abc123"

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name not in self.resources:
            raise Unresolvable(f"Ref to {name}, which does not exist in scenario {self.name}")
        rtype = self.resources[name]["Type"]
        phys = self.physical(name)
        return {
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{phys}",
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{phys}",
        }.get(rtype, phys)

    def getatt(self, lid: str, attr: str) -> str:
        if lid not in self.resources:
            raise Unresolvable(f"GetAtt {lid}.{attr}: no such resource in scenario {self.name}")
        rtype = self.resources[lid]["Type"]
        phys = self.physical(lid)
        table = {
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{phys}",
            ("AWS::SNS::Topic", "TopicArn"): f"arn:aws:sns:{REGION}:{ACCOUNT}:{phys}",
            ("AWS::SNS::Topic", "TopicName"): phys,
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT}:{phys}",
            ("AWS::SQS::Queue", "QueueName"): phys,
            ("AWS::SQS::Queue", "QueueUrl"): f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{phys}",
            ("AWS::Lambda::Function", "Arn"): f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{phys}",
            ("AWS::Events::Rule", "Arn"): f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{phys}",
            ("AWS::CloudWatch::Alarm", "Arn"): f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{phys}",
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{ACCOUNT}:role/{phys}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{phys}:*",
            ("AWS::DynamoDB::Table", "Arn"): f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{phys}",
        }
        return table.get((rtype, attr), f"<{lid}.{attr}>")

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise Unresolvable(f"unknown condition {name}")
            self.conditions[name] = bool(self.eval(spec))
        return self.conditions[name]

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(m: re.Match) -> str:
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and not inner.startswith("AWS::"):
                lid, attr = inner.split(".", 1)
                return self.getatt(lid, attr)
            value = self.ref(inner)
            if value is NO_VALUE:
                raise Unresolvable(f"AWS::NoValue inside Fn::Sub {text!r}")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def eval(self, node: Any) -> Any:
        """Fully evaluates intrinsic functions; drops AWS::NoValue."""
        if isinstance(node, list):
            items = [self.eval(x) for x in node]
            return [x for x in items if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(lid, self.eval(attr))
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.eval(v) for k, v in variables.items()})
            if key == "Fn::If":
                cond, yes, no = arg
                return self.eval(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.eval(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.eval(arg[0])
            if key == "Fn::And":
                return all(self.eval(x) for x in arg)
            if key == "Fn::Or":
                return any(self.eval(x) for x in arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.eval(items))
            if key == "Fn::Split":
                sep, text = arg
                return str(self.eval(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.eval(items)[int(self.eval(index))]
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} is not evaluated by this checker")
        out = {}
        for k, v in node.items():
            value = self.eval(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    # Helpers over the evaluated template.
    def props(self, lid: str) -> dict:
        return self.eval(self.resources[lid].get("Properties", {}))

    def of_type(self, rtype: str) -> list[str]:
        return [lid for lid, r in self.resources.items() if r["Type"] == rtype]


# --------------------------------------------------------------------------- settings in code

# Read by the code but set by Lambda itself, and why the template need not set them.
RUNTIME_PROVIDED = {
    "AWS_REGION": "set by Lambda: the function's region, named in alerts",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "set by Lambda from MemorySize: the memory budget",
    "AWS_LAMBDA_LOG_LEVEL": "set by Lambda from LoggingConfig.ApplicationLogLevel",
    "RUST_LOG": "fallback when AWS_LAMBDA_LOG_LEVEL is unset (never, with LoggingConfig)",
}
SETTINGS_LIST = "settings.txt"


class CodeSettings:
    """Which environment variables each function crate reads: its settings list."""

    def __init__(self, root: Path):
        self.root = root
        self.functions = root / "functions"
        workspace = tomllib.loads((root / "Cargo.toml").read_text())
        self.workspace_deps = workspace.get("workspace", {}).get("dependencies", {})
        self.crates: dict[str, Path] = {}  # package or binary name -> crate dir
        for manifest in sorted(self.functions.glob("*/Cargo.toml")):
            data = tomllib.loads(manifest.read_text())
            names = [data.get("package", {}).get("name")]
            names += [b.get("name") for b in data.get("bin", [])]
            for name in filter(None, names):
                self.crates[name] = manifest.parent

    def _deps(self, crate: Path) -> list[Path]:
        data = tomllib.loads((crate / "Cargo.toml").read_text())
        out = []
        for name, spec in data.get("dependencies", {}).items():
            path = None
            if isinstance(spec, dict) and "path" in spec:
                path = (crate / spec["path"]).resolve()
            elif isinstance(spec, dict) and spec.get("workspace"):
                ws = self.workspace_deps.get(name)
                if isinstance(ws, dict) and "path" in ws:
                    path = (self.root / ws["path"]).resolve()
            if path is not None and self.functions.resolve() in path.parents:
                out.append(path)
        return out

    def sources(self, binary: str) -> list[Path]:
        crate = self.crates.get(binary)
        if crate is None:
            return []
        seen, todo = [], [crate.resolve()]
        while todo:
            c = todo.pop()
            if c in seen:
                continue
            seen.append(c)
            todo.extend(self._deps(c))
        return [p for c in seen for p in sorted((c / "src").rglob("*.rs"))]

    def reads(self, binary: str) -> tuple[set[str], list[str]]:
        """(the names in the function's settings list, problems with the list)."""
        crate = self.crates.get(binary)
        if crate is None:
            return set(), [f"{binary}: no crate under functions/"]
        path = crate / SETTINGS_LIST
        shown = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        regenerate = f"UPDATE_SETTINGS=1 cargo test -p {binary} --test settings"
        if not path.exists():
            return set(), [f"{binary}: no settings list {shown} (make it: {regenerate})"]
        names = [line.strip() for line in path.read_text().splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
        problems = []
        if names != sorted(set(names)):
            problems.append(f"{shown} is not sorted and unique (regenerate: {regenerate})")
        if any(not re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names):
            problems.append(f"{shown} has a line that is no variable name (regenerate: {regenerate})")
        return set(names), problems


# --------------------------------------------------------------------------- checks


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn: Callable[[], list[str] | None]) -> None:
        try:
            problems = fn() or []
        except Unresolvable as e:
            problems = [f"cannot evaluate: {e}"]
        except (KeyError, TypeError, ValueError, IndexError) as e:
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            self.failed += 1
            print(f"FAIL - {name}: " + "; ".join(problems[:6]) + (" ..." if len(problems) > 6 else ""))
        else:
            self.passed += 1
            print(f"ok   - {name}")


def as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def statements(policy_doc: dict) -> list[dict]:
    return as_list(policy_doc.get("Statement", []))


def refs_in(node: Any) -> set[str]:
    """Names referenced by Ref and by ${...} in Fn::Sub strings."""
    out: set[str] = set()
    if isinstance(node, list):
        for x in node:
            out |= refs_in(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                out |= {n.split(".")[0] for n in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(v, list):
                    out |= refs_in(v[1])
            else:
                out |= refs_in(v)
    return out


ALLOWED_ACTIONS = {
    "rate-metrics": {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "cloudwatch:PutMetricData",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "sqs:SendMessage",
    },
    "flood-alert": {
        "dynamodb:Query",
        "dynamodb:PutItem",
        "sns:Publish",
        "sqs:SendMessage",
    },
}
# Per function, its failed-events queue (Lambda OnFailure destination and EventBridge target
# dead-letter queue) and the queue it consumes, which dead-letters to the third.
QUEUES = {
    "rate-metrics": ("RateMetricsFailedQueue", "RateMetricsRedriveQueue", "RateMetricsFailedQueue"),
    "flood-alert": ("FloodAlertFailedQueue", "DetectQueue", "DetectDeadLetterQueue"),
}
# Per function, the EventBridge rule that invokes it.
RULES = {"rate-metrics": "FlowLogObjectCreatedRule", "flood-alert": "IncidentSchedule"}
# What an SQS event source mapping polls with (on the redrive queue only).
CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}
for _actions in ALLOWED_ACTIONS.values():
    _actions |= CONSUME_ACTIONS
# The state table's partitions each function may touch, by action (dynamodb:LeadingKeys).
FLOW_BUCKET_PARTITIONS = "{bucket}/*"
LEADING_KEYS = {
    "rate-metrics": {
        "dynamodb:GetItem": {FLOW_BUCKET_PARTITIONS, "cwl:*", "summary/*"},
        "dynamodb:PutItem": {FLOW_BUCKET_PARTITIONS, "cwl:*", "summary/*"},
    },
    "flood-alert": {"dynamodb:Query": {"summary/*", "incident", "backfill"}, "dynamodb:PutItem": {"incident", "backfill"}},
}
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
REQUIRED_OUTPUTS = [
    "AlertTopicArn",
    "FlowLogBucketName",
    "RateMetricsFailedQueueUrl",
    "FloodAlertFailedQueueUrl",
    "StateTableName",
    "DetectQueueUrl",
    "RedriveCommand",
    "OperationsTopicArn",
    "DashboardUrl",
    "RateMetricsFunctionName",
    "FloodAlertFunctionName",
    "FlowLogDestination",
    "BatchOperationsRoleArn",
    "BatchOperationsCommand",
]
# flood-response (opt-in): parameter sets that deploy it, besides the two above, which do not.
RESPONSE_SCENARIOS = {
    "response-waf": {
        "Response": "waf",
        "WafIpv4SetName": "block-v4",
        "WafIpv4SetId": "a1b2c3d4-0000-1111-2222-333344445555",
        "WafIpv6SetName": "block-v6",
        "WafIpv6SetId": "e5f6a7b8-0000-1111-2222-333344445555",
    },
    "response-waf-dry-cloudfront": {
        "Response": "waf",
        "ResponseDryRun": "true",
        "WafScope": "CLOUDFRONT",
        "WafIpv4SetName": "edge-block",
        "WafIpv4SetId": "0f0f0f0f-0000-1111-2222-333344445555",
    },
    "response-nacl": {"Response": "nacl", "NetworkAclId": "acl-0123456789abcdef0", "NaclRuleRange": "200-219"},
    "response-nacl-dry": {"Response": "nacl", "ResponseDryRun": "true", "NetworkAclId": "acl-0fedcba9"},
}
OVERRIDES = {
    "ExistingBucketName": "existing-flow-logs",
    "FlowLogPrefix": "vpc/logs/",
    "VpcId": "vpc-0123456789abcdef0",
    "MetricsNamespace": "Custom/Net",
    "AlertEmail": "ops@example.com",
    "OperationsEmail": "oncall@example.com",
    "ReservedConcurrency": "5",
    # An SSE-KMS bucket of the user's, without a log group: the inputs' conditions differ.
    "KmsKeyArn": f"arn:aws:kms:us-east-1:{'2' * 12}:key/abcd1234-ab12-cd34-ef56-abcdef123456",
}
# The other inputs on (a central bucket created here, an SSE-KMS key, a log group).
INPUTS = {
    "FlowLogGroupName": "/vpc/flow-logs",
    "FlowLogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
    "KmsKeyArn": f"arn:aws:kms:us-east-1:{'1' * 12}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "DeliveryAccountIds": "111111111111,222222222222",
    "MaxRowGroupBytes": "67108864",
}
# Actions a function has only with a parameter set: (parameter, action).
OPTIONAL_ACTIONS = {"rate-metrics": [("KmsKeyArn", "kms:Decrypt")]}


class Checker:
    def __init__(self, root: Path, template_path: Path):
        self.root = root
        self.raw = load_template(template_path)
        self.cfn = sam_translate(self.raw)
        self.scenarios = [
            Scenario("defaults", self.cfn, {}),
            Scenario("existing-bucket", self.cfn, OVERRIDES),
            Scenario("inputs", self.cfn, INPUTS),
        ] + [Scenario(name, self.cfn, values) for name, values in RESPONSE_SCENARIOS.items()]
        self.code = CodeSettings(root)
        # Function logical id -> binary name, from the build metadata.
        self.binaries = {
            lid: r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            for lid, r in self.raw["Resources"].items()
            if r.get("Type") == "AWS::Serverless::Function"
        }

    # -- per-scenario facts
    def flow_bucket(self, s: Scenario) -> str:
        return s.physical("FlowLogBucket") if "FlowLogBucket" in s.resources else s.params["ExistingBucketName"]

    def function(self, binary: str) -> str:
        for lid, b in self.binaries.items():
            if b == binary:
                return lid
        raise KeyError(f"no function builds binary {binary}")

    def env(self, s: Scenario, binary: str) -> dict:
        props = s.props(self.function(binary))
        return props.get("Environment", {}).get("Variables", {})

    def role_statements(self, s: Scenario, binary: str) -> tuple[list[dict], list[str]]:
        props = s.props(self.function(binary))
        role = self.cfn["Resources"][self.function(binary)]["Properties"]["Role"]
        role_lid = role["Fn::GetAtt"][0] if isinstance(role, dict) else None
        if role_lid is None or role_lid not in s.resources:
            raise Unresolvable(f"{binary}: role {props.get('Role')} is not a role of this template")
        rprops = s.props(role_lid)
        stmts = [st for p in rprops.get("Policies", []) for st in statements(p["PolicyDocument"])]
        # Policies of their own attached to the role (present when their condition holds).
        for lid in s.of_type("AWS::IAM::RolePolicy"):
            pprops = s.props(lid)
            if pprops.get("RoleName") == s.ref(role_lid):
                stmts += statements(pprops["PolicyDocument"])
        return stmts, rprops.get("ManagedPolicyArns", [])

    def each(self, fn: Callable[[Scenario], list[str]]) -> Callable[[], list[str]]:
        def run() -> list[str]:
            return [f"[{s.name}] {p}" for s in self.scenarios for p in fn(s)]

        return run

    # -- the checks
    def run(self, report: Report) -> None:
        c = report.check
        c("template: SAM transform, translated offline", lambda: None)
        c("functions: provided.al2023, arm64, bootstrap, cargo-lambda builds a workspace binary", self.functions_build)
        c("functions: JSON logs with ApplicationLogLevel from LogLevel", self.each(self.logging))
        c("env: every setting the code reads is set on its function, and nothing else", self.each(self.env_vars))
        c("env: state table, detect queue, topic and namespace are the stack's and match the IAM grants", self.each(self.env_matches_iam))
        c("parameters: every parameter is used", self.parameters_used)
        c("parameters: every parameter has a default its own constraints accept", self.parameter_defaults)
        c("iam: only the basic execution managed policy; only Allow statements", self.each(self.iam_shape))
        c("iam: no '*' or 'service:*' actions", self.each(self.iam_no_wildcard_actions))
        c("iam: '*' resource only for cloudwatch:PutMetricData, under a cloudwatch:namespace condition", self.each(self.iam_star_resources))
        c("iam: each function has only the actions it needs", self.each(self.iam_action_sets))
        c("iam: S3 only for rate-metrics, reading flow-log objects under the prefix", self.each(self.iam_s3))
        c("iam: DynamoDB only on the state table, each function on its own partitions (dynamodb:LeadingKeys)", self.each(self.iam_dynamodb))
        c("iam: rate-metrics has no SNS access; flood-alert no PutMetricData or S3 access", self.each(self.iam_separation))
        c("iam: sns:Publish only on the alert topic", self.each(self.iam_sns))
        c("iam: sqs:SendMessage only to the function's failed queue (and rate-metrics' to the detect queue); polling only the queue it consumes", self.each(self.iam_sqs))
        c("failures: both functions retry (MaximumRetryAttempts) then go to their failed queue", self.each(self.failures))
        c("triggers: an EventBridge rule on the bucket's flow-log keys targets rate-metrics, a five-minute schedule flood-alert, each with retry and its failed queue", self.each(self.fanout_rule))
        c("triggers: events.amazonaws.com may invoke each function and feed its DLQ, from its rule only", self.each(self.fanout_permissions))
        c("queue: failed, redrive and detect queues encrypted, 14-day retention", self.each(self.queue))
        c("redrive: each function consumes its queue (partial batch responses), which dead-letters; RedriveCommand moves the dead letters back", self.each(self.redrive))
        c("alarm: failed objects, verdicts or detect requests notify the operations topic, whose customer-managed key CloudWatch may use", self.each(self.alarm))
        c("scope: FLOW_LOG_BUCKET/FLOW_LOG_PREFIX, the rule's key pattern and the read grant name the same flow-log objects as the code", self.each(self.scope))
        c("inputs: rate-metrics alone is subscribed to FlowLogGroupName, which alone may invoke it, only when it is set", self.each(self.log_group))
        c("inputs: kms:Decrypt only for rate-metrics, only on KmsKeyArn, only through S3, only when it is set", self.each(self.kms))
        c("inputs: the Batch Operations role may only invoke rate-metrics, read batch-operations/ and write its reports", self.each(self.batch_role))
        c("functions: ReservedConcurrentExecutions is the ReservedConcurrency parameter, unset when it is empty", self.each(self.reserved_concurrency))
        c("topic: encrypted; email subscription only when AlertEmail is set", self.each(self.topic))
        c("bucket: created bucket encrypted, private, owner-enforced, EventBridge on, versioned, access-logged (none created for an existing one)", self.each(self.flow_bucket_props))
        c("bucket: access logs in a private TLS-only bucket only S3 logging may write, from the flow-log bucket", self.each(self.access_log_bucket))
        c("bucket: policy denies non-TLS and lets only flow-log delivery write under the prefix", self.each(self.flow_bucket_policy))
        c("state: one on-demand table, TTL on expires_at, point-in-time recovery and encryption on", self.each(self.state_table))
        c("dashboard: valid JSON showing every metric the code publishes that the brief names", self.each(self.dashboard))
        c("outputs: present, with a working dashboard URL and flow-log destination", self.each(self.outputs))
        # flood-response (opt-in)
        c("response: with Response=none no flood-response resource exists and no role may call wafv2: or ec2:; otherwise only its role may", self.each(self.response_off))
        c("response: its role may only read/write its own state-table partition, publish to the alert topic, use its queues, and WAF/EC2 only as its mode needs (read-only in a dry run)", self.each(self.response_iam))
        c("response: WAF grants name exactly the configured IP sets (us-east-1/global for CLOUDFRONT); NACL changes only the one ACL, DescribeNetworkAcls on '*'", self.each(self.response_targets))
        c("response: subscribed to the alert topic for STARTED/ENDED source notices, a filter its own RESPONSE reports never match", self.each(self.response_subscription))
        c("response: retries then its failed queue, redrive queue consumed, the 5-minute schedule targets it with a dead-letter queue, alarm to operations", self.each(self.response_failures))
        c("response: every setting wired to its parameter, the registry in the state table", self.each(self.response_settings))

    def functions_build(self) -> list[str]:
        problems = []
        expected = {"rate-metrics", "flood-alert", "flood-response"}
        if set(self.binaries.values()) != expected:
            problems.append(f"functions build {sorted(map(str, self.binaries.values()))}, expected {sorted(expected)}")
        for lid, binary in self.binaries.items():
            meta = self.raw["Resources"][lid].get("Metadata", {})
            if meta.get("BuildMethod") != "rust-cargolambda":
                problems.append(f"{lid}: BuildMethod {meta.get('BuildMethod')!r}")
            if binary not in self.code.crates:
                problems.append(f"{lid}: Binary {binary!r} is no package/binary under functions/")
            props = self.cfn["Resources"][lid]["Properties"]
            if props.get("Runtime") != "provided.al2023":
                problems.append(f"{lid}: Runtime {props.get('Runtime')}")
            if props.get("Architectures") != ["arm64"]:
                problems.append(f"{lid}: Architectures {props.get('Architectures')}")
            if props.get("Handler") != "bootstrap":
                problems.append(f"{lid}: Handler {props.get('Handler')}")
        return problems

    def present(self, s: Scenario) -> list[str]:
        """The binaries whose function the scenario deploys."""
        return [b for lid, b in self.binaries.items() if lid in s.resources]

    def logging(self, s: Scenario) -> list[str]:
        problems = []
        for binary in self.present(s):
            lc = s.props(self.function(binary)).get("LoggingConfig", {})
            if lc.get("LogFormat") != "JSON":
                problems.append(f"{binary}: LogFormat {lc.get('LogFormat')}")
            if lc.get("ApplicationLogLevel") != s.params.get("LogLevel"):
                problems.append(f"{binary}: ApplicationLogLevel is not the LogLevel parameter")
        return problems

    def env_vars(self, s: Scenario) -> list[str]:
        problems = []
        for binary in self.present(s):
            reads, list_problems = self.code.reads(binary)
            problems += list_problems
            settings = reads - RUNTIME_PROVIDED.keys()
            if len(settings) < 3:
                problems.append(f"{binary}: only {sorted(settings)} in its settings list (is it current?)")
            env = self.env(s, binary)
            missing = sorted(settings - env.keys())
            extra = env.keys() - settings
            if binary == "flood-response":
                # SAM merges Globals into every function, with no opt-out: the readers' shared
                # settings reach flood-response too, which reads none of them.
                extra -= self.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}).keys()
            extra = sorted(extra)
            if missing:
                problems.append(f"{binary} reads {missing} but the template does not set them")
            if extra:
                problems.append(f"{binary} is given {extra}, which its code does not read")
            if "AWS_LAMBDA_LOG_LEVEL" in reads and not s.props(self.function(binary)).get("LoggingConfig", {}).get(
                "ApplicationLogLevel"
            ):
                problems.append(f"{binary}: AWS_LAMBDA_LOG_LEVEL needs LoggingConfig.ApplicationLogLevel")
            for name, value in env.items():
                if not isinstance(value, str):
                    problems.append(f"{binary}: {name} evaluates to {value!r}, not a string")
        return problems

    def env_matches_iam(self, s: Scenario) -> list[str]:
        problems = []
        flood = self.env(s, "flood-alert")
        rate = self.env(s, "rate-metrics")
        for binary, env in (("rate-metrics", rate), ("flood-alert", flood)):
            if env.get("STATE_TABLE") != s.ref("StateTable"):
                problems.append(f"{binary}: STATE_TABLE {env.get('STATE_TABLE')!r} is not the StateTable")
        if rate.get("DETECT_QUEUE_URL") != s.ref("DetectQueue"):
            problems.append("DETECT_QUEUE_URL is not the DetectQueue")
        if flood.get("TOPIC_ARN") != s.ref("AlertTopic"):
            problems.append("TOPIC_ARN is not the AlertTopic")
        rules = {k: v for k, v in rate.items() if k not in flood}
        shared = {k for k in rate if k in flood}
        for name in sorted(shared):
            if rate[name] != flood[name]:
                problems.append(f"{name} differs between the functions: the reader's floor and the verdict must agree")
        if "HALF_OPEN_PER_MINUTE" not in shared:
            problems.append(f"the flood thresholds are not given to both functions ({sorted(rules)})")
        rstmts, _ = self.role_statements(s, "rate-metrics")
        conds = [
            st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
            for st in rstmts
            if "cloudwatch:PutMetricData" in as_list(st.get("Action"))
        ]
        if conds != [rate.get("METRICS_NAMESPACE")]:
            problems.append(f"PutMetricData namespace condition {conds} != METRICS_NAMESPACE {rate.get('METRICS_NAMESPACE')!r}")
        return problems

    def parameters_used(self) -> list[str]:
        used = refs_in({k: v for k, v in self.raw.items() if k != "Parameters" and k != "Metadata"})
        return [f"{p} is never used" for p in self.raw.get("Parameters", {}) if p not in used]

    def parameter_defaults(self) -> list[str]:
        problems = []
        for name, spec in self.raw.get("Parameters", {}).items():
            if "Default" not in spec:
                problems.append(f"{name} has no default")
                continue
            default = str(spec["Default"])
            allowed = spec.get("AllowedValues")
            if allowed is not None and default not in [str(a) for a in allowed]:
                problems.append(f"{name}: default {default!r} not in AllowedValues")
            pattern = spec.get("AllowedPattern")
            if pattern is not None and re.fullmatch(pattern, default) is None:
                problems.append(f"{name}: default {default!r} does not match {pattern}")
        for values in [OVERRIDES, INPUTS, *RESPONSE_SCENARIOS.values()]:
            for name, value in values.items():
                spec = self.raw["Parameters"][name]
                pattern = spec.get("AllowedPattern")
                if pattern is not None and re.fullmatch(pattern, value) is None:
                    problems.append(f"{name}: test value {value!r} does not match {pattern}")
                if "AllowedValues" in spec and value not in [str(a) for a in spec["AllowedValues"]]:
                    problems.append(f"{name}: test value {value!r} not in AllowedValues")
        return problems

    def iam_shape(self, s: Scenario) -> list[str]:
        problems = []
        for binary in ("rate-metrics", "flood-alert"):
            stmts, managed = self.role_statements(s, binary)
            if managed != [BASIC_EXECUTION]:
                problems.append(f"{binary}: managed policies {managed}")
            for st in stmts:
                if st.get("Effect") != "Allow" or {"NotAction", "NotResource", "NotPrincipal"} & st.keys():
                    problems.append(f"{binary}: unexpected statement {st}")
        return problems

    def iam_no_wildcard_actions(self, s: Scenario) -> list[str]:
        problems = []
        for binary in ("rate-metrics", "flood-alert"):
            stmts, _ = self.role_statements(s, binary)
            for st in stmts:
                for action in as_list(st.get("Action")):
                    if "*" in action or "?" in action:
                        problems.append(f"{binary}: action {action!r}")
        return problems

    def iam_star_resources(self, s: Scenario) -> list[str]:
        problems = []
        for binary in ("rate-metrics", "flood-alert"):
            stmts, _ = self.role_statements(s, binary)
            for st in stmts:
                if "*" not in as_list(st.get("Resource")):
                    continue
                actions = as_list(st.get("Action"))
                if actions != ["cloudwatch:PutMetricData"]:
                    problems.append(f"{binary}: '*' resource for {actions}")
                    continue
                ns = st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
                if ns != s.params["MetricsNamespace"] or len(st.get("Condition", {})) != 1:
                    problems.append(f"{binary}: PutMetricData on '*' without the namespace condition ({st.get('Condition')})")
        return problems

    def iam_action_sets(self, s: Scenario) -> list[str]:
        problems = []
        for binary, always in ALLOWED_ACTIONS.items():
            allowed = set(always) | {a for p, a in OPTIONAL_ACTIONS.get(binary, []) if s.params[p]}
            stmts, _ = self.role_statements(s, binary)
            actions = {a for st in stmts for a in as_list(st.get("Action"))}
            if actions - allowed:
                problems.append(f"{binary} may also {sorted(actions - allowed)}")
            if allowed - actions:
                problems.append(f"{binary} lacks {sorted(allowed - actions)}")
        return problems

    def iam_s3(self, s: Scenario) -> list[str]:
        problems = []
        flow_objects = {f"arn:aws:s3:::{self.flow_bucket(s)}/{p}" for p in self.flow_log_patterns(s)}
        allowed = {"s3:GetObject": flow_objects, "s3:GetObjectVersion": flow_objects}
        for binary in ("rate-metrics", "flood-alert"):
            stmts, _ = self.role_statements(s, binary)
            granted: dict[str, set[str]] = {}
            for st in stmts:
                for action in as_list(st.get("Action")):
                    if action.startswith("s3:"):
                        granted.setdefault(action, set()).update(as_list(st.get("Resource")))
            mine = allowed if binary == "rate-metrics" else {}
            for action, resources in granted.items():
                extra = resources - mine.get(action, set())
                if extra:
                    problems.append(f"{binary}: {action} on {sorted(extra)}")
            for action, resources in mine.items():
                if not resources <= granted.get(action, set()):
                    problems.append(f"{binary}: {action} missing on {sorted(resources - granted.get(action, set()))}")
        return problems

    def iam_dynamodb(self, s: Scenario) -> list[str]:
        problems = []
        table = s.getatt("StateTable", "Arn")
        for binary, wanted in LEADING_KEYS.items():
            wanted = {a: {k.format(bucket=self.flow_bucket(s)) for k in keys} for a, keys in wanted.items()}
            stmts, _ = self.role_statements(s, binary)
            granted: dict[str, set[str]] = {}
            for st in stmts:
                actions = [a for a in as_list(st.get("Action")) if a.startswith("dynamodb:")]
                if not actions:
                    continue
                if as_list(st.get("Resource")) != [table]:
                    problems.append(f"{binary}: {actions} on {st.get('Resource')}, not the state table alone")
                cond = st.get("Condition", {})
                keys = cond.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
                if keys is None or len(cond) != 1:
                    problems.append(f"{binary}: {actions} without a dynamodb:LeadingKeys condition alone ({cond})")
                    continue
                for a in actions:
                    granted.setdefault(a, set()).update(as_list(keys))
            for action, keys in granted.items():
                if action not in wanted:
                    problems.append(f"{binary}: {action}")
                elif keys != wanted[action]:
                    problems.append(f"{binary}: {action} on partitions {sorted(keys)}, expected {sorted(wanted[action])}")
            for action in wanted.keys() - granted.keys():
                problems.append(f"{binary}: {action} missing")
        return problems

    def iam_separation(self, s: Scenario) -> list[str]:
        problems = []
        forbidden = {"rate-metrics": ("sns:",), "flood-alert": ("cloudwatch:", "s3:")}
        for binary, prefixes in forbidden.items():
            stmts, _ = self.role_statements(s, binary)
            for st in stmts:
                actions = as_list(st.get("Action"))
                if any(a.startswith(prefixes) for a in actions):
                    problems.append(f"{binary} may {actions}")
        return problems

    def iam_sns(self, s: Scenario) -> list[str]:
        problems = []
        for binary in ("rate-metrics", "flood-alert"):
            stmts, _ = self.role_statements(s, binary)
            for st in stmts:
                if any(a.startswith("sns:") for a in as_list(st.get("Action"))):
                    if binary != "flood-alert" or as_list(st.get("Resource")) != [s.ref("AlertTopic")]:
                        problems.append(f"{binary}: {st.get('Action')} on {st.get('Resource')}")
        return problems

    def iam_sqs(self, s: Scenario) -> list[str]:
        problems = []
        for binary, (failed, consumed, _) in QUEUES.items():
            sendable = {s.getatt(failed, "Arn")}
            if binary == "rate-metrics":
                sendable.add(s.getatt("DetectQueue", "Arn"))
            stmts, _ = self.role_statements(s, binary)
            sqs = [st for st in stmts if any(a.startswith("sqs:") for a in as_list(st.get("Action")))]
            sends = [st for st in sqs if "sqs:SendMessage" in as_list(st.get("Action"))]
            consumes = [st for st in sqs if st not in sends]
            sent_to: set[str] = set()
            for st in sends:
                resources = set(as_list(st.get("Resource")))
                if as_list(st.get("Action")) != ["sqs:SendMessage"] or not resources <= sendable:
                    problems.append(f"{binary}: {st.get('Action')} on {st.get('Resource')}")
                sent_to |= resources
            if sent_to != sendable:
                problems.append(f"{binary} cannot send to {sorted(sendable - sent_to)}")
            if not consumes:
                problems.append(f"{binary} cannot consume {consumed}")
            for st in consumes:
                if not set(as_list(st.get("Action"))) <= CONSUME_ACTIONS or as_list(st.get("Resource")) != [s.getatt(consumed, "Arn")]:
                    problems.append(f"{binary}: {st.get('Action')} on {st.get('Resource')}")
        return problems

    def failures(self, s: Scenario) -> list[str]:
        problems = []
        configs = {s.props(lid).get("FunctionName"): s.props(lid) for lid in s.of_type("AWS::Lambda::EventInvokeConfig")}
        for binary in ("rate-metrics", "flood-alert"):
            queue = s.getatt(QUEUES[binary][0], "Arn")
            cfg = configs.get(s.ref(self.function(binary)))
            if cfg is None:
                problems.append(f"{binary}: no EventInvokeConfig")
                continue
            retries = cfg.get("MaximumRetryAttempts")
            if not isinstance(retries, int) or not 0 <= retries <= 2:
                problems.append(f"{binary}: MaximumRetryAttempts {retries!r}")
            dest = cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if dest != queue:
                problems.append(f"{binary}: OnFailure destination {dest!r}")
        return problems

    def fanout_rule(self, s: Scenario) -> list[str]:
        problems = []
        rules = sorted(s.of_type("AWS::Events::Rule"))
        if rules != sorted(RULES.values()):
            return [f"EventBridge rules {rules}, expected {sorted(RULES.values())}"]
        props = s.props(RULES["rate-metrics"])
        pattern = props.get("EventPattern", {})
        if pattern.get("source") != ["aws.s3"] or pattern.get("detail-type") != ["Object Created"]:
            problems.append(f"pattern source/detail-type {pattern.get('source')} {pattern.get('detail-type')}")
        detail = pattern.get("detail", {})
        if detail.get("bucket", {}).get("name") != [self.flow_bucket(s)]:
            problems.append(f"bucket filter {detail.get('bucket')}")
        want = [{"wildcard": p} for p in self.flow_log_patterns(s)]
        if detail.get("object", {}).get("key") != want:
            problems.append(f"key filter {detail.get('object')}, expected the wildcards {want}")
        schedule = s.props(RULES["flood-alert"]).get("ScheduleExpression")
        if schedule != "rate(5 minutes)":
            problems.append(f"schedule {schedule!r}")
        for binary, rule in RULES.items():
            props = s.props(rule)
            if props.get("State", "ENABLED") != "ENABLED":
                problems.append(f"{rule} state {props.get('State')}")
            # flood-response's target on the schedule is checked with the response.
            targets = [t for t in props.get("Targets", []) if t.get("Id") != "flood-response"]
            if [t.get("Arn") for t in targets] != [s.getatt(self.function(binary), "Arn")]:
                problems.append(f"{rule} targets {[t.get('Arn') for t in targets]}, expected {binary} alone")
                continue
            t = targets[0]
            if not t.get("RetryPolicy"):
                problems.append(f"{binary} target has no RetryPolicy")
            if t.get("DeadLetterConfig", {}).get("Arn") != s.getatt(QUEUES[binary][0], "Arn"):
                problems.append(f"{binary} target dead-letter {t.get('DeadLetterConfig')}")
        return problems

    def fanout_permissions(self, s: Scenario) -> list[str]:
        problems = []
        perms = [s.props(lid) for lid in s.of_type("AWS::Lambda::Permission")]
        for binary, rule in RULES.items():
            fn = self.function(binary)
            names = {s.ref(fn), s.getatt(fn, "Arn")}
            # CloudWatch Logs' own permission is the "inputs: ... log group" check's.
            mine = [p for p in perms if p.get("FunctionName") in names and p.get("Principal") != "logs.amazonaws.com"]
            ok = [
                p
                for p in mine
                if p.get("Principal") == "events.amazonaws.com"
                and p.get("Action") == "lambda:InvokeFunction"
                and p.get("SourceArn") == s.getatt(rule, "Arn")
            ]
            if not ok or len(ok) != len(mine):
                problems.append(f"{binary}: invoke permissions {mine}")
        # Each failed queue may be fed by its function's rule, and nothing else.
        want = {s.getatt(QUEUES[b][0], "Arn"): s.getatt(rule, "Arn") for b, rule in RULES.items()}
        covered: set[str] = set()
        failed_refs = {s.ref(QUEUES[b][0]) for b in RULES}
        for lid in s.of_type("AWS::SQS::QueuePolicy"):
            props = s.props(lid)
            if not failed_refs & set(props.get("Queues", [])):
                continue
            for st in statements(props.get("PolicyDocument", {})):
                if st.get("Effect") != "Allow":
                    continue
                if st.get("Principal") != {"Service": "events.amazonaws.com"}:
                    problems.append(f"queue policy allows {st.get('Principal')}")
                    continue
                cond = st.get("Condition", {})
                src = cond.get("ArnEquals", {}).get("aws:SourceArn") or cond.get("ArnLike", {}).get("aws:SourceArn")
                resources = set(as_list(st.get("Resource")))
                if as_list(st.get("Action")) == ["sqs:SendMessage"] and all(want.get(r) == src for r in resources):
                    covered |= resources
                else:
                    problems.append(f"queue policy statement too broad: {st}")
        if covered != set(want):
            problems.append(f"the rules may not send undeliverable events to {sorted(set(want) - covered)}")
        return problems

    def queue(self, s: Scenario) -> list[str]:
        problems = []
        for lid in sorted({q for triple in QUEUES.values() for q in triple}):
            props = s.props(lid)
            if not (props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId")):
                problems.append(f"{lid}: not encrypted")
            if props.get("MessageRetentionPeriod") != 1209600:
                problems.append(f"{lid}: retention {props.get('MessageRetentionPeriod')}")
        return problems

    def redrive(self, s: Scenario) -> list[str]:
        problems = []
        mappings = [s.props(lid) for lid in s.of_type("AWS::Lambda::EventSourceMapping")]
        commands = []
        for binary, (_, consumed, dead) in QUEUES.items():
            fn = self.function(binary)
            props = s.props(consumed)
            policy = props.get("RedrivePolicy", {})
            if policy.get("deadLetterTargetArn") != s.getatt(dead, "Arn") or not 1 <= int(policy.get("maxReceiveCount", 0)) <= 10:
                problems.append(f"{consumed}: RedrivePolicy {policy}")
            timeout = s.props(fn).get("Timeout", 3)
            if int(props.get("VisibilityTimeout", 30)) < 6 * int(timeout):
                problems.append(f"{consumed}: VisibilityTimeout {props.get('VisibilityTimeout')} under 6x the {timeout} s timeout")
            mine = [m for m in mappings if m.get("EventSourceArn") == s.getatt(consumed, "Arn")]
            if len(mine) != 1 or mine[0].get("FunctionName") not in (s.ref(fn), s.getatt(fn, "Arn")):
                problems.append(f"{consumed} is not consumed by {binary} alone: {mine}")
            elif mine[0].get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
                problems.append(f"{consumed}: no partial batch responses")
            commands.append(
                f"aws sqs start-message-move-task --source-arn {s.getatt(dead, 'Arn')} --destination-arn {s.getatt(consumed, 'Arn')}"
            )
        command = " ".join(str(self.outputs_of(s).get("RedriveCommand", "")).split())
        if command != " && ".join(commands):
            problems.append(f"RedriveCommand {command!r}, expected {' && '.join(commands)!r}")
        return problems

    def alarm(self, s: Scenario) -> list[str]:
        problems = []
        alarms = s.of_type("AWS::CloudWatch::Alarm")
        # flood-response's own alarm is checked with the response.
        if alarms != ["FailedObjectsAlarm"] + (["FloodResponseFailedAlarm"] if "FloodResponseFailedAlarm" in alarms else []):
            return [f"alarms {alarms}"]
        props = s.props("FailedObjectsAlarm")
        if props.get("AlarmActions") != [s.ref("OperationsTopic")]:
            problems.append(f"alarm actions {props.get('AlarmActions')}")
        watched = {
            d.get("Value")
            for m in props.get("Metrics", [])
            for d in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
            if m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "ApproximateNumberOfMessagesVisible"
        }
        queues = {s.getatt(q, "QueueName") for failed, _, dead in QUEUES.values() for q in (failed, dead)}
        if watched != queues:
            problems.append(f"alarm watches {sorted(watched)}, expected {sorted(queues)}")
        if props.get("Threshold") != 0 or props.get("ComparisonOperator") != "GreaterThanThreshold":
            problems.append("alarm does not fire on the first failed object")
        topic = s.props("OperationsTopic")
        key = topic.get("KmsMasterKeyId")
        key_lids = [lid for lid in s.of_type("AWS::KMS::Key") if s.ref(lid) == key]
        if not key_lids:
            problems.append(f"operations topic key {key!r} is not a customer-managed key of this stack")
        else:
            kprops = s.props(key_lids[0])
            if kprops.get("EnableKeyRotation") is not True:
                problems.append("operations key not rotated")
            uses = [
                st for st in statements(kprops.get("KeyPolicy", {}))
                if st.get("Effect") == "Allow" and st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
            ]
            if not uses or not {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(uses[0].get("Action"))):
                problems.append("CloudWatch may not use the operations key")
        subs = [s.props(lid) for lid in s.of_type("AWS::SNS::Subscription") if s.props(lid).get("TopicArn") == s.ref("OperationsTopic")]
        want = [{"TopicArn": s.ref("OperationsTopic"), "Protocol": "email", "Endpoint": s.params["OperationsEmail"]}] if s.params["OperationsEmail"] else []
        if subs != want:
            problems.append(f"operations subscriptions {subs}")
        return problems

    def scope_constants(self) -> tuple[str, list[str]]:
        """The code's flow-log key segment and suffixes, text then Parquet (scope.rs)."""
        text = (self.root / "functions/events/src/scope.rs").read_text()
        segment = re.search(r'pub const FLOW_LOG_SEGMENT: &str = "([^"]+)";', text)
        suffixes = [re.search(rf'pub const {name}: &str = "([^"]+)";', text) for name in ("FLOW_LOG_SUFFIX", "PARQUET_SUFFIX")]
        if not segment or not all(suffixes):
            raise Unresolvable("FLOW_LOG_SEGMENT / FLOW_LOG_SUFFIX / PARQUET_SUFFIX not found in functions/events/src/scope.rs")
        return segment.group(1), [m.group(1) for m in suffixes if m]

    def flow_log_patterns(self, s: Scenario) -> list[str]:
        segment, suffixes = self.scope_constants()
        return [f"{s.params['FlowLogPrefix']}*{segment}*{suffix}" for suffix in suffixes]

    def scope(self, s: Scenario) -> list[str]:
        problems = []
        for binary in ("rate-metrics",):
            env = self.env(s, binary)
            if env.get("FLOW_LOG_BUCKET") != self.flow_bucket(s):
                problems.append(f"{binary}: FLOW_LOG_BUCKET {env.get('FLOW_LOG_BUCKET')!r}")
            if env.get("FLOW_LOG_PREFIX") != s.params["FlowLogPrefix"]:
                problems.append(f"{binary}: FLOW_LOG_PREFIX is not the FlowLogPrefix parameter")
        return problems

    def log_group(self, s: Scenario) -> list[str]:
        problems = []
        group = s.params["FlowLogGroupName"]
        rate = s.getatt(self.function("rate-metrics"), "Arn")
        filters = [s.props(lid) for lid in s.of_type("AWS::Logs::SubscriptionFilter")]
        want = [{"LogGroupName": group, "FilterPattern": "", "DestinationArn": rate}] if group else []
        if filters != want:
            problems.append(f"subscription filters {filters}, expected {want}")
        source = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        grants = [s.props(lid) for lid in s.of_type("AWS::Lambda::Permission")]
        logs = [g for g in grants if g.get("Principal") == "logs.amazonaws.com"]
        want_grant = [{"Action": "lambda:InvokeFunction", "FunctionName": rate, "Principal": "logs.amazonaws.com", "SourceAccount": ACCOUNT, "SourceArn": source}]
        if logs != (want_grant if group else []):
            problems.append(f"CloudWatch Logs may invoke {logs}, expected {want_grant if group else []}")
        return problems

    def kms(self, s: Scenario) -> list[str]:
        problems = []
        key = s.params["KmsKeyArn"]
        for binary in ("rate-metrics", "flood-alert"):
            stmts, _ = self.role_statements(s, binary)
            grants = [st for st in stmts if any(a.startswith("kms:") for a in as_list(st.get("Action")))]
            want = (
                [{"Action": ["kms:Decrypt"], "Resource": [key], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}}]
                if key and binary == "rate-metrics"
                else []
            )
            got = [{"Action": as_list(st.get("Action")), "Resource": as_list(st.get("Resource")), "Condition": st.get("Condition")} for st in grants]
            if got != want:
                problems.append(f"{binary}: KMS grants {got}, expected {want}")
        return problems

    def batch_role(self, s: Scenario) -> list[str]:
        problems = []
        props = s.props("BatchOperationsRole")
        trust = statements(props.get("AssumeRolePolicyDocument", {}))
        want_trust = [{"Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]
        if trust != want_trust:
            problems.append(f"trust {trust}")
        if props.get("ManagedPolicyArns"):
            problems.append(f"managed policies {props['ManagedPolicyArns']}")
        rate = s.getatt(self.function("rate-metrics"), "Arn")
        base = f"arn:aws:s3:::{self.flow_bucket(s)}/batch-operations/"
        key = s.params["KmsKeyArn"]
        allowed = {
            "lambda:InvokeFunction": {rate, f"{rate}:*"},
            "s3:GetObject": {f"{base}*"},
            "s3:GetObjectVersion": {f"{base}*"},
            "s3:PutObject": {f"{base}reports/*"},
        }
        if key:
            allowed |= {"kms:Decrypt": {key}, "kms:GenerateDataKey": {key}}
        granted: dict[str, set[str]] = {}
        for policy in props.get("Policies", []):
            for st in statements(policy["PolicyDocument"]):
                if st.get("Effect") != "Allow" or {"NotAction", "NotResource"} & st.keys():
                    problems.append(f"statement {st}")
                for action in as_list(st.get("Action")):
                    granted.setdefault(action, set()).update(as_list(st.get("Resource")))
                    if action.startswith("kms:") and st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") != f"s3.{REGION}.amazonaws.com":
                        problems.append(f"{action} not confined to S3")
        if granted != allowed:
            problems.append(f"grants {granted}, expected {allowed}")
        return problems

    def reserved_concurrency(self, s: Scenario) -> list[str]:
        problems = []
        want = s.params["ReservedConcurrency"]
        for binary in ("rate-metrics", "flood-alert"):
            got = s.props(self.function(binary)).get("ReservedConcurrentExecutions")
            if (str(got) if got is not None else "") != want:
                problems.append(f"{binary}: ReservedConcurrentExecutions {got!r} for ReservedConcurrency {want!r}")
        return problems

    def topic(self, s: Scenario) -> list[str]:
        problems = []
        if not s.props("AlertTopic").get("KmsMasterKeyId"):
            problems.append("AlertTopic not encrypted")
        subs = [s.props(lid) for lid in s.of_type("AWS::SNS::Subscription")]
        # flood-response's lambda subscription is checked with the response.
        subs = [sub for sub in subs if sub.get("TopicArn") == s.ref("AlertTopic") and sub.get("Protocol") == "email"]
        if s.params["AlertEmail"]:
            want = [{"TopicArn": s.ref("AlertTopic"), "Protocol": "email", "Endpoint": s.params["AlertEmail"]}]
            if subs != want:
                problems.append(f"subscriptions {subs}")
        elif subs:
            problems.append(f"subscriptions without an AlertEmail: {subs}")
        return problems

    @staticmethod
    def private_encrypted(props: dict, label: str) -> list[str]:
        problems = []
        sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if not sse or not all(r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") in ("AES256", "aws:kms", "aws:kms:dsse") for r in sse):
            problems.append(f"{label}: not encrypted")
        pab = props.get("PublicAccessBlockConfiguration", {})
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if not all(pab.get(f) is True for f in flags):
            problems.append(f"{label}: public access block {pab}")
        rules = props.get("OwnershipControls", {}).get("Rules", [])
        if [r.get("ObjectOwnership") for r in rules] != ["BucketOwnerEnforced"]:
            problems.append(f"{label}: ownership {rules}")
        return problems

    @staticmethod
    def denies_plain_http(policy: dict, bucket_arn: str) -> bool:
        for st in statements(policy):
            if (
                st.get("Effect") == "Deny"
                and st.get("Principal") in ("*", {"AWS": "*"})
                and "s3:*" in as_list(st.get("Action"))
                and {bucket_arn, f"{bucket_arn}/*"} <= set(as_list(st.get("Resource")))
                and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
            ):
                return True
        return False

    def bucket_policy(self, s: Scenario, bucket: str) -> dict | None:
        for lid in s.of_type("AWS::S3::BucketPolicy"):
            props = s.props(lid)
            if props.get("Bucket") == bucket:
                return props.get("PolicyDocument", {})
        return None

    def flow_bucket_props(self, s: Scenario) -> list[str]:
        if s.params["ExistingBucketName"]:
            problems = []
            if "FlowLogBucket" in s.resources:
                problems.append("a bucket is created although ExistingBucketName is set")
            if "ExistingBucketSetup" not in self.outputs_of(s):
                problems.append("no ExistingBucketSetup output telling the user to enable EventBridge")
            return problems
        props = s.props("FlowLogBucket")
        problems = self.private_encrypted(props, "FlowLogBucket")
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") is not True:
            problems.append("EventBridge notifications off")
        if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            problems.append("versioning off (CKV_AWS_21)")
        logging = props.get("LoggingConfiguration", {})
        if logging.get("DestinationBucketName") != s.ref("FlowLogAccessLogBucket"):
            problems.append(f"server access logging {logging} (CKV_AWS_18)")
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(r.get("Status") == "Enabled" and r.get("NoncurrentVersionExpiration") for r in rules):
            problems.append("noncurrent versions are kept forever")
        return problems

    def access_log_bucket(self, s: Scenario) -> list[str]:
        if s.params["ExistingBucketName"]:
            return ["an access-log bucket is created for an existing bucket"] if "FlowLogAccessLogBucket" in s.resources else []
        bucket = s.ref("FlowLogAccessLogBucket")
        arn = f"arn:aws:s3:::{bucket}"
        problems = self.private_encrypted(s.props("FlowLogAccessLogBucket"), "FlowLogAccessLogBucket")
        prefix = s.props("FlowLogBucket").get("LoggingConfiguration", {}).get("LogFilePrefix", "")
        policy = self.bucket_policy(s, bucket)
        if policy is None:
            return problems + ["no bucket policy"]
        if not self.denies_plain_http(policy, arn):
            problems.append("no deny of non-TLS access")
        allows = [st for st in statements(policy) if st.get("Effect") == "Allow"]
        want = {
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": [f"{arn}/{prefix}*"],
            "SourceArn": f"arn:aws:s3:::{self.flow_bucket(s)}",
            "SourceAccount": ACCOUNT,
        }
        for st in allows:
            cond = st.get("Condition", {})
            got = {
                "Principal": st.get("Principal"),
                "Action": as_list(st.get("Action")),
                "Resource": as_list(st.get("Resource")),
                "SourceArn": cond.get("ArnLike", {}).get("aws:SourceArn") or cond.get("ArnEquals", {}).get("aws:SourceArn"),
                "SourceAccount": cond.get("StringEquals", {}).get("aws:SourceAccount"),
            }
            if got != want:
                problems.append(f"grant {got}, expected {want}")
        if len(allows) != 1:
            problems.append(f"{len(allows)} grants, expected S3 logging's alone")
        return problems

    def flow_bucket_policy(self, s: Scenario) -> list[str]:
        if s.params["ExistingBucketName"]:
            return []  # the user's bucket, the user's policy
        bucket = self.flow_bucket(s)
        arn = f"arn:aws:s3:::{bucket}"
        policy = self.bucket_policy(s, bucket)
        if policy is None:
            return ["no bucket policy"]
        problems = []
        if not self.denies_plain_http(policy, arn):
            problems.append("no deny of aws:SecureTransport=false on the bucket and its objects")
        puts = [
            st
            for st in statements(policy)
            if st.get("Effect") == "Allow" and any(a in ("s3:PutObject", "s3:*") for a in as_list(st.get("Action")))
        ]
        others = [a for a in s.params["DeliveryAccountIds"].split(",") if a]
        writers: list[str] = []
        for st in puts:
            cond = st.get("Condition", {}).get("StringEquals", {})
            accounts = as_list(cond.get("aws:SourceAccount"))
            if (
                st.get("Principal") != {"Service": "delivery.logs.amazonaws.com"}
                or as_list(st.get("Action")) != ["s3:PutObject"]
                or as_list(st.get("Resource")) != [f"{arn}/{s.params['FlowLogPrefix']}*"]
                or accounts not in ([ACCOUNT], others)
                or cond.get("s3:x-amz-acl") != "bucket-owner-full-control"
            ):
                problems.append(f"write grant {st}")
            writers += accounts
        if sorted(writers) != sorted([ACCOUNT] + others):
            problems.append(f"accounts that may deliver {sorted(writers)}, expected this one and DeliveryAccountIds {others}")
        # Every grant to the logs service is for the flow logs of the accounts it names: its
        # aws:SourceArn patterns are those accounts' logs ARNs, one each (confused-deputy guard).
        for st in statements(policy):
            if st.get("Effect") != "Allow" or st.get("Principal") != {"Service": "delivery.logs.amazonaws.com"}:
                continue
            cond = st.get("Condition", {})
            accounts = as_list(cond.get("StringEquals", {}).get("aws:SourceAccount"))
            arns = as_list(cond.get("ArnLike", {}).get("aws:SourceArn"))
            expected = [[f"arn:{part}:logs:*:{a}:*" for a in accounts] for part in ("aws", "*")]
            if not accounts or arns not in expected:
                problems.append(f"grant {st.get('Sid')}: aws:SourceArn {arns} for accounts {accounts}")
        for st in statements(policy):
            if st.get("Effect") == "Allow" and st.get("Principal") != {"Service": "delivery.logs.amazonaws.com"}:
                problems.append(f"allows {st.get('Principal')}")
        return problems

    def state_table(self, s: Scenario) -> list[str]:
        tables = s.of_type("AWS::DynamoDB::Table")
        if tables != ["StateTable"]:
            return [f"tables {tables}"]
        props = s.props("StateTable")
        problems = []
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            problems.append(f"billing {props.get('BillingMode')}")
        ttl = props.get("TimeToLiveSpecification", {})
        if ttl != {"AttributeName": "expires_at", "Enabled": True}:
            problems.append(f"TTL {ttl} (the code writes expires_at)")
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append("point-in-time recovery off")
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            problems.append("encryption not enabled")
        keys = {k.get("AttributeName"): k.get("KeyType") for k in props.get("KeySchema", [])}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            problems.append(f"key schema {keys} (the code writes pk, sk)")
        return problems

    def dashboard(self, s: Scenario) -> list[str]:
        boards = s.of_type("AWS::CloudWatch::Dashboard")
        if len(boards) != 1:
            return [f"{len(boards)} dashboards"]
        body = json.loads(s.props(boards[0])["DashboardBody"])
        text = json.dumps(body)
        ns = s.params["MetricsNamespace"]
        problems = []
        query = f'SELECT SUM(Flows) FROM SCHEMA(\\"{ns}\\", SourceIp) GROUP BY SourceIp ORDER BY SUM() DESC LIMIT 10'
        if query not in text:
            problems.append("no top-sources metric-insights query")
        published = self.published_metrics()
        for metric in ("Flows", "Bytes", "RejectedFlows", "Records", "SkippedLines", "SkipDataRecords", "DeliveryLagSeconds"):
            if metric not in published:
                problems.append(f"{metric} is not a metric the code publishes")
            if f'["{ns}", "{metric}"' not in text:
                problems.append(f"{metric} not shown")
        for dims in (
            ["AWS/Lambda", "Invocations", "FunctionName", s.ref(self.function("flood-alert"))],
            ["AWS/Lambda", "Errors", "FunctionName", s.ref(self.function("flood-alert"))],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", s.getatt("RateMetricsFailedQueue", "QueueName")],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", s.getatt("FloodAlertFailedQueue", "QueueName")],
            ["AWS/SNS", "NumberOfMessagesPublished", "TopicName", s.getatt("AlertTopic", "TopicName")],
        ):
            if json.dumps(dims)[:-1] not in text:
                problems.append(f"{dims[:2]} not shown")
        for widget in body.get("widgets", []):
            if widget.get("properties", {}).get("region", REGION) != REGION:
                problems.append(f"widget region {widget['properties']['region']}")
        return problems

    def published_metrics(self) -> set[str]:
        names: set[str] = set()
        for path in self.code.sources("rate-metrics"):
            names |= set(re.findall(r'pub const [A-Z_]+: &str = "([A-Za-z]+)";', path.read_text()))
        return names

    def outputs_of(self, s: Scenario) -> dict[str, Any]:
        out = {}
        for name, spec in self.cfn.get("Outputs", {}).items():
            if "Condition" in spec and not s.condition(spec["Condition"]):
                continue
            out[name] = s.eval(spec["Value"])
        return out

    def outputs(self, s: Scenario) -> list[str]:
        out = self.outputs_of(s)
        problems = [f"no {name} output" for name in REQUIRED_OUTPUTS if name not in out]
        board = s.ref(s.of_type("AWS::CloudWatch::Dashboard")[0])
        url = f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name={board}"
        if out.get("DashboardUrl") != url:
            problems.append(f"DashboardUrl {out.get('DashboardUrl')!r}")
        bucket = self.flow_bucket(s)
        prefix = s.params["FlowLogPrefix"]
        dest = f"arn:aws:s3:::{bucket}" if prefix.split("/")[0] == "AWSLogs" else f"arn:aws:s3:::{bucket}/{prefix}"
        if out.get("FlowLogDestination") != dest:
            problems.append(f"FlowLogDestination {out.get('FlowLogDestination')!r}, expected {dest!r}")
        if out.get("FlowLogBucketName") != bucket:
            problems.append(f"FlowLogBucketName {out.get('FlowLogBucketName')!r}")
        return problems

    # -- flood-response (opt-in)
    RESPONSE_FN = "FloodResponseFunction"

    def response_on(self, s: Scenario) -> bool:
        return s.params["Response"] != "none"

    def response_off(self, s: Scenario) -> list[str]:
        problems = []
        ours = [lid for lid in s.resources if lid.startswith("FloodResponse")]
        if not self.response_on(s) and ours:
            problems.append(f"Response=none deploys {sorted(ours)}")
        for lid in s.of_type("AWS::IAM::Role"):
            actions = {a for p in s.props(lid).get("Policies", []) for st in statements(p["PolicyDocument"]) for a in as_list(st.get("Action"))}
            network = sorted(a for a in actions if a.startswith(("wafv2:", "ec2:")))
            mine = lid.startswith(self.RESPONSE_FN)
            if network and (not self.response_on(s) or not mine):
                problems.append(f"{lid} may {network}")
        return problems

    def response_role(self, s: Scenario) -> list[dict]:
        return self.role_statements(s, "flood-response")[0]

    def response_iam(self, s: Scenario) -> list[str]:
        if not self.response_on(s):
            return []
        stmts, managed = self.role_statements(s, "flood-response")
        problems = [] if managed == [BASIC_EXECUTION] else [f"managed policies {managed}"]
        live = s.params["ResponseDryRun"] == "false"
        allowed = {"dynamodb:GetItem", "dynamodb:PutItem", "sns:Publish", "sqs:SendMessage"} | CONSUME_ACTIONS
        if s.params["Response"] == "waf":
            allowed |= {"wafv2:GetIPSet"} | ({"wafv2:UpdateIPSet"} if live else set())
        else:
            allowed |= {"ec2:DescribeNetworkAcls"} | ({"ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"} if live else set())
        actions = {a for st in stmts for a in as_list(st.get("Action"))}
        if actions != allowed:
            problems.append(f"actions {sorted(actions)}, expected {sorted(allowed)}")
        own = {
            "dynamodb:GetItem": {s.getatt("StateTable", "Arn")},
            "dynamodb:PutItem": {s.getatt("StateTable", "Arn")},
            "sns:Publish": {s.ref("AlertTopic")},
            "sqs:SendMessage": {s.getatt("FloodResponseFailedQueue", "Arn")},
            **{a: {s.getatt("FloodResponseRedriveQueue", "Arn")} for a in CONSUME_ACTIONS},
        }
        for st in stmts:
            if st.get("Effect") != "Allow" or {"NotAction", "NotResource", "NotPrincipal"} & st.keys():
                problems.append(f"unexpected statement {st}")
            for action in as_list(st.get("Action")):
                if "*" in action:
                    problems.append(f"wildcard action {action}")
                if action in own and not set(as_list(st.get("Resource"))) <= own[action]:
                    problems.append(f"{action} on {st.get('Resource')}")
                if action.startswith("dynamodb:"):
                    keys = st.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:LeadingKeys")
                    if len(st.get("Condition", {})) != 1 or keys != [self.response_directory()]:
                        problems.append(f"{action} not confined to partition {self.response_directory()!r}: {st.get('Condition')}")
        return problems

    def response_directory(self) -> str:
        """The state table partition the code keeps its registries in."""
        text = (self.root / "functions/flood-response/src/app.rs").read_text()
        m = re.search(r'pub const REGISTRY_DIRECTORY: &str = "([^"]+)";', text)
        if not m:
            raise Unresolvable("REGISTRY_DIRECTORY not found in functions/flood-response/src/app.rs")
        return m.group(1)

    def response_targets(self, s: Scenario) -> list[str]:
        if not self.response_on(s):
            return []
        problems = []
        by_action: dict[str, set[str]] = {}
        for st in self.response_role(s):
            for action in as_list(st.get("Action")):
                if action.startswith(("wafv2:", "ec2:")):
                    by_action.setdefault(action, set()).update(as_list(st.get("Resource")))
                    if st.get("Condition"):
                        problems.append(f"{action}: unexpected condition {st['Condition']}")
        p = s.params
        if p["Response"] == "waf":
            cloudfront = p["WafScope"] == "CLOUDFRONT"
            region, kind = ("us-east-1", "global") if cloudfront else (REGION, "regional")
            want = {
                f"arn:aws:wafv2:{region}:{ACCOUNT}:{kind}/ipset/{p[f'Waf{v}SetName']}/{p[f'Waf{v}SetId']}"
                for v in ("Ipv4", "Ipv6")
                if p[f"Waf{v}SetId"]
            }
            for action, resources in by_action.items():
                if resources != want:
                    problems.append(f"{action} on {sorted(resources)}, expected {sorted(want)}")
            env = self.env(s, "flood-response")
            if env.get("WAF_SCOPE") != p["WafScope"]:
                problems.append(f"WAF_SCOPE {env.get('WAF_SCOPE')!r}")
        else:
            acl = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-acl/{p['NetworkAclId']}"
            for action, resources in by_action.items():
                want = {"*"} if action == "ec2:DescribeNetworkAcls" else {acl}
                if resources != want:
                    problems.append(f"{action} on {sorted(resources)}, expected {sorted(want)}")
        return problems

    def response_stage_constant(self) -> str:
        text = (self.root / "functions/flood-response/src/report.rs").read_text()
        m = re.search(r'pub const STAGE: &str = "([A-Z_]+)";', text)
        if not m:
            raise Unresolvable("STAGE not found in functions/flood-response/src/report.rs")
        return m.group(1)

    def response_subscription(self, s: Scenario) -> list[str]:
        if not self.response_on(s):
            return []
        fn_arn = s.getatt(self.RESPONSE_FN, "Arn")
        subs = [s.props(lid) for lid in s.of_type("AWS::SNS::Subscription") if s.props(lid).get("Protocol") == "lambda"]
        if len(subs) != 1:
            return [f"{len(subs)} lambda subscriptions"]
        sub = subs[0]
        problems = []
        if sub.get("TopicArn") != s.ref("AlertTopic") or sub.get("Endpoint") != fn_arn:
            problems.append(f"subscription {sub.get('TopicArn')} -> {sub.get('Endpoint')}")
        policy = sub.get("FilterPolicy", {})
        if policy != {"stage": ["STARTED", "ENDED"], "kind": ["source"]} or sub.get("FilterPolicyScope") != "MessageAttributes":
            problems.append(f"filter {policy} ({sub.get('FilterPolicyScope')})")
        if self.response_stage_constant() in policy.get("stage", []):
            problems.append("the reports' own stage matches the filter: the function would trigger itself")
        perms = [s.props(lid) for lid in s.of_type("AWS::Lambda::Permission") if s.props(lid).get("FunctionName") in (s.ref(self.RESPONSE_FN), fn_arn)]
        sources = sorted((p.get("Principal"), p.get("SourceArn")) for p in perms)
        want = sorted([("sns.amazonaws.com", s.ref("AlertTopic")), ("events.amazonaws.com", s.getatt("IncidentSchedule", "Arn"))])
        if sources != want:
            problems.append(f"invoke permissions {sources}, expected {want}")
        return problems

    def response_failures(self, s: Scenario) -> list[str]:
        if not self.response_on(s):
            return []
        problems = []
        failed, redrive = s.getatt("FloodResponseFailedQueue", "Arn"), s.getatt("FloodResponseRedriveQueue", "Arn")
        configs = [s.props(lid) for lid in s.of_type("AWS::Lambda::EventInvokeConfig") if s.props(lid).get("FunctionName") == s.ref(self.RESPONSE_FN)]
        if len(configs) != 1:
            problems.append(f"{len(configs)} EventInvokeConfigs")
        else:
            cfg = configs[0]
            if not 1 <= int(cfg.get("MaximumRetryAttempts", -1)) <= 2:
                problems.append(f"MaximumRetryAttempts {cfg.get('MaximumRetryAttempts')}")
            if cfg.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") != failed:
                problems.append("OnFailure is not its failed queue")
        for lid in ("FloodResponseFailedQueue", "FloodResponseRedriveQueue"):
            props = s.props(lid)
            if props.get("SqsManagedSseEnabled") is not True or props.get("MessageRetentionPeriod") != 1209600:
                problems.append(f"{lid}: encryption/retention")
        rq = s.props("FloodResponseRedriveQueue")
        if rq.get("RedrivePolicy", {}).get("deadLetterTargetArn") != failed:
            problems.append("redrive queue does not dead-letter to the failed queue")
        if int(rq.get("VisibilityTimeout", 30)) < 6 * int(s.props(self.RESPONSE_FN).get("Timeout", 3)):
            problems.append("redrive VisibilityTimeout under 6x the timeout")
        maps = [m for m in (s.props(lid) for lid in s.of_type("AWS::Lambda::EventSourceMapping")) if m.get("EventSourceArn") == redrive]
        if len(maps) != 1 or maps[0].get("FunctionName") != s.ref(self.RESPONSE_FN) or maps[0].get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"redrive mapping {maps}")
        schedule = s.props("IncidentSchedule")
        if schedule.get("ScheduleExpression") != "rate(5 minutes)" or schedule.get("State") != "ENABLED":
            problems.append(f"schedule {schedule.get('ScheduleExpression')} {schedule.get('State')}")
        targets = [t for t in schedule.get("Targets", []) if t.get("Arn") == s.getatt(self.RESPONSE_FN, "Arn")]
        if len(targets) != 1 or targets[0].get("DeadLetterConfig", {}).get("Arn") != failed or not targets[0].get("RetryPolicy"):
            problems.append(f"schedule targets {targets}")
        queue_policies = [s.props(lid) for lid in s.of_type("AWS::SQS::QueuePolicy") if s.ref("FloodResponseFailedQueue") in s.props(lid).get("Queues", [])]
        grants = [
            st for p in queue_policies for st in statements(p.get("PolicyDocument", {}))
            if st.get("Effect") == "Allow"
        ]
        want = {"Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": failed,
                "Condition": {"ArnEquals": {"aws:SourceArn": s.getatt("IncidentSchedule", "Arn")}}}
        if [{k: st.get(k) for k in want} for st in grants] != [want]:
            problems.append(f"failed-queue grants {grants}")
        if not any(st.get("Effect") == "Deny" and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
                   for p in queue_policies for st in statements(p.get("PolicyDocument", {}))):
            problems.append("queues allow plain HTTP")
        alarm = s.props("FloodResponseFailedAlarm")
        dims = [d.get("Value") for d in alarm.get("Dimensions", [])]
        if alarm.get("AlarmActions") != [s.ref("OperationsTopic")] or dims != [s.getatt("FloodResponseFailedQueue", "QueueName")] or alarm.get("Threshold") != 0:
            problems.append(f"alarm {alarm}")
        command = self.outputs_of(s).get("FloodResponseRedriveCommand", "")
        if command != f"aws sqs start-message-move-task --source-arn {failed} --destination-arn {redrive}":
            problems.append(f"FloodResponseRedriveCommand {command!r}")
        return problems

    def response_settings(self, s: Scenario) -> list[str]:
        if not self.response_on(s):
            return []
        env = self.env(s, "flood-response")
        p = s.params
        want = {
            "RESPONSE": p["Response"], "DRY_RUN": p["ResponseDryRun"], "TOPIC_ARN": s.ref("AlertTopic"),
            "STATE_TABLE": s.ref("StateTable"),
            "MIN_SEVERITY": p["ResponseMinSeverity"], "MAX_BLOCK_SECS": p["MaxBlockSeconds"], "MAX_ENTRIES": p["MaxBlockedSources"],
            "BLOCK_ALLOWLIST": p["BlockAllowlist"], "VPC_CIDRS": p["VpcCidrs"], "WAF_SCOPE": p["WafScope"],
            "WAF_IPV4_SET_NAME": p["WafIpv4SetName"], "WAF_IPV4_SET_ID": p["WafIpv4SetId"],
            "WAF_IPV6_SET_NAME": p["WafIpv6SetName"], "WAF_IPV6_SET_ID": p["WafIpv6SetId"],
            "NACL_ID": p["NetworkAclId"], "NACL_RULE_RANGE": p["NaclRuleRange"],
        }
        return [f"{k}={env.get(k)!r}, expected {v!r}" for k, v in want.items() if env.get(k) != v]


def main() -> int:
    root_default = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=root_default, help="repository root")
    parser.add_argument("--template", type=Path, help="template (default: ROOT/template.yaml)")
    args = parser.parse_args()
    template = args.template or args.root / "template.yaml"
    report = Report()
    try:
        checker = Checker(args.root, template)
    except Exception as e:  # noqa: BLE001 (any load/translate failure is one failed check)
        print(f"FAIL - template: SAM transform, translated offline: {type(e).__name__}: {e}")
        print("check_template: 0 passed, 1 failed")
        return 1
    checker.run(report)
    print(f"check_template: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
