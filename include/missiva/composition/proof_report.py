"""The reviewer's page of a proof report (``index.html``), rendered from its summary.

Per language and channel: the two versions side by side (texts, screenshots at phone
and desktop widths, PDF pages) with the differences (line diffs; changed pixels in red
on the faded new version), then the regulatory blocks and required fields that changed.
Links are relative: the report folder can be zipped, served or opened from disk.
"""

from typing import Any

import jinja2

_INDEX = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """{% macro shots(title, v) %}
<p>{{ title }}: <span class="{{ 'changed' if v.changed_pixels else 'same' }}">
  {{- v.changed_pixels }} of {{ v.total_pixels }} pixels changed</span></p>
<div class="cols">
{% for key in ("from", "to", "diff") %}<figure><figcaption>{{ key }}</figcaption>
{% if v.images[key] %}<img src="{{ v.images[key] }}" alt="{{ title }}, {{ key }}">
{% else %}absent{% endif %}</figure>{% endfor %}
</div>
{% endmacro -%}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proof: {{ s.communication }} {{ s.from.version }} → {{ s.to.version }}</title>
<style>
body { margin: 0; font-family: "DejaVu Sans", Verdana, sans-serif; color: #1f2933; }
header { padding: 12px 20px; background: #1f2933; color: #fff; }
header h1 { font-size: 18px; margin: 0 0 4px; }
header p { margin: 2px 0; font-size: 13px; color: #cbd2d9; }
main { padding: 12px 20px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #cbd2d9; padding: 4px 8px; text-align: left; vertical-align: top; }
.changed { background: #fde8e8; color: #9b1c1c; font-weight: bold; }
.same { color: #3e7c17; }
.cols { display: flex; gap: 12px; align-items: flex-start; flex-wrap: wrap; }
.cols figure { margin: 0; max-width: 32%; }
.cols img { max-width: 100%; border: 1px solid #9aa5b1; }
figcaption { font-size: 12px; color: #52606d; }
pre { background: #f5f7fa; padding: 8px; white-space: pre-wrap; font-size: 12px; max-width: 46vw; }
pre.diff span { display: block; }
.add { background: #e3f9e5; } .del { background: #fde8e8; } .hunk { color: #52606d; }
.error { color: #9b1c1c; background: #fde8e8; padding: 6px; white-space: pre-wrap; }
h2 { font-size: 17px; border-bottom: 2px solid #1f2933; padding-bottom: 2px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
</style>
</head>
<body>
<header>
  <h1>{{ s.communication }}: {{ s.from.version }}
    {%- if s.from.label != s.from.version %} ({{ s.from.label }}){% endif %} →
    {{ s.to.version }}{% if s.to.label != s.to.version %} ({{ s.to.label }}){% endif %} ·
    {{ "CHANGED" if s.changed else "no change" }}</h1>
  {% for key in ("from", "to") %}{% set side = s[key] %}
  <p>{{ key }}: version {{ side.version }}, {{ side.source }}, content {{ side.sha256[:12] }},
    {{ side.status }}{% if side.approved_by %} by {{ side.approved_by }} at {{ side.approved_at }}
    {%- endif %}{% if side.pending_blocks %}; blocks pending approval:
    {{ side.pending_blocks | join(", ") }}{% endif %}</p>
  {% endfor %}
  <p>record: {{ s.record }}</p>
</header>
<main>
<h2>Summary</h2>
<table id="channels">
<tr><th>channel</th>{% for lang in s.languages %}<th>{{ lang }}</th>{% endfor %}</tr>
{% for channel, by_lang in s.channels.items() %}
<tr><th>{{ channel }}</th>{% for lang in s.languages %}
  <td class="{{ 'changed' if by_lang[lang] else 'same' }}">
  {{- "changed" if by_lang[lang] else "unchanged" }}</td>{% endfor %}</tr>
{% endfor %}
</table>
<h3>Regulatory blocks</h3>
<table id="blocks">
<tr><th>block</th><th>from</th><th>to</th><th>wording</th><th>approval</th><th>in</th></tr>
{% for name, b in s.regulatory_blocks.items() %}
<tr class="{{ 'changed' if b.changed }}"><td>{{ name }}</td><td>{{ b.from or "—" }}</td>
<td>{{ b.to or "—" }}</td><td>{{ "changed" if b.wording_changed else "same" }}</td>
<td>{{ "pending" if b.pending_approval else "approved" }}</td>
<td>{{ b.renditions | join(", ") }}</td></tr>
{% else %}<tr><td colspan="6">no regulatory block rendered</td></tr>{% endfor %}
</table>
<h3>Required fields</h3>
{% if s.required_fields.changed %}<table id="fields">
<tr><th>for</th><th>added</th><th>removed</th></tr>
{% for key, f in s.required_fields.by_rendition.items() %}
<tr class="changed"><td>{{ key }}</td><td>{{ f.added | join(", ") }}</td>
<td>{{ f.removed | join(", ") }}</td></tr>{% endfor %}
</table>{% else %}<p class="same">unchanged</p>{% endif %}

{% for lang, entries in s.languages.items() %}
<h2 id="lang-{{ lang }}">Language {{ lang }}</h2>
{% for rendition, e in entries.items() %}
{% if e.present.from or e.present.to %}
<section id="{{ lang }}-{{ rendition }}">
<h3>{{ rendition }} <span class="{{ 'changed' if e.changed else 'same' }}">
  {{- "changed" if e.changed else "unchanged" }}</span>
{% if rendition == "sms" %}· <span class="{{ 'changed' if e.segments_changed }}">segments
  {{ e.get("from", {}).get("segments", "—") }} → {{ e.get("to", {}).get("segments", "—") }}
  </span> ({{ e.get("from", {}).get("encoding", "—") }} →
  {{ e.get("to", {}).get("encoding", "—") }}){% endif %}
{% if e.pages is defined %}· pages {{ e.pages.from }} → {{ e.pages.to }}{% endif %}</h3>
{% for key in ("from", "to") %}{% if e.errors[key] %}
<p class="error">{{ key }}: {{ e.errors[key] }}</p>{% endif %}{% endfor %}
{% if e.text is defined %}
<div class="cols">
  <figure><figcaption>from</figcaption><pre>{{ e.text.from or "—" }}</pre></figure>
  <figure><figcaption>to</figcaption><pre>{{ e.text.to or "—" }}</pre></figure>
</div>
{% if e.diff %}<pre class="diff">{% for line in e.diff %}<span class="
  {{- 'add' if line[:1] == '+' else 'del' if line[:1] == '-' else 'hunk' if line[:1] == '@'
  }}">{{ line }}</span>{% endfor %}</pre>{% endif %}
{% endif %}
{% for view, v in e.get("views", {}).items() %}{{ shots(view ~ " view", v) }}{% endfor %}
{% for p in e.get("page_diffs", []) %}{{ shots("page " ~ p.page, p) }}{% endfor %}
</section>
{% endif %}
{% endfor %}
{% endfor %}
</main>
</body>
</html>
"""
)


def render_index(summary: dict[str, Any]) -> str:
    """The report page for ``summary`` (as :func:`missiva.composition.proof.diff_templates`
    writes it)."""
    return _INDEX.render(s=summary)
