"""SandboxConfig: every knob of the sandbox, shared by the CLI, SandboxServer and create_app."""

from __future__ import annotations

from dataclasses import dataclass, field


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
