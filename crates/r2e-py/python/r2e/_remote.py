"""The client side of ``r2e serve``: an environment on another machine with
the same methods as the native one, so that ``r2e.Env(row, server=URL)``
behaves as a local environment does.

Every call carries a deadline. Only idempotent calls (reads, deletes,
heartbeats) are retried after a dropped connection (any call while the
server refuses connections); a create refused with
503 (nothing was created) is retried after its ``Retry-After`` until its
deadline, never past it. Errors come back as r2e's exception classes.

Each environment is held on a lease: a daemon thread of the process sends it
a heartbeat every third of the server's TTL (which the create reply states),
so an environment whose trainer waits long on its model is never reaped,
while the environments of a trainer that died are reaped one TTL later."""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from ._native import InfraError, SandboxDied, TaskError, Timeout

_KINDS = {
    "sandbox_died": SandboxDied,
    "timeout": Timeout,
    "task_error": TaskError,
    "bad_request": ValueError,
    "too_large": ValueError,
    "unauthorized": PermissionError,
}


class Client:
    """HTTP calls to one server, with its token."""

    def __init__(self, url: str, token: Optional[str] = None):
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("R2E_TOKEN")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        deadline: float = 60.0,
        idempotent: bool = False,
        raw: bool = False,
        query: Optional[Dict[str, Any]] = None,
    ) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
            headers["Content-Type"] = "application/octet-stream"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        else:
            data = None
        end = time.monotonic() + deadline
        delay = 0.25
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout(f"{method} {path}: no answer from {self.url} within {deadline:.0f} s")
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=left) as resp:
                    payload = resp.read()
                return payload if raw else json.loads(payload or b"null")
            except urllib.error.HTTPError as e:
                text = e.read()
                # Wait as the server asks, but never past the deadline: a
                # wait that would overrun it raises the 503 now.
                wait = float(e.headers.get("Retry-After") or delay)
                if e.code == 503 and time.monotonic() + wait < end:
                    time.sleep(wait)
                    delay = min(delay * 2, 5.0)
                    continue
                raise _error(e.code, text, method, path) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                # A refused connection never reached the server (it may be
                # restarting): any call can be tried again.
                refused = isinstance(getattr(e, "reason", e), ConnectionRefusedError)
                if (idempotent or refused) and time.monotonic() + delay < end:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise InfraError(f"{method} {path} on {self.url}: {e}") from None


def _error(code: int, text: bytes, method: str, path: str) -> Exception:
    try:
        err = json.loads(text)["error"]
        kind, message = err["kind"], err["message"]
    except Exception:
        kind, message = "infra_error", text.decode(errors="replace")
    err = _KINDS.get(kind, InfraError)(f"{message} ({method} {path}: HTTP {code})")
    err.http_status = code  # type: ignore[attr-defined]
    return err


class _Lease:
    """One held environment: who holds it, how often to beat, when next."""

    __slots__ = ("env", "client", "env_id", "interval", "due")

    def __init__(self, env: "RemoteEnv", env_id: str, ttl: float):
        self.env = weakref.ref(env)
        self.client = env._client
        self.env_id = env_id
        self.interval = max(ttl / 3.0, 0.2)
        self.due = time.monotonic() + self.interval


class _Leases:
    """The heartbeats of every remote environment this process holds, sent by
    one daemon thread (it dies with the process, and so do the leases)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: Dict[Tuple[str, str], _Lease] = {}
        self._thread: Optional[threading.Thread] = None

    def hold(self, env: "RemoteEnv", env_id: str, ttl: Optional[float]) -> None:
        if not ttl or ttl <= 0:
            return
        with self._cond:
            self._held[(env._client.url, env_id)] = _Lease(env, env_id, float(ttl))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="r2e-leases", daemon=True)
                self._thread.start()
            self._cond.notify()

    def drop(self, client: Client, env_id: str) -> None:
        with self._cond:
            self._held.pop((client.url, env_id), None)

    def held(self) -> int:
        """How many environments are held (for tests and diagnostics)."""
        with self._cond:
            return len(self._held)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._held:
                    self._cond.wait()
                now = time.monotonic()
                first = min(lease.due for lease in self._held.values())
                if first > now:
                    self._cond.wait(first - now)
                    continue
                due: List[_Lease] = [lease for lease in self._held.values() if lease.due <= now]
                for lease in due:
                    lease.due = now + lease.interval
            for lease in due:
                self._beat(lease)

    def _beat(self, lease: _Lease) -> None:
        env = lease.env()
        if env is None or env._id != lease.env_id:
            self.drop(lease.client, lease.env_id)
            return
        try:
            path = f"/v1/envs/{lease.env_id}/heartbeat"
            lease.client.call("POST", path, idempotent=True, deadline=max(lease.interval, 1.0))
        except Exception as e:
            # 404: the server no longer has it (reaped, or restarted). Else a
            # server briefly away: the next beat tries again.
            if getattr(e, "http_status", None) == 404:
                self.drop(lease.client, lease.env_id)


_LEASES = _Leases()


class RemoteEnv:
    """The native ``Env``'s methods, over HTTP."""

    def __init__(self, client: Client, task_json: str, options_json: str, env_id: Optional[str] = None):
        self._client = client
        self._task_json = task_json
        self._options = json.loads(options_json)
        self._id = env_id
        self._ttl: Optional[float] = None

    def _path(self, op: str = "") -> str:
        if self._id is None:
            raise InfraError("the environment is not started: call reset() first (or it was closed)")
        return f"/v1/envs/{self._id}{op}"

    def _step_deadline(self, timeout: Optional[float]) -> float:
        return float(timeout or self._options.get("step_timeout") or 90) + 30

    def reset(self) -> str:
        if self._id is None:
            reply = self._client.call(
                "POST", "/v1/envs", {"task": json.loads(self._task_json), "options": self._options}, deadline=900
            )
            self._id = reply["env_id"]
            self._ttl = reply.get("ttl_secs")
            _LEASES.hold(self, self._id, self._ttl)
            return reply["instruction"]
        return self._client.call("POST", self._path("/reset"), deadline=900)["instruction"]

    def step(self, tool: str, args_json: str, timeout: Optional[float] = None) -> str:
        body = {"tool": tool, "args": json.loads(args_json), "timeout": timeout}
        reply = self._client.call("POST", self._path("/step"), body, deadline=self._step_deadline(timeout))
        reply["text"] = reply["observation"]
        reply["finished"] = reply["done"]
        return json.dumps(reply)

    def exec(self, cmd: str, timeout: Optional[float] = None) -> Tuple[str, str, int, bool, bool]:
        r = self._client.call(
            "POST", self._path("/exec"), {"cmd": cmd, "timeout": timeout}, deadline=self._step_deadline(timeout)
        )
        return r["stdout"], r["stderr"], r["exit_code"], r["timed_out"], r["oom_killed"]

    def read_file(self, path: str) -> bytes:
        return self._client.call("GET", self._path("/files"), query={"path": path}, raw=True, idempotent=True)

    def write_file(self, path: str, data: bytes, mode: Optional[int] = None) -> None:
        query: Dict[str, Any] = {"path": path}
        if mode is not None:
            query["mode"] = mode
        self._client.call("PUT", self._path("/files"), data, query=query)

    def patch(self) -> str:
        return self._client.call("GET", self._path("/patch"), idempotent=True, deadline=330)["patch"]

    def reward(self) -> str:
        deadline = float(self._options.get("reward_timeout") or 1800) + 120
        r = self._client.call("POST", self._path("/reward"), {"log": True}, deadline=deadline)
        if r["status"] == "infra_error":
            raise InfraError(r.get("error") or "the reward could not be computed")
        r["report"] = json.dumps(r["report"]) if r.get("report") else ""
        return json.dumps(r)

    def fork(self) -> "RemoteEnv":
        reply = self._client.call("POST", self._path("/fork"), deadline=900)
        child = RemoteEnv(self._client, self._task_json, json.dumps(self._options), reply["env_id"])
        child._ttl = reply.get("ttl_secs", self._ttl)
        _LEASES.hold(child, reply["env_id"], child._ttl)
        return child

    def heartbeat(self) -> None:
        self._client.call("POST", self._path("/heartbeat"), idempotent=True)

    def close(self) -> None:
        if self._id is not None:
            env_id, self._id = self._id, None
            _LEASES.drop(self._client, env_id)
            self._client.call("DELETE", f"/v1/envs/{env_id}", idempotent=True)

    def sandbox_id(self) -> Optional[str]:
        return self._id

    def task_json(self) -> str:
        return self._task_json
