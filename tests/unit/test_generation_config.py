"""The authors' Jamba `generate(input_ids, max_new_tokens=40)` follows the checkpoint's generation config:
`authors_decoding` says what that call would have done and how it differs from our greedy decoding."""

from __future__ import annotations

import json

import pytest

from hybrid_retrieval.generation.generation_config import authors_decoding, generation_mode, main


def _write(folder, **settings) -> None:
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2, **settings}))


def test_no_file_means_generate_defaults_greedy(tmp_path) -> None:
    assert authors_decoding(tmp_path) == {
        "file": None, "mode": "greedy_search", "greedy": True, "settings": {}, "differences": []
    }  # fmt: skip


def test_a_greedy_config_has_no_difference(tmp_path) -> None:
    _write(tmp_path, temperature=0.7, top_k=50, repetition_penalty=1.0)  # inert without do_sample / defaults
    record = authors_decoding(tmp_path)
    assert record["greedy"] and record["mode"] == "greedy_search" and record["differences"] == []
    assert record["settings"]["eos_token_id"] == 2 and record["file"].endswith("generation_config.json")


def test_sampling_and_penalties_are_listed(tmp_path) -> None:
    _write(tmp_path, do_sample=True, temperature=0.4, top_p=0.9, repetition_penalty=1.1)
    record = authors_decoding(tmp_path)
    assert not record["greedy"] and record["mode"] == "sample"
    text = "\n".join(record["differences"])
    assert "decoding mode sample" in text and "temperature=0.4" in text and "top_p=0.9" in text
    assert "repetition_penalty=1.1" in text
    assert "top_k" not in text  # at its default: no difference


def test_beams_are_listed(tmp_path) -> None:
    _write(tmp_path, num_beams=4, length_penalty=0.5)
    record = authors_decoding(tmp_path)
    assert record["mode"] == "beam_search" and "num_beams=4" in record["differences"][0]
    assert any(d.startswith("length_penalty=0.5") for d in record["differences"])


def test_a_broken_file_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "generation_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read as a generation config"):
        authors_decoding(tmp_path)
    (tmp_path / "generation_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        authors_decoding(tmp_path)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"do_sample": False, "temperature": 0.3},
        {"do_sample": True},
        {"num_beams": 3},
        {"num_beams": 3, "do_sample": True},
        {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0.5},
        {"penalty_alpha": 0.6, "top_k": 4},
        {"penalty_alpha": 0.6, "top_k": 4, "do_sample": True},
        {"force_words_ids": [[5]], "num_beams": 2},
        {"prompt_lookup_num_tokens": 3},
        {"dola_layers": "low"},
    ],
)
def test_the_mode_is_transformers_own(settings) -> None:
    from transformers import GenerationConfig

    assert generation_mode(settings) == GenerationConfig(**settings).get_generation_mode().value


def test_cli_prints_the_record(tmp_path, capsys) -> None:
    _write(tmp_path, do_sample=True)
    assert main([str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "sample"
    assert main([]) == 2
