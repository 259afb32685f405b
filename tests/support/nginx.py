"""Debian's nginx running the shipped deploy/nginx/pricewire.conf, pointed at test servers on loopback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.processes import ROOT, ManagedProcess, free_port
from tests.support.services import unavailable, wait_for

SHIPPED = ROOT / "deploy" / "nginx" / "pricewire.conf"
MIME_TYPES = Path("/etc/nginx/mime.types")


def nginx_binary() -> str:
    """The nginx executable, or skip (fail under CI) with how to get it."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        unavailable("nginx", "no nginx binary")
    assert found is not None
    return found


def main_config(prefix: Path, site: Path, connections: int = 1024) -> str:
    """A minimal nginx.conf around a site file, with every path inside `prefix`."""
    mime = f"include {MIME_TYPES};" if MIME_TYPES.exists() else ""
    user = "user root;" if os.geteuid() == 0 else ""  # the test's files sit in root's private temp directory
    return f"""
{user}
worker_processes 1;
worker_rlimit_nofile {2 * connections + 100};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections {connections}; }}
http {{
    {mime}
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp-body;
    proxy_temp_path {prefix}/tmp-proxy;
    fastcgi_temp_path {prefix}/tmp-fastcgi;
    uwsgi_temp_path {prefix}/tmp-uwsgi;
    scgi_temp_path {prefix}/tmp-scgi;
    include {site};
}}
"""


def self_signed(prefix: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1."""
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def render_site(upstreams: list[int], http_port: int, tls_port: int, monitors: list[str], *, cert: Path,
                key: Path) -> str:
    """The shipped site with test addresses: the upstream, loopback listeners, TLS enabled, the monitor list."""
    text = SHIPPED.read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in upstreams)
    text = re.sub(r"(    server 10\.0\.0\.\d+:8000[^\n]*\n)+", servers, text)
    allowed = "".join(f"    {address} 1;\n" for address in monitors)
    text = re.sub(r"(geo \$pricewire_monitor \{\n    default 0;\n)(    [\d./]+ 1;\n)+", lambda m: m.group(1) + allowed,
                  text)
    text = text.replace("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n").replace("    listen [::]:80;\n", "")
    text = text.replace("    # listen 443 ssl;\n", f"    listen 127.0.0.1:{tls_port} ssl;\n")
    text = text.replace("    # listen [::]:443 ssl;\n", "")
    for directive in ("ssl_protocols", "ssl_session_cache", "add_header Strict-Transport-Security"):
        text = text.replace(f"    # {directive}", f"    {directive}")
    text = re.sub(r"    # ssl_certificate +\S+;", f"    ssl_certificate {cert};", text)
    text = re.sub(r"    # ssl_certificate_key +\S+;", f"    ssl_certificate_key {key};", text)
    return text.replace("/srv/pricewire/app/static/", f"{ROOT}/app/static/")


def check_config(binary: str, prefix: Path, site_text: str,
                 connections: int = 1024) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a site file inside the minimal main config."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "pricewire.conf"
    site.write_text(site_text)
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site, connections))
    return subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True,
                          check=False)


class Nginx(ManagedProcess):
    """nginx in the foreground (its own process group) serving the rendered site."""

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.extra['http_port']}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.extra['tls_port']}"


def prepare(prefix: Path, upstreams: list[int], monitors: list[str],
            connections: int = 1024) -> tuple[list[str], int, int]:
    """The shipped site rendered for loopback and checked with `nginx -t`: its command line and (http, tls) ports."""
    binary = nginx_binary()
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(prefix)
    http_port, tls_port = free_port(), free_port()
    site = render_site(upstreams, http_port, tls_port, monitors, cert=cert, key=key)
    checked = check_config(binary, prefix, site, connections)
    assert checked.returncode == 0, checked.stderr
    return [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"], http_port, tls_port


def start_nginx(prefix: Path, upstreams: list[int], monitors: list[str]) -> Nginx:
    """Nginx in front of `upstreams` (loopback ports), answering once its ports accept connections."""
    command, http_port, tls_port = prepare(prefix, upstreams, monitors)
    server = Nginx(command, {},
                   prefix / "nginx.out", extra={"http_port": http_port, "tls_port": tls_port})
    server.start()
    wait_for(lambda: not server.alive() or (prefix / "nginx.pid").exists(), timeout=10, interval=0.05,
             message="nginx to start")
    assert server.alive(), (prefix / "error.log").read_text()
    return server
