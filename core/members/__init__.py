"""Guest users as analysts read them: the Members query, risk flags, the change log, the CSV export.

Modules: `filters` (`MemberFilter`, the `SORTS` allow-list, the filter as a condition on the rows, the partner
filter's choices), `columns` (the Members query: the table of columns with the joins each needs, and the builder
that plans a query from the columns its caller lists; the export's cells), `paging` (a page of members and the
total, at 1M rows; counts; the warm-up), `changes` (change log, changes per sync, syncs, the Partners summary
line), `flags` (risk flags and the personal-domain list), `source` (the rows read: `members` or an access
review's snapshot; the relations a column can need), `export` (streamed CSV behind single-use export tokens).

Owns: reading `members` (written only by core.sync), the personal-domain list, export tokens.
May import: core.store, core.security, core.accounts.
"""
