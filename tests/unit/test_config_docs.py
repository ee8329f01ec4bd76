"""config/README.md is generated from the config schema and describes every key."""

import copy
import re

from hybrid_retrieval.config import Config
from hybrid_retrieval.config_docs import README, main, render


def test_readme_matches_the_schema():
    # Fails when a key is added, removed or redescribed without `python -m hybrid_retrieval.config_docs`.
    assert README.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m hybrid_retrieval.config_docs"
    )


def test_every_key_has_a_type_and_a_description():
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    empty = [row for row in rows if re.search(r"\|\s*\|\s*$", row) or "|  |" in row]
    assert not empty, empty


def test_a_schema_change_shows_up(tmp_path):
    schema = copy.deepcopy(Config.model_json_schema())
    schema["$defs"]["Grid"]["properties"]["new_key"] = {
        "type": "integer",
        "default": 3,
        "description": "New.",
    }
    assert "| `new_key` | int | `3` | New. |" in render(schema)
    out = tmp_path / "README.md"
    out.write_text(render(schema))
    assert main(["--check", "--out", str(out)]) == 1
    assert main(["--out", str(out)]) == 0 and main(["--check", "--out", str(out)]) == 0
