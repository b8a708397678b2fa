"""E-mail channel: inbound parsing, the threading decision, and outbound messages that thread back.

All three are pure: they take bytes, values and "now" and return values; the ingest
layer stores what they decide (DESIGN §5).
"""
