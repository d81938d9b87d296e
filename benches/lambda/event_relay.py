"""The event relay written the way a Python function with boto3 would be: the comparison
for `cargo bench --bench lambda` (docs/PERFORMANCE.md), run under the same local Runtime
API as greenlight's binary. Same step: each SNS record's message that is a greenlight
notification goes to the default EventBridge bus in one PutEvents call; the others are
skipped with the reason.

It carries its own runtime loop (the Lambda Runtime API over http.client), as a custom
runtime does, so that init, invocation and memory are measured the same way for both.
"""

import datetime
import http.client
import json
import os

import boto3

EVENTS = boto3.client("events")
REQUIRED = ("event", "severity", "app", "environment", "deployment", "time")
CONSOLE = "https://{region}.console.aws.amazon.com"


def links(n):
    """The console pages of the execution and the ECS service, as greenlight links them."""
    out = {}
    execution = n.get("execution")
    if execution:
        region = execution.split(":")[3]
        out["execution"] = (
            f"{CONSOLE.format(region=region)}/states/home?region={region}#/v2/executions/details/{execution}"
        )
    service = n.get("service")
    if service and ":service/" in service:
        region = service.split(":")[3]
        cluster, name = service.split(":service/", 1)[1].split("/", 1)
        out["service"] = (
            f"{CONSOLE.format(region=region)}/ecs/v2/clusters/{cluster}/services/{name}/health?region={region}"
        )
    return out


def handler(event):
    entries, skipped = [], []
    for record in event["Records"]:
        try:
            n = json.loads(record["Sns"]["Message"])
            missing = [k for k in REQUIRED if k not in n]
            if missing:
                raise ValueError(f"missing field `{missing[0]}`")
        except ValueError as e:
            skipped.append(f"not a greenlight notification: {e}")
            continue
        detail = dict(n)
        detail["links"] = links(n)
        entries.append(
            {
                "EventBusName": "default",
                "Source": "greenlight",
                "DetailType": "Greenlight Deployment State Change",
                "Detail": json.dumps(detail),
                "Resources": [r for r in (n.get("execution"), n.get("service")) if r],
                "Time": datetime.datetime.fromisoformat(n["time"].replace("Z", "+00:00")),
            }
        )
    forwarded = 0
    for i in range(0, len(entries), 10):
        out = EVENTS.put_events(Entries=entries[i : i + 10])
        if out["FailedEntryCount"]:
            raise RuntimeError(f"{out['FailedEntryCount']} entries failed")
        forwarded += len(entries[i : i + 10])
    result = {"forwarded": forwarded}
    if skipped:
        result["skipped"] = skipped
    return result


def main():
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    base = "/2018-06-01/runtime/invocation"
    while True:
        api.request("GET", f"{base}/next")
        r = api.getresponse()
        event = json.loads(r.read())
        request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            body, path = json.dumps(handler(event)), f"{base}/{request_id}/response"
        except Exception as e:  # what the Python runtime reports for an unhandled error
            body = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)})
            path = f"{base}/{request_id}/error"
        api.request("POST", path, body=body.encode())
        api.getresponse().read()


if __name__ == "__main__":
    main()
