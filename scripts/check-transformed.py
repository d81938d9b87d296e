"""Checks template.yaml after the SAM transform, where the roles SAM generates are visible:
every role of the stack lives under the stack's role path (the state table's key admits
exactly that path), the only AWS managed policies attached are the ones listed below with
why, and the reconcile schedule's role may only invoke the reconcile function.

Run by scripts/test with the SAM CLI's Python (.venv): python scripts/check-transformed.py
"""

import json
import re
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# AWS managed policies a role may carry, and why.
MANAGED = {
    "AWSLambdaBasicExecutionRole": "every function writes its own log group (SAM attaches it)",
    "AWSXrayWriteOnlyAccess": "Tracing: Active (SAM attaches it; X-Ray's writes take no resource)",
}
# Only under a condition: the network interfaces of a function in a VPC.
CONDITIONAL = {"CheckRole": ("CheckInVpc", "AWSLambdaVPCAccessExecutionRole")}
STACK_PATH = {"Fn::Sub": "/${AWS::StackName}/"}
SCHEDULE_ROLE = "ReconcileFunctionScheduleRole"


class Policies:
    """The managed policies SAM may attach, by name (no AWS call)."""

    NAMES = ["AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSLambdaVPCAccessExecutionRole"]

    def load(self):
        return {n: f"arn:aws:iam::aws:policy/{n}" for n in self.NAMES}

    def get(self, name, partition=None):
        return self.load().get(name)


def policy_name(arn):
    text = json.dumps(arn)
    return next((n for n in Policies.NAMES if n in text), text)


def main():
    text = open("template.yaml").read()
    # The transform wants code in S3; where the code is does not change any role.
    text = re.sub(r"CodeUri: functions/\S+", "CodeUri: s3://bucket/code", text)
    out = transform(yaml_parse(text), {}, Policies())
    problems = []
    roles = {k: v for k, v in out["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    for name, role in sorted(roles.items()):
        props = role["Properties"]
        if name == SCHEDULE_ROLE:
            statements = [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
            actions = sorted({a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])})
            if actions != ["lambda:InvokeFunction"] or props.get("ManagedPolicyArns"):
                problems.append(f"{name}: may do {actions} and {props.get('ManagedPolicyArns')}, not only invoke the reconcile function")
            continue
        if props.get("Path") != STACK_PATH:
            problems.append(f"{name}: not under the stack's role path (the state table's key would not admit it)")
        for arn in props.get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and "Fn::If" in arn:
                condition, policy = arn["Fn::If"][0], policy_name(arn["Fn::If"][1])
                if CONDITIONAL.get(name) != (condition, policy):
                    problems.append(f"{name}: {policy} under condition {condition} is not expected")
                continue
            policy = policy_name(arn)
            if policy not in MANAGED:
                problems.append(f"{name}: managed policy {policy} is not on the list (scripts/check-transformed.py)")
    if SCHEDULE_ROLE not in roles:
        problems.append(f"{SCHEDULE_ROLE}: the reconcile schedule's role is missing")
    for p in problems:
        print(f"error: {p}")
    print(f"{len(roles)} roles checked after the SAM transform, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
