"""What every self-contained HTML page of sshconv shares: one style sheet, escaping, embedded pictures."""

from __future__ import annotations

import base64
import html
from typing import Any

#: The style sheet of every page (verify's report, eval's report), inline: a page fetches nothing.
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1200px;
       padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.verdict { font-size: 18px; font-weight: 600; padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.pass { background: #e3f6e5; color: #14591d; border: 1px solid #9fd8a6; }
.fail { background: #fde7e7; color: #8a1111; border: 1px solid #f0a3a3; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f4f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: #14591d; font-weight: 600; } td.bad { color: #8a1111; font-weight: 600; } td.info { color: #555; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; max-width: 260px; }
h3 { font-size: 14px; margin: 14px 0 6px; } table.outputs td { min-width: 90px; } small { color: #555; font-weight: 400; }
img { display: block; border: 1px solid #ddd; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px -1px 10px; }
"""


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``data`` as a data URI, to embed a picture in the page itself."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML, attribute values included."""
    return html.escape(str(value), quote=True)
