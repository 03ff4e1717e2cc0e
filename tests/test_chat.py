from routemate.chat import ChatRequest, Chunk, Usage, accumulate, estimate_prompt_tokens, text_of


def test_system_prompt_is_prepended_or_merged():
    req = ChatRequest([{"role": "user", "content": "hi"}])
    assert req.with_system("Be brief.").messages[0] == {"role": "system", "content": "Be brief."}
    merged = ChatRequest([{"role": "system", "content": "Use Python."}, {"role": "user", "content": "hi"}])
    assert merged.with_system("Be brief.").messages[0]["content"] == "Be brief.\n\nUse Python."
    assert req.with_system(None) is req
    assert len(req.messages) == 1, "the original request is not modified"


def test_accumulate_text_usage_and_finish():
    done = accumulate([Chunk(role="assistant"), Chunk("Hel"), Chunk("lo"), Chunk(finish_reason="stop"),
                       Chunk(usage=Usage(3, 2))])
    assert done.text == "Hello" and done.usage == Usage(3, 2) and done.choices[0].finish_reason == "stop"


def test_accumulate_keeps_choices_apart():
    done = accumulate([Chunk("a", index=0), Chunk("b", index=1), Chunk("c", index=0)])
    assert [c.message["content"] for c in done.choices] == ["ac", "b"]


def test_text_of_parts_and_none():
    assert text_of({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]}) == "a"
    assert text_of({"role": "tool", "content": None}) == ""
    assert estimate_prompt_tokens([{"role": "user", "content": "x" * 40}]) == 14
