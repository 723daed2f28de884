"""Copies the seed's Python clients out of the seed document, unchanged, one file per snippet.

    python3 extract.py SEED_TXT          writes the snippet files next to this script
    python3 extract.py SEED_TXT --check  exits 1 when a file differs from the seed

A snippet starts after its heading line and ends before the next "# Usage" line (or the next heading);
blank lines around it are dropped, nothing else is touched.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (file, heading the snippet follows, line it ends before)
SNIPPETS = [
    ("seed_api_client.py", "REST API Client", "Service Discovery with Consul"),
    ("seed_grpc_user_client.py", "gRPC Client", "gRPC with TLS"),
    ("seed_message_producer.py", "Message Queue Producer", "# Usage"),
    ("seed_message_consumer.py", "Message Queue Consumer", "# Usage"),
    ("seed_kafka_producer.py", "Kafka Producer", "# Usage"),
    ("seed_kafka_consumer.py", "Kafka Consumer", "# Usage"),
]


def snippet(lines, heading, end):
    start = lines.index(heading) + 1
    stop = lines.index(end, start)
    body = lines[start:stop]
    while body and body[0].strip() == "":
        body.pop(0)
    while body and body[-1].strip() == "":
        body.pop()
    first = start + 1 + next(i for i, line in enumerate(lines[start:]) if line.strip() != "")
    header = f"# The seed's snippet after \"{heading}\", lines {first}-{first + len(body) - 1}, unchanged.\n"
    return header + "\n".join(body) + "\n"


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    check = "--check" in argv[2:]
    stale = []
    for name, heading, end in SNIPPETS:
        text = snippet(lines, heading, end)
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("differs from the seed: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
