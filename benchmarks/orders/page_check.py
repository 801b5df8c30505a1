#!/usr/bin/env python3
"""The orders page in headless Chromium, live: a picture before and after an order is placed,
and a check that the open page showed the order without being reloaded.

  page_check.py CHROMIUM FETCH_URL CREATE_URL API_KEY BEFORE.png AFTER.png

Drives Chromium over its DevTools pipe (--remote-debugging-pipe: JSON messages on file
descriptors 3 and 4), standard library only. Fails when the page never says it is live,
or when the order placed does not become the first row of the table and the gauge's count.
"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request


class DevTools:
    def __init__(self, binary):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def wire():
            # Through fresh copies: a pipe end that already is 3 or 4 would stay close-on-exec.
            read_end, write_end = os.dup(cmd_r), os.dup(res_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--hide-scrollbars", "--window-size=1000,1100", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def call(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.res_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def attach(self):
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]

    def value(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def wait_for(self, expression, what, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.value(expression):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the page did not {what} within {seconds} s")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.proc.kill()
        self.proc.wait()


def place(create, key):
    req = urllib.request.Request(
        f"{create}/place_order", data=json.dumps({"currency": "USD", "amount": "600"}).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": key})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())["order"]["seq"]


def main():
    binary, fetch, create, key, before, after = sys.argv[1:7]
    place(create, key)  # the page has an order to show before the live one
    dt = DevTools(binary)
    try:
        dt.attach()
        dt.call("Page.enable")
        dt.call("Page.navigate", {"url": f"{fetch}/"})
        dt.wait_for("document.getElementById('live') && document.getElementById('live').textContent.startsWith('Live')",
                    "say it follows the stream")
        dt.screenshot(before)
        first = dt.value("document.querySelector('#orders tbody tr').cells[0].textContent")
        seq = place(create, key)
        dt.wait_for(f"document.querySelector('#orders tbody tr').cells[0].textContent === '{seq}'",
                    f"show order {seq} (the first row was {first})")
        count = dt.value("document.getElementById('count').textContent")
        if count != str(seq):
            raise RuntimeError(f"the gauge counts {count} orders, not {seq}")
        dt.screenshot(after)
        print(f"orders page: order {seq} appeared live (first row before: {first}); {before}, {after}")
    finally:
        dt.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the CI log
        print(f"orders page check failed: {e}", file=sys.stderr)
        sys.exit(1)
