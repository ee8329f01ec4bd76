"""config/README.md is generated from the config schema and describes every key."""

import copy
import re

from hybrid_retrieval.artifact.config_docs import README, _source_texts, main, render
from hybrid_retrieval.config import Config


def test_readme_matches_the_schema():
    # Fails when a key is added, removed or redescribed without `hybrid-retrieval config-docs`.
    assert README.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m hybrid_retrieval.artifact.config_docs"
    )


# Keys of claims.ClaimsConfig whose comment heads another key's block, with no text of their own: an
# attribute docstring below each in claims.py is owed (then remove it here: the test below says so).
OWED: set[tuple[str, str]] = set()


def test_every_key_has_a_type_and_a_description():
    rows = _rows(render())
    assert len(rows) > 100
    empty = {(section, key) for section, key, description in rows if not description}
    assert empty == OWED, (
        f"undescribed: {sorted(empty - OWED)}; now described, drop from OWED: {sorted(OWED - empty)}"
    )


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


def _rows(text: str) -> list[tuple[str, str, str]]:
    """(section, key, description) of every table row of the page."""
    rows, section = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip("`")
        elif line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows.append((section, cells[0].strip("`"), cells[3]))
    return rows


def _accidental_shares(text: str) -> list[tuple[str, list[str]]]:
    """Descriptions given to two or more different keys, unless the row names the key it shares with
    ("With `head`: ...", a block comment of claims) or the keys have the same name (e.g. `dtype` of each
    model source: the same setting)."""
    by_text: dict[str, set[str]] = {}
    for _, key, description in _rows(text):
        if not description:  # no text at all: the test above names those
            continue
        named = re.match(r"With `([a-z_]+)`: (.*)", description)
        if named:  # shared on purpose, with the key it names (which must carry that text itself)
            key, description = named.groups()
        by_text.setdefault(description, set()).add(key)
    return [(description, sorted(keys)) for description, keys in by_text.items() if len(keys) > 1]


def test_no_two_keys_share_a_description_by_accident():
    # The old generator carried a comment down to the fields below it: `models` read "The run's name ...",
    # 13 training keys the `curriculum` text.
    text = render()
    assert not _accidental_shares(text), _accidental_shares(text)
    rows = {(section, key): description for section, key, description in _rows(text)}
    assert not rows[("Top level", "models")].startswith("The run's name")
    training = [d for (s, k), d in rows.items() if s.endswith(".training") and k != "curriculum"]
    assert len(training) > 15 and not any("fraction of steps" in d for d in training)


def test_the_share_check_catches_a_copied_description():
    text = render()
    run_text = next(d for s, k, d in _rows(text) if k == "run")
    models_row = next(line for line in text.splitlines() if line.startswith("| `models` |"))
    copied = text.replace(models_row, models_row.rsplit("|", 2)[0] + f"| {run_text} |")
    assert _accidental_shares(copied) == [(run_text, ["models", "run"])]


def test_a_comment_describes_only_its_own_field():
    source = '''
class Section:
    # Heads the first field only.
    first: int = 1
    second: int = 2
    third: int = 3
    """The third's attribute docstring."""
    fourth: int = 4  # beside the fourth

    # Above the fifth, after a blank line.
    fifth: int = 5
'''
    texts = _source_texts(source)
    assert texts == {
        ("Section", "first"): "Heads the first field only.",
        ("Section", "third"): "The third's attribute docstring.",
        ("Section", "fourth"): "beside the fourth",
        ("Section", "fifth"): "Above the fifth, after a blank line.",
    }
