"""supadeploy: ship a Supabase database from a laptop to staging to production."""

from __future__ import annotations

__version__ = "0.1.0"
