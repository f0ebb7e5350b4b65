#!/usr/bin/env python3
"""The seed bot's Docker calls, re-created as a peer for scar's benchmarks.

The seed (a Python Telegram bot) used docker-py (Debian: python3-docker; bench/run.sh
installs it when missing). Its status fetched each listed container in turn and read
its attributes; its restart restarted them one after the other. This process makes
one client, as the long-running bot did, then answers commands read from stdin, one
per line, so that the benchmark times the calls and not Python's start:

    status NAME...    for name in names: client.containers.get(name), read attrs
    restart NAME...   for name in names: client.containers.get(name).restart()

Each command is answered with one line, "ok" or "error: <why>".
"""
import sys

import docker


def status(client, names):
    rows = []
    for name in names:
        c = client.containers.get(name)
        state = c.attrs["State"]
        rows.append((
            c.name,
            c.status,
            (state.get("Health") or {}).get("Status", "none"),
            state.get("StartedAt"),
            c.attrs.get("RestartCount", 0),
            c.ports,
            c.attrs["Config"]["Image"],
        ))
    return rows


def restart(client, names):
    for name in names:
        client.containers.get(name).restart()


def main():
    client = docker.from_env()
    commands = {"status": status, "restart": restart}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            commands[words[0]](client, words[1:])
            print("ok", flush=True)
        except Exception as e:  # the benchmark reports it and stops
            print("error: %s" % str(e).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
