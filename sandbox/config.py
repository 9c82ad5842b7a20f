"""SandboxConfig: every knob of the sandbox, shared by the CLI, SandboxServer and create_app."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Inferred:
    """The sandbox's answers where TikTok's definitions are silent, one switch each (docs/sandbox.md lists
    them with their sources), so a capture of the real API can correct one without touching the others.
    The defaults are the lenient reading; `strict()` the strictest."""

    reject_unknown_filter_keys: bool = False  # a `filtering` key the definition lacks: ignored, or 40002
    free_text_max_length: int | None = None  # limit on free-text filter values whose definition states none
    member_page_size_max: int = 20  # bc/member/get/ (no maximum in its definition; bububa says 20)
    past_last_page_empty: bool = True  # a page past the end: `list: []` (else 40002 on `page`)
    keyword_substring: bool = True  # keyword filters: case-insensitive substring (else exact, case-insensitive)
    catalog_ad_creation_eligible: bool = True  # `ad_creation_eligible` of a CATALOG the caller can reach
    tt_account_roles: tuple[str, ...] = ("POST", "LIVE", "DIRECT_MESSAGE")  # roles of a TT_ACCOUNT's owner BC
    tt_account_owner_bc_name: bool = False  # `owner_bc_name` filled for TT_ACCOUNT (else null)
    empty_ext_user_role: str = "object"  # no finance role: "object" {}, "null" {"finance_role": null}, "absent"
    show_status_filters_all_types: bool = False  # advertiser_show_status on a non-ADVERTISER listing: excludes all
    show_status_of: tuple[tuple[str, str], ...] = (  # advertiser_status → advertiser_show_status
        ("STATUS_ENABLE", "SHOW_ACCOUNT_STATUS_APPROVED"),
        ("STATUS_DISABLE", "SHOW_ACCOUNT_STATUS_NOT_APPROVED"),
        ("STATUS_PENDING_CONFIRM", "SHOW_ACCOUNT_STATUS_IN_REVIEW"),
        ("STATUS_LIMIT", "SHOW_ACCOUNT_STATUS_PUNISHED"),
    )

    @classmethod
    def strict(cls) -> Inferred:
        """The strictest reading of every switch: what a client that passes here should survive elsewhere."""
        return replace(
            cls(),
            reject_unknown_filter_keys=True,
            free_text_max_length=250,
            past_last_page_empty=False,
            keyword_substring=False,
            catalog_ad_creation_eligible=False,
            tt_account_roles=("POST",),
            empty_ext_user_role="absent",
            show_status_filters_all_types=True,
        )


@dataclass
class SandboxConfig:
    """How the sandbox world is generated and how the emulated API behaves."""

    seed: int = 7
    partners: int = 6
    members: int = 40
    qps: float = 10
    qpm: int = 600
    latency_ms: float = 0
    app_id: str = "7100000000000000000"
    app_secret: str = "sandbox-secret"
    redirect_uris: list[str] = field(default_factory=list)
    app_name: str = "PartnerWatch"
    state_file: str | None = None  # keep tokens and control changes there across restarts (None: memory only)
    reset_state: bool = False  # start from the seed even if `state_file` holds a state
    inferred: Inferred = field(default_factory=Inferred)
