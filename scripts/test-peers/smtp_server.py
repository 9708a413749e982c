#!/usr/bin/env python3
"""A real SMTP server on loopback for the NotificationChannels email tests (aiosmtpd).

Listens on 127.0.0.1 with free ports:
  starttls  STARTTLS required, AUTH (PLAIN and LOGIN) required and only after TLS
  login     as starttls, but AUTH PLAIN is not offered (only LOGIN)
  tls       implicit TLS from the first byte, AUTH required (the whole connection is TLS, so
            aiosmtpd's auth_require_tls, which only knows STARTTLS, is off there)
  plain     no TLS, no AUTH (a LAN relay)

When listening it writes {"starttls": port, "login": port, "tls": port, "plain": port} to --ports
(atomically). Every accepted message is appended to --out as one JSON line: the envelope, the raw
data (base64, after the server removed dot-stuffing) and the message as Python's email package
parses it (decoded subject, headers, decoded body), so the test checks the encoding independently.
The server exits when its stdin closes, so it never outlives the test process.
"""
import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import threading
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, path, listener):
        self.path = path
        self.listener = listener

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A domain whose mailboxes "do not exist", to test refused recipients.
        if address.lower().endswith("@rejected.test"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        record = {
            "listener": self.listener,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": base64.b64encode(raw).decode("ascii"),
            "subject": str(message["subject"] or ""),
            "headers": [[name, str(value)] for name, value in message.raw_items()],
            # The decoded text with the wire's CRLF line endings as "\n".
            "body": message.get_content().replace("\r\n", "\n") if not message.is_multipart() else "",
            "authenticated": bool(session.authenticated),
            "mechanism": getattr(session, "nebula_mechanism", None),
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
        return "250 2.0.0 Message accepted"


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        session.nebula_mechanism = mechanism
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)
    return authenticator


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(1024):
            pass
    finally:
        os._exit(0)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    authenticator = make_authenticator(args.user, args.password)
    loop = asyncio.get_running_loop()

    def factory(listener, **options):
        return lambda: SMTP(Recorder(args.out, listener), hostname="mail.test", ident="nebula-test-smtpd",
                            authenticator=authenticator, **options)

    listeners = {
        "starttls": (factory("starttls", tls_context=context, require_starttls=True,
                             auth_required=True, auth_require_tls=True), None),
        "login": (factory("login", tls_context=context, require_starttls=True, auth_required=True,
                          auth_require_tls=True, auth_exclude_mechanism=["PLAIN"]), None),
        "tls": (factory("tls", auth_required=True, auth_require_tls=False), context),
        "plain": (factory("plain"), None),
    }
    ports = {}
    servers = []
    for name, (protocol, server_ssl) in listeners.items():
        server = await loop.create_server(protocol, host="127.0.0.1", port=0, ssl=server_ssl)
        servers.append(server)
        ports[name] = server.sockets[0].getsockname()[1]
    temporary = args.ports + ".tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(ports, out)
    os.replace(temporary, args.ports)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
