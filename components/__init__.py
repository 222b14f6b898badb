"""Reusable UI pieces. Pages call these; these call governance/ services."""
