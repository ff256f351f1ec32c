"""Screenshot charts of a gitchaos report.html with headless Chromium.
Used for docs/opal/img: see docs/opal.md, "Evidence".
usage: chartshot.py report.html outdir chart-id=name.png ..."""
import os, re, subprocess, sys, tempfile
src, outdir, picks = sys.argv[1], sys.argv[2], sys.argv[3:]
s = open(src).read()
style = "".join(re.findall(r"<style[^>]*>.*?</style>", s, re.S))
for pick in picks:
    cid, name = pick.split("=")
    i = s.index(f'id="{cid}"')
    j = s.rfind("<figure", 0, i)
    k = s.index("</figure>", i) + len("</figure>")
    html = f"<!doctype html><html><head><meta charset=utf-8>{style}<style>body{{margin:8px;background:#fff}} figure{{margin:0;max-width:720px}}</style></head><body>{s[j:k]}</body></html>"
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as f:
        f.write(html)
    out = os.path.join(outdir, name)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=760,560", f"--screenshot={out}", "file://" + f.name],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    os.unlink(f.name)
    print(out)
