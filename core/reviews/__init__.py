"""Access reviews: periodic certification of partner access (campaigns over a frozen snapshot of guest users,
decisions Keep / Remove / Needs info, sign-off, an attestation report, removal requests).

Modules: `campaigns` (create, list, reviewers, sign-off), `snapshot` (the frozen rows and how the Members
query reads them; members who joined after it), `decisions` (by row and in bulk, audited; progress),
`report` (the attestation CSV through the formula-safe writer and the PDF summary), `remediation` (Remove
decisions as removal requests per partner, Done or Overdue from the member change log).

Owns: `review_campaigns`, `review_reviewers`, `review_items`, `review_decision_log`.
May import: core.store, core.security, core.errors, core.members (its query machinery), core.accounts.
"""
