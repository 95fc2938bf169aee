"""Labelled photo sets in the WIDER FACE layout: the format (:mod:`.wider`) and a seeded generator (:mod:`.photos`)."""
