"""Schwartz–Hearst abbreviation mining on literal sentences."""

from indexer.query.abbrev import find_pairs, mine


def test_one_word_long_forms_for_upper_case_short_forms():
    text = "Spinal tuberculosis (TB) is common. Missing data (DA) were imputed."
    assert list(find_pairs(text)) == [("TB", "tuberculosis")]


def test_brackets_of_translated_titles_stay_out_of_long_forms():
    text = "[Fas ligand (FasL) in spinal infection]"
    assert list(find_pairs(text)) == [("FasL", "Fas ligand")]


def test_a_short_form_keeps_its_one_long_form_or_the_frequent_ones():
    texts = ["tuberculosis (TB) of the spine", "Pulmonary tuberculosis (TB).",
             "spontaneous intracranial hypotension (SIH) and a total bilirubin (TB)"]
    assert mine(texts) == {"tb": ("TB", ["tuberculosis"]),
                           "sih": ("SIH", ["spontaneous intracranial hypotension"])}
