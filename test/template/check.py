#!/usr/bin/env python3
"""Offline checks for the privatelink-approver SAM template.

Usage: python3 test/template/check.py [--keep DIR] [--org-reader org/org-reader-role.yaml] template.yaml

1. contract  - the template keeps the documented contract (the SAM transform
               only, as the Serverless Application Repository requires, and
               its AWS::ServerlessRepo::Application metadata; every parameter
               in exactly one console group; parameters, function settings and
               environment, its own role without managed policies and with the
               optional permissions boundary, events and their patterns, the
               sweep period mapping, queue timeouts against the largest
               FunctionTimeout, the connection notification cleanup custom
               resource, the decision topic and sns:Publish on it only, alarms
               on the dead-letter queues, the function and its metrics, the
               dashboard, no hard-coded partition or account).
2. cfn-lint  - cfn-lint on the template as written; with --org-reader, also
               the management account's template, and its contract (the three
               read actions and no other, one trusted principal, the optional
               permissions boundary on every role, every parameter in one
               console group, the forwarding rules' events, which the
               forwarded samples in events/ match, and the tag guard SCP for
               each of its parameter sets).
3. translate - for each parameter scenario (empty, two and fifty ServiceIds, a
               ServiceTag key=value and a key alone, a policy path, an
               organization role, a permissions boundary, the smallest and
               largest FunctionTimeout): translate with aws-sam-translator
               (offline: stub managed-policy map, fake S3 CodeUri as `sam
               package` would produce, fixed region), evaluate the intrinsic
               functions, and check the result: least privilege (every grant
               of the function's role: known actions only, each on the
               resources it needs, "*" only for actions that take no resource;
               no managed policy), the grants for each way of choosing
               services and of reaching AWS Organizations, registering
               connection notifications only through a role policy that
               depends on the cleanup (so it is deleted first), listing and
               deleting them through the role's own policy, the permissions
               boundary on every role (SAM's included), the event rules'
               patterns, and IAM's and CloudFormation's size quotas (inline
               policies per role, managed policies, resources, parameter
               values).
4. cfn-lint  - cfn-lint on every translated template.

No AWS credentials or network are used. Exits 0 when every check passes, 1 when
one fails, 2 when cfn-lint or aws-sam-translator is missing or usage is wrong.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

REGION = "us-east-1"
SERVERLESS = "AWS::Serverless-2016-10-31"

# Parameter scenarios: name -> parameter values as a user would pass them.
# The most ServiceIds the template promises (its description), with the
# longest IDs: each is named twice in the role's inline policies.
FIFTY = ",".join(f"vpce-svc-{i:017x}" for i in range(50))
SCENARIOS = {
    "empty": {"ServiceIds": ""},
    "two-services": {"ServiceIds": "vpce-svc-0123456789abcdef0,vpce-svc-0fedcba9876543210"},
    "fifty-services": {"ServiceIds": FIFTY},
    "service-tag": {"ServiceIds": "", "ServiceTag": "team=network"},
    "service-tag-key": {"ServiceIds": "", "ServiceTag": "privatelink-approver"},
    "path-policy": {"ServiceIds": "", "PolicyParameterName": "/privatelink/policies/",
                    "FleetReaderPrincipalArn": "arn:aws-us-gov:iam::999988887777:role/security/privatelink-fleet", "PrimaryRegion": "ap-southeast-2"},
    "organization-role": {"ServiceIds": "", "OrganizationRoleArn": "arn:aws-us-gov:iam::444455556666:role/org/privatelink-approver-org-reader",
                          "OrganizationEventsAccountId": "444455556666"},
    # A permissions boundary on every role, with the longest timeout.
    "boundary": {"ServiceIds": "vpce-svc-0123456789abcdef0", "FunctionTimeout": "900",
                 "PermissionsBoundary": "arn:aws-us-gov:iam::111122223333:policy/boundaries/privatelink-approver"},
    # The shortest timeout.
    "short-timeout": {"ServiceIds": "", "ServiceTag": "team=network", "FunctionTimeout": "10", "DecisionEvents": "false",
                      # Not the primary Region: no fleet reader role here.
                      "FleetReaderPrincipalArn": "arn:aws-us-gov:iam::999988887777:role/security/privatelink-fleet"},
    # One policy for an organization: shared by the security account
    # through AWS RAM, encrypted with its key, its changes announced.
    "shared-policy": {"ServiceIds": "", "PolicyParameterName": "arn:aws-us-gov:ssm:us-east-1:999988887777:parameter/privatelink/policy",
                      "PolicyKeyArn": "arn:aws-us-gov:kms:us-east-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                      "PolicyChangeTopicArn": "arn:aws-us-gov:sns:us-east-1:999988887777:privatelink-policy-changes",
                      "CentralEventBusArn": "arn:aws-us-gov:events:us-east-1:999988887777:event-bus/privatelink-decisions",
                      "FleetReaderPrincipalArn": "arn:aws-us-gov:iam::999988887777:role/security/privatelink-fleet",
                      "PrimaryRegion": "ap-southeast-2",
                      "PermissionsBoundary": "arn:aws-us-gov:iam::111122223333:policy/boundaries/privatelink-approver"},
}
# A permissions boundary for the org reader template, and none.
ORG_READER_BOUNDARIES = ("", "arn:aws-us-gov:iam::444455556666:policy/boundaries/org-reader")

# The Serverless Application Repository's metadata: exact values, and the
# rules SAR applies to the others (its CreateApplication API).
SAR_METADATA = "AWS::ServerlessRepo::Application"
SAR_EXACT = {
    "Name": "privatelink-approver",
    "SpdxLicenseId": "Apache-2.0",
    "LicenseUrl": "LICENSE",
    "ReadmeUrl": "README.md",
    "HomePageUrl": "https://github.com/privatelink-approver/privatelink-approver",
    "SourceCodeUrl": "https://github.com/privatelink-approver/privatelink-approver",
}
SAR_AUTHOR = re.compile(r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$")
SAR_LABEL = re.compile(r"^[a-zA-Z0-9+\-_:\/@]{1,127}$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

# The custom resource that removes the registered connection notifications
# when the stack is deleted (served by the function).
CLEANUP = "ConnectionNotificationCleanup"
CLEANUP_TYPE = "Custom::ConnectionNotifications"
CLEANUP_SAMPLE = "cloudformation-custom-resource-delete.json"
REGISTER = "ec2:CreateVpcEndpointConnectionNotification"
LIST_NOTIFICATIONS = "ec2:DescribeVpcEndpointConnectionNotifications"
REMOVE_NOTIFICATIONS = "ec2:DeleteVpcEndpointConnectionNotifications"

# What the evaluated templates are checked against (IAM's and
# CloudFormation's quotas). IAM does not count white space in a policy.
MAX_INLINE_POLICIES_PER_ROLE = 10_240
MAX_MANAGED_POLICY = 6_144
MAX_RESOURCES = 500
MAX_PARAMETER_VALUE = 4_096

# Pseudo parameters for evaluating intrinsic functions: long ones, so the
# sizes measured are the largest a real deployment sees.
PSEUDO = {
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "ap-southeast-2",
    "AWS::AccountId": "111122223333",
    "AWS::StackName": "privatelink-approver-production",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws-us-gov:cloudformation:ap-southeast-2:111122223333:stack/privatelink-approver-production/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
}

# Least privilege: the only actions the function's role may be granted, and
# those that may be granted on "*" (they take no resource), with why.
NO_RESOURCE_ACTIONS = {
    "ec2:DescribeVpcEndpointConnections": "supports no resource-level permissions",
    "ec2:DescribeVpcEndpointServiceConfigurations": "supports no resource-level permissions",
    "ec2:DescribeVpcEndpointConnectionNotifications": "supports no resource-level permissions",
    "organizations:DescribeOrganization": "has no resource type",
    "organizations:DescribeOrganizationalUnit": "its one resource type is every OU of the organization, which it must read; read-only",
    "organizations:ListParents": "its resource types were not verified here (docs/design.md, Known limits); read-only",
}
SCOPED_ACTIONS = {
    "logs:CreateLogStream", "logs:PutLogEvents", "events:PutEvents",
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
    "ec2:AcceptVpcEndpointConnections", "ec2:RejectVpcEndpointConnections", "ec2:CreateVpcEndpointConnectionNotification",
    # On the notification's endpoint service (resource types vpc-endpoint
    # and vpc-endpoint-service, both optional: Service Authorization
    # Reference, list_amazonec2).
    "ec2:DeleteVpcEndpointConnectionNotifications",
    "ec2:CreateTags", "ec2:DeleteTags",
    "ssm:GetParameter", "ssm:GetParametersByPath", "kms:Decrypt", "sns:Publish", "sts:AssumeRole",
}


# How attached_policies names a role's inline policy: <role>.Policies/<name>.
INLINE = ".Policies/"

# Namespace of the function's embedded-metric-format lines (pkg/metrics).
EMF_NAMESPACE = "PrivateLinkApprover"


class CheckError(Exception):
    """A check failed; the message says why."""


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def statements(policies: Any) -> list[dict]:
    """The statements of a SAM Policies list, conditional ones (Fn::If) included."""
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                found.append(node)
            elif list(node) == ["Fn::If"] and isinstance(node["Fn::If"], list):
                walk(node["Fn::If"][1:])
            elif "Statement" in node:
                walk(node["Statement"])

    walk(policies)
    return found


def find_in_map(node: Any, parameter: str) -> tuple[str, str] | None:
    """(map, second-level key) when node is Fn::FindInMap [map, Ref parameter, key]."""
    if not (isinstance(node, dict) and list(node) == ["Fn::FindInMap"]):
        return None
    args = node["Fn::FindInMap"]
    if (
        isinstance(args, list)
        and len(args) == 3
        and isinstance(args[0], str)
        and args[1] == {"Ref": parameter}
        and isinstance(args[2], str)
    ):
        return args[0], args[2]
    return None


# --------------------------------------------------------------- dependencies


def load_dependencies():
    missing = []
    # aws-sam-translator first: cfn-lint imports it too, and the exception text
    # names the module that is really absent.
    try:
        import samtranslator
        from samtranslator.translator.transform import transform
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as exc:
        missing.append(f"aws-sam-translator ({exc})")
    try:
        from cfnlint.api import ManualArgs, lint_file
        from cfnlint.version import __version__ as cfnlint_version
    except ImportError as exc:
        missing.append(f"cfn-lint ({exc})")
    if missing:
        print(
            f"ERROR: {sys.executable} cannot import: {'; '.join(missing)}. "
            "Install them with: python3 -m pip install cfn-lint aws-sam-translator",
            file=sys.stderr,
        )
        sys.exit(2)
    return {
        "lint_file": lint_file,
        "ManualArgs": ManualArgs,
        "cfnlint_version": cfnlint_version,
        "transform": transform,
        "samtranslator_version": samtranslator.__version__,
        "yaml_parse": yaml_parse,
    }


# ------------------------------------------------------------------- cfn-lint


def run_cfn_lint(deps, path: Path) -> None:
    config = deps["ManualArgs"](regions=[REGION])
    matches = deps["lint_file"](path, config=config)
    if matches:
        lines = "\n".join(
            f"  {m.rule.id} {m.message} ({m.filename}:{m.linenumber}:{m.columnnumber})" for m in matches
        )
        raise CheckError(f"cfn-lint reported {len(matches)} problem(s):\n{lines}")


# ------------------------------------------------------------------- contract


def parameter_group_problems(tpl: dict) -> list[str]:
    """Every parameter in exactly one console group (so that a new one cannot
    be forgotten), groups naming only parameters, labels only parameters."""
    params = set(tpl.get("Parameters", {}))
    interface = tpl.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    grouped = [name for g in interface.get("ParameterGroups", []) for name in g.get("Parameters", [])]
    problems = []
    for name in sorted(params):
        if grouped.count(name) != 1:
            problems.append(f"parameter {name} is in {grouped.count(name)} console groups, expected exactly 1")
    for name in sorted(set(grouped) - params):
        problems.append(f"console group names {name}, which is not a parameter")
    for g in interface.get("ParameterGroups", []):
        if not g.get("Label", {}).get("default"):
            problems.append(f"console group {g.get('Parameters')} has no Label default")
    for name in sorted(set(interface.get("ParameterLabels", {})) - params):
        problems.append(f"ParameterLabels names {name}, which is not a parameter")
    return problems


def boundary_problems(params: dict, conditions: dict, resources: dict) -> list[str]:
    """The optional permissions boundary: a String parameter defaulting to "",
    whose pattern takes "" and managed policy ARNs only, and on every role
    the same Fn::If on HasPermissionsBoundary."""
    problems = []
    param = params.get("PermissionsBoundary", {})
    if param.get("Type") != "String" or param.get("Default") != "":
        problems.append('PermissionsBoundary is a String defaulting to ""')
    try:
        pattern = re.compile(param.get("AllowedPattern", ""))
    except re.error as exc:
        pattern = None
        problems.append(f"PermissionsBoundary's AllowedPattern does not compile: {exc}")
    if pattern is not None:
        # CloudFormation matches the whole value.
        for value, ok in (("", True), ("arn:aws:iam::123456789012:policy/boundary", True),
                          ("arn:aws-us-gov:iam::123456789012:policy/org/team/boundary", True),
                          ("arn:aws-cn:iam::123456789012:policy/b", True),
                          ("arn:aws:iam::123456789012:role/boundary", False), ("arn:aws:iam::12345:policy/b", False),
                          ("arn:aws:iam::123456789012:policy/", False), ("boundary", False),
                          ("arn:aws:iam::aws:policy/PowerUserAccess", False)):
            if bool(pattern.fullmatch(value)) != ok:
                problems.append(f"PermissionsBoundary's AllowedPattern {'refuses' if ok else 'accepts'} {value!r}")
    if conditions.get("HasPermissionsBoundary") != {"Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundary"}, ""]}]}:
        problems.append('condition HasPermissionsBoundary is PermissionsBoundary != ""')
    want = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundary"}, {"Ref": "AWS::NoValue"}]}
    for key, res in resources.items():
        if isinstance(res, dict) and res.get("Type") == "AWS::IAM::Role" and res.get("Properties", {}).get("PermissionsBoundary") != want:
            problems.append(f"{key}'s PermissionsBoundary is {want}")
    return problems


def sar_problems(tpl: dict, base: Path | None) -> list[str]:
    """The Serverless Application Repository's metadata, and its only
    transform."""
    problems = []
    if tpl.get("Transform") not in (SERVERLESS, [SERVERLESS]):
        problems.append(f"the only transform is {SERVERLESS} (the Serverless Application Repository takes no other): {tpl.get('Transform')}")
    meta = tpl.get("Metadata", {}).get(SAR_METADATA)
    if not isinstance(meta, dict):
        return problems + [f"Metadata has {SAR_METADATA}"]
    for key, want in SAR_EXACT.items():
        if meta.get(key) != want:
            problems.append(f"{SAR_METADATA} {key} is {want!r}: {meta.get(key)!r}")
    description = meta.get("Description")
    if not (isinstance(description, str) and 1 <= len(description.strip()) <= 256):
        problems.append(f"{SAR_METADATA} Description has 1 to 256 characters: {description!r}")
    author = meta.get("Author")
    if not (isinstance(author, str) and len(author) <= 127 and SAR_AUTHOR.fullmatch(author)):
        problems.append(f"{SAR_METADATA} Author is lowercase letters, digits and single hyphens: {author!r}")
    labels = meta.get("Labels")
    if not (isinstance(labels, list) and 1 <= len(labels) <= 10 and all(isinstance(x, str) and SAR_LABEL.fullmatch(x) for x in labels)):
        problems.append(f"{SAR_METADATA} Labels are 1 to 10 labels of [a-zA-Z0-9+-_:/@]: {labels!r}")
    if not (isinstance(meta.get("SemanticVersion"), str) and SEMVER.fullmatch(meta["SemanticVersion"])):
        problems.append(f"{SAR_METADATA} SemanticVersion is a semantic version: {meta.get('SemanticVersion')!r}")
    if base is not None:
        # `sam package` uploads these files, found from the template.
        for key in ("ReadmeUrl", "LicenseUrl"):
            if isinstance(meta.get(key), str) and not (base / meta[key]).is_file():
                problems.append(f"{SAR_METADATA} {key} {meta[key]!r}: no such file beside the template")
    return problems


def check_contract(text: str, tpl: dict, base: Path | None = None) -> str:
    """Assert the parts of the template other components rely on."""
    problems = []
    checked = 0

    def expect(cond: bool, what: str) -> None:
        nonlocal checked
        checked += 1
        if not cond:
            problems.append(what)

    expect("arn:aws:" not in text, 'no hard-coded partition ("arn:aws:")')
    expect(re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text) is None, "no 12-digit account ID")
    for problem in sar_problems(tpl, base):
        expect(False, problem)
    checked += 1
    for problem in parameter_group_problems(tpl):
        expect(False, problem)
    checked += 1
    for problem in boundary_problems(tpl.get("Parameters", {}), tpl.get("Conditions", {}), tpl.get("Resources", {})):
        expect(False, problem)
    checked += 1

    params = tpl.get("Parameters", {})
    for name in (
        "PolicyParameterName",
        "ServiceIds",
        "DryRun",
        "SweepMinutes",
        "DecisionEmail",
        "PublishAllDecisions",
        "PendingAlarmMinutes",
    ):
        expect(name in params, f"parameter {name} exists")
    expect(params.get("ServiceIds", {}).get("Type") == "CommaDelimitedList", "ServiceIds is a CommaDelimitedList")
    expect(params.get("ServiceIds", {}).get("Default") == "", 'ServiceIds defaults to "" (all services)')
    expect(params.get("DryRun", {}).get("Default") == "false", 'DryRun defaults to "false"')
    expect(
        sorted(params.get("DryRun", {}).get("AllowedValues", [])) == ["false", "true"],
        "DryRun allows true/false",
    )
    # The sweep period is known in minutes; a mapping turns each allowed value
    # into the schedule's rate expression and the function's seconds.
    sweep = params.get("SweepMinutes", {})
    expect(sweep.get("Type") == "Number", "SweepMinutes is a Number")
    expect(str(sweep.get("Default")) == "5", "SweepMinutes defaults to 5")
    sweep_values = sweep.get("AllowedValues", [])
    expect(
        sorted(int(v) for v in sweep_values) == [1, 2, 5, 10, 15, 30, 60],
        "SweepMinutes allows 1, 2, 5, 10, 15, 30 and 60",
    )
    publish_all = params.get("PublishAllDecisions", {})
    expect(publish_all.get("Default") == "false", 'PublishAllDecisions defaults to "false"')
    expect(sorted(publish_all.get("AllowedValues", [])) == ["false", "true"], "PublishAllDecisions allows true/false")
    expect(params.get("DecisionEmail", {}).get("Default") == "", 'DecisionEmail defaults to "" (no subscription)')
    pending = params.get("PendingAlarmMinutes", {})
    expect(pending.get("Type") == "Number", "PendingAlarmMinutes is a Number")
    expect(str(pending.get("Default")) == "60", "PendingAlarmMinutes defaults to 60")

    resources = tpl.get("Resources", {})
    fn = resources.get("ApproverFunction", {})
    props = fn.get("Properties", {})
    expect(fn.get("Type") == "AWS::Serverless::Function", "ApproverFunction is an AWS::Serverless::Function")
    expect(fn.get("Metadata", {}).get("BuildMethod") == "makefile", "ApproverFunction BuildMethod is makefile")
    for key, want in (
        ("Runtime", "provided.al2023"),
        ("Architectures", ["arm64"]),
        ("Handler", "bootstrap"),
        ("CodeUri", "."),
    ):
        expect(props.get(key) == want, f"ApproverFunction {key} is {want!r}")
    env = props.get("Environment", {}).get("Variables", {})
    for var in (
        "POLICY_PARAMETER",
        "SERVICE_IDS",
        "DRY_RUN",
        "DECISION_TOPIC_ARN",
        "PUBLISH_ALL_DECISIONS",
        "SWEEP_PERIOD_SECONDS",
    ):
        expect(var in env, f"environment variable {var} is set")
    expect(env.get("DECISION_TOPIC_ARN") == {"Ref": "DecisionTopic"}, "DECISION_TOPIC_ARN is the stack's DecisionTopic")
    expect(env.get("PUBLISH_ALL_DECISIONS") == {"Ref": "PublishAllDecisions"}, "PUBLISH_ALL_DECISIONS is PublishAllDecisions")
    # The function runs with the template's own role, not one SAM makes
    # (SAM would attach AWS managed policies to it).
    role = resources.get("ApproverFunctionRole", {})
    role_props = role.get("Properties", {})
    expect("Policies" not in props, "the function has no SAM Policies (its role is the template's own)")
    expect(props.get("Role") == {"Fn::GetAtt": ["ApproverFunctionRole", "Arn"]} or props.get("Role") == {"Fn::GetAtt": "ApproverFunctionRole.Arn"},
           "the function's Role is ApproverFunctionRole")
    expect(role.get("Type") == "AWS::IAM::Role", "ApproverFunctionRole is an AWS::IAM::Role")
    expect("ManagedPolicyArns" not in role_props, "ApproverFunctionRole has no managed policy")
    expect(role_props.get("AssumeRolePolicyDocument", {}).get("Statement") == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        "ApproverFunctionRole trusts lambda.amazonaws.com only")
    role_policies_src = role_props.get("Policies", [])
    expect(isinstance(role_policies_src, list) and len(role_policies_src) == 1, "exactly one inline policy on the role")
    role_statements = statements([p.get("PolicyDocument", {}) for p in role_policies_src if isinstance(p, dict)])
    publish = [st for st in role_statements if "sns:Publish" in as_list(st.get("Action"))]
    expect(
        bool(publish) and all(st.get("Resource") == {"Ref": "DecisionTopic"} for st in publish),
        "the function policy allows sns:Publish on DecisionTopic only",
    )
    expect(resources.get("DecisionTopic", {}).get("Type") == "AWS::SNS::Topic", "DecisionTopic is an AWS::SNS::Topic")
    subscriptions = [
        r
        for r in resources.values()
        if isinstance(r, dict)
        and r.get("Type") == "AWS::SNS::Subscription"
        and r.get("Properties", {}).get("TopicArn") == {"Ref": "DecisionTopic"}
    ]
    expect(
        len(subscriptions) == 1
        and "Condition" in subscriptions[0]
        and subscriptions[0]["Properties"].get("Protocol") == "email"
        and subscriptions[0]["Properties"].get("Endpoint") == {"Ref": "DecisionEmail"},
        "DecisionTopic has one email subscription to DecisionEmail, behind a condition",
    )

    events = props.get("Events", {})
    types = sorted(e.get("Type") for e in events.values())
    mappings = tpl.get("Mappings", {})
    schedules = [e.get("Properties", {}).get("Schedule") for e in events.values() if e.get("Type") == "Schedule"]
    sweep_map = find_in_map(schedules[0] if len(schedules) == 1 else None, "SweepMinutes")
    seconds_map = find_in_map(env.get("SWEEP_PERIOD_SECONDS"), "SweepMinutes")
    expect(sweep_map is not None, "the Schedule event takes its rate expression from a mapping keyed by SweepMinutes")
    expect(
        seconds_map is not None and sweep_map is not None and seconds_map[0] == sweep_map[0],
        "SWEEP_PERIOD_SECONDS comes from the same mapping, keyed by SweepMinutes",
    )
    if sweep_map and seconds_map and seconds_map[0] == sweep_map[0]:
        table = mappings.get(sweep_map[0], {})
        for minutes in sweep_values:
            row = table.get(str(minutes), {})
            want = "rate(1 minute)" if int(minutes) == 1 else f"rate({int(minutes)} minutes)"
            expect(
                row.get(sweep_map[1]) == want and str(row.get(seconds_map[1])) == str(60 * int(minutes)),
                f"mapping {sweep_map[0]}[{minutes!r}] has {sweep_map[1]} {want!r} and {seconds_map[1]} {60 * int(minutes)}",
            )
    expect(types == ["EventBridgeRule"] * 4 + ["SQS", "Schedule"], "events: Schedule, 4 x EventBridgeRule, SQS")
    patterns = [e["Properties"].get("Pattern", {}) for e in events.values() if e.get("Type") == "EventBridgeRule"]
    expect(
        any(p.get("detail", {}).get("eventName") == ["CreateVpcEndpoint"] for p in patterns),
        "an EventBridge rule matches CreateVpcEndpoint",
    )
    expect(
        any(p.get("detail-type") == ["Parameter Store Change"] for p in patterns),
        "an EventBridge rule matches Parameter Store Change",
    )
    # Rules that match only what they should.
    expect(
        any(p.get("detail-type") == ["Parameter Store Change"] and p.get("account") == [{"Ref": "AWS::AccountId"}] for p in patterns),
        "the Parameter Store Change rule takes this account's events only",
    )
    expect(
        any(p.get("detail", {}).get("eventName") == ["CreateVpcEndpoint"] and p["detail"].get("errorCode") == [{"exists": False}]
            for p in patterns),
        "the CreateVpcEndpoint rule takes successful calls only (errorCode absent)",
    )
    # The function handles exactly these (pkg/trigger OrganizationEvents):
    # the API calls that move accounts or accept an invitation, and the
    # service event of a created account.
    org_patterns = [p for p in patterns if p.get("source") == ["aws.organizations"]]
    expect(
        any(p.get("detail-type") == ["AWS API Call via CloudTrail"]
            and sorted(p.get("detail", {}).get("eventName", [])) == ["AcceptHandshake", "LeaveOrganization", "MoveAccount",
                                                                     "RemoveAccountFromOrganization"]
            for p in org_patterns),
        "an EventBridge rule matches MoveAccount, RemoveAccountFromOrganization, LeaveOrganization and AcceptHandshake calls",
    )
    expect(
        any(p.get("detail-type") == ["AWS Service Event via CloudTrail"]
            and p.get("detail", {}).get("eventName") == ["CreateAccountResult"] for p in org_patterns),
        "an EventBridge rule matches the CreateAccountResult service event",
    )
    expect(
        len(org_patterns) == 2 and all(
            p.get("account") == [{"Fn::If": ["HasOrganizationEvents", {"Ref": "OrganizationEventsAccountId"}, {"Ref": "AWS::AccountId"}]}]
            for p in org_patterns),
        "the aws.organizations rules take the management account's events only (or this account's)",
    )
    expect(env.get("ORGANIZATION_ROLE_ARN") == {"Ref": "OrganizationRoleArn"}, "ORGANIZATION_ROLE_ARN is OrganizationRoleArn")
    expect(env.get("MEMBERSHIP_CACHE_SECONDS") == {"Ref": "MembershipCacheSeconds"}, "MEMBERSHIP_CACHE_SECONDS is MembershipCacheSeconds")
    cache = params.get("MembershipCacheSeconds", {})
    expect(str(cache.get("Default")) == "300" and str(cache.get("MinValue")) == "0" and str(cache.get("MaxValue")) == "3600",
           "MembershipCacheSeconds defaults to 300, from 0 to 3600 (as the function checks)")
    expect(params.get("OrganizationRoleArn", {}).get("Default") == "", 'OrganizationRoleArn defaults to "" (the function\'s own role)')
    for e in events.values():
        if e.get("Type") == "SQS":
            sqs = e.get("Properties", {})
            expect(sqs.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "SQS event reports batch item failures")
            expect("BatchSize" in sqs and "MaximumBatchingWindowInSeconds" in sqs, "SQS event sets BatchSize and batching window")

    # The function's timeout is a parameter; CloudFormation cannot multiply
    # it, so the queue's visibility timeout covers 6 x its largest value.
    queue = resources.get("ConnectionNotificationQueue", {}).get("Properties", {})
    function_timeout = params.get("FunctionTimeout", {})
    expect(props.get("Timeout") == {"Ref": "FunctionTimeout"}, "ApproverFunction's Timeout is FunctionTimeout")
    expect(function_timeout.get("Type") == "Number" and str(function_timeout.get("Default")) == "60"
           and str(function_timeout.get("MinValue")) == "10" and str(function_timeout.get("MaxValue")) == "900",
           "FunctionTimeout is a Number, 60 by default, from 10 to 900 (Lambda's limit)")
    visibility = queue.get("VisibilityTimeout")
    largest = int(function_timeout.get("MaxValue", 0) or 0)
    expect(isinstance(visibility, int) and largest > 0 and visibility >= 6 * largest,
           f"queue VisibilityTimeout ({visibility}) >= 6 x the largest FunctionTimeout ({largest})")
    expect("RedrivePolicy" in queue, "notification queue has a dead-letter queue")

    # Under load and faults: bounded concurrency, retries and dead-letter
    # queues on every path, alarms on them and on function errors.
    expect(isinstance(props.get("ReservedConcurrentExecutions"), int), "ApproverFunction has reserved concurrency")
    # No dead-letter queue for asynchronous invocations: they are not retried,
    # the next sweep is the retry, and a queue would only fill with sweeps
    # already redone (EventBridge's own dead-letter queue stays, below).
    expect("DeadLetterQueue" not in props, "asynchronous invocations have no dead-letter queue (the next sweep is the retry)")
    for name, e in events.items():
        if e.get("Type") in ("Schedule", "EventBridgeRule"):
            ep = e.get("Properties", {})
            expect("RetryPolicy" in ep and "DeadLetterConfig" in ep, f"event {name} has a retry policy and a dead-letter queue")
    alarms = {k: r for k, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Alarm"}
    watched = {
        str(d.get("Value")) for a in alarms.values() for d in a.get("Properties", {}).get("Dimensions", [])
    }
    for target in ("ConnectionNotificationDeadLetterQueue", "EventDeadLetterQueue", "ApproverFunction"):
        expect(any(target in w for w in watched), f"an alarm watches {target}")
    for key, alarm in alarms.items():
        ap = alarm.get("Properties", {})
        expect(bool(ap.get("AlarmDescription")), f"{key} has an AlarmDescription (the runbook's first line)")
        expect("HasAlarmAction" in json.dumps(ap.get("AlarmActions")), f"{key} notifies AlarmActionArn when it is set")
        # CloudWatch refuses SEARCH in alarms (graphs only).
        expect("SEARCH(" not in json.dumps(ap.get("Metrics", [])), f"{key} uses no SEARCH expression")

    # The function's embedded-metric-format metrics, namespace PrivateLinkApprover.
    def emf_alarms(metric: str) -> list[str]:
        found = []
        for key, alarm in alarms.items():
            ap = alarm.get("Properties", {})
            if ap.get("Namespace") == EMF_NAMESPACE and ap.get("MetricName") == metric:
                found.append(key)
            for q in ap.get("Metrics", []):
                stat = q.get("MetricStat", {}).get("Metric", {})
                if stat.get("Namespace") == EMF_NAMESPACE and stat.get("MetricName") == metric:
                    found.append(key)
                expr = q.get("Expression")
                if isinstance(expr, str) and EMF_NAMESPACE in expr and re.search(rf"\b{metric}\b", expr):
                    found.append(key)
        return found

    for metric in ("PolicyErrors", "Failed", "OldestPendingSeconds", "RevocationsHeld", "RejectionsHeld", "PolicyPartsRefused", "ServicesNotRequiringAcceptance",
                   "StampFailures", "MembershipErrors"):
        expect(len(emf_alarms(metric)) == 1, f"one alarm watches {EMF_NAMESPACE} {metric}")
        for key in emf_alarms(metric):
            # The totals: an alarm whose cost does not grow with the fleet.
            expect("Dimensions" not in alarms[key]["Properties"] and "Metrics" not in alarms[key]["Properties"],
                   f"{key} watches the total {metric}, without dimension")

    # Asynchronous invocations are not retried by Lambda: the next sweep is
    # the retry (a failed sweep retried would multiply calls and alarms).
    expect(props.get("EventInvokeConfig", {}).get("MaximumRetryAttempts") == 0,
           "asynchronous invocations are not retried (EventInvokeConfig MaximumRetryAttempts 0)")

    # Stamps: ec2:CreateTags, and ec2:DeleteTags for an earlier stamp's
    # keys, each in a statement of its own, only on this account's
    # connections in this Region, only for keys of ours, always naming keys.
    for action in ("ec2:CreateTags", "ec2:DeleteTags"):
        tagging = [st for st in role_statements if action in as_list(st.get("Action"))]
        expect(len(tagging) == 1, f"one statement grants {action}")
        for st in tagging:
            expect(as_list(st.get("Action")) == [action], f"the {action} statement grants nothing else")
            expect(st.get("Resource") == {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-endpoint-connection/*"},
                   f"{action} only on this account's vpc-endpoint-connection/* in the stack's Region")
            cond = st.get("Condition", {})
            expect(cond.get("ForAllValues:StringLike") == {"aws:TagKeys": "privatelink-approver:*"},
                   f"{action} only for keys starting privatelink-approver: (aws:TagKeys)")
            expect(cond.get("Null") == {"aws:TagKeys": "false"}, f"{action} must name its tag keys (no DeleteTags of every tag)")
    for key in emf_alarms("OldestPendingSeconds"):
        threshold = find_in_map(alarms[key]["Properties"].get("Threshold"), "PendingAlarmMinutes")
        expect(threshold is not None, f"{key}'s threshold comes from a mapping keyed by PendingAlarmMinutes")
        if threshold:
            table = mappings.get(threshold[0], {})
            for minutes in pending.get("AllowedValues", []):
                expect(
                    str(table.get(str(minutes), {}).get(threshold[1])) == str(60 * int(minutes)),
                    f"mapping {threshold[0]}[{minutes!r}] has {threshold[1]} {60 * int(minutes)}",
                )

    dashboards = [r for r in resources.values() if isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Dashboard"]
    expect(len(dashboards) == 1, "one CloudWatch dashboard")
    body = dashboards[0].get("Properties", {}).get("DashboardBody", {}) if dashboards else {}
    body = body.get("Fn::Sub") if isinstance(body, dict) else None
    body = body[0] if isinstance(body, list) and body else body
    expect(isinstance(body, str), "the dashboard body is one Fn::Sub string")
    if isinstance(body, str):
        try:
            widgets = json.loads(re.sub(r"\$\{[^!}][^}]*\}", "0", body)).get("widgets", [])
        except ValueError as exc:
            widgets = []
            expect(False, f"the dashboard body is JSON once substituted ({exc})")
        expect(bool(widgets), "the dashboard has widgets")
        for ref in ("${AWS::Region}", "${ApproverFunction}", "${ApproverFunctionLogGroup}",
                    "${ConnectionNotificationDeadLetterQueue.QueueName}", "${EventDeadLetterQueue.QueueName}"):
            expect(ref in body, f"the dashboard uses {ref}")
        for metric in ("Accepted", "Rejected", "Manual", "Revoked", "Failed", "OldestPendingSeconds", "NotReached"):
            expect(f'["{EMF_NAMESPACE}", "{metric}"' in body, f"the dashboard graphs the total {metric}")
        for metric in ("PolicyErrors", "RevocationsHeld", "StampFailures", "MembershipErrors", "Invocations", "Errors", "Throttles", "Duration",
                       "ApproximateNumberOfMessagesVisible"):
            expect(f'"{metric}"' in body, f"the dashboard graphs {metric}")
        expect(
            any(w.get("type") == "log" and 'filter msg = "decision"' in w.get("properties", {}).get("query", "")
                for w in widgets),
            "the dashboard has a Logs Insights widget on the decision lines",
        )
    outputs = tpl.get("Outputs", {})
    for name in ("DecisionTopicArn", "DashboardName", "DashboardUrl"):
        expect(name in outputs, f"output {name} exists")

    expect("ssm:GetParametersByPath" in text, "a policy path is read with ssm:GetParametersByPath")

    # Connection notifications: the function registers them (sweeps) and
    # removes them (the cleanup custom resource, on stack deletion).
    expect(not any(isinstance(r, dict) and r.get("Type") == "AWS::EC2::VPCEndpointConnectionNotification" for r in resources.values()),
           "no AWS::EC2::VPCEndpointConnectionNotification: the function registers the notifications")
    expect(env.get("CONNECTION_TOPIC_ARN") == {"Ref": "ConnectionNotificationTopic"},
           "CONNECTION_TOPIC_ARN is ConnectionNotificationTopic, whatever chooses the services")
    cleanup = resources.get(CLEANUP, {})
    cleanup_props = cleanup.get("Properties", {})
    expect(cleanup.get("Type") == CLEANUP_TYPE, f"{CLEANUP} is a {CLEANUP_TYPE}")
    expect(cleanup_props.get("ServiceToken") in ({"Fn::GetAtt": ["ApproverFunction", "Arn"]}, {"Fn::GetAtt": "ApproverFunction.Arn"}),
           f"{CLEANUP}'s ServiceToken is ApproverFunction's ARN (the function serves it)")
    expect(cleanup_props.get("TopicArn") == {"Ref": "ConnectionNotificationTopic"},
           f"{CLEANUP}'s TopicArn is ConnectionNotificationTopic")
    expect("Condition" not in cleanup, f"{CLEANUP} exists in every deployment")
    # Deleted before the topic's policy: EC2 can still publish while the
    # notifications are removed, and on creation none is registered before
    # the topic admits EC2.
    expect("ConnectionNotificationTopicPolicy" in as_list(cleanup.get("DependsOn", [])),
           f"{CLEANUP} depends on ConnectionNotificationTopicPolicy")
    # The sample Delete request in events/ (what `sam local invoke -e` and
    # the Go tests use) is one this resource would send.
    if base is not None:
        sample = base / "events" / CLEANUP_SAMPLE
        try:
            request = json.loads(sample.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            request = {}
            expect(False, f"{sample} is a readable JSON sample ({exc})")
        expect(request.get("RequestType") == "Delete" and request.get("LogicalResourceId") == CLEANUP
               and request.get("ResourceType") == cleanup.get("Type"),
               f"{CLEANUP_SAMPLE} is a Delete request of {CLEANUP} ({cleanup.get('Type')})")
        expect(sorted(request.get("ResourceProperties", {})) == sorted(cleanup_props),
               f"{CLEANUP_SAMPLE}'s ResourceProperties have the resource's keys {sorted(cleanup_props)}")
        expect(request.get("ResourceProperties", {}).get("ServiceToken") == request.get("ServiceToken"),
               f"{CLEANUP_SAMPLE}'s ServiceToken is the one in its ResourceProperties")

    if problems:
        raise CheckError("contract not met:\n" + "\n".join(f"  - {p}" for p in problems))
    return f"{checked} requirements hold"


# ------------------------------------------------------------ sample values


def with_sample_values(tpl: dict, overrides: dict[str, str]) -> dict:
    """The template with the scenario's values as parameter defaults, so that
    the translated template is self-consistent for cfn-lint."""
    out = copy.deepcopy(tpl)
    for name, value in overrides.items():
        if name not in out.get("Parameters", {}):
            raise CheckError(f"scenario sets {name!r}, which is not a parameter")
        out["Parameters"][name]["Default"] = value
    return out


# ------------------------------------------------------------------ translate


class StubManagedPolicyLoader:
    """The template names no managed policies; SAM builds its own ARNs."""

    def load(self) -> dict[str, str]:
        return {}


def sam_translate(deps, tpl: dict) -> dict:
    tpl = copy.deepcopy(tpl)
    for res in tpl.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            # The translator only takes S3 locations, as after `sam package`.
            res.setdefault("Properties", {})["CodeUri"] = "s3://example-artifacts/privatelink-approver.zip"
    try:
        return deps["transform"](tpl, {}, StubManagedPolicyLoader())
    except Exception as exc:  # InvalidDocumentException carries the causes
        causes = getattr(exc, "causes", None)
        detail = "\n".join(f"  {c.message}" for c in causes) if causes else f"  {exc}"
        raise CheckError(f"aws-sam-translator failed:\n{detail}") from exc


class NoValue:
    """AWS::NoValue: the property or list item is left out."""


NOVALUE = NoValue()


class Evaluator:
    """Evaluates the intrinsic functions of a translated template for one
    set of parameter values, the way CloudFormation would, with plausible
    physical IDs for resources (as long as real ones)."""

    def __init__(self, cfn: dict, values: dict[str, str]):
        self.cfn = cfn
        self.params: dict[str, Any] = {}
        for name, param in cfn.get("Parameters", {}).items():
            raw = values.get(name, param.get("Default", ""))
            if param.get("Type") == "CommaDelimitedList":
                self.params[name] = [m.strip() for m in str(raw).split(",")]
            else:
                self.params[name] = str(raw)
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.ev(self.cfn["Conditions"][name]))
        return self.conditions[name]

    def present(self, resource: dict) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NOVALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        res = self.cfn.get("Resources", {}).get(name)
        if res is None:
            raise CheckError(f"Ref to unknown {name!r}")
        if res.get("Type") in ("AWS::SNS::Topic",):
            return f"arn:{PSEUDO['AWS::Partition']}:sns:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{PSEUDO['AWS::StackName']}-{name}-ABCDEFGHIJKL"
        return f"{PSEUDO['AWS::StackName']}-{name}-ABCDEFGHIJKL"

    def getatt(self, name: str, attr: str) -> str:
        res = self.cfn.get("Resources", {}).get(name, {})
        service = str(res.get("Type", "AWS::X::Y")).split("::")[1].lower()
        return f"arn:{PSEUDO['AWS::Partition']}:{service}:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{name}-ABCDEFGHIJKL"

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self.getatt(*name.split(".", 1))
            value = self.ref(name)
            if isinstance(value, list):
                raise CheckError(f"Fn::Sub of the list {name!r}")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def ev(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.ev(item) for item in node) if v is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(parts[0], parts[1])
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], {k: self.ev(v) for k, v in arg[1].items()})
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.ev(arg[1]))
            if key == "Fn::Split":
                return str(self.ev(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.ev(arg[1])[int(self.ev(arg[0]))]
            if key == "Fn::If":
                return self.ev(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.ev(a) for a in arg)
                return self.cfn["Mappings"][m][str(k1)][k2]
            if key == "Fn::Equals":
                a, b = (self.ev(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self.ev(arg[0])
            if key == "Fn::And":
                return all(self.ev(x) for x in arg)
            if key == "Fn::Or":
                return any(self.ev(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.ev(v)) for k, v in node.items()) if v is not NOVALUE}


def policy_size(doc: Any) -> int:
    """A policy's size as IAM counts it (white space is not counted)."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    return len(json.dumps(doc, separators=(",", ":")))


def grants(docs: list[tuple[str, dict]], action: str) -> list[dict]:
    return [st for _, st in grants_from(docs, action)]


def grants_from(docs: list[tuple[str, dict]], action: str) -> list[tuple[str, dict]]:
    """(policy name, statement) for every statement that grants action."""
    return [(name, st) for name, doc in docs for st in as_list(doc.get("Statement", [])) if action in as_list(st.get("Action"))]


def policy_source(name: str) -> str:
    """The resource a policy name of attached_policies comes from."""
    return name.split(INLINE, 1)[0]


def check_translated(cfn: dict, values: dict[str, str]) -> str:
    resources = cfn.get("Resources", {})
    for key, res in resources.items():
        if str(res.get("Type", "")).startswith("AWS::Serverless::"):
            raise CheckError(f"{key} is still {res['Type']} after translation")
    ev = Evaluator(cfn, values)
    present = {k: r for k, r in resources.items() if ev.present(r)}
    if len(present) >= MAX_RESOURCES:
        raise CheckError(f"{len(present)} resources: CloudFormation takes at most {MAX_RESOURCES}")
    for name, value in values.items():
        if len(value) > MAX_PARAMETER_VALUE:
            raise CheckError(f"parameter {name} is {len(value)} characters: CloudFormation takes at most {MAX_PARAMETER_VALUE}")

    listed = [s for s in ev.params["ServiceIds"] if s]
    tag = ev.params.get("ServiceTag", "")

    notes = sorted(k for k, r in present.items() if r.get("Type") == "AWS::EC2::VPCEndpointConnectionNotification")
    if notes:
        raise CheckError(f"the function registers the connection notifications, the stack makes none: {notes}")

    # The permissions boundary on every role, SAM's included: the
    # parameter's value, or none.
    boundary = ev.params.get("PermissionsBoundary", "")
    for key, res in present.items():
        if res.get("Type") == "AWS::IAM::Role":
            got = ev.ev(res.get("Properties", {})).get("PermissionsBoundary")
            if got != (boundary or None):
                raise CheckError(f"{key}'s PermissionsBoundary is {got!r}, expected {boundary or None!r}")

    # Lambda's timeout, and the queue that must wait 6 times as long.
    function = next(k for k, r in present.items() if r.get("Type") == "AWS::Lambda::Function")
    timeout = int(ev.ev(present[function]["Properties"].get("Timeout", 3)))
    want_timeout = int(values.get("FunctionTimeout", cfn["Parameters"]["FunctionTimeout"]["Default"]))
    if timeout != want_timeout:
        raise CheckError(f"the function's Timeout is {timeout}, expected FunctionTimeout {want_timeout}")
    visibility = int(ev.ev(present["ConnectionNotificationQueue"]["Properties"]["VisibilityTimeout"]))
    if visibility < 6 * timeout:
        raise CheckError(f"the queue's VisibilityTimeout {visibility} is under 6 x the function's Timeout {timeout}")

    # The function's role; DecisionForwardRole (EventBridge's, with
    # CentralEventBusArn) is checked with the least privilege below.
    roles = [k for k, r in present.items() if r.get("Type") == "AWS::IAM::Role" and k not in ("DecisionForwardRole", "FleetReaderRole")]
    if len(roles) != 1:
        raise CheckError(f"expected one function role, found {roles}")
    docs = attached_policies(ev, present, roles[0])
    size = sum(policy_size(d) for _, d in docs)
    if size > MAX_INLINE_POLICIES_PER_ROLE:
        raise CheckError(f"the role's inline policies are {size} characters: IAM takes at most {MAX_INLINE_POLICIES_PER_ROLE}")
    for key, res in present.items():
        if res.get("Type") == "AWS::IAM::ManagedPolicy":
            msize = policy_size(ev.ev(res["Properties"]["PolicyDocument"]))
            if msize > MAX_MANAGED_POLICY:
                raise CheckError(f"{key} is {msize} characters: IAM takes at most {MAX_MANAGED_POLICY}")

    env = ev.ev(present[function]["Properties"]["Environment"]["Variables"])
    topic = ev.ref("ConnectionNotificationTopic")
    partition, region, account = PSEUDO["AWS::Partition"], PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
    all_services = f"arn:{partition}:ec2:{region}:{account}:vpc-endpoint-service/*"
    decide = grants(docs, "ec2:AcceptVpcEndpointConnections")
    if grants(docs, "ec2:RejectVpcEndpointConnections") != decide:
        raise CheckError("Accept and Reject must be granted together")
    if len(decide) != 1:
        raise CheckError(f"Accept/Reject must be granted in one statement, found {len(decide)}")
    st = decide[0]
    pinned = {"StringEquals": {"aws:ResourceAccount": account, "aws:RequestedRegion": region}}
    if listed:
        want_services = [f"arn:*:ec2:*:*:vpc-endpoint-service/{s}" for s in listed]
        want_condition = pinned
    else:
        want_services = all_services
        want_condition = None
        if tag:
            key, _, value = tag.partition("=")
            want_condition = {"StringEquals": {f"aws:ResourceTag/{key}": value}} if "=" in tag else {"Null": {f"aws:ResourceTag/{key}": "false"}}
    if st.get("Resource") != want_services:
        raise CheckError(f"Accept/Reject on {st.get('Resource')}, expected {want_services}")
    if st.get("Condition") != want_condition:
        raise CheckError(f"Accept/Reject's condition is {st.get('Condition')}, expected {want_condition}")

    # Connection notifications, in every mode. Registering: on the same
    # services and conditions as Accept/Reject, only through role policies
    # that depend on the cleanup custom resource (CloudFormation deletes
    # them before it, so no sweep registers a notification again after the
    # cleanup) and grant nothing else.
    cleanup = [k for k, r in present.items() if r.get("Type") == CLEANUP_TYPE]
    if cleanup != [CLEANUP]:
        raise CheckError(f"one {CLEANUP_TYPE}, {CLEANUP}, in every deployment: {cleanup}")
    if ev.ev(present[CLEANUP]["Properties"].get("ServiceToken")) != ev.getatt(function, "Arn") or function != "ApproverFunction":
        raise CheckError(f"{CLEANUP}'s ServiceToken is not the function's ARN")
    if ev.ev(present[CLEANUP]["Properties"].get("TopicArn")) != topic:
        raise CheckError(f"{CLEANUP}'s TopicArn is not the stack's ConnectionNotificationTopic")
    register = [(name, s) for name, s in grants_from(docs, REGISTER)]
    if not register:
        raise CheckError(f"the sweeps cannot register connection notifications ({REGISTER})")
    for name, s in register:
        source = present.get(policy_source(name), {})
        if source.get("Type") not in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy") or CLEANUP not in as_list(source.get("DependsOn", [])):
            raise CheckError(f"{name} grants {REGISTER} but does not depend on {CLEANUP}: deleted after it, a sweep could register again")
        others = [a for d_name, d in docs if d_name == name for x in as_list(d.get("Statement", [])) for a in as_list(x.get("Action"))]
        if set(others) != {REGISTER}:
            raise CheckError(f"{name} grants {REGISTER} and nothing else, found {sorted(set(others))}")
        if s.get("Resource") != want_services or s.get("Condition") != want_condition:
            raise CheckError(f"{REGISTER} on {s.get('Resource')} when {s.get('Condition')}, expected {want_services} when {want_condition}")
    # Listing and deleting: in the role's own policy, which lasts until the
    # function is gone (the cleanup runs before).
    for action, want in ((LIST_NOTIFICATIONS, ["*"]), (REMOVE_NOTIFICATIONS, [all_services])):
        found = grants_from(docs, action)
        if [s.get("Resource") for _, s in found] != want or any("Condition" in s for _, s in found):
            raise CheckError(f"{action} on {want} without condition, once: {[s for _, s in found]}")
        if any(policy_source(name) != roles[0] for name, _ in found):
            raise CheckError(f"{action} is granted by the function role's own policy, which outlives {CLEANUP}: {[n for n, _ in found]}")
    if env.get("CONNECTION_TOPIC_ARN") != topic:
        raise CheckError(f"CONNECTION_TOPIC_ARN is {env.get('CONNECTION_TOPIC_ARN')!r}, expected the stack's topic")
    if env.get("SERVICE_TAG") != tag:
        raise CheckError(f"SERVICE_TAG is {env.get('SERVICE_TAG')!r}, expected {tag!r}")

    # AWS Organizations: through the one role named, or this account's own
    # read-only calls; never both, never anything else.
    role = ev.params.get("OrganizationRoleArn", "")
    assume = grants(docs, "sts:AssumeRole")
    reads = [grants(docs, a) for a in sorted(ORG_READ_ACTIONS)]
    org_actions = sorted({a for _, d in docs for st in as_list(d.get("Statement", [])) for a in as_list(st.get("Action"))
                          if str(a).startswith("organizations:")})
    if role:
        if [s.get("Resource") for s in assume] != [role] or any(as_list(s.get("Action")) != ["sts:AssumeRole"] for s in assume):
            raise CheckError(f"with OrganizationRoleArn, sts:AssumeRole on that role only: {assume}")
        if org_actions:
            raise CheckError(f"with OrganizationRoleArn the function calls AWS Organizations only through the role: {org_actions}")
        if env.get("ORGANIZATION_ROLE_ARN") != role:
            raise CheckError(f"ORGANIZATION_ROLE_ARN is {env.get('ORGANIZATION_ROLE_ARN')!r}, expected {role!r}")
    else:
        if assume:
            raise CheckError(f"without OrganizationRoleArn, no sts:AssumeRole: {assume}")
        if org_actions != sorted(ORG_READ_ACTIONS) or any(r != reads[0] for r in reads) or len(reads[0]) != 1:
            raise CheckError(f"without OrganizationRoleArn, {sorted(ORG_READ_ACTIONS)} in one statement, nothing else: {org_actions}")
    bus = [r for r in present.values() if r.get("Type") == "AWS::Events::EventBusPolicy"]
    events_account = ev.params.get("OrganizationEventsAccountId", "")
    if events_account:
        if len(bus) != 1:
            raise CheckError(f"with OrganizationEventsAccountId, one event bus policy, found {len(bus)}")
        st = ev.ev(bus[0]["Properties"]["Statement"])
        if st.get("Principal") != {"AWS": f"arn:{partition}:iam::{events_account}:root"} or st.get("Action") != "events:PutEvents" \
                or st.get("Condition") != {"StringEquals": {"events:source": "aws.organizations"}}:
            raise CheckError(f"the default bus must take only aws.organizations events from {events_account}: {st}")
    elif bus:
        raise CheckError("without OrganizationEventsAccountId, no event bus policy")
    granted = check_least_privilege(ev, present, docs, roles[0])
    check_rule_patterns(ev, present)
    check_shared_policy(ev, present, env)
    return (f"{len(present)} resources, {granted} grants proven least-privilege, "
            f"inline policies {size} of {MAX_INLINE_POLICIES_PER_ROLE} characters")


# ------------------------------------------------------------ org reader role

# The org reader role reads, and reads only these.
ORG_READ_ACTIONS = {
    "organizations:ListParents",
    "organizations:DescribeOrganization",
    "organizations:DescribeOrganizationalUnit",
}
# What the management account forwards to the approver's bus, by detail-type.
ORG_FORWARDED = {
    ("AWS API Call via CloudTrail", "MoveAccount"),
    ("AWS API Call via CloudTrail", "RemoveAccountFromOrganization"),
    ("AWS API Call via CloudTrail", "LeaveOrganization"),
    ("AWS API Call via CloudTrail", "AcceptHandshake"),
    ("AWS Service Event via CloudTrail", "CreateAccountResult"),
}
# The forwarded samples in events/ (each must match a forwarding rule).
ORG_FORWARDED_SAMPLES = (
    "cloudtrail-organizations-move-account.json",
    "cloudtrail-organizations-accept-handshake.json",
    "cloudtrail-organizations-create-account-result.json",
)
# Parameter sets for the tag guard (the SCP), and the ARNs they name.
APPROVER_ROLE = "arn:aws-us-gov:iam::111122223333:role/privatelink-approver-production-ApproverFunctionRole-ABCDEFGHIJKL"
TAG_WRITERS = [
    "arn:aws-us-gov:iam::111122223333:role/NetworkAdmin",
    "arn:aws-us-gov:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_NetworkAdmin_*",
]
TAG_GUARD_SCENARIOS = {
    "no-guard": {"ApproverRoleArn": APPROVER_ROLE},
    "guard": {"ApproverRoleArn": APPROVER_ROLE, "TagGuardTargetIds": "ou-ab12-11111111"},
    "guard-service-tag-writers": {"ApproverRoleArn": APPROVER_ROLE, "TagGuardTargetIds": "ou-ab12-11111111,222233334444",
                                  "ServiceTagKey": "team", "TagWriterRoleArns": ",".join(TAG_WRITERS)},
    # The most the template's comment promises: 20 long IAM Identity Center role ARNs.
    "guard-twenty-writers": {"ApproverRoleArn": APPROVER_ROLE, "TagGuardTargetIds": "r-ab12", "ServiceTagKey": "team",
                             "TagWriterRoleArns": ",".join(
                                 f"arn:aws-us-gov:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Team{i:02d}Admin_*"
                                 for i in range(20))},
}
# AWS Organizations' quota on a service control policy's size; every
# character counts, white space too, so it is measured with a space after
# each separator (CloudFormation's serialization of Content is not known).
MAX_SCP = 5_120


def check_shared_policy(ev: "Evaluator", present: dict, env: dict) -> None:
    """With PolicyChangeTopicArn, the notification queue is subscribed to
    the central topic (not raw: the function tells its messages by the
    envelope's TopicArn), the queue takes that topic's messages, and the
    function knows the topic; without it, none of this."""
    topic = ev.params.get("PolicyChangeTopicArn", "")
    subs = [r for r in present.values() if r.get("Type") == "AWS::SNS::Subscription"
            and ev.ev(r["Properties"].get("TopicArn")) == topic and topic]
    queue_policy = ev.ev(present["ConnectionNotificationQueuePolicy"]["Properties"]["PolicyDocument"])
    sources = [st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn") for st in as_list(queue_policy.get("Statement", []))]
    if env.get("POLICY_CHANGE_TOPIC_ARN", "") != topic:
        raise CheckError(f"POLICY_CHANGE_TOPIC_ARN is {env.get('POLICY_CHANGE_TOPIC_ARN')!r}, expected {topic!r}")
    if not topic:
        if len(sources) != 1:
            raise CheckError(f"without PolicyChangeTopicArn, the queue takes the connection topic only: {sources}")
        return
    if len(subs) != 1:
        raise CheckError(f"with PolicyChangeTopicArn, one subscription to it, found {len(subs)}")
    props = ev.ev(subs[0]["Properties"])
    if props.get("Protocol") != "sqs" or props.get("Endpoint") != ev.getatt("ConnectionNotificationQueue", "Arn") \
            or props.get("RawMessageDelivery") not in (False, "false"):
        raise CheckError(f"the policy change subscription delivers enveloped messages to the notification queue: {props}")
    if topic not in sources:
        raise CheckError(f"the queue policy admits the policy change topic: {sources}")


def event_matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the patterns used here: nested objects, lists
    of exact values, and {"exists": false}."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        for key, want in pattern.items():
            if isinstance(want, list) and {"exists": False} in want:
                if key in event:
                    return False
            elif key not in event or not event_matches(want, event[key]):
                return False
        return True
    if isinstance(pattern, list):
        return event in pattern
    return pattern == event


def check_tag_guard(tpl: dict, scenario: str, values: dict[str, str]) -> list[str]:
    """The SCP, evaluated for one parameter set: only with
    TagGuardTargetIds, attached to them; Deny statements only, on
    ec2:CreateTags and ec2:DeleteTags only; the approver's keys (and the
    service tag key) in a ForAnyValue:StringLike on aws:TagKeys; DeleteTags
    with no key denied; each deny excepting exactly the approver's role and
    the tag writers, by aws:PrincipalArn, and nothing else."""
    problems = []
    where = f"[{scenario}]"
    ev = Evaluator(tpl, values)
    policies = {k: r for k, r in tpl.get("Resources", {}).items() if r.get("Type") == "AWS::Organizations::Policy"}
    present = {k: r for k, r in policies.items() if ev.present(r)}
    targets = [t for t in values.get("TagGuardTargetIds", "").split(",") if t]
    if any(r.get("Condition") != "GuardsTags" for r in policies.values()):
        problems.append(f"every organization policy has the condition GuardsTags: {sorted(policies)}")
    if not targets:
        if present:
            problems.append(f"{where} no TagGuardTargetIds, no policy: {sorted(present)}")
        return problems
    if list(present) != ["TagGuardPolicy"]:
        return problems + [f"{where} the tag guard is TagGuardPolicy, and the only organization policy: {sorted(present)}"]
    props = ev.ev(present["TagGuardPolicy"]["Properties"])
    if props.get("Type") != "SERVICE_CONTROL_POLICY":
        problems.append(f"{where} TagGuardPolicy is a SERVICE_CONTROL_POLICY: {props.get('Type')}")
    if props.get("TargetIds") != targets:
        problems.append(f"{where} TagGuardPolicy is attached to TagGuardTargetIds exactly: {props.get('TargetIds')}")
    content = props.get("Content", {})
    content = json.loads(content) if isinstance(content, str) else content
    if len(json.dumps(content)) > MAX_SCP:
        problems.append(f"{where} the SCP is {len(json.dumps(content))} characters, over {MAX_SCP}")
    sts = as_list(content.get("Statement", []))
    writers = [w for w in values.get("TagWriterRoleArns", "").split(",") if w]
    exempt = sorted([values["ApproverRoleArn"]] + writers)
    keys = ["privatelink-approver:*"] + ([values["ServiceTagKey"]] if values.get("ServiceTagKey") else [])
    # Where the guarded tags live: every connection and endpoint service.
    partition = PSEUDO["AWS::Partition"]
    no_keys_resources = {f"arn:{partition}:ec2:*:*:vpc-endpoint-connection/*", f"arn:{partition}:ec2:*:*:vpc-endpoint-service/*"}
    denied = set()
    by_keys = no_keys = False
    for st in sts:
        sid = st.get("Sid", "(no Sid)")
        if st.get("Effect") != "Deny" or set(st) & {"NotAction", "NotResource", "Principal", "NotPrincipal"}:
            problems.append(f"{where} {sid}: a Deny with Action and Resource")
            continue
        actions = set(as_list(st.get("Action")))
        denied |= actions
        cond = st.get("Condition", {})
        # The exception: negated ARN operators on aws:PrincipalArn (ANDed,
        # each a NOR of its values), naming exactly the exempt roles.
        named = sorted(v for op in ("ArnNotEquals", "ArnNotLike") for v in as_list(cond.get(op, {}).get("aws:PrincipalArn", [])))
        if named != exempt:
            problems.append(f"{where} {sid}: excepts by aws:PrincipalArn exactly {exempt}: {named}")
        rest = {op: v for op, v in cond.items() if op not in ("ArnNotEquals", "ArnNotLike")}
        if any(set(v) != {"aws:PrincipalArn"} for op, v in cond.items() if op in ("ArnNotEquals", "ArnNotLike")):
            problems.append(f"{where} {sid}: the ARN operators test aws:PrincipalArn only: {cond}")
        if rest == {"ForAnyValue:StringLike": {"aws:TagKeys": keys}} and actions == {"ec2:CreateTags", "ec2:DeleteTags"} \
                and st.get("Resource") == "*":
            by_keys = True
        elif rest == {"Null": {"aws:TagKeys": "true"}} and actions == {"ec2:DeleteTags"} and \
                (st.get("Resource") == "*" or set(as_list(st.get("Resource"))) >= no_keys_resources):
            no_keys = True
        else:
            problems.append(f"{where} {sid}: an unexpected statement: {st}")
    if denied != {"ec2:CreateTags", "ec2:DeleteTags"}:
        problems.append(f"{where} the SCP denies ec2:CreateTags and ec2:DeleteTags only: {sorted(denied)}")
    if not by_keys:
        problems.append(f"{where} a Deny of ec2:CreateTags and ec2:DeleteTags on \"*\" when ForAnyValue:StringLike aws:TagKeys is {keys}")
    if not no_keys:
        problems.append(f"{where} a Deny of ec2:DeleteTags naming no key (Null aws:TagKeys true)")
    return problems


def check_org_reader(text: str, tpl: dict, events_dir: Path | None = None) -> str:
    """The management account's template: a role that trusts the approver's
    role only and may call ListParents, DescribeOrganization and
    DescribeOrganizationalUnit, nothing else; the forwarding rules' patterns;
    and the optional tag guard (SCP) for each parameter set."""
    problems = []
    expect_text = 'no hard-coded partition ("arn:aws:")'
    if "arn:aws:" in text:
        problems.append(expect_text)
    resources = tpl.get("Resources", {})
    roles = {k: r for k, r in resources.items() if r.get("Type") == "AWS::IAM::Role"}
    reader = roles.get("OrgReaderRole", {}).get("Properties", {})
    trust = reader.get("AssumeRolePolicyDocument", {}).get("Statement", [])
    if trust != [{"Sid": "TrustTheApprover", "Effect": "Allow", "Principal": {"AWS": {"Ref": "ApproverRoleArn"}}, "Action": "sts:AssumeRole"}]:
        problems.append(f"OrgReaderRole trusts ApproverRoleArn, and only it: {trust}")
    if reader.get("ManagedPolicyArns"):
        problems.append("OrgReaderRole has no managed policy")
    problems += parameter_group_problems(tpl)
    problems += boundary_problems(tpl.get("Parameters", {}), tpl.get("Conditions", {}), resources)
    # Evaluated: with a boundary, every role has it (the forwarding role
    # included); without, none has one.
    for value in ORG_READER_BOUNDARIES:
        values = {"ApproverRoleArn": APPROVER_ROLE, "PermissionsBoundary": value,
                  "ApproverEventBusArn": "arn:aws-us-gov:events:ap-southeast-2:111122223333:event-bus/default"}
        try:
            ev = Evaluator(tpl, values)
            for key, role in roles.items():
                if ev.present(role):
                    got = ev.ev(role.get("Properties", {})).get("PermissionsBoundary")
                    if got != (value or None):
                        problems.append(f"[PermissionsBoundary={value!r}] {key}'s boundary is {got!r}")
        except (KeyError, TypeError, CheckError) as exc:
            problems.append(f"[PermissionsBoundary={value!r}] the roles cannot be evaluated: {exc!r}")
    reads = [st for p in reader.get("Policies", []) for st in as_list(p["PolicyDocument"].get("Statement", []))]
    actions = sorted(a for st in reads for a in as_list(st.get("Action")))
    if sorted(actions) != sorted(ORG_READ_ACTIONS):
        problems.append(f"OrgReaderRole may call {sorted(ORG_READ_ACTIONS)} only: {actions}")
    for st in reads:
        if st.get("Effect") != "Allow" or set(st) & {"NotAction", "NotResource"} or st.get("Condition"):
            problems.append(f"OrgReaderRole: {st.get('Sid')} is a plain Allow with Action and Resource")
        for a in as_list(st.get("Action")):
            if not re.fullmatch(r"organizations:(Describe|List)[A-Za-z]+", a):
                problems.append(f"OrgReaderRole: {a} is not a read of AWS Organizations")
    membership = [st for st in reads if st.get("Sid") == "ReadMembership"]
    if not membership or "organizations:DescribeOrganizationalUnit" not in as_list(membership[0].get("Action")):
        problems.append("OrgReaderRole's ReadMembership statement has organizations:DescribeOrganizationalUnit")
    others = sorted(k for k, r in roles.items() if k != "OrgReaderRole" and r.get("Condition") != "Forwards")
    if others:
        problems.append(f"no other role but the optional forwarding one: {others}")

    # Forwarding: only with ApproverEventBusArn, to that bus through the
    # forwarding role, exactly the events that move accounts in or out.
    rules = {k: r for k, r in resources.items() if r.get("Type") == "AWS::Events::Rule"}
    forwarded = set()
    patterns = []
    for key, rule in rules.items():
        props = rule.get("Properties", {})
        if rule.get("Condition") != "Forwards":
            problems.append(f"{key} exists only with ApproverEventBusArn (condition Forwards)")
        if props.get("Targets") != [{"Id": "privatelink-approver", "Arn": {"Ref": "ApproverEventBusArn"},
                                     "RoleArn": {"Fn::GetAtt": ["ForwardRole", "Arn"]}}]:
            problems.append(f"{key} targets ApproverEventBusArn only, through ForwardRole: {props.get('Targets')}")
        pat = props.get("EventPattern", {})
        patterns.append(pat)
        detail = pat.get("detail", {})
        if pat.get("source") != ["aws.organizations"] or detail.get("eventSource") != ["organizations.amazonaws.com"]:
            problems.append(f"{key} takes aws.organizations events only: {pat}")
        forwarded |= {(t, n) for t in pat.get("detail-type", []) for n in detail.get("eventName", [])}
        if "CreateAccountResult" in detail.get("eventName", []) and \
                detail.get("serviceEventDetails") != {"createAccountStatus": {"state": ["SUCCEEDED"]}}:
            problems.append(f"{key} forwards only the CreateAccountResult that SUCCEEDED: {detail}")
    if forwarded != ORG_FORWARDED:
        problems.append(f"the forwarded events are {sorted(forwarded)}, expected exactly {sorted(ORG_FORWARDED)}")
    if events_dir is not None:
        for name in ORG_FORWARDED_SAMPLES:
            path = events_dir / name
            if not path.is_file():
                problems.append(f"{path}: no such sample")
            elif not any(event_matches(p, json.loads(path.read_text(encoding="utf-8"))) for p in patterns):
                problems.append(f"{path} matches no forwarding rule")

    for scenario, values in TAG_GUARD_SCENARIOS.items():
        try:
            problems += check_tag_guard(tpl, scenario, values)
        except (KeyError, TypeError, CheckError) as exc:
            problems.append(f"[{scenario}] the tag guard cannot be evaluated: {exc!r}")

    outputs = tpl.get("Outputs", {})
    if outputs.get("OrganizationRoleArn", {}).get("Value") != {"Fn::GetAtt": ["OrgReaderRole", "Arn"]}:
        problems.append("output OrganizationRoleArn is the role's ARN")
    if problems:
        raise CheckError("org reader role:\n" + "\n".join(f"  - {p}" for p in problems))
    return (f"{len(actions)} read actions, one trusted principal, {len(forwarded)} forwarded events, "
            f"the tag guard in {len(TAG_GUARD_SCENARIOS)} parameter sets")


# ------------------------------------------------------ organization templates


def check_central_policy(tpl: dict) -> str:
    """The shared policy: an Advanced-tier parameter (the only tier AWS RAM
    shares), shared read-only with no principal outside the organization,
    its changes announced on a topic the organization may subscribe to."""
    res = tpl.get("Resources", {})
    problems = []
    param = res.get("PolicyParameter", {}).get("Properties", {})
    if param.get("Tier") != "Advanced":
        problems.append("the policy parameter is Advanced tier (AWS RAM shares no other)")
    share = res.get("PolicyShare", {})
    props = share.get("Properties", {})
    if share.get("Type") != "AWS::RAM::ResourceShare" or props.get("AllowExternalPrincipals") is not False:
        problems.append("a RAM share of the parameter, with no external principal")
    if props.get("PermissionArns") != [{"Fn::Sub": "arn:${AWS::Partition}:ram::aws:permission/AWSRAMDefaultPermissionSSMParameterReadOnly"}]:
        problems.append(f"the share is read-only: {props.get('PermissionArns')}")
    rule = res.get("PolicyChangeRule", {}).get("Properties", {})
    pattern = rule.get("EventPattern", {})
    if pattern.get("detail-type") != ["Parameter Store Change"] or pattern.get("detail") != {"name": [{"Ref": "PolicyParameterName"}]}:
        problems.append(f"the rule announces the policy parameter's changes only: {pattern}")
    if rule.get("Targets") != [{"Id": "policy-change-topic", "Arn": {"Ref": "PolicyChangeTopic"}}]:
        problems.append("the rule's target is the change topic")
    outputs = tpl.get("Outputs", {})
    for name in ("PolicyParameterArn", "PolicyChangeTopicArn", "PolicyKeyArn"):
        if name not in outputs:
            problems.append(f"output {name}, a member stack's parameter")
    if problems:
        raise CheckError("central policy:\n" + "\n".join(f"  - {p}" for p in problems))
    return "an Advanced-tier parameter shared read-only, its changes announced"


def check_stackset(tpl: dict, approver: dict) -> str:
    """The stack set: service-managed, deployed automatically to new
    accounts, passing only parameters the packaged template has."""
    props = tpl.get("Resources", {}).get("ApproverStackSet", {}).get("Properties", {})
    problems = []
    if props.get("PermissionModel") != "SERVICE_MANAGED":
        problems.append("PermissionModel SERVICE_MANAGED")
    if props.get("AutoDeployment", {}).get("Enabled") is not True:
        problems.append("automatic deployment to the OUs' new accounts")
    known = set(approver.get("Parameters", {})) | {"CodeBucketPrefix", "CodeKey"}
    passed = [p.get("ParameterKey") for p in props.get("Parameters", [])]
    unknown = [p for p in passed if p not in known]
    if unknown:
        problems.append(f"parameters the packaged template does not have: {unknown}")
    # What an organization's fleet needs from each member stack.
    needed = {"CodeBucketPrefix", "CodeKey", "PolicyParameterName", "PolicyKeyArn", "PolicyChangeTopicArn", "DecisionEvents",
              "CentralEventBusArn", "FleetReaderPrincipalArn", "PrimaryRegion", "PermissionsBoundary", "ServiceTag", "DryRun"}
    if needed - set(passed):
        problems.append(f"parameters not passed to the member stacks: {sorted(needed - set(passed))}")
    if "CAPABILITY_NAMED_IAM" not in props.get("Capabilities", []):
        problems.append("CAPABILITY_NAMED_IAM: the fleet reader role has a fixed name")
    if problems:
        raise CheckError("stack set:\n" + "\n".join(f"  - {p}" for p in problems))
    return f"service-managed, automatic, {len(passed)} parameters passed through"


# ----------------------------------------------------------- least privilege


def attached_policies(ev: "Evaluator", present: dict, role: str) -> list[tuple[str, dict]]:
    """Every IAM policy document that reaches a role of the template: the
    role's own, and every AWS::IAM::Policy, ManagedPolicy and RolePolicy,
    which must attach to the function's role only."""
    docs = []
    for p in ev.ev(present[role]["Properties"].get("Policies", [])):
        docs.append((f"{role}{INLINE}{p['PolicyName']}", p["PolicyDocument"]))
    for key, res in present.items():
        props = res.get("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::IAM::RolePolicy":
            targets = [props.get("RoleName")]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            targets = props.get("Roles", [])
            if props.get("Users") or props.get("Groups"):
                raise CheckError(f"{key} attaches to users or groups")
        else:
            continue
        if not targets or any(t != {"Ref": role} for t in targets):
            raise CheckError(f"{key} attaches to {targets}: only the function's role ({role}) may have policies here")
        doc = ev.ev(props["PolicyDocument"])
        docs.append((key, json.loads(doc) if isinstance(doc, str) else doc))
    return docs


def check_least_privilege(ev: "Evaluator", present: dict, docs: list[tuple[str, dict]], role: str) -> int:
    """Every grant of the function's role, evaluated: only known actions,
    each on the resources it needs and no more, with the conditions it must
    carry; "*" only for the actions that take no resource; and every grant
    the function cannot work without. Returns how many action-resource
    grants were checked."""
    props = present[role]["Properties"]
    # A permissions boundary only narrows; it is checked on every role above.
    if props.get("ManagedPolicyArns"):
        raise CheckError(f"the function's role has managed policies: {props.get('ManagedPolicyArns')}")
    others = [k for k, r in present.items() if r.get("Type") == "AWS::IAM::Role" and k != role]
    forwards = ev.params.get("DecisionEvents", "true") == "true" and ev.params.get("CentralEventBusArn", "")
    partition, account = PSEUDO["AWS::Partition"], PSEUDO["AWS::AccountId"]
    reader = ev.params.get("FleetReaderPrincipalArn", "") if ev.params.get("PrimaryRegion", "us-east-1") == PSEUDO["AWS::Region"] else ""
    if sorted(others) != sorted((["DecisionForwardRole"] if forwards else []) + (["FleetReaderRole"] if reader else [])):
        raise CheckError(f"roles other than the function's (DecisionForwardRole with CentralEventBusArn, "
                         f"FleetReaderRole with FleetReaderPrincipalArn in PrimaryRegion): {others}")
    if reader:
        fr = ev.ev(present["FleetReaderRole"]["Properties"])
        trust = fr["AssumeRolePolicyDocument"]["Statement"]
        if trust != [{"Effect": "Allow", "Principal": {"AWS": reader}, "Action": "sts:AssumeRole"}]:
            raise CheckError(f"FleetReaderRole trusts FleetReaderPrincipalArn only: {trust}")
        read_only = {"ec2:DescribeVpcEndpointConnections", "ec2:DescribeVpcEndpointServiceConfigurations",
                     "ec2:DescribeVpcEndpointServicePermissions", "ssm:GetParameter", "ssm:GetParametersByPath", "kms:Decrypt"}
        sts_ = [st for p in fr.get("Policies", []) for st in as_list(p["PolicyDocument"]["Statement"])]
        acts = {a for st in sts_ for a in as_list(st["Action"])}
        if not acts <= read_only or fr.get("ManagedPolicyArns"):
            raise CheckError(f"FleetReaderRole may only read: {sorted(acts - read_only)}")
        # Only the policy's parameter(s), in any Region, and decrypting
        # only them: never the rest of Parameter Store.
        pname = ev.params["PolicyParameterName"]
        if pname.startswith("arn:"):
            parts = pname.split(":")
            policy_arn = ":".join(parts[:3] + ["*"] + parts[4:])
        else:
            name = pname if pname.startswith("/") else "/" + pname
            policy_arn = f"arn:{partition}:ssm:*:{account}:parameter{name}" + ("*" if pname.endswith("/") else "")
        readable = [policy_arn]
        if pname.endswith("/"):
            base = f"arn:{partition}:ssm:*:{account}:parameter{pname.rstrip('/')}"
            readable = [base, base + "/*"]
        for st in sts_:
            actions = set(as_list(st["Action"]))
            if actions & {"ssm:GetParameter", "ssm:GetParametersByPath"} and as_list(st["Resource"]) != readable:
                raise CheckError(f"FleetReaderRole reads the policy only ({readable}): {st['Resource']}")
            if "kms:Decrypt" in actions and st.get("Condition", {}).get("StringLike", {}).get("kms:EncryptionContext:PARAMETER_ARN") != policy_arn:
                raise CheckError(f"FleetReaderRole decrypts the policy only: {st.get('Condition')}")
    if forwards:
        fwd = ev.ev(present["DecisionForwardRole"]["Properties"])
        trust = fwd["AssumeRolePolicyDocument"]["Statement"]
        if trust != [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": PSEUDO["AWS::AccountId"]}}}]:
            raise CheckError(f"DecisionForwardRole trusts EventBridge of this account only: {trust}")
        grants = [st for p in fwd.get("Policies", []) for st in as_list(p["PolicyDocument"]["Statement"])]
        if grants != [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": forwards}] or fwd.get("ManagedPolicyArns"):
            raise CheckError(f"DecisionForwardRole may only put events on the central bus: {grants}")
    partition, region, account = PSEUDO["AWS::Partition"], PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
    group = ev.ref("ApproverFunctionLogGroup")
    logs = {f"arn:{partition}:logs:{region}:{account}:log-group:{group}:*"}
    queue = {ev.getatt("ConnectionNotificationQueue", "Arn")}
    services = {f"arn:{partition}:ec2:{region}:{account}:vpc-endpoint-service/*"} | {
        f"arn:*:ec2:*:*:vpc-endpoint-service/{sid}" for sid in ev.params["ServiceIds"] if sid}
    connections = {f"arn:{partition}:ec2:{region}:{account}:vpc-endpoint-connection/*"}
    name = ev.params["PolicyParameterName"]
    path = name.rstrip("/") if name.endswith("/") else None
    if name.startswith("arn:"):
        param = name  # a shared parameter: that ARN only
    else:
        param = f"arn:{partition}:ssm:{region}:{account}:parameter" + (path if path else (name if name.startswith("/") else "/" + name))
    key = ev.params.get("PolicyKeyArn") or f"arn:{partition}:kms:{region}:{account}:key/*"
    allowed = {
        "logs:CreateLogStream": logs, "logs:PutLogEvents": logs,
        "sqs:ReceiveMessage": queue, "sqs:DeleteMessage": queue, "sqs:GetQueueAttributes": queue,
        "ec2:AcceptVpcEndpointConnections": services, "ec2:RejectVpcEndpointConnections": services,
        "ec2:CreateVpcEndpointConnectionNotification": services,
        # Every service of this account and Region: the cleanup removes
        # notifications on services no longer managed too.
        "ec2:DeleteVpcEndpointConnectionNotifications": {f"arn:{partition}:ec2:{region}:{account}:vpc-endpoint-service/*"},
        "ec2:CreateTags": connections, "ec2:DeleteTags": connections,
        "ssm:GetParameter": {param + "/*" if path else param}, "ssm:GetParametersByPath": {param},
        "kms:Decrypt": {key},
        "sns:Publish": {ev.ref("DecisionTopic")},
        "sts:AssumeRole": {ev.params.get("OrganizationRoleArn", "")},
        "events:PutEvents": {f"arn:{partition}:events:{region}:{account}:event-bus/default"},
    }
    tag_keys = {"ForAllValues:StringLike": {"aws:TagKeys": "privatelink-approver:*"}, "Null": {"aws:TagKeys": "false"}}
    # Under a path, the parameters below it: the path's ARN with its "/".
    parameter_arn = param + "/*" if path else param
    must_carry = {
        "ec2:CreateTags": tag_keys,
        "ec2:DeleteTags": tag_keys,
        "events:PutEvents": {"ForAllValues:StringEquals": {"events:source": "privatelink-approver"},
                             "StringEquals": {"events:detail-type": "PrivateLink Connection Decision"}},
        "kms:Decrypt": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"},
                        "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": parameter_arn}},
    }
    pinned = {"StringEquals": {"aws:ResourceAccount": account, "aws:RequestedRegion": region}}
    required = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                "sqs:GetQueueAttributes", "ec2:DescribeVpcEndpointConnections", "ec2:DescribeVpcEndpointServiceConfigurations",
                "ec2:AcceptVpcEndpointConnections", "ec2:RejectVpcEndpointConnections", "ec2:CreateTags", "ec2:DeleteTags",
                "ssm:GetParameter", "kms:Decrypt", "sns:Publish", REGISTER, LIST_NOTIFICATIONS, REMOVE_NOTIFICATIONS}
    required |= {"ssm:GetParametersByPath"} if path else set()
    required |= {"events:PutEvents"} if ev.params.get("DecisionEvents", "true") == "true" else set()
    required |= {"sts:AssumeRole"} if ev.params.get("OrganizationRoleArn") else set(ORG_READ_ACTIONS)
    granted = set()
    checked = 0
    for doc_name, doc in docs:
        for st in as_list(doc.get("Statement", [])):
            where = f"{doc_name} {st.get('Sid', '(no Sid)')}"
            if st.get("Effect") != "Allow" or set(st) & {"NotAction", "NotResource", "NotPrincipal"}:
                raise CheckError(f"{where}: only Allow statements with Action and Resource")
            actions, resources = as_list(st.get("Action")), as_list(st.get("Resource"))
            for action in actions:
                if "*" in action or action not in SCOPED_ACTIONS | set(NO_RESOURCE_ACTIONS):
                    raise CheckError(f"{where}: {action!r} is not an action the function needs (add it here deliberately)")
                for res in resources:
                    checked += 1
                    if res == "*":
                        if action not in NO_RESOURCE_ACTIONS:
                            raise CheckError(f"{where}: {action} on \"*\": it takes a resource, name it")
                        continue
                    if action in NO_RESOURCE_ACTIONS or res not in allowed[action]:
                        raise CheckError(f"{where}: {action} on {res}, expected one of {sorted(allowed.get(action, {'*'}))}")
            granted |= set(actions)
            cond = st.get("Condition", {})
            for action in actions:
                if action in must_carry and cond != must_carry[action]:
                    raise CheckError(f"{where}: {action} must carry exactly {must_carry[action]}, has {cond}")
            if any(r.startswith("arn:*:") for r in resources) and cond != pinned:
                raise CheckError(f"{where}: wildcard ARNs must be pinned to this account and Region exactly: {cond}")
    missing = sorted(required - granted)
    if missing:
        raise CheckError(f"the function cannot work without {missing}")
    return checked


def check_rule_patterns(ev: "Evaluator", present: dict) -> None:
    """The event rules take only what they should, once translated: each
    pattern exactly as expected."""
    rules = [ev.ev(r["Properties"]) for r in present.values() if r.get("Type") == "AWS::Events::Rule"]
    patterns = [r["EventPattern"] for r in rules if "EventPattern" in r]
    account = PSEUDO["AWS::AccountId"]
    name = ev.params["PolicyParameterName"]
    want = [
        {"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
         "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["CreateVpcEndpoint"], "errorCode": [{"exists": False}]}},
        {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"], "account": [account],
         "detail": {"name": [{"prefix": name}] if name.endswith("/") else [name]}},
        {"source": ["aws.organizations"], "detail-type": ["AWS API Call via CloudTrail"],
         "detail": {"eventSource": ["organizations.amazonaws.com"],
                    "eventName": ["MoveAccount", "RemoveAccountFromOrganization", "LeaveOrganization", "AcceptHandshake"]},
         "account": [ev.params.get("OrganizationEventsAccountId") or account]},
        {"source": ["aws.organizations"], "detail-type": ["AWS Service Event via CloudTrail"],
         "detail": {"eventSource": ["organizations.amazonaws.com"], "eventName": ["CreateAccountResult"]},
         "account": [ev.params.get("OrganizationEventsAccountId") or account]},
    ]
    if ev.params.get("DecisionEvents", "true") == "true" and ev.params.get("CentralEventBusArn", ""):
        want.append({"source": ["privatelink-approver"], "detail-type": ["PrivateLink Connection Decision"], "account": [account]})
    key = lambda p: json.dumps(p, sort_keys=True)
    if sorted(map(key, patterns)) != sorted(map(key, want)):
        raise CheckError(f"the event patterns are {sorted(map(key, patterns))}, expected exactly {sorted(map(key, want))}")


# ----------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("--keep", type=Path, help="also write the translated templates to this directory")
    parser.add_argument("--org-reader", type=Path, help="also check this management-account template (org/org-reader-role.yaml)")
    parser.add_argument("--org", type=Path, help="also check the organization's templates in this directory (central-policy.yaml, stackset.yaml)")
    args = parser.parse_args()
    if not args.template.is_file():
        print(f"ERROR: {args.template}: no such file", file=sys.stderr)
        return 2

    deps = load_dependencies()
    # Offline and deterministic: SAM looks the region up through boto3; never
    # let a profile or credentials from the environment play a part.
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    print(f"using cfn-lint {deps['cfnlint_version']}, aws-sam-translator {deps['samtranslator_version']}")
    failures = 0

    def step(label: str, fn) -> Any:
        nonlocal failures
        try:
            detail = fn()
        except CheckError as exc:
            failures += 1
            print(f"FAIL {label}: {exc}")
            return None
        print(f"PASS {label}" + (f": {detail}" if isinstance(detail, str) and detail else ""))
        return True

    text = args.template.read_text(encoding="utf-8")
    try:
        tpl = deps["yaml_parse"](text)
    except Exception as exc:  # yaml.YAMLError and friends
        print(f"FAIL parse {args.template}: {exc}")
        return 1
    if not isinstance(tpl, dict):
        print(f"ERROR: {args.template} is not a YAML mapping", file=sys.stderr)
        return 1

    step("contract", lambda: check_contract(text, tpl, args.template.resolve().parent))
    step(f"cfn-lint {args.template}", lambda: run_cfn_lint(deps, args.template))
    if args.org_reader:
        if not args.org_reader.is_file():
            print(f"ERROR: {args.org_reader}: no such file", file=sys.stderr)
            return 2
        reader_text = args.org_reader.read_text(encoding="utf-8")
        events_dir = args.template.resolve().parent / "events"
        step(f"contract {args.org_reader}",
             lambda: check_org_reader(reader_text, deps["yaml_parse"](reader_text), events_dir))
        step(f"cfn-lint {args.org_reader}", lambda: run_cfn_lint(deps, args.org_reader))

    if args.org:
        central, stackset = args.org / "central-policy.yaml", args.org / "stackset.yaml"
        step(f"contract {central}", lambda: check_central_policy(deps["yaml_parse"](central.read_text(encoding="utf-8"))))
        step(f"cfn-lint {central}", lambda: run_cfn_lint(deps, central))
        step(f"contract {stackset}", lambda: check_stackset(deps["yaml_parse"](stackset.read_text(encoding="utf-8")), tpl))
        step(f"cfn-lint {stackset}", lambda: run_cfn_lint(deps, stackset))

    with tempfile.TemporaryDirectory(prefix="template-check-") as tmp:
        outdir = args.keep or Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        for scenario, values in SCENARIOS.items():
            out_path = outdir / f"translated-{scenario}.json"

            def translate(values=values, out_path=out_path) -> str:
                cfn = sam_translate(deps, with_sample_values(tpl, values))
                out_path.write_text(json.dumps(cfn, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                return check_translated(cfn, values)

            if step(f"translate [{scenario}]", translate):
                step(f"cfn-lint translated [{scenario}]", lambda p=out_path: run_cfn_lint(deps, p))

    if failures:
        print(f"{failures} check(s) failed")
        return 1
    print("all template checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
