"""moto_server with the PrivateLink provider-side API that moto 5.2.1 lacks.

Usage (same arguments as ``moto_server``; only 127.0.0.1 is accepted as host):

    python3 test/localaws/moto_privatelink.py -H 127.0.0.1 -p 5055

moto can create VPC endpoint *service configurations* and VPC endpoints, but
every endpoint is immediately ``available`` and the provider has no way to list
or decide connection requests. The approver Lambda needs exactly that, so this
launcher patches moto in-process before starting the real server:

* CreateVpcEndpoint: an endpoint to a service with ``AcceptanceRequired`` starts
  in ``pendingAcceptance`` (the service may live in any account and region, so
  cross-account and cross-region PrivateLink work).
* DescribeVpcEndpointConnections, AcceptVpcEndpointConnections,
  RejectVpcEndpointConnections: new EC2 Query API actions, shaped like AWS.
  Each connection has a VpcEndpointConnectionId (vpce-conn- and the
  endpoint's hex digits) and tags of its own.
* CreateTags / DeleteTags on vpce-conn-... IDs: the provider tags its
  connections (tags come back in DescribeVpcEndpointConnections). Other IDs
  go to moto as before.
* CreateVpcEndpointConnectionNotification and
  DescribeVpcEndpointConnectionNotifications for services (Connect, Accept,
  Delete, Reject events on an SNS topic of the provider's). A new endpoint
  to a service with a Connect notification publishes the notification to
  the topic, as EC2 does.
* Test hooks, set as tags on the consumer's endpoint:
    privatelink-test:unsuccessful = <ErrorCode>
        Accept/Reject report that error for the endpoint and change nothing.
    privatelink-test:decided-by-person = accept | reject
        Accept/Reject first move the pending endpoint to available/rejected,
        as if a person had decided just before our call (a lost race).
    privatelink-test:deleted-by-consumer = true
        Accept/Reject first delete the endpoint as moto's DeleteVpcEndpoints
        does (it stays, in state "deleted"), as if its consumer had deleted it
        just before our call; the decision then reports InvalidState.
    privatelink-test:hide-region = true
        DescribeVpcEndpointConnections leaves out the connection's
        VpcEndpointRegion, even for a cross-region endpoint (the EC2 API
        reference does not promise it); remove the tag to show it again.
* Organizations CreateAccount with the tag ``privatelink-test:account-id``
  gives the new member account that ID: an account that made requests
  from outside the organization can join it.
* PRIVATELINK_CONTROL_FILE: JSON file re-read on every request of every
  service, so a test can change behaviour of a running server, e.g.
      {"maxPageSize": 2,
       "faults": [{"action": "ec2:AcceptVpcEndpointConnections",
                   "code": "InternalError", "status": 500, "times": 1}]}
  Keys: see ``Control``; fault rules: see ``Fault`` and ``DescribeFailure``;
  ``"delays": {"ec2:AcceptVpcEndpointConnections": 3}`` makes each call of
  an action take that many seconds.
  A file that is not valid fails every request with 400
  PrivateLinkTest.InvalidControlFile.
* PRIVATELINK_STATS_FILE: rewritten after every request, before its answer
  is sent, as ``{"<boto3 service name>:<Action>": count}`` so a test can
  assert how often the code under test called AWS. Every request received
  counts, also one that failed (it is a call the client made); requests
  failed by a fault rule also count under ``"fault:<service>:<Action>"``.

Consumers are separate moto accounts, chosen per request with the
``x-moto-account-id`` header; the default account 123456789012 is the provider.
"""

import argparse
import base64
import binascii
import json
import os
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import moto.server
from botocore.exceptions import DataNotFoundError
from moto.core.base_backend import backend_lock
from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.core.utils import get_service_model
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidNextToken,
    UnknownVpcEndpointService,
)
from moto.ec2.models import ec2_backends
from moto.ec2.models.vpc_service_configuration import VPCServiceConfiguration
from moto.ec2.models.vpcs import VPCBackend, VPCEndPoint
from moto.ec2.responses import EC2Response
from moto.organizations import utils as organizations_utils
from moto.organizations.models import OrganizationsBackend
from moto.sns.models import Subscription as SNSSubscription
from moto.ssm.models import SimpleSystemManagerBackend

ALLOWED_HOST = "127.0.0.1"

PENDING = "pendingAcceptance"
AVAILABLE = "available"
REJECTED = "rejected"

TAG_UNSUCCESSFUL = "privatelink-test:unsuccessful"
TAG_DECIDED_BY_PERSON = "privatelink-test:decided-by-person"
STATE_CHOSEN_BY_PERSON = {"accept": AVAILABLE, "reject": REJECTED}
TAG_DELETED_BY_CONSUMER = "privatelink-test:deleted-by-consumer"
TAG_HIDE_REGION = "privatelink-test:hide-region"
TAG_ACCOUNT_ID = "privatelink-test:account-id"

# The VpcEndpointConnectionId of a connection. AWS does not document the
# format; the approver treats the ID as opaque.
CONNECTION_PREFIX = "vpce-conn-"

# Limits documented for the real API; enforcing them lets tests catch a client
# that would be rejected by AWS.
MIN_MAX_RESULTS = 5
MAX_MAX_RESULTS = 1000
MAX_IDS_PER_DECISION = 1000

# The server is threaded; Accept/Reject must check-then-set state atomically,
# and the stats counter is shared by all request threads.
_decision_lock = threading.Lock()
_stats_lock = threading.Lock()
_call_counts: Counter[str] = Counter()


# --------------------------------------------------------------------------
# Control file
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A rule of the control file's "faults": fail calls of one action.

    JSON: ``{"action": "ec2:AcceptVpcEndpointConnections", "code":
    "InternalError", "status": 500, "every": N}`` fails the N-th, 2N-th, ...
    call; with ``"times": N`` instead of ``"every"`` it fails the next N calls,
    then lets calls through. Calls are counted, from any account and region,
    from when the control file was last written (its text or modification
    time changed), so rewriting the same rule starts it again.

    The failure is sent instead of running the action, so it changes nothing,
    like a throttled or failed call on AWS; the client sees ``code`` with HTTP
    ``status`` in the service's own wire format, e.g. EC2 RequestLimitExceeded
    503 or InternalError 500, SSM ThrottlingException 400 or
    InternalServerError 500. With ``"after": true`` the action runs first and
    its answer is lost: the change is made, the client sees the failure (a
    connection reset after AWS applied the call).
    """

    # "<boto3 service name>:<Action>", the key of the stats file.
    action: str
    code: str
    status: int
    every: int | None = None
    times: int | None = None
    after: bool = False

    def fails(self, call: int) -> bool:
        """Whether the call-th call (from 1) since the rule was written fails."""
        if self.every is not None:
            return call % self.every == 0
        assert self.times is not None
        return call <= self.times


class ControlFileError(ServiceException):
    """Reported to the client so a broken test setup fails loudly, not silently."""

    def __init__(self, problem: str):
        super().__init__("PrivateLinkTest.InvalidControlFile", problem)


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_max_page_size(value: Any) -> int | None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ControlFileError(f"maxPageSize must be a positive integer, not {value!r}")
    return value


_FAULT_KEYS = {"action", "code", "status"}
_FAULT_SCHEDULES = {"every", "times"}
_FAULT_OPTIONS = {"after"}
MIN_FAULT_STATUS = 400
MAX_FAULT_STATUS = 599


def _check_fault_action(where: str, action: Any) -> None:
    # Checked against botocore's model, so that a misspelt action is an error
    # rather than a rule that never fires.
    service, _, operation = str(action).partition(":")
    if not (isinstance(action, str) and service and operation):
        raise ControlFileError(f"{where}: action must be \"<service>:<Action>\", not {action!r}")
    if service == "s3":
        raise ControlFileError(f"{where}: S3 requests bypass the hook, they cannot fail")
    try:
        model = get_service_model(service)
    except DataNotFoundError as e:
        raise ControlFileError(f"{where}: unknown service {service!r}") from e
    if operation not in model.operation_names:
        raise ControlFileError(f"{where}: {service} has no action {operation!r}")


def _parse_fault(where: str, rule: Any) -> Fault:
    if not isinstance(rule, dict):
        raise ControlFileError(f"{where} must be a JSON object, not {rule!r}")
    missing = sorted(_FAULT_KEYS - set(rule))
    unknown = sorted(set(rule) - _FAULT_KEYS - _FAULT_SCHEDULES - _FAULT_OPTIONS)
    schedule = sorted(_FAULT_SCHEDULES & set(rule))
    if missing or unknown or len(schedule) != 1:
        raise ControlFileError(
            f"{where} needs keys {sorted(_FAULT_KEYS)} and one of {sorted(_FAULT_SCHEDULES)}, "
            f"has {sorted(rule)}"
        )
    _check_fault_action(where, rule["action"])
    code, status, count = rule["code"], rule["status"], rule[schedule[0]]
    if not (isinstance(code, str) and code):
        raise ControlFileError(f"{where}: code must be a non-empty string, not {code!r}")
    if not (_is_int(status) and MIN_FAULT_STATUS <= status <= MAX_FAULT_STATUS):
        raise ControlFileError(
            f"{where}: status must be an HTTP error status "
            f"({MIN_FAULT_STATUS}-{MAX_FAULT_STATUS}), not {status!r}"
        )
    if not (_is_int(count) and count >= 1):
        raise ControlFileError(f"{where}: {schedule[0]} must be a positive integer, not {count!r}")
    after = rule.get("after", False)
    if not isinstance(after, bool):
        raise ControlFileError(f"{where}: after must be true or false, not {after!r}")
    return Fault(rule["action"], code, status, after=after, **{schedule[0]: count})


def _parse_faults(value: Any) -> tuple[Fault, ...]:
    if not isinstance(value, list):
        raise ControlFileError(f"faults must be a list of rules, not {value!r}")
    faults = tuple(_parse_fault(f"faults[{i}]", rule) for i, rule in enumerate(value))
    # One rule per action: two schedules counting the same calls would be
    # ambiguous.
    actions = Counter(fault.action for fault in faults)
    repeated = sorted(action for action, n in actions.items() if n > 1)
    if repeated:
        raise ControlFileError(f"faults has more than one rule for {repeated}")
    return faults


@dataclass(frozen=True)
class DescribeFailure:
    """A rule of the control file's "failDescribe": the connections of one
    service cannot be read.

    JSON: ``{"serviceId": "vpce-svc-...", "code": "RequestLimitExceeded",
    "status": 503, "fromPage": 2}``. Every DescribeVpcEndpointConnections
    whose ``service-id`` filter names the service, or that has no such
    filter, fails for pages ``fromPage`` (default 1) and later, for as long
    as the rule is in the file: retries do not help, as with a service
    throttled past the retries. ``fromPage`` 2 lets the first page through,
    so a reader fails after earlier pages were read.
    """

    service_id: str
    code: str
    status: int
    from_page: int = 1

    def fails(self, filters: dict[str, list[str]], page: int) -> bool:
        services = filters.get("service-id")
        return page >= self.from_page and (services is None or self.service_id in services)


def _parse_describe_failures(value: Any) -> tuple[DescribeFailure, ...]:
    if not isinstance(value, list):
        raise ControlFileError(f"failDescribe must be a list of rules, not {value!r}")
    rules = []
    for i, rule in enumerate(value):
        where = f"failDescribe[{i}]"
        required, optional = {"serviceId", "code", "status"}, {"fromPage"}
        if not isinstance(rule, dict) or not required <= set(rule) or set(rule) - required - optional:
            raise ControlFileError(f"{where} needs keys {sorted(required)} and may have {sorted(optional)}, has {rule!r}")
        service, code, status = rule["serviceId"], rule["code"], rule["status"]
        from_page = rule.get("fromPage", 1)
        if not (isinstance(service, str) and service.startswith("vpce-svc-")):
            raise ControlFileError(f"{where}: serviceId must be a vpce-svc-... ID, not {service!r}")
        if not (isinstance(code, str) and code):
            raise ControlFileError(f"{where}: code must be a non-empty string, not {code!r}")
        if not (_is_int(status) and MIN_FAULT_STATUS <= status <= MAX_FAULT_STATUS):
            raise ControlFileError(f"{where}: status must be an HTTP error status, not {status!r}")
        if not (_is_int(from_page) and from_page >= 1):
            raise ControlFileError(f"{where}: fromPage must be a positive integer, not {from_page!r}")
        rules.append(DescribeFailure(service, code, status, from_page))
    return tuple(rules)


def _parse_delays(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ControlFileError(f"delays must map \"<service>:<Action>\" to seconds, not {value!r}")
    for action, seconds in value.items():
        _check_fault_action(f"delays[{action!r}]", action)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 30:
            raise ControlFileError(f"delays[{action!r}] must be 0 to 30 seconds, not {seconds!r}")
    return dict(value)


def _parse_untaggable_states(value: Any) -> frozenset[str]:
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise ControlFileError(f"untaggableStates must be a list of connection states, not {value!r}")
    return frozenset(value)


@dataclass(frozen=True)
class Control:
    """Behaviour a test can change at runtime through PRIVATELINK_CONTROL_FILE.

    To add a knob: add a field here (with its default) and its JSON key, with
    the function that checks and converts its value, to ``_CONTROL_KEYS``,
    then read it from the ``Control`` that the actions get.
    """

    # Upper bound on the page size of DescribeVpcEndpointConnections, so that
    # pagination is exercised even by a client that asks for 1000 per page.
    max_page_size: int | None = None
    # Calls to fail before they reach the action (see Fault).
    faults: tuple[Fault, ...] = ()
    # Services whose connections cannot be read (see DescribeFailure).
    describe_failures: tuple[DescribeFailure, ...] = ()
    # Connection states in which CreateTags refuses to tag a connection
    # (UnsupportedOperation, 400): where AWS's behaviour is unknown, a test
    # can try both answers.
    untaggable_states: frozenset[str] = frozenset()
    # Seconds each call of an action takes before it runs, as a slow API
    # would: for tests of deadlines.
    delays: dict[str, float] = field(default_factory=dict)


_CONTROL_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "maxPageSize": ("max_page_size", _parse_max_page_size),
    "faults": ("faults", _parse_faults),
    "failDescribe": ("describe_failures", _parse_describe_failures),
    "untaggableStates": ("untaggable_states", _parse_untaggable_states),
    "delays": ("delays", _parse_delays),
}
assert {name for name, _ in _CONTROL_KEYS.values()} == {f.name for f in fields(Control)}


def _parse_control(path: str, text: str) -> Control:
    """The control in the file's text; an empty file means defaults."""
    if not text.strip():
        return Control()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ControlFileError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ControlFileError(f"{path} must hold a JSON object")
    unknown = sorted(set(data) - set(_CONTROL_KEYS))
    if unknown:
        raise ControlFileError(f"{path} has unknown keys {unknown}")
    values = {}
    for key, value in data.items():
        name, parse = _CONTROL_KEYS[key]
        values[name] = parse(value)
    return Control(**values)


def _read_control_file(path: str) -> tuple[int, str] | None:
    """(modification time, text) of the control file; None when it is missing."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
            return os.fstat(f.fileno()).st_mtime_ns, text
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise ControlFileError(f"{path} is not UTF-8: {e}") from e


# Calls of each faulted action since the control file was last written, and
# the (modification time, text) that "written" is judged by. The lock makes
# count-and-decide atomic, so concurrent calls fail exactly as the rule says.
_fault_lock = threading.Lock()
_control_version: tuple[int, str] | None = None
_fault_calls: Counter[str] = Counter()


def _control_for_call(action: str) -> tuple[Control, Fault | None]:
    """The control for one request of ``action``, and the rule failing it, if any."""
    global _control_version
    path = os.environ.get("PRIVATELINK_CONTROL_FILE")
    if not path:
        return Control(), None
    with _fault_lock:
        version = _read_control_file(path)
        if version != _control_version:
            _control_version = version
            _fault_calls.clear()
        control = _parse_control(path, version[1] if version else "")
        fault = next((f for f in control.faults if f.action == action), None)
        if fault is None:
            return control, None
        _fault_calls[action] += 1
        return control, fault if fault.fails(_fault_calls[action]) else None


# --------------------------------------------------------------------------
# Model helpers: connections are derived from moto's own objects
# --------------------------------------------------------------------------
#
# A connection has no state of its own: its state *is* the consumer endpoint's
# state, as in AWS, where DescribeVpcEndpoints in the consumer account shows
# the same pendingAcceptance/available/rejected that the provider decides.


@dataclass(frozen=True)
class Connection:
    service: VPCServiceConfiguration
    endpoint: VPCEndPoint

    @property
    def owner(self) -> str:
        return self.endpoint.ec2_backend.account_id

    @property
    def region(self) -> str:
        return self.endpoint.ec2_backend.region_name

    @property
    def connection_id(self) -> str:
        return CONNECTION_PREFIX + self.endpoint.id.removeprefix("vpce-")

    @property
    def tags(self) -> dict[str, str]:
        """The connection's own tags, kept by the provider's backend."""
        return self.service.ec2_backend.tags.get(self.connection_id, {})

    @property
    def sort_key(self) -> tuple[str, str]:
        # Fixed-width timestamp so that the string order equals time order
        # (isoformat() drops the microseconds when they are zero).
        stamp = self.endpoint.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
        return stamp, self.endpoint.id


def _all_ec2_backends() -> list[Any]:
    # Snapshot under moto's lock: other request threads may be creating
    # accounts/regions while we iterate.
    with backend_lock:
        return [backend for _, _, backend in ec2_backends.iter_backends()]


def _find_service_by_name(service_name: str) -> VPCServiceConfiguration | None:
    for backend in _all_ec2_backends():
        for service in list(backend.configurations.values()):
            if service.service_name == service_name:
                return service
    return None


def _connections_to(services: list[VPCServiceConfiguration]) -> list[Connection]:
    """All endpoints, in every account and region, that target ``services``."""
    by_name = {service.service_name: service for service in services}
    connections = [
        Connection(by_name[endpoint.service_name], endpoint)
        for backend in _all_ec2_backends()
        for endpoint in list(backend.vpc_end_points.values())
        if endpoint.service_name in by_name
    ]
    return sorted(connections, key=lambda c: c.sort_key)


def _endpoint_tags(endpoint: VPCEndPoint) -> dict[str, str]:
    # The tag store is a defaultdict: use .get so we don't add empty entries.
    return endpoint.ec2_backend.tags.get(endpoint.id, {})


# --------------------------------------------------------------------------
# CreateVpcEndpoint: pending acceptance
# --------------------------------------------------------------------------

_original_create_vpc_endpoint = VPCBackend.create_vpc_endpoint


def _create_vpc_endpoint(self: VPCBackend, *args: Any, **kwargs: Any) -> VPCEndPoint:
    # Patched on the model (not the response) so every creation path, e.g.
    # CloudFormation, behaves the same.
    endpoint = _original_create_vpc_endpoint(self, *args, **kwargs)
    service = _find_service_by_name(endpoint.service_name)
    if service is not None and service.acceptance_required:
        endpoint.state = PENDING
    if service is not None:
        _notify(service, endpoint, "Connect")
    return endpoint


# --------------------------------------------------------------------------
# DescribeVpcEndpointConnections
# --------------------------------------------------------------------------

_FILTER_VALUES: dict[str, Callable[[Connection], str]] = {
    "service-id": lambda c: c.service.id,
    "vpc-endpoint-id": lambda c: c.endpoint.id,
    "vpc-endpoint-owner": lambda c: c.owner,
    "vpc-endpoint-region": lambda c: c.region,
    "vpc-endpoint-state": lambda c: c.endpoint.state,
}
# AWS documents states as e.g. "pendingAcceptance" but SDK enums spell them
# "PendingAcceptance"; accept both like AWS does.
_CASE_INSENSITIVE_FILTERS = {"vpc-endpoint-state"}


def _matches(connection: Connection, filters: dict[str, list[str]]) -> bool:
    for name, wanted in filters.items():
        actual = _FILTER_VALUES[name](connection)
        if name in _CASE_INSENSITIVE_FILTERS:
            actual, wanted = actual.lower(), [w.lower() for w in wanted]
        if actual not in wanted:
            return False
    return True


def _encode_token(connection: Connection, page: int) -> str:
    # The token is "resume after this sort key", so a page boundary stays
    # correct even if states change (and filters then match other rows)
    # between page requests; it also carries the number of the next page.
    raw = json.dumps([*connection.sort_key, page]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[tuple[str, str], int]:
    """(resume after this sort key, number of the page asked for)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise InvalidNextToken(token) from e
    if not (
        isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key[:2]) and _is_int(key[2])
    ):
        raise InvalidNextToken(token)
    return (key[0], key[1]), key[2]


def _connection_to_dict(connection: Connection) -> dict[str, Any]:
    endpoint = connection.endpoint
    item: dict[str, Any] = {
        "ServiceId": connection.service.id,
        "VpcEndpointId": endpoint.id,
        "VpcEndpointOwner": connection.owner,
        "VpcEndpointState": endpoint.state,
        "CreationTimestamp": endpoint.creation_timestamp,
        "VpcEndpointConnectionId": connection.connection_id,
        "NetworkLoadBalancerArns": list(connection.service.network_load_balancer_arns),
        "DnsEntries": [
            {"DnsName": entry["dns_name"], "HostedZoneId": entry["hosted_zone_id"]}
            for entry in endpoint.dns_entries or []
        ],
        "IpAddressType": "ipv4",
    }
    if connection.tags:
        item["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(connection.tags.items())]
    # AWS only names the endpoint's region for cross-region connections.
    hidden = _endpoint_tags(endpoint).get(TAG_HIDE_REGION) == "true"
    if connection.region != connection.service.ec2_backend.region_name and not hidden:
        item["VpcEndpointRegion"] = connection.region
    return item


def describe_vpc_endpoint_connections(self: EC2Response) -> ActionResult:
    control: Control = self.privatelink_control
    self.error_on_dryrun()

    filters = self._filters_from_querystring()
    for name in filters:
        if name not in _FILTER_VALUES:
            raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")

    max_results = self._get_param("MaxResults", MAX_MAX_RESULTS)
    if not MIN_MAX_RESULTS <= max_results <= MAX_MAX_RESULTS:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ( {max_results} ) for parameter maxResults is invalid. "
            f"Parameter must be between {MIN_MAX_RESULTS} and {MAX_MAX_RESULTS}.",
        )
    page_size = min(max_results, control.max_page_size or max_results)

    # The caller is the provider: only its own services in the request region.
    own_services = list(self.ec2_backend.configurations.values())
    connections = [c for c in _connections_to(own_services) if _matches(c, filters)]

    token = self._get_param("NextToken")
    page_number = 1
    if token:
        resume_after, page_number = _decode_token(token)
        connections = [c for c in connections if c.sort_key > resume_after]
    for failure in control.describe_failures:
        if failure.fails(filters, page_number):
            raise _StatusError(failure.code, f"Injected by failDescribe for {failure.service_id}, page {page_number}", failure.status)

    page = connections[:page_size]
    result: dict[str, Any] = {"VpcEndpointConnections": [_connection_to_dict(c) for c in page]}
    if len(connections) > page_size:
        result["NextToken"] = _encode_token(page[-1], page_number + 1)
    return ActionResult(result)


# --------------------------------------------------------------------------
# AcceptVpcEndpointConnections / RejectVpcEndpointConnections
# --------------------------------------------------------------------------


def _decide(
    endpoint: VPCEndPoint | None, endpoint_id: str, new_state: str, from_states: frozenset[str]
) -> tuple[str, str] | None:
    """Apply one decision; return (error code, message) for ``Unsuccessful``."""
    if endpoint is None:
        message = f"The Vpc Endpoint Id '{endpoint_id}' does not exist"
        return "InvalidVpcEndpointId.NotFound", message

    tags = _endpoint_tags(endpoint)
    deleted_by_consumer = tags.get(TAG_DELETED_BY_CONSUMER)
    if deleted_by_consumer is not None:
        if deleted_by_consumer != "true":
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Tag {TAG_DELETED_BY_CONSUMER} on {endpoint_id} must be 'true', "
                f"not {deleted_by_consumer!r}",
            )
        # Exactly what the consumer's DeleteVpcEndpoints does in moto: the
        # endpoint stays, in state "deleted", and its network interfaces go.
        endpoint.ec2_backend.delete_vpc_endpoints([endpoint_id])

    injected_error = tags.get(TAG_UNSUCCESSFUL)
    if injected_error:
        return injected_error, f"Injected by tag {TAG_UNSUCCESSFUL} on {endpoint_id}"

    person_decision = tags.get(TAG_DECIDED_BY_PERSON)
    if person_decision and endpoint.state == PENDING:
        if person_decision not in STATE_CHOSEN_BY_PERSON:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Tag {TAG_DECIDED_BY_PERSON} on {endpoint_id} must be one of "
                f"{sorted(STATE_CHOSEN_BY_PERSON)}, not {person_decision!r}",
            )
        endpoint.state = STATE_CHOSEN_BY_PERSON[person_decision]

    if endpoint.state not in from_states:
        return "InvalidState", f"Endpoint {endpoint_id} is in state {endpoint.state}, not {' or '.join(sorted(from_states))}"
    endpoint.state = new_state
    return None


def _decide_connections(self: EC2Response, new_state: str, from_states: frozenset[str]) -> ActionResult:
    self.error_on_dryrun()

    endpoint_ids = self._get_param("VpcEndpointIds", [])
    if len(endpoint_ids) > MAX_IDS_PER_DECISION:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"At most {MAX_IDS_PER_DECISION} VPC endpoint IDs are allowed, got {len(endpoint_ids)}",
        )
    service_id = self._get_param("ServiceId")
    service = self.ec2_backend.configurations.get(service_id)
    if service is None:
        raise UnknownVpcEndpointService(service_id)

    endpoints = {c.endpoint.id: c.endpoint for c in _connections_to([service])}
    unsuccessful = []
    with _decision_lock:
        for endpoint_id in endpoint_ids:
            error = _decide(endpoints.get(endpoint_id), endpoint_id, new_state, from_states)
            if error:
                code, message = error
                unsuccessful.append(
                    {"ResourceId": endpoint_id, "Error": {"Code": code, "Message": message}}
                )
    return ActionResult({"Unsuccessful": unsuccessful})


# Only a pending request can be accepted; a provider can also reject a
# connection it accepted before (revoking it), as on AWS.
ACCEPTABLE = frozenset({PENDING})
REJECTABLE = frozenset({PENDING, "pending", AVAILABLE})


def accept_vpc_endpoint_connections(self: EC2Response) -> ActionResult:
    return _decide_connections(self, AVAILABLE, ACCEPTABLE)


def reject_vpc_endpoint_connections(self: EC2Response) -> ActionResult:
    return _decide_connections(self, REJECTED, REJECTABLE)


# --------------------------------------------------------------------------
# CreateTags / DeleteTags on connections
# --------------------------------------------------------------------------

# Limits documented for EC2 tags (key length per the API model's Tag.Key).
MAX_TAGS_PER_RESOURCE = 50
MAX_TAG_KEY = 127
MAX_TAG_VALUE = 256
MAX_TAG_RESOURCES = 1000

_original_create_tags = EC2Response.create_tags
_original_delete_tags = EC2Response.delete_tags


def _own_connections(response: EC2Response, ids: list[str]) -> list[Connection]:
    """The caller's connections named by ids, in its request region."""
    own = {c.connection_id: c for c in _connections_to(list(response.ec2_backend.configurations.values()))}
    missing = [i for i in ids if i not in own]
    if missing:
        raise EC2ClientError(
            "InvalidVpcEndpointConnectionId.NotFound", f"The connection ID '{missing[0]}' does not exist"
        )
    return [own[i] for i in ids]


def _split_connection_ids(response: EC2Response) -> tuple[list[str], list[str]]:
    ids = response._get_param("Resources", [])
    if len(ids) > MAX_TAG_RESOURCES:
        raise EC2ClientError("InvalidParameterValue", f"At most {MAX_TAG_RESOURCES} resource IDs are allowed, got {len(ids)}")
    return [i for i in ids if i.startswith(CONNECTION_PREFIX)], [i for i in ids if not i.startswith(CONNECTION_PREFIX)]


def create_tags(self: EC2Response) -> ActionResult:
    conn_ids, others = _split_connection_ids(self)
    if not conn_ids:
        return _original_create_tags(self)
    if others:
        raise EC2ClientError("InvalidParameterValue", "This extension tags connections apart from other resources")
    self.error_on_dryrun()
    tags = {t["Key"]: t.get("Value", "") for t in self._get_param("Tags", [])}
    for key, value in tags.items():
        if key.startswith("aws:"):
            raise EC2ClientError("InvalidParameterValue", f"Tag key {key!r}: the aws: prefix is reserved")
        if not key or len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise EC2ClientError("InvalidParameterValue", f"Tag {key!r}: keys are 1 to {MAX_TAG_KEY} characters, values up to {MAX_TAG_VALUE}")
    control: Control = self.privatelink_control
    connections = _own_connections(self, conn_ids)
    for c in connections:
        if c.endpoint.state in control.untaggable_states:
            raise _StatusError(
                "UnsupportedOperation", f"{c.connection_id} is {c.endpoint.state}: it cannot be tagged (untaggableStates)", 400
            )
        if len(set(c.tags) | set(tags)) > MAX_TAGS_PER_RESOURCE:
            raise EC2ClientError("TagLimitExceeded", f"{c.connection_id} would have more than {MAX_TAGS_PER_RESOURCE} tags")
    for c in connections:
        c.service.ec2_backend.tags[c.connection_id].update(tags)
    return EmptyResult()


def delete_tags(self: EC2Response) -> ActionResult:
    conn_ids, others = _split_connection_ids(self)
    if not conn_ids:
        return _original_delete_tags(self)
    if others:
        raise EC2ClientError("InvalidParameterValue", "This extension untags connections apart from other resources")
    self.error_on_dryrun()
    tags = self._get_param("Tags", [])
    for c in _own_connections(self, conn_ids):
        stored = c.service.ec2_backend.tags[c.connection_id]
        if not tags:  # as on AWS: no tags named deletes every tag
            stored.clear()
        for t in tags:
            # A key alone deletes the tag whatever its value; with a value,
            # only when it matches.
            if t["Key"] in stored and ("Value" not in t or t["Value"] == stored[t["Key"]]):
                del stored[t["Key"]]
    return EmptyResult()


# --------------------------------------------------------------------------
# Connection notifications
# --------------------------------------------------------------------------

CONNECTION_EVENTS = frozenset({"Accept", "Connect", "Delete", "Reject"})
MAX_NOTIFICATION_RESULTS = 1000


@dataclass
class Notification:
    """A connection notification of a service, on an SNS topic."""

    id: str
    service_id: str
    topic_arn: str
    events: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ConnectionNotificationId": self.id,
            "ServiceId": self.service_id,
            "ConnectionNotificationType": "Topic",
            "ConnectionNotificationArn": self.topic_arn,
            "ConnectionEvents": list(self.events),
            "ConnectionNotificationState": "Enabled",
        }


def _notifications(backend: Any) -> dict[str, Notification]:
    """The notifications of one provider account and region, by ID."""
    if not hasattr(backend, "privatelink_notifications"):
        backend.privatelink_notifications = {}
    return backend.privatelink_notifications


def _notify(service: VPCServiceConfiguration, endpoint: VPCEndPoint, event: str) -> None:
    """Publish what EC2 publishes for a connection event: JSON naming the
    service, the endpoint, its owner and state."""
    from moto.sns.models import sns_backends

    backend = service.ec2_backend
    message = json.dumps({
        "ServiceId": service.id,
        "VpcEndpointId": endpoint.id,
        "VpcEndpointOwner": endpoint.ec2_backend.account_id,
        "VpcEndpointState": endpoint.state,
        "NotificationType": event,
    })
    for n in list(_notifications(backend).values()):
        if n.service_id == service.id and event in n.events:
            sns_backends[backend.account_id][backend.region_name].publish(message, arn=n.topic_arn)


def create_vpc_endpoint_connection_notification(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    service_id = self._get_param("ServiceId")
    if self._get_param("VpcEndpointId"):
        raise EC2ClientError("InvalidParameterValue", "This extension supports notifications for services only")
    service = self.ec2_backend.configurations.get(service_id)
    if service is None:
        raise UnknownVpcEndpointService(service_id)
    events = self._get_param("ConnectionEvents", [])
    if not events or set(events) - CONNECTION_EVENTS:
        raise EC2ClientError("InvalidParameterValue", f"ConnectionEvents must be some of {sorted(CONNECTION_EVENTS)}, not {events}")
    topic_arn = self._get_param("ConnectionNotificationArn")
    from moto.sns.models import sns_backends
    from moto.sns.exceptions import TopicNotFound

    try:
        sns_backends[self.current_account][self.region].get_topic(topic_arn)
    except TopicNotFound as e:
        raise EC2ClientError("InvalidParameter", f"The SNS topic {topic_arn!r} does not exist") from e
    n = Notification(
        id="vpce-nfn-" + base64.b16encode(os.urandom(9)).decode().lower()[:17],
        service_id=service_id,
        topic_arn=topic_arn,
        events=sorted(set(events)),
    )
    _notifications(self.ec2_backend)[n.id] = n
    return ActionResult({"ConnectionNotification": n.to_dict(), "ClientToken": self._get_param("ClientToken")})


_NOTIFICATION_FILTERS: dict[str, Callable[[Notification], str]] = {
    "connection-notification-arn": lambda n: n.topic_arn,
    "connection-notification-id": lambda n: n.id,
    "connection-notification-state": lambda n: "Enabled",
    "connection-notification-type": lambda n: "Topic",
    "service-id": lambda n: n.service_id,
}


def describe_vpc_endpoint_connection_notifications(self: EC2Response) -> ActionResult:
    self.error_on_dryrun()
    filters = self._filters_from_querystring()
    for name in filters:
        if name not in _NOTIFICATION_FILTERS:
            raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")
    wanted_id = self._get_param("ConnectionNotificationId")
    found = [
        n
        for n in sorted(_notifications(self.ec2_backend).values(), key=lambda n: n.id)
        if (not wanted_id or n.id == wanted_id)
        and all(_NOTIFICATION_FILTERS[name](n) in values for name, values in filters.items())
    ]
    max_results = self._get_param("MaxResults", MAX_NOTIFICATION_RESULTS)
    if not 1 <= max_results <= MAX_NOTIFICATION_RESULTS:
        raise EC2ClientError("InvalidParameterValue", f"MaxResults must be 1 to {MAX_NOTIFICATION_RESULTS}, not {max_results}")
    control: Control = self.privatelink_control
    page_size = min(max_results, control.max_page_size or max_results)
    start = int(self._get_param("NextToken") or 0)
    page = found[start : start + page_size]
    result: dict[str, Any] = {"ConnectionNotificationSet": [n.to_dict() for n in page]}
    if start + page_size < len(found):
        result["NextToken"] = str(start + page_size)
    return ActionResult(result)



def delete_vpc_endpoint_connection_notifications(self: EC2Response) -> ActionResult:
    """Delete the notifications by ID; an unknown ID is an unsuccessful item,
    as EC2 reports it, not an error of the call."""
    self.error_on_dryrun()
    ids = self._get_param("ConnectionNotificationIds", [])
    if not ids:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter ConnectionNotificationId")
    notifications = _notifications(self.ec2_backend)
    unsuccessful = []
    for nid in ids:
        if notifications.pop(nid, None) is None:
            unsuccessful.append({
                "Error": {"Code": "InvalidConnectionNotification", "Message": f"The connection notification {nid} does not exist"},
                "ResourceId": nid,
            })
    return ActionResult({"Unsuccessful": unsuccessful})

# --------------------------------------------------------------------------
# Faults and call counting
# --------------------------------------------------------------------------

_original_call_action = BaseResponse.call_action


class InjectedFault(ServiceException):
    """The error a fault rule sends instead of running the action."""

    def __init__(self, fault: Fault):
        when = "after applying the call" if fault.after else "instead of the call"
        message = f"Injected by the PRIVATELINK_CONTROL_FILE rule for {fault.action}, {when}"
        super().__init__(fault.code, message)


class _StatusError(Exception):
    """An error an action raises with an HTTP status of its choosing.

    Not a ServiceException: moto's dispatch would answer that with the
    status the service's model gives the code (400 for codes it does not
    know); this one reaches the hook below, which sends ``status``.
    """

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.error = _ActionError(code, message)
        self.status = status


class _ActionError(ServiceException):
    """What a _StatusError is sent as. (moto finds the service model of an
    exception by the module that defines it: this one, as for InjectedFault,
    not moto.core's ServiceException.)"""


def _error_response(response: BaseResponse, error: ServiceException, status: int) -> TYPE_RESPONSE:
    # moto's serializer writes the error in the service's own protocol, as
    # call_action does for an error an action raises: EC2 query XML
    # (<Response><Errors><Error><Code>), JSON 1.1 ({"__type": ...} and
    # X-Amzn-ErrorType), query XML, REST. Only the status is ours: most
    # injected codes are not in the service's model, whose default is 400.
    _, headers, body = response.serialized(ActionResult(error))
    headers, body = response._enrich_response(headers, body)
    return status, headers, body


def _call_action_hooked(self: BaseResponse) -> TYPE_RESPONSE:
    # BaseResponse.call_action is the dispatch shared by (nearly) all services;
    # overrides such as DynamoDB's call super(), so they are hooked too. S3
    # uses its own dispatch and is neither counted nor faulted. It runs after
    # the request is parsed and before the action, so a fault changes nothing.
    # Keys use boto3's client name (e.g. "lambda", "elbv2"), not moto's
    # internal one ("awslambda").
    action = f"{self.boto3_service_name}:{self._get_action()}"
    fault = None
    try:
        try:
            control, fault = _control_for_call(action)
        except ControlFileError as e:
            return _error_response(self, e, 400)
        if control.delays.get(action):
            time.sleep(control.delays[action])
        if fault is not None and not fault.after:
            return _error_response(self, InjectedFault(fault), fault.status)
        # The actions read the control from here: one snapshot per request.
        self.privatelink_control = control
        try:
            answer = _original_call_action(self)
        except _StatusError as e:
            return _error_response(self, e.error, e.status)
        if fault is not None:
            return _error_response(self, InjectedFault(fault), fault.status)
        return answer
    finally:
        # Before the answer is sent: once a client has its answer, the stats
        # file already counts the call.
        _record_call(action, faulted=fault is not None)


def _record_call(action: str, faulted: bool) -> None:
    path = os.environ.get("PRIVATELINK_STATS_FILE")
    if not path:
        return
    with _stats_lock:
        _call_counts[action] += 1
        if faulted:
            _call_counts[f"fault:{action}"] += 1
        # Write-then-rename so a reader never sees a half-written file.
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(_call_counts.items())), f, indent=1)
        os.replace(tmp, path)


# --------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Organizations accounts that join with a given ID
# --------------------------------------------------------------------------

_original_create_account = OrganizationsBackend.create_account
_account_id_lock = threading.Lock()


def _create_account(self: OrganizationsBackend, **kwargs: Any) -> dict[str, Any]:
    wanted = {t["Key"]: t["Value"] for t in kwargs.get("Tags", [])}.get(TAG_ACCOUNT_ID)
    if wanted is None:
        return _original_create_account(self, **kwargs)
    # moto draws the ID at random while it builds the account: have it draw
    # this one.
    with _account_id_lock:
        original = organizations_utils.make_random_account_id
        organizations_utils.make_random_account_id = lambda: wanted
        try:
            return _original_create_account(self, **kwargs)
        finally:
            organizations_utils.make_random_account_id = original


# --------------------------------------------------------------------------
# A parameter shared through AWS RAM, read by its ARN
# --------------------------------------------------------------------------

_original_get_parameter = SimpleSystemManagerBackend.get_parameter


def _get_parameter(self: SimpleSystemManagerBackend, name: str) -> Any:
    """A parameter named by the ARN of another account's (or Region's)
    parameter is that account's, as AWS RAM shares it: only an
    Advanced-tier parameter can be shared, so only one is found."""
    parts = name.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "ssm" and parts[5].startswith("parameter/"):
        region, account, rest = parts[3], parts[4], parts[5][len("parameter/"):]
        if (account, region) != (self.account_id, self.region_name):
            from moto.ssm.models import ssm_backends

            owner = ssm_backends[account][region]
            own_name = "/" + rest if "/" in rest else rest
            found = _original_get_parameter(owner, own_name)
            if found is None or getattr(found, "tier", None) != "Advanced":
                return None
            return found
    return _original_get_parameter(self, name)


# --------------------------------------------------------------------------
# SNS delivery to another account's queue
# --------------------------------------------------------------------------

_original_sns_publish = SNSSubscription.publish
_sns_publish_lock = threading.Lock()


def _sns_publish(self: SNSSubscription, *args: Any, **kwargs: Any) -> None:
    """moto delivers a topic's messages to queues of the topic's account
    only; AWS delivers to a subscribed queue of any account (whose policy
    admits the topic), as the central policy's change topic needs."""
    if self.protocol == "sqs":
        queue_account = self.endpoint.split(":")[4]
        if queue_account and queue_account != self.account_id:
            with _sns_publish_lock:
                saved = self.account_id
                self.account_id = queue_account
                try:
                    return _original_sns_publish(self, *args, **kwargs)
                finally:
                    self.account_id = saved
    return _original_sns_publish(self, *args, **kwargs)


def install_patches() -> None:
    SNSSubscription.publish = _sns_publish
    SimpleSystemManagerBackend.get_parameter = _get_parameter
    VPCBackend.create_vpc_endpoint = _create_vpc_endpoint
    OrganizationsBackend.create_account = _create_account
    # moto finds an action by looking up its snake_case name on the response
    # class at request time, so new methods become new actions.
    EC2Response.describe_vpc_endpoint_connections = describe_vpc_endpoint_connections
    EC2Response.accept_vpc_endpoint_connections = accept_vpc_endpoint_connections
    EC2Response.reject_vpc_endpoint_connections = reject_vpc_endpoint_connections
    EC2Response.create_tags = create_tags
    EC2Response.delete_tags = delete_tags
    EC2Response.create_vpc_endpoint_connection_notification = create_vpc_endpoint_connection_notification
    EC2Response.describe_vpc_endpoint_connection_notifications = describe_vpc_endpoint_connection_notifications
    EC2Response.delete_vpc_endpoint_connection_notifications = delete_vpc_endpoint_connection_notifications
    BaseResponse.call_action = _call_action_hooked
    # moto warns when an error code is not in the service's model; ours are
    # made up or injected on purpose.
    warnings.filterwarnings("ignore", message=r"Exception\((ControlFileError|InjectedFault|_ActionError)\)")


def _check_host(argv: list[str]) -> None:
    # Tests run this on shared machines: never expose it beyond loopback.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-H", "--host", default=ALLOWED_HOST)
    host = parser.parse_known_args(argv)[0].host
    if host != ALLOWED_HOST:
        sys.exit(f"moto_privatelink: refusing to bind to {host!r}; only {ALLOWED_HOST} is allowed")


def main(argv: list[str]) -> None:
    _check_host(argv)
    install_patches()
    moto.server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
