"""Screens and panes of the app, one module each."""
