"""Query understanding: synonyms, MeSH, abbreviations, spelling, suggestions (engine-neutral)."""
