"""Legacy import: historical requests, contacts, companies and deals from another system's export.

A file is first copied row by row into a staging table (`load`), then the staged rows
are validated, mapped and upserted into the real tables in batches (`run`). Each batch
is one transaction that also marks its staging rows SUCCESS or FAILED, so a run killed
at any moment resumes with exactly the rows not yet done, and a second run changes
nothing. Parsing (`parsing`) and per-row mapping (`mapping`) are pure; `loader` and
`runner` do the database work; `store` holds the tables.
"""
