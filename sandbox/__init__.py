"""PartnerWatch sandbox: a local emulator of the TikTok API for Business v1.3 and its authorization portal.

Run it alone with `python -m sandbox --port 9100` (see docs/sandbox.md), or in-process with
`sandbox.server.SandboxServer`. The world state lives in `sandbox.world.World`; the HTTP layers are
`sandbox.api` (open_api routes) and `sandbox.app.create_app`.
"""
