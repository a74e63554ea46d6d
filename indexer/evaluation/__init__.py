"""Relevance measurement on judged test collections (`medsearch eval`)."""
