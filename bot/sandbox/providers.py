"""One provider sandbox in front of a serving sandbox Anthropic, and the settings that point
hookwise at it: what `python -m bot demo --provider NAME` and the tests start.

`anthropic` needs nothing in front; `bedrock`, `vertex` and `compatible` start the server that
speaks that provider's wire format (bot/sandbox/bedrock.py, vertex.py, compatible.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.sandbox import bedrock, compatible, vertex
from bot.sandbox.anthropic import AnthropicSandbox

PROVIDER_NAMES = ("anthropic", "bedrock", "vertex", "compatible")
# A model id of each provider's own spelling (docs/providers.md).
MODEL_IDS = {
    "bedrock": "global.anthropic.claude-haiku-4-5-20251001-v1:0",  # a global cross-region inference profile
    "vertex": "claude-haiku-4-5@20251001",
    "compatible": "qwen3:8b",  # the server's own name for a local model (Ollama)
}


@dataclass
class ProviderWorld:
    """The provider sandbox that runs (None for `anthropic`) and the settings that reach it."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    bedrock: bedrock.BedrockSandbox | None = None
    vertex: vertex.VertexSandbox | None = None
    compatible: compatible.CompatibleSandbox | None = None

    @property
    def model_id(self) -> str:
        return self.env.get("ANTHROPIC_MODEL", "")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def start_provider(name: str, model: AnthropicSandbox, workdir: Path) -> ProviderWorld:
    """Start `name`'s sandbox in front of `model` (serving already). `workdir` receives the Google
    service-account file of `vertex`."""
    if name == "anthropic":
        env = {"MODEL_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": model.api_key, "ANTHROPIC_BASE_URL": model.base_url}
        return ProviderWorld(name, env)
    if name == "bedrock":
        server = bedrock.BedrockSandbox(model, region="us-west-2")
        runner, url = await bedrock.start_sandbox(server)
        env = {
            "MODEL_PROVIDER": "bedrock",
            "AWS_REGION": server.region,
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "ANTHROPIC_BEDROCK_BASE_URL": url,
            "ANTHROPIC_MODEL": MODEL_IDS["bedrock"],
        }
        return ProviderWorld(name, env, runner, bedrock=server)
    if name == "vertex":
        google = vertex.VertexSandbox(model, region="us-east5")
        runner, _url = await vertex.start_sandbox(google)
        key_file = workdir / "vertex-service-account.json"
        key_file.write_text(json.dumps(google.service_account_info()))
        key_file.chmod(0o600)
        env = {
            "MODEL_PROVIDER": "vertex",
            "CLOUD_ML_REGION": google.region,
            "ANTHROPIC_VERTEX_PROJECT_ID": google.project,
            "ANTHROPIC_VERTEX_BASE_URL": google.api_base_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "ANTHROPIC_MODEL": MODEL_IDS["vertex"],
        }
        return ProviderWorld(name, env, runner, vertex=google)
    if name == "compatible":
        local = compatible.CompatibleSandbox(model)
        runner, url = await compatible.start_sandbox(local)
        env = {
            "MODEL_PROVIDER": "compatible",
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "ollama",  # required by the SDK, ignored by the server
            "ANTHROPIC_MODEL": MODEL_IDS["compatible"],
        }
        return ProviderWorld(name, env, runner, compatible=local)
    raise ValueError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDER_NAMES)}")
