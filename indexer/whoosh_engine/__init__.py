"""The Whoosh engine: the only package that imports Whoosh."""
