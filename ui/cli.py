"""``prefmarket portal``: start the Streamlit portal against a running market API.

Mounted under the main CLI (``app.cli``). Importing this module is cheap: no torch, and
no Streamlit either (that starts in the subprocess), so other ``prefmarket`` commands do
not pay for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ui.settings import API_URL_ENV, DEFAULT_API_URL

PORTAL_FILE = Path(__file__).with_name("portal.py")

app = typer.Typer(help="The Streamlit portal for annotators, requesters and economists.", no_args_is_help=True)


def portal_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line: headless, loopback by default, no telemetry,
    and error details reduced to the exception's type (API errors are shown by the pages
    themselves; anything else must not put a traceback in front of a user)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(PORTAL_FILE),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "type",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]


def portal_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


@app.command()
def portal(
    api_url: str = typer.Option(None, "--api-url", envvar=API_URL_ENV,
                                help=f"The market API the portal talks to (default {DEFAULT_API_URL})."),
    host: str = typer.Option("127.0.0.1", help="Address to serve the portal on."),
    port: int = typer.Option(8501, help="Port to serve the portal on."),
) -> None:
    """Serve the portal (sign-in, annotator, requester and economist pages)."""
    env = {**os.environ, API_URL_ENV: api_url or DEFAULT_API_URL}
    typer.echo(f"portal: {portal_url(host, port)}  (API: {env[API_URL_ENV]})", err=True)
    cmd = portal_command(host, port)
    # Become Streamlit rather than wait on it, so a signal to this process (Ctrl-C, a
    # supervisor's TERM) reaches the server and leaves no orphan behind.
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    app()
