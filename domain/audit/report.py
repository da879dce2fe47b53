"""The evidence bundle as a printable HTML report (``audit export --format html``).

The same content as the JSON bundle, laid out for a person: the case, the
anchoring checkpoint and its signature, the checkpoint chain, and a table of
every event with its decoded reading (type, time, actor, roles, data,
changes) next to its hash and chain link; the stored bytes are in an
appendix. The JSON bundle is what ``verify-bundle`` checks: the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

STYLE = """body{font:11pt/1.4 sans-serif;margin:2em}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #999;padding:4px;vertical-align:top;text-align:left}code,pre{font-size:8pt;
word-break:break-all;white-space:pre-wrap}h2{page-break-before:auto}@media print{a{color:black}}"""


def _j(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True))


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def bundle_html(bundle: Mapping[str, Any]) -> str:
    """The printable report of ``bundle``."""
    case, cp = bundle.get("case") or {}, bundle.get("checkpoint")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Evidence: "
             f"{escape(str(case.get('number', bundle['aggregate_id'])))}</title><style>{STYLE}</style></head><body>",
             f"<h1>Evidence report: case {escape(str(case.get('number', '')))}</h1>",
             "<table>", _row("case id", f"<code>{escape(bundle['aggregate_id'])}</code>"),
             *(_row(escape(str(k)), escape(str(v))) for k, v in case.items()),
             _row("exported at", escape(bundle["exported_at"])), _row("exported by", escape(bundle["exported_by"])),
             _row("format", escape(bundle["format"])), "</table>", "<h2>Anchoring checkpoint</h2>"]
    if cp:
        parts += ["<table>", *(_row(escape(k), f"<code>{escape(str(cp.get(k)))}</code>") for k in (
            "seq", "at", "position", "access_position", "count", "root", "prev", "key_id", "scheme", "signature")),
            _row("covers", f"version {cp['leaf']['version']}, head <code>{escape(cp['leaf']['head'])}</code>"),
            "</table>"]
    else:
        parts.append("<p><strong>No signed checkpoint covers this case: its history is not anchored.</strong></p>")
    key = bundle.get("public_key")
    if key:
        parts.append(f"<p>Signed by key <code>{escape(key['key_id'])}</code>:</p><pre>{escape(key['pem'])}</pre>")
    chain = bundle.get("checkpoint_chain") or []
    if chain:
        parts += ["<h2>Checkpoint chain</h2><table><tr><th>#</th><th>at</th><th>root</th><th>prev</th></tr>",
                  *(_row(str(c["seq"]), escape(str(c["at"])), f"<code>{c['root']}</code>",
                         f"<code>{escape(str(c.get('prev')))}</code>") for c in chain), "</table>"]
    parts += ["<h2>Events</h2><table><tr><th>v</th><th>type / time / actor</th><th>data and changes</th>"
              "<th>hash, prev_hash</th></tr>"]
    for e in bundle["events"]:
        d = e.get("decoded") or {}
        who = (f"<b>{escape(str(d.get('type')))}</b><br>{escape(str(d.get('occurred_at')))}<br>"
               f"{escape(str(d.get('actor')))} ({escape(', '.join(map(str, d.get('roles') or [])))})"
               + ("<br>imported" if d.get("imported") else ""))
        data = f"<pre>{_j(d.get('data'))}</pre>" + (f"<b>changes</b><pre>{_j(d['changes'])}</pre>"
                                                     if d.get("changes") else "")
        parts.append(_row(str(e["version"]), who, data, f"<code>{e['hash']}</code><br><code>{e['prev_hash']}</code>"))
    parts += ["</table><h2>Appendix: stored bytes (base64)</h2>",
              *(f"<p>v{e['version']} <code>{escape(e['topic'])}</code></p><pre>{e['state']}</pre>"
                for e in bundle["events"]),
              "<p>This report is a reading aid. The JSON bundle is the evidence: check it with "
              "<code>casetrail audit verify-bundle FILE --public-key PEM_FILE</code>.</p></body></html>\n"]
    return "\n".join(parts)
