"""Consume a dealer group's leads from Showroom with an integrator credential (nats.py).

    pip install "nats-py[nkeys]==2.16.0"
    python leads_consumer.py --server nats://nats.example.com:4222 --creds acme.creds

The credential comes from Admin > CRM > Integrations (or POST /api/v1/integrations). It reads
one group's `lead.created` / `lead.updated` CloudEvents from its own durable consumer on the
LEADS stream, so leads published while this program was down wait for it. Each is acknowledged
after it is handled; one not acknowledged within 30 s comes again (dedupe by its `id`).
The consumer's name and the inbox prefix the credential allows are read from the credential.
"""
import argparse
import asyncio
import base64
import json

import nats
from nats.errors import TimeoutError as NatsTimeout


def read_credential(path):
    """The consumer and the inbox prefix a credential may use (from its user JWT)."""
    text = open(path, encoding="utf-8").read()
    jwt = text.split("-----BEGIN NATS USER JWT-----")[1].split("------END")[0].strip()
    body = jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    pub = claims["nats"]["pub"]["allow"]
    sub = claims["nats"]["sub"]["allow"]
    consumer = next(s.rsplit(".", 1)[1] for s in pub if s.startswith("$JS.API.CONSUMER.MSG.NEXT."))
    inbox = next(s[:-2] for s in sub if s.startswith("_INBOX_") and s.endswith(".>"))
    return consumer, inbox


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="e.g. nats://nats.example.com:4222 (tls:// with TLS)")
    ap.add_argument("--creds", required=True, help="the .creds file of the integration")
    ap.add_argument("--count", type=int, default=0, help="stop after this many leads (0: run on)")
    args = ap.parse_args()
    consumer, inbox = read_credential(args.creds)
    nc = await nats.connect(args.server, user_credentials=args.creds, inbox_prefix=inbox.encode())
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable=consumer, stream="LEADS")
    handled = 0
    while args.count == 0 or handled < args.count:
        try:
            batch = await sub.fetch(10, timeout=5)
        except NatsTimeout:
            continue
        for msg in batch:
            event = json.loads(msg.data)
            lead = event["data"]
            contact = lead["contact"]
            print(event["type"], event["id"], lead["id"], contact["first_name"], contact["last_name"], flush=True)
            # Hand the lead to your CRM here, then acknowledge it.
            await msg.ack()
            handled += 1
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
