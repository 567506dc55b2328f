#!/usr/bin/env python3
"""The peer for `scripts/bench ai-accumulate`, and its input.

  ai-accumulate.py generate BYTES   an OpenAI Chat stream whose one tool call has BYTES of JSON
                                    arguments, sent 16 bytes a frame (as providers do), on stdout
  ai-accumulate.py accumulate FILE  what a careful Python client does with it: parse each frame's
                                    JSON, append the argument pieces to a list, join and parse once
"""
import json
import sys


def generate(size):
    out = sys.stdout
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": "bench"}
    def frame(delta, finish=None):
        out.write("data: " + json.dumps(dict(head, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])) + "\n\n")
    frame({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "write_file", "arguments": ""}}]})
    body = '{"path": "big.txt", "content": "' + ("lorem ipsum dolor sit amet " * (size // 27 + 1))[: max(0, size - 40)] + '"}'
    for i in range(0, len(body), 16):
        frame({"tool_calls": [{"index": 0, "function": {"arguments": body[i:i + 16]}}]})
    frame({}, "tool_calls")
    out.write("data: [DONE]\n\n")


def accumulate(path):
    pieces = []
    with open(path, "rb") as f:
        for line in f:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            chunk = json.loads(line[6:])
            for choice in chunk["choices"]:
                for call in choice.get("delta", {}).get("tool_calls", []):
                    pieces.append(call.get("function", {}).get("arguments", ""))
    arguments = json.loads("".join(pieces))
    print(len(arguments["content"]))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]))
    else:
        accumulate(sys.argv[2])
