#!/usr/bin/env python3
"""Summarize bench/compare.sh runs: median round per (scenario, system), ratios to the bare
pingora passthrough, a table (table.txt), the data (results.json) and a chart (chart.svg).

usage: summarize.py RUNS.jsonl OUT_DIR
"""
import json
import math
import statistics
import sys
from collections import defaultdict

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
out = sys.argv[2]
if not runs:
    sys.exit(f"summarize.py: {sys.argv[1]} holds no runs")

groups = defaultdict(list)
for r in runs:
    groups[(r["scenario"], r["system"])].append(r)

by_round = {(r["scenario"], r["system"], r["round"]): r for r in runs}
rounds = sorted({r["round"] for r in runs})

def paired(scenario, system, base_scenario, base_system, metric):
    """The median over rounds of one round's ratio: systems run next to each other within a
    round, so the VM's drift between rounds cancels out."""
    pairs = [(by_round.get((scenario, system, n)), by_round.get((base_scenario, base_system, n)))
             for n in rounds]
    ratios = [metric(r) / metric(base) for r, base in pairs if r and base and metric(base)]
    return statistics.median(ratios) if ratios else None

rps = lambda r: r["rps"]
p99 = lambda r: r["latency_ms"]["p99"]

rows = []
for (scenario, system), rs in groups.items():
    median = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
    rows.append({
        "scenario": scenario,
        "system": system,
        "rps": median["rps"],
        "rps_rounds": [round(r["rps"]) for r in rs],
        "latency_ms": median["latency_ms"],
        "statuses": median["statuses"],
        "errors": median["errors"],
    })

order = []
for r in runs:
    key = (r["scenario"], r["system"])
    if key not in order:
        order.append(key)
rows.sort(key=lambda r: order.index((r["scenario"], r["system"])))

# The base of a row: the passthrough sent the same requests when the table has one, else the
# passthrough without auth.
scenarios_with_passthrough = {r["scenario"] for r in rows if r["system"] == "passthrough"}
for r in rows:
    base = r["scenario"] if r["scenario"] in scenarios_with_passthrough else "no auth"
    if ("no auth", "passthrough") in groups:
        r["passthrough_scenario"] = base
        r["rps_vs_passthrough"] = paired(r["scenario"], r["system"], base, "passthrough", rps)
        r["p99_vs_passthrough"] = paired(r["scenario"], r["system"], base, "passthrough", p99)
# And against plain nginx, the ceiling: its row in the same scenario, else nginx without auth.
scenarios_with_nginx = {r["scenario"] for r in rows if r["system"] == "nginx"}
for r in rows:
    base = r["scenario"] if r["scenario"] in scenarios_with_nginx else "no auth"
    if ("no auth", "nginx") in groups:
        r["rps_vs_nginx"] = paired(r["scenario"], r["system"], base, "nginx", rps)

def ratio(value):
    """A ratio as printed; "n/a" where the base answered nothing."""
    return "n/a" if value is None else f"{value:.2f}x"

header = f"{'scenario':<22} {'system':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'vs pass req/s':>14} {'vs pass p99':>12} {'vs nginx':>9}  statuses"
lines = [header, "-" * len(header)]
for r in rows:
    lat = r["latency_ms"]
    lines.append(
        f"{r['scenario']:<22} {r['system']:<18} {r['rps']:>9.0f} {lat['p50']:>8.3f} {lat['p99']:>8.3f} {lat['p999']:>9.3f} "
        f"{ratio(r.get('rps_vs_passthrough')):>14} {ratio(r.get('p99_vs_passthrough')):>12} {ratio(r.get('rps_vs_nginx')):>9}  {r['statuses']}"
    )
lines.append("")
lines.append("vs pass: median of the rounds' ratios to the passthrough sent the same requests (its row in")
lines.append("the same scenario), or to the passthrough without auth where a scenario has no such row;")
lines.append("vs nginx: the same against plain nginx (the ceiling), requests/s.")
# `paired` is None where either side is missing or answered nothing.
vs_plain = paired("RS256 cached", "portcullis", "no auth", "passthrough", rps)
vs_plain_p99 = paired("RS256 cached", "portcullis", "no auth", "passthrough", p99)
if vs_plain is not None and vs_plain_p99 is not None:
    lines.append(f"Portcullis RS256 cached vs the passthrough without auth (no token sent): "
                 f"{vs_plain:.2f}x requests/s, p99 {vs_plain_p99:.2f}x")
for peer, what in [("nginx", "plain nginx (the ceiling)"), ("haproxy", "HAProxy jwt_verify + claims"),
                  ("envoy", "Envoy jwt_authn"), ("envoy+cache", "Envoy jwt_authn with its cache"),
                  ("nginx+lua", "nginx+Lua"), ("nginx+lua+cache", "nginx+Lua with a cache"),
                  ("nginx+njs", "nginx+njs"), ("apache+oauth2", "Apache mod_oauth2"),
                  ("apache+oidc", "Apache mod_auth_openidc")]:
    vs = paired("RS256 cached", "portcullis", "RS256 cached", peer, rps)
    if vs is not None:
        lines.append(f"Portcullis RS256 cached vs {what}: {vs:.2f}x requests/s")
rate_scenario = next((r["scenario"] for r in rows if r["scenario"].startswith("RS256 at ")), None)
if rate_scenario:
    for peer in ["nginx+lua", "nginx+lua+cache", "nginx", "haproxy"]:
        vs = paired(rate_scenario, "portcullis", rate_scenario, peer, p99)
        if vs is not None:
            lines.append(f"{rate_scenario}: Portcullis p99 vs {peer}: {vs:.2f}x")
vs_nginx = paired("RS256 cached", "nginx+auth_request", "RS256 cached", "nginx", rps)
if vs_nginx is not None:
    # Both saturate the one proxy core, so the time a request costs is 1/rate: the difference
    # is what a check costs (nginx's subrequest plus Portcullis's answer).
    costs = [1e6 / a["rps"] - 1e6 / b["rps"]
             for a, b in ((by_round.get(("RS256 cached", "nginx+auth_request", n)),
                           by_round.get(("RS256 cached", "nginx", n))) for n in rounds)
             if a and b and a["rps"] and b["rps"]]
    lines.append(f"nginx + auth_request to Portcullis vs nginx alone: {vs_nginx:.2f}x requests/s, "
                 f"{statistics.median(costs):.1f} µs of the proxy core per check")
table = "\n".join(lines)
print(table)
open(f"{out}/table.txt", "w").write(table + "\n")
json.dump(rows, open(f"{out}/results.json", "w"), indent=2)

# --- chart.svg: requests/s per system and scenario; latency percentiles on a log axis ---
W, ROW, LEFT = 980, 22, 260
colors = {"passthrough": "#888888", "portcullis": "#1f6feb", "haproxy": "#d1242f", "nginx": "#2da44e",
          "nginx+auth_request": "#8250df", "envoy": "#bf8700", "envoy+cache": "#9a6700",
          "nginx+lua": "#1a7f37", "nginx+lua+cache": "#116329", "nginx+njs": "#4ac26b",
          "apache+oauth2": "#cf222e", "apache+oidc": "#a40e26"}
top = 40
height = top + ROW * len(rows) + 60 + ROW * len(rows) + 60
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">',
       '<rect width="100%" height="100%" fill="white"/>',
       f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">Requests per second (median of rounds; one proxy core)</text>']
max_rps = max(r["rps"] for r in rows) or 1
for i, r in enumerate(rows):
    y = top + i * ROW
    w = (W - LEFT - 120) * r["rps"] / max_rps
    svg.append(f'<text x="{LEFT - 8}" y="{y + 14}" text-anchor="end">{r["system"]} / {r["scenario"]}</text>')
    svg.append(f'<rect x="{LEFT}" y="{y + 3}" width="{w:.1f}" height="{ROW - 6}" fill="{colors.get(r["system"], "#444")}"/>')
    svg.append(f'<text x="{LEFT + w + 6:.1f}" y="{y + 14}">{r["rps"]:,.0f}</text>')

y0 = top + ROW * len(rows) + 50
svg.append(f'<text x="{LEFT}" y="{y0 - 16}" font-size="15" font-weight="bold">Latency (ms, log scale): p50 ● p99 ▲ p99.9 ■</text>')
all_lat = [v for r in rows for k, v in r["latency_ms"].items() if k in ("p50", "p99", "p999") and v > 0] or [1.0]
lo, hi = math.log10(min(all_lat)), math.log10(max(all_lat))
hi = hi if hi > lo else lo + 1
span = W - LEFT - 60
def x_of(v):
    return LEFT + span * (math.log10(max(v, 1e-6)) - lo) / (hi - lo)
for tick in range(math.floor(lo), math.ceil(hi) + 1):
    for m in (1, 2, 5):
        v = m * 10 ** tick
        if lo <= math.log10(v) <= hi:
            x = x_of(v)
            svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y0 + ROW * len(rows)}" stroke="#ddd"/>')
            svg.append(f'<text x="{x:.1f}" y="{y0 + ROW * len(rows) + 14}" text-anchor="middle" fill="#666">{v:g}</text>')
for i, r in enumerate(rows):
    y = y0 + i * ROW + ROW / 2
    c = colors.get(r["system"], "#444")
    lat = r["latency_ms"]
    svg.append(f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{r["system"]} / {r["scenario"]}</text>')
    svg.append(f'<line x1="{x_of(lat["p50"]):.1f}" x2="{x_of(lat["p999"]):.1f}" y1="{y}" y2="{y}" stroke="{c}"/>')
    svg.append(f'<circle cx="{x_of(lat["p50"]):.1f}" cy="{y}" r="4" fill="{c}"/>')
    x99 = x_of(lat["p99"])
    svg.append(f'<path d="M{x99 - 5:.1f},{y + 4} L{x99 + 5:.1f},{y + 4} L{x99:.1f},{y - 5} Z" fill="{c}"/>')
    svg.append(f'<rect x="{x_of(lat["p999"]) - 4:.1f}" y="{y - 4}" width="8" height="8" fill="{c}"/>')
svg.append("</svg>")
open(f"{out}/chart.svg", "w").write("\n".join(svg))
print(f"\nwrote {out}/table.txt, {out}/results.json, {out}/chart.svg")
