"""SandboxState: what one running sandbox app holds (world, config, rate limiter, faults, latency)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sandbox import persist
from sandbox.config import SandboxConfig
from sandbox.faults import FaultBook
from sandbox.models import App
from sandbox.ratelimit import AppRateLimiter
from sandbox.world import World


def world_from_config(config: SandboxConfig) -> World:
    """The World a config describes, restored from and saved to `config.state_file` when one is set."""
    app = App(config.app_id, config.app_secret, config.app_name, tuple(config.redirect_uris))
    world = World(seed=config.seed, partners=config.partners, members=config.members, app=app)
    if config.state_file:
        persist.attach(world, Path(config.state_file), reset=config.reset_state)
    return world


@dataclass
class SandboxState:
    """Shared by the API, portal and control handlers through `request.app.state.sandbox`."""

    world: World
    config: SandboxConfig
    faults: FaultBook = field(default_factory=FaultBook)
    limiter: AppRateLimiter = field(init=False)
    latency_ms: float = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = AppRateLimiter(self.config.qps, self.config.qpm)
        self.latency_ms = self.config.latency_ms

    def reset(self) -> None:
        """World back to its seed; faults, tokens, sessions and codes cleared; limits and latency as configured."""
        self.world.reset()
        self.faults.clear()
        self.limiter.configure(self.config.qps, self.config.qpm)
        self.latency_ms = self.config.latency_ms
