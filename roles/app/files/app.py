#!/usr/bin/python3
"""The fleet's demo application: a small HTTP service whose sessions live in Redis.

GET /health  200 when Redis answers, 503 when it does not.
GET /...     a JSON page; the session (cookie `fleet_session`) is a Redis hash
             `<prefix><id>` with a hit counter, kept for APP_SESSION_TTL seconds.

Configuration comes from the environment (/etc/app/app.env through the systemd unit).
"""

import json
import logging
import os
import secrets
import socket
import sys
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

COOKIE = "fleet_session"
HOST = socket.gethostname()
BIND = os.environ.get("APP_BIND", "127.0.0.1")
PORT = int(os.environ.get("APP_PORT", "8000"))
TTL = int(os.environ.get("APP_SESSION_TTL", "3600"))
PREFIX = os.environ.get("APP_SESSION_PREFIX", "session:")
HEAP_MB = int(os.environ.get("APP_HEAP_MB", "0"))

log = logging.getLogger("app")

store = redis.Redis(
    host=os.environ.get("REDIS_HOST", "127.0.0.1"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    db=int(os.environ.get("REDIS_DB", "0")),
    password=os.environ.get("REDIS_PASSWORD") or None,
    socket_timeout=2,
    socket_connect_timeout=2,
    decode_responses=True,
)


def session_id(header):
    """The session id from a Cookie header, if it looks like one of ours."""
    try:
        cookies = SimpleCookie(header or "")
    except CookieError:
        return None
    morsel = cookies.get(COOKIE)
    if morsel is None:
        return None
    value = morsel.value
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "fleet-app/1.0"
    protocol_version = "HTTP/1.1"

    def send_json(self, code, body, cookie=None):
        data = (json.dumps(body, sort_keys=True) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if cookie is not None:
            self.send_header(
                "Set-Cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax"
            )
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            try:
                store.ping()
            except redis.RedisError as e:
                self.send_json(503, {"status": "redis unavailable", "error": str(e)})
                return
            self.send_json(200, {"status": "ok", "host": HOST})
            return
        sid = session_id(self.headers.get("Cookie"))
        new = None
        try:
            key = PREFIX + sid if sid else None
            if key is None or not store.exists(key):
                sid = secrets.token_hex(16)
                new = sid
                key = PREFIX + sid
                store.hset(key, mapping={"created_by": HOST, "hits": 0})
            hits = store.hincrby(key, "hits", 1)
            store.hset(key, "last_path", self.path)
            store.expire(key, TTL)
        except redis.RedisError as e:
            self.send_json(503, {"error": "session store unavailable: " + str(e)})
            return
        self.send_json(
            200,
            {"session": sid, "hits": hits, "served_by": HOST, "heap_mb": HEAP_MB},
            cookie=new,
        )

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)


def main():
    level = os.environ.get("APP_LOG_LEVEL", "info").upper()
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, level, logging.INFO),
        format="%(levelname)s %(message)s",
    )
    server = ThreadingHTTPServer((BIND, PORT), Handler)
    server.daemon_threads = True
    log.info("listening on %s:%d, sessions in redis %s", BIND, PORT,
             store.connection_pool.connection_kwargs.get("host"))
    server.serve_forever()


if __name__ == "__main__":
    main()
