"""`python -m governance report …` and `python -m governance verify-pack FILE.zip`."""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

from governance import vocabulary
from governance.errors import InvalidInputError
from governance.jobs import current_progress

FORMATS = ("pdf", "html", "json", "pack")


def add_parsers(commands, *, workspace: argparse.ArgumentParser, parser_class) -> None:
    report = commands.add_parser("report", parents=[workspace],
                                 help="write a report for auditors: PDF, self-contained HTML, JSON or an audit pack")
    report.add_argument("--kind", choices=vocabulary.REPORT_KINDS, default="model",
                        help="model: one version's record; review: one committee review; coverage: frameworks")
    report.add_argument("--model", help="the model (kind model)")
    report.add_argument("--version", help="the version (kind model)")
    report.add_argument("--review", metavar="ID", help="the review, e.g. RV-0001 (kind review)")
    report.add_argument("--format", choices=FORMATS, default="pdf")
    report.add_argument("--suppress-below", type=int, default=vocabulary.SUPPRESS_BELOW, metavar="N",
                        help="withhold per-group figures of groups smaller than N (default 10)")
    report.add_argument("--by", metavar="USER", help="who generates it, printed on the report (default: unnamed)")
    report.add_argument("--out", required=True, metavar="PATH")
    report.add_argument("--json", action="store_true", help="print the result as JSON")

    verify = commands.add_parser("verify-pack", help="check every file of an audit pack against its manifest "
                                                     "(exit 1 if any is changed, missing or added)")
    verify.add_argument("pack", metavar="FILE.zip")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")


def _write(path: str, content: bytes) -> None:
    """Written whole, then renamed into place: a crash never leaves half a report under the name."""
    target = Path(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, target)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path} ({exc.strerror}): choose a writable path") from None


def _generated_by(by: str | None) -> str | None:
    """Printed on the report: through the server, the token's account (checked), with --by as its own words."""
    from governance.caller import through_server

    remote = through_server()
    if remote is None:
        return by
    return remote.user.recorded_as + (f", {by}" if by and by != remote.user.user_name else "")


def report(store, args) -> dict:
    from governance import audit_pack, report_render, reports   # WeasyPrint, matplotlib, SHAP: only here

    built = reports.build(store, kind=args.kind, model=args.model, version=args.version, review_id=args.review,
                          suppress_below=args.suppress_below, generated_by=_generated_by(args.by))
    if args.format == "pack":
        rendered, timings = report_render.render(built, formats=("pdf", "html", "json"), progress=current_progress())
        content = audit_pack.build_pack(built, rendered=rendered, store=store)
    else:
        rendered, timings = report_render.render(built, formats=(args.format,), progress=current_progress())
        content = rendered[args.format]
    _write(args.out, content)
    return {"kind": args.kind, "report_id": built["report_id"], "format": args.format, "out": args.out,
            "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            "seconds": {stage: round(s, 3) for stage, s in timings.items()}}


def print_report(result: dict) -> None:
    print(f"wrote {result['out']}: {result['bytes']:,} bytes, sha256 {result['sha256']}")


def verify_pack(store, args) -> dict:
    from governance import audit_pack, ledger_keys

    path = Path(args.pack)
    try:
        size = path.stat().st_size
        if size > audit_pack.MAX_MEMBER_BYTES * 2:
            raise InvalidInputError(f"{path} is {size:,} bytes: too large for an audit pack")
        content = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path} ({exc.strerror})") from None
    return {"pack": str(path), **audit_pack.verify_pack(content, name=str(path), key=ledger_keys.load())}


def print_verify_pack(result: dict) -> None:
    if result["ok"]:
        print(f"pack intact: {result['checked']} files match the manifest of {result['report_id']} "
              f"(manifest seal {result['manifest']})")
        return
    print(f"pack FAILED: {result['report_id']}")
    for label in ("changed", "missing", "added"):
        for name in result[label]:
            print(f"  {label}: {name}")
    if result["manifest"] == "INVALID":
        print("  the manifest's seal does not match this workspace's ledger key: the manifest was rewritten")


COMMANDS = {"report": (report, print_report, lambda result: 0),
            "verify-pack": (verify_pack, print_verify_pack, lambda result: 0 if result["ok"] else 1)}
OPENS_NO_WORKSPACE = {"verify-pack"}
