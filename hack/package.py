#!/usr/bin/env python3
"""Package the SAM template as plain CloudFormation, for StackSets.

Service-managed StackSets take no transform, and the code of a stack set's
function must sit in an S3 bucket of each Region it deploys to. This writes
the template with SAM's transform applied offline (aws-sam-translator, as
the template checks do), the function's code read from
`${CodeBucketPrefix}-${AWS::Region}` / `CodeKey` (two new parameters, with
the given defaults), and checks the result with cfn-lint.

    python3 hack/package.py template.yaml --code-bucket-prefix NAME \\
        --code-key privatelink-approver/0.1.0/function.zip -o dist/template.json

`make package CODE_BUCKET_PREFIX=NAME` runs it after building the zip.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test" / "template"))
import check  # noqa: E402  (the template checks: the same translator and linter set-up)

FUNCTION = "ApproverFunction"
# S3 bucket names: 3 to 63 lowercase letters, digits, "." and "-"; the
# prefix leaves room for "-" and the longest Region name (14 characters).
BUCKET_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]{1,46}[a-z0-9]$")
CODE_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,1024}$")


def package(tpl: dict, bucket_prefix: str, code_key: str, deps: dict) -> dict:
    """The template as plain CloudFormation, its function's code in the
    Region's bucket."""
    tpl = copy.deepcopy(tpl)
    params = tpl.setdefault("Parameters", {})
    params["CodeBucketPrefix"] = {
        "Type": "String",
        "Description": "Prefix of the S3 buckets holding the function's code: the bucket of each Region is PREFIX-REGION.",
        "Default": bucket_prefix,
        "AllowedPattern": BUCKET_PREFIX.pattern,
    }
    params["CodeKey"] = {
        "Type": "String",
        "Description": "Key of the function's zip in each Region's bucket.",
        "Default": code_key,
    }
    groups = tpl.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups")
    if groups is not None:
        groups.append({"Label": {"default": "Code (packaged template)"}, "Parameters": ["CodeBucketPrefix", "CodeKey"]})
    fn = tpl["Resources"][FUNCTION]
    fn.pop("Metadata", None)  # BuildMethod: for sam build only
    fn["Properties"]["CodeUri"] = {
        "Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
        "Key": {"Ref": "CodeKey"},
    }
    # The Serverless Application Repository's metadata is for the SAM
    # template; the packaged one is for StackSets.
    tpl.get("Metadata", {}).pop("AWS::ServerlessRepo::Application", None)
    try:
        out = deps["transform"](tpl, {}, check.StubManagedPolicyLoader())
    except Exception as exc:  # InvalidDocumentException carries the causes
        causes = getattr(exc, "causes", None)
        detail = "\n".join(f"  {c.message}" for c in causes) if causes else f"  {exc}"
        raise check.CheckError(f"aws-sam-translator failed:\n{detail}") from exc
    # What CloudFormation resolves: a parameter's default is the user's to
    # change.
    text = json.dumps({k: out.get(k) for k in ("Resources", "Outputs", "Conditions", "Mappings")})
    for baked in (check.REGION, '"arn:aws:'):
        if baked in text:
            raise check.CheckError(f"the packaged template names {baked!r}: it must deploy to any Region and partition")
    if "Transform" in out:
        raise check.CheckError(f"the packaged template still names a transform: {out['Transform']}")
    code = out["Resources"][FUNCTION]["Properties"].get("Code")
    if code != {"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "S3Key": {"Ref": "CodeKey"}}:
        raise check.CheckError(f"the function's code is not read from the Region's bucket: {code}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("template", type=Path)
    parser.add_argument("--code-bucket-prefix", required=True)
    parser.add_argument("--code-key", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    problems = []
    if not BUCKET_PREFIX.match(args.code_bucket_prefix):
        problems.append(f"CODE_BUCKET_PREFIX {args.code_bucket_prefix!r}: 3 to 48 lowercase letters, digits, '.' and '-' "
                        "(the bucket of each Region is PREFIX-REGION, at most 63 characters)")
    if not CODE_KEY.match(args.code_key):
        problems.append(f"code key {args.code_key!r} is not a plain S3 key")
    if problems:
        print("package: " + "; ".join(problems), file=sys.stderr)
        return 2
    deps = check.load_dependencies()
    # Offline and deterministic, as the template checks: SAM asks boto3 for
    # a Region; the packaged template must name none (checked below).
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = check.REGION
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    try:
        out = package(deps["yaml_parse"](args.template.read_text(encoding="utf-8")), args.code_bucket_prefix, args.code_key, deps)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        check.run_cfn_lint(deps, args.output)
    except check.CheckError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(f"package: wrote {args.output} (plain CloudFormation, code from {args.code_bucket_prefix}-REGION/{args.code_key})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
