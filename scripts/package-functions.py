#!/usr/bin/env python3
"""Builds the functions without `sam build`, into a layout `sam deploy` reads.

    scripts/package-functions.py            # cargo lambda build --release --arm64, then lay out
    scripts/package-functions.py --no-build # lay out what target/functions/lambda already holds
    scripts/package-functions.py --list     # the functions it lays out: logical id, binary, handler, CodeUri
    scripts/package-functions.py --write    # also writes the sizes into docs/PERFORMANCE.md

Every function of template.yaml runs the same binary, `greenlight-functions` (its Handler
picks the handler). This builds it once, puts it in `.aws-sam/build/Functions/bootstrap`,
and writes `.aws-sam/build/template.yaml`: template.yaml with every function's CodeUri
pointing at that folder. `sam deploy` then deploys that template, as after `sam build`, and
uploads the one artefact once (the same content has the same S3 key).

It needs cargo-lambda (`pip install cargo-lambda`) on PATH, and prints the binary's size
and its zipped size.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".aws-sam", "build")
FOLDER = "Functions"


def functions(template: str):
    """(logical id, binary, handler, code uri) of every AWS::Serverless::Function, read from
    the template's text: each resource at two spaces of indentation, its Metadata's
    BuildProperties.Binary, its Handler and its CodeUri."""
    found = []
    blocks = re.split(r"\n(?=  [A-Za-z0-9]+:\n)", template)
    for block in blocks:
        head = re.match(r"\s*([A-Za-z0-9]+):\n    Type: AWS::Serverless::Function\n", block)
        if not head:
            continue
        binary = re.search(r"\n        Binary: (\S+)\n", block)
        handler = re.search(r"\n      Handler: (\S+)\n", block)
        code = re.search(r"\n      CodeUri: (\S+)\n", block)
        if not binary or not handler or not code:
            sys.exit(f"{head.group(1)}: no BuildProperties.Binary, Handler or CodeUri in template.yaml")
        found.append((head.group(1), binary.group(1), handler.group(1), code.group(1)))
    return found


def zipped_size(path: str) -> int:
    """The size of `path` zipped alone as `bootstrap`, as `sam deploy` uploads it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "code.zip")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, "bootstrap")
        return os.path.getsize(out)


def write_size(binary: str, functions: int, size: int, zipped: int):
    """Rewrites the generated size table of docs/PERFORMANCE.md (`<!-- size:start -->`)."""
    path = os.path.join(ROOT, "docs", "PERFORMANCE.md")
    with open(path) as f:
        doc = f.read()
    block = (
        "| artefact | binary | zip |\n|---|---:|---:|\n"
        f"| `{binary}` (arm64), every one of the {functions} functions | "
        f"{size / 1e6:.1f} MB | {zipped / 1e6:.1f} MB |\n"
    )
    start, end = "<!-- size:start -->\n", "<!-- size:end -->"
    a, b = doc.find(start), doc.find(end)
    if 0 <= a < b:
        doc = doc[:a] + start + block + doc[b:]
    else:
        doc = doc + start + block + end + "\n"
    with open(path, "w") as f:
        f.write(doc)
    print(f"wrote {path}")


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
    binaries = sorted({binary for _, binary, _, _ in fns})
    if len(binaries) != 1:
        sys.exit(f"the functions run {binaries}; expected one binary")
    binary = binaries[0]
    if build:
        cmd = ["cargo", "lambda", "build", "--release", "--arm64", "--bin", binary]
        print("$ " + " ".join(cmd), flush=True)
        # From the binary's crate, as `sam build` runs it (CodeUri).
        subprocess.run(cmd, cwd=os.path.join(ROOT, "functions", "common"), check=True)
    # functions/common/.cargo/config.toml builds the functions into target/functions.
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target", "functions")
    source = os.path.join(target, "lambda", binary, "bootstrap")
    if not os.path.exists(source):
        sys.exit(f"{source} is missing: run without --no-build (cargo lambda build)")
    folder = os.path.join(BUILD, FOLDER)
    os.makedirs(folder, exist_ok=True)
    shutil.copy2(source, os.path.join(folder, "bootstrap"))
    for logical, _, handler, code in fns:
        print(f"{logical:<24} Handler: {handler}")
        template, n = re.subn(
            rf"(\n      CodeUri: ){re.escape(code)}(\n      Handler: {re.escape(handler)}\n)",
            rf"\g<1>{FOLDER}\g<2>",
            template,
            count=1,
        )
        if n != 1:
            sys.exit(f"{logical}: CodeUri {code} then Handler {handler} not found once")
    # Other local files the template names stay where they are: from .aws-sam/build, two
    # folders up (as `sam build` writes them).
    template = re.sub(
        r"(\n\s+DefinitionS3Location: )(?!s3://)([^\s]+)\n", r"\g<1>../../\g<2>\n", template
    )
    with open(os.path.join(BUILD, "template.yaml"), "w") as f:
        f.write(template)
    size, zipped = os.path.getsize(source), zipped_size(source)
    print(
        f"{len(fns)} functions, one binary {binary}: {size / 1e6:.1f} MB, "
        f"{zipped / 1e6:.1f} MB zipped, in {folder}"
    )
    if "--write" in sys.argv[1:]:
        write_size(binary, len(fns), size, zipped)
    print("next: sam deploy (it deploys .aws-sam/build/template.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
