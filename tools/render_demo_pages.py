#!/usr/bin/env python3
"""Render the demo corpus: one clinic-style HTML page per real PubMed record.

Reads every export under <data>/pubmed-spine-ortho, keeps one record per PMID
(XML preferred over MEDLINE), and writes seeds/pages/<pmid>.html in one of four
markup layouts wrapped in varied site chrome, imitating the reposted abstracts
of seeds/000_81f1241a38740dd4.txt. Deterministic: a re-run is byte-identical.

    python tools/render_demo_pages.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a plain script from a checkout, uninstalled

from indexer.pages import headings  # noqa: E402
from indexer.pages.pubmed import PubmedEntry, read_export  # noqa: E402

SEED = "medsearch-demo-pages-v1"
CORPUS = "pubmed-spine-ortho"
SEED_PAGE = "000_81f1241a38740dd4.txt"
LAYOUTS = ("paragraphs", "table", "deflist", "legacy")
TEASER_WORDS = 25

ADDRESSES = ["19 Harley St, London, W1G 9QJ, UK", "19 Harley Street, London W1G 9QJ",
             "The London Spine Unit, 19 Harley St, London, W1G 9QJ, UK"]
PHONES = ["+44 844 589 2020", "+44 203 973 8810", "020 7467 8300"]
NAV = ["Home", "About Us", "Treatments", "Conditions", "Our Surgeons", "Patient Reviews",
       "Fees", "Research", "News", "Contact"]
TREATMENTS = [
    ("Laser Disc Surgery", "This surgical technique consists of a percutaneous approach for "
     "small to medium size hernias of the intervertebral disc by laser energy, reducing the "
     "pressure in the nucleus pulposus. It can be performed under local anaesthetic as a day case."),
    ("Facet Joint Injections", "Neck and lower back facet joint injections relieve pain from "
     "inflamed joints and help our consultants pinpoint its source."),
    ("Endoscopic Discectomy", "A keyhole procedure through an incision of less than one "
     "centimetre, allowing most patients home on the same day."),
    ("Radiofrequency Denervation", "Gentle heat interrupts the small nerves that carry pain "
     "signals from worn facet joints, with relief lasting many months."),
    ("Spinal Cord Stimulation", "A small implanted device that modulates chronic nerve pain "
     "when other treatments have not helped."),
    ("Kyphoplasty", "A minimally invasive option for painful vertebral compression fractures."),
]
BREADCRUMB_SECTIONS = ["Neck facet joint injections", "Laser disc surgery", "Back pain research",
                       "Spinal conditions", "Latest research"]
REVIEW_SITES = ["Trustpilot", "Doctify", "Top Doctor"]
QUOTES = [
    "After years of back pain I was walking normally within a week. Thank you!",
    "Professional, friendly and explained everything clearly.",
    "The laser procedure changed my life. Highly recommended.",
    "Seen quickly, treated the same day, excellent aftercare.",
    "My case manager was wonderful from the first call to the last follow-up.",
    "I flew in from Dubai for treatment and the VIP service was outstanding.",
]
PATIENTS = ["Sarah M.", "James T.", "A. Patel", "Mohammed K.", "Helen W.", "Verified patient"]
ABOUT = [
    "The London Spine Unit was established in 2005 and has successfully treated over 5000 "
    "patients. All conditions are treated.",
    "The London Spine Unit specialises in Minimally Invasive Treatments allowing rapid "
    "recovery and return to normal function.",
    "Trusted by patients worldwide: we provide the highest quality care and VIP services for "
    "those seeking exceptional services.",
    "If you have any emergency Doctor's need, simply call our 24 hour emergency line. Your "
    "personal case manager will ensure that you receive the best possible care.",
]
STYLE = """body{font-family:Arial,Helvetica,sans-serif;margin:0;color:#333}
.topbar{background:#0b3d5c;color:#fff;padding:6px 20px;font-size:13px}
nav ul{list-style:none;display:flex;gap:18px}.btn{background:#e07b00;color:#fff;padding:8px 14px}
.related,.reviews,.treatments{border-top:1px solid #ddd;margin-top:24px}
#cookie-banner{position:fixed;bottom:0;background:#222;color:#eee;padding:10px}"""


def esc(text: str) -> str:
    """Escape text for an HTML element body."""
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    """Escape text for a double-quoted attribute."""
    return html.escape(text, quote=True)


def load_entries(corpus: Path) -> list[PubmedEntry]:
    """One entry per PMID, ordered by PMID; XML files are read first so they win."""
    files = [p for p in corpus.rglob("*") if p.is_file() and p.name != "SOURCE.md"]
    files.sort(key=lambda p: (p.suffix != ".xml", p.relative_to(corpus).as_posix()))
    by_pmid: dict[str, PubmedEntry] = {}
    for path in files:
        for entry in read_export(path.read_bytes(), path.name):
            by_pmid.setdefault(entry.record.pmid, entry)
    return sorted(by_pmid.values(), key=lambda e: int(e.record.pmid))


def site_keywords(entry: PubmedEntry) -> str:
    """Keywords as the clinic site prints them.

    Descriptors lose the space after their comma ("Blood Patch,Epidural"), each is
    followed by its not-yet-shown qualifiers in lower case, then author keywords.
    """
    shown: list[str] = []
    seen: set[str] = set()

    def show(word: str) -> None:
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            shown.append(word)

    for descriptor, qualifiers in entry.mesh:
        show(descriptor.replace(", ", ","))
        for qualifier in qualifiers:
            show(qualifier.lower())
    mesh_words = {w.casefold() for d, qs in entry.mesh for w in [d, *qs]}
    for keyword in entry.record.keywords:  # author keywords follow the MeSH ones
        # A heading is "Descriptor/qualifier" in a record: its descriptor was shown above.
        if headings.descriptor(keyword).casefold() not in mesh_words:
            show(keyword)
    return ",".join(shown)


def page_title(entry: PubmedEntry) -> str:
    """The site drops PubMed's closing period from titles (as on the seed page)."""
    return entry.record.title.removesuffix(".")


def field_lines(entry: PubmedEntry, colon: str) -> list[tuple[str, str]]:
    """(label, value) pairs in the seed page's order; missing fields are left out."""
    r = entry.record
    fields = [("Keywords", site_keywords(entry)),
              ("Date of Publication", r.published or ""),
              ("Authors", "".join(f"{a};" for a in r.authors)),
              ("Organisation", r.organisation or ""),
              ("Journal of Publication", r.journal or ""),
              ("Pubmed Link", r.url or "")]
    return [(label + colon, value) for label, value in fields if value]


def field_value_html(label: str, value: str) -> str:
    if label.startswith("Pubmed Link"):
        return f'<a href="{attr(value)}">{esc(value)}</a>'
    return esc(value)


def abstract_paragraphs(abstract: str, rng: random.Random) -> list[str]:
    """The abstract cut into 1-4 <p> bodies at sentence ends, with &nbsp; and <br>.

    Whitespace-normalised and re-joined with spaces, the pieces give back the abstract.
    """
    sentences = re.split(r"(?<=[.?!]) (?=[A-Z(])", abstract)
    pieces = min(len(sentences), rng.randint(2, 4))
    cuts = sorted(rng.sample(range(1, len(sentences)), pieces - 1))
    bodies = []
    for start, end in zip([0, *cuts], [*cuts, len(sentences)]):
        words = esc(" ".join(sentences[start:end])).split(" ")
        if len(words) > 3:
            # WYSIWYG editors save some spaces as &nbsp; and soft returns as <br>.
            words[0] += "&nbsp;" + words.pop(1)
            spot = rng.randrange(1, len(words))
            words[spot] = "<br>\n" + words[spot]
        bodies.append(" ".join(words).replace(" <br>", "<br>"))
    return bodies


def article_paragraphs(title: str, abstract: str | None, fields, rng) -> str:
    parts = [f"<h1>{esc(title)}</h1>"]
    if abstract:
        parts.append(f"<p>{esc(abstract)}</p>")
    parts += [f"<p><strong>{esc(k)}</strong> {field_value_html(k, v)}</p>" for k, v in fields]
    return '<article class="post">\n' + "\n".join(parts) + "\n</article>"


def article_table(title: str, abstract: str | None, fields, rng) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{field_value_html(k, v)}</td></tr>\n"
                   for k, v in fields)
    body = f'<div class="entry-content">{esc(abstract)}</div>\n' if abstract else ""
    return (f'<div class="entry">\n<h2 class="entry-title">{esc(title)}</h2>\n{body}'
            f'<table class="entry-meta">\n{rows}</table>\n</div>')


def article_deflist(title: str, abstract: str | None, fields, rng) -> str:
    paragraphs = abstract_paragraphs(abstract, rng) if abstract else []
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    items = "".join(f"<dt>{esc(k)}</dt><dd>{field_value_html(k, v)}</dd>\n" for k, v in fields)
    return (f'<section class="post">\n<div class="post-title">{esc(title)}</div>\n'
            f'<div class="post-body">\n{body}</div>\n<dl class="post-meta">\n{items}</dl>\n</section>')


def article_legacy(title: str, abstract: str | None, fields, rng) -> str:
    # Hand-written 2000s markup: unclosed <p>/<td>; tags are upper-cased later.
    lines = [f'<font face="Verdana" size="4"><b>{esc(title)}</b></font>']
    if abstract:
        lines.append(f'<p><font face="Verdana" size="2">{esc(abstract)}</font>')
    lines.append("<p>")
    lines += [f'<span class="lbl">{esc(k)}</span>&nbsp;<span>{field_value_html(k, v)}</span><br>'
              for k, v in fields]
    return ('<table width="100%" border="0" cellpadding="4"><tr><td class="content">\n'
            + "\n".join(lines) + '\n<td class="side" width="25%">&nbsp;\n</table>')


ARTICLE_RENDERERS = {"paragraphs": article_paragraphs, "table": article_table,
                     "deflist": article_deflist, "legacy": article_legacy}


def teaser(abstract: str) -> str:
    words = abstract.split()
    return " ".join(words[:TEASER_WORDS]) + (" …" if len(words) > TEASER_WORDS else "")


def related_block(others: list[PubmedEntry]) -> str:
    items = "".join(
        f'<li><a href="/research/{o.record.pmid}.html">{esc(page_title(o))}</a>'
        f'<div class="teaser">{esc(teaser(o.record.abstract))}</div></li>\n' for o in others)
    return f'<aside class="related">\n<h3>Related articles</h3>\n<ul>\n{items}</ul>\n</aside>'


def reviews_block(rng: random.Random) -> str:
    sites = rng.sample(REVIEW_SITES, rng.randint(2, 3))
    widgets = "".join(
        f'<div class="widget"><span class="site">{site} Reviews</span> '
        f'<span class="stars" aria-label="{stars} out of 5">{"★" * round(float(stars))}</span> '
        f'{stars}/5 from {rng.randint(120, 900)} reviews</div>\n'
        for site, stars in ((s, rng.choice(["4.8", "4.9", "5.0", "4.7"])) for s in sites))
    quotes = "".join(f"<blockquote>“{esc(q)}” <cite>{esc(rng.choice(PATIENTS))}</cite></blockquote>\n"
                     for q in rng.sample(QUOTES, rng.randint(2, 3)))
    return (f'<section class="reviews">\n<h2>What our patients say ...</h2>\n{widgets}{quotes}'
            + "<p>Consultant Spine Surgeon</p>\n" * rng.randint(1, 3) + "</section>")


def treatments_block(rng: random.Random) -> str:
    cards = "".join(f'<div class="card"><h4>{esc(name)}</h4><p>{esc(blurb)}</p></div>\n'
                    for name, blurb in rng.sample(TREATMENTS, rng.randint(2, 4)))
    about = "".join(f"<p>{esc(p)}</p>\n" for p in rng.sample(ABOUT, rng.randint(1, 3)))
    return (f'<section class="treatments">\n<h2>Treatment of all spinal disorders</h2>\n'
            f"{cards}<h3>What is London spine unit and How it Works</h3>\n{about}</section>")


def scripts_block(title: str, url: str, rng: random.Random) -> str:
    clinic = {"@context": "https://schema.org", "@type": "MedicalClinic",
              "name": "The London Spine Unit", "telephone": PHONES[0],
              "address": {"@type": "PostalAddress", "streetAddress": "19 Harley St",
                          "addressLocality": "London", "postalCode": "W1G 9QJ"}}
    if rng.random() < 0.5:  # some pages also describe the article itself
        clinic = [clinic, {"@context": "https://schema.org", "@type": "MedicalWebPage",
                           "headline": title, "citation": url}]
    ld = json.dumps(clinic, ensure_ascii=True).replace("</", "<\\/")
    tag_id = f"G-LSU{rng.randint(1000, 9999)}"
    return (f'<script async src="https://www.googletagmanager.com/gtag/js?id={tag_id}"></script>\n'
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
            f"gtag('js',new Date());gtag('config','{tag_id}');</script>\n"
            f'<script type="application/ld+json">{ld}</script>')


def render_page(entry: PubmedEntry, layout: str, related: list[PubmedEntry],
                rng: random.Random) -> bytes:
    """One complete page, encoded as its layout declares."""
    title, record = page_title(entry), entry.record
    colon = ":" if layout == "deflist" or rng.random() < 0.1 else " :"
    article = ARTICLE_RENDERERS[layout](title, record.abstract, field_lines(entry, colon), rng)
    section = rng.choice(BREADCRUMB_SECTIONS)
    breadcrumb = (f'<div class="breadcrumb"><a href="/">Home</a> &raquo; '
                  f'<span>{esc(title)} | {esc(section)}</span></div>')
    nav = "".join(f'<li><a href="/{n.lower().replace(" ", "-")}">{n}</a></li>'
                  for n in NAV[: rng.randint(6, len(NAV))])
    phones = " ".join(f'<a href="tel:{p.replace(" ", "")}">{p}</a>'
                      for p in rng.sample(PHONES, 2))
    header = (f'<div class="topbar">{esc(rng.choice(ADDRESSES))} &nbsp; {phones}</div>\n'
              '<header><div class="logo">The London Spine Unit : Harley Street UK. Specialists in '
              "Cutting Edge Technologies for Spinal Surgery</div>\n"
              f'<nav><ul>{nav}</ul></nav>\n<a class="btn" href="/appointments">Make an Appointment</a>'
              "</header>")
    cookie = ('<div id="cookie-banner">We use cookies to improve your experience. '
              '<button type="button">Accept</button> <a href="/privacy">Privacy policy</a></div>')
    footer = (f'<footer><p>Call Now {" ".join(PHONES)}</p><p>&copy; 2005-2024 The London Spine '
              "Unit. Reposted abstracts remain the property of their publishers; see PubMed.</p></footer>")
    body = [header]
    body += [breadcrumb, article] if rng.random() < 0.5 else [article, breadcrumb]
    extras = [related_block(related), reviews_block(rng), treatments_block(rng)]
    rng.shuffle(extras)
    body += extras + [footer]
    body.insert(0 if rng.random() < 0.3 else len(body), cookie)

    charset = "windows-1252" if layout == "legacy" else "utf-8"
    declare = ("http-equiv" if layout == "legacy"
               else rng.choices(["meta", "http-equiv", "none"], weights=[6, 3, 1])[0])
    meta = {"meta": f'<meta charset="{charset}">',
            "http-equiv": f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">',
            "none": ""}[declare]
    head = (f"<head>\n{meta}\n<title>{esc(title)} | The London Spine Unit</title>\n"
            f'<meta property="og:title" content="{attr(title)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<style>{STYLE}</style>\n{scripts_block(title, record.url, rng)}\n</head>")
    doctype = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">'
               if layout == "legacy" else "<!DOCTYPE html>")
    page = f'{doctype}\n<html lang="en">\n{head}\n<body>\n' + "\n".join(body) + "\n</body>\n</html>\n"
    if layout == "legacy":
        page = re.sub(r"<(/?)([a-z][a-z0-9]*)\b", lambda m: f"<{m[1]}{m[2].upper()}", page)
        return page.encode("cp1252", errors="xmlcharrefreplace")
    return page.encode("utf-8")


def render_all(corpus: Path, out: Path, seed_page: Path) -> dict[str, int]:
    """Write every page and the seed copy under `out`; return summary counts."""
    entries = load_entries(corpus)
    with_abstract = [e for e in entries if e.record.abstract]
    pages = out / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    for old in pages.glob("*.html"):
        old.unlink()
    shares = dict.fromkeys(LAYOUTS, 0)
    for number, entry in enumerate(entries):
        rng = random.Random(f"{SEED}:{entry.record.pmid}")  # per page: stable if others change
        layout = LAYOUTS[number % len(LAYOUTS)]
        candidates = [e for e in with_abstract if e.record.pmid != entry.record.pmid]
        related = rng.sample(candidates, rng.randint(3, 5))
        (pages / f"{entry.record.pmid}.html").write_bytes(render_page(entry, layout, related, rng))
        shares[layout] += 1
    shutil.copyfile(seed_page, out / SEED_PAGE)
    return {"pages": len(entries), "without_abstract": len(entries) - len(with_abstract),
            "without_keywords": sum(not e.record.keywords for e in entries), **shares}


def default_data_dir() -> Path:
    return Path(os.environ.get("MEDSEARCH_DATA") or REPO.parent / "shared" / "data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="shared data folder holding pubmed-spine-ortho/ "
                             "(default: $MEDSEARCH_DATA or <repo>/../shared/data)")
    parser.add_argument("--out", type=Path, default=REPO / "seeds", help="default: <repo>/seeds")
    parser.add_argument("--seed-page", type=Path, default=None,
                        help=f"real clinic page to copy (default: <data>/../seeds/{SEED_PAGE})")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir()
    corpus = data / CORPUS
    if not corpus.is_dir():
        parser.error(f"no {CORPUS} folder under {data}")
    counts = render_all(corpus, args.out, args.seed_page or data.parent / "seeds" / SEED_PAGE)
    print(f"wrote {counts['pages']} pages to {args.out / 'pages'}: "
          + ", ".join(f"{name} {counts[name]}" for name in LAYOUTS))
    print(f"{counts['without_abstract']} records have no abstract "
          f"({counts['without_keywords']} have no keywords); they still get a page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
