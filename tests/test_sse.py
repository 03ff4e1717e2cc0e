import json

import pytest

from routemate.chat import Chunk, Usage, accumulate
from routemate.sse import DONE, SSEDecoder, SSEError, decode_all, encode_chunk, encode_error


def test_decoder_joins_split_bytes_and_skips_comments():
    raw = (b': keep-alive\n\ndata: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
           b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\r\n\r\n' + DONE)
    decoder = SSEDecoder()
    out = []
    for i in range(len(raw)):      # one byte at a time: events must still come out whole
        out.extend(decoder.feed(raw[i:i + 1]))
    assert out[-1] == "[DONE]"
    assert [json.loads(d)["choices"][0]["delta"]["content"] for d in out[:-1]] == ["Hel", "lo"]


def test_usage_chunk_roundtrips_with_empty_choices():
    raw = encode_chunk(Chunk(usage=Usage(7, 3)), id="x", model="m", created=1)
    event = json.loads(raw[len(b"data: "):])
    assert event["choices"] == [] and event["usage"]["total_tokens"] == 10
    assert decode_all(raw + DONE)[0].usage == Usage(7, 3)


def test_tool_call_deltas_accumulate_into_one_call():
    chunks = [Chunk(role="assistant", tool_calls=[{"index": 0, "id": "c1", "type": "function",
                                                   "function": {"name": "get_weather", "arguments": ""}}]),
              Chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
              Chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
              Chunk(finish_reason="tool_calls")]
    wire = b"".join(encode_chunk(c, id="x", model="m", created=1) for c in chunks) + DONE
    done = accumulate(decode_all(wire))
    call = done.choices[0].message["tool_calls"][0]
    assert call["id"] == "c1" and call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert done.choices[0].finish_reason == "tool_calls"


def test_in_band_error_raises():
    with pytest.raises(SSEError, match="overloaded"):
        decode_all(b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
                   + encode_error("upstream overloaded"))
