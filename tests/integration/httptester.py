#!/usr/bin/env python3
"""A stand-in for ansible-test's httptester container, on loopback inside a test host.

ansible-core's `needs/httptester` targets (get_url, lookup_url) talk to an httpbin, a
"badssl" host whose certificate names another host, an SNI host and a client-certificate
check, under the names of prepare_http_tests/vars/httptester.yml. This script serves what
those targets ask of them, with certificates it makes with the openssl command:

  http://ansible.http.tests/{cacert.pem,client.pem,client.key}   (port 80)
  https://ansible.http.tests/...       httpbin's endpoints         (port 443)
  https://sni1.ansible.http.tests/     a page that names its host
  https://fail.ansible.http.tests/     a certificate for httpbin.org only
  https://self-signed.ansible.http.tests/  a self-signed certificate

JSON bodies are compact, on one line, as the container's httpbin sends them: lookup_url
reads them with split_lines on, which would join a pretty-printed body's lines with commas.

Usage: httptester.py DIR   (DIR receives the certificates; run as root for ports 80/443;
the runner adds the names to /etc/hosts). Test code only: the agent itself runs no Python.
"""

import base64
import gzip
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.parse

MAIN = "ansible.http.tests"
SNI = "sni1.ansible.http.tests"
FAIL = "fail.ansible.http.tests"
SELF_SIGNED = "self-signed.ansible.http.tests"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """The CA, one server certificate per name, and a client certificate."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "cacert.pem")
    if os.path.exists(ca):
        return
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "3650", "-subj", "/CN=ansible-http-tests-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(name, cn, sans, usage):
        key, csr, pem = (os.path.join(d, f"{name}.{ext}") for ext in ("key", "csr", "pem"))
        ext = os.path.join(d, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write(f"extendedKeyUsage={usage}\n")
            if sans:
                f.write("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", pem, "-days", "3650", "-extfile", ext)

    leaf("server", MAIN, [MAIN, SNI], "serverAuth")
    leaf("fail", "httpbin.org", ["httpbin.org"], "serverAuth")
    leaf("client", MAIN, [], "clientAuth")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(d, "self.key"),
            "-out", os.path.join(d, "self.pem"), "-days", "3650", "-subj", f"/CN={SELF_SIGNED}",
            "-addext", f"subjectAltName=DNS:{SELF_SIGNED}")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cert_dir = "."

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.headers.get("Host", "-"), fmt % args))

    def host(self):
        return (self.headers.get("Host") or MAIN).split(":")[0]

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        if status not in (204, 304):
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def send_json(self, obj, status=200, headers=()):
        self.send(status, (json.dumps(obj, separators=(",", ":")) + "\n").encode(), headers=headers)

    def request_headers(self):
        return {k.title(): v for k, v in self.headers.items()}

    def echo(self):
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        return {
            "args": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
            "headers": self.request_headers(),
            "origin": self.client_address[0],
            "url": f"{scheme}://{self.host()}{self.path}",
        }

    def auth(self):
        value = self.headers.get("Authorization", "")
        kind, _, cred = value.partition(" ")
        return kind.lower(), cred.strip()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        parts = [p for p in path.split("/") if p]
        if not isinstance(self.connection, ssl.SSLSocket):
            # Port 80: the files prepare_http_tests fetches.
            if len(parts) == 1 and parts[0] in ("cacert.pem", "client.pem", "client.key"):
                with open(os.path.join(self.cert_dir, parts[0]), "rb") as f:
                    return self.send(200, f.read(), "application/x-pem-file")
            return self.send(404, b"not found\n", "text/plain")
        if not parts:
            page = (f"<!DOCTYPE html>\n<html><head><title>{self.host()}</title></head>\n"
                    f"<body><h1>{self.host()}</h1><p>httpbin.org: HTTP request and response "
                    "service (ansible-test stand-in)</p></body></html>\n")
            return self.send(200, page.encode(), "text/html; charset=utf-8")
        head = parts[0]
        if head in ("get", "anything"):
            return self.send_json(self.echo())
        if head == "headers":
            return self.send_json({"headers": self.request_headers()})
        if head == "user-agent":
            return self.send_json({"user-agent": self.headers.get("User-Agent", "")})
        if head == "status" and len(parts) == 2 and parts[1].isdigit():
            return self.send(int(parts[1]), b"", "text/html; charset=utf-8")
        if head in ("redirect", "relative-redirect") and len(parts) == 2 and parts[1].isdigit():
            n = int(parts[1])
            where = "/get" if n <= 1 else f"/relative-redirect/{n - 1}"
            return self.send(302, b"", headers=[("Location", where)])
        if head == "redirect-to":
            status = int(query.get("status_code", ["302"])[0])
            return self.send(status, b"", headers=[("Location", query.get("url", ["/get"])[0])])
        if head == "basic-auth" and len(parts) == 3:
            kind, cred = self.auth()
            try:
                user, _, password = base64.b64decode(cred).decode().partition(":")
            except Exception:
                user = password = None
            if kind == "basic" and (user, password) == (parts[1], parts[2]):
                return self.send_json({"authenticated": True, "user": user})
            return self.send(401, b"", headers=[("WWW-Authenticate", 'Basic realm="Fake Realm"')])
        if head == "bearer":
            kind, token = self.auth()
            if kind == "bearer" and token:
                return self.send_json({"authenticated": True, "token": token})
            return self.send(401, b"", headers=[("WWW-Authenticate", "Bearer")])
        if head == "base64" and len(parts) == 2:
            try:
                body = base64.urlsafe_b64decode(parts[1].encode())
            except Exception:
                body = b"Incorrect Base64 data try: SFRUUEJJTiBpcyBhd2Vzb21l"
            return self.send(200, body, "text/html; charset=utf-8")
        if head == "cache":
            if self.headers.get("If-Modified-Since") or self.headers.get("If-None-Match"):
                return self.send(304)
            return self.send_json(self.echo(), headers=[
                ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), ("ETag", '"cachedtag"')])
        if head == "gzip":
            obj = {"gzipped": True, "headers": self.request_headers(), "method": self.command,
                   "origin": self.client_address[0]}
            body = gzip.compress((json.dumps(obj, separators=(",", ":")) + "\n").encode())
            return self.send(200, body, headers=[("Content-Encoding", "gzip")])
        if head == "response-headers":
            extra = [(k, v[0]) for k, v in query.items()]
            return self.send_json({k: v for k, v in extra}, headers=extra)
        if head == "ssl_client_verify":
            verified = bool(self.connection.getpeercert())
            body = f"{MAIN}:{'SUCCESS' if verified else 'NONE'}"
            return self.send(200, body.encode(), "text/plain")
        return self.send(404, b"<h1>404 Not Found</h1>\n", "text/html")


def serve(server):
    server.serve_forever()


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/var/lib/httptester"
    make_certs(d)
    Handler.cert_dir = d

    def context(cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, cert), os.path.join(d, key))
        ctx.load_verify_locations(os.path.join(d, "cacert.pem"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    main_ctx = context("server.pem", "server.key")
    by_name = {FAIL: context("fail.pem", "fail.key"), SELF_SIGNED: context("self.pem", "self.key")}

    def pick(sock, name, _ctx):
        if name in by_name:
            sock.context = by_name[name]

    main_ctx.sni_callback = pick
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 80), Handler)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
    tls.socket = main_ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=serve, args=(plain,), daemon=True).start()
    print("httptester: serving on 127.0.0.1:80 and :443", flush=True)
    serve(tls)


if __name__ == "__main__":
    main()
