"""`workbench scan DIR [--json]`: what the Data workspace reports about a folder, from the terminal.

The scan report (images, labels, formats, skipped files) and the model-free data checks (data/checks.py: duplicates,
blurry, dark, light, low information, grayscale, odd aspect ratio and size), each issue with its count and a few
example paths. Read-only: nothing is written, inside the folder or elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os

from workbench.console import ConsoleReporter
from workbench.data.checks import check_folder
from workbench.data.scan import scan_folder

EXAMPLES = 3  # example paths per issue in the text report


def scan(args: argparse.Namespace) -> int:
    """Print the scan report and the data checks of args.data (text, or one JSON object with --json)."""
    report = scan_folder(args.data)
    reporter = None if args.json else ConsoleReporter()
    try:
        if reporter is not None:
            reporter.message(f"Checking {len(report.paths):,} images ...")
        checks = check_folder(
            report.root,
            report.paths,
            workers=min(4, os.cpu_count() or 1),
            progress=reporter.progress if reporter is not None else None,
            should_stop=reporter.should_stop if reporter is not None else None,
        )
    finally:
        if reporter is not None:
            reporter.finish()
    if args.json:
        print(json.dumps({"scan": report.to_dict(), "checks": checks.to_dict()}))
    else:
        print(report.summary())
        print(checks.summary(EXAMPLES))
    return 0
