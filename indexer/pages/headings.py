"""MeSH headings kept whole: "Descriptor/qualifier", as PubMed writes them.

Clinic pages list MeSH headings joined by commas, so a heading comes back
in pieces: "Aged" + "80 and over", "Fractures" + "Compression", and the
qualifiers ("surgery", "adverse effects") as if they were keywords.
A keyword here is one heading in MEDLINE's MH form without the stars:
"Vertebroplasty/adverse effects/methods", or a bare "Humans".

Extraction (from_page) uses the fixed lists below only, so that it stays a
function of the page's bytes; rejoining descriptors split at their comma
needs the vocabulary and happens at build time (rejoin).
"""

from __future__ import annotations

from collections.abc import Iterable

# MeSH's topical qualifiers (subheadings), as PubMed writes them: lower case.
# The current 76, and those retired since 1990 that older records still carry.
QUALIFIERS = frozenset("""
abnormalities
administration & dosage
adverse effects
agonists
analogs & derivatives
analysis
anatomy & histology
antagonists & inhibitors
biosynthesis
blood
blood supply
cerebrospinal fluid
chemical synthesis
chemically induced
chemistry
classification
complications
congenital
cytology
deficiency
diagnosis
diagnostic imaging
diet therapy
drug effects
drug therapy
economics
education
embryology
enzymology
epidemiology
ethics
ethnology
etiology
genetics
growth & development
history
immunology
injuries
innervation
instrumentation
isolation & purification
legislation & jurisprudence
manpower
metabolism
methods
microbiology
mortality
nursing
organization & administration
parasitology
pathogenicity
pathology
pharmacokinetics
pharmacology
physiology
physiopathology
poisoning
prevention & control
psychology
radiation effects
radiotherapy
rehabilitation
secondary
standards
statistics & numerical data
supply & distribution
surgery
therapeutic use
therapy
toxicity
transmission
transplantation
trends
ultrastructure
urine
veterinary
virology
contraindications
diagnostic use
radiography
radionuclide imaging
ultrasonography
utilization
""".strip().splitlines())

# Check tags (and the period headings pages carry as often): descriptors
# known without a vocabulary, so that "Aged" + "80 and over" is rejoined
# at extraction.
CHECK_TAGS = (
    "Humans", "Animals", "Male", "Female", "Pregnancy",
    "Infant, Newborn", "Infant", "Child, Preschool", "Child", "Adolescent",
    "Young Adult", "Adult", "Middle Aged", "Aged", "Aged, 80 and over",
    "Cats", "Cattle", "Chick Embryo", "Cricetinae", "Dogs", "Guinea Pigs", "Horses",
    "Mice", "Rabbits", "Rats", "Sheep", "Swine", "Haplorhini",
    "History, Ancient", "History, Medieval", "History, 15th Century",
    "History, 16th Century", "History, 17th Century", "History, 18th Century",
    "History, 19th Century", "History, 20th Century", "History, 21st Century",
)
CHECK_TAG_NAMES = frozenset(tag.casefold() for tag in CHECK_TAGS)
# A descriptor split at commas has at most this many pieces
# ("Lymphoma, Large B-Cell, Diffuse").
MAX_PIECES = 4


def descriptor(keyword: str) -> str:
    """The descriptor of a heading: "Vertebroplasty/adverse effects" -> "Vertebroplasty"."""
    head = keyword
    while True:
        rest, slash, last = head.rpartition("/")
        if not slash or last not in QUALIFIERS:
            return head
        head = rest


def qualifiers(keyword: str) -> list[str]:
    """A heading's qualifiers, in order: "Spine/surgery/pathology" -> ["surgery", "pathology"]."""
    tail = keyword[len(descriptor(keyword)):]
    return tail.split("/")[1:]


def _heading(name: str, quals: Iterable[str]) -> str:
    return "/".join([name, *quals])


def merged(headings: Iterable[tuple[str, list[str]]]) -> list[str]:
    """(descriptor, qualifiers) pairs as keywords: one per descriptor (the first
    spelling), its qualifiers in order of first mention, empties dropped."""
    order: dict[str, tuple[str, list[str]]] = {}
    for name, quals in headings:
        name = name.strip()
        if not name:
            continue
        _, kept = order.setdefault(name.casefold(), (name, []))
        kept += [q for q in quals if q and q not in kept]
    return [_heading(name, quals) for name, quals in order.values()]


def from_page(pieces: Iterable[str]) -> list[str]:
    """A page's comma-separated keywords as headings: check tags rejoined,
    each qualifier put after the descriptor before it (one with none before
    it, or after a check tag, is dropped: it qualifies nothing)."""
    pieces = [p for p in pieces if p]
    headings: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        joined = ", ".join(pieces[i:i + 2])
        if joined.casefold() in CHECK_TAG_NAMES and "," in joined:
            headings.append((joined, []))
            i += 2
            continue
        if piece in QUALIFIERS:
            # Check tags take no qualifiers: one after a check tag belonged
            # to a heading the site shortened, and is dropped too.
            if headings and headings[-1][0].casefold() not in CHECK_TAG_NAMES:
                headings[-1][1].append(piece)
        else:
            headings.append((piece, []))
        i += 1
    return merged(headings)


def rejoin(keywords: Iterable[str], names: frozenset[str]) -> list[str]:
    """Keywords with the descriptors a page split at commas put back together
    ("Fractures" + "Compression/surgery" -> "Fractures, Compression/surgery")
    wherever the joined name is in `names` (casefolded descriptor names);
    the longest such run wins. Idempotent."""
    keywords = list(keywords)
    headings: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(keywords):
        for size in range(min(MAX_PIECES, len(keywords) - i), 1, -1):
            run = keywords[i:i + size]
            # Only the last piece may carry qualifiers: they follow the whole heading.
            if any(qualifiers(k) for k in run[:-1]):
                continue
            name = ", ".join(descriptor(k) for k in run)
            if name.casefold() in names:
                headings.append((name, qualifiers(run[-1])))
                i += size
                break
        else:
            name = descriptor(keywords[i])
            # The site also drops a piece it has shown already: "Anesthesia,
            # Epidural,Obstetrical" is "Anesthesia, Epidural" and "Anesthesia, Obstetrical".
            # "Hepatitis B,Chronic,Hepatitis C": "Hepatitis C, Chronic".
            before = headings[-1][0] if headings else ""
            head, _, tail = before.partition(", ")
            if name.casefold() not in names and before:
                for whole in (f"{head}, {name}", f"{name}, {tail}"):
                    if whole.casefold() in names:
                        name = whole
                        break
            headings.append((name, qualifiers(keywords[i])))
            i += 1
    return merged(headings)


def mesh_descriptors(keywords: Iterable[str], names: frozenset[str] | None) -> list[str]:
    """The descriptors of the keywords that are MeSH headings, whole, in order.

    With the whole vocabulary's `names`, a keyword that is neither a known
    descriptor, a check tag nor qualified (a site's own tag, an author
    keyword) is not MeSH; without one (None), every keyword counts.
    """
    found = []
    for keyword in keywords:
        name = descriptor(keyword)
        folded = name.casefold()
        if keyword in QUALIFIERS:  # an author's keyword that reads as one
            continue
        if (names is None or folded in names or folded in CHECK_TAG_NAMES
                or name != keyword):
            found.append(name)
    return list(dict.fromkeys(found))
