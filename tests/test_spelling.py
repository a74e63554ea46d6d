"""indexer.spelling: Whoosh's choice of correction (nearest, then most frequent)."""

from indexer.query.spelling import Speller

COUNTS = {"tuberculosis": 40, "tuberculous": 3, "spine": 90, "spinal": 70, "spin": 2,
          "stenosis": 30, "stenoses": 5, "l4l5": 9, "covid19": 4}


def test_the_nearest_word_wins_then_the_most_frequent():
    speller = Speller(COUNTS)
    assert speller.correct("tuberclosis") == "tuberculosis"   # one letter missing
    assert speller.correct("spinnal") == "spinal"             # one extra letter
    assert speller.correct("spime") == "spine"                # distance 1: spine, not spin
    assert speller.correct("stenosos") == "stenosis"          # both at 1: the more frequent


def test_a_swap_of_two_letters_is_one_edit():
    assert Speller({"diagnosis": 5, "diagnoses": 50}).correct("diagnsois") == "diagnosis"


def test_nothing_beyond_two_edits_and_not_the_word_itself():
    speller = Speller(COUNTS)
    assert speller.correct("xylophone") is None
    assert speller.correct("spine") == "spin"  # a known word's neighbour, if asked
    assert speller.correct("l4l6") is None  # codes and numbers are not corrections
