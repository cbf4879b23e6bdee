#!/usr/bin/env python3
"""Drives a headless Chromium through the DevTools protocol, for ConsoleBrowserTests.

One action per run, against the browser already listening on 127.0.0.1:PORT (started by
the test with --remote-debugging-port), so the test can act between steps (send packets,
change the database). Standard library only: a minimal WebSocket client (RFC 6455, text
frames, client masking). Prints one JSON object: the page after the action.

  cdp.py PORT goto URL
  cdp.py PORT submit SELECTOR FIELDS_JSON      fill the form's fields, submit it
  cdp.py PORT click SELECTOR                   click a button that submits a form
  cdp.py PORT upload SELECTOR FILE             choose FILE in a file input
  cdp.py PORT screenshot FILE
"""
import base64, json, os, socket, struct, sys, time, urllib.request

DEADLINE = 15.0


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("websocket handshake refused: " + head.decode(errors="replace"))
        self.next_id = 0

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("websocket closed")
            data += chunk
        return data

    def send(self, text):
        payload = text.encode()
        header = bytes([0x81])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._recv_exact(8))[0]
            data = self._recv_exact(n)
            op = b0 & 0x0F
            if op == 0x8:
                raise RuntimeError("websocket closed by the browser")
            if op in (0x9, 0xA):
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.send(json.dumps({"id": my, "method": method, "params": params}))
        end = time.time() + DEADLINE
        while time.time() < end:
            reply = json.loads(self.recv())
            if reply.get("id") == my:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise RuntimeError(f"{method}: no answer within {DEADLINE} s")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expression!r}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")


def page_socket(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
        targets = json.load(r)
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        raise RuntimeError("no page target")
    ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
    ws.call("Page.enable")
    ws.call("Page.setBypassCSP", enabled=True)
    return ws


def mark(ws):
    ws.evaluate("window.__cdpOld = true")


def wait_new_document(ws):
    """Until the page that was marked is gone and the new one has loaded."""
    end = time.time() + DEADLINE
    while time.time() < end:
        try:
            if ws.evaluate("typeof window.__cdpOld === 'undefined' && document.readyState === 'complete'"):
                return
        except RuntimeError:
            pass  # the context went away mid-navigation
        time.sleep(0.05)
    raise RuntimeError(f"no new page within {DEADLINE} s")


def state(ws):
    return ws.evaluate("({url: location.href, title: document.title, text: document.body ? document.body.innerText : '',"
                       " html: document.documentElement.outerHTML})")


def main():
    port, action, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    ws = page_socket(port)
    if action == "goto":
        mark(ws)
        ws.call("Page.navigate", url=args[0])
        wait_new_document(ws)
    elif action == "submit":
        selector, fields = args[0], json.loads(args[1])
        mark(ws)
        js = ("(() => { const f = document.querySelector(%s); if (!f) return false;"
              " const v = %s; for (const k in v) { f.elements[k].value = v[k]; }"
              " f.requestSubmit(); return true; })()") % (json.dumps(selector), json.dumps(fields))
        if not ws.evaluate(js):
            raise RuntimeError(f"no form {selector}")
        wait_new_document(ws)
    elif action == "click":
        mark(ws)
        if not ws.evaluate("(() => { const b = document.querySelector(%s); if (!b) return false; b.click(); return true; })()" % json.dumps(args[0])):
            raise RuntimeError(f"nothing matches {args[0]}")
        wait_new_document(ws)
    elif action == "upload":
        root = ws.call("DOM.getDocument")["root"]["nodeId"]
        node = ws.call("DOM.querySelector", nodeId=root, selector=args[0])["nodeId"]
        if not node:
            raise RuntimeError(f"nothing matches {args[0]}")
        ws.call("DOM.setFileInputFiles", files=[args[1]], nodeId=node)
    elif action == "screenshot":
        ws.call("Emulation.setDeviceMetricsOverride", width=1280, height=860, deviceScaleFactor=1, mobile=False)
        shot = ws.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(args[0], "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(state(ws)))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the test's failure message
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
