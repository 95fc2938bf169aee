"""Write the documentation's command reference (docs/reference/cli.md) from sshconv's argument parser.

    python scripts/gen_cli_docs.py           # write the page
    python scripts/gen_cli_docs.py --check   # exit 1 if the committed page differs (what tests/test_docs.py checks)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sshconv.cli.reference import REFERENCE_PAGE, render_reference  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if the page is out of date")
    args = ap.parse_args()
    page, text = ROOT / REFERENCE_PAGE, render_reference()
    if args.check:
        same = page.is_file() and page.read_text(encoding="utf-8") == text
        print(f"{REFERENCE_PAGE}: {'up to date' if same else 'out of date: run python scripts/gen_cli_docs.py'}")
        return 0 if same else 1
    tmp = page.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(page)
    print(f"wrote {REFERENCE_PAGE} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
