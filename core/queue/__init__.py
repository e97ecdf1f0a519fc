"""The persistent job queue (SQLite), shared by the app and `wan-studio queue` (see store.py)."""
