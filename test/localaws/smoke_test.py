"""End-to-end check of moto_privatelink.py against a real server process.

Run from the repository root:  python3 test/localaws/smoke_test.py

Starts the launcher on a free 127.0.0.1 port, sets up a provider service with
awscli (as an operator would) and consumer endpoints with boto3 (awscli cannot
send the x-moto-account-id header that selects a consumer account), checks
every addition, stops the server and exits non-zero on the first failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "moto_privatelink.py"

PROVIDER = "123456789012"  # moto's default account
CONSUMER_A = "111111111111"
CONSUMER_B = "222222222222"
CONSUMER_C = "333333333333"  # connects from another region
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"

TAG_UNSUCCESSFUL = "privatelink-test:unsuccessful"
TAG_DECIDED_BY_PERSON = "privatelink-test:decided-by-person"
TAG_DELETED_BY_CONSUMER = "privatelink-test:deleted-by-consumer"

# One attempt per call, so a client sees each injected fault. Not
# {"max_attempts": 1}: in botocore's default (legacy) mode that means one
# *retry*, which would hide every other fault.
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited early with code {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not listen on port {port} within {timeout}s")


class Env:
    """Clients and files of one server run."""

    def __init__(self, port: int, control_file: Path, stats_file: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.control_file = control_file
        self.stats_file = stats_file

    def client(
        self, service: str, account: str = PROVIDER, region: str = REGION, config: Config | None = None
    ):
        client = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )
        if account != PROVIDER:
            def add_account_header(request, **_):
                request.headers["x-moto-account-id"] = account

            client.meta.events.register("before-sign.*.*", add_account_header)
        return client

    def aws(self, *args: str, region: str = REGION) -> dict:
        """Run awscli v1 as the provider and return its JSON output."""
        cmd = ["aws", "--endpoint-url", self.url, "--region", region, "--output", "json", *args]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else {}

    def set_control(self, control: dict | None) -> None:
        if control is None:
            self.control_file.unlink(missing_ok=True)
        else:
            self.control_file.write_text(json.dumps(control))


def expect_error(call, code: str, status: int = 400) -> None:
    try:
        call()
    except ClientError as e:
        got_code = e.response["Error"]["Code"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (got_code, got_status) == (code, status), (
            f"expected {code}/{status}, got {got_code}/{got_status}"
        )
        return
    raise AssertionError(f"expected error {code}, call succeeded")


def unsuccessful_codes(response: dict) -> dict[str, str]:
    return {item["ResourceId"]: item["Error"]["Code"] for item in response.get("Unsuccessful", [])}


def create_consumer_endpoint(
    env: Env, account: str, service_name: str, region: str = REGION, tags: dict | None = None
) -> str:
    ec2 = env.client("ec2", account, region)
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    kwargs = {}
    if tags:
        kwargs["TagSpecifications"] = [
            {
                "ResourceType": "vpc-endpoint",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
    return ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        ServiceName=service_name,
        VpcEndpointType="Interface",
        SubnetIds=[subnet_id],
        **kwargs,
    )["VpcEndpoint"]["VpcEndpointId"]


def endpoint_state(env: Env, account: str, endpoint_id: str, region: str = REGION) -> str:
    ec2 = env.client("ec2", account, region)
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"]


def run_checks(env: Env) -> None:
    calls: dict[str, int] = {}  # calls this test makes, to compare with the stats file

    def count(key: str, n: int = 1) -> None:
        calls[key] = calls.get(key, 0) + n

    # --- Provider setup with awscli -----------------------------------------
    vpc_id = env.aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = env.aws(
        "ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.0.1.0/24"
    )["Subnet"]["SubnetId"]
    nlb_arn = env.aws(
        "elbv2", "create-load-balancer", "--name", "provider-nlb", "--type", "network", "--subnets", subnet_id
    )["LoadBalancers"][0]["LoadBalancerArn"]
    service = env.aws(
        "ec2", "create-vpc-endpoint-service-configuration",
        "--acceptance-required", "--network-load-balancer-arns", nlb_arn,
    )["ServiceConfiguration"]
    open_service = env.aws(
        "ec2", "create-vpc-endpoint-service-configuration",
        "--no-acceptance-required", "--network-load-balancer-arns", nlb_arn,
    )["ServiceConfiguration"]
    service_id, service_name = service["ServiceId"], service["ServiceName"]
    count("ec2:CreateVpc")
    count("ec2:CreateSubnet")
    count("elbv2:CreateLoadBalancer")
    count("ec2:CreateVpcEndpointServiceConfiguration", 2)
    print(f"provider service {service_id} ({service_name})")

    # --- Consumer endpoints, in creation order -------------------------------
    a1 = create_consumer_endpoint(env, CONSUMER_A, service_name)
    a2 = create_consumer_endpoint(env, CONSUMER_A, service_name)
    b_fails = create_consumer_endpoint(
        env, CONSUMER_B, service_name, tags={TAG_UNSUCCESSFUL: "OperationNotPermitted"}
    )
    b_person_accepts = create_consumer_endpoint(
        env, CONSUMER_B, service_name, tags={TAG_DECIDED_BY_PERSON: "accept"}
    )
    b_person_rejects = create_consumer_endpoint(
        env, CONSUMER_B, service_name, tags={TAG_DECIDED_BY_PERSON: "reject"}
    )
    c1 = create_consumer_endpoint(env, CONSUMER_C, service_name, region=OTHER_REGION)
    open_endpoint = create_consumer_endpoint(env, CONSUMER_A, open_service["ServiceName"])
    pending = [a1, a2, b_fails, b_person_accepts, b_person_rejects, c1]
    count("ec2:CreateVpc", 7)
    count("ec2:CreateSubnet", 7)
    count("ec2:CreateVpcEndpoint", 7)

    # CreateVpcEndpoint: pending only when the service requires acceptance,
    # also across accounts and regions.
    assert endpoint_state(env, CONSUMER_A, a1) == "pendingAcceptance"
    assert endpoint_state(env, CONSUMER_C, c1, OTHER_REGION) == "pendingAcceptance"
    assert endpoint_state(env, CONSUMER_A, open_endpoint) == "available"
    count("ec2:DescribeVpcEndpoints", 3)

    # --- DescribeVpcEndpointConnections --------------------------------------
    ec2 = env.client("ec2")

    def describe(**kwargs) -> dict:
        count("ec2:DescribeVpcEndpointConnections")
        return ec2.describe_vpc_endpoint_connections(**kwargs)

    everything = describe()
    assert "NextToken" not in everything
    conns = everything["VpcEndpointConnections"]
    assert [c["VpcEndpointId"] for c in conns] == pending + [open_endpoint], conns
    by_id = {c["VpcEndpointId"]: c for c in conns}
    first = by_id[a1]
    assert first["ServiceId"] == service_id
    assert first["VpcEndpointOwner"] == CONSUMER_A
    assert first["VpcEndpointState"] == "pendingAcceptance"
    assert first["NetworkLoadBalancerArns"] == [nlb_arn]
    assert isinstance(first["CreationTimestamp"], datetime)
    assert first["VpcEndpointConnectionId"] == "vpce-conn-" + a1.removeprefix("vpce-")
    assert "Tags" not in first
    assert first["DnsEntries"] and first["DnsEntries"][0]["DnsName"].startswith(a1)
    assert "VpcEndpointRegion" not in first
    assert by_id[c1]["VpcEndpointRegion"] == OTHER_REGION
    assert by_id[c1]["VpcEndpointOwner"] == CONSUMER_C
    assert by_id[open_endpoint]["VpcEndpointState"] == "available"

    def ids(**kwargs) -> list[str]:
        return [c["VpcEndpointId"] for c in describe(**kwargs)["VpcEndpointConnections"]]

    def f(name: str, *values: str) -> list[dict]:
        return [{"Name": name, "Values": list(values)}]

    assert ids(Filters=f("service-id", service_id)) == pending
    assert ids(Filters=f("vpc-endpoint-state", "PendingAcceptance")) == pending
    assert ids(Filters=f("vpc-endpoint-owner", CONSUMER_B)) == [b_fails, b_person_accepts, b_person_rejects]
    assert ids(Filters=f("vpc-endpoint-id", a2, c1)) == [a2, c1]
    assert ids(Filters=f("vpc-endpoint-region", OTHER_REGION)) == [c1]
    assert ids(Filters=f("service-id", service_id) + f("vpc-endpoint-owner", CONSUMER_A)) == [a1, a2]
    expect_error(lambda: describe(Filters=f("tag:Name", "x")), "InvalidParameterValue")
    expect_error(lambda: describe(MaxResults=4), "InvalidParameterValue")
    expect_error(lambda: describe(MaxResults=1001), "InvalidParameterValue")
    expect_error(lambda: describe(NextToken="not-a-token"), "InvalidNextToken")

    # Only the service owner, in the service's region, sees the connections.
    for outsider in (env.client("ec2", CONSUMER_A), env.client("ec2", region=OTHER_REGION)):
        assert outsider.describe_vpc_endpoint_connections()["VpcEndpointConnections"] == []
    count("ec2:DescribeVpcEndpointConnections", 2)

    # Paging: the control file caps pages below the requested MaxResults.
    env.set_control({"maxPageSize": 2})
    pages, token = [], None
    while True:
        page = describe(MaxResults=5, **({"NextToken": token} if token else {}))
        pages.append([c["VpcEndpointId"] for c in page["VpcEndpointConnections"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [pending[0:2], pending[2:4], pending[4:6], [open_endpoint]], pages
    # Filters still apply on later pages.
    page1 = describe(MaxResults=5, Filters=f("vpc-endpoint-owner", CONSUMER_B))
    page2 = describe(
        MaxResults=5, Filters=f("vpc-endpoint-owner", CONSUMER_B), NextToken=page1["NextToken"]
    )
    both = page1["VpcEndpointConnections"] + page2["VpcEndpointConnections"]
    assert [c["VpcEndpointId"] for c in both] == [b_fails, b_person_accepts, b_person_rejects]
    assert "NextToken" not in page2
    # awscli pages automatically; it must still see everything.
    cli = env.aws("ec2", "describe-vpc-endpoint-connections")["VpcEndpointConnections"]
    count("ec2:DescribeVpcEndpointConnections", 4)
    assert [c["VpcEndpointId"] for c in cli] == pending + [open_endpoint]
    env.set_control({"maxPageSize": 2, "noSuchKey": 1})
    expect_error(lambda: describe(), "PrivateLinkTest.InvalidControlFile")
    env.set_control(None)
    uncapped = describe(MaxResults=5)
    assert len(uncapped["VpcEndpointConnections"]) == 5 and uncapped["NextToken"]

    # --- Accept / Reject ------------------------------------------------------
    def accept(ids_: list[str], client=ec2, sid: str = service_id) -> dict:
        count("ec2:AcceptVpcEndpointConnections")
        return client.accept_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=ids_)

    def reject(ids_: list[str], client=ec2, sid: str = service_id) -> dict:
        count("ec2:RejectVpcEndpointConnections")
        return client.reject_vpc_endpoint_connections(ServiceId=sid, VpcEndpointIds=ids_)

    # Service owned by someone else / in another region / unknown: HTTP 400.
    no_service = "InvalidVpcEndpointServiceId.NotFound"
    expect_error(lambda: accept([a1], client=env.client("ec2", CONSUMER_A)), no_service)
    expect_error(lambda: reject([a1], client=env.client("ec2", region=OTHER_REGION)), no_service)
    expect_error(lambda: accept([a1], sid="vpce-svc-00000000"), no_service)
    expect_error(lambda: accept([f"vpce-{i:017x}" for i in range(1001)]), "InvalidParameterValue")
    assert endpoint_state(env, CONSUMER_A, a1) == "pendingAcceptance"

    result = accept([a1, b_fails, b_person_accepts, c1, "vpce-0000000000000dead", open_endpoint])
    assert unsuccessful_codes(result) == {
        b_fails: "OperationNotPermitted",
        b_person_accepts: "InvalidState",
        "vpce-0000000000000dead": "InvalidVpcEndpointId.NotFound",
        open_endpoint: "InvalidVpcEndpointId.NotFound",  # belongs to the other service
    }, result
    assert all(item["Error"]["Message"] for item in result["Unsuccessful"])

    result = reject([a2, b_person_rejects])
    assert unsuccessful_codes(result) == {b_person_rejects: "InvalidState"}, result
    assert accept([])["Unsuccessful"] == []

    # States after, as the consumers see them and as the provider sees them.
    assert endpoint_state(env, CONSUMER_A, a1) == "available"
    assert endpoint_state(env, CONSUMER_A, a2) == "rejected"
    assert endpoint_state(env, CONSUMER_B, b_fails) == "pendingAcceptance"
    assert endpoint_state(env, CONSUMER_B, b_person_accepts) == "available"
    assert endpoint_state(env, CONSUMER_B, b_person_rejects) == "rejected"
    assert endpoint_state(env, CONSUMER_C, c1, OTHER_REGION) == "available"
    count("ec2:DescribeVpcEndpoints", 7)
    states = {c["VpcEndpointId"]: c["VpcEndpointState"] for c in describe()["VpcEndpointConnections"]}
    assert states == {
        a1: "available", a2: "rejected", b_fails: "pendingAcceptance", b_person_accepts: "available",
        b_person_rejects: "rejected", c1: "available", open_endpoint: "available",
    }, states
    assert ids(Filters=f("vpc-endpoint-state", "pendingacceptance")) == [b_fails]

    # A decided connection is not decided again, but an accepted one can be
    # rejected later (revoked), as on AWS.
    assert unsuccessful_codes(accept([a1])) == {a1: "InvalidState"}
    assert unsuccessful_codes(reject([a2])) == {a2: "InvalidState"}
    assert unsuccessful_codes(reject([a1])) == {}
    assert endpoint_state(env, CONSUMER_A, a1) == "rejected"
    count("ec2:DescribeVpcEndpoints")

    def new_endpoint(account: str, tags: dict | None = None) -> str:
        count("ec2:CreateVpc")
        count("ec2:CreateSubnet")
        count("ec2:CreateVpcEndpoint")
        return create_consumer_endpoint(env, account, service_name, tags=tags)

    def state(account: str, endpoint_id: str) -> str:
        count("ec2:DescribeVpcEndpoints")
        return endpoint_state(env, account, endpoint_id)

    # --- Consumer deleted the endpoint just before our call -------------------
    # As moto's DeleteVpcEndpoints: the endpoint stays, "deleted", for both sides.
    gone_accepted = new_endpoint(CONSUMER_B, {TAG_DELETED_BY_CONSUMER: "true"})
    gone_rejected = new_endpoint(CONSUMER_B, {TAG_DELETED_BY_CONSUMER: "true"})
    badly_tagged = new_endpoint(CONSUMER_B, {TAG_DELETED_BY_CONSUMER: "yes"})
    assert state(CONSUMER_B, gone_accepted) == "pendingAcceptance"
    assert unsuccessful_codes(accept([gone_accepted])) == {gone_accepted: "InvalidState"}
    assert unsuccessful_codes(reject([gone_rejected])) == {gone_rejected: "InvalidState"}
    assert state(CONSUMER_B, gone_accepted) == "deleted"
    assert state(CONSUMER_B, gone_rejected) == "deleted"
    seen = describe(Filters=f("vpc-endpoint-id", gone_accepted, gone_rejected))["VpcEndpointConnections"]
    assert [c["VpcEndpointState"] for c in seen] == ["deleted", "deleted"], seen
    expect_error(lambda: accept([badly_tagged]), "InvalidParameterValue")
    assert state(CONSUMER_B, badly_tagged) == "pendingAcceptance"

    # --- Fault injection ------------------------------------------------------
    # Every N-th call fails, before the action runs.
    ec2_once = env.client("ec2", config=NO_RETRIES)
    connections_before = describe()["VpcEndpointConnections"]
    env.set_control({"faults": [{
        "action": "ec2:DescribeVpcEndpointConnections", "code": "RequestLimitExceeded",
        "status": 503, "every": 2,
    }]})
    for call in range(1, 5):
        count("ec2:DescribeVpcEndpointConnections")
        if call % 2:
            seen = ec2_once.describe_vpc_endpoint_connections()["VpcEndpointConnections"]
            assert seen == connections_before, seen
        else:
            count("fault:ec2:DescribeVpcEndpointConnections")
            expect_error(ec2_once.describe_vpc_endpoint_connections, "RequestLimitExceeded", 503)

    # The next N calls fail; other actions and services are not affected.
    ssm = env.client("ssm", config=NO_RETRIES)
    ssm.put_parameter(Name="/smoke/param", Value="v", Type="String")
    count("ssm:PutParameter")
    env.set_control({"faults": [
        {"action": "ssm:GetParameter", "code": "ThrottlingException", "status": 400, "times": 2},
        {"action": "ssm:GetParametersByPath", "code": "InternalServerError", "status": 500, "times": 1},
    ]})
    for _ in range(2):
        expect_error(lambda: ssm.get_parameter(Name="/smoke/param"), "ThrottlingException", 400)
    assert ssm.get_parameter(Name="/smoke/param")["Parameter"]["Value"] == "v"
    count("ssm:GetParameter", 3)
    count("fault:ssm:GetParameter", 2)
    expect_error(lambda: ssm.get_parameters_by_path(Path="/smoke"), "InternalServerError", 500)
    listed = ssm.get_parameters_by_path(Path="/smoke")["Parameters"]
    assert [p["Name"] for p in listed] == ["/smoke/param"], listed
    count("ssm:GetParametersByPath", 2)
    count("fault:ssm:GetParametersByPath")
    assert describe()["VpcEndpointConnections"] == connections_before

    # A failed decision changes nothing; the next call goes through.
    late = new_endpoint(CONSUMER_A)
    accept_fails_once = {"faults": [{
        "action": "ec2:AcceptVpcEndpointConnections", "code": "InternalError", "status": 500, "times": 1,
    }]}
    env.set_control(accept_fails_once)
    expect_error(lambda: accept([late], client=ec2_once), "InternalError", 500)
    count("fault:ec2:AcceptVpcEndpointConnections")
    assert state(CONSUMER_A, late) == "pendingAcceptance"
    # Rewriting the same rule starts it again. The pause is for file systems
    # whose modification times only change every few milliseconds.
    time.sleep(0.05)
    env.set_control(accept_fails_once)
    expect_error(lambda: accept([late], client=ec2_once), "InternalError", 500)
    count("fault:ec2:AcceptVpcEndpointConnections")
    assert accept([late], client=ec2_once)["Unsuccessful"] == []
    assert state(CONSUMER_A, late) == "available"

    # A bad rule fails every request, of any service, with a 400.
    ok = {"action": "ec2:RejectVpcEndpointConnections", "code": "InternalError", "status": 500}
    bad_control = "PrivateLinkTest.InvalidControlFile"
    for faults in (
        {"action": "ec2:DescribeVpcEndpointConnection", "code": "X", "status": 500, "every": 1},
        {"action": "ec2", "code": "X", "status": 500, "every": 1},
        {"action": "nosuchservice:Describe", "code": "X", "status": 500, "every": 1},
        {"action": "s3:GetObject", "code": "X", "status": 500, "every": 1},
        {**ok, "every": 1, "times": 1},
        ok,
        {**ok, "every": 0},
        {**ok, "times": True},
        {**ok, "times": 1, "status": 200},
        {**ok, "times": 1, "code": ""},
        {**ok, "times": 1, "unknown": 1},
        {**ok, "times": 1, "after": "yes"},
        [{**ok, "times": 1}, {**ok, "every": 3}],
        "not a list",
    ):
        env.set_control({"faults": faults if isinstance(faults, list | str) else [faults]})
        expect_error(ec2_once.describe_vpc_endpoint_connections, bad_control)
        count("ec2:DescribeVpcEndpointConnections")
    expect_error(lambda: ssm.get_parameter(Name="/smoke/param"), bad_control)
    count("ssm:GetParameter")
    env.set_control(None)

    # --- Connection tags ------------------------------------------------------
    conn = {c["VpcEndpointId"]: c["VpcEndpointConnectionId"] for c in describe()["VpcEndpointConnections"]}

    def tags_of(endpoint_id: str) -> dict[str, str]:
        (c,) = describe(Filters=f("vpc-endpoint-id", endpoint_id))["VpcEndpointConnections"]
        return {t["Key"]: t["Value"] for t in c.get("Tags", [])}

    def tag(ids_: list[str], tags: dict[str, str], client=ec2) -> None:
        count("ec2:CreateTags")
        client.create_tags(Resources=ids_, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag(ids_: list[str], keys: list[str]) -> None:
        count("ec2:DeleteTags")
        ec2.delete_tags(Resources=ids_, Tags=[{"Key": k} for k in keys])

    stamp = {"privatelink-approver:decision": "accepted", "privatelink-approver:rule": "partner"}
    tag([conn[late], conn[b_fails]], stamp)  # available and pendingAcceptance alike
    assert tags_of(late) == stamp
    assert tags_of(b_fails) == stamp
    assert tags_of(a2) == {}
    tag([conn[late]], {"privatelink-approver:rule": "person", "privatelink-approver:by": "arn:x"})
    assert tags_of(late) == {**stamp, "privatelink-approver:rule": "person", "privatelink-approver:by": "arn:x"}
    untag([conn[late]], ["privatelink-approver:by"])
    assert tags_of(late) == {**stamp, "privatelink-approver:rule": "person"}
    # Only the service owner's connections, and AWS's tag limits.
    expect_error(lambda: tag([conn[late]], {"k": "v"}, client=env.client("ec2", CONSUMER_A)),
                 "InvalidVpcEndpointConnectionId.NotFound")
    expect_error(lambda: tag(["vpce-conn-0000000000000dead"], {"k": "v"}), "InvalidVpcEndpointConnectionId.NotFound")
    expect_error(lambda: tag([conn[late]], {"aws:x": "v"}), "InvalidParameterValue")
    expect_error(lambda: tag([conn[late]], {"k": "v" * 257}), "InvalidParameterValue")
    expect_error(lambda: tag([conn[late]], {f"k{i}": "v" for i in range(50)}), "TagLimitExceeded")
    # Other resources are still tagged by moto itself.
    tag([vpc_id], {"Name": "provider"})
    # A test can make pending connections untaggable.
    env.set_control({"untaggableStates": ["pendingAcceptance"]})
    expect_error(lambda: tag([conn[b_fails]], {"privatelink-approver:announced-at": "now"}), "UnsupportedOperation")
    tag([conn[late]], {"privatelink-approver:decided-at": "now"})
    env.set_control(None)

    # --- Reads that fail for one service --------------------------------------
    other_service = env.aws(
        "ec2", "create-vpc-endpoint-service-configuration",
        "--acceptance-required", "--network-load-balancer-arns", nlb_arn,
    )["ServiceConfiguration"]
    count("ec2:CreateVpcEndpointServiceConfiguration")
    def describe_once(**kwargs) -> dict:
        count("ec2:DescribeVpcEndpointConnections")
        return ec2_once.describe_vpc_endpoint_connections(**kwargs)

    env.set_control({"maxPageSize": 2, "failDescribe": [
        {"serviceId": service_id, "code": "RequestLimitExceeded", "status": 503, "fromPage": 2}]})
    first_page = describe_once(MaxResults=5, Filters=f("service-id", service_id))
    assert len(first_page["VpcEndpointConnections"]) == 2 and first_page["NextToken"]
    expect_error(lambda: describe_once(MaxResults=5, Filters=f("service-id", service_id), NextToken=first_page["NextToken"]),
                 "RequestLimitExceeded", 503)
    assert describe_once(Filters=f("service-id", other_service["ServiceId"]))["VpcEndpointConnections"] == []
    env.set_control({"failDescribe": [{"serviceId": service_id, "code": "InternalError", "status": 500}]})
    expect_error(lambda: describe_once(Filters=f("service-id", service_id)), "InternalError", 500)
    expect_error(lambda: describe_once(), "InternalError", 500)  # no filter: every service, that one too
    env.set_control({"failDescribe": [{"serviceId": "svc-1", "code": "X", "status": 500}]})
    expect_error(lambda: describe_once(), "PrivateLinkTest.InvalidControlFile")
    env.set_control(None)

    # --- A call applied, then its answer lost ---------------------------------
    lost = new_endpoint(CONSUMER_A)
    env.set_control({"faults": [{
        "action": "ec2:AcceptVpcEndpointConnections", "code": "InternalError", "status": 500, "times": 1, "after": True,
    }]})
    expect_error(lambda: accept([lost], client=ec2_once), "InternalError", 500)
    count("fault:ec2:AcceptVpcEndpointConnections")
    assert state(CONSUMER_A, lost) == "available", "applied although the client saw a failure"
    assert unsuccessful_codes(accept([lost], client=ec2_once)) == {lost: "InvalidState"}
    env.set_control(None)

    # --- A slow API ------------------------------------------------------------
    env.set_control({"delays": {"ec2:DescribeVpcEndpointConnections": 0.3}})
    started = time.monotonic()
    describe(MaxResults=5)
    assert time.monotonic() - started >= 0.3, "the call took its delay"
    env.set_control({"delays": {"ec2:DescribeVpcEndpointConnections": 31}})
    expect_error(lambda: describe(), "PrivateLinkTest.InvalidControlFile")
    env.set_control(None)

    # --- Connection notifications -------------------------------------------
    sns = env.client("sns")
    sqs = env.client("sqs")
    topic = sns.create_topic(Name="connections")["TopicArn"]
    queue = sqs.create_queue(QueueName="connections")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    def notify(**kwargs) -> dict:
        count("ec2:CreateVpcEndpointConnectionNotification")
        return ec2.create_vpc_endpoint_connection_notification(**kwargs)

    def notifications(**kwargs) -> dict:
        count("ec2:DescribeVpcEndpointConnectionNotifications")
        return ec2.describe_vpc_endpoint_connection_notifications(**kwargs)

    made = notify(ServiceId=service_id, ConnectionNotificationArn=topic, ConnectionEvents=["Connect"])["ConnectionNotification"]
    assert made["ConnectionNotificationId"].startswith("vpce-nfn-") and made["ServiceId"] == service_id, made
    assert made["ConnectionEvents"] == ["Connect"] and made["ConnectionNotificationArn"] == topic
    notify(ServiceId=other_service["ServiceId"], ConnectionNotificationArn=topic, ConnectionEvents=["Accept", "Reject"])
    listed = notifications()["ConnectionNotificationSet"]
    assert sorted(n["ServiceId"] for n in listed) == sorted([service_id, other_service["ServiceId"]]), listed
    assert [n["ServiceId"] for n in notifications(Filters=f("service-id", service_id))["ConnectionNotificationSet"]] == [service_id]
    first = notifications(MaxResults=1)
    assert len(first["ConnectionNotificationSet"]) == 1 and first["NextToken"]
    assert len(notifications(MaxResults=1, NextToken=first["NextToken"])["ConnectionNotificationSet"]) == 1
    expect_error(lambda: notify(ServiceId="vpce-svc-00000000", ConnectionNotificationArn=topic, ConnectionEvents=["Connect"]),
                 "InvalidVpcEndpointServiceId.NotFound")
    expect_error(lambda: notify(ServiceId=service_id, ConnectionNotificationArn=topic + "-none", ConnectionEvents=["Connect"]),
                 "InvalidParameter")
    expect_error(lambda: notify(ServiceId=service_id, ConnectionNotificationArn=topic, ConnectionEvents=["Create"]),
                 "InvalidParameterValue")
    assert env.client("ec2", CONSUMER_A).describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"] == []
    count("ec2:DescribeVpcEndpointConnectionNotifications")
    # A new endpoint to the service with a Connect notification is announced
    # on the topic; one to a service without is not.
    announced = new_endpoint(CONSUMER_A)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1, messages
    body = json.loads(messages[0]["Body"])
    assert body == {"ServiceId": service_id, "VpcEndpointId": announced, "VpcEndpointOwner": CONSUMER_A,
                    "VpcEndpointState": "pendingAcceptance", "NotificationType": "Connect"}, body

    # --- Call counts ----------------------------------------------------------
    # Every request counts under its action, failed ones too; injected
    # failures also under "fault:<action>".
    stats = json.loads(env.stats_file.read_text())
    for key, n in calls.items():
        assert stats.get(key) == n, f"stats[{key!r}] = {stats.get(key)}, expected {n}; stats={stats}"
    faulted = {key for key in stats if key.startswith("fault:")}
    assert faulted == {key for key in calls if key.startswith("fault:")}, stats
    print("stats:", json.dumps(stats, sort_keys=True))


def main() -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="privatelink-smoke-") as tmp:
        env = Env(port, Path(tmp) / "control.json", Path(tmp) / "stats.json")
        server_env = dict(os.environ)
        server_env.pop("MOTO_ACCOUNT_ID", None)  # would override x-moto-account-id
        server_env["PRIVATELINK_CONTROL_FILE"] = str(env.control_file)
        server_env["PRIVATELINK_STATS_FILE"] = str(env.stats_file)
        os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        os.environ.pop("AWS_PROFILE", None)

        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
                env=server_env, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, server)
            run_checks(env)
        except Exception:
            print(f"--- server log ({log_path}) ---\n{log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print("SMOKE TEST PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
