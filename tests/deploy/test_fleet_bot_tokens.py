"""The fleet tool gives each bot its own sidecar token and the sidecar only their hashes."""

from __future__ import annotations

import json
from pathlib import Path

from context_service.credentials import TokenBook, token_hash, token_weakness
from context_service.fleet.compose import write_fleet
from context_service.fleet.envfiles import read_env_file
from context_service.fleet.model import load_fleet
from context_service.settings import Settings


def test_render_writes_a_token_per_bot_and_their_hashes(project: Path) -> None:
    fleet = load_fleet(project / "bots.yaml")
    write_fleet(fleet, project / "bots.yaml", project)
    hashes = json.loads((project / "docker/generated/bot-tokens.json").read_text())
    tokens = {}
    for bot in fleet.bots:
        token = read_env_file(project / bot.env_file)["CTX_BOT_TOKEN"]
        assert token_weakness(token) is None
        assert hashes[bot.id] == token_hash(token)
        tokens[bot.id] = token
    assert len(set(tokens.values())) == len(tokens)
    # Rendering again keeps the tokens (bots keep working) and the file holds no token.
    write_fleet(fleet, project / "bots.yaml", project)
    assert json.loads((project / "docker/generated/bot-tokens.json").read_text()) == hashes
    assert not any(
        t in (project / "docker/generated/bot-tokens.json").read_text() for t in tokens.values()
    )
    compose = (project / "docker/generated/compose.yaml").read_text()
    assert "CTX_BOT_TOKENS_FILE" in compose and not any(t in compose for t in tokens.values())
    # What the sidecar makes of it: each token is its bot.
    book = TokenBook(
        Settings(_env_file=None, bot_tokens_file=project / "docker/generated/bot-tokens.json")
    )
    assert {bot_id: book.identify(t).bot_id for bot_id, t in tokens.items()} == {
        bot_id: bot_id for bot_id in tokens
    }
