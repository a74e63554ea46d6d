"""The analyzer: stemming, stop words, accents and medical tokens."""

import pytest

from indexer.analysis import analyze


@pytest.mark.parametrize("text, terms", [
    # porter2 stems consistently (Whoosh's default Porter gives "runn").
    ("running runs ran", ["run", "run", "ran"]),
    ("fractures fractured", ["fractur", "fractur"]),
    ("the patients of a clinic", ["patient", "clinic"]),
    ("Martín Öztürk", ["martin", "ozturk"]),
    ("type 2 diabetes", ["type", "2", "diabet"]),
    ("2.5 mg", ["2.5", "mg"]),
])
def test_stems_stops_and_folds(text, terms):
    assert analyze(text) == terms


@pytest.mark.parametrize("text, index_terms, query_terms", [
    ("CT-guided", ["ct", "guid", "ctguid"], ["ct", "guid"]),
    ("L4-L5", ["l4", "l5", "l4l5"], ["l4", "l5"]),
    ("COVID-19", ["covid", "19", "covid19"], ["covid", "19"]),
    ("T2-weighted", ["t2", "weight", "t2weight"], ["t2", "weight"]),
    ("neck/shoulder", ["neck", "shoulder", "neckshould"], ["neck", "shoulder"]),
])
def test_compounds_are_indexed_whole_and_by_parts(text, index_terms, query_terms):
    assert analyze(text, mode="index") == index_terms
    assert analyze(text, mode="query") == query_terms


def test_compound_parts_take_consecutive_positions():
    from indexer.analysis import medical_analyzer

    tokens = [(t.text, t.pos) for t in medical_analyzer("CT-guided blood patch", positions=True)]
    assert tokens == [("ct", 0), ("guid", 1), ("blood", 2), ("patch", 3)]


def test_compound_parts_keep_their_characters():
    from indexer.analysis import medical_analyzer

    text = "a CT-guided patch"
    spans = [text[t.startchar:t.endchar] for t in medical_analyzer(text, chars=True)]
    assert spans == ["CT", "guided", "patch"]


INVISIBLES = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u034f",
              "\ufe0f", "\u180e", "\u00ad\u200b"]


@pytest.mark.parametrize("char", INVISIBLES, ids=[f"U+{ord(c[0]):04X}" for c in INVISIBLES])
def test_invisible_characters_do_not_split_a_word(char):
    from indexer.analysis import medical_analyzer

    for mode in ("index", "query"):
        assert analyze(f"verte{char}broplasty", mode=mode) == ["vertebroplasti"]
        assert analyze(f"{char}CT-{char}guided{char}", mode="query") == ["ct", "guid"]
    text = f"a verte{char}broplasty"
    spans = [text[t.startchar:t.endchar] for t in medical_analyzer(text, chars=True)]
    assert spans == [f"verte{char}broplasty"]
