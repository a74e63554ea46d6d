"""Reading pages into records: the file walk, extraction, PubMed exports (engine-neutral)."""
