"""deploy/nginx-medsearch.conf for real: Debian's nginx in front of `medsearch serve`.

These never skip in CI (env CI set): a missing nginx is a failure there
(`make test` installs it). Elsewhere they skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from webui import SECURITY_HEADERS
from webui_fixtures import free_port, running_site, slow_header_clients

REPO = Path(__file__).resolve().parent.parent
SITE_CONF = REPO / "deploy" / "nginx-medsearch.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CLIENTS = 64


def require_nginx() -> None:
    if not os.access(NGINX, os.X_OK):
        problem = f"{NGINX} is missing (apt-get install nginx, or `make test`)"
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@contextmanager
def running_proxy(upstream: str, folder: Path):
    """nginx with the repository's site file, in front of `upstream`; yields its URL."""
    port = free_port()
    site = SITE_CONF.read_text()
    assert "listen 80;" in site and "server 127.0.0.1:8000;" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("server 127.0.0.1:8000;", f"server {urlsplit(upstream).netloc};")
    (folder / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""  # its temp files live in folder
    (folder / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
""")
    proxy = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # up to ~10 s
            if proxy.poll() is not None:
                raise RuntimeError(f"nginx exited with {proxy.returncode}: "
                                   + proxy.stderr.read().decode(errors="replace")
                                   + (folder / "error.log").read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        if proxy.poll() is None:
            os.killpg(proxy.pid, signal.SIGQUIT)  # graceful stop of master and worker
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proxy.pid, signal.SIGKILL)
                proxy.wait()
        proxy.stderr.close()


def get(url: str, timeout: float = 15.0) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
        return response.status, dict(response.headers)


def test_proxy_keeps_the_site_answering_under_slow_header_clients(index_dir, tmp_path):
    require_nginx()
    with running_site(index_dir, workers=2) as site, running_proxy(site, tmp_path) as proxy:
        with urllib.request.urlopen(f"{proxy}/?q=spine", timeout=15) as response:
            assert response.status == 200
            assert security_headers(response.headers) == SECURITY_HEADERS
        with slow_header_clients("127.0.0.1", urlsplit(proxy).port, SLOW_CLIENTS) as slow:
            statuses = [get(f"{proxy}/?q=vertebroplasty&n={n}")[0] for n in range(12)]
            statuses += [get(f"{proxy}/api/search?q=spine&n={n}")[0] for n in range(12)]
            assert statuses == [200] * 24
            # nginx closes each slow client once client_header_timeout passes.
            for sock in slow:
                sock.settimeout(30)
                while sock.recv(65536):
                    pass
        assert get(f"{proxy}/api/search?q=spine")[0] == 200


def test_proxy_refuses_a_body_and_oversized_heads_itself(index_dir, tmp_path):
    require_nginx()
    with running_site(index_dir, workers=2) as site, running_proxy(site, tmp_path) as proxy:
        request = urllib.request.Request(f"{proxy}/", data=b"x" * 4096, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=15)
        refused.value.close()
        assert refused.value.code == 413
        assert security_headers(refused.value.headers) == SECURITY_HEADERS
        big = urllib.request.Request(f"{proxy}/", headers={"X-Big": "b" * 9000})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(big, timeout=15)
        refused.value.close()
        assert refused.value.code == 400  # nginx: "Request Header Or Cookie Too Large"
        assert security_headers(refused.value.headers) == SECURITY_HEADERS


def security_headers(headers) -> dict:
    """Each security header, sent exactly once."""
    assert all(len(headers.get_all(name) or []) == 1 for name in SECURITY_HEADERS), headers
    return {name: headers[name] for name in SECURITY_HEADERS}
