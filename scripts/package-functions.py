#!/usr/bin/env python3
"""Builds the functions without `sam build`, into the layout `sam deploy` reads.

    scripts/package-functions.py            # cargo lambda build --release --arm64, then lay out
    scripts/package-functions.py --no-build # lay out what target/lambda already holds
    scripts/package-functions.py --list     # the functions it would build: logical id, binary, CodeUri

`sam build` (BuildMethod rust-cargolambda) runs `cargo lambda build` once per function;
this runs it once for the whole workspace, then writes what `sam build` writes:
`.aws-sam/build/<LogicalId>/bootstrap` for every function of template.yaml, and
`.aws-sam/build/template.yaml`, template.yaml with each function's CodeUri pointing at its
folder. `sam deploy` then deploys that template, as after `sam build`.

It needs cargo-lambda (`pip install cargo-lambda`) on PATH, and prints each function's
binary size and the whole.
"""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".aws-sam", "build")


def functions(template: str):
    """(logical id, binary, code uri) of every AWS::Serverless::Function, read from the
    template's text: each resource at two spaces of indentation, its Metadata's
    BuildProperties.Binary and its CodeUri."""
    found = []
    blocks = re.split(r"\n(?=  [A-Za-z0-9]+:\n)", template)
    for block in blocks:
        head = re.match(r"\s*([A-Za-z0-9]+):\n    Type: AWS::Serverless::Function\n", block)
        if not head:
            continue
        binary = re.search(r"\n        Binary: (\S+)\n", block)
        code = re.search(r"\n      CodeUri: (\S+)\n", block)
        if not binary or not code:
            sys.exit(f"{head.group(1)}: no BuildProperties.Binary or CodeUri in template.yaml")
        found.append((head.group(1), binary.group(1), code.group(1)))
    return found


def main() -> int:
    build = "--no-build" not in sys.argv[1:]
    with open(os.path.join(ROOT, "template.yaml")) as f:
        template = f.read()
    fns = functions(template)
    if not fns:
        sys.exit("no AWS::Serverless::Function in template.yaml")
    if "--list" in sys.argv[1:]:
        for f in fns:
            print(" ".join(f))
        return 0
    if build:
        cmd = ["cargo", "lambda", "build", "--release", "--arm64", "--workspace"]
        for _, binary, _ in fns:
            cmd += ["--bin", binary]
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    total = 0
    for logical, binary, code in fns:
        source = os.path.join(ROOT, "target", "lambda", binary, "bootstrap")
        if not os.path.exists(source):
            sys.exit(f"{source} is missing: run without --no-build (cargo lambda build)")
        folder = os.path.join(BUILD, logical)
        os.makedirs(folder, exist_ok=True)
        shutil.copy2(source, os.path.join(folder, "bootstrap"))
        size = os.path.getsize(source)
        total += size
        print(f"{logical:<24} {binary:<26} {size / 1e6:6.1f} MB")
        template, n = re.subn(
            rf"(\n      CodeUri: ){re.escape(code)}\n", rf"\g<1>{logical}\n", template, count=1
        )
        if n != 1:
            sys.exit(f"{logical}: CodeUri {code} not found once")
    # Other local files the template names stay where they are: from .aws-sam/build, two
    # folders up (as `sam build` writes them).
    template = re.sub(
        r"(\n\s+DefinitionS3Location: )(?!s3://)([^\s]+)\n", r"\g<1>../../\g<2>\n", template
    )
    with open(os.path.join(BUILD, "template.yaml"), "w") as f:
        f.write(template)
    print(f"{len(fns)} functions, {total / 1e6:.1f} MB of binaries (unzipped) in {BUILD}")
    print("next: sam deploy (it deploys .aws-sam/build/template.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
