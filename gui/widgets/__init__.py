"""Reusable widgets of the Generate and History workspaces (no torch, no core model code)."""
