"""Invoke tasks: thin wrappers that parse options, call supadeploy's library and print."""

from __future__ import annotations
