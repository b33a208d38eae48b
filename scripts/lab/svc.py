#!/usr/bin/env python3
"""Listeners and benign clients of the capture lab (standard library only).

  svc.py serve SPEC...        run listeners until killed; SPEC is
                              kind:port or kind:addr:port, kind one of
                              http, echo, banner, hold, udp, metrics,
                              resolver, upstream
  svc.py poll ...             health checks / scrapes on a fixed period
  svc.py tls-like ...         HTTPS-sized request/response exchanges
  svc.py crowd ...            many client addresses, 1-3 HTTP requests each
  svc.py dns ...              DNS queries to a resolver (UDP, some TCP)
  svc.py banners ...          short SSH connections: read banner, close
  svc.py retry ...            connect to one port every period

Every client is bounded by a count or a duration; see --help of each.
"""

import argparse
import http.server
import os
import random
import socket
import socketserver
import struct
import sys
import threading
import time

UPSTREAM_ANSWER = bytes([192, 0, 2, 80])


# ---------------------------------------------------------------- servers

class Quiet(http.server.BaseHTTPRequestHandler):
    server_version = "lab-httpd/1.0"
    sys_version = ""
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        if self.path.startswith("/metrics"):
            body = "".join(f"node_lab_metric{{n=\"{i}\"}} {i}\n" for i in range(40)).encode()
        else:
            body = (b"<html><body>lab " + self.path.encode()[:64] + b"</body></html>\n") * 8
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


class TServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def stream_handler(kind):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            s.settimeout(5)
            try:
                if kind == "banner":
                    s.sendall(b"\x4a\x00\x00\x00\x0a" + b"5.7.42-lab\x00" + os.urandom(40))
                    while s.recv(4096):
                        pass
                elif kind == "echo":
                    got = 0
                    while got < 4096:
                        b = s.recv(4096)
                        if not b:
                            break
                        got += len(b)
                        if b.endswith(b"\n\n"):
                            break
                    s.sendall(os.urandom(2048))
                elif kind == "hold":
                    s.recv(4096)
                    s.sendall(b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x00\x08\x00\x02\x00\x00\x00")
                    while s.recv(4096):
                        pass
            except OSError:
                pass
    return H


def udp_handler(kind, upstreams):
    counter = [0]

    class H(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            if kind == "udp":
                sock.sendto(b"\x30\x26\x02\x01\x01" + os.urandom(32), self.client_address)
            elif kind == "upstream":
                r = dns_answer(data)
                if r:
                    sock.sendto(r, self.client_address)
            elif kind == "resolver":
                counter[0] += 1
                r = forward(data, upstreams[counter[0] % len(upstreams)])
                if r:
                    sock.sendto(r, self.client_address)
    return H


def tcp_dns_handler(upstreams):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            s.settimeout(5)
            try:
                n = struct.unpack("!H", recv_exact(s, 2))[0]
                q = recv_exact(s, n)
                r = forward(q, random.choice(upstreams))
                if r:
                    s.sendall(struct.pack("!H", len(r)) + r)
            except (OSError, struct.error):
                pass
    return H


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise OSError("short read")
        b += c
    return b


class UServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


def dns_question_end(q):
    i = 12
    while i < len(q) and q[i] != 0:
        i += q[i] + 1
    return i + 5


def dns_answer(q):
    if len(q) < 17:
        return None
    end = dns_question_end(q)
    hdr = q[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
    ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + UPSTREAM_ANSWER
    return hdr + q[12:end] + ans


def forward(q, upstream):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(q, (upstream, 53))
        return s.recvfrom(4096)[0]
    except OSError:
        return None
    finally:
        s.close()


def serve(specs, upstreams):
    servers = []
    for spec in specs:
        parts = spec.split(":")
        kind, port = parts[0], int(parts[-1])
        addr = parts[1] if len(parts) == 3 else "0.0.0.0"
        if kind in ("http", "metrics"):
            srv = HTTPServer((addr, port), Quiet)
        elif kind in ("echo", "banner", "hold"):
            srv = TServer((addr, port), stream_handler(kind))
        elif kind in ("udp", "upstream"):
            srv = UServer((addr, port), udp_handler(kind, upstreams))
        elif kind == "resolver":
            srv = UServer((addr, port), udp_handler(kind, upstreams))
            servers.append(TServer((addr, port), tcp_dns_handler(upstreams)))
        else:
            sys.exit(f"unknown listener kind {kind!r}")
        servers.append(srv)
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------- clients

def connect(dst, port, src=None, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((dst, port))
    return s


def http_get(dst, port, path, src=None):
    try:
        s = connect(dst, port, src)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {dst}\r\nUser-Agent: lab\r\n\r\n".encode())
        while s.recv(4096):
            pass
        s.close()
        return True
    except OSError:
        return False


def targets(spec):
    out = []
    for t in spec.split(","):
        host, port = t.rsplit(":", 1)
        out.append((host, int(port)))
    return out


def cmd_poll(a):
    """Every --every seconds, touch each target once (HTTP GET or a bare
    TCP connect), --rounds times."""
    ts = targets(a.targets)
    for r in range(a.rounds):
        start = time.monotonic()
        th = []
        for host, port in ts:
            if a.mode == "http":
                f = (lambda h=host, p=port: http_get(h, p, a.path))
            else:
                def f(h=host, p=port):
                    try:
                        connect(h, p).close()
                    except OSError:
                        pass
            t = threading.Thread(target=f)
            t.start()
            th.append(t)
        for t in th:
            t.join()
        if r + 1 < a.rounds:
            time.sleep(max(0.0, a.every - (time.monotonic() - start)))


def cmd_tls_like(a):
    """--count exchanges spread over the targets: a 517-byte hello, a
    2 KB answer, an application payload, close."""
    rng = random.Random(a.seed)
    ts = targets(a.targets)
    for i in range(a.count):
        host, port = ts[i % len(ts)]
        try:
            s = connect(host, port, timeout=3)
            s.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512) + b"\n\n")
            while s.recv(4096):
                pass
            s.close()
        except OSError:
            pass
        time.sleep(a.interval * (0.5 + rng.random()))


def cmd_crowd(a):
    """Each source address makes 1-3 HTTP GETs to the target."""
    rng = random.Random(a.seed)
    srcs = [s for s in a.sources.split(",") if s]
    jobs = []
    for s in srcs:
        for _ in range(rng.randint(1, 3)):
            jobs.append(s)
    rng.shuffle(jobs)
    host, port = targets(a.target)[0]
    sem = threading.Semaphore(a.concurrency)
    th = []
    for j, src in enumerate(jobs):
        sem.acquire()

        def f(src=src, j=j):
            try:
                http_get(host, port, f"/page/{j % 17}", src)
            finally:
                sem.release()
        t = threading.Thread(target=f)
        t.start()
        th.append(t)
        time.sleep(a.pace)
    for t in th:
        t.join()


def dns_query(name, qid):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def cmd_dns(a):
    rng = random.Random(a.seed)
    names = ["api.example.com", "www.example.net", "cdn.example.org", "repo.example.com",
             "time.example.net", "auth.example.org", "db.example.internal"]
    for i in range(a.count):
        q = dns_query(rng.choice(names), rng.randrange(65536))
        try:
            if a.tcp_every and (i + 1) % a.tcp_every == 0:
                s = connect(a.server, 53)
                s.sendall(struct.pack("!H", len(q)) + q)
                n = struct.unpack("!H", recv_exact(s, 2))[0]
                recv_exact(s, n)
                s.close()
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(3)
                s.sendto(q, (a.server, 53))
                s.recvfrom(4096)
                s.close()
        except (OSError, struct.error):
            pass
        time.sleep(a.interval * (0.5 + rng.random()))


def cmd_banners(a):
    """--count SSH connections: read the server banner, then close (even
    attempts) or send a bogus client banner first (odd attempts)."""
    for i in range(a.count):
        try:
            s = connect(a.target, a.port, timeout=3)
            s.recv(256)
            if i % 2:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                s.settimeout(3)
                try:
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
            s.close()
        except OSError:
            pass
        time.sleep(a.interval)


def cmd_retry(a):
    for _ in range(a.count):
        try:
            connect(a.target, a.port, timeout=1).close()
        except OSError:
            pass
        time.sleep(a.every)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("spec", nargs="+")
    s.add_argument("--upstreams", default="192.0.2.53,192.0.2.54,192.0.2.55")
    s = sub.add_parser("poll")
    s.add_argument("--targets", required=True)
    s.add_argument("--mode", choices=["http", "tcp"], default="http")
    s.add_argument("--path", default="/health")
    s.add_argument("--every", type=float, default=5)
    s.add_argument("--rounds", type=int, default=12)
    s = sub.add_parser("tls-like")
    s.add_argument("--targets", required=True)
    s.add_argument("--count", type=int, default=20)
    s.add_argument("--interval", type=float, default=2)
    s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("crowd")
    s.add_argument("--sources", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--concurrency", type=int, default=16)
    s.add_argument("--pace", type=float, default=0.05)
    s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("dns")
    s.add_argument("--server", required=True)
    s.add_argument("--count", type=int, default=25)
    s.add_argument("--interval", type=float, default=2)
    s.add_argument("--tcp-every", type=int, default=10)
    s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("banners")
    s.add_argument("--target", required=True)
    s.add_argument("--port", type=int, default=22)
    s.add_argument("--count", type=int, default=60)
    s.add_argument("--interval", type=float, default=0.5)
    s = sub.add_parser("retry")
    s.add_argument("--target", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=60)
    s.add_argument("--every", type=float, default=1)
    a = p.parse_args()
    if a.cmd == "serve":
        serve(a.spec, a.upstreams.split(","))
    else:
        {"poll": cmd_poll, "tls-like": cmd_tls_like, "crowd": cmd_crowd, "dns": cmd_dns,
         "banners": cmd_banners, "retry": cmd_retry}[a.cmd](a)


if __name__ == "__main__":
    main()
